defmodule StructureLoader.FidelityTest do
  # Every real dump of the corpus, loaded by psql (as `mix ecto.load` runs it) into one fresh
  # database and by StructureLoader into another: the results must be identical, and where
  # psql fails StructureLoader fails on the same statement with the same SQLSTATE.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, TestDB}

  @moduletag :db
  @moduletag :fidelity
  @moduletag timeout: 600_000

  @corpus Path.expand("../../../shared/corpus", __DIR__)
  @manifest Path.join(@corpus, "MANIFEST.tsv")
  @external_resource @manifest

  [header | rows] = @manifest |> File.read!() |> String.split("\n", trim: true)
  columns = String.split(header, "\t")
  entries = Enum.map(rows, &Map.new(Enum.zip(columns, String.split(&1, "\t"))))

  # The one deliberate difference (SPEC section 5): psql fails on this pg_dump 18 file only
  # because PostgreSQL 15 does not know `SET transaction_timeout`, which StructureLoader skips.
  @newer_pg_dump "philomena-pg18.sql"

  defp load_with_psql!(database, path) do
    assert {_output, 0} = TestDB.psql_load(database, path)
  end

  defp load_with_structure_loader!(database, path) do
    config = TestDB.config(database, dump_path: path, log: false)
    assert StructureLoader.structure_load("/unused", config) == {:ok, path}
  end

  defp assert_same_databases(psql_database, loader_database) do
    TestDB.assert_same_text!(
      TestDB.dump!(psql_database, ["--schema-only"]),
      TestDB.dump!(loader_database, ["--schema-only"]),
      "pg_dump --schema-only of the psql load and the StructureLoader load"
    )

    assert TestDB.contents!(psql_database) == TestDB.contents!(loader_database)
  end

  for %{"file" => file, "psql_pg15_result" => "PASS" <> after_clause} <- entries do
    prerequisite =
      case Regex.run(~r/after ([\w.-]+)/, after_clause) do
        [_, name] -> Path.join(@corpus, name <> ".sql")
        nil -> nil
      end

    test "#{file} loads as psql loads it" do
      path = Path.join(@corpus, unquote(file))
      prerequisites = List.wrap(unquote(prerequisite))
      psql_database = TestDB.create!()
      loader_database = TestDB.create!()

      for file <- prerequisites ++ [path] do
        load_with_psql!(psql_database, file)
        load_with_structure_loader!(loader_database, file)
      end

      assert_same_databases(psql_database, loader_database)

      # The comparison above must have compared data where the dump has some.
      if unquote(file) in ["neon-chinook.sql", "pagila-data.sql"] do
        rows = for {_relation, {count, _md5}} <- TestDB.contents!(loader_database), do: count
        assert Enum.sum(rows) > 10_000
      end
    end
  end

  for %{"file" => file, "psql_pg15_result" => "FAIL"} <- entries, file != @newer_pg_dump do
    test "#{file} fails where psql fails, leaving nothing" do
      path = Path.join(@corpus, unquote(file))
      psql_database = TestDB.create!()
      loader_database = TestDB.create!()
      empty = TestDB.dump!(loader_database)

      {output, status} = TestDB.psql_load(psql_database, path)
      assert status != 0

      [_, psql_line, sqlstate, message] =
        Regex.run(~r/^psql:.*?:(\d+): ERROR:  ([0-9A-Z]{5}): (.*)$/m, output)

      psql_line = String.to_integer(psql_line)

      assert {:error, %Error{reason: :database} = error} =
               StructureLoader.structure_load(
                 "/unused",
                 TestDB.config(loader_database, dump_path: path)
               )

      assert {error.sqlstate, error.message} == {sqlstate, message}

      # psql names the line of the statement's terminating `;`: the failing statement ends
      # there and the error lies at or before it.
      terminating_line = path |> File.stream!() |> Enum.at(psql_line - 1)
      statement_end = error.statement |> String.split("\n") |> List.last() |> String.trim()
      assert String.contains?(terminating_line, statement_end)
      assert error.line <= psql_line

      assert Exception.message(error) =~
               "#{path}:#{error.line}:#{error.column}: ERROR #{sqlstate}: #{message}"

      TestDB.assert_same_text!(
        empty,
        TestDB.dump!(loader_database),
        "the database before and after"
      )
    end
  end

  test "#{@newer_pg_dump}: loads, skipping SET transaction_timeout as psql would without it" do
    path = Path.join(@corpus, @newer_pg_dump)
    lines = path |> File.read!() |> String.split("\n")
    setting_line = Enum.find_index(lines, &(&1 == "SET transaction_timeout = 0;")) + 1

    # psql on PostgreSQL 15 fails on that line, and on that line only.
    {output, status} = TestDB.psql_load(TestDB.create!(), path)
    assert status != 0

    assert output =~
             ~s(:#{setting_line}: ERROR:  42704: unrecognized configuration parameter "transaction_timeout")

    without_setting =
      TestDB.write_file!(lines |> List.delete_at(setting_line - 1) |> Enum.join("\n"))

    psql_database = TestDB.create!()
    loader_database = TestDB.create!()
    load_with_psql!(psql_database, without_setting)

    log = capture_log(fn -> load_with_structure_loader!(loader_database, path) end)

    assert log =~
             ~r/\[warning\]\s+#{Regex.escape(path)}:#{setting_line}: WARNING: skipped SET transaction_timeout/

    assert_same_databases(psql_database, loader_database)
    assert TestDB.sql!(loader_database, "SELECT count(*) FROM schema_migrations") == "41"
  end
end
