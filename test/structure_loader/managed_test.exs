defmodule StructureLoader.ManagedTest do
  # Every real dump of the corpus loaded as on a managed server (RDS, Cloud SQL, Azure,
  # Neon, Supabase, ...): by the application's role, which is not a superuser and owns its
  # database, under two profiles:
  #
  #   * :precreated - an administrator (the superuser) created beforehand every extension
  #     the dump creates that the server has, in its schema when that schema exists;
  #   * :none - no extension created: the role creates what it may (trusted ones).
  #
  # Where the dump loads, the database is compared with a superuser's load of the same
  # dump: the catalog description, pg_dump --no-owner --no-acl --no-comments where pg_dump
  # can dump the server, and the data. Owners, privileges and comments are left out of the
  # comparison: the role owns everything, the filters leave grants out, and an extension's
  # comment is the one its files set. Where it does not load, it fails before anything is
  # sent, naming every extension an administrator must create.
  #
  # scripts/test runs it on every major from 13 to 18.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Error, TestDB}

  @moduletag :db
  @moduletag :managed
  @moduletag timeout: 600_000

  @corpus StructureLoader.Corpus.dir()
  @external_resource StructureLoader.Corpus.manifest()

  entries = StructureLoader.Corpus.entries()

  @role_password "sl-managed-pw-51d7"

  # What the role's load does under each profile: `{:loads, skipped}`, with the extensions
  # whose COMMENT ON EXTENSION is skipped (they existed before the load, created by the
  # superuser: plpgsql always), or `{:refused, line, extensions}`, the :extensions error's
  # first line and the extensions it names. The same on every major from 13 to 18: every
  # extension here is trusted on all of them but pg_stat_statements.
  @outcomes %{
    "catarse-2013.sql" => %{
      precreated: {:loads, ~w(plpgsql pg_trgm unaccent)},
      none: {:loads, ~w(plpgsql)}
    },
    "e-manifest.sql" => %{
      precreated: {:loads, ~w(plpgsql uuid-ossp)},
      none: {:loads, ~w(plpgsql)}
    },
    "feedbin.sql" => %{
      precreated: {:loads, ~w(hstore pg_stat_statements uuid-ossp)},
      none: {:refused, 31, ~w(pg_stat_statements)}
    },
    "hexpm.sql" => %{
      precreated: {:loads, ~w(citext fuzzystrmatch pg_trgm pgcrypto uuid-ossp)},
      none: {:loads, []}
    },
    "neon-chinook.sql" => %{precreated: {:loads, []}, none: {:loads, []}},
    "pagila-data.sql" => %{precreated: {:loads, []}, none: {:loads, []}},
    "pagila-schema-2024.sql" => %{precreated: {:loads, []}, none: {:loads, []}},
    # No server of the tests has pgvector.
    "pagila-schema.sql" => %{
      precreated: {:refused, 489, ~w(vector)},
      none: {:refused, 489, ~w(vector)}
    },
    "philomena-pg18.sql" => %{precreated: {:loads, ~w(citext)}, none: {:loads, []}},
    "sanbase2-pg96-2018.sql" => %{
      precreated: {:loads, ~w(plpgsql citext)},
      none: {:loads, ~w(plpgsql)}
    },
    # Four extensions no stock server has; pg_stat_statements goes in a schema the dump
    # creates, so no administrator could create it there beforehand.
    "supabase-schema-15.sql" => %{
      precreated: {:refused, 58, ~w(pgsodium pg_graphql pg_stat_statements pgjwt supabase_vault)},
      none: {:refused, 58, ~w(pgsodium pg_graphql pg_stat_statements pgjwt supabase_vault)}
    },
    "synapse-main-72.sql" => %{precreated: {:loads, []}, none: {:loads, []}}
  }

  # Only the superuser can take them away, within a transaction rolled back after the
  # description: privileges (left out by no_privileges, and the role's own grants differ
  # from the superuser's) and comments (an extension created beforehand keeps its files'
  # comment where the dump's may be older).
  @without_privileges_and_comments """
  UPDATE pg_catalog.pg_namespace SET nspacl = NULL WHERE nspacl IS NOT NULL;
  UPDATE pg_catalog.pg_class SET relacl = NULL WHERE relacl IS NOT NULL;
  UPDATE pg_catalog.pg_attribute SET attacl = NULL WHERE attacl IS NOT NULL;
  UPDATE pg_catalog.pg_proc SET proacl = NULL WHERE proacl IS NOT NULL;
  UPDATE pg_catalog.pg_type SET typacl = NULL WHERE typacl IS NOT NULL;
  DELETE FROM pg_catalog.pg_default_acl;
  DELETE FROM pg_catalog.pg_description
  """

  setup_all do
    role = "sl_app_#{System.pid()}_#{System.unique_integer([:positive])}"

    TestDB.sql!(
      "postgres",
      ~s(CREATE ROLE "#{role}" LOGIN NOSUPERUSER PASSWORD '#{@role_password}')
    )

    on_exit(fn -> TestDB.sql!("postgres", ~s(DROP ROLE IF EXISTS "#{role}")) end)
    %{role: role}
  end

  test "every corpus file has its outcomes here" do
    assert Enum.sort(Map.keys(@outcomes)) ==
             Enum.sort(unquote(Enum.map(entries, & &1["file"])))
  end

  # pg_dump writes this for the public schema when its owner is not initdb's: the
  # superuser's load gives it to postgres (pagila's ALTER SCHEMA public OWNER TO postgres),
  # which no_owner leaves out. It is all an owner leaves in a dump without owners.
  @public_schema_placeholder """
  --
  -- Name: public; Type: SCHEMA; Schema: -; Owner: -
  --

  -- *not* creating schema, since initdb creates it


  """

  defp snapshot!(database) do
    %{
      catalog: TestDB.catalog!(database, @without_privileges_and_comments),
      schema_dump:
        if TestDB.pg_dump_works?() do
          database
          |> TestDB.dump!(~w(--no-owner --no-acl --no-comments))
          |> String.replace(@public_schema_placeholder, "")
        end,
      contents: TestDB.contents!(database)
    }
  end

  # pg_restore's filters where the dump sets owners or privileges, as check/2 counts them.
  defp filters(path) do
    {:ok, %{left_out: left_out}} =
      StructureLoader.check(path, no_owner: true, no_privileges: true)

    if left_out.owner + left_out.privileges > 0,
      do: [no_owner: true, no_privileges: true],
      else: []
  end

  # What an administrator does first: each CREATE EXTENSION of the dumps whose extension the
  # server has and whose schema exists, run as the superuser.
  defp create_extensions_as_an_administrator!(database, paths) do
    available =
      database
      |> TestDB.sql!("SELECT name FROM pg_available_extensions")
      |> String.split("\n")

    schemas = database |> TestDB.sql!("SELECT nspname FROM pg_namespace") |> String.split("\n")

    statements =
      for path <- paths,
          [statement, name, schema] <-
            Regex.scan(
              ~r/^CREATE EXTENSION IF NOT EXISTS ("?)([\w-]+)\1 WITH SCHEMA (\w+);$/m,
              File.read!(path)
            )
            |> Enum.map(fn [statement, _quote, name, schema] -> [statement, name, schema] end),
          name in available and schema in schemas,
          do: statement

    if statements != [], do: TestDB.sql!(database, Enum.join(statements, "\n"))
  end

  defp load_as_role(database, role, path) do
    config = TestDB.config(database, username: role, password: @role_password, dump_path: path)

    with_log(fn -> StructureLoader.load(config, [log: false] ++ filters(path)) end)
  end

  defp comment_line(path, extension) do
    quoted = if extension =~ ~r/^[a-z_]+$/, do: extension, else: ~s("#{extension}")

    path
    |> File.stream!()
    |> Enum.find_index(&String.starts_with?(&1, "COMMENT ON EXTENSION #{quoted} IS "))
    |> Kernel.+(1)
  end

  # Loads the dumps at `paths` (a prerequisite first) as `role` into `database` under
  # `profile`, and checks the outcome; `reference` is the superuser's load.
  defp assert_outcome(profile, {:loads, skipped}, paths, database, role, reference) do
    if profile == :precreated, do: create_extensions_as_an_administrator!(database, paths)

    for path <- paths do
      {result, log} = load_as_role(database, role, path)
      assert {:ok, %{status: :loaded} = summary} = result, "#{profile}: #{inspect(result)}"
      {:ok, checked} = StructureLoader.check(path, filters(path))
      assert summary.left_out == checked.left_out
      assert summary.statements == checked.statements

      # Every statement left out is a warning at its line.
      left_out = Regex.scan(~r/#{Regex.escape(path)}:\d+: WARNING: left out \(/, log)
      assert length(left_out) == checked.left_out.owner + checked.left_out.privileges

      if path == List.last(paths) do
        assert summary.skipped_extension_comments == skipped, "#{profile}"

        for extension <- skipped do
          assert log =~
                   "#{path}:#{comment_line(path, extension)}: WARNING: skipped COMMENT ON EXTENSION "
        end
      end
    end

    TestDB.assert_same_snapshot!(
      reference,
      snapshot!(database),
      "a superuser's load and the role's load with extensions #{profile}"
    )
  end

  defp assert_outcome(profile, {:refused, line, extensions}, [path], database, role, _reference) do
    if profile == :precreated, do: create_extensions_as_an_administrator!(database, [path])
    before = snapshot!(database)

    {result, _log} = load_as_role(database, role, path)

    assert {:error, %Error{reason: :extensions, path: ^path, line: ^line} = error} = result,
           "#{profile}: #{inspect(result)}"

    assert error.message ==
             "the dump creates #{if length(extensions) == 1, do: "an extension", else: "extensions"} " <>
               "that role #{role} cannot create in database #{database}: " <>
               "#{Enum.join(extensions, ", ")}; nothing of the dump was sent"

    # One line of detail, and one statement to run, per extension.
    assert length(String.split(error.detail, "\n")) == length(extensions)

    for extension <- extensions do
      assert error.hint =~
               ~r/^    CREATE EXTENSION IF NOT EXISTS "?#{extension}"? WITH SCHEMA \w+;$/m
    end

    TestDB.assert_same_snapshot!(
      before,
      snapshot!(database),
      "the database before and after, with extensions #{profile}"
    )
  end

  describe_outcome = fn
    {:loads, _skipped} -> "loads as for a superuser"
    {:refused, _line, _extensions} -> "is refused before anything is sent, naming the extensions"
  end

  for %{"file" => file, "psql_pg15_result" => manifest_result} <- entries do
    prerequisite =
      case Regex.run(~r/after ([\w.-]+)/, manifest_result) do
        [_, name] -> name <> ".sql"
        nil -> nil
      end

    %{precreated: precreated, none: none} = Map.fetch!(@outcomes, file)

    test "#{file} as the application's role: with its extensions precreated, " <>
           "#{describe_outcome.(precreated)}; with none, #{describe_outcome.(none)}",
         %{role: role} do
      paths =
        Enum.map(List.wrap(unquote(prerequisite)) ++ [unquote(file)], &Path.join(@corpus, &1))

      outcomes = Map.fetch!(@outcomes, unquote(file))

      reference =
        if match?(%{precreated: {:loads, _}}, outcomes) or match?(%{none: {:loads, _}}, outcomes) do
          database = TestDB.create!()

          for path <- paths do
            config = TestDB.config(database, dump_path: path, log: false)
            capture_log(fn -> assert {:ok, %{status: :loaded}} = StructureLoader.load(config) end)
          end

          snapshot!(database)
        end

      for profile <- [:precreated, :none] do
        assert_outcome(profile, outcomes[profile], paths, TestDB.create!(role), role, reference)
      end
    end
  end

  test "pagila-schema-2024.sql without no_owner fails at its first owner change, saying what to do",
       %{role: role} do
    path = Path.join(@corpus, "pagila-schema-2024.sql")
    database = TestDB.create!(role)
    before = snapshot!(database)
    config = TestDB.config(database, username: role, password: @role_password, dump_path: path)

    # Before 15 the public schema belongs to postgres already, and giving it to its owner
    # is no change: the first owner change is then the next one.
    {line, statement} =
      if TestDB.server_major!() >= 15,
        do: {26, "ALTER SCHEMA public OWNER TO postgres;"},
        else: {35, ~s(ALTER DOMAIN public."bıgınt" OWNER TO postgres;)}

    assert {:error, %Error{reason: :database, sqlstate: "42501", line: ^line} = error} =
             StructureLoader.load(config, log: false)

    assert error.statement == statement

    assert error.hint ==
             "the load runs as role #{role}, which is not a superuser; giving an object to " <>
               "another role needs membership in that role; no_owner: true leaves out the " <>
               "dump's ALTER ... OWNER TO statements, so that the load's role owns everything"

    TestDB.assert_same_snapshot!(before, snapshot!(database), "the database before and after")
  end
end
