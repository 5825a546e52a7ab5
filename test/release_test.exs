defmodule StructureLoader.ReleaseTest do
  # The job StructureLoader exists for (issue 4): the example app under test/example_app is
  # built with `MIX_ENV=prod mix release`, then its `bin/my_app eval` loads a real
  # structure.sql into empty databases with no psql, pg_dump, mix, elixir or erl on PATH.
  # It runs against whatever server the PG* variables point at, PostgreSQL 13 to 18
  # (scripts/test runs it on each).
  use ExUnit.Case, async: false

  alias StructureLoader.TestDB

  @moduletag :release
  @moduletag timeout: 600_000

  @repo_root Path.expand("..", __DIR__)
  @app_dir Path.join(__DIR__, "example_app")

  # A Phoenix app's own priv/repo/structure.sql as `mix ecto.dump` writes it today: pg_dump 18
  # (\restrict, SET transaction_timeout, which servers before 17 do not know) followed by 41
  # schema_migrations INSERTs.
  @corpus_file "philomena-pg18.sql"
  @skipped_setting_line "WARNING: skipped SET transaction_timeout"

  # All that the release's sh scripts (bin/my_app, releases/*/elixir, erts/bin/erl) call
  # for `eval`.
  @release_shell_tools ~w(sh readlink dirname basename cut sed cat grep)
  @absent_tools ~w(psql pg_dump mix elixir erl)

  @loaded_line "MyApp.Repo: loaded the database structure from"
  @already_loaded_line "MyApp.Repo: the database structure is already loaded"

  setup_all do
    tmp_dir = Path.join(System.tmp_dir!(), "structure_loader_release_#{System.os_time()}")
    File.mkdir_p!(tmp_dir)
    on_exit(fn -> File.rm_rf!(tmp_dir) end)

    corpus_path = corpus_path!()
    app_copy = copy_example_app!()
    on_exit(fn -> File.rm_rf!(app_copy) end)
    File.cp!(corpus_path, Path.join(app_copy, "priv/repo/structure.sql"))
    build_release!(app_copy)

    reference_db = TestDB.create!()
    load_with_psql!(reference_db, corpus_path)

    %{
      release_root: Path.join(app_copy, "_build/prod/rel/my_app"),
      tmp_dir: tmp_dir,
      corpus_path: corpus_path,
      bin_dir: restricted_bin_dir!(tmp_dir),
      reference: TestDB.snapshot!(reference_db),
      corpus_versions: migration_versions_in(corpus_path)
    }
  end

  test "the release runs with no psql, pg_dump, mix, elixir or erl on PATH", ctx do
    for tool <- @absent_tools do
      {found, status} =
        System.cmd(env_executable(), [
          "-i",
          "PATH=" <> ctx.bin_dir,
          "/bin/sh",
          "-c",
          ~S(command -v "$1"),
          "sh",
          tool
        ])

      assert status != 0, "#{tool} is on the release's PATH: #{found}"
    end
  end

  test "migrate loads an empty database like psql does, then finds it loaded", ctx do
    db = TestDB.create!()

    first = run_release!(ctx, ctx.release_root, db, "MyApp.Release.migrate()")
    assert first.status == 0, report(first)
    assert count_lines(first.stdout, @loaded_line) == 1, report(first)
    # Only a server that does not know the setting makes the loader skip it.
    skips = if TestDB.server_major!() < 17, do: 1, else: 0
    assert count_lines(first.stdout, @skipped_setting_line) == skips, report(first)
    assert_loaded_like_psql(ctx, db)

    before = TestDB.snapshot!(db)
    second = run_release!(ctx, ctx.release_root, db, "MyApp.Release.migrate()")
    assert second.status == 0, report(second)
    assert count_lines(second.stdout, @already_loaded_line) == 1, report(second)
    assert count_lines(second.stdout, @loaded_line) == 0, report(second)

    TestDB.assert_same_snapshot!(
      before,
      TestDB.snapshot!(db),
      "the database before and after the second run"
    )
  end

  test "8 nodes migrating one empty database at once: exactly one loads", ctx do
    db = TestDB.create!()

    runs =
      1..8
      |> Task.async_stream(
        fn _ -> run_release!(ctx, ctx.release_root, db, "MyApp.Release.migrate()") end,
        max_concurrency: 8,
        timeout: 300_000
      )
      |> Enum.map(fn {:ok, run} -> run end)

    for run <- runs, do: assert(run.status == 0, report(run))
    stdout = Enum.map_join(runs, & &1.stdout)
    assert count_lines(stdout, @loaded_line) == 1, stdout
    assert count_lines(stdout, @already_loaded_line) == 7, stdout
    assert_loaded_like_psql(ctx, db)
  end

  test "the eval one-liner StructureLoader.load!(MyApp.Repo) loads, then does nothing", ctx do
    db = TestDB.create!()
    one_liner = "StructureLoader.load!(MyApp.Repo)"

    first = run_release!(ctx, ctx.release_root, db, one_liner)
    assert first.status == 0, report(first)
    assert_loaded_like_psql(ctx, db)

    before = TestDB.snapshot!(db)
    second = run_release!(ctx, ctx.release_root, db, one_liner)
    assert second.status == 0, report(second)

    TestDB.assert_same_snapshot!(
      before,
      TestDB.snapshot!(db),
      "the database before and after the second run"
    )
  end

  test "a broken structure.sql fails with file:line on stderr and leaves the database empty",
       ctx do
    broken_root = Path.join(ctx.tmp_dir, "broken_release")
    {_, 0} = System.cmd("cp", ["-a", ctx.release_root, broken_root])
    [broken_path] = Path.wildcard(Path.join(broken_root, "lib/my_app-*/priv/repo/structure.sql"))
    bad_line = write_broken_structure!(ctx.corpus_path, broken_path)
    db = TestDB.create!()

    run = run_release!(ctx, broken_root, db, "MyApp.Release.migrate()")

    assert run.status != 0, report(run)
    assert run.stderr =~ "#{broken_path}:#{bad_line}:", report(run)
    assert run.stderr =~ "42P01", report(run)
    assert run.stderr =~ ~s(relation "public.missing_table" does not exist), report(run)
    assert count_lines(run.stdout, @loaded_line) == 0, report(run)

    assert TestDB.sql!(db, """
           SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%'
           """) == "0"

    assert TestDB.sql!(db, "SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'") ==
             "0"
  end

  defp assert_loaded_like_psql(ctx, db) do
    TestDB.assert_same_snapshot!(
      ctx.reference,
      TestDB.snapshot!(db),
      "the databases loaded by psql and by the release"
    )

    versions = TestDB.sql!(db, "SELECT version FROM public.schema_migrations ORDER BY version")
    assert String.split(versions, "\n", trim: true) == ctx.corpus_versions
  end

  # Inserts a statement that fails on the server in front of the first CREATE statement past
  # the middle of the file, so that half of the file has run when it fails; returns the
  # 1-based line of the failing statement.
  defp write_broken_structure!(source_path, broken_path) do
    lines = source_path |> File.read!() |> String.split("\n")
    middle = div(length(lines), 2)

    index =
      Enum.find(middle..(length(lines) - 1), fn i ->
        String.starts_with?(Enum.at(lines, i), "CREATE ")
      end) || flunk("no CREATE statement past the middle of #{source_path}")

    bad_statement =
      "CREATE TABLE public.broken (id integer REFERENCES public.missing_table (id));"

    File.write!(broken_path, lines |> List.insert_at(index, bad_statement) |> Enum.join("\n"))
    index + 1
  end

  # The reference: what `mix ecto.load` does. psql 15 stops at pg_dump 18's
  # `SET transaction_timeout` on servers before 17, where StructureLoader skips it with a
  # warning (SPEC section 5), so there the reference load leaves that one line out.
  defp load_with_psql!(db, corpus_path) do
    reference_path =
      if TestDB.server_major!() < 17 do
        corpus_path
        |> File.read!()
        |> String.replace(~r/^SET transaction_timeout = 0;\n/m, "")
        |> TestDB.write_file!()
      else
        corpus_path
      end

    {output, status} = TestDB.psql_load(db, reference_path)
    status == 0 || raise "psql could not load the reference #{reference_path}:\n#{output}"
  end

  defp migration_versions_in(path) do
    versions =
      for line <- path |> File.read!() |> String.split("\n"),
          line =~ ~r/^INSERT INTO (public\.)?"?schema_migrations"? /,
          [_, version] <- Regex.scan(~r/\((\d+)\)/, line),
          do: version

    versions != [] || raise "no schema_migrations INSERTs in #{path}"
    Enum.sort(versions)
  end

  ## Building

  defp corpus_path! do
    path = Path.expand(Path.join(["..", "shared", "corpus", @corpus_file]), @repo_root)
    File.regular?(path) || raise "the test corpus is missing: #{path}"
    path
  end

  # The app is built in a copy of its own, so that runs never share a _build or a
  # priv/repo/structure.sql. Its dependency `path: "../.."` needs the copy two levels below
  # the repository root: in tmp/, which git ignores.
  defp copy_example_app! do
    copy = Path.join([@repo_root, "tmp", "example_app-#{System.pid()}"])
    File.rm_rf!(copy)
    File.mkdir_p!(copy)

    for entry <- File.ls!(@app_dir), entry not in ["_build", "deps"] do
      File.cp_r!(Path.join(@app_dir, entry), Path.join(copy, entry))
    end

    File.mkdir_p!(Path.join(copy, "priv/repo"))
    copy
  end

  defp build_release!(app_dir) do
    env = [
      # The library's Mix compiler runs cargo in the repository root, so this build reuses
      # the workspace's target directory (or CARGO_TARGET_DIR) instead of a second Rust build.
      {"MIX_ENV", "prod"},
      {"MIX_BUILD_PATH", nil},
      {"MIX_BUILD_ROOT", nil},
      {"MIX_DEPS_PATH", nil},
      {"MIX_EXS", nil},
      {"MIX_LOCKFILE", nil},
      {"MIX_TARGET", nil}
    ]

    {output, status} =
      System.cmd("mix", ["release", "--overwrite"],
        cd: app_dir,
        env: env,
        stderr_to_stdout: true
      )

    status == 0 || raise "MIX_ENV=prod mix release failed in #{app_dir}:\n#{output}"
  end

  # A bin directory holding only the shell tools the release scripts need, so that the
  # release cannot fall back on anything installed on this machine.
  defp restricted_bin_dir!(tmp_dir) do
    bin_dir = Path.join(tmp_dir, "bin")
    File.mkdir_p!(bin_dir)

    for tool <- @release_shell_tools do
      target = System.find_executable(tool) || raise "#{tool} is not installed"
      File.ln_s!(target, Path.join(bin_dir, tool))
    end

    bin_dir
  end

  ## Running the release

  # Runs `bin/my_app eval EXPRESSION` in an environment holding nothing but PATH (the
  # restricted bin directory), HOME, LANG and DATABASE_URL: no PG* variable the loader
  # could fall back on. stderr is captured apart from stdout.
  defp run_release!(ctx, release_root, db, expression) do
    id = System.unique_integer([:positive])
    stderr_path = Path.join(ctx.tmp_dir, "stderr-#{id}.txt")
    home = Path.join(ctx.tmp_dir, "home-#{id}")
    File.mkdir_p!(home)

    {stdout, status} =
      System.cmd(
        "/bin/sh",
        [
          "-c",
          ~S(exec 2>"$1"; shift; exec "$@"),
          "sh",
          stderr_path,
          env_executable(),
          "-i",
          "PATH=" <> ctx.bin_dir,
          "HOME=" <> home,
          "LANG=C.UTF-8",
          "DATABASE_URL=" <> database_url(db),
          Path.join(release_root, "bin/my_app"),
          "eval",
          expression
        ],
        cd: home
      )

    %{expression: expression, status: status, stdout: stdout, stderr: File.read!(stderr_path)}
  end

  defp database_url(db) do
    host = System.fetch_env!("PGHOST")

    if String.starts_with?(host, "/") do
      raise "PGHOST must be a TCP host for DATABASE_URL, not the socket directory #{host}"
    end

    host = if String.contains?(host, ":"), do: "[#{host}]", else: host
    user = encode_userinfo(System.fetch_env!("PGUSER"))
    password = encode_userinfo(System.fetch_env!("PGPASSWORD"))
    "postgres://#{user}:#{password}@#{host}:#{System.fetch_env!("PGPORT")}/#{db}"
  end

  defp encode_userinfo(part), do: URI.encode(part, &URI.char_unreserved?/1)

  defp report(run) do
    """
    bin/my_app eval #{inspect(run.expression)} exited with #{run.status}
    --- stdout
    #{run.stdout}
    --- stderr
    #{run.stderr}
    """
  end

  defp count_lines(output, fragment) do
    output |> String.split("\n") |> Enum.count(&String.contains?(&1, fragment))
  end

  defp env_executable, do: System.find_executable("env") || raise("env is not installed")
end
