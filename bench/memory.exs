# Loads one dump with StructureLoader.structure_load/2 while sampling this BEAM's resident
# memory, and prints the figures as `key=value` lines (sizes in KiB).
#
#   elixir -pa SNAPSHOT/structure_loader/ebin bench/memory.exs DUMP WARMUP_DUMP DATABASE
#
# Connection settings come from PGHOST, PGPORT, PGUSER and PGPASSWORD. WARMUP_DUMP, a tiny
# file, is loaded first so that the NIF and its runtime are in memory before "idle" is
# measured: the figure that matters is what loading a big file adds on top of that.
[dump, warmup_dump, database] = System.argv()
{:ok, _} = Application.ensure_all_started(:structure_loader)

defmodule Rss do
  @interval_ms 5

  def status(field) do
    File.read!("/proc/self/status")
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line) do
        [^field, kib, "kB"] -> String.to_integer(kib)
        _ -> nil
      end
    end)
  end

  def start_sampler do
    owner = self()
    spawn_link(fn -> sample(owner, 0) end)
  end

  def stop_sampler(sampler) do
    send(sampler, :stop)

    receive do
      {:peak, ^sampler, peak} -> peak
    end
  end

  defp sample(owner, peak) do
    peak = max(peak, status("VmRSS:"))

    receive do
      :stop -> send(owner, {:peak, self(), peak})
    after
      @interval_ms -> sample(owner, peak)
    end
  end
end

config = [
  hostname: System.fetch_env!("PGHOST"),
  port: String.to_integer(System.fetch_env!("PGPORT")),
  username: System.fetch_env!("PGUSER"),
  password: System.fetch_env!("PGPASSWORD"),
  database: database,
  log: false
]

load = fn path ->
  case StructureLoader.structure_load(Path.dirname(path), [dump_path: path] ++ config) do
    {:ok, _} -> :ok
    {:error, error} -> raise error
  end
end

IO.puts("boot_rss_kib=#{Rss.status("VmRSS:")}")
load.(warmup_dump)
:erlang.garbage_collect()
Process.sleep(1_000)
idle = Rss.status("VmRSS:")
sampler = Rss.start_sampler()
{micros, :ok} = :timer.tc(fn -> load.(dump) end)
peak = Rss.stop_sampler(sampler)

IO.puts("idle_rss_kib=#{idle}")
IO.puts("peak_rss_kib=#{peak}")
IO.puts("hwm_kib=#{Rss.status("VmHWM:")}")
IO.puts("load_us=#{micros}")
