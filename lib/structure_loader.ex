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
    * on a managed server, where the load runs as the application's role (not a
      superuser), a `COMMENT ON EXTENSION` of an extension an administrator created is
      skipped with a warning, and every extension the role cannot create is listed in one
      error before anything is sent, with the statements an administrator must run
    * pg_restore's filters work on plain-format dumps: `no_owner: true`,
      `no_privileges: true`, `no_comments: true`
    * `load/2` loads at most once, even when several nodes boot at the same time

  ## In a release

  `load/2` is the entry point for a release: it loads the repo's `structure.sql` unless the
  migrations table already exists, so it belongs right before the migrations run.
  `StructureLoader.Release.migrate!/2` does both for every repo of an app:

      defmodule MyApp.Release do
        def migrate, do: StructureLoader.Release.migrate!(:my_app)
      end

  which is, written out:

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

  `structure_load/3` has the shape of `c:Ecto.Adapter.Structure.structure_load/2` and always
  loads, for code that calls the adapter callback.

  ## Connection settings

  Every function taking `repo_or_config` accepts an Ecto repo module (any module exporting
  `config/0`, whose result is read) or the keyword list itself. StructureLoader connects
  where and as whom the repo connects: the keys are Ecto's, Postgrex's and DBConnection's
  (`:url`, `:hostname`, `:endpoints`, `:socket_dir`, `:username`, `:password`, `:database`,
  `:ssl`, `:parameters`, `:after_connect`, `:configure`, ...), with the same `PG*`
  environment defaults; see `StructureLoader.Config`. A key it cannot honour is an
  `ArgumentError`, never silently ignored.

  The options of each function may also give connection keys, which win over the repo's
  (its URL included). Within one keyword list, the `:url` wins over the keys beside it, as
  Ecto merges it; an Ecto repo's `config/0` has merged it already.

  ## Options

  Unknown options and values of the wrong type are `ArgumentError`s.

  | Option                      | Default              | Meaning                                                    |
  | --------------------------- | -------------------- | ---------------------------------------------------------- |
  | `:dump_path`                | see `load/2`         | the file to load                                           |
  | `:priv`                     | `"priv/repo"` for `MyApp.Repo` | the repo's priv directory inside its OTP app (`load/2`) |
  | `:otp_app`                  | the repo's           | the OTP app whose priv directory holds the file (`load/2`) |
  | `:migration_source`         | `"schema_migrations"`| the table whose presence means "already loaded" (`load/2`) |
  | `:migration_default_prefix` | `current_schema()`   | the schema of that table (`load/2`)                        |
  | `:strict`                   | `false`              | psql's behaviour wherever StructureLoader deliberately differs, see below |
  | `:no_owner`                 | `false`              | leave out `ALTER ... OWNER TO`, `SET ROLE`, `SET SESSION AUTHORIZATION` (pg_restore's `--no-owner`) |
  | `:no_privileges`            | `false`              | leave out `GRANT`, `REVOKE`, `ALTER DEFAULT PRIVILEGES` (`--no-privileges`) |
  | `:no_comments`              | `false`              | leave out `COMMENT ON` (`--no-comments`) |
  | `:timeout`                  | `:infinity`          | ms for the whole load, see below                           |
  | `:log`                      | `:info`              | Logger level of the summary line, or `false` (`load/2`)    |
  | `:skip_if_missing`          | `false`              | a missing file is not an error: `status: :skipped` (`load/2`) |
  | `:progress`                 | `nil`                | a function called with a `StructureLoader.Progress` about once a second while the file is sent |

  `:dump_path`, `:priv`, `:otp_app`, `:migration_source` and `:migration_default_prefix` are
  read from the repo configuration too, as Ecto keeps them there; the options win. The others
  come from the options only: a repo's `:log` and `:timeout` are Ecto's query log level and
  per-query limit, not the load's.

  `strict: true` restores psql's behaviour wherever StructureLoader deliberately differs
  from it: a preamble setting the server does not know is sent (and fails), a
  `COMMENT ON EXTENSION` the role may not run is sent (and fails), and the extensions the
  dump creates are not checked before the load (the first one the role cannot create fails
  at its statement).

  `:no_owner`, `:no_privileges` and `:no_comments` leave statements out as pg_restore's
  options of the same names do; each one left out is logged as a warning with its line and
  counted in the summary's `left_out`. With `no_owner: true` everything is owned by the
  role the load runs as.

  ## Time limit, cancellation and failures

  `:timeout` in milliseconds (default `:infinity`, as psql and `Ecto.Migrator` have no limit
  either) bounds the whole load: connecting, waiting for the advisory lock while another
  node loads, splitting the file, every statement, and COPY. When it expires, nothing more
  is sent, the statement running on the server is cancelled with a cancel request (sent
  again until it takes effect), the transaction is rolled back, and the result is
  `{:error, %StructureLoader.Error{reason: :timeout}}` located at the statement that was
  running.

  If the process that called the load exits (it is killed, or it was linked to a process
  that crashed), the load is cancelled the same way within moments, so no orphaned server
  work keeps holding locks. The load runs in a NIF on a dirty scheduler, which no exit
  signal can interrupt, so the NIF has the VM monitor the caller on its behalf (a resource
  with a `down` callback): when the caller goes down, the VM calls into the NIF, which
  triggers the cancellation from that moment on.

  Whatever goes wrong before `COMMIT` is sent (a statement fails, the connection or the
  server dies, the time limit expires, the caller exits), the file's changes are rolled
  back as one transaction and the VM keeps running; a panic in the native code comes back
  as an `:internal` error. A `COMMIT` already sent is never cancelled: its answer decides.
  If that answer never comes, the error is `:commit_unknown`: the load may be committed,
  and `load/2` again tells which, loading only if the migrations table is absent.

  ## Logging

  `load/2` logs one line at the `:log` level, naming the repo as `mix ecto.load` does:

      The structure for MyApp.Repo has been loaded from priv/repo/structure.sql in 812 ms (2,417 statements, 3 COPY blocks with 15,600 rows)
      The structure for MyApp.Repo is already loaded (schema_migrations exists): priv/repo/structure.sql was not loaded

  A load that takes longer than 5 seconds also logs, at the `:log` level, where it is every 5
  seconds: statements and bytes done of the total, COPY rows, the file line, the rate and the
  estimated time left (see `StructureLoader.Progress`). A load that ends sooner logs only its
  summary.

  The server's notices are logged as they arrive, whatever `:log` says, at the level matching
  their severity (`WARNING` as `:warning`, `NOTICE` and `INFO` as `:info`, `DEBUG` and `LOG`
  as `:debug`), prefixed with the file and line of the statement that raised them. Nothing
  logged ever holds a password.

  ## Telemetry

  When the `:telemetry` application is running, `load/2` and `structure_load/3` run in a
  `:telemetry.span/3` named `[:structure_loader, :load]`:

    * `[:structure_loader, :load, :start]` - measurements `monotonic_time`, `system_time`;
      metadata `repo` (`nil` for a keyword list, and for `structure_load/3`) and `path`
    * `[:structure_loader, :load, :stop]` - measurements `duration`, `monotonic_time`;
      metadata `repo`, `path`, `status` (`:loaded`, `:already_loaded`, `:skipped`, or
      `:error` for an `{:error, _}` result), `statements`, `copy_blocks`, `copy_rows`,
      `meta_commands`, `skipped_settings`, `skipped_extension_comments`, `left_out`, and
      `error` (the `StructureLoader.Error`, else `nil`)
    * `[:structure_loader, :load, :exception]` - when something raises during the load
      (a `:progress` function, say): `kind`, `reason`, `stacktrace`

  Without `:telemetry` nothing is emitted: StructureLoader depends on nothing.

      :telemetry.attach("log-structure-loads", [:structure_loader, :load, :stop],
        fn _event, %{duration: duration}, %{repo: repo, status: status}, _config ->
          ms = System.convert_time_unit(duration, :native, :millisecond)
          IO.puts("\#{inspect(repo)}: \#{status} in \#{ms} ms")
        end, nil)
  """

  require Logger

  alias StructureLoader.{Config, Error, Native, Notices, Options, Progress, Summary, TableName}
  alias StructureLoader.Telemetry

  @typedoc "An Ecto repo module (anything exporting `config/0`) or its keyword list."
  @type repo_or_config :: module() | keyword()

  @typedoc "What `check/2` found in a dump."
  @type check_summary :: %{
          statements: non_neg_integer(),
          copy_blocks: non_neg_integer(),
          copy_rows: non_neg_integer(),
          meta_commands: non_neg_integer(),
          pg_dump_version: String.t() | nil,
          extensions: [String.t()],
          left_out: Summary.left_out()
        }

  @doc """
  Loads `opts[:dump_path]`, `config[:dump_path]`, or `structure.sql` in `default_dir`,
  into the database that `config` names. Always loads; see `load/2` for the load-once entry
  point. Logs nothing of its own but the server's notices, as Ecto's adapter callback.

  The shape of `c:Ecto.Adapter.Structure.structure_load/2`, with options:
  `:dump_path`, `:strict`, `:no_owner`, `:no_privileges`, `:no_comments`, `:timeout`, and
  connection keys.

      StructureLoader.structure_load("priv/repo", MyApp.Repo.config())
      #=> {:ok, "priv/repo/structure.sql"}
  """
  @spec structure_load(Path.t(), keyword(), keyword()) :: {:ok, Path.t()} | {:error, Error.t()}
  def structure_load(default_dir, config, opts \\ []) when is_list(config) do
    {options, overrides} = Options.split!(opts, :structure_load)
    options = Options.with_repo_config(options, config)

    {path, origin} =
      case options.dump_path do
        nil -> {Path.join(default_dir, "structure.sql"), "structure.sql in the directory given"}
        path -> {path, "given as :dump_path"}
      end

    {:ok, connection} = Config.new(Keyword.merge(config, overrides))
    progress = Progress.tracker(nil, path, false, options.progress)

    result =
      Telemetry.span(%{repo: nil, path: path}, fn ->
        with :ok <- ensure_exists(path, origin),
             {:ok, loaded} <-
               run_load(path, connection, native_options(options, nil), progress) do
          {:ok, summary(%Summary{path: path}, loaded)}
        end
      end)

    with {:ok, _summary} <- result, do: {:ok, path}
  end

  @doc """
  Loads the repo's structure dump unless its migrations table already exists.

  In one transaction it takes a transaction-scoped advisory lock derived from the migrations
  table name, checks for the table (`:migration_source`, default `"schema_migrations"`, in
  `:migration_default_prefix`, else `current_schema()`) and loads the file if the table is
  absent. Several nodes calling this at once against an empty database: one loads, the
  others wait for its commit and return `status: :already_loaded`. It keeps no session
  state, so it also works through a transaction-pooling proxy.

  The file is `:dump_path` if given, else where Ecto keeps it in a release:
  `Application.app_dir(otp_app, priv)` + `"/structure.sql"`, with `otp_app` from
  `:otp_app` (or the application the repo module belongs to) and `priv` from `:priv`, else
  `"priv/"` + the underscored last part of the repo name (`MyApp.Repo` -> `"priv/repo"`). A
  keyword list without a repo needs `:dump_path` or `:otp_app` (its default `priv` is
  `"priv/repo"`). The file must exist, even when the table does: a release built without it
  is an error, not a silent skip, unless `skip_if_missing: true` (a repo that has only
  migrations, in a loop over `:ecto_repos`).

  A repo whose `:migration_repo` (ecto_sql's) is another repo keeps its migrations table
  there: that repo must reach the same database, since the check happens inside the
  loading transaction.

      {:ok, %StructureLoader.Summary{status: :loaded, statements: 412}} =
        StructureLoader.load(MyApp.Repo)

      {:ok, %StructureLoader.Summary{status: :already_loaded}} = StructureLoader.load(MyApp.Repo)
  """
  @spec load(repo_or_config(), keyword()) :: {:ok, Summary.t()} | {:error, Error.t()}
  def load(repo_or_config, opts \\ []) do
    started = System.monotonic_time()
    {repo, repo_config} = repo_config(repo_or_config)
    {options, overrides} = Options.split!(opts, :load)
    options = Options.with_repo_config(options, repo_config)
    config = Keyword.merge(repo_config, overrides)
    {path, origin} = dump_path(repo, config, options)
    {:ok, connection} = Config.new(config)
    table = migrations_table!(repo, config, connection, options)
    summary = %Summary{repo: repo, path: path}
    progress = Progress.tracker(repo, path, options.log, options.progress)

    Telemetry.span(%{repo: repo, path: path}, fn ->
      result =
        case ensure_exists(path, origin) do
          {:error, %Error{reason: :file}} when options.skip_if_missing ->
            {:ok, %{summary | status: :skipped}}

          {:error, _} = error ->
            error

          :ok ->
            with {:ok, loaded} <-
                   run_load(path, connection, native_options(options, table), progress) do
              {:ok, summary(summary, loaded)}
            end
        end

      with {:ok, summary} <- result do
        summary = %{summary | duration_ms: elapsed_ms(started)}
        log_summary(options.log, summary, table)
        {:ok, summary}
      end
    end)
  end

  # Every figure of the NIF's summary that Summary has a field for.
  defp summary(summary, loaded) do
    figures = Map.take(loaded, Map.keys(Map.from_struct(summary)) -- [:repo, :path, :status])
    status = if loaded.loaded, do: :loaded, else: :already_loaded
    struct!(summary, Map.put(figures, :status, status))
  end

  @doc """
  Like `load/2`, but returns the `StructureLoader.Summary` and raises
  `StructureLoader.Error` on failure.

      %StructureLoader.Summary{status: :loaded} = StructureLoader.load!(MyApp.Repo)
  """
  @spec load!(repo_or_config(), keyword()) :: Summary.t()
  def load!(repo_or_config, opts \\ []) do
    case load(repo_or_config, opts) do
      {:ok, summary} -> summary
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

  `opts` take `:prefix` and connection keys. Raises `StructureLoader.Error` when the
  database cannot be queried, for instance when it cannot connect, and `ArgumentError` for a
  malformed name or option.

      StructureLoader.table_exists?(MyApp.Repo, "schema_migrations")
      #=> true
      StructureLoader.table_exists?(MyApp.Repo, "audit.events")
      #=> false
  """
  @spec table_exists?(repo_or_config(), String.t(), keyword()) :: boolean()
  def table_exists?(repo_or_config, table, opts \\ []) when is_binary(table) do
    {_repo, config} = repo_config(repo_or_config)
    {options, overrides} = Options.split!(opts, :table_exists)

    {schema, table} =
      case {TableName.parse(table), options.prefix} do
        {{schema, table}, nil} ->
          {schema, table}

        {{nil, table}, prefix} ->
          {prefix, table}

        {{_schema, _table}, _prefix} ->
          raise ArgumentError, "#{table} names a schema and so does :prefix"
      end

    {:ok, connection} = Config.new(Keyword.merge(config, overrides))

    case native(fn -> Native.table_exists(Config.to_native(connection), schema, table) end) do
      {:ok, exists} -> exists
      {:error, error} -> raise error
    end
  end

  @doc """
  Reads and splits a dump without any database, and reports what a load would send.

  The summary counts the SQL statements (COPY statements included, and those a load leaves
  out), the COPY blocks and their rows, and the meta-commands; `pg_dump_version` comes from
  the header comment (`-- Dumped by pg_dump version 15.18`) when there is one;
  `extensions` names the extensions the dump creates, in file order: on a managed server,
  those an administrator may have to create first. `left_out` counts the statements the
  options `:no_owner`, `:no_privileges` and `:no_comments` would leave out, as a load with
  the same options does. The errors are those of a load found before anything is sent:
  `:file`, `:parse` and `:meta_command`.

      StructureLoader.check("priv/repo/structure.sql", no_owner: true)
      #=> {:ok, %{statements: 412, copy_blocks: 0, copy_rows: 0, meta_commands: 2,
      #=>         pg_dump_version: "15.18 (Debian 15.18-0+deb12u1)",
      #=>         extensions: ["citext", "pg_trgm"],
      #=>         left_out: %{owner: 57, privileges: 0, comments: 0}}}
  """
  @spec check(Path.t(), keyword()) :: {:ok, check_summary()} | {:error, Error.t()}
  def check(path, opts \\ []) do
    {options, []} = Options.split!(opts, :check)
    native(fn -> Native.check(path, options) end)
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

  defp dump_path(repo, config, options) do
    otp_app = options.otp_app || config[:otp_app] || (repo && Application.get_application(repo))

    cond do
      path = options.dump_path ->
        {path, "given as :dump_path"}

      otp_app ->
        priv = options.priv || default_priv(repo)
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

  @doc false
  # Ecto's priv directory of a repo that sets no :priv, relative to its app: "priv/repo" for
  # MyApp.Repo (and for a keyword list). The Mix tasks find the file in the source tree by it.
  @spec default_priv(module() | nil) :: String.t()
  def default_priv(nil), do: "priv/repo"

  def default_priv(repo),
    do: "priv/" <> (repo |> Module.split() |> List.last() |> Macro.underscore())

  # The migrations table, as ecto_sql's get_repo_and_source/2 finds it: named by the repo's
  # configuration, kept in its :migration_repo.
  defp migrations_table!(repo, config, connection, options) do
    case config[:migration_repo] do
      migration_repo when migration_repo in [nil, repo] ->
        :ok

      migration_repo ->
        {_, migration_config} = repo_config(migration_repo)
        {:ok, migration_connection} = Config.new(migration_config)

        unless Config.same_database?(connection, migration_connection) do
          raise ArgumentError,
                "#{inspect(repo)}'s :migration_repo #{inspect(migration_repo)} reaches another " <>
                  "database: StructureLoader decides whether to load inside the loading " <>
                  "transaction, so the migrations table must be in the database it loads into"
        end
    end

    %{
      schema: options.migration_default_prefix,
      table: options.migration_source || "schema_migrations"
    }
  end

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

  defp native_options(options, table) do
    %{
      strict: options.strict,
      no_owner: options.no_owner,
      no_privileges: options.no_privileges,
      no_comments: options.no_comments,
      if_absent: table,
      timeout_ms: if(options.timeout == :infinity, do: nil, else: options.timeout)
    }
  end

  defp run_load(path, connection, options, progress) do
    native_connection = Config.to_native(connection)

    native(fn ->
      Notices.relay(path, progress, fn notify ->
        Native.structure_load(path, native_connection, options, notify)
      end)
    end)
  end

  # Calls the NIF, unless it could not be loaded; its error maps become exceptions.
  defp native(call) do
    case Native.load_error() do
      nil ->
        case call.() do
          {:ok, value} -> {:ok, value}
          {:error, error} -> {:error, Error.from_native(error)}
        end

      {path, why} ->
        {:error,
         %Error{
           reason: :nif_not_loaded,
           path: path,
           message:
             "the StructureLoader NIF could not be loaded: #{why}. The release must carry " <>
               "priv/native/libstructure_loader_nif.so built for this machine's system and " <>
               "architecture: build the release where it runs (or for its Rust target)"
         }}
    end
  end

  defp log_summary(false, _summary, _table), do: :ok

  defp log_summary(level, summary, table) do
    subject =
      if summary.repo, do: "The structure for #{inspect(summary.repo)}", else: "The structure"

    Logger.log(level, fn ->
      case summary.status do
        :loaded ->
          "#{subject} has been loaded from #{summary.path} in #{summary.duration_ms} ms " <>
            "(#{counts(summary)})"

        :already_loaded ->
          qualified = if table.schema, do: "#{table.schema}.#{table.table}", else: table.table
          "#{subject} is already loaded (#{qualified} exists): #{summary.path} was not loaded"

        :skipped ->
          "#{subject} was not loaded: there is no #{summary.path} (skip_if_missing: true)"
      end
    end)
  end

  defp counts(summary) do
    copies =
      if summary.copy_blocks > 0,
        do:
          ", #{count(summary.copy_blocks, "COPY block")} with #{count(summary.copy_rows, "row")}",
        else: ""

    left_out =
      for {key, option} <- [
            owner: "no_owner",
            privileges: "no_privileges",
            comments: "no_comments"
          ],
          summary.left_out[key] > 0 do
        "#{summary.left_out[key]} by #{option}"
      end

    left_out = if left_out == [], do: "", else: "; left out: " <> Enum.join(left_out, ", ")
    count(summary.statements, "statement") <> copies <> left_out
  end

  defp count(1, noun), do: "1 #{noun}"

  defp count(number, noun), do: "#{Progress.digits(number)} #{noun}s"

  defp elapsed_ms(started) do
    System.convert_time_unit(System.monotonic_time() - started, :native, :millisecond)
  end
end
