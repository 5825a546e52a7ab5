defmodule StructureLoader.Native do
  # The NIF functions of the structure_loader_nif crate. Only stubs live here: the contract
  # (argument and result shapes) is documented where it is used, in StructureLoader.
  #
  # A library that cannot be loaded (missing from the release, built for another
  # architecture) must not stop this module from loading: calls would then fail as calls
  # to an undefined function, whose report shows their arguments, the password among
  # them. So loading always succeeds, and `load_error/0` says what went wrong; the callers
  # ask it before calling a stub.
  @moduledoc false

  @library "native/libstructure_loader_nif"

  # Recompile this module, and so reload the NIF, whenever the cargo build installs a new one.
  @external_resource Path.expand("../../priv/#{@library}.so", __DIR__)

  @on_load :load_nif

  @doc false
  def load_nif do
    with priv when is_list(priv) <- :code.priv_dir(:structure_loader),
         path = Path.join(priv, @library),
         {:error, {_reason, text}} <- :erlang.load_nif(String.to_charlist(path), 0) do
      :persistent_term.put({__MODULE__, :load_error}, {path <> ".so", to_string(text)})
    else
      :ok ->
        :ok

      {:error, :bad_name} ->
        :persistent_term.put(
          {__MODULE__, :load_error},
          {@library <> ".so", "the :structure_loader application is not on the code path"}
        )
    end

    :ok
  end

  @doc false
  # `nil` when the NIF is loaded, else the library's path and the loader's reason.
  @spec load_error() :: {Path.t(), String.t()} | nil
  def load_error, do: :persistent_term.get({__MODULE__, :load_error}, nil)

  def structure_load(_path, _conn, _opts, _caller), do: :erlang.nif_error(:nif_not_loaded)

  def table_exists(_conn, _schema, _table), do: :erlang.nif_error(:nif_not_loaded)

  def check(_path, _opts), do: :erlang.nif_error(:nif_not_loaded)
end
