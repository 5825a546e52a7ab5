defmodule StructureLoader.TestPorts do
  @moduledoc """
  Ports for the servers the tests start, and closed ports, without races.

  A server is started on a port below the kernel's ephemeral range (32768-60999), where no
  outgoing connection can hold one, and moved to the next port when its own start finds the
  port taken, so two tests starting servers at once cannot collide. A closed port is bound
  and held without listening: connections to it are refused, and no one else can take it
  while the test runs.
  """

  import ExUnit.Callbacks, only: [on_exit: 1]

  @range 26_000..26_999

  @doc """
  Calls `start.(port)` with ports of the range, from a random one on, until it returns
  `{:ok, value}` rather than `:port_taken`; returns `{port, value}`.
  """
  @spec start_on_free_port((:inet.port_number() -> {:ok, term()} | :port_taken)) ::
          {:inet.port_number(), term()}
  def start_on_free_port(start) do
    first = Enum.random(@range)
    ports = Enum.to_list(first..@range.last) ++ Enum.to_list(@range.first..(first - 1)//1)

    Enum.find_value(ports, fn port ->
      case start.(port) do
        {:ok, value} -> {port, value}
        :port_taken -> nil
      end
    end) || raise "no free port in #{inspect(@range)}"
  end

  @doc "A port on 127.0.0.1 that refuses connections for as long as the test runs."
  @spec closed_port() :: :inet.port_number()
  def closed_port do
    {:ok, socket} = :socket.open(:inet, :stream, :tcp)
    :ok = :socket.bind(socket, %{family: :inet, addr: {127, 0, 0, 1}, port: 0})
    {:ok, %{port: port}} = :socket.sockname(socket)
    on_exit(fn -> :socket.close(socket) end)
    port
  end
end
