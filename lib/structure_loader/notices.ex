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
  Calls `fun` in a new process with the pid the NIF must notify and watch, and returns its
  result, logging each `{:structure_loader_notice, notice}` message received meanwhile and
  handing each `{:structure_loader_progress, figures}` to the `progress` tracker
  (`StructureLoader.Progress.tracker/4`). An exception raised by `fun` is raised again in
  the caller.

  The pid given to `fun` is a forwarder, linked to the caller, that passes every message
  on: the NIF cancels the load when the process it watches exits, so the load is cancelled
  when the caller exits (the forwarder goes with it), and also when the `:progress`
  function raises in the caller, which then kills the forwarder, waits for the load to
  roll back and raises.
  """
  @spec relay(Path.t(), map(), (pid() -> result)) :: result when result: term()
  def relay(path, progress, fun) do
    caller = self()
    forwarder = spawn_link(fn -> forward(caller) end)
    ref = make_ref()

    # The result goes through the forwarder too: from the same process as the NIF's
    # messages, it arrives after all of them.
    {worker, monitor} =
      Process.spawn(
        fn ->
          result =
            try do
              {:ok, fun.(forwarder)}
            rescue
              exception -> {:raised, exception, __STACKTRACE__}
            end

          send(forwarder, {ref, result})
        end,
        [:link, :monitor]
      )

    load = %{path: path, ref: ref, worker: worker, monitor: monitor, forwarder: forwarder}

    case await(load, progress) do
      {:ok, result} -> result
      {:raised, exception, stacktrace} -> reraise exception, stacktrace
    end
  end

  defp await(load, progress) do
    %{ref: ref, monitor: monitor} = load
    progress = Progress.log_if_due(progress)

    receive do
      {:structure_loader_notice, notice} ->
        log(notice, load.path)
        await(load, progress)

      {:structure_loader_progress, figures} ->
        await(load, report(load, progress, figures))

      {^ref, result} ->
        if monitor, do: Process.demonitor(monitor, [:flush])
        stop(load.forwarder)
        result

      # The worker ends once it has sent its result, which may still be on its way.
      {:DOWN, ^monitor, :process, _pid, :normal} ->
        await(%{load | monitor: nil}, progress)

      {:DOWN, ^monitor, :process, _pid, reason} ->
        stop(load.forwarder)
        exit(reason)
    after
      Progress.wait_ms(progress) -> await(load, progress)
    end
  end

  # A :progress function that raises cancels the load: nothing of it must stay once the
  # exception reaches the caller.
  defp report(load, progress, figures) do
    Progress.received(progress, figures)
  catch
    kind, reason ->
      stacktrace = __STACKTRACE__
      stop(load.forwarder)

      if monitor = load.monitor do
        receive do
          {:DOWN, ^monitor, :process, _pid, _reason} -> :ok
        end
      end

      :erlang.raise(kind, reason, stacktrace)
  end

  defp forward(caller) do
    receive do
      message -> send(caller, message)
    end

    forward(caller)
  end

  defp stop(forwarder) do
    Process.unlink(forwarder)
    Process.exit(forwarder, :kill)
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
