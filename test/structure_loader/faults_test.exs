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
    # A TCP proxy on 127.0.0.1 in front of the test server. Once `limit` bytes have gone
    # from client to server in all, it either cuts every connection (`:cut`, both sides
    # closed) or goes silent (`:silent`: sockets stay open, nothing more is forwarded, new
    # connections are accepted and ignored), as a network that is lost.
    @moduledoc false

    def start!(upstream_port, limit, mode) when mode in [:cut, :silent] do
      {:ok, listen} =
        :gen_tcp.listen(0, [:binary, active: false, ip: {127, 0, 0, 1}, reuseaddr: true])

      {:ok, port} = :inet.port(listen)
      forwarded = :atomics.new(1, [])
      acceptor = spawn(fn -> accept(listen, upstream_port, limit, mode, forwarded) end)
      :ok = :gen_tcp.controlling_process(listen, acceptor)
      ExUnit.Callbacks.on_exit(fn -> stop(acceptor) end)
      %{port: port, acceptor: acceptor, forwarded: forwarded}
    end

    # Closes every socket: they all belong to the acceptor, and the pumps are linked to it.
    def stop(%{acceptor: acceptor}), do: stop(acceptor)
    def stop(acceptor) when is_pid(acceptor), do: Process.exit(acceptor, :kill)

    def forwarded(%{forwarded: forwarded}), do: :atomics.get(forwarded, 1)

    defp accept(listen, upstream_port, limit, mode, forwarded) do
      {:ok, client} = :gen_tcp.accept(listen)

      unless tripped?(forwarded, limit) do
        {:ok, server} = :gen_tcp.connect({127, 0, 0, 1}, upstream_port, [:binary, active: false])

        spawn_link(fn -> pump(client, server, limit, mode, forwarded, :to_server) end)
        spawn_link(fn -> pump(server, client, limit, mode, forwarded, :to_client) end)
      end

      accept(listen, upstream_port, limit, mode, forwarded)
    end

    defp pump(from, to, limit, mode, forwarded, direction) do
      with {:ok, data} <- :gen_tcp.recv(from, 0) do
        if direction == :to_server, do: :atomics.add(forwarded, 1, byte_size(data))

        cond do
          not tripped?(forwarded, limit) ->
            :ok = :gen_tcp.send(to, data)
            pump(from, to, limit, mode, forwarded, direction)

          mode == :cut ->
            :gen_tcp.close(from)
            :gen_tcp.close(to)

          mode == :silent ->
            Process.sleep(:infinity)
        end
      end
    end

    defp tripped?(forwarded, limit), do: :atomics.get(forwarded, 1) > limit
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

  defp elapsed_ms(started), do: System.monotonic_time(:millisecond) - started

  describe ":timeout" do
    test "cancels the running statement on the server and rolls everything back", context do
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

    test "a network gone silent mid-COPY: the cancel is given up after its grace",
         context do
      rows = Enum.map_join(1..200_000, "", &"#{&1}\t#{String.duplicate("x", 20)}\n")

      path =
        TestDB.write_file!("""
        CREATE TABLE public.items (id integer, name text);
        COPY public.items (id, name) FROM stdin;
        #{rows}\\.
        CREATE INDEX ON public.items (name);
        """)

      proxy = Proxy.start!(context.config[:port], 1_000_000, :silent)
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
    test "cancels the load at once: no query left running, every lock released", context do
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
                 %{strict_settings: false, if_absent: nil, timeout_ms: nil},
                 gone
               )

      assert message =~ "cancelled"
      TestDB.assert_unchanged!(context.empty, context.database)
    end
  end

  describe "the connection lost mid-load" do
    test "cut by the network in the middle of COPY data", context do
      rows = Enum.map_join(1..200_000, "", &"#{&1}\t#{String.duplicate("y", 20)}\n")

      path =
        TestDB.write_file!("""
        CREATE TABLE public.items (id integer, name text);
        COPY public.items (id, name) FROM stdin;
        #{rows}\\.
        CREATE INDEX ON public.items (name);
        """)

      proxy = Proxy.start!(context.config[:port], 1_000_000, :cut)
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
  end

  describe "the server stopped mid-load" do
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

    test "with pg_ctl stop -m immediate, then restarted", %{own: own} do
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
