defmodule StructureLoader.ReleaseHelperTest do
  # StructureLoader.Release.migrate/2 with Ecto's migrations is proven on the example app
  # built as a release (test/release_test.exs); here, what it does for repos without Ecto.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, Summary, TestDB}

  @moduletag :db

  defmodule MainRepo do
    def config, do: :persistent_term.get({__MODULE__, :config})
  end

  defmodule DataRepo do
    def config, do: :persistent_term.get({__MODULE__, :config})
  end

  setup do
    main = TestDB.create!()
    data = TestDB.create!()
    {:ok, main: main, data: data}
  end

  defp configure!(repo, database, dump_path) do
    :persistent_term.put({repo, :config}, TestDB.config(database, dump_path: dump_path))
    on_exit(fn -> :persistent_term.erase({repo, :config}) end)
  end

  test "migrate: false loads every repo once, in order, leaving out a missing file", ctx do
    main_structure =
      TestDB.write_file!("CREATE TABLE public.schema_migrations (version bigint);\n")

    configure!(MainRepo, ctx.main, main_structure)
    configure!(DataRepo, ctx.data, Path.join(Path.dirname(main_structure), "absent.sql"))
    opts = [repos: [MainRepo, DataRepo], migrate: false, skip_if_missing: true]

    capture_log(fn ->
      assert {:ok,
              [
                %Summary{repo: MainRepo, status: :loaded, statements: 1},
                %Summary{repo: DataRepo, status: :skipped}
              ]} = StructureLoader.Release.migrate(:structure_loader, opts)

      assert [
               %Summary{repo: MainRepo, status: :already_loaded},
               %Summary{repo: DataRepo, status: :skipped}
             ] = StructureLoader.Release.migrate!(:structure_loader, opts)
    end)
  end

  test "the first repo that fails stops the others", ctx do
    broken = TestDB.write_file!("CREATE TABLE public.t (id txet);\n")
    configure!(MainRepo, ctx.main, broken)
    configure!(DataRepo, ctx.data, broken)

    assert {:error, %Error{reason: :database, sqlstate: "42704"}} =
             StructureLoader.Release.migrate(:structure_loader,
               repos: [MainRepo, DataRepo],
               migrate: false,
               log: false
             )

    assert_raise Error, ~r/type "txet" does not exist/, fn ->
      StructureLoader.Release.migrate!(:structure_loader, repos: [DataRepo], migrate: false)
    end
  end

  test "options are checked before any repo is touched" do
    assert_raise ArgumentError,
                 ~r/unknown option :dump_path for StructureLoader.Release.migrate\/2/,
                 fn -> StructureLoader.Release.migrate(:structure_loader, dump_path: "x.sql") end

    assert_raise ArgumentError, "expected :repos to be a list of repo modules", fn ->
      StructureLoader.Release.migrate(:structure_loader, repos: ["MyApp.Repo"])
    end

    assert_raise ArgumentError,
                 "expected :timeout to be :infinity or a number of milliseconds from 1 to 4294967295",
                 fn ->
                   StructureLoader.Release.migrate(:structure_loader, repos: [], timeout: 0)
                 end
  end
end
