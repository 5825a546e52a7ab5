# The tests tagged :db need a PostgreSQL server, named by the PG* variables, and psql and
# pg_dump to compare with (scripts/test provides all of them); the others run anywhere.
# Besides, :fidelity, :managed and :release tag the suites scripts/test runs on other server
# majors (the first two on every one, the release suite on the oldest and newest),
# :example_app the Mix tasks run in the example app, and :package the build of the Hex
# package's files alone (it needs cargo).
server_variables = ~w(PGHOST PGPORT PGUSER PGPASSWORD)

missing =
  Enum.reject(server_variables ++ ["psql", "pg_dump"], fn name ->
    if name in server_variables, do: System.get_env(name), else: System.find_executable(name)
  end)

excluded =
  if missing == [] do
    []
  else
    IO.puts("""
    Leaving out the tests tagged :db: no #{Enum.join(missing, ", ")}. Start a throwaway
    PostgreSQL with `eval "$(scripts/pg start /tmp/sl-pg 25429)"`, or run scripts/test.
    """)

    [:db]
  end

defmodule StructureLoader.TestDB do
  @moduledoc """
  Scratch databases on the test server, and psql/pg_dump as the reference to compare with.
  """

  import ExUnit.Callbacks, only: [on_exit: 1]

  @doc "Whether the PG* variables name a server to test against."
  def server?, do: Enum.all?(~w(PGHOST PGPORT PGUSER PGPASSWORD), &System.get_env/1)

  @doc """
  Creates a uniquely named empty database, dropped when the test exits; owned by `owner`
  when given (a role, as a managed service gives an application its database).
  """
  def create!(owner \\ nil) do
    name = "sl_ex_#{System.pid()}_#{System.unique_integer([:positive])}"
    owned_by = if owner, do: ~s( OWNER "#{owner}"), else: ""
    sql!("postgres", ~s(CREATE DATABASE "#{name}"#{owned_by}))
    on_exit(fn -> sql!("postgres", ~s[DROP DATABASE IF EXISTS "#{name}" WITH (FORCE)]) end)
    name
  end

  @doc "Connection settings (a keyword list, as an Ecto repo's config) for `database`."
  def config(database, overrides \\ []) do
    Keyword.merge(
      [
        hostname: System.fetch_env!("PGHOST"),
        port: String.to_integer(System.fetch_env!("PGPORT")),
        username: System.fetch_env!("PGUSER"),
        password: System.fetch_env!("PGPASSWORD"),
        database: database
      ],
      overrides
    )
  end

  @doc """
  A `postgres://` URL for `database` on the test server, as an app's DATABASE_URL gives it:
  the only way the example app is told where to connect.
  """
  def url(database) do
    host = System.fetch_env!("PGHOST")

    if String.starts_with?(host, "/") do
      raise "PGHOST must be a TCP host for DATABASE_URL, not the socket directory #{host}"
    end

    host = if String.contains?(host, ":"), do: "[#{host}]", else: host
    user = encode_userinfo(System.fetch_env!("PGUSER"))
    password = encode_userinfo(System.fetch_env!("PGPASSWORD"))
    "postgres://#{user}:#{password}@#{host}:#{System.fetch_env!("PGPORT")}/#{database}"
  end

  defp encode_userinfo(part), do: URI.encode(part, &URI.char_unreserved?/1)

  @doc "Runs SQL with psql and returns its unaligned, tuples-only output; raises on failure."
  def sql!(database, sql) do
    case System.cmd(
           "psql",
           ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
           stderr_to_stdout: true
         ) do
      {output, 0} ->
        String.trim_trailing(output, "\n")

      {output, status} ->
        raise "psql exited with #{status} running #{String.slice(sql, 0, 300)}:\n#{output}"
    end
  end

  @doc """
  Loads `path` the way Ecto's `mix ecto.load` does, with VERBOSITY=verbose so that errors
  carry their SQLSTATE. Returns `{output, exit_status}`.
  """
  def psql_load(database, path) do
    System.cmd(
      "psql",
      ~w(-X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose --single-transaction -d) ++
        [database, "-f", path],
      stderr_to_stdout: true
    )
  end

  @doc """
  pg_dump's output for `database` (`args` such as `--schema-only`), without the lines that
  differ between any two dumps: `\\restrict`/`\\unrestrict` keys and the version header.
  """
  def dump!(database, args \\ []) do
    case System.cmd("pg_dump", args ++ ["-d", database], stderr_to_stdout: true) do
      {output, 0} ->
        output
        |> String.split("\n")
        |> Enum.reject(&Regex.match?(~r/^(\\restrict |\\unrestrict |-- Dumped (from|by) )/, &1))
        |> Enum.join("\n")

      {output, status} ->
        raise "pg_dump exited with #{status}:\n#{output}"
    end
  end

  @doc """
  Row count and an md5 over the sorted rows of every table, and the state of every
  sequence, outside the system schemas, keyed by qualified name.
  """
  def contents!(database) do
    relations =
      database
      |> sql!("""
      SELECT format('%I.%I', n.nspname, c.relname), c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'S')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%'
      ORDER BY 1
      """)
      |> String.split("\n", trim: true)
      |> Enum.map(&String.split(&1, "|"))

    if relations == [] do
      %{}
    else
      query =
        Enum.map_join(relations, "\nUNION ALL\n", fn
          [relation, "r"] ->
            "SELECT #{quote_literal(relation)}, count(*), " <>
              "md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM #{relation} r"

          [sequence, "S"] ->
            "SELECT #{quote_literal(sequence)}, 1, md5(last_value || ' ' || is_called) FROM #{sequence}"
        end)

      database
      |> sql!(query)
      |> String.split("\n", trim: true)
      |> Map.new(fn row ->
        [relation, count, md5] = String.split(row, "|")
        {relation, {String.to_integer(count), md5}}
      end)
    end
  end

  @doc "Writes `contents` to a new file in a scratch directory and returns its path."
  def write_file!(contents, name \\ "structure.sql") do
    dir =
      Path.join(System.tmp_dir!(), "sl_ex_#{System.pid()}_#{System.unique_integer([:positive])}")

    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    path = Path.join(dir, name)
    File.write!(path, contents)
    path
  end

  @doc "Asserts that `database`'s schema is still `before`, a `dump!/1` taken earlier."
  def assert_unchanged!(before, database) do
    assert_same_text!(before, dump!(database), "the database before and after")
  end

  @doc "Asserts equality of two large texts, showing a diff rather than both texts."
  def assert_same_text!(expected, actual, what) do
    unless expected == actual do
      expected_file = write_file!(expected, "expected")
      actual_file = write_file!(actual, "actual")
      {diff, _} = System.cmd("diff", ["-u", expected_file, actual_file])
      ExUnit.Assertions.flunk("#{what} differ:\n#{String.slice(diff, 0, 4000)}")
    end
  end

  @doc "The test server's major version, e.g. `15` (from `server_version_num`)."
  def server_major! do
    key = {__MODULE__, :server_major, System.get_env("PGHOST"), System.get_env("PGPORT")}

    with nil <- :persistent_term.get(key, nil) do
      major = "postgres" |> sql!("SHOW server_version_num") |> String.to_integer() |> div(10_000)
      :persistent_term.put(key, major)
      major
    end
  end

  @doc "Whether pg_dump on PATH can dump the test server: it refuses servers newer than itself."
  def pg_dump_works? do
    {version, 0} = System.cmd("pg_dump", ["--version"])
    [_, major] = Regex.run(~r/\(PostgreSQL\) (\d+)/, version)
    server_major!() <= String.to_integer(major)
  end

  @catalog_sql Path.expand("support/catalog.sql", __DIR__)

  @doc """
  The description of `database`'s schema by test/support/catalog.sql: sorted, naming objects
  rather than OIDs, and read on any server major. `before` is SQL run first in the same
  transaction, which is rolled back afterwards.
  """
  def catalog!(database, before \\ nil) do
    describe = ["-f", @catalog_sql]

    commands =
      if before,
        do: ["-c", "BEGIN", "-c", before] ++ describe ++ ["-c", "ROLLBACK"],
        else: describe

    case System.cmd("psql", ~w(-X -q -A -t -v ON_ERROR_STOP=1 -d) ++ [database] ++ commands,
           stderr_to_stdout: true
         ) do
      {output, 0} -> output
      {output, status} -> raise "psql exited with #{status} describing #{database}:\n#{output}"
    end
  end

  @doc """
  What a load leaves in `database`, to compare with `assert_same_snapshot!/3`: the catalog
  description, pg_dump --schema-only where pg_dump can dump the server (else nil), and
  `contents!/1`.
  """
  def snapshot!(database) do
    %{
      catalog: catalog!(database),
      schema_dump: if(pg_dump_works?(), do: dump!(database, ["--schema-only"])),
      contents: contents!(database)
    }
  end

  @doc "Asserts that two `snapshot!/1`s are the same, `what` naming the two databases."
  def assert_same_snapshot!(expected, actual, what) do
    assert_same_text!(expected.catalog, actual.catalog, "catalog descriptions of #{what}")

    assert_same_text!(
      expected.schema_dump || "",
      actual.schema_dump || "",
      "pg_dump --schema-only of #{what}"
    )

    differences =
      for relation <- Enum.uniq(Map.keys(expected.contents) ++ Map.keys(actual.contents)),
          expected.contents[relation] != actual.contents[relation],
          do: {relation, expected.contents[relation], actual.contents[relation]}

    differences == [] ||
      ExUnit.Assertions.flunk(
        "the data of #{what} differ ({relation, {rows, md5} expected, actual}):\n" <>
          inspect(differences, pretty: true)
      )
  end

  defp quote_literal(text), do: "'" <> String.replace(text, "'", "''") <> "'"
end

ExUnit.start(capture_log: true, exclude: excluded)
