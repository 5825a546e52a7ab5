defmodule StructureLoader.Error do
  @moduledoc """
  Why a load, a check or a `table_exists?/3` call failed.

  `reason` says what kind of failure it is:

    * `:file` - the dump cannot be opened or read (missing, a directory, unreadable)
    * `:parse` - the file is not a plain-format dump psql could run: invalid bytes for its
      encoding, an unterminated quote, dollar quote, comment, parenthesis or `BEGIN ATOMIC`
      block, or a custom-format dump (use `pg_restore` for those)
    * `:meta_command` - a psql meta-command other than the ones pg_dump writes
      (`\\restrict`, `\\unrestrict`, `\\connect` to the same database)
    * `:connect` - the server cannot be reached, TLS failed (an untrusted, expired or
      mismatched certificate, a server without TLS), or the connection broke
    * `:auth` - the server refused the credentials (SQLSTATE class 28)
    * `:database` - the server reported an error, for instance for a statement of the
      file (everything the file did is rolled back) or for an unknown database. A
      privilege error (SQLSTATE 42501) has a `hint` naming the role the load runs as and
      what to do
    * `:extensions` - the dump creates extensions that the server does not have, or that
      the role the load runs as may not create (it is not a superuser: an untrusted
      extension, or a trusted one without the CREATE privilege on the database). Found
      before anything of the dump was sent; `detail` names each with its line and why,
      `hint` the `CREATE EXTENSION` statements an administrator must run. `line` is the
      first one's
    * `:timeout` - the load did not finish within its `:timeout`: it was stopped, the
      statement running was cancelled on the server and everything rolled back; `line`
      points at the statement it was stopped at
    * `:cancelled` - the load was cancelled (its caller exited) and rolled back
    * `:commit_unknown` - `COMMIT` was sent and its answer never came (the connection was
      lost, the server ended it, or the time limit expired while waiting): the load may
      or may not be committed. `StructureLoader.load/2` again tells, safely: it loads only
      if the migrations table is absent
    * `:nif_not_loaded` - the native library could not be loaded (missing from the
      release, or built for another system or architecture); `path` is the library
    * `:internal` - a bug in StructureLoader (a Rust panic, with its message)

  `message` is the bare message (the server's text for server errors); `Exception.message/1`
  renders the whole diagnostic, compiler style:

      priv/repo/structure.sql:8:20: ERROR 42601: syntax error at or near "NOT"
        | CREATE TABLE public.t (
        |     id integer NOT NOT NULL
        |                    ^
        | );

  `line` and `column` (1-based) locate the failing token in the file when the server gave
  an error position, else the start of the failing statement; `statement` is the text that
  was sent and `position` the server's 1-based character position inside it. `severity`,
  `sqlstate`, `detail` and `hint` are the server's fields; StructureLoader adds to the
  `hint` what to do where it knows (a privilege error), and gives its own errors a `detail`
  and a `hint` where they help (`:extensions`).

  The connection settings are never stored in an error, so no password can show in its
  message or its inspect output; `statement` is left out of the inspect output because it
  can be very long (its excerpt is in the message).
  """

  @derive {Inspect, except: [:statement]}
  defexception [
    :reason,
    :message,
    :path,
    :line,
    :column,
    :statement,
    :sqlstate,
    :severity,
    :detail,
    :hint,
    :position
  ]

  @type reason ::
          :file
          | :parse
          | :meta_command
          | :connect
          | :auth
          | :database
          | :extensions
          | :timeout
          | :cancelled
          | :commit_unknown
          | :nif_not_loaded
          | :internal

  @type t :: %__MODULE__{
          reason: reason(),
          message: String.t(),
          path: Path.t() | nil,
          line: pos_integer() | nil,
          column: pos_integer() | nil,
          statement: String.t() | nil,
          sqlstate: String.t() | nil,
          severity: String.t() | nil,
          detail: String.t() | nil,
          hint: String.t() | nil,
          position: pos_integer() | nil
        }

  # Statement lines shown on each side of the error line, and the widest line shown.
  @context_lines 2
  @max_width 100

  @impl Exception
  def message(%__MODULE__{} = error) do
    [header(error) | excerpt(error) ++ server_notes(error)]
    |> Enum.join("\n")
  end

  @doc false
  # Builds the exception from the error map the NIF returns.
  @spec from_native(map()) :: t()
  def from_native(%{} = fields), do: struct(__MODULE__, fields)

  defp header(error) do
    location =
      case error do
        %{path: nil} -> nil
        %{line: nil, path: path} -> path
        %{column: nil, path: path, line: line} -> "#{path}:#{line}"
        %{path: path, line: line, column: column} -> "#{path}:#{line}:#{column}"
      end

    code = join_present([error.severity, error.sqlstate], " ")
    join_present([location, code, error.message], ": ")
  end

  defp server_notes(error) do
    for {label, text} <- [DETAIL: error.detail, HINT: error.hint], present?(text) do
      "#{label}: #{text}"
    end
  end

  defp excerpt(%{statement: statement, position: position}) when is_binary(statement) do
    lines = statement |> String.split("\n") |> Enum.map(&String.trim_trailing(&1, "\r"))
    {focus, column} = focus(statement, position)
    first = max(focus - @context_lines, 0)
    last = min(focus + @context_lines, length(lines) - 1)

    shown =
      lines
      |> Enum.slice(first..last)
      |> Enum.with_index(first)
      |> Enum.flat_map(fn
        {line, ^focus} when column != nil -> with_caret(line, column)
        {line, _} -> [elide(line)]
      end)

    leading = if first > 0, do: ["..."], else: []
    trailing = if last < length(lines) - 1, do: ["..."], else: []
    Enum.map(leading ++ shown ++ trailing, &String.trim_trailing("  | " <> &1))
  end

  defp excerpt(_error), do: []

  # The statement line (0-based) and column (1-based) of the server's character position.
  defp focus(_statement, nil), do: {0, nil}

  defp focus(statement, position) do
    before = String.slice(statement, 0, max(position - 1, 0))
    lines_before = String.split(before, "\n")
    {length(lines_before) - 1, String.length(List.last(lines_before)) + 1}
  end

  defp with_caret(line, column) do
    length = String.length(line)

    {start, prefix} =
      if length > @max_width and column > div(@max_width, 2),
        do: {min(column - div(@max_width, 2), length - @max_width), "..."},
        else: {0, ""}

    visible = prefix <> elide(String.slice(line, max(start, 0)..-1//1))
    before_caret = prefix <> String.slice(line, max(start, 0), column - 1 - max(start, 0))
    # Tabs stay tabs so that the caret lines up however the terminal expands them.
    padding = String.replace(before_caret, ~r/[^\t]/u, " ")
    [visible, padding <> "^"]
  end

  defp elide(line) do
    if String.length(line) > @max_width,
      do: String.slice(line, 0, @max_width) <> "...",
      else: line
  end

  defp join_present(parts, separator) do
    parts |> Enum.filter(&present?/1) |> Enum.join(separator)
  end

  defp present?(text), do: is_binary(text) and text != ""
end
