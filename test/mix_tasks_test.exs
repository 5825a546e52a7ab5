defmodule StructureLoader.MixTasksTest do
  # mix structure_loader.load and structure_loader.check where they are used: in the example
  # app (two real Ecto repos), run by mix with no psql or pg_dump on PATH, told where the
  # databases are only by DATABASE_URL and OTHER_DATABASE_URL.
  use ExUnit.Case, async: false

  alias StructureLoader.TestDB

  @moduletag :db
  @moduletag :example_app
  @moduletag timeout: 600_000

  @repo_root Path.expand("..", __DIR__)
  @app_dir Path.join(__DIR__, "example_app")
  # Two levels below the repository root, so that the app's `path: "../.."` finds the library.
  @app_copy Path.join([@repo_root, "tmp", "mix_tasks_test_app"])
  # The same app as the one app of an umbrella.
  @umbrella Path.join([@repo_root, "tmp", "mix_tasks_test_umbrella"])

  @structures %{
    "MyApp.Repo" => "priv/repo/structure.sql",
    "MyApp.OtherRepo" => "priv/other_repo/structure.sql"
  }

  # What mix, elixir and erl call, and cargo in case the NIF must be rebuilt.
  @tools ~w(mix elixir erl sh readlink dirname basename cut sed cat grep uname cargo)

  setup_all do
    copy_example_app!()
    bin_dir = Path.join(@app_copy, "tmp/bin")
    File.rm_rf!(bin_dir)
    File.mkdir_p!(bin_dir)

    for tool <- @tools do
      File.ln_s!(
        System.find_executable(tool) || raise("#{tool} is not installed"),
        Path.join(bin_dir, tool)
      )
    end

    for env <- ["dev", "test"] do
      %{status: 0} = mix!(bin_dir, env, %{}, ["deps.get"])
      compiled = mix!(bin_dir, env, %{}, ["compile"])
      compiled.status == 0 || raise "mix compile failed in #{@app_copy}:\n#{compiled.output}"
    end

    {:ok, bin_dir: bin_dir}
  end

  test "no psql or pg_dump is on the tasks' PATH", ctx do
    for tool <- ~w(psql pg_dump) do
      refute File.exists?(Path.join(ctx.bin_dir, tool))
    end
  end

  test "structure_loader.load loads each repo as psql does and prints mix ecto.load's message; --skip-if-loaded then does nothing",
       ctx do
    dbs = new_databases()

    run = mix!(ctx.bin_dir, "dev", dbs, ["structure_loader.load"])
    assert run.status == 0, run.output

    assert Regex.scan(
             ~r/^The structure for (\S+) has been loaded from (\S+) in \d+ ms$/m,
             run.output,
             capture: :all_but_first
           ) ==
             for(
               repo <- ["MyApp.Repo", "MyApp.OtherRepo"],
               do: [repo, Path.join(@app_copy, @structures[repo])]
             ),
           run.output

    for {repo, db} <- dbs do
      reference = TestDB.create!()
      {output, status} = TestDB.psql_load(reference, Path.join(@app_dir, @structures[repo]))
      assert status == 0, output

      TestDB.assert_same_snapshot!(
        TestDB.snapshot!(reference),
        TestDB.snapshot!(db),
        "#{repo}'s databases loaded by psql and by the task"
      )
    end

    before = Map.new(dbs, fn {repo, db} -> {repo, TestDB.snapshot!(db)} end)
    again = mix!(ctx.bin_dir, "dev", dbs, ["structure_loader.load", "--skip-if-loaded"])
    assert again.status == 0, again.output
    refute again.output =~ "has been loaded", again.output

    for {repo, db} <- dbs do
      TestDB.assert_same_snapshot!(before[repo], TestDB.snapshot!(db), "#{repo} before and after")
    end
  end

  test "a failing load exits with status 1, the error located in the file, and leaves the database empty",
       ctx do
    dbs = new_databases()

    broken =
      TestDB.write_file!(
        "CREATE TABLE public.posts (id bigint);\nCREATE TABLE public.tags (name txet);\n"
      )

    run =
      mix!(ctx.bin_dir, "dev", dbs, [
        "structure_loader.load",
        "-r",
        "MyApp.Repo",
        "--dump-path",
        broken
      ])

    assert run.status == 1, run.output

    assert run.output =~
             """
             ** (Mix) The structure for MyApp.Repo couldn't be loaded: #{broken}:2:32: ERROR 42704: type "txet" does not exist
             """

    assert TestDB.sql!(dbs["MyApp.Repo"], "SELECT to_regclass('public.posts') IS NULL") == "t"
  end

  test "a load longer than 5 s prints where it is, naming the repo", ctx do
    dbs = new_databases()

    slow =
      TestDB.write_file!([
        "CREATE TABLE public.ticks (n integer);\n"
        | for(
            n <- 1..16,
            do: "SELECT pg_sleep(0.4);\nCOPY public.ticks (n) FROM stdin;\n#{n}\n\\.\n"
          )
      ])

    run = mix!(ctx.bin_dir, "dev", dbs, ["structure_loader.load", "-r", "MyApp.Repo", "-d", slow])
    assert run.status == 0, run.output

    assert run.output =~
             ~r/^The structure for MyApp\.Repo is loading from #{Regex.escape(slow)}: .* of 33 statements, \d+ of 16 COPY rows, line \d+; /m

    assert run.output =~
             ~r/^The structure for MyApp\.Repo has been loaded from #{Regex.escape(slow)} in \d/m

    quiet =
      mix!(ctx.bin_dir, "dev", new_databases(), [
        "structure_loader.load",
        "-r",
        "MyApp.Repo",
        "-d",
        slow,
        "--quiet"
      ])

    assert quiet.status == 0, quiet.output
    refute quiet.output =~ "The structure", quiet.output
  end

  test "structure_loader.check reports each repo's file, and exits 1 on a file a load would refuse",
       ctx do
    run = mix!(ctx.bin_dir, "dev", %{}, ["structure_loader.check"])
    assert run.status == 0, run.output

    for {repo, structure} <- [
          {"MyApp.Repo", "priv/repo/structure.sql"},
          {"MyApp.OtherRepo", "priv/other_repo/structure.sql"}
        ] do
      {:ok, summary} = StructureLoader.check(Path.join(@app_dir, structure))

      expected =
        Enum.join(
          [Path.join(@app_copy, structure)] ++
            for(
              key <- ~w(statements copy_blocks copy_rows meta_commands pg_dump_version)a,
              do: "  #{key}: #{inspect(summary[key])}"
            ),
          "\n"
        )

      assert run.output =~ expected, "#{repo}:\n#{run.output}"
    end

    refused = TestDB.write_file!("SELECT 1;\n\\! touch /tmp/sl-should-not-exist\n")
    run = mix!(ctx.bin_dir, "dev", %{}, ["structure_loader.check", refused])
    assert run.status == 1, run.output
    assert run.output =~ "** (Mix) #{refused}:2:1: "
  end

  test "structure_loader.check --no-owner --no-comments reports what those filters would leave out",
       ctx do
    pagila = Path.join(@repo_root, "test/fixtures/corpus/pagila-schema.sql")

    run = mix!(ctx.bin_dir, "dev", %{}, ["structure_loader.check", pagila])
    assert run.status == 0, run.output
    assert run.output =~ "  left_out: %{comments: 0, owner: 0, privileges: 0}"

    run =
      mix!(ctx.bin_dir, "dev", %{}, [
        "structure_loader.check",
        "--no-owner",
        "--no-comments",
        pagila
      ])

    assert run.status == 0, run.output
    assert run.output =~ "  left_out: %{comments: 1, owner: 106, privileges: 0}"
  end

  test "the example app's mix test alias creates the test databases and loads them once", ctx do
    dbs =
      Map.new(@structures, fn {repo, _} ->
        name = "sl_ex_alias_#{System.unique_integer([:positive])}"

        on_exit(fn ->
          TestDB.sql!("postgres", ~s[DROP DATABASE IF EXISTS "#{name}" WITH (FORCE)])
        end)

        {repo, name}
      end)

    first = mix!(ctx.bin_dir, "test", dbs, ["test"])
    assert first.status == 0, first.output
    assert first.output =~ "1 test, 0 failures", first.output
    loaded = Map.new(dbs, fn {repo, db} -> {repo, TestDB.snapshot!(db)} end)

    second = mix!(ctx.bin_dir, "test", dbs, ["test"])
    assert second.status == 0, second.output
    assert second.output =~ "1 test, 0 failures", second.output

    for {repo, db} <- dbs do
      TestDB.assert_same_snapshot!(loaded[repo], TestDB.snapshot!(db), "#{repo} after each run")
    end
  end

  test "in an umbrella, structure_loader.load at the root loads the repos of every app", ctx do
    build_umbrella!(ctx.bin_dir)
    dbs = new_databases()

    run = mix!(ctx.bin_dir, "dev", dbs, ["structure_loader.load", "--skip-if-loaded"], @umbrella)
    assert run.status == 0, run.output

    for {repo, structure} <- @structures do
      path = Path.join([@umbrella, "apps/my_app", structure])

      assert run.output =~ "The structure for #{repo} has been loaded from #{path} in ",
             run.output

      assert TestDB.sql!(dbs[repo], "SELECT count(*) > 0 FROM schema_migrations") == "t"
    end
  end

  # An umbrella whose one app is the example app, configured as `mix new --umbrella` does;
  # its _build and deps are kept between runs, as the app's copy's are.
  defp build_umbrella!(bin_dir) do
    app = Path.join(@umbrella, "apps/my_app")
    File.mkdir_p!(@umbrella)

    for entry <- File.ls!(@umbrella), entry not in ["_build", "deps"] do
      File.rm_rf!(Path.join(@umbrella, entry))
    end

    File.mkdir_p!(app)

    for entry <- File.ls!(@app_dir), entry not in ["_build", "deps"] do
      File.cp_r!(Path.join(@app_dir, entry), Path.join(app, entry))
    end

    app_mix_exs =
      app
      |> Path.join("mix.exs")
      |> File.read!()
      |> String.replace(~s(path: "../.."), ~s(path: #{inspect(@repo_root)}))
      |> String.replace(~s(      version: "0.1.0",\n), """
            version: "0.1.0",
            build_path: "../../_build",
            config_path: "../../config/config.exs",
            deps_path: "../../deps",
            lockfile: "../../mix.lock",
      """)

    File.write!(Path.join(app, "mix.exs"), app_mix_exs)

    File.write!(Path.join(@umbrella, "mix.exs"), """
    defmodule Umbrella.MixProject do
      use Mix.Project
      def project, do: [apps_path: "apps", version: "0.1.0", deps: []]
    end
    """)

    File.mkdir_p!(Path.join(@umbrella, "config"))

    File.write!(Path.join(@umbrella, "config/config.exs"), """
    import Config

    for config <- "../apps/*/config/config.exs" |> Path.expand(__DIR__) |> Path.wildcard() do
      import_config config
    end
    """)

    File.cp!(Path.join(app, "config/runtime.exs"), Path.join(@umbrella, "config/runtime.exs"))
    %{status: 0} = mix!(bin_dir, "dev", %{}, ["deps.get"], @umbrella)
    compiled = mix!(bin_dir, "dev", %{}, ["compile"], @umbrella)
    compiled.status == 0 || raise "mix compile failed in #{@umbrella}:\n#{compiled.output}"
  end

  defp new_databases, do: Map.new(@structures, fn {repo, _} -> {repo, TestDB.create!()} end)

  # Runs `mix ARGS` in the app's copy with nothing in its environment but PATH (the tools
  # above), HOME, LANG, MIX_ENV, the hexdeps directory and the repos' URLs.
  defp mix!(bin_dir, env, dbs, args, dir \\ @app_copy) do
    urls =
      for {repo, variable} <- [
            {"MyApp.Repo", "DATABASE_URL"},
            {"MyApp.OtherRepo", "OTHER_DATABASE_URL"}
          ],
          db = dbs[repo],
          do: "#{variable}=#{TestDB.url(db)}"

    hexdeps =
      case System.get_env("STRUCTURE_LOADER_HEXDEPS") do
        nil -> []
        dir -> ["STRUCTURE_LOADER_HEXDEPS=#{dir}"]
      end

    cargo =
      for variable <- ~w(CARGO_TARGET_DIR CARGO_HOME RUSTUP_HOME),
          value = System.get_env(variable),
          do: "#{variable}=#{value}"

    {output, status} =
      System.cmd(
        System.find_executable("env"),
        ["-i", "PATH=#{bin_dir}", "HOME=#{System.user_home!()}", "LANG=C.UTF-8", "MIX_ENV=#{env}"] ++
          hexdeps ++ cargo ++ urls ++ ["mix" | args],
        cd: dir,
        stderr_to_stdout: true
      )

    %{status: status, output: output}
  end

  # The copy keeps its _build and deps between runs: Ecto compiles once per machine.
  defp copy_example_app! do
    File.mkdir_p!(@app_copy)

    for entry <- File.ls!(@app_copy), entry not in ["_build", "deps"] do
      File.rm_rf!(Path.join(@app_copy, entry))
    end

    for entry <- File.ls!(@app_dir), entry not in ["_build", "deps"] do
      File.cp_r!(Path.join(@app_dir, entry), Path.join(@app_copy, entry))
    end
  end
end
