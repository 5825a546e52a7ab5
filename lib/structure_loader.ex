defmodule StructureLoader do
  @moduledoc """
  Loads a pg_dump plain-format file, such as the `priv/repo/structure.sql` that
  `mix ecto.dump` writes, into PostgreSQL from inside the BEAM: no `psql`, no `mix`, no shell.
  It works in a `mix release` on a server that has no PostgreSQL client installed.

  The file runs as `psql --single-transaction -v ON_ERROR_STOP=1 --file` would run it (the
  command Ecto's `mix ecto.load` uses), with the same statements and COPY data sent in the
  same order, and fails on the same statement with the same SQLSTATE. It does better than
  psql in these ways:

    * the whole file is one transaction, even when it holds its own `BEGIN;`/`COMMIT;`;
      on any error nothing of it stays in the database
    * errors are `StructureLoader.Error` exceptions with the file, line and column of the
      failing token, the SQLSTATE and an excerpt of the statement
    * lexing problems (an unterminated quote, a custom-format dump, ...) are found before
      anything is sent
    * only the meta-commands pg_dump writes are honoured (`\\restrict`, `\\unrestrict`,
      `\\connect` to the same database); anything else, such as `\\!`, is refused
    * pg_dump preamble settings the server does not know (`SET transaction_timeout = 0;`
      from pg_dump 17+ loaded into an older server) are skipped with a warning
    * `load/2` loads at most once, even when several nodes boot at the same time

  ## In a release

  `load/2` is the entry point for a release: it loads the repo's `structure.sql` unless the
  migrations table already exists, so it belongs right before the migrations run:

      defmodule MyApp.Release do
        @app :my_app

        def migrate do
          Application.load(@app)

          for repo <- Application.fetch_env!(@app, :ecto_repos) do
            {:ok, _, _} =
              Ecto.Migrator.with_repo(repo, fn repo ->
                StructureLoader.load!(repo)
                Ecto.Migrator.run(repo, :up, all: true)
              end)
          end
        end
      end

  run with `bin/my_app eval "MyApp.Release.migrate()"`. On an empty database the first call
  loads the structure (its `INSERT INTO schema_migrations` lines mark the dumped migrations
  as run) and the migrator then runs only the newer migrations; later calls find
  `schema_migrations` and load nothing. Without Ecto, the one-liner
  `bin/my_app eval 'StructureLoader.load!(MyApp.Repo)'` does the load alone.

  `structure_load/2` has the shape of `c:Ecto.Adapter.Structure.structure_load/2` and always
  loads, for code that calls the adapter callback.

  ## Connection settings

  Every function taking `repo_or_config` accepts an Ecto repo module (any module exporting
  `config/0`, whose result is read) or the keyword list itself. The keys are Ecto's and
  Postgrex's: `:url`, `:hostname`, `:port`, `:username`, `:password`, `:database`,
  `:socket_dir`, `:socket`, `:ssl`, `:parameters`, `:connect_timeout`, with the same `PG*`
  environment defaults; see `StructureLoader.Config` for the details, TLS included.

  ## Options

  | Option                      | Default              | Meaning                                                    |
  | --------------------------- | -------------------- | ---------------------------------------------------------- |
  | `:dump_path`                | see `load/2`         | the file to load                                           |
  | `:priv`                     | `"priv/repo"` for `MyApp.Repo` | the repo's priv directory inside its OTP app       |
  | `:otp_app`                  | the repo's           | the OTP app whose priv directory holds the file            |
  | `:migration_source`         | `"schema_migrations"`| the table whose presence means "already loaded"            |
  | `:migration_default_prefix` | `current_schema()`   | the schema of that table                                   |
  | `:strict_settings`          | `false`              | fail on preamble settings the server does not know         |
  | `:log`                      | `:info`              | Logger level of the summary line, or `false`               |
  | `:timeout`                  | `:infinity`          | ms for the whole load (`load/2` only), see below           |

  ## Time limit, cancellation and failures

  `load/2` takes a `:timeout` in milliseconds (default `:infinity`, as psql and
  `Ecto.Migrator` have no limit either). It bounds the whole load: connecting, waiting for
  the advisory lock while another node loads, every statement, and COPY. When it expires,
  nothing more is sent, the statement running on the server is cancelled with a cancel
  request (sent again until it takes effect), the transaction is rolled back, and the result
  is `{:error, %StructureLoader.Error{reason: :timeout}}` located at the statement that was
  running. Only the options given to `load/2` are read for it: an Ecto repo's own `:timeout`
  (its per-query limit) is not, and `structure_load/2`, which takes the repo configuration
  as Ecto's callback does, has no time limit.

  If the process that called the load exits (it is killed, or it was linked to a process
  that crashed), the load is cancelled the same way within moments, so no orphaned server
  work keeps holding locks. The load runs in a NIF on a dirty scheduler, which no exit
  signal can interrupt, so the NIF has the VM monitor the caller on its behalf (a resource
  with a `down` callback): when the caller goes down, the VM calls into the NIF, which
  triggers the cancellation from that moment on.

  Whatever goes wrong (a statement fails, the connection or the server dies, the time limit
  expires, the caller exits), the file's changes are rolled back as one transaction and the
  VM keeps running; a panic in the native code comes back as an `:internal` error.

  ## Logging

  A successful load logs one line at the `:log` level:

      loaded 2,417 statements and 3 COPY blocks (15,600 rows) from priv/repo/structure.sql in 812 ms

  The server's notices are logged as they arrive, whatever `:log` says, at the level matching
  their severity (`WARNING` as `:warning`, `NOTICE` and `INFO` as `:info`, `DEBUG` and `LOG`
  as `:debug`), prefixed with the file and line of the statement that raised them. Nothing
  logged ever holds a password.
  """

  require Logger

  alias StructureLoader.{Config, Error, Native, Notices, TableName}

  @typedoc "An Ecto repo module (anything exporting `config/0`) or its keyword list."
  @type repo_or_config :: module() | keyword()

  @typedoc "What `check/1` found in a dump."
  @type check_summary :: %{
          statements: non_neg_integer(),
          copy_blocks: non_neg_integer(),
          copy_rows: non_neg_integer(),
          meta_commands: non_neg_integer(),
          pg_dump_version: String.t() | nil
        }

  @log_levels [:emergency, :alert, :critical, :error, :warning, :notice, :info, :debug]

  @doc """
  Loads `config[:dump_path]`, or `structure.sql` in `default_dir`, into the database that
  `config` names. Always loads; see `load/2` for the load-once entry point.

  The shape of `c:Ecto.Adapter.Structure.structure_load/2`: `config` is the repo's
  configuration, which may also carry the `:strict_settings` and `:log` options.

      StructureLoader.structure_load("priv/repo", MyApp.Repo.config())
      #=> {:ok, "priv/repo/structure.sql"}
  """
  @spec structure_load(Path.t(), keyword()) :: {:ok, Path.t()} | {:error, Error.t()}
  def structure_load(default_dir, config) when is_list(config) do
    {path, origin} =
      case config[:dump_path] do
        nil -> {Path.join(default_dir, "structure.sql"), "structure.sql in the directory given"}
        path -> {path, "given as :dump_path"}
      end

    log = log_level!(Keyword.get(config, :log, :info))

    with {:ok, connection} <- Config.new(config),
         :ok <- ensure_exists(path, origin),
         {:ok, _summary} <- run_load(path, connection, load_options(config, nil), log) do
      {:ok, path}
    end
  end

  @doc """
  Loads the repo's structure dump unless its migrations table already exists.

  In one transaction it takes a transaction-scoped advisory lock derived from the migrations
  table name, checks for the table (`:migration_source`, default `"schema_migrations"`, in
  `:migration_default_prefix`, else `current_schema()`) and loads the file if the table is
  absent. Several nodes calling this at once against an empty database: one loads, the
  others wait for its commit and return `{:ok, :already_loaded}`. It keeps no session
  state, so it also works through a transaction-pooling proxy.

  The file is `:dump_path` if given, else where Ecto keeps it in a release:
  `Application.app_dir(otp_app, priv)` + `"/structure.sql"`, with `otp_app` from the repo
  config's `:otp_app` (or the application the repo module belongs to) and `priv` from
  `:priv`, else `"priv/"` + the underscored last part of the repo name (`MyApp.Repo` ->
  `"priv/repo"`). A keyword list without a repo needs `:dump_path` or `:otp_app` (its
  default `priv` is `"priv/repo"`). The file must exist, even when the table does: a release
  built without it is an error, not a silent skip.

  `opts` are the options in the module documentation; they override the same keys of the
  repo configuration, and may override connection settings too.

      StructureLoader.load(MyApp.Repo)
      #=> {:ok, :loaded, "/app/lib/my_app-0.1.0/priv/repo/structure.sql"}
      StructureLoader.load(MyApp.Repo)
      #=> {:ok, :already_loaded}
  """
  @spec load(repo_or_config(), keyword()) ::
          {:ok, :loaded, Path.t()} | {:ok, :already_loaded} | {:error, Error.t()}
  def load(repo_or_config, opts \\ []) do
    {repo, repo_config} = repo_config(repo_or_config)
    config = Keyword.merge(repo_config, Keyword.drop(opts, [:log, :strict_settings, :timeout]))
    log = log_level!(Keyword.get(opts, :log, :info))
    {path, origin} = dump_path(repo, config)

    table = to_string(config[:migration_source] || "schema_migrations")
    schema = config[:migration_default_prefix] && to_string(config[:migration_default_prefix])

    options =
      opts
      |> load_options(%{schema: schema, table: table})
      |> Map.put(:timeout_ms, timeout!(Keyword.get(opts, :timeout, :infinity)))

    with {:ok, connection} <- Config.new(config),
         :ok <- ensure_exists(path, origin),
         {:ok, summary} <- run_load(path, connection, options, log) do
      if summary.loaded do
        {:ok, :loaded, path}
      else
        qualified = if schema, do: "#{schema}.#{table}", else: table
        log(log, fn -> "structure already loaded (#{qualified} exists), skipped #{path}" end)
        {:ok, :already_loaded}
      end
    end
  end

  @doc """
  Like `load/2`, but returns `:loaded` or `:already_loaded` and raises
  `StructureLoader.Error` on failure.

      StructureLoader.load!(MyApp.Repo)
      #=> :loaded
  """
  @spec load!(repo_or_config(), keyword()) :: :loaded | :already_loaded
  def load!(repo_or_config, opts \\ []) do
    case load(repo_or_config, opts) do
      {:ok, :loaded, _path} -> :loaded
      {:ok, :already_loaded} -> :already_loaded
      {:error, error} -> raise error
    end
  end

  @doc """
  Tells whether the table (or view) exists. For a plain name it gives the same answer as
  `Ecto.Adapters.SQL.table_exists?/3`: it looks in `current_schema()`. It also looks in the
  schema given as `prefix: "schema"` or in the name as `"schema.table"`, where Ecto ignores
  `prefix:` and takes the whole string as the name of a table in `current_schema()`.

  Names are compared exactly as written, without case folding (`"Users"` is the table created
  as `"Users"`, not `users`), like Ecto. A dot separates the schema from the table; a part in
  double quotes is taken literally, so it may hold dots, with `""` for a double quote:
  `~s("my.schema"."odd""name")` is the table `odd"name` in the schema `my.schema`.

  Raises `StructureLoader.Error` when the database cannot be queried, for instance when it
  cannot connect, and `ArgumentError` for a malformed name.

      StructureLoader.table_exists?(MyApp.Repo, "schema_migrations")
      #=> true
      StructureLoader.table_exists?(MyApp.Repo, "audit.events")
      #=> false
  """
  @spec table_exists?(repo_or_config(), String.t(), keyword()) :: boolean()
  def table_exists?(repo_or_config, table, opts \\ []) when is_binary(table) do
    {_repo, config} = repo_config(repo_or_config)

    {schema, table} =
      case {TableName.parse(table), opts[:prefix]} do
        {{schema, table}, nil} ->
          {schema, table}

        {{nil, table}, prefix} ->
          {to_string(prefix), table}

        {{_schema, _table}, _prefix} ->
          raise ArgumentError, "#{table} names a schema and so does :prefix"
      end

    with {:ok, connection} <- Config.new(config),
         {:ok, exists} <- Native.table_exists(Config.to_native(connection), schema, table) do
      exists
    else
      {:error, %Error{} = error} -> raise error
      {:error, error} -> raise Error.from_native(error)
    end
  end

  @doc """
  Reads and splits a dump without any database, and reports what a load would send.

  The summary counts the SQL statements (COPY statements included), the COPY blocks and
  their rows, and the meta-commands; `pg_dump_version` comes from the header comment
  (`-- Dumped by pg_dump version 15.18`) when there is one. The errors are those of a load
  found before anything is sent: `:file`, `:parse` and `:meta_command`.

      StructureLoader.check("priv/repo/structure.sql")
      #=> {:ok, %{statements: 412, copy_blocks: 0, copy_rows: 0, meta_commands: 2,
      #=>         pg_dump_version: "15.18 (Debian 15.18-0+deb12u1)"}}
  """
  @spec check(Path.t()) :: {:ok, check_summary()} | {:error, Error.t()}
  def check(path) do
    case Native.check(path) do
      {:ok, summary} -> {:ok, summary}
      {:error, error} -> {:error, Error.from_native(error)}
    end
  end

  defp repo_config(config) when is_list(config), do: {nil, config}

  defp repo_config(repo) when is_atom(repo) do
    if Code.ensure_loaded?(repo) and function_exported?(repo, :config, 0) do
      {repo, repo.config()}
    else
      raise ArgumentError,
            "expected a repo module exporting config/0 or a keyword list, got: #{inspect(repo)}"
    end
  end

  defp dump_path(repo, config) do
    otp_app = config[:otp_app] || (repo && Application.get_application(repo))

    cond do
      path = config[:dump_path] ->
        {path, "given as :dump_path"}

      otp_app ->
        priv = config[:priv] || "priv/" <> repo_directory(repo)
        path = otp_app |> Application.app_dir(priv) |> Path.join("structure.sql")

        {path,
         "the repo's structure dump: Application.app_dir(#{inspect(otp_app)}, #{inspect(priv)}) " <>
           "<> \"/structure.sql\". Was it built without #{priv}/structure.sql? " <>
           "`mix ecto.dump` writes it there, and `mix release` copies it only if it is there " <>
           "at build time; or pass :dump_path"}

      true ->
        raise ArgumentError,
              "cannot tell which structure.sql to load: give :dump_path, or :otp_app " <>
                "(and :priv, default \"priv/repo\")"
    end
  end

  defp repo_directory(nil), do: "repo"
  defp repo_directory(repo), do: repo |> Module.split() |> List.last() |> Macro.underscore()

  # The NIF reports a missing file too, but only here is it known why this path was chosen.
  # Any other problem (a directory, no permission, a symlink loop) the NIF reports as it
  # opens the file.
  defp ensure_exists(path, origin) do
    case File.stat(path) do
      {:ok, _} ->
        :ok

      {:error, reason} when reason in [:enoent, :enotdir] ->
        {:error, %Error{reason: :file, path: path, message: "no such file (#{origin})"}}

      {:error, _} ->
        :ok
    end
  end

  defp load_options(opts, if_absent) do
    %{
      strict_settings: Keyword.get(opts, :strict_settings, false) == true,
      if_absent: if_absent,
      timeout_ms: nil
    }
  end

  defp timeout!(:infinity), do: nil
  defp timeout!(timeout) when is_integer(timeout) and timeout > 0, do: timeout

  defp timeout!(other) do
    raise ArgumentError,
          "expected :timeout to be :infinity or a positive number of milliseconds, got: " <>
            inspect(other)
  end

  defp run_load(path, connection, options, log) do
    started = System.monotonic_time()
    native_connection = Config.to_native(connection)

    result =
      Notices.relay(path, fn notify ->
        Native.structure_load(path, native_connection, options, notify)
      end)

    case result do
      {:ok, %{loaded: true} = summary} ->
        elapsed =
          System.convert_time_unit(System.monotonic_time() - started, :native, :millisecond)

        log(log, fn -> summary_line(summary, path, elapsed) end)
        {:ok, summary}

      {:ok, summary} ->
        {:ok, summary}

      {:error, error} ->
        {:error, Error.from_native(error)}
    end
  end

  defp summary_line(summary, path, elapsed) do
    copies =
      if summary.copy_blocks > 0,
        do:
          " and #{count(summary.copy_blocks, "COPY block")} (#{count(summary.copy_rows, "row")})",
        else: ""

    "loaded #{count(summary.statements, "statement")}#{copies} from #{path} in #{elapsed} ms"
  end

  defp count(1, noun), do: "1 #{noun}"

  defp count(number, noun) do
    digits =
      number
      |> Integer.to_string()
      |> String.reverse()
      |> String.graphemes()
      |> Enum.chunk_every(3)
      |> Enum.join(",")
      |> String.reverse()

    "#{digits} #{noun}s"
  end

  defp log_level!(false), do: false
  defp log_level!(:warn), do: :warning
  defp log_level!(level) when level in @log_levels, do: level

  defp log_level!(other) do
    raise ArgumentError, "expected :log to be false or a Logger level, got: #{inspect(other)}"
  end

  defp log(false, _message), do: :ok
  defp log(level, message), do: Logger.log(level, message)
end
