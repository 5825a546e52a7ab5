defmodule StructureLoader.Summary do
  @moduledoc """
  What `StructureLoader.load/2` did.

    * `status` - `:loaded`; `:already_loaded` when the migrations table existed, so nothing
      was sent; `:skipped` when the file did not exist and `skip_if_missing: true` said to
      go on without it
    * `repo` - the repo module, or `nil` for a keyword list
    * `path` - the dump
    * `statements` - the file's SQL statements, `COPY` statements and those deliberately
      not sent (`SET client_encoding`, `BEGIN`/`COMMIT`, skipped settings) included: the
      count `StructureLoader.check/2` gives for the file
    * `copy_blocks`, `copy_rows`, `meta_commands` - COPY blocks sent, the rows the server
      stored from them, and meta-commands honoured
    * `skipped_settings` - preamble settings skipped because the server does not know them,
      in file order
    * `skipped_extension_comments` - extensions whose `COMMENT ON EXTENSION` was skipped:
      each existed before the load and belongs to a role whose privileges the load's role
      lacks (on a managed server, the administrator who created it), in file order
    * `left_out` - how many statements `no_owner: true`, `no_privileges: true` and
      `no_comments: true` left out: `%{owner: n, privileges: n, comments: n}`
    * `duration_ms` - the whole call, connecting included
  """

  defstruct [
    :status,
    :repo,
    :path,
    statements: 0,
    copy_blocks: 0,
    copy_rows: 0,
    meta_commands: 0,
    skipped_settings: [],
    skipped_extension_comments: [],
    left_out: %{owner: 0, privileges: 0, comments: 0},
    duration_ms: 0
  ]

  @type status :: :loaded | :already_loaded | :skipped

  @type t :: %__MODULE__{
          status: status(),
          repo: module() | nil,
          path: Path.t(),
          statements: non_neg_integer(),
          copy_blocks: non_neg_integer(),
          copy_rows: non_neg_integer(),
          meta_commands: non_neg_integer(),
          skipped_settings: [String.t()],
          skipped_extension_comments: [String.t()],
          left_out: left_out(),
          duration_ms: non_neg_integer()
        }

  @typedoc "How many statements each of pg_restore's filters left out."
  @type left_out :: %{
          owner: non_neg_integer(),
          privileges: non_neg_integer(),
          comments: non_neg_integer()
        }
end
