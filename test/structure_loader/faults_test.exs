defmodule StructureLoader.FaultsTest do
  # Whatever happens during a load through the public API (time limit, the caller killed,
  # the server stopped, the network cut or gone silent), the result is a clear error,
  # nothing of the file stays in the database, no server work is left behind, the VM keeps
  # running and the next load succeeds. (A terminated backend, a cancel handle and the
  # executor's own time-limit paths are tested by the Rust crate's db_errors and db_cancel.)
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, TestDB, TestPorts}

  @moduletag :db

  defmodule Proxy do
    # A TCP proxy on 127.0.0.1 in front of the test server, which fails the way networks
    # and servers do once its trigger fires:
    #
    #   * trigger `{:bytes, n}`: more than `n` bytes in all went from client to server (the
    #     data that crosses the line is not forwarded); `{:message, bytes}`: the client
    #     sent `bytes` (forwarded to the server)
    #   * action `:cut`: every connection is closed, both sides; `:silent`: nothing more
    #     is forwarded either way, sockets stay open, new connections are ignored; `:hold`:
    #     nothing more reaches the server, while what the server sends still reaches the
    #     client; `:lose_answer`: the server's answers are dropped and the client's
    #     connection closed, the server's kept open
    #
    # Whatever the action, a server that closes its connection closes the client's.
    @moduledoc false

    def start!(upstream_port, trigger, action)
        when action in [:cut, :silent, :hold, :lose_answer] do
      {:ok, listen} =
        :gen_tcp.listen(0, [:binary, active: false, ip: {127, 0, 0, 1}, reuseaddr: true])

      {:ok, port} = :inet.port(listen)
      # [bytes forwarded to the server, 1 once tripped]
      state = :atomics.new(2, [])
      proxy = %{upstream: upstream_port, trigger: trigger, action: action, state: state}
      acceptor = spawn(fn -> accept(listen, proxy) end)
      :ok = :gen_tcp.controlling_process(listen, acceptor)
      ExUnit.Callbacks.on_exit(fn -> stop(acceptor) end)
      %{port: port, acceptor: acceptor, state: state}
    end

    # Closes every socket: they all belong to the acceptor, and the pumps are linked to it.
    def stop(%{acceptor: acceptor}), do: stop(acceptor)
    def stop(acceptor) when is_pid(acceptor), do: Process.exit(acceptor, :kill)

    def forwarded(%{state: state}), do: :atomics.get(state, 1)

    defp accept(listen, proxy) do
      {:ok, client} = :gen_tcp.accept(listen)

      unless tripped?(proxy) do
        {:ok, server} = :gen_tcp.connect({127, 0, 0, 1}, proxy.upstream, [:binary, active: false])
        spawn_link(fn -> to_server(client, server, proxy) end)
        spawn_link(fn -> to_client(server, client, proxy) end)
      end

      accept(listen, proxy)
    end

    defp to_server(client, server, proxy) do
      case :gen_tcp.recv(client, 0) do
        {:ok, data} ->
          total = :atomics.add_get(proxy.state, 1, byte_size(data))

          case proxy.trigger do
            {:bytes, limit} when total > limit ->
              trip(proxy)
              after_trip(client, server, proxy)

            {:message, bytes} ->
              if :binary.match(data, bytes) != :nomatch, do: trip(proxy)
              forward_to_server(client, server, data, proxy)

            _ ->
              forward_to_server(client, server, data, proxy)
          end

        {:error, _} ->
          :gen_tcp.close(server)
      end
    end

    defp forward_to_server(client, server, data, proxy) do
      :ok = :gen_tcp.send(server, data)

      if tripped?(proxy),
        do: after_trip(client, server, proxy),
        else: to_server(client, server, proxy)
    end

    defp after_trip(client, server, %{action: :cut}) do
      :gen_tcp.close(client)
      :gen_tcp.close(server)
    end

    defp after_trip(_client, _server, _proxy), do: Process.sleep(:infinity)

    defp to_client(server, client, proxy) do
      case :gen_tcp.recv(server, 0) do
        {:ok, data} ->
          case {tripped?(proxy), proxy.action} do
            {true, :silent} ->
              Process.sleep(:infinity)

            {true, :lose_answer} ->
              :gen_tcp.close(client)
              drain(server)

            _ ->
              _ = :gen_tcp.send(client, data)
              to_client(server, client, proxy)
          end

        {:error, _} ->
          :gen_tcp.close(client)
      end
    end

    defp drain(socket) do
      with {:ok, _} <- :gen_tcp.recv(socket, 0), do: drain(socket)
    end

    defp trip(proxy), do: :atomics.put(proxy.state, 2, 1)
    defp tripped?(proxy), do: :atomics.get(proxy.state, 2) == 1
  end

  setup do
    database = TestDB.create!()
    {:ok, database: database, config: TestDB.config(database), empty: TestDB.dump!(database)}
  end

  # A load the tests can find on the server by its application_name.
  defp tagged(config) do
    name = "sl-fault-#{System.unique_integer([:positive])}"
    {Keyword.put(config, :parameters, application_name: name), name}
  end

  defp loader_backends(name) do
    TestDB.sql!(
      "postgres",
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = '#{name}'"
    )
  end

  defp wait_until(what, fun, timeout \\ 10_000) do
    deadline = System.monotonic_time(:millisecond) + timeout

    Stream.repeatedly(fn ->
      fun.() || (System.monotonic_time(:millisecond) < deadline && Process.sleep(20)) ||
        flunk("timed out waiting until #{what}")
    end)
    |> Enum.find(&(&1 == true))
  end

  # Whether the load's backend is inside pg_sleep (not merely running the message that
  # holds it: the statements before it may still be running).
  defp sleeping?(name) do
    TestDB.sql!(
      "postgres",
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = '#{name}' " <>
        "AND wait_event = 'PgSleep'"
    ) == "1"
  end

  defp assert_next_load_succeeds(context) do
    path = TestDB.write_file!("CREATE TABLE public.next_one (id integer);\n")

    config = Keyword.merge(context.config, dump_path: path, log: false)
    assert StructureLoader.structure_load("/unused", config) == {:ok, path}

    assert TestDB.sql!(context.database, "SELECT count(*) FROM public.next_one") == "0"
  end

  # A dump with 5 MB of COPY data (200,000 rows), more than any socket buffer holds.
  defp copy_dump! do
    rows = Enum.map_join(1..200_000, "", &"#{&1}\t#{String.duplicate("x", 20)}\n")

    TestDB.write_file!("""
    CREATE TABLE public.items (id integer, name text);
    COPY public.items (id, name) FROM stdin;
    #{rows}\\.
    CREATE INDEX ON public.items (name);
    """)
  end

  defp elapsed_ms(started), do: System.monotonic_time(:millisecond) - started

  # Each row of the README's table "When something goes wrong", in its words.
  describe "the failure table in the README:" do
    test "a statement fails", context do
      path =
        TestDB.write_file!("""
        CREATE TABLE public.a (id integer);
        CREATE TABLE public.b (id integr);
        """)

      assert {:error, %Error{reason: :database, sqlstate: "42704", line: 2, column: 27} = error} =
               StructureLoader.load(context.config, dump_path: path, log: false)

      assert Exception.message(error) =~
               ~s(#{path}:2:27: ERROR 42704: type "integr" does not exist)

      TestDB.assert_unchanged!(context.empty, context.database)
      assert_next_load_succeeds(context)
    end

    test "the :timeout expires", context do
      {config, name} = tagged(context.config)

      path =
        TestDB.write_file!("""
        CREATE TABLE public.a (id integer);
        SELECT pg_sleep(60);
        CREATE TABLE public.b (id integer);
        """)

      started = System.monotonic_time(:millisecond)

      assert {:error, %Error{reason: :timeout, path: ^path, line: 2} = error} =
               StructureLoader.load(config, dump_path: path, timeout: 500, log: false)

      assert elapsed_ms(started) >= 500

      # Not "... did not confirm the cancel, so the connection was dropped": the server
      # cancelled pg_sleep(60) when asked.
      assert Exception.message(error) == """
             #{path}:2:1: timed out: the load did not finish within its time limit of 500 ms, \
             so it was stopped and rolled back
               | SELECT pg_sleep(60);\
             """

      # The backend is gone, not still sleeping with the transaction open.
      wait_until("the loader's backend is gone", fn -> loader_backends(name) == "0" end)
      TestDB.assert_unchanged!(context.empty, context.database)
      assert_next_load_succeeds(context)
    end

    test "the caller exits or is killed", context do
      TestDB.sql!(context.database, "CREATE TABLE public.victim (id integer)")
      context = Map.put(context, :empty, TestDB.dump!(context.database))
      {config, name} = tagged(Keyword.put(context.config, :log, false))

      path =
        TestDB.write_file!("""
        ALTER TABLE public.victim ADD COLUMN added integer;
        SELECT pg_sleep(60);
        """)

      test_pid = self()

      caller =
        spawn(fn ->
          send(test_pid, {:started, self()})
          send(test_pid, {:returned, StructureLoader.load(config, dump_path: path)})
        end)

      assert_receive {:started, ^caller}
      wait_until("the load sleeps", fn -> sleeping?(name) end)

      locked = fn ->
        TestDB.sql!(
          "postgres",
          "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid " <>
            "WHERE a.application_name = '#{name}' AND l.mode = 'AccessExclusiveLock'"
        )
      end

      assert locked.() != "0"
      Process.exit(caller, :kill)

      # pg_sleep(60) does not end by itself in the time a test waits: the load was cancelled.
      wait_until("the loader's backend is gone", fn -> loader_backends(name) == "0" end)
      assert locked.() == "0"

      # Another session gets the table at once.
      assert TestDB.sql!(
               context.database,
               "SET lock_timeout = '1s'; LOCK TABLE public.victim; SELECT 'free'"
             ) =~ ~r/\bfree$/

      refute_received {:returned, _}
      TestDB.assert_unchanged!(context.empty, context.database)
      assert_next_load_succeeds(context)
    end

    test "the backend is terminated (pg_terminate_backend), even while COPY data is on its way",
         context do
      path = copy_dump!()
      # The network holds the COPY data back; meanwhile the backend waits for it.
      proxy = Proxy.start!(context.config[:port], {:bytes, 1_000_000}, :hold)
      {config, name} = tagged(Keyword.merge(context.config, port: proxy.port, log: false))
      loading = Task.async(fn -> StructureLoader.load(config, dump_path: path) end)

      wait_until("the backend waits for COPY data", fn ->
        TestDB.sql!(
          "postgres",
          "SELECT count(*) FROM pg_stat_activity WHERE application_name = '#{name}' " <>
            "AND query LIKE 'COPY %' AND wait_event = 'ClientRead'"
        ) == "1"
      end)

      TestDB.sql!(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '#{name}'"
      )

      # Located at the COPY data line the server was reading.
      assert {:error, %Error{reason: :database, sqlstate: "57P01", severity: "FATAL"} = error} =
               Task.await(loading, 10_000)

      assert error.line > 2
      assert error.statement == "COPY public.items (id, name) FROM stdin;"
      TestDB.assert_unchanged!(context.empty, context.database)
      assert_next_load_succeeds(context)
    end

    test "the connection is cut (reset, proxy closed)", context do
      path = copy_dump!()

      proxy = Proxy.start!(context.config[:port], {:bytes, 1_000_000}, :cut)
      {config, name} = tagged(Keyword.merge(context.config, port: proxy.port, log: false))

      assert {:error, %Error{reason: :connect, path: ^path, line: 2} = error} =
               StructureLoader.load(config, dump_path: path)

      assert Proxy.forwarded(proxy) > 1_000_000
      assert error.statement == "COPY public.items (id, name) FROM stdin;"
      assert Exception.message(error) =~ ~r/^#{Regex.escape(path)}:2:1: .*connection/

      wait_until("the loader's backend is gone", fn -> loader_backends(name) == "0" end)
      TestDB.assert_unchanged!(context.empty, context.database)
      assert_next_load_succeeds(context)
    end

    test "the network goes silent (no reset)", context do
      path = copy_dump!()

      proxy = Proxy.start!(context.config[:port], {:bytes, 1_000_000}, :silent)
      {config, name} = tagged(Keyword.merge(context.config, port: proxy.port, log: false))

      assert {:error, %Error{reason: :timeout, line: 2} = error} =
               StructureLoader.load(config, dump_path: path, timeout: 1_000)

      # The load did not wait for the network: it gave up on the cancel after its grace.
      assert error.message =~ "did not confirm the cancel"
      assert error.statement == "COPY public.items (id, name) FROM stdin;"

      # The server waits for COPY data until the connection really goes away.
      Proxy.stop(proxy)
      wait_until("the loader's backend is gone", fn -> loader_backends(name) == "0" end)
      TestDB.assert_unchanged!(context.empty, context.database)
      assert_next_load_succeeds(context)
    end

    test "the connection is lost after COMMIT was sent", context do
      path = TestDB.write_file!("CREATE TABLE public.a (id integer);\n")
      # The server gets COMMIT; its answer never reaches the loader.
      proxy = Proxy.start!(context.config[:port], {:message, "COMMIT\0"}, :lose_answer)
      config = Keyword.merge(context.config, port: proxy.port, log: false)

      assert {:error, %Error{reason: :commit_unknown, path: ^path} = error} =
               StructureLoader.load(config, dump_path: path)

      assert error.message =~
               ~r/^connection to the server lost: .*, after COMMIT was sent and before its answer came: whether the load was committed is unknown/

      refute error.message =~ "rolled back"

      # It was committed, and a load-once retry says so.
      wait_until("the load is committed", fn ->
        StructureLoader.table_exists?(context.config, "a")
      end)

      assert {:ok, %StructureLoader.Summary{status: :already_loaded}} =
               StructureLoader.load(context.config,
                 dump_path: path,
                 migration_source: "a",
                 log: false
               )
    end

    test "the :timeout expires after COMMIT was sent, and no answer comes", context do
      path = TestDB.write_file!("CREATE TABLE public.a (id integer);\n")
      proxy = Proxy.start!(context.config[:port], {:message, "COMMIT\0"}, :silent)
      config = Keyword.merge(context.config, port: proxy.port, log: false)

      assert {:error, %Error{reason: :commit_unknown, path: ^path} = error} =
               StructureLoader.load(config, dump_path: path, timeout: 1_000)

      assert error.message ==
               "the time limit of 1000 ms expired after COMMIT was sent, and the server did " <>
                 "not answer it within 3 s: whether the load was committed is unknown; look " <>
                 "before loading again (a load-once retry loads only if the migrations table " <>
                 "is absent)"

      wait_until("the load is committed", fn ->
        StructureLoader.table_exists?(context.config, "a")
      end)
    end
  end

  describe ":timeout" do
    test "bounds the wait for another load's advisory lock", context do
      path =
        TestDB.write_file!("""
        CREATE TABLE public.schema_migrations (version bigint);
        SELECT pg_sleep(2);
        """)

      config = Keyword.merge(context.config, dump_path: path, log: false)
      first = Task.async(fn -> StructureLoader.load(config) end)
      {_, name} = tagged([])

      wait_until("the first load sleeps", fn ->
        TestDB.sql!(
          "postgres",
          "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' " <>
            "AND datname = '#{context.database}'"
        ) == "1"
      end)

      second_config = Keyword.put(config, :parameters, application_name: name)

      assert {:error, %Error{reason: :timeout} = error} =
               StructureLoader.load(second_config, timeout: 300)

      assert error.message =~ "time limit of 300 ms"
      assert error.message =~ "waiting for the advisory lock"

      assert {:ok, %StructureLoader.Summary{status: :loaded, path: ^path}} =
               Task.await(first, 10_000)
    end

    test "must be :infinity or a positive integer", context do
      path = TestDB.write_file!("SELECT 1;\n")

      for bad <- [0, -5, 1.5, :forever] do
        assert_raise ArgumentError, ~r/:timeout/, fn ->
          StructureLoader.load(context.config, dump_path: path, timeout: bad)
        end
      end
    end

    test "an Ecto repo's own :timeout is not a limit for the load", context do
      path = TestDB.write_file!("SELECT pg_sleep(0.3);\nCREATE TABLE public.t (i integer);\n")
      config = Keyword.merge(context.config, timeout: 50, log: false)

      assert {:ok, %StructureLoader.Summary{status: :loaded}} =
               StructureLoader.load(config, dump_path: path)

      assert {:ok, ^path} =
               StructureLoader.structure_load(
                 "/unused",
                 Keyword.put(TestDB.config(TestDB.create!(), timeout: 50), :dump_path, path)
               )
    end
  end

  describe "the caller exiting" do
    test "a load whose caller is already gone loads nothing", context do
      path = TestDB.write_file!("CREATE TABLE public.never (id integer);\n")

      native =
        StructureLoader.Config.to_native(elem(StructureLoader.Config.new(context.config), 1))

      gone = spawn(fn -> :ok end)
      ref = Process.monitor(gone)
      assert_receive {:DOWN, ^ref, :process, ^gone, _}

      assert {:error, %{reason: :cancelled, message: message}} =
               StructureLoader.Native.structure_load(
                 path,
                 native,
                 %{
                   strict: false,
                   no_owner: false,
                   no_privileges: false,
                   no_comments: false,
                   if_absent: nil,
                   timeout_ms: nil
                 },
                 gone
               )

      assert message =~ "cancelled"
      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end

  describe "the failure table in the README, with a server of its own:" do
    @describetag timeout: 120_000

    setup do
      dir = Path.join(System.tmp_dir!(), "sl-own-pg-#{System.unique_integer([:positive])}")
      pg = Path.expand("../../scripts/pg", __DIR__)

      start_on = fn port ->
        {output, status} = System.cmd(pg, ["start", dir, "#{port}"], stderr_to_stdout: true)

        cond do
          status == 0 -> {:ok, port}
          output =~ "Address already in use" -> :port_taken
          true -> flunk(output)
        end
      end

      {port, _} = TestPorts.start_on_free_port(start_on)
      start = fn -> assert {:ok, ^port} = start_on.(port) end

      on_exit(fn ->
        System.cmd(pg, ["stop", dir], stderr_to_stdout: true)
        File.rm_rf!(dir)
      end)

      # scripts/pg gives every server it starts the same password.
      config = TestDB.config("postgres", port: port, log: false)
      {:ok, own: %{dir: dir, port: port, config: config, start: start}}
    end

    test "the server stops or crashes (pg_ctl stop -m immediate)", %{own: own} do
      {config, name} = tagged(own.config)

      path =
        TestDB.write_file!("""
        CREATE TABLE public.a (id integer);
        SELECT pg_sleep(60);
        """)

      loading = Task.async(fn -> StructureLoader.load(config, dump_path: path) end)

      wait_until("the load sleeps", fn ->
        own_sql!(
          own.port,
          "SELECT count(*) FROM pg_stat_activity WHERE application_name = '#{name}' " <>
            "AND wait_event = 'PgSleep'"
        ) == "1"
      end)

      pg_ctl!(own.dir, ["-m", "immediate", "stop"])

      assert {:error, %Error{path: ^path, line: 2} = error} = Task.await(loading, 10_000)
      # PostgreSQL 15 closes the connection without a word on an immediate shutdown;
      # others may first send FATAL 57P01.
      assert error.reason in [:database, :connect]

      assert Exception.message(error) =~
               ~r/^#{Regex.escape(path)}:2:1: (connection to the server lost|FATAL 57P01)/

      own.start.()
      refute StructureLoader.table_exists?(config, "a")

      assert {:ok, %StructureLoader.Summary{status: :loaded}} =
               StructureLoader.load(config,
                 dump_path: TestDB.write_file!("CREATE TABLE public.a (id integer);\n")
               )

      assert StructureLoader.table_exists?(config, "a")
    end
  end

  defp own_sql!(port, sql) do
    {output, status} =
      System.cmd("psql", ~w(-X -A -t -d postgres -c) ++ [sql],
        env: [{"PGPORT", "#{port}"}],
        stderr_to_stdout: true
      )

    assert status == 0, output
    String.trim_trailing(output, "\n")
  end

  defp pg_ctl!(dir, args) do
    pg_ctl = Path.join(System.get_env("PG_BIN", "/usr/lib/postgresql/15/bin"), "pg_ctl")
    command = [pg_ctl, "-D", Path.join(dir, "data") | args]

    {output, status} =
      if System.cmd("id", ["-u"]) == {"0\n", 0},
        do: System.cmd("runuser", ["-u", "postgres", "--" | command], stderr_to_stdout: true),
        else: System.cmd(hd(command), tl(command), stderr_to_stdout: true)

    assert status == 0, output
  end
end
