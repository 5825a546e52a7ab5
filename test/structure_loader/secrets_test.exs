defmodule StructureLoader.SecretsTest do
  # The password never shows in an error (message or inspect), a log line, a
  # forwarded notice or the inspect of a config, whatever path the call takes. A role with a
  # distinctive password goes through every way a call can fail, with Logger captured.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Config, Error, TestDB, TestPorts}

  @moduletag :db

  # Characters that URL encoding, quoting and escaping would each treat specially.
  @password "Sl-S3cr3t/p@ss:w%rd 'q\" \\x-7f4c"

  setup do
    database = TestDB.create!()
    role = "sl_secret_#{System.unique_integer([:positive])}"
    quoted = "'" <> String.replace(@password, "'", "''") <> "'"
    TestDB.sql!("postgres", "CREATE ROLE #{role} LOGIN PASSWORD #{quoted}")
    TestDB.sql!("postgres", ~s(ALTER DATABASE "#{database}" OWNER TO #{role}))

    on_exit(fn ->
      TestDB.sql!("postgres", ~s[DROP DATABASE IF EXISTS "#{database}" WITH (FORCE)])
      TestDB.sql!("postgres", "DROP ROLE IF EXISTS #{role}")
    end)

    config = TestDB.config(database, username: role, password: @password)
    {:ok, config: config, database: database, role: role}
  end

  defp refute_secret(text, what) do
    refute text =~ @password, "the password shows in #{what}: #{text}"
    # Parts of it, in case something quotes or escapes it.
    refute text =~ "S3cr3t", "part of the password shows in #{what}: #{text}"
  end

  defp refute_secret_in(%Error{} = error) do
    refute_secret(Exception.message(error), "the message")
    refute_secret(inspect(error), "inspect")
    refute_secret(inspect(error, structs: false), "inspect without structs")
    error
  end

  defp percent_encoded, do: URI.encode(@password, &URI.char_unreserved?/1)

  test "every failing call, and a successful one, with Logger captured", context do
    config = context.config
    good = TestDB.write_file!("CREATE TABLE public.t (id integer);\n")

    noisy =
      TestDB.write_file!("""
      SET transaction_timeout = 0;
      DO $$ BEGIN RAISE WARNING 'warned' USING DETAIL = 'd', HINT = 'h'; END $$;
      DO $$ BEGIN RAISE NOTICE 'noticed'; END $$;
      CREATE TABLE public.noisy (id integer);
      """)

    {:ok, silent} = :gen_tcp.listen(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, silent_port} = :inet.port(silent)
    url = "ecto://#{context.role}:#{percent_encoded()}@127.0.0.1:#{TestPorts.closed_port()}/db"

    failing_loads = [
      connect_refused: Keyword.put(config, :port, TestPorts.closed_port()),
      connect_timeout: Keyword.merge(config, port: silent_port, connect_timeout: 200),
      from_a_url: [url: url],
      from_a_url_query_parameter: [
        url:
          "ecto://#{context.role}@127.0.0.1:#{TestPorts.closed_port()}/db?password=#{percent_encoded()}"
      ],
      wrong_password_for_another_user: Keyword.put(config, :username, "postgres"),
      unknown_database: Keyword.put(config, :database, "sl_no_such_database"),
      tls_refused_by_the_server: Keyword.put(config, :ssl, true),
      missing_file: Keyword.put(config, :dump_path, "/nonexistent/structure.sql"),
      parse_error: Keyword.put(config, :dump_path, TestDB.write_file!("SELECT 'open;\n")),
      meta_command: Keyword.put(config, :dump_path, TestDB.write_file!("\\! true\n")),
      server_error:
        Keyword.put(config, :dump_path, TestDB.write_file!("CREATE TABLE public.t (id nope);\n")),
      strict_setting: {Keyword.put(config, :dump_path, noisy), strict: true}
    ]

    log =
      capture_log(fn ->
        for {what, load} <- failing_loads do
          {load_config, opts} = if is_tuple(load), do: load, else: {load, []}
          load_config = Keyword.put_new(load_config, :dump_path, good)

          assert {:error, %Error{} = error} =
                   StructureLoader.structure_load("/unused", load_config, opts),
                 "#{what} did not fail"

          refute_secret_in(error)
        end

        assert {:error, %Error{reason: :timeout} = error} =
                 StructureLoader.load(config,
                   dump_path: TestDB.write_file!("SELECT pg_sleep(10);\n"),
                   timeout: 200
                 )

        refute_secret_in(error)

        error =
          assert_raise Error, fn ->
            StructureLoader.table_exists?(
              Keyword.put(config, :port, TestPorts.closed_port()),
              "t"
            )
          end

        refute_secret_in(error)

        error =
          assert_raise Error, fn ->
            StructureLoader.load!(Keyword.put(config, :username, "postgres"), dump_path: good)
          end

        refute_secret_in(error)

        # Successes log a summary line and forward the server's notices and warnings.
        assert {:ok, _} =
                 StructureLoader.structure_load("/unused", Keyword.put(config, :dump_path, noisy))

        assert {:ok, %StructureLoader.Summary{status: :loaded}} =
                 StructureLoader.load(config, dump_path: good)

        exists = StructureLoader.table_exists?(config, "t")
        assert exists
      end)

    :gen_tcp.close(silent)
    assert log =~ "WARNING: warned"
    assert log =~ "NOTICE: noticed"
    assert log =~ "skipped SET transaction_timeout"
    assert log =~ "The structure has been loaded from #{good}"
    refute_secret(log, "the log")
  end

  test "argument errors never quote the password", context do
    for bad <- [
          Keyword.put(context.config, :port, "not-a-port"),
          Keyword.put(context.config, :ssl, password: @password),
          Keyword.put(context.config, :parameters, :not_a_list),
          [url: "mysql://u:#{percent_encoded()}@h/db"],
          [url: "ecto://u:#{percent_encoded()}@h/db?unknown=1"],
          # A password with an unescaped `?`: the rest of it would read as the query.
          [url: "ecto://u:pa?S3cr3t-tail@h/db"],
          # Bad values of libpq's parameters, next to or in place of the password.
          [url: "postgresql://u@h/db?password=#{percent_encoded()}&sslmode=sometimes"],
          [url: "postgresql://u@h/db?password=#{percent_encoded()}&port=x"],
          [url: "postgresql://u@h/db?sslmode=#{percent_encoded()}"]
        ] do
      error = assert_raise ArgumentError, fn -> Config.new(bad) end

      refute_secret(
        Exception.message(error),
        "the ArgumentError for #{inspect(Keyword.keys(bad))}"
      )
    end
  end

  test "inspecting the resolved configuration hides the password", context do
    url = "ecto://u:#{percent_encoded()}@db.internal/app"

    for given <- [context.config, [url: url]] do
      assert {:ok, config} = Config.new(given)
      assert config.password == @password
      refute_secret(inspect(config), "inspect of the config")
    end
  end

  test "table_exists? sends the names as query parameters, never inside the SQL", context do
    TestDB.sql!(
      context.database,
      "CREATE TABLE public.plain (id integer); GRANT SELECT ON public.plain TO #{context.role}"
    )

    # Results are bound before asserting: a failed assertion on the call itself would
    # print its arguments, the password among them.
    exists? = fn name, opts -> StructureLoader.table_exists?(context.config, name, opts) end

    # Quotes and SQL in a name are just characters of a name that does not exist.
    for hostile <- [
          "plain' OR '1'='1",
          ~s("plain""; DROP TABLE public.plain; --"),
          "pl%",
          "pl_in"
        ] do
      found = exists?.(hostile, [])
      refute found, "found #{hostile}"
    end

    found = exists?.("plain", [])
    assert found
    found = exists?.("plain", prefix: "public' OR 'x'='x")
    refute found
    assert TestDB.sql!(context.database, "SELECT count(*) FROM public.plain") == "0"
  end
end
