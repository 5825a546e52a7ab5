# Loads one dump with StructureLoader.structure_load/2 and prints how long the call took.
#
#   elixir -pa SNAPSHOT/structure_loader/ebin bench/load.exs DUMP DATABASE
#
# (bench/bench.py runs it on a snapshot of the compiled project; `mix run bench/load.exs`
# works too.)
#
# Connects to PGHOST:PGPORT as PGUSER with PGPASSWORD (from the environment, so that the
# password is never on a command line). Prints `structure_loader_us=N` (the call itself,
# measured inside the BEAM) or the error and exits 1.
[dump, database] = System.argv()
{:ok, _} = Application.ensure_all_started(:structure_loader)

config = [
  hostname: System.fetch_env!("PGHOST"),
  port: String.to_integer(System.fetch_env!("PGPORT")),
  username: System.fetch_env!("PGUSER"),
  password: System.fetch_env!("PGPASSWORD"),
  database: database,
  dump_path: dump,
  log: false
]

{micros, result} = :timer.tc(fn -> StructureLoader.structure_load(Path.dirname(dump), config) end)

case result do
  {:ok, _path} ->
    IO.puts("structure_loader_us=#{micros}")

  {:error, error} ->
    IO.puts(:stderr, Exception.message(error))
    System.halt(1)
end
