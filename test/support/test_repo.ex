defmodule StructureLoader.TestRepo do
  @moduledoc """
  A real Ecto repo, to compare StructureLoader with Ecto's own functions. Tests start it
  under a name of their own, on a database of their own (`start!/1`).
  """

  use Ecto.Repo, otp_app: :structure_loader, adapter: Ecto.Adapters.Postgres

  @doc "Starts the repo on `config` (a `StructureLoader.TestDB.config/2`) and returns its name."
  @spec start!(keyword()) :: atom()
  def start!(config) do
    name = :"#{__MODULE__}#{System.unique_integer([:positive])}"
    config = Keyword.merge(config, name: name, pool_size: 1, log: false)
    {:ok, _pid} = ExUnit.Callbacks.start_supervised({__MODULE__, config}, id: name)
    name
  end
end
