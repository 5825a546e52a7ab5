defmodule StructureLoader.Progress do
  @moduledoc """
  How far a load has got, while it runs.

  While a dump is being sent, the loader reports about once a second. `load/2` and
  `structure_load/3` pass each report to the function given as `:progress`, and `load/2`
  logs one line at its `:log` level every 5 seconds, so a load that ends
  within a few seconds logs only its summary:

      The structure for MyApp.Repo is loading from priv/repo/structure.sql: 412.3 MB of 1,073.7 MB (38%), 12 of 31 statements, 3,200,000 of 8,300,000 COPY rows, line 3,200,012; 41.2 MB/s, about 17 s left

  The figures:

    * `repo`, `path` - what is being loaded (`repo` is `nil` for a keyword list)
    * `statements`, `statements_total` - SQL statements run, of those in the file (counted
      as `StructureLoader.check/1` counts them)
    * `bytes`, `bytes_total` - bytes of the file sent (or in the message being built), of
      its size
    * `copy_rows`, `copy_rows_total` - COPY data lines sent, of those in the file
    * `line` - the file line being read
    * `elapsed_ms` - time since the first statement was sent (connecting and checking the
      file come before)
    * `bytes_per_second` - `bytes` over `elapsed_ms`
    * `remaining_ms` - the time the rest of the file would take at that rate; `nil` until
      a byte is done

  ## Example

      StructureLoader.load(MyApp.Repo,
        progress: fn %StructureLoader.Progress{bytes: done, bytes_total: total} ->
          IO.puts("\#{div(done * 100, max(total, 1))}%")
        end
      )
  """

  require Logger

  @log_interval_ms 5_000

  defstruct [
    :repo,
    :path,
    statements: 0,
    statements_total: 0,
    bytes: 0,
    bytes_total: 0,
    copy_rows: 0,
    copy_rows_total: 0,
    line: 0,
    elapsed_ms: 0,
    bytes_per_second: 0,
    remaining_ms: nil
  ]

  @type t :: %__MODULE__{
          repo: module() | nil,
          path: Path.t(),
          statements: non_neg_integer(),
          statements_total: non_neg_integer(),
          bytes: non_neg_integer(),
          bytes_total: non_neg_integer(),
          copy_rows: non_neg_integer(),
          copy_rows_total: non_neg_integer(),
          line: non_neg_integer(),
          elapsed_ms: non_neg_integer(),
          bytes_per_second: non_neg_integer(),
          remaining_ms: non_neg_integer() | nil
        }

  @doc """
  The line `load/2` logs for a report.

      iex> StructureLoader.Progress.message(%StructureLoader.Progress{
      ...>   repo: MyApp.Repo, path: "priv/repo/structure.sql",
      ...>   statements: 12, statements_total: 31, bytes: 412_300_000, bytes_total: 1_073_741_824,
      ...>   copy_rows: 3_200_000, copy_rows_total: 8_300_000, line: 3_200_012,
      ...>   elapsed_ms: 10_000, bytes_per_second: 41_230_000, remaining_ms: 16_042
      ...> })
      "The structure for MyApp.Repo is loading from priv/repo/structure.sql: 412.3 MB of 1,073.7 MB (38%), 12 of 31 statements, 3,200,000 of 8,300,000 COPY rows, line 3,200,012; 41.2 MB/s, about 17 s left"
  """
  @spec message(t()) :: String.t()
  def message(%__MODULE__{} = progress) do
    subject =
      if progress.repo, do: "The structure for #{inspect(progress.repo)}", else: "The structure"

    rows =
      if progress.copy_rows_total > 0,
        do: ", #{digits(progress.copy_rows)} of #{digits(progress.copy_rows_total)} COPY rows",
        else: ""

    left =
      case progress.remaining_ms do
        nil -> ""
        ms -> ", about #{duration(ms)} left"
      end

    "#{subject} is loading from #{progress.path}: " <>
      "#{megabytes(progress.bytes)} of #{megabytes(progress.bytes_total)} " <>
      "(#{percent(progress.bytes, progress.bytes_total)}%), " <>
      "#{digits(progress.statements)} of #{digits(progress.statements_total)} statements" <>
      rows <>
      ", line #{digits(progress.line)}; #{megabytes(progress.bytes_per_second)}/s" <> left
  end

  @doc false
  # The state of one load's reporting: calls `callback` with each report and logs at
  # `log` every @log_interval_ms, counted from the start of the load.
  @spec tracker(module() | nil, Path.t(), Logger.level() | false, (t() -> any()) | nil) :: map()
  def tracker(repo, path, log, callback) do
    %{
      repo: repo,
      path: path,
      log: log,
      callback: callback,
      last: nil,
      next_log: now() + @log_interval_ms
    }
  end

  @doc false
  # A report from the NIF.
  @spec received(map(), map()) :: map()
  def received(tracker, figures) do
    progress =
      struct!(
        %__MODULE__{repo: tracker.repo, path: tracker.path},
        Map.take(figures, [
          :statements,
          :statements_total,
          :bytes,
          :bytes_total,
          :copy_rows,
          :copy_rows_total,
          :line,
          :elapsed_ms
        ])
      )
      |> with_rate()

    if tracker.callback, do: tracker.callback.(progress)
    %{tracker | last: {progress, now()}}
  end

  @doc false
  # Logs the latest figures if a line is due: as of now, so that a statement that runs
  # for a long time shows a falling rate rather than no line at all.
  @spec log_if_due(map()) :: map()
  def log_if_due(%{log: false} = tracker), do: tracker

  def log_if_due(tracker) do
    now = now()

    if now < tracker.next_log do
      tracker
    else
      case tracker.last do
        nil ->
          :ok

        {progress, received_at} ->
          progress = with_rate(%{progress | elapsed_ms: progress.elapsed_ms + now - received_at})
          Logger.log(tracker.log, fn -> message(progress) end)
      end

      skipped = div(now - tracker.next_log, @log_interval_ms)
      %{tracker | next_log: tracker.next_log + (skipped + 1) * @log_interval_ms}
    end
  end

  @doc false
  # How often load/2 logs a line, and the Mix task prints one.
  @spec log_interval_ms() :: pos_integer()
  def log_interval_ms, do: @log_interval_ms

  @doc false
  # How long the relay may wait for a message before a line is due.
  @spec wait_ms(map()) :: timeout()
  def wait_ms(%{log: false}), do: :infinity
  def wait_ms(tracker), do: max(tracker.next_log - now(), 0)

  defp with_rate(%__MODULE__{bytes: bytes, elapsed_ms: elapsed} = progress) do
    rate = if elapsed > 0, do: div(bytes * 1000, elapsed), else: 0

    remaining = if rate > 0, do: div(max(progress.bytes_total - bytes, 0) * 1000, rate), else: nil

    %{progress | bytes_per_second: rate, remaining_ms: remaining}
  end

  defp now, do: System.monotonic_time(:millisecond)

  defp percent(_done, 0), do: 100
  defp percent(done, total), do: div(done * 100, total)

  defp megabytes(bytes) do
    tenths = div(bytes + 50_000, 100_000)
    "#{digits(div(tenths, 10))}.#{rem(tenths, 10)} MB"
  end

  defp duration(ms) when ms < 1000, do: "1 s"
  defp duration(ms) when ms < 60_000, do: "#{div(ms + 999, 1000)} s"

  defp duration(ms) do
    minutes = div(ms + 59_999, 60_000)
    if minutes < 120, do: "#{minutes} min", else: "#{div(minutes + 59, 60)} h"
  end

  @doc false
  # 2417 -> "2,417"
  @spec digits(non_neg_integer()) :: String.t()
  def digits(number) do
    number
    |> Integer.to_string()
    |> String.reverse()
    |> String.graphemes()
    |> Enum.chunk_every(3)
    |> Enum.join(",")
    |> String.reverse()
  end
end
