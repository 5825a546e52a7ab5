defmodule StructureLoader.LoadTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, TestDB}

  @moduletag :db

  defmodule FakeRepo do
    # An Ecto-style repo: only config/0 matters. Each test process puts its own settings.
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

    log = capture_log(fn -> assert StructureLoader.load(config) == {:ok, :loaded, path} end)
    assert log =~ ~r/\[info\]\s+loaded 4 statements from #{Regex.escape(path)} in \d+ ms/

    loaded = TestDB.dump!(context.database)

    assert TestDB.sql!(
             context.database,
             "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"
           ) ==
             "20240101000000,20240202000000"

    log = capture_log(fn -> assert StructureLoader.load(config) == {:ok, :already_loaded} end)

    assert log =~
             ~r/\[info\]\s+structure already loaded \(schema_migrations exists\), skipped #{Regex.escape(path)}/

    TestDB.assert_same_text!(
      loaded,
      TestDB.dump!(context.database),
      "the database after the first and second load"
    )
  end

  test "load!/2 returns :loaded, then :already_loaded, and raises the error", context do
    path = TestDB.write_file!(@structure)
    config = Keyword.put(context.config, :dump_path, path)

    assert StructureLoader.load!(config, log: false) == :loaded
    assert StructureLoader.load!(config, log: false) == :already_loaded

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

    assert Enum.frequencies(results) == %{{:ok, :loaded, path} => 1, {:ok, :already_loaded} => 3}
    assert TestDB.sql!(context.database, "SELECT count(*) FROM schema_migrations") == "2"
  end

  test ":migration_source and :migration_default_prefix name the table checked", context do
    TestDB.sql!(
      context.database,
      "CREATE SCHEMA meta; CREATE TABLE meta.my_migrations (version bigint)"
    )

    path = TestDB.write_file!("CREATE TABLE public.t (i integer);\n")
    config = Keyword.put(context.config, :dump_path, path)

    assert {:ok, :loaded, ^path} = StructureLoader.load(config, migration_source: "my_migrations")
    assert StructureLoader.table_exists?(config, "t")

    log =
      capture_log(fn ->
        assert {:ok, :already_loaded} =
                 StructureLoader.load(config,
                   migration_source: "my_migrations",
                   migration_default_prefix: "meta"
                 )
      end)

    assert log =~ "structure already loaded (meta.my_migrations exists)"
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
    assert {:ok, :loaded, ^fixed} = StructureLoader.load(config, dump_path: fixed)
  end

  describe "the default file, as Ecto finds it in a release" do
    test "is priv/<underscored repo name>/structure.sql in the repo's otp_app", context do
      app = fake_otp_app!(%{"priv/fake_repo/structure.sql" => @structure})
      Process.put({FakeRepo, :config}, [otp_app: app] ++ context.config)
      expected = Path.join(Application.app_dir(app, "priv/fake_repo"), "structure.sql")

      assert StructureLoader.load(FakeRepo) == {:ok, :loaded, expected}
      assert StructureLoader.load(FakeRepo) == {:ok, :already_loaded}
    end

    test ":priv, from the repo config or the options, moves it", context do
      app = fake_otp_app!(%{"priv/other/structure.sql" => @structure})
      Process.put({FakeRepo, :config}, [otp_app: app, priv: "priv/other"] ++ context.config)

      assert {:ok, :loaded, path} = StructureLoader.load(FakeRepo)
      assert String.ends_with?(path, "/priv/other/structure.sql")

      other = TestDB.create!()
      Process.put({FakeRepo, :config}, [otp_app: app] ++ TestDB.config(other))
      assert {:ok, :loaded, ^path} = StructureLoader.load(FakeRepo, priv: "priv/other")
    end

    test "a keyword list with :otp_app uses priv/repo", context do
      app = fake_otp_app!(%{"priv/repo/structure.sql" => @structure})

      assert {:ok, :loaded, path} = StructureLoader.load([otp_app: app] ++ context.config)
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
