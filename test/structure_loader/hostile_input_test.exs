defmodule StructureLoader.HostileInputTest do
  # Broken and hostile files, through the public API. Each is a clear error located
  # in the file (or a harmless success), and nothing of it reaches the database; nothing
  # opens another file or runs a program.
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, TestDB}

  @moduletag :db

  setup do
    database = TestDB.create!()
    config = TestDB.config(database, log: false)
    {:ok, database: database, config: config, empty: TestDB.dump!(database)}
  end

  defp load(path, config),
    do: StructureLoader.structure_load("/unused", Keyword.put(config, :dump_path, path))

  # The same error from a load and from check/2, which splits without a database.
  defp assert_refused(context, path, reason, line) do
    assert {:error, %Error{reason: ^reason, path: ^path, line: ^line} = error} =
             load(path, context.config)

    assert {:error, %Error{reason: ^reason, line: ^line}} = StructureLoader.check(path)
    TestDB.assert_unchanged!(context.empty, context.database)
    error
  end

  describe "harmless files succeed with nothing to do" do
    test "an empty file", context do
      path = TestDB.write_file!("")

      assert {:ok, %StructureLoader.Summary{status: :loaded, statements: 0, copy_blocks: 0}} =
               StructureLoader.load(context.config, dump_path: path, log: false)

      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "only comments and blank lines", context do
      path =
        TestDB.write_file!("--\n-- PostgreSQL database dump\n--\n\n/* nothing */\n\n-- end\n")

      assert load(path, context.config) == {:ok, path}
      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end

  describe "files that are not plain SQL" do
    test "NUL bytes", context do
      path = TestDB.write_file!("CREATE TABLE public.a (id integer);\nSELECT 'a\0b';\n")
      error = assert_refused(context, path, :parse, 2)

      assert Exception.message(error) ==
               "#{path}:2:10: NUL byte in the file: this is not a text SQL file"
    end

    test "invalid UTF-8 in COPY data", context do
      path =
        TestDB.write_file!(
          "CREATE TABLE public.a (t text);\nCOPY public.a (t) FROM stdin;\nok\nnot \xC3\x28 ok\n\\.\n"
        )

      error = assert_refused(context, path, :parse, 4)
      assert error.column == 5
      assert error.message =~ "byte 0xC3 in COPY data"
    end

    test "binary garbage", context do
      :rand.seed(:exsss, {1, 2, 3})
      garbage = for _ <- 1..4096, into: <<>>, do: <<:rand.uniform(256) - 1>>
      path = TestDB.write_file!("SELECT 1;\n" <> garbage)

      assert {:error, %Error{reason: reason, line: line, column: column}} =
               load(path, context.config)

      # Whatever the garbage trips over first: an invalid byte, or a backslash read as a
      # meta-command.
      assert reason in [:parse, :meta_command]
      assert line >= 2 and column >= 1
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "a custom-format dump made by pg_dump -Fc", context do
      source = TestDB.create!()
      TestDB.sql!(source, "CREATE TABLE public.t (id integer); INSERT INTO public.t VALUES (1)")
      path = Path.join(Path.dirname(TestDB.write_file!("")), "custom.dump")
      {_, 0} = System.cmd("pg_dump", ["-Fc", "-d", source, "-f", path])

      error = assert_refused(context, path, :parse, 1)
      assert error.message =~ "pg_restore"
    end

    test "a single 100 MB line, in bounded memory", context do
      path = Path.join(Path.dirname(TestDB.write_file!("")), "long-line.sql")
      chunk = String.duplicate("x", 1024 * 1024)

      File.open!(path, [:write, :raw, :binary], fn file ->
        IO.binwrite(file, "SELECT '")
        for _ <- 1..100, do: IO.binwrite(file, chunk)
      end)

      error = assert_refused(context, path, :parse, 1)
      assert error.column == 8
      assert error.message =~ "unterminated quoted string"
      # The line is held once or twice while it is lexed, never more: a leak or a quadratic
      # copy would show here (the VM alone uses well under 300 MB).
      assert peak_memory_kb() < 1_000_000
    end

    test "a file cut short in the middle of a COPY block", context do
      source = TestDB.create!()

      TestDB.sql!(source, """
      CREATE TABLE public.items (id integer PRIMARY KEY, name text);
      INSERT INTO public.items SELECT i, 'item ' || i FROM generate_series(1, 2000) i;
      """)

      {dump, 0} = System.cmd("pg_dump", ["-d", source])
      {copy_at, _} = :binary.match(dump, "COPY public.items")
      # In the middle of a row, about half-way through the data.
      cut = binary_part(dump, 0, copy_at + div(2000 * 10, 2) + 3)
      path = TestDB.write_file!(cut)
      copy_line = length(String.split(binary_part(dump, 0, copy_at), "\n"))

      error = assert_refused(context, path, :parse, copy_line)
      assert error.message =~ "the file looks truncated"

      assert Exception.message(error) =~
               ~r/^#{Regex.escape(path)}:#{copy_line}:1: the data of this COPY runs to the end of the file \(\d+ lines\)/
    end
  end

  describe "files that cannot be read" do
    test "a symlink loop", context do
      dir = Path.dirname(TestDB.write_file!(""))
      path = Path.join(dir, "loop.sql")
      File.ln_s!(Path.join(dir, "other.sql"), path)
      File.ln_s!(path, Path.join(dir, "other.sql"))

      assert {:error, %Error{reason: :file, path: ^path, line: nil} = error} =
               load(path, context.config)

      assert Exception.message(error) =~ ~r/too many levels of symbolic links/i
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "a FIFO, which no writer will ever open, with a time limit", context do
      path = Path.join(Path.dirname(TestDB.write_file!("")), "fifo.sql")
      {_, 0} = System.cmd("mkfifo", [path])

      assert {:error, %Error{reason: :file, path: ^path} = error} =
               StructureLoader.load(context.config, dump_path: path, timeout: 1_000)

      assert Exception.message(error) =~ "it is a FIFO (named pipe), not a regular file"
      assert {:error, %Error{reason: :file}} = StructureLoader.check(path)
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    # Root reads any file whatever its mode, and the suite runs as root in CI: the load
    # then runs in a second VM as the unprivileged user `nobody`, with the same build.
    test "a file without read permission", context do
      path = TestDB.write_file!("CREATE TABLE public.a (i integer);\n")
      File.chmod!(path, 0o000)
      expected = "#{path}: cannot read #{path}: Permission denied (os error 13)"

      if System.cmd("id", ["-u"]) == {"0\n", 0} do
        assert load_as_nobody(path, context.config) == "file: #{expected}"
      else
        assert {:error, %Error{reason: :file} = error} = load(path, context.config)
        assert Exception.message(error) == expected
      end

      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end

  describe "psql meta-commands that would run a program or touch another file" do
    setup do
      sentinel = Path.join(Path.dirname(TestDB.write_file!("")), "SENTINEL")

      script =
        TestDB.write_file!(
          "\\! touch #{sentinel}\nCREATE TABLE public.from_script (i int);\n",
          "script.sql"
        )

      {:ok, sentinel: sentinel, script: script}
    end

    for {name, line} <- [
          {"\\! touch SENTINEL", "\\! touch SENTINEL"},
          {"\\i", "\\i SCRIPT"},
          {"\\ir", "\\ir SCRIPT"},
          {"\\o to a pipe", "\\o |touch SENTINEL"},
          {"\\copy from a program", "\\copy public.t FROM PROGRAM 'touch SENTINEL'"},
          {"backticks", "\\set x `touch SENTINEL`"},
          {"backticks in \\connect", "\\connect `touch SENTINEL`"},
          {"\\gexec", "SELECT 'CREATE TABLE public.g (i int)' \\gexec"}
        ] do
      test "#{name} is refused where it stands and nothing runs", context do
        meta =
          unquote(line)
          |> String.replace("SENTINEL", context.sentinel)
          |> String.replace("SCRIPT", context.script)

        path =
          TestDB.write_file!("""
          CREATE TABLE public.t (i integer);
          #{meta}
          CREATE TABLE public.after (i integer);
          \\! touch #{context.sentinel}
          """)

        error = assert_refused(context, path, :meta_command, 2)
        assert Exception.message(error) =~ "#{path}:2:"
        refute File.exists?(context.sentinel)
      end
    end

    test "\\connect to another database", context do
      other = TestDB.create!()
      other_empty = TestDB.dump!(other)

      path =
        TestDB.write_file!("""
        CREATE TABLE public.here (i integer);
        \\connect #{other}
        CREATE TABLE public.there (i integer);
        \\! touch #{context.sentinel}
        """)

      assert {:error, %Error{reason: :meta_command, line: 2} = error} = load(path, context.config)

      assert error.message =~ "\\connect #{other} is refused"
      # Without a database, check/2 cannot tell which database is "another" one.
      assert {:error, %Error{reason: :meta_command, line: 4}} = StructureLoader.check(path)
      TestDB.assert_unchanged!(context.empty, context.database)
      refute File.exists?(context.sentinel)
      TestDB.assert_same_text!(other_empty, TestDB.dump!(other), "the other database")
    end
  end

  # A VM that may map no more than 4 GB: a file whose size, or whose first line, nears what
  # PostgreSQL takes in one statement must fail cleanly, never abort the VM.
  describe "under a 4 GB address-space limit (prlimit --as)" do
    @describetag timeout: 300_000

    test "/dev/zero, a 2 GB sparse file and a 1.1 GB line end in clean errors", context do
      dir = Path.dirname(TestDB.write_file!(""))
      sparse = Path.join(dir, "sparse.sql")
      {_, 0} = System.cmd("truncate", ["-s", "2G", sparse])
      long_line = Path.join(dir, "long_line.sql")
      chunk = :binary.copy("x", 64 * 1024 * 1024)

      File.open!(long_line, [:write, :raw], fn file ->
        for _ <- 1..17, do: :ok = IO.binwrite(file, chunk)
      end)

      messages =
        limited_vm!("""
        config = [database: #{inspect(context.database)}, log: false]

        for path <- ["/dev/zero", #{inspect(sparse)}, #{inspect(long_line)}] do
          {:error, checked} = StructureLoader.check(path)
          {:error, loaded} = StructureLoader.load(config, dump_path: path, timeout: 10_000)
          IO.puts(Exception.message(checked))
          IO.puts(Exception.message(loaded))
        end
        """)

      assert messages == [
               "/dev/zero: cannot read /dev/zero: it is a device, not a regular file",
               "/dev/zero: cannot read /dev/zero: it is a device, not a regular file",
               "#{sparse}:1:1: NUL byte in the file: this is not a text SQL file",
               "#{sparse}:1:1: NUL byte in the file: this is not a text SQL file",
               "#{long_line}:1:1: this line is longer than 1073741823 bytes, more than " <>
                 "PostgreSQL takes in one statement or COPY row",
               "#{long_line}:1:1: this line is longer than 1073741823 bytes, more than " <>
                 "PostgreSQL takes in one statement or COPY row"
             ]

      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end

  # Runs `script` in a fresh VM on this build, its address space limited to 4 GB; the
  # lines it printed. The VM must exit normally.
  defp limited_vm!(script) do
    ebin = Application.app_dir(:structure_loader, "ebin")

    {output, status} =
      System.cmd(
        "prlimit",
        ["--as=4294967296", "--", System.find_executable("elixir"), "-pa", ebin, "-e", script],
        stderr_to_stdout: true
      )

    assert status == 0, output
    String.split(output, "\n", trim: true)
  end

  defp peak_memory_kb do
    "/proc/self/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case Regex.run(~r/^VmHWM:\s+(\d+) kB/, line) do
        [_, kb] -> String.to_integer(kb)
        nil -> nil
      end
    end)
  end

  # structure_load/2 in a fresh VM running as `nobody`, on this build of StructureLoader.
  defp load_as_nobody(path, config) do
    ebin = Application.app_dir(:structure_loader, "ebin")
    # The password stays in the environment (PGPASSWORD), out of the command line.
    config = Keyword.delete(config, :password)

    script = """
    config = #{inspect(config)} ++ [password: System.fetch_env!("PGPASSWORD")]
    {:error, error} = StructureLoader.structure_load("/unused", [dump_path: #{inspect(path)}] ++ config)
    IO.write([Atom.to_string(error.reason), ": ", Exception.message(error)])
    """

    {output, 0} =
      System.cmd(
        "runuser",
        ["-u", "nobody", "--", System.find_executable("elixir"), "-pa", ebin, "-e", script],
        env: [{"HOME", System.tmp_dir!()}],
        stderr_to_stdout: true
      )

    output
  end
end
