defmodule StructureLoader.Notices do
  # Runs a loading NIF in its own process so that the caller can relay the server's notices
  # to Logger, and its progress reports to StructureLoader.Progress, while the load is still
  # going, instead of all at once at the end.
  @moduledoc false

  require Logger

  alias StructureLoader.Progress

  @type notice :: %{
          severity: String.t(),
          message: String.t(),
          detail: String.t() | nil,
          hint: String.t() | nil,
          line: pos_integer() | nil
        }

  @doc """
  Calls `fun` with the pid to notify in a new process and returns its result, logging each
  `{:structure_loader_notice, notice}` message received meanwhile and handing each
  `{:structure_loader_progress, figures}` to the `progress` tracker
  (`StructureLoader.Progress.tracker/4`). An exception raised by `fun` is raised again in
  the caller.
  """
  @spec relay(Path.t(), map(), (pid() -> result)) :: result when result: term()
  def relay(path, progress, fun) do
    caller = self()

    task =
      Task.async(fn ->
        try do
          {:ok, fun.(caller)}
        rescue
          exception -> {:raised, exception, __STACKTRACE__}
        end
      end)

    case await(task, path, progress) do
      {:ok, result} -> result
      {:raised, exception, stacktrace} -> reraise exception, stacktrace
    end
  end

  defp await(%Task{ref: ref} = task, path, progress) do
    progress = Progress.log_if_due(progress)

    receive do
      {:structure_loader_notice, notice} ->
        log(notice, path)
        await(task, path, progress)

      {:structure_loader_progress, figures} ->
        await(task, path, Progress.received(progress, figures))

      # The NIF sends the notices from the task's own process, so all of them arrive
      # before its reply.
      {^ref, result} ->
        Process.demonitor(ref, [:flush])
        result

      {:DOWN, ^ref, :process, _pid, reason} ->
        exit(reason)
    after
      Progress.wait_ms(progress) -> await(task, path, progress)
    end
  end

  # At the level matching the notice's severity.
  @spec log(notice(), Path.t()) :: :ok
  defp log(notice, path) do
    location = if notice[:line], do: "#{path}:#{notice.line}", else: path

    notes =
      for {label, text} <- [DETAIL: notice[:detail], HINT: notice[:hint]],
          text not in [nil, ""],
          do: "\n#{label}: #{text}"

    Logger.log(level(notice.severity), [
      location,
      ": ",
      notice.severity,
      ": ",
      notice.message | notes
    ])
  end

  defp level("WARNING"), do: :warning
  defp level(severity) when severity in ["NOTICE", "INFO"], do: :info
  defp level(_debug_or_log), do: :debug
end
