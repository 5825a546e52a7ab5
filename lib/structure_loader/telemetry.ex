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

  # The summary's figures, whatever fields it has: a failed load kept nothing.
  defp outcome({:ok, summary}), do: figures(summary) |> Map.put(:error, nil)

  defp outcome({:error, error}),
    do: figures(%StructureLoader.Summary{}) |> Map.merge(%{status: :error, error: error})

  defp figures(summary),
    do: summary |> Map.from_struct() |> Map.drop([:repo, :path, :duration_ms])
end
