defmodule StructureLoader.TableExistsTest do
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, TestDB}

  @moduletag :db

  defmodule Repo do
    # An Ecto-style repo: only config/0 matters. Each test process puts its own settings.
    def config, do: Process.get({__MODULE__, :config})
  end

  setup_all do
    database = TestDB.create!()

    TestDB.sql!(database, """
    CREATE TABLE public.users (id integer);
    CREATE TABLE public."MixedCase" (id integer);
    CREATE SCHEMA audit;
    CREATE TABLE audit.events (id integer);
    CREATE SCHEMA "odd.schema";
    CREATE TABLE "odd.schema"."odd""name" (id integer);
    CREATE TABLE public."dotted.name" (id integer);
    CREATE VIEW public.user_view AS SELECT * FROM public.users;
    """)

    {:ok, database: database, config: TestDB.config(database)}
  end

  test "true for a table in current_schema(), false otherwise", %{config: config} do
    assert StructureLoader.table_exists?(config, "users")
    refute StructureLoader.table_exists?(config, "nothing_here")
    refute StructureLoader.table_exists?(config, "events")
  end

  test "a view counts, as in information_schema.tables (and so in Ecto)", %{config: config} do
    assert StructureLoader.table_exists?(config, "user_view")
  end

  test "prefix: looks in that schema", %{config: config} do
    assert StructureLoader.table_exists?(config, "events", prefix: "audit")
    assert StructureLoader.table_exists?(config, "events", prefix: :audit)
    refute StructureLoader.table_exists?(config, "users", prefix: "audit")
    refute StructureLoader.table_exists?(config, "events", prefix: "no_such_schema")
  end

  test "schema.table looks in that schema", %{config: config} do
    assert StructureLoader.table_exists?(config, "audit.events")
    assert StructureLoader.table_exists?(config, "public.users")
    refute StructureLoader.table_exists?(config, "public.events")
  end

  test "names are compared exactly, without case folding", %{config: config} do
    assert StructureLoader.table_exists?(config, "MixedCase")
    refute StructureLoader.table_exists?(config, "mixedcase")
    refute StructureLoader.table_exists?(config, "Users")
    refute StructureLoader.table_exists?(config, "AUDIT.events")
  end

  test "double-quoted parts are literal, with dots and doubled quotes", %{config: config} do
    assert StructureLoader.table_exists?(config, ~s("MixedCase"))
    assert StructureLoader.table_exists?(config, ~s(public."MixedCase"))
    assert StructureLoader.table_exists?(config, ~s("odd.schema"."odd""name"))
    assert StructureLoader.table_exists?(config, ~s("odd""name"), prefix: "odd.schema")
    assert StructureLoader.table_exists?(config, ~s("dotted.name"))
    refute StructureLoader.table_exists?(config, "dotted.name")
    assert StructureLoader.table_exists?(config, ~s("audit"."events"))
  end

  describe "compared with Ecto.Adapters.SQL.table_exists?/3 on a real Ecto repo" do
    setup %{config: config} do
      {:ok, repo: StructureLoader.TestRepo.start!(config)}
    end

    test "a plain name: the same answer, in current_schema()", %{config: config, repo: repo} do
      for name <- ["users", "user_view", "MixedCase", "mixedcase", "events", "nothing_here"] do
        assert StructureLoader.table_exists?(config, name) ==
                 Ecto.Adapters.SQL.table_exists?(repo, name),
               name
      end
    end

    test "the same answer when the connection sets search_path", %{config: config} do
      config = Keyword.put(config, :parameters, search_path: "audit")
      repo = StructureLoader.TestRepo.start!(config)

      for name <- ["events", "users"] do
        assert StructureLoader.table_exists?(config, name) ==
                 Ecto.Adapters.SQL.table_exists?(repo, name),
               name
      end

      assert StructureLoader.table_exists?(config, "events")
    end

    # The documented differences: Ecto takes the whole string as a table name in
    # current_schema() and ignores prefix:, where StructureLoader looks in the schema named.
    test "schema.table and prefix: look in that schema, where Ecto does not",
         %{config: config, repo: repo} do
      assert StructureLoader.table_exists?(config, "audit.events")
      refute Ecto.Adapters.SQL.table_exists?(repo, "audit.events")

      assert StructureLoader.table_exists?(config, "events", prefix: "audit")
      refute Ecto.Adapters.SQL.table_exists?(repo, "events", prefix: "audit")

      # A dot in a table's own name: Ecto finds it as written, StructureLoader when quoted.
      assert Ecto.Adapters.SQL.table_exists?(repo, "dotted.name")
      refute StructureLoader.table_exists?(config, "dotted.name")
      assert StructureLoader.table_exists?(config, ~s("dotted.name"))
    end
  end

  test "malformed names and a schema given twice are ArgumentErrors", %{config: config} do
    for name <- ["", "a.b.c", "a.", ".a", ~s("unterminated), ~s(a"b), ~s("a"b), ~s(""), ~s("a".)] do
      assert_raise ArgumentError, ~r/table name/, fn ->
        StructureLoader.table_exists?(config, name)
      end
    end

    assert_raise ArgumentError, ~r/names a schema and so does :prefix/, fn ->
      StructureLoader.table_exists?(config, "audit.events", prefix: "audit")
    end
  end

  test "takes a repo module", %{config: config} do
    Process.put({Repo, :config}, config)
    assert StructureLoader.table_exists?(Repo, "users")
    refute StructureLoader.table_exists?(Repo, "nothing_here")
  end

  test "a module without config/0 is an ArgumentError" do
    assert_raise ArgumentError, ~r/config\/0/, fn ->
      StructureLoader.table_exists?(String, "users")
    end
  end

  test "raises StructureLoader.Error when it cannot connect", %{config: config} do
    port = StructureLoader.TestPorts.closed_port()

    error =
      assert_raise Error, fn ->
        StructureLoader.table_exists?(
          Keyword.merge(config, hostname: "127.0.0.1", port: port),
          "users"
        )
      end

    assert error.reason == :connect

    error =
      assert_raise Error, fn ->
        StructureLoader.table_exists?(Keyword.put(config, :password, "not-the-password"), "users")
      end

    assert %Error{reason: :auth, sqlstate: "28P01"} = error
    refute Exception.message(error) =~ "not-the-password"

    # The test server has no TLS: asked for, it is an error, never plain text.
    assert_raise Error, ~r/the server does not support SSL \(TLS\)/, fn ->
      StructureLoader.table_exists?(Keyword.put(config, :ssl, true), "users")
    end
  end
end
