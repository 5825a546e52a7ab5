defmodule StructureLoader.FidelityTest do
  # Every real dump of the corpus, loaded by Ecto's own Ecto.Adapters.Postgres.structure_load/2
  # (which runs psql, as `mix ecto.load` does) into one fresh database and by
  # StructureLoader.structure_load/2 into another: the results must be identical, and where
  # psql fails StructureLoader with `strict: true` fails on the same statement with the same
  # SQLSTATE (without it, a dump whose extensions the server lacks fails before anything is
  # sent, naming all of them).
  #
  # It runs against whatever server the PG* variables point at, PostgreSQL 13 to 18
  # (scripts/test runs it on each), and expects what psql 15 does on that server's major.
  # Databases are compared by TestDB.snapshot!/1: a catalog description on every major, and
  # pg_dump's output too where pg_dump can dump the server.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, TestDB}

  @moduletag :db
  @moduletag :fidelity
  @moduletag timeout: 600_000

  @corpus StructureLoader.Corpus.dir()
  @external_resource StructureLoader.Corpus.manifest()

  entries = StructureLoader.Corpus.entries()

  # Without a server the :db tests are excluded, and which of them exist does not matter.
  @server_major if StructureLoader.TestDB.server?(), do: TestDB.server_major!(), else: 15

  # Where psql 15 stops loading a corpus file, {line, SQLSTATE}, by server major; it loads
  # every other file on every major from 13 to 18. README.md's table says why.
  @psql_failures %{
    # uuidv7() is new in 18, where the missing pgvector extension stops it first.
    "pagila-schema.sql" => %{(13..17) => {284, "42883"}, (18..18) => {489, "0A000"}},
    # The pgsodium extension (servers before 15 word its absence differently).
    "supabase-schema-15.sql" => %{(13..14) => {58, "58P01"}, (15..18) => {58, "0A000"}},
    # pg_dump 18's `SET transaction_timeout`: the setting is new in 17.
    "philomena-pg18.sql" => %{(13..16) => {13, "42704"}}
  }

  # The extensions a corpus file creates that no server of the tests has: before sending
  # anything, StructureLoader names all of them, where psql fails on the first statement the
  # server refuses (`strict: true` does as psql does).
  @unavailable_extensions %{
    "pagila-schema.sql" => {489, ["vector"]},
    "supabase-schema-15.sql" => {58, ["pgsodium", "pg_graphql", "pgjwt", "supabase_vault"]}
  }

  psql_failure = fn file, major ->
    Enum.find_value(Map.get(@psql_failures, file, %{}), fn {majors, failure} ->
      if major in majors, do: failure
    end)
  end

  # pg_dump 18's output: `\restrict KEY` first, `\unrestrict KEY` last (psql 15.18 knows both
  # meta-commands, StructureLoader honours them on every server), and `SET
  # transaction_timeout`, which servers before 17 do not know. There psql fails, and
  # StructureLoader skips the setting with a warning: the one deliberate difference
  # (docs/psql-compatibility.md).
  @newer_pg_dump "philomena-pg18.sql"

  defp load_with_ecto!(database, path) do
    config = TestDB.config(database, dump_path: path)
    assert Ecto.Adapters.Postgres.structure_load("/unused", config) == {:ok, path}
  end

  # Returns what was logged.
  defp load_with_structure_loader!(database, path) do
    config = TestDB.config(database, dump_path: path, log: false)

    capture_log(fn ->
      assert StructureLoader.structure_load("/unused", config) == {:ok, path}
    end)
  end

  defp assert_same_databases(psql_database, loader_database) do
    TestDB.assert_same_snapshot!(
      TestDB.snapshot!(psql_database),
      TestDB.snapshot!(loader_database),
      "the psql load and the StructureLoader load"
    )
  end

  # The file's two meta-commands are its `\restrict` and `\unrestrict`.
  defp assert_restrict_meta_commands(path) do
    text = File.read!(path)
    assert text =~ ~r/^\\restrict \w+$/m and text =~ ~r/^\\unrestrict \w+$/m
    assert {:ok, %{meta_commands: 2}} = StructureLoader.check(path)
  end

  test "PostgreSQL #{@server_major} is one of the majors these expectations cover, 13 to 18" do
    assert @server_major in 13..18
  end

  # MANIFEST.tsv records where psql 15 failed on PostgreSQL 15 when the corpus was gathered,
  # as "line 284: ERROR: ...".
  manifest_failure_lines =
    for %{"file" => file, "first_error" => error} <- entries do
      case Regex.run(~r/^line (\d+):/, error) do
        [_, line] -> {file, String.to_integer(line)}
        nil -> {file, nil}
      end
    end

  expected_failure_lines =
    for %{"file" => file} <- entries do
      case psql_failure.(file, 15) do
        {line, _sqlstate} -> {file, line}
        nil -> {file, nil}
      end
    end

  test "the expectations for PostgreSQL 15 agree with MANIFEST.tsv" do
    assert unquote(expected_failure_lines) == unquote(manifest_failure_lines)
  end

  newer_pg_dump = @newer_pg_dump

  for %{"file" => file, "psql_pg15_result" => manifest_result} <- entries do
    prerequisite =
      case Regex.run(~r/after ([\w.-]+)/, manifest_result) do
        [_, name] -> Path.join(@corpus, name <> ".sql")
        nil -> nil
      end

    case {file, psql_failure.(file, @server_major)} do
      {file, nil} ->
        test "#{file} loads as psql loads it" do
          path = Path.join(@corpus, unquote(file))
          psql_database = TestDB.create!()
          loader_database = TestDB.create!()

          for file <- List.wrap(unquote(prerequisite)) ++ [path] do
            load_with_ecto!(psql_database, file)
            log = load_with_structure_loader!(loader_database, file)
            # This server knows every setting the file makes: nothing to skip. The log holds
            # what concurrent tests logged too; only this file's lines count.
            refute log =~ ~r/#{Regex.escape(file)}:\d+: WARNING: skipped SET/, log
          end

          assert_same_databases(psql_database, loader_database)

          # The comparison above must have compared data where the dump has some.
          if unquote(file) in ["neon-chinook.sql", "pagila-data.sql"] do
            rows = for {_relation, {count, _md5}} <- TestDB.contents!(loader_database), do: count
            assert Enum.sum(rows) > 10_000
          end

          if unquote(file) == @newer_pg_dump, do: assert_restrict_meta_commands(path)
        end

      {^newer_pg_dump, {line, sqlstate}} ->
        test "#{file}: loads, skipping SET transaction_timeout as psql would without it" do
          path = Path.join(@corpus, unquote(file))
          assert_restrict_meta_commands(path)
          lines = path |> File.read!() |> String.split("\n")
          setting_line = unquote(line)
          assert Enum.at(lines, setting_line - 1) == "SET transaction_timeout = 0;"

          # psql fails on that line, and on that line only.
          {output, status} = TestDB.psql_load(TestDB.create!(), path)
          assert status != 0

          assert output =~
                   ~s(:#{setting_line}: ERROR:  #{unquote(sqlstate)}: unrecognized configuration parameter "transaction_timeout")

          without_setting =
            TestDB.write_file!(lines |> List.delete_at(setting_line - 1) |> Enum.join("\n"))

          psql_database = TestDB.create!()
          loader_database = TestDB.create!()
          load_with_ecto!(psql_database, without_setting)
          log = load_with_structure_loader!(loader_database, path)

          assert log =~
                   ~r/\[warning\]\s+#{Regex.escape(path)}:#{setting_line}: WARNING: skipped SET transaction_timeout/

          assert_same_databases(psql_database, loader_database)
          assert TestDB.sql!(loader_database, "SELECT count(*) FROM schema_migrations") == "41"
        end

      {file, {line, sqlstate}} ->
        test "#{file} fails where psql fails (line #{line}, #{sqlstate}), leaving nothing" do
          path = Path.join(@corpus, unquote(file))
          psql_database = TestDB.create!()
          loader_database = TestDB.create!()
          empty = TestDB.snapshot!(loader_database)

          # Ecto's psql does not print SQLSTATEs; a verbose psql run gives it.
          {output, status} = TestDB.psql_load(TestDB.create!(), path)
          assert status != 0

          [_, psql_line, sqlstate, message] =
            Regex.run(~r/^psql:.*?:(\d+): ERROR:  ([0-9A-Z]{5}): (.*)$/m, output)

          psql_line = String.to_integer(psql_line)
          assert {psql_line, sqlstate} == {unquote(line), unquote(sqlstate)}

          config = TestDB.config(psql_database, dump_path: path)
          assert {:error, ecto_output} = Ecto.Adapters.Postgres.structure_load("/unused", config)
          assert ecto_output =~ "psql:#{path}:#{psql_line}: ERROR:  #{message}"

          assert {:error, %Error{reason: :database} = error} =
                   StructureLoader.structure_load(
                     "/unused",
                     TestDB.config(loader_database, dump_path: path),
                     strict: true
                   )

          assert {error.sqlstate, error.message} == {sqlstate, message}

          # psql names the line of the statement's terminating `;`: the failing statement
          # ends there and the error lies at or before it.
          terminating_line = path |> File.stream!() |> Enum.at(psql_line - 1)
          statement_end = error.statement |> String.split("\n") |> List.last() |> String.trim()
          assert String.contains?(terminating_line, statement_end)
          assert error.line <= psql_line

          assert Exception.message(error) =~
                   "#{path}:#{error.line}:#{error.column}: ERROR #{sqlstate}: #{message}"

          TestDB.assert_same_snapshot!(
            empty,
            TestDB.snapshot!(loader_database),
            "the database before and after"
          )
        end

        test "#{file}: every extension the server lacks is named before anything is sent" do
          path = Path.join(@corpus, unquote(file))
          database = TestDB.create!()
          empty = TestDB.snapshot!(database)
          {line, missing} = Map.fetch!(@unavailable_extensions, unquote(file))

          assert {:error, %Error{reason: :extensions, path: ^path, line: ^line} = error} =
                   StructureLoader.structure_load(
                     "/unused",
                     TestDB.config(database, dump_path: path)
                   )

          assert error.message ==
                   "the dump creates #{if length(missing) == 1, do: "an extension", else: "extensions"} " <>
                     "that role #{System.fetch_env!("PGUSER")} cannot create in database " <>
                     "#{database}: #{Enum.join(missing, ", ")}; nothing of the dump was sent"

          TestDB.assert_same_snapshot!(
            empty,
            TestDB.snapshot!(database),
            "the database before and after"
          )
        end
    end
  end
end
