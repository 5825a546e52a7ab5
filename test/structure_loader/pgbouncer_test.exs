defmodule StructureLoader.PgBouncerTest do
  # Loading through PgBouncer in transaction pooling mode: the load, the
  # concurrent load-once and the time limit all work through it, and a load leaves no
  # session state on the pooled server connection for the next client.
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, TestDB, TestPorts}

  @moduletag :db
  @moduletag :pgbouncer

  @pgbouncer "/usr/sbin/pgbouncer"

  # pg_dump's preamble (15.x), which changes session settings, and a role switch as
  # `pg_dump --use-set-session-authorization` or a hand-written file may have.
  @dump """
  SET statement_timeout = 0;
  SET lock_timeout = 0;
  SET idle_in_transaction_session_timeout = 0;
  SET client_encoding = 'UTF8';
  SET standard_conforming_strings = on;
  SELECT pg_catalog.set_config('search_path', '', false);
  SET check_function_bodies = false;
  SET xmloption = content;
  SET client_min_messages = warning;
  SET row_security = off;
  SET default_tablespace = '';
  SET default_table_access_method = heap;

  SET ROLE ROLE_NAME;

  CREATE TABLE public.items (id integer);

  COPY public.items (id) FROM stdin;
  1
  2
  \\.
  """

  @settings_query """
  SELECT concat_ws(' | ', pg_backend_pid(), current_setting('search_path'),
    current_setting('check_function_bodies'), current_setting('client_min_messages'),
    current_setting('row_security'), current_user,
    (SELECT count(*) FROM pg_prepared_statements))
  """

  setup_all do
    unless File.exists?(@pgbouncer) do
      raise "#{@pgbouncer} is missing: install the Debian package pgbouncer (scripts/install-deps)"
    end

    role = "sl_bouncer_#{System.unique_integer([:positive])}"
    # Registered first, so it runs after the databases holding its objects are dropped.
    on_exit(fn -> TestDB.sql!("postgres", "DROP ROLE IF EXISTS #{role}") end)
    single = TestDB.create!()
    pooled = TestDB.create!()
    TestDB.sql!(single, "CREATE ROLE #{role}; GRANT CREATE ON SCHEMA public TO #{role}")

    port = start_pgbouncer!(%{single => 1, pooled => 4})
    {:ok, port: port, single: single, pooled: pooled, role: role}
  end

  # PgBouncer on a free port, forwarding each database to the test server with its own
  # pool size, in transaction pooling mode; stopped when the module's tests are done.
  defp start_pgbouncer!(pool_sizes) do
    dir = Path.join(System.tmp_dir!(), "sl-pgbouncer-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)

    databases =
      Enum.map_join(pool_sizes, "\n", fn {database, size} ->
        "#{database} = host=127.0.0.1 port=#{System.fetch_env!("PGPORT")} " <>
          "dbname=#{database} pool_size=#{size}"
      end)

    user = System.fetch_env!("PGUSER")

    File.write!(
      Path.join(dir, "userlist.txt"),
      ~s("#{user}" "#{System.fetch_env!("PGPASSWORD")}"\n)
    )

    {port, pid} = TestPorts.start_on_free_port(&start_pgbouncer_on(dir, databases, &1))

    on_exit(fn ->
      System.cmd("kill", [pid])
      File.rm_rf!(dir)
    end)

    port
  end

  # Starts the daemon on `port`: {:ok, pid} once it listens, :port_taken if it could not.
  defp start_pgbouncer_on(dir, databases, port) do
    log = Path.join(dir, "pgbouncer-#{port}.log")
    pid_file = Path.join(dir, "pgbouncer.pid")

    File.write!(Path.join(dir, "pgbouncer.ini"), """
    [databases]
    #{databases}

    [pgbouncer]
    listen_addr = 127.0.0.1
    listen_port = #{port}
    unix_socket_dir =
    auth_type = scram-sha-256
    auth_file = #{dir}/userlist.txt
    pool_mode = transaction
    default_pool_size = 1
    max_client_conn = 100
    logfile = #{log}
    pidfile = #{pid_file}
    """)

    # PgBouncer refuses to run as root.
    {command, args} =
      if System.cmd("id", ["-u"]) == {"0\n", 0} do
        {_, 0} = System.cmd("chown", ["-R", "postgres:", dir])
        {"runuser", ["-u", "postgres", "--", @pgbouncer, "-d", "#{dir}/pgbouncer.ini"]}
      else
        {@pgbouncer, ["-d", "#{dir}/pgbouncer.ini"]}
      end

    {output, status} = System.cmd(command, args, stderr_to_stdout: true)
    assert status == 0, "pgbouncer did not start: #{output}"
    await_listening(log, port, pid_file)
  end

  # What the daemon's log says of its listening socket.
  defp await_listening(log, port, pid_file, attempts \\ 200) do
    text = if File.exists?(log), do: File.read!(log), else: ""

    cond do
      text =~ "listening on 127.0.0.1:#{port}" and File.exists?(pid_file) ->
        {:ok, pid_file |> File.read!() |> String.trim()}

      text =~ "Address already in use" ->
        :port_taken

      attempts == 0 ->
        flunk("pgbouncer did not say it listens on port #{port}:\n#{text}")

      true ->
        Process.sleep(50)
        await_listening(log, port, pid_file, attempts - 1)
    end
  end

  defp through_bouncer(context, database, overrides) do
    TestDB.config(database, [hostname: "127.0.0.1", port: context.port] ++ overrides)
  end

  # psql through PgBouncer: a new client, given the pool's server connection.
  defp bouncer_sql!(context, database, sql) do
    {output, status} =
      System.cmd(
        "psql",
        ~w(-X -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p) ++
          ["#{context.port}", "-d", database, "-c", sql],
        stderr_to_stdout: true
      )

    assert status == 0, output
    String.trim_trailing(output, "\n")
  end

  test "a load leaves no session state on the pooled server connection", context do
    [pid | defaults] =
      context |> bouncer_sql!(context.single, @settings_query) |> String.split(" | ")

    assert defaults == [~s("$user", public), "on", "notice", "on", "postgres", "0"]

    path = TestDB.write_file!(String.replace(@dump, "ROLE_NAME", context.role))
    config = through_bouncer(context, context.single, dump_path: path, log: false)

    assert {:ok, %StructureLoader.Summary{status: :loaded, path: ^path}} =
             StructureLoader.load(config)

    # One server connection in the pool: the load ran on it, and the next client gets it.
    assert [^pid | after_load] =
             context |> bouncer_sql!(context.single, @settings_query) |> String.split(" | ")

    assert after_load == defaults

    assert TestDB.sql!(
             context.single,
             "SELECT tableowner || ' ' || (SELECT count(*) FROM public.items) " <>
               "FROM pg_tables WHERE tablename = 'items'"
           ) == "#{context.role} 2"
  end

  test "concurrent load-once through the pooler loads exactly once", context do
    path =
      TestDB.write_file!("""
      SELECT pg_catalog.set_config('search_path', '', false);
      CREATE TABLE public.schema_migrations (version bigint NOT NULL);
      SELECT pg_sleep(0.3);
      INSERT INTO public.schema_migrations (version) VALUES (20240101000000);
      """)

    config = through_bouncer(context, context.pooled, dump_path: path, log: false)

    results =
      1..6
      |> Enum.map(fn _ -> Task.async(fn -> StructureLoader.load(config) end) end)
      |> Task.await_many(30_000)

    assert results |> Enum.map(fn {:ok, summary} -> summary.status end) |> Enum.frequencies() ==
             %{loaded: 1, already_loaded: 5}

    assert TestDB.sql!(context.pooled, "SELECT count(*) FROM public.schema_migrations") == "1"

    for _ <- 1..4 do
      assert bouncer_sql!(context, context.pooled, "SHOW search_path") == ~s("$user", public)
    end
  end

  test "the time limit cancels through the pooler, which stays usable", context do
    path = TestDB.write_file!("CREATE TABLE public.a (id integer);\nSELECT pg_sleep(60);\n")
    # The default pool of one server connection.
    config = through_bouncer(context, context.single, dump_path: path, log: false)

    assert {:error, %Error{reason: :timeout, line: 2}} =
             StructureLoader.load(config, timeout: 500)

    refute StructureLoader.table_exists?(config, "a")
    assert bouncer_sql!(context, context.single, "SELECT 'usable'") == "usable"
  end
end
