defmodule StructureLoader.Telemetry do
  # The [:structure_loader, :load, :start | :stop | :exception] span around each load,
  # emitted with :telemetry.span/3 when the :telemetry application runs. StructureLoader
  # depends on nothing: without :telemetry, or before it is started (its handler table
  # would be missing, and every event would log a warning), nothing is emitted.
  @moduledoc false

  @compile {:no_warn_undefined, :telemetry}

  @event [:structure_loader, :load]

  @doc """
  Runs `fun` in the span. `fun` returns the load's result; the stop event's metadata is
  `metadata` with the outcome: `status`, the counts of the summary, and `error`.
  """
  @spec span(map(), (() -> result)) :: result when result: {:ok, term()} | {:error, Exception.t()}
  def span(metadata, fun) do
    if enabled?() do
      :telemetry.span(@event, metadata, fn ->
        result = fun.()
        {result, Map.merge(metadata, outcome(result))}
      end)
    else
      fun.()
    end
  end

  defp enabled? do
    Code.ensure_loaded?(:telemetry) and
      List.keymember?(Application.started_applications(), :telemetry, 0)
  end

  @counts [:statements, :copy_blocks, :copy_rows, :meta_commands, :skipped_settings]

  defp outcome({:ok, %{status: status} = summary}) do
    summary |> Map.take(@counts) |> Map.merge(%{status: status, error: nil})
  end

  defp outcome({:error, error}) do
    %{status: :error, error: error, statements: 0, copy_blocks: 0, copy_rows: 0}
    |> Map.merge(%{meta_commands: 0, skipped_settings: []})
  end
end
