defmodule StructureLoader.Native do
  # The NIF functions of the structure_loader_nif crate. Only stubs live here: the contract
  # (argument and result shapes) is documented where it is used, in StructureLoader.
  @moduledoc false

  @library "native/libstructure_loader_nif"

  # Recompile this module, and so reload the NIF, whenever the cargo build installs a new one.
  @external_resource Path.expand("../../priv/#{@library}.so", __DIR__)

  @on_load :load_nif

  @doc false
  def load_nif do
    :structure_loader
    |> :code.priv_dir()
    |> Path.join(@library)
    |> String.to_charlist()
    |> :erlang.load_nif(0)
  end

  def structure_load(_path, _conn, _opts, _caller), do: :erlang.nif_error(:nif_not_loaded)

  def table_exists(_conn, _schema, _table), do: :erlang.nif_error(:nif_not_loaded)

  def check(_path), do: :erlang.nif_error(:nif_not_loaded)
end
