defmodule StructureLoader.StructureLoadTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, TestDB}

  @moduletag :db

  setup do
    database = TestDB.create!()
    {:ok, database: database, config: TestDB.config(database), empty: TestDB.dump!(database)}
  end

  @small_dump """
  --
  -- PostgreSQL database dump
  --

  SET statement_timeout = 0;
  SET standard_conforming_strings = on;

  CREATE TABLE public.people (
      id integer NOT NULL,
      name text
  );

  CREATE FUNCTION public.shout(text) RETURNS text
      LANGUAGE sql IMMUTABLE
      AS $$SELECT upper($1) || '!';$$;

  COPY public.people (id, name) FROM stdin;
  1\tAda
  2\tGrace
  3\t\\N
  \\.

  CREATE VIEW public.named AS
   SELECT people.name FROM public.people WHERE (people.name IS NOT NULL);
  """

  # A load that fails before sending anything to the database logs nothing about the file,
  # not even a server warning.
  defp load_failing_quietly(path, config) do
    {result, log} = with_log(fn -> StructureLoader.structure_load(Path.dirname(path), config) end)
    refute log =~ path
    result
  end

  defp refute_password(%Error{} = error) do
    password = System.fetch_env!("PGPASSWORD")
    refute Exception.message(error) =~ password
    refute inspect(error) =~ password
  end

  describe "structure_load/3 loads" do
    test "a small dump, returning the file and logging nothing of its own", context do
      path = TestDB.write_file!(@small_dump)

      log =
        capture_log(fn ->
          assert StructureLoader.structure_load(Path.dirname(path), context.config) == {:ok, path}
        end)

      assert TestDB.sql!(
               context.database,
               "SELECT string_agg(coalesce(name, '-'), ',' ORDER BY id) FROM public.people"
             ) ==
               "Ada,Grace,-"

      assert TestDB.sql!(
               context.database,
               "SELECT public.shout(name) FROM public.named ORDER BY 1"
             ) == "ADA!\nGRACE!"

      refute log =~ path
    end

    test "config[:dump_path] instead of structure.sql in default_dir", context do
      path = TestDB.write_file!(@small_dump, "elsewhere.sql")
      config = Keyword.put(context.config, :dump_path, path)

      assert StructureLoader.structure_load("/nonexistent", config) == {:ok, path}
      assert TestDB.sql!(context.database, "SELECT count(*) FROM public.people") == "3"
    end

    test "opts[:dump_path], which wins over the config's", context do
      path = TestDB.write_file!(@small_dump, "chosen.sql")
      config = Keyword.put(context.config, :dump_path, "/nonexistent/structure.sql")

      assert StructureLoader.structure_load("/nonexistent", config, dump_path: path) ==
               {:ok, path}

      assert TestDB.sql!(context.database, "SELECT count(*) FROM public.people") == "3"
    end
  end

  describe "server notices reach Logger" do
    test "at their level, with the file and line of the statement", context do
      path =
        TestDB.write_file!("""
        SET client_min_messages = debug1;

        DO $$
        BEGIN
          RAISE WARNING 'careful here' USING DETAIL = 'the detail', HINT = 'the hint';
          RAISE NOTICE 'just so you know';
          RAISE INFO 'for your information';
          RAISE DEBUG 'deep inside';
          RAISE LOG 'for the log';
        END
        $$;
        """)

      log =
        capture_log(fn ->
          assert {:ok, _} = StructureLoader.structure_load(Path.dirname(path), context.config)
        end)

      assert log =~
               ~r/\[warning\]\s+#{Regex.escape(path)}:3: WARNING: careful here\nDETAIL: the detail\nHINT: the hint/

      assert log =~ ~r/\[info\]\s+#{Regex.escape(path)}:3: NOTICE: just so you know/
      assert log =~ ~r/\[info\]\s+#{Regex.escape(path)}:3: INFO: for your information/
      assert log =~ ~r/\[debug\]\s+#{Regex.escape(path)}:3: DEBUG: deep inside/
      assert log =~ ~r/\[debug\]\s+#{Regex.escape(path)}:3: LOG: for the log/
    end

    test "also from load/2 with log: false, which only silences the summary", context do
      path = TestDB.write_file!("DO $$ BEGIN RAISE WARNING 'still heard'; END $$;\n")

      log =
        capture_log(fn ->
          assert {:ok, _} = StructureLoader.load(context.config, dump_path: path, log: false)
        end)

      assert log =~ "#{path}:1: WARNING: still heard"
      refute log =~ "from #{path}"
    end
  end

  describe "preamble settings the server does not know" do
    @preamble """
    SET statement_timeout = 0;
    SET transaction_timeout = 0;
    SET client_encoding = 'UTF8';
    CREATE TABLE public.t (i integer);
    """

    test "are skipped with a warning", context do
      path = TestDB.write_file!(@preamble)

      log =
        capture_log(fn ->
          assert {:ok, _} = StructureLoader.structure_load(Path.dirname(path), context.config)
        end)

      assert log =~
               ~r/\[warning\]\s+#{Regex.escape(path)}:2: WARNING: skipped SET transaction_timeout/

      assert TestDB.sql!(context.database, "SELECT count(*) FROM pg_tables WHERE tablename = 't'") ==
               "1"
    end

    test "fail the load with strict: true", context do
      path = TestDB.write_file!(@preamble)

      assert {:error, %Error{reason: :database, sqlstate: "42704", line: 2} = error} =
               StructureLoader.structure_load(Path.dirname(path), context.config, strict: true)

      assert error.message =~ ~s(unrecognized configuration parameter "transaction_timeout")
      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end

  describe "errors" do
    test "a missing file", context do
      dir = Path.dirname(TestDB.write_file!("", "other.sql"))
      path = Path.join(dir, "structure.sql")

      assert {:error, %Error{reason: :file, path: ^path} = error} =
               StructureLoader.structure_load(dir, context.config)

      assert Exception.message(error) ==
               "#{path}: no such file (structure.sql in the directory given)"

      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "an unterminated quoted string, reported where it opens", context do
      path =
        TestDB.write_file!(
          "CREATE TABLE public.a (i integer);\nCOMMENT ON TABLE public.a IS 'oops;\n\n"
        )

      assert {:error, %Error{reason: :parse, path: ^path, line: 2, column: 30} = error} =
               load_failing_quietly(path, context.config)

      assert Exception.message(error) =~ ~r/^#{Regex.escape(path)}:2:30: .*unterminated/i
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "a meta-command that could run a shell", context do
      path =
        TestDB.write_file!(
          "CREATE TABLE public.a (i integer);\n\\! touch /tmp/structure_loader_was_here\n"
        )

      assert {:error, %Error{reason: :meta_command, path: ^path, line: 2} = error} =
               load_failing_quietly(path, context.config)

      assert Exception.message(error) =~ ~r/^#{Regex.escape(path)}:2:1: /
      refute File.exists?("/tmp/structure_loader_was_here")
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "a wrong password, never shown", context do
      path = TestDB.write_file!(@small_dump)
      config = Keyword.put(context.config, :password, "wrong-password-31337")

      assert {:error, %Error{reason: :auth, sqlstate: "28P01"} = error} =
               StructureLoader.structure_load(Path.dirname(path), config)

      assert Exception.message(error) =~
               ~s(password authentication failed for user "#{context.config[:username]}")

      refute Exception.message(error) =~ "wrong-password-31337"
      refute inspect(error) =~ "wrong-password-31337"
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "a closed port", context do
      port = StructureLoader.TestPorts.closed_port()
      path = TestDB.write_file!(@small_dump)
      config = Keyword.merge(context.config, hostname: "127.0.0.1", port: port)

      assert {:error, %Error{reason: :connect, sqlstate: nil} = error} =
               StructureLoader.structure_load(Path.dirname(path), config)

      assert Exception.message(error) =~ "127.0.0.1:#{port}"
      assert Exception.message(error) =~ ~r/refused/i
      refute_password(error)
      TestDB.assert_unchanged!(context.empty, context.database)
    end

    test "an unknown database", context do
      path = TestDB.write_file!(@small_dump)
      config = Keyword.put(context.config, :database, "sl_no_such_database")

      assert {:error, %Error{reason: :database, sqlstate: "3D000"} = error} =
               StructureLoader.structure_load(Path.dirname(path), config)

      assert Exception.message(error) =~ ~s(database "sl_no_such_database" does not exist)
      refute_password(error)
    end

    test "a failing statement in the middle rolls everything back", context do
      path =
        TestDB.write_file!("""
        CREATE TABLE public.first (id integer);

        COPY public.first (id) FROM stdin;
        1
        \\.

        CREATE TABLE public.second (
            id integer NOT NOT NULL
        );

        CREATE TABLE public.third (id integer);
        """)

      assert {:error, %Error{} = error} =
               StructureLoader.structure_load(Path.dirname(path), context.config)

      assert %Error{
               reason: :database,
               path: ^path,
               line: 8,
               column: 20,
               sqlstate: "42601",
               severity: "ERROR"
             } = error

      assert error.message == ~s(syntax error at or near "NOT")

      assert Exception.message(error) == """
             #{path}:8:20: ERROR 42601: syntax error at or near "NOT"
               | CREATE TABLE public.second (
               |     id integer NOT NOT NULL
               |                    ^
               | );\
             """

      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end
end
