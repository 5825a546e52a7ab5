defmodule StructureLoader.LoadTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, Summary, TestDB}

  @moduletag :db

  defmodule FakeRepo do
    # An Ecto-style repo: only config/0 matters. Each test process puts its own settings.
    def config, do: Process.get({__MODULE__, :config})
  end

  defmodule MigrationRepo do
    def config, do: Process.get({__MODULE__, :config})
  end

  @structure """
  CREATE TABLE public.widgets (id bigint NOT NULL);

  CREATE TABLE public.schema_migrations (
      version bigint NOT NULL,
      inserted_at timestamp(0) without time zone
  );

  INSERT INTO public."schema_migrations" (version) VALUES (20240101000000);
  INSERT INTO public."schema_migrations" (version) VALUES (20240202000000);
  """

  setup do
    database = TestDB.create!()
    {:ok, database: database, config: TestDB.config(database), empty: TestDB.dump!(database)}
  end

  # An OTP application on the code path, as a release has it, with `files` in its directory.
  defp fake_otp_app!(files) do
    root = Path.dirname(TestDB.write_file!("", ".keep"))
    app = :"sl_fake_app_#{System.unique_integer([:positive])}"
    ebin = Path.join([root, Atom.to_string(app), "ebin"])
    File.mkdir_p!(ebin)
    true = :code.add_patha(String.to_charlist(ebin))
    on_exit(fn -> :code.del_path(String.to_charlist(ebin)) end)

    for {relative, contents} <- files do
      path = Path.join([root, Atom.to_string(app), relative])
      File.mkdir_p!(Path.dirname(path))
      File.write!(path, contents)
    end

    app
  end

  test "loads once, then reports :already_loaded without touching anything", context do
    path = TestDB.write_file!(@structure)
    config = Keyword.put(context.config, :dump_path, path)

    log =
      capture_log(fn ->
        assert {:ok,
                %Summary{
                  status: :loaded,
                  repo: nil,
                  path: ^path,
                  statements: 4,
                  copy_blocks: 0,
                  skipped_settings: []
                }} = StructureLoader.load(config)
      end)

    assert log =~
             ~r/\[info\]\s+The structure has been loaded from #{Regex.escape(path)} in \d+ ms \(4 statements\)/

    loaded = TestDB.dump!(context.database)

    assert TestDB.sql!(
             context.database,
             "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"
           ) ==
             "20240101000000,20240202000000"

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :already_loaded, statements: 0}} =
                 StructureLoader.load(config)
      end)

    assert log =~
             ~r/\[info\]\s+The structure is already loaded \(schema_migrations exists\): #{Regex.escape(path)} was not loaded/

    TestDB.assert_same_text!(
      loaded,
      TestDB.dump!(context.database),
      "the database after the first and second load"
    )
  end

  test "load!/2 returns :loaded, then :already_loaded, and raises the error", context do
    path = TestDB.write_file!(@structure)
    config = Keyword.put(context.config, :dump_path, path)

    assert %Summary{status: :loaded} = StructureLoader.load!(config, log: false)
    assert %Summary{status: :already_loaded} = StructureLoader.load!(config, log: false)

    broken = TestDB.write_file!("CREATE TABLE public.x (id integer NOT NOT NULL);\n")
    other = TestDB.create!()

    error =
      assert_raise Error, fn ->
        StructureLoader.load!(TestDB.config(other), dump_path: broken)
      end

    assert %Error{reason: :database, sqlstate: "42601", line: 1} = error
    assert Exception.message(error) =~ "#{broken}:1:"
  end

  test "several callers at once: exactly one loads", context do
    path = TestDB.write_file!(@structure <> "SELECT pg_sleep(0.5);\n")
    config = Keyword.merge(context.config, dump_path: path, log: false)

    results =
      1..4
      |> Enum.map(fn _ -> Task.async(fn -> StructureLoader.load(config) end) end)
      |> Task.await_many(30_000)

    assert results |> Enum.map(fn {:ok, summary} -> summary.status end) |> Enum.frequencies() ==
             %{loaded: 1, already_loaded: 3}

    assert TestDB.sql!(context.database, "SELECT count(*) FROM schema_migrations") == "2"
  end

  test ":migration_source and :migration_default_prefix name the table checked", context do
    TestDB.sql!(
      context.database,
      "CREATE SCHEMA meta; CREATE TABLE meta.my_migrations (version bigint)"
    )

    path = TestDB.write_file!("CREATE TABLE public.t (i integer);\n")
    config = Keyword.put(context.config, :dump_path, path)

    assert {:ok, %Summary{status: :loaded}} =
             StructureLoader.load(config, migration_source: "my_migrations")

    assert StructureLoader.table_exists?(config, "t")

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :already_loaded}} =
                 StructureLoader.load(config,
                   migration_source: "my_migrations",
                   migration_default_prefix: "meta"
                 )
      end)

    assert log =~ "The structure is already loaded (meta.my_migrations exists)"
  end

  test "a failed load leaves nothing, and the next call loads", context do
    broken = TestDB.write_file!(@structure <> "CREATE TABLE public.widgets (id bigint);\n")
    config = Keyword.put(context.config, :dump_path, broken)

    assert {:error, %Error{reason: :database, sqlstate: "42P07", line: 10}} =
             StructureLoader.load(config)

    TestDB.assert_same_text!(
      context.empty,
      TestDB.dump!(context.database),
      "the database before and after"
    )

    fixed = TestDB.write_file!(@structure)

    assert {:ok, %Summary{status: :loaded, path: ^fixed}} =
             StructureLoader.load(config, dump_path: fixed)
  end

  test "the summary line names the repo, as mix ecto.load does", context do
    app = fake_otp_app!(%{"priv/fake_repo/structure.sql" => @structure})
    Process.put({FakeRepo, :config}, [otp_app: app] ++ context.config)

    log = capture_log(fn -> assert {:ok, _} = StructureLoader.load(FakeRepo) end)

    assert log =~
             ~r/The structure for StructureLoader.LoadTest.FakeRepo has been loaded from \S+\/priv\/fake_repo\/structure.sql in \d+ ms \(4 statements\)/
  end

  test "the summary line counts COPY rows, with thousands separators", context do
    rows = Enum.map_join(1..1_500, "", &"#{&1}\n")

    path =
      TestDB.write_file!(
        "CREATE TABLE public.n (i integer);\nCOPY public.n (i) FROM stdin;\n#{rows}\\.\n"
      )

    log =
      capture_log(fn ->
        assert {:ok, %Summary{statements: 2, copy_blocks: 1, copy_rows: 1_500}} =
                 StructureLoader.load(context.config, dump_path: path)
      end)

    assert log =~ "(2 statements, 1 COPY block with 1,500 rows)"
  end

  test "the summary line is at the :log level, or absent with log: false", context do
    path = TestDB.write_file!(@structure)

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :loaded}} =
                 StructureLoader.load(context.config, dump_path: path, log: :debug)
      end)

    assert log =~ ~r/\[debug\]\s+The structure has been loaded from #{Regex.escape(path)} in/

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :already_loaded}} =
                 StructureLoader.load(context.config, dump_path: path, log: false)
      end)

    # Other tests running at the same time may log: only this load's lines count.
    refute log =~ path
  end

  test "the repo's own :log and :timeout are Ecto's, not the load's", context do
    path = TestDB.write_file!(@structure)
    # An Ecto repo logs its queries at :debug and limits each to 15 s by default.
    config = Keyword.merge(context.config, dump_path: path, log: :debug, timeout: 1)

    log = capture_log([level: :info], fn -> assert {:ok, _} = StructureLoader.load(config) end)
    assert log =~ "[info] The structure has been loaded from #{path}"
  end

  test "skip_if_missing: true goes on without a file that is not there", context do
    missing = Path.join(Path.dirname(TestDB.write_file!("")), "none.sql")
    config = Keyword.put(context.config, :dump_path, missing)

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :skipped, path: ^missing}} =
                 StructureLoader.load(config, skip_if_missing: true)
      end)

    assert log =~ "The structure was not loaded: there is no #{missing} (skip_if_missing: true)"
    assert {:error, %Error{reason: :file}} = StructureLoader.load(config)
  end

  test "the summary line says what pg_restore's filters left out", context do
    path =
      TestDB.write_file!(
        @structure <>
          "ALTER TABLE public.widgets OWNER TO CURRENT_USER;\n" <>
          "GRANT SELECT ON public.widgets TO PUBLIC;\n" <>
          "REVOKE ALL ON public.widgets FROM PUBLIC;\n" <>
          "COMMENT ON TABLE public.widgets IS 'kept';\n"
      )

    config = Keyword.put(context.config, :dump_path, path)

    log =
      capture_log(fn ->
        assert {:ok,
                %Summary{
                  status: :loaded,
                  statements: 8,
                  left_out: %{owner: 1, privileges: 2, comments: 0},
                  skipped_extension_comments: []
                }} = StructureLoader.load(config, no_owner: true, no_privileges: true)
      end)

    assert log =~
             ~r/The structure has been loaded from #{Regex.escape(path)} in \d+ ms \(8 statements; left out: 1 by no_owner, 2 by no_privileges\)/

    assert log =~
             "#{path}:10: WARNING: left out (no_owner: true): ALTER TABLE public.widgets OWNER TO CURRENT_USER;"

    assert TestDB.sql!(context.database, "SELECT obj_description('public.widgets'::regclass)") ==
             "kept"
  end

  describe "options" do
    test "an unknown option is an ArgumentError naming it and the valid ones", context do
      error =
        assert_raise ArgumentError, fn ->
          StructureLoader.load(context.config, strict_settings: true)
        end

      assert error.message =~ "unknown option :strict_settings for StructureLoader.load/2"
      assert error.message =~ ":strict, :no_owner, :no_privileges, :no_comments"

      assert_raise ArgumentError,
                   ~r/unknown option :prefx for StructureLoader.table_exists/,
                   fn ->
                     StructureLoader.table_exists?(context.config, "t", prefx: "x")
                   end

      assert_raise ArgumentError,
                   ~r/unknown option :log for StructureLoader.structure_load/,
                   fn ->
                     StructureLoader.structure_load("/unused", context.config, log: false)
                   end
    end

    test "a value of the wrong type is an ArgumentError, never reaching the NIF", context do
      path = TestDB.write_file!(@structure)
      config = Keyword.put(context.config, :dump_path, path)

      for {option, message} <- [
            {[strict: "true"], ~r/:strict to be true or false/},
            {[no_owner: nil], ~r/:no_owner to be true or false/},
            {[no_privileges: "yes"], ~r/:no_privileges to be true or false/},
            {[no_comments: 1], ~r/:no_comments to be true or false/},
            {[timeout: 10 ** 23], ~r/:timeout to be :infinity or a number of milliseconds/},
            {[timeout: 0], ~r/:timeout/},
            {[log: :loud], ~r/:log to be false or a Logger level/},
            {[skip_if_missing: 1], ~r/:skip_if_missing/},
            {[dump_path: 7], ~r/:dump_path to be a path/},
            {[port: "nope"], ~r/port number/}
          ] do
        assert_raise ArgumentError, message, fn -> StructureLoader.load(config, option) end
      end

      TestDB.assert_same_text!(context.empty, TestDB.dump!(context.database), "the database")
    end

    test "connection keys in the options win over the repo's", context do
      path = TestDB.write_file!(@structure)
      config = Keyword.merge(context.config, dump_path: path, database: "no_such_database")

      assert {:ok, %Summary{status: :loaded}} =
               StructureLoader.load(config, database: context.database)
    end
  end

  describe "the repo's connection as Ecto makes it" do
    test "after_connect setting the search path: loads once, then finds it loaded", context do
      TestDB.sql!(context.database, "CREATE SCHEMA app")

      structure = """
      CREATE TABLE app.schema_migrations (version bigint NOT NULL);
      INSERT INTO app.schema_migrations (version) VALUES (20240101000000);
      CREATE TABLE app.widgets (id bigint);
      """

      path = TestDB.write_file!(structure)

      config =
        Keyword.merge(context.config,
          dump_path: path,
          after_connect: {Postgrex, :query!, ["SET search_path TO app", []]}
        )

      assert {:ok, %Summary{status: :loaded}} = StructureLoader.load(config, log: false)
      # Looked for in `app`, where Ecto looks: without the after_connect SQL, the second
      # load would not see it and would run the file again.
      assert {:ok, %Summary{status: :already_loaded}} = StructureLoader.load(config, log: false)
      assert StructureLoader.table_exists?(config, "schema_migrations")
      refute StructureLoader.table_exists?(context.config, "schema_migrations")
    end

    test "a failing after_connect SQL says so, and nothing is loaded", context do
      path = TestDB.write_file!(@structure)

      config =
        Keyword.merge(context.config,
          dump_path: path,
          after_connect: {Postgrex, :query!, ["SET no_such.setting_x TO DEFAULT; SELECT 1/0", []]}
        )

      assert {:error, %Error{reason: :database, sqlstate: "22012"} = error} =
               StructureLoader.load(config, log: false)

      assert error.message =~ "the repo's after_connect SQL failed: division by zero"
      TestDB.assert_same_text!(context.empty, TestDB.dump!(context.database), "the database")
    end

    test "endpoints are tried in order until one accepts", context do
      path = TestDB.write_file!(@structure)
      closed = StructureLoader.TestPorts.closed_port()

      config =
        Keyword.merge(context.config,
          dump_path: path,
          endpoints: [{"127.0.0.1", closed}, {"127.0.0.1", context.config[:port]}]
        )

      assert {:ok, %Summary{status: :loaded}} = StructureLoader.load(config, log: false)

      error =
        assert_raise Error, fn ->
          StructureLoader.table_exists?(
            Keyword.put(config, :endpoints, [{"127.0.0.1", closed}, {"localhost", closed}]),
            "widgets"
          )
        end

      assert error.message =~ "cannot connect to any of the 2 endpoints"
      assert error.message =~ "127.0.0.1:#{closed}"
      assert error.message =~ "localhost:#{closed}"
    end

    test "target_server_type: :primary connects to a primary", context do
      path = TestDB.write_file!(@structure)
      config = Keyword.merge(context.config, dump_path: path, target_server_type: :primary)
      assert {:ok, %Summary{status: :loaded}} = StructureLoader.load(config, log: false)
    end

    test "a migration_repo reaching the same database is where the table is checked", context do
      path = TestDB.write_file!(@structure)
      Process.put({MigrationRepo, :config}, context.config)
      config = Keyword.merge(context.config, dump_path: path, migration_repo: MigrationRepo)

      assert {:ok, %Summary{status: :loaded}} = StructureLoader.load(config, log: false)
      assert {:ok, %Summary{status: :already_loaded}} = StructureLoader.load(config, log: false)

      Process.put({MigrationRepo, :config}, Keyword.put(context.config, :database, "other_db"))

      assert_raise ArgumentError,
                   ~r/:migration_repo .*MigrationRepo reaches another database/,
                   fn ->
                     StructureLoader.load(config, log: false)
                   end
    end
  end

  describe "the default file, as Ecto finds it in a release" do
    test "is priv/<underscored repo name>/structure.sql in the repo's otp_app", context do
      app = fake_otp_app!(%{"priv/fake_repo/structure.sql" => @structure})
      Process.put({FakeRepo, :config}, [otp_app: app] ++ context.config)
      expected = Path.join(Application.app_dir(app, "priv/fake_repo"), "structure.sql")

      assert {:ok, %Summary{status: :loaded, repo: FakeRepo, path: ^expected}} =
               StructureLoader.load(FakeRepo)

      assert {:ok, %Summary{status: :already_loaded}} = StructureLoader.load(FakeRepo)
    end

    test ":priv, from the repo config or the options, moves it", context do
      app = fake_otp_app!(%{"priv/other/structure.sql" => @structure})
      Process.put({FakeRepo, :config}, [otp_app: app, priv: "priv/other"] ++ context.config)

      assert {:ok, %Summary{status: :loaded, path: path}} = StructureLoader.load(FakeRepo)
      assert String.ends_with?(path, "/priv/other/structure.sql")

      other = TestDB.create!()
      Process.put({FakeRepo, :config}, [otp_app: app] ++ TestDB.config(other))

      assert {:ok, %Summary{status: :loaded, path: ^path}} =
               StructureLoader.load(FakeRepo, priv: "priv/other")
    end

    test "a keyword list with :otp_app uses priv/repo", context do
      app = fake_otp_app!(%{"priv/repo/structure.sql" => @structure})

      assert {:ok, %Summary{status: :loaded, path: path}} =
               StructureLoader.load([otp_app: app] ++ context.config)

      assert path == Path.join(Application.app_dir(app, "priv/repo"), "structure.sql")
    end

    test "a missing file says where it looked and why", context do
      app = fake_otp_app!(%{"priv/fake_repo/seeds.exs" => ""})
      Process.put({FakeRepo, :config}, [otp_app: app] ++ context.config)
      expected = Path.join(Application.app_dir(app, "priv/fake_repo"), "structure.sql")

      assert {:error, %Error{reason: :file, path: ^expected} = error} =
               StructureLoader.load(FakeRepo)

      assert Exception.message(error) ==
               "#{expected}: no such file (the repo's structure dump: " <>
                 ~s[Application.app_dir(#{inspect(app)}, "priv/fake_repo") <> "/structure.sql". ] <>
                 "Was it built without priv/fake_repo/structure.sql? `mix ecto.dump` writes it " <>
                 "there, and `mix release` copies it only if it is there at build time; " <>
                 "or pass :dump_path)"

      TestDB.assert_same_text!(
        context.empty,
        TestDB.dump!(context.database),
        "the database before and after"
      )
    end

    test "a missing file is an error even when the structure is loaded", context do
      TestDB.sql!(context.database, "CREATE TABLE schema_migrations (version bigint)")
      missing = Path.join(Path.dirname(TestDB.write_file!("")), "missing.sql")

      assert {:error, %Error{reason: :file, path: ^missing}} =
               StructureLoader.load(Keyword.put(context.config, :dump_path, missing))
    end

    test "a keyword list needs :dump_path or :otp_app", context do
      assert_raise ArgumentError, ~r/give :dump_path, or :otp_app/, fn ->
        StructureLoader.load(context.config)
      end
    end
  end
end
