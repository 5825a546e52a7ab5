defmodule StructureLoader.ReleaseTest do
  # The job StructureLoader exists for. The example app under test/example_app (two real Ecto
  # repos, each with a structure.sql written by `mix ecto.dump` and migrations newer than it)
  # is built with `MIX_ENV=prod mix release`; its `bin/my_app eval "MyApp.Release.migrate()"`
  # then runs with no psql, pg_dump, mix, elixir or erl on PATH against empty databases: it
  # must load each structure, and Ecto.Migrator must run the newer migrations and only those.
  # It runs against whatever server the PG* variables point at, PostgreSQL 13 to 18
  # (scripts/test runs it on 13, 15 and 18).
  use ExUnit.Case, async: false

  alias StructureLoader.TestDB

  @moduletag :db
  @moduletag :release
  @moduletag timeout: 600_000

  @repo_root Path.expand("..", __DIR__)
  @app_dir Path.join(__DIR__, "example_app")

  # Each repo, the file its structure lives in, and the migrations newer than that file,
  # which the release's Ecto.Migrator must run (and no other).
  @repos %{
    "MyApp.Repo" => %{
      structure: "priv/repo/structure.sql",
      url_variable: "DATABASE_URL",
      new_migrations: ["20250114100000", "20250203120000"]
    },
    "MyApp.OtherRepo" => %{
      structure: "priv/other_repo/structure.sql",
      url_variable: "OTHER_DATABASE_URL",
      new_migrations: ["20250120090000"]
    }
  }

  # A structure.sql written by pg_dump 18 (\restrict, SET transaction_timeout, which servers
  # before 17 do not know), loaded by the same release in place of MyApp.Repo's.
  @pg18_structure Path.expand("fixtures/corpus/philomena-pg18.sql", __DIR__)

  # All that the release's sh scripts (bin/my_app, releases/*/elixir, erts/bin/erl) call
  # for `eval`.
  @release_shell_tools ~w(sh readlink dirname basename cut sed cat grep)
  @absent_tools ~w(psql pg_dump mix elixir erl)

  @migrate "MyApp.Release.migrate()"

  setup_all do
    tmp_dir = Path.join(System.tmp_dir!(), "structure_loader_release_#{System.os_time()}")
    File.mkdir_p!(tmp_dir)
    on_exit(fn -> File.rm_rf!(tmp_dir) end)

    app_copy = copy_example_app!()
    build_release!(app_copy)
    release_root = Path.join(app_copy, "_build/prod/rel/my_app")
    bin_dir = restricted_bin_dir!(tmp_dir)
    ctx = %{release_root: release_root, tmp_dir: tmp_dir, bin_dir: bin_dir}

    # The reference: each structure loaded by psql (what `mix ecto.load` runs), then the
    # release's migrate run on top, which finds schema_migrations and only migrates.
    psql_loaded = Map.new(@repos, fn {repo, _} -> {repo, TestDB.create!()} end)

    structures_by_psql =
      Map.new(@repos, fn {repo, %{structure: structure}} ->
        path = Path.join(@app_dir, structure)
        {output, status} = TestDB.psql_load(psql_loaded[repo], path)
        status == 0 || raise "psql could not load #{path}:\n#{output}"
        {repo, TestDB.snapshot!(psql_loaded[repo])}
      end)

    reference_run = run_release!(ctx, release_root, psql_loaded, @migrate)
    reference_run.status == 0 || raise report(reference_run)

    Map.merge(ctx, %{
      structures_by_psql: structures_by_psql,
      migrated: Map.new(psql_loaded, fn {repo, db} -> {repo, TestDB.snapshot!(db)} end),
      dumped_versions:
        Map.new(@repos, fn {repo, %{structure: structure}} ->
          {repo, migration_versions_in(Path.join(@app_dir, structure))}
        end)
    })
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

  test "migrate loads each repo's structure, runs only the newer migrations, then does nothing",
       ctx do
    dbs = new_databases()

    first = run_release!(ctx, ctx.release_root, dbs, @migrate)
    assert first.status == 0, report(first)

    for {repo, %{new_migrations: new_migrations}} <- @repos do
      assert loaded_lines(first.stdout, repo) == 1, report(first)
      assert ran_migrations(first.stdout, repo) == new_migrations, report(first)
    end

    assert_migrated_like_reference(ctx, dbs)

    before = Map.new(dbs, fn {repo, db} -> {repo, TestDB.snapshot!(db)} end)
    second = run_release!(ctx, ctx.release_root, dbs, @migrate)
    assert second.status == 0, report(second)

    for {repo, _} <- @repos do
      assert already_loaded_lines(second.stdout, repo) == 1, report(second)
      assert loaded_lines(second.stdout, repo) == 0, report(second)
      assert ran_migrations(second.stdout, repo) == [], report(second)

      TestDB.assert_same_snapshot!(
        before[repo],
        TestDB.snapshot!(dbs[repo]),
        "#{repo}'s database before and after the second run"
      )
    end
  end

  test "8 nodes migrating the same empty databases at once: each repo loads and migrates once",
       ctx do
    dbs = new_databases()

    runs =
      1..8
      |> Task.async_stream(fn _ -> run_release!(ctx, ctx.release_root, dbs, @migrate) end,
        max_concurrency: 8,
        timeout: 300_000
      )
      |> Enum.map(fn {:ok, run} -> run end)

    for run <- runs, do: assert(run.status == 0, report(run))
    stdout = Enum.map_join(runs, & &1.stdout)

    for {repo, %{new_migrations: new_migrations}} <- @repos do
      assert loaded_lines(stdout, repo) == 1, stdout
      assert already_loaded_lines(stdout, repo) == 7, stdout
      assert Enum.sort(ran_migrations(stdout, repo)) == new_migrations, stdout
    end

    assert_migrated_like_reference(ctx, dbs)
  end

  test "the eval one-liner StructureLoader.load!(MyApp.Repo) loads, then does nothing", ctx do
    dbs = new_databases()
    one_liner = "StructureLoader.load!(MyApp.Repo)"

    first = run_release!(ctx, ctx.release_root, dbs, one_liner)
    assert first.status == 0, report(first)

    TestDB.assert_same_snapshot!(
      ctx.structures_by_psql["MyApp.Repo"],
      TestDB.snapshot!(dbs["MyApp.Repo"]),
      "the databases loaded by psql and by the release"
    )

    before = TestDB.snapshot!(dbs["MyApp.Repo"])
    second = run_release!(ctx, ctx.release_root, dbs, one_liner)
    assert second.status == 0, report(second)

    TestDB.assert_same_snapshot!(
      before,
      TestDB.snapshot!(dbs["MyApp.Repo"]),
      "the database before and after the second run"
    )
  end

  test "a broken structure.sql fails with file:line on stderr and leaves the database empty",
       ctx do
    broken_root = copy_release!(ctx, "broken")
    broken_path = release_structure!(broken_root, "priv/repo")

    bad_line =
      write_broken_structure!(Path.join(@app_dir, "priv/repo/structure.sql"), broken_path)

    dbs = new_databases()

    run = run_release!(ctx, broken_root, dbs, @migrate)

    assert run.status != 0, report(run)
    assert run.stderr =~ "#{broken_path}:#{bad_line}:", report(run)
    assert run.stderr =~ "42P01", report(run)
    assert run.stderr =~ ~s(relation "public.missing_table" does not exist), report(run)
    assert loaded_lines(run.stdout, "MyApp.Repo") == 0, report(run)
    assert ran_migrations(run.stdout, "MyApp.Repo") == [], report(run)

    assert TestDB.sql!(dbs["MyApp.Repo"], """
           SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%'
           """) == "0"

    assert TestDB.sql!(
             dbs["MyApp.Repo"],
             "SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'"
           ) == "0"
  end

  test "a release without its NIF says so, and neither crashes nor shows the password", ctx do
    root = copy_release!(ctx, "no_nif")
    [nif] = Path.wildcard(Path.join(root, "lib/structure_loader-*/priv/native/*.so"))
    File.rm!(nif)
    dbs = new_databases()

    run = run_release!(ctx, root, dbs, @migrate)

    assert run.status != 0, report(run)
    assert run.stderr =~ "the StructureLoader NIF could not be loaded", report(run)
    assert run.stderr =~ "priv/native/libstructure_loader_nif.so", report(run)
    refute run.stdout =~ System.fetch_env!("PGPASSWORD")
    refute run.stderr =~ System.fetch_env!("PGPASSWORD")
    assert ran_migrations(run.stdout, "MyApp.Repo") == [], report(run)
  end

  test "a structure.sql from pg_dump 18 loads as psql loads it", ctx do
    pg18_root = copy_release!(ctx, "pg18")
    File.cp!(@pg18_structure, release_structure!(pg18_root, "priv/repo"))
    dbs = new_databases()

    run = run_release!(ctx, pg18_root, dbs, "StructureLoader.load!(MyApp.Repo)")
    assert run.status == 0, report(run)
    # Only a server that does not know the setting makes the loader skip it.
    skips = if TestDB.server_major!() < 17, do: 1, else: 0

    assert count_lines(run.stdout, "WARNING: skipped SET transaction_timeout") == skips,
           report(run)

    reference = TestDB.create!()
    load_pg18_with_psql!(reference)

    TestDB.assert_same_snapshot!(
      TestDB.snapshot!(reference),
      TestDB.snapshot!(dbs["MyApp.Repo"]),
      "the databases loaded by psql and by the release"
    )
  end

  defp new_databases, do: Map.new(@repos, fn {repo, _} -> {repo, TestDB.create!()} end)

  # Each database holds what psql's load plus the migrator made of it, and schema_migrations
  # the versions of the dump and of the newer migrations.
  defp assert_migrated_like_reference(ctx, dbs) do
    for {repo, %{new_migrations: new_migrations}} <- @repos do
      # The migrator stamps the rows it adds with the time: the versions are compared below.
      TestDB.assert_same_snapshot!(
        without_migration_rows(ctx.migrated[repo]),
        without_migration_rows(TestDB.snapshot!(dbs[repo])),
        "#{repo}'s databases loaded by psql and by the release, then migrated"
      )

      versions = TestDB.sql!(dbs[repo], "SELECT version FROM schema_migrations ORDER BY 1")

      assert String.split(versions, "\n", trim: true) ==
               Enum.sort(ctx.dumped_versions[repo] ++ new_migrations)
    end
  end

  defp without_migration_rows(snapshot) do
    Map.update!(snapshot, :contents, &Map.delete(&1, "public.schema_migrations"))
  end

  # StructureLoader's summary line names the repo, as mix ecto.load does, and the file.
  defp loaded_lines(stdout, repo) do
    count_matches(
      stdout,
      ~r/\] The structure for #{Regex.escape(repo)} has been loaded from \S*#{repo_structure_suffix(repo)} in \d+ ms \(\d+ statements\)$/m
    )
  end

  defp already_loaded_lines(stdout, repo) do
    count_matches(
      stdout,
      ~r/\] The structure for #{Regex.escape(repo)} is already loaded \(schema_migrations exists\): \S*#{repo_structure_suffix(repo)} was not loaded$/m
    )
  end

  defp repo_structure_suffix(repo), do: Regex.escape("/" <> @repos[repo].structure)

  defp count_matches(output, regex), do: length(Regex.scan(regex, output))

  # The versions Ecto.Migrator ran for `repo`, in order, from its
  # "== Running 20250114100000 MyApp.Repo.Migrations.AddPublishedAtToPosts.change/0 forward".
  defp ran_migrations(stdout, repo) do
    for [_, version] <-
          Regex.scan(~r/== Running (\d+) #{Regex.escape(repo)}\.Migrations\./, stdout),
        do: version
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

  # psql 15 stops at pg_dump 18's `SET transaction_timeout` on servers before 17, where
  # StructureLoader skips it with a warning, so there the reference leaves that line out.
  defp load_pg18_with_psql!(db) do
    reference_path =
      if TestDB.server_major!() < 17 do
        @pg18_structure
        |> File.read!()
        |> String.replace(~r/^SET transaction_timeout = 0;\n/m, "")
        |> TestDB.write_file!()
      else
        @pg18_structure
      end

    {output, status} = TestDB.psql_load(db, reference_path)
    status == 0 || raise "psql could not load #{reference_path}:\n#{output}"
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

  # The app is built in a copy of its own, whose _build is kept from one run to the next, so
  # that a run on each server major compiles Ecto once (one run at a time: scripts/test
  # runs them in turn). Its dependency `path: "../.."` needs the copy two levels below the
  # repository root: in tmp/, which git ignores.
  defp copy_example_app! do
    copy = Path.join([@repo_root, "tmp", "release_test_app"])
    File.mkdir_p!(copy)

    for entry <- File.ls!(copy), entry not in ["_build", "deps"] do
      File.rm_rf!(Path.join(copy, entry))
    end

    for entry <- File.ls!(@app_dir), entry not in ["_build", "deps"] do
      File.cp_r!(Path.join(@app_dir, entry), Path.join(copy, entry))
    end

    copy
  end

  defp build_release!(app_dir) do
    # STRUCTURE_LOADER_HEXDEPS, when set, passes through: the app takes Ecto from there.
    # The library's Mix compiler runs cargo in the repository root, so this build reuses
    # the workspace's target directory (or CARGO_TARGET_DIR) instead of a second Rust build.
    env = StructureLoader.TestMix.env("prod")

    for args <- [["deps.get"], ["release", "--overwrite"]] do
      {output, status} = System.cmd("mix", args, cd: app_dir, env: env, stderr_to_stdout: true)

      status == 0 ||
        raise "MIX_ENV=prod mix #{Enum.join(args, " ")} failed in #{app_dir}:\n#{output}"
    end
  end

  defp copy_release!(ctx, name) do
    root = Path.join(ctx.tmp_dir, "#{name}_release")
    {_, 0} = System.cmd("cp", ["-a", ctx.release_root, root])
    root
  end

  defp release_structure!(release_root, priv) do
    [path] = Path.wildcard(Path.join(release_root, "lib/my_app-*/#{priv}/structure.sql"))
    path
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
  # restricted bin directory), HOME, LANG and each repo's database URL: no PG* variable the
  # loader could fall back on. stderr is captured apart from stdout.
  defp run_release!(ctx, release_root, dbs, expression) do
    id = System.unique_integer([:positive])
    stderr_path = Path.join(ctx.tmp_dir, "stderr-#{id}.txt")
    home = Path.join(ctx.tmp_dir, "home-#{id}")
    File.mkdir_p!(home)

    urls =
      for {repo, %{url_variable: variable}} <- @repos,
          do: "#{variable}=#{TestDB.url(dbs[repo])}"

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
          "LANG=C.UTF-8"
        ] ++ urls ++ [Path.join(release_root, "bin/my_app"), "eval", expression],
        cd: home
      )

    %{expression: expression, status: status, stdout: stdout, stderr: File.read!(stderr_path)}
  end

  defp report(run) do
    """
    bin/my_app eval #{inspect(run.expression)} exited with #{run.status}
    --- stdout
    #{run.stdout}
    --- stderr
    #{run.stderr}
    """
  end

  defp count_lines(output, fragment, other_fragment \\ "") do
    output
    |> String.split("\n")
    |> Enum.count(&(String.contains?(&1, fragment) and String.contains?(&1, other_fragment)))
  end

  defp env_executable, do: System.find_executable("env") || raise("env is not installed")
end
