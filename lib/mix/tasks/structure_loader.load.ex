defmodule Mix.Tasks.StructureLoader.Load do
  # The switches that give options of the library, listed where the options are.
  @library_switches_doc Enum.map_join(StructureLoader.Options.task_switches(), fn {key, type} ->
                          flag = key |> Atom.to_string() |> String.replace("_", "-")
                          value = if type == :integer, do: " MS", else: ""

                          "  * `--#{flag}#{value}` - the `#{inspect(key)}` option of `StructureLoader.load/2`\n"
                        end)

  @shortdoc "Loads previously dumped database structure, without psql"

  @moduledoc """
  Loads the current environment's database structure for the given repositories from their
  structure files: `mix ecto.load` without `psql`, with the same flags and messages.

  The repositories are those under `:ecto_repos` in the current app's configuration (or of
  every app of an umbrella), or those given with `-r`. Each repo's file is `--dump-path`,
  else the repo configuration's `:dump_path`, else `structure.sql` in its priv directory
  (`priv/repo` for `MyApp.Repo`), as for `mix ecto.load`.

  ## Examples

      $ mix structure_loader.load
      The structure for MyApp.Repo has been loaded from /app/priv/repo/structure.sql in 812 ms

      $ mix structure_loader.load -r MyApp.Repo --skip-if-loaded --timeout 600000

  In `mix.exs`, so that `mix test` loads the structure into a new test database once:

      defp aliases do
        [test: ["ecto.create --quiet", "structure_loader.load --quiet --skip-if-loaded", "test"]]
      end

  ## Command line options

    * `-r`, `--repo` - the repo to load the structure into (repeatable)
    * `-d`, `--dump-path` - the path of the dump file to load from
    * `-q`, `--quiet` - run the command quietly: no message, no progress lines
    * `-f`, `--force` - do not ask for confirmation when loading. Confirmation is asked only
      when the migrations table exists, or when `:start_permanent` is set to true (typically
      in production)
    * `--skip-if-loaded` - does not load the dump file if the repo has the migrations table
    * `--no-compile` - does not compile applications before loading
    * `--no-deps-check` - does not check dependencies before loading
  #{@library_switches_doc}
  ## How it loads

  With `--skip-if-loaded`, it calls `StructureLoader.load/2`: the check for the migrations
  table and the load happen in one transaction under an advisory lock, so several
  `mix test` partitions starting at once load the structure once. Otherwise it loads the
  file whatever the database holds, as `mix ecto.load` does, with
  `StructureLoader.structure_load/3`, after asking for confirmation if the migrations table
  exists.

  A load running longer than 5 seconds prints where it is every 5 seconds (see
  `StructureLoader.Progress`). On failure, the task exits with status 1 and prints the
  error with its file, line and column; nothing of the file stays in the database.
  """

  use Mix.Task

  require Logger

  alias StructureLoader.{Options, Progress}

  @aliases [d: :dump_path, f: :force, q: :quiet, r: :repo]

  @switches [
              dump_path: :string,
              force: :boolean,
              quiet: :boolean,
              repo: [:string, :keep],
              no_compile: :boolean,
              no_deps_check: :boolean,
              skip_if_loaded: :boolean
            ] ++ Options.task_switches()

  @impl Mix.Task
  def run(args) do
    {opts, _} = OptionParser.parse!(args, strict: @switches, aliases: @aliases)
    load_opts = from_switches(opts)
    # app.config compiles (unless --no-compile) and loads the configuration, runtime.exs
    # included, as ecto's tasks do.
    Mix.Task.run("app.config", List.delete(args, "--force"))
    # The loader's own DEBUG notes (statements it does not send) are for a release's logs;
    # in a terminal, show what psql would: the server's notices and warnings.
    Logger.put_module_level(StructureLoader.Notices, :info)

    for repo <- Mix.StructureLoader.repos(args) do
      Mix.StructureLoader.ensure_repo!(repo)
      load(repo, opts, load_opts)
    end

    :ok
  end

  defp from_switches(opts) do
    Options.from_switches(opts)
  rescue
    error in ArgumentError -> Mix.raise(Exception.message(error))
  end

  defp load(repo, opts, load_opts) do
    config = repo.config()
    path = opts[:dump_path] || config[:dump_path] || Mix.StructureLoader.structure_path(repo)
    load_opts = Keyword.merge(load_opts, dump_path: path, progress: progress_printer(repo, opts))
    started = System.monotonic_time()

    result =
      if opts[:skip_if_loaded] do
        with {:ok, summary} <- StructureLoader.load(repo, [log: false] ++ load_opts) do
          {:ok, summary.status, summary.path}
        end
      else
        structure_load(repo, config, opts, load_opts)
      end

    case result do
      {:ok, :loaded, location} ->
        unless opts[:quiet] do
          elapsed =
            System.convert_time_unit(System.monotonic_time() - started, :native, :microsecond)

          Mix.shell().info(
            "The structure for #{inspect(repo)} has been loaded from #{location} in #{format_time(elapsed)}"
          )
        end

      {:ok, _already_loaded_or_declined, _location} ->
        :ok

      {:error, error} ->
        Mix.raise(
          "The structure for #{inspect(repo)} couldn't be loaded: #{Exception.message(error)}"
        )
    end
  end

  defp structure_load(repo, config, opts, load_opts) do
    source = config[:migration_source] || "schema_migrations"
    loaded? = table_exists?(repo, source)

    if (Mix.Project.config()[:start_permanent] != true and not loaded?) || opts[:force] ||
         confirm_load(repo, loaded?) do
      with {:ok, path} <-
             StructureLoader.structure_load(
               Path.dirname(load_opts[:dump_path]),
               config,
               load_opts
             ) do
        {:ok, :loaded, path}
      end
    else
      {:ok, :declined, load_opts[:dump_path]}
    end
  end

  defp table_exists?(repo, source) do
    StructureLoader.table_exists?(repo, source)
  rescue
    error in StructureLoader.Error ->
      Mix.raise(
        "The structure for #{inspect(repo)} couldn't be loaded: #{Exception.message(error)}"
      )
  end

  # mix ecto.load's questions, word for word.
  defp confirm_load(repo, false) do
    Mix.shell().yes?(
      "Are you sure you want to load a new structure for #{inspect(repo)}? Any existing data in this repo may be lost."
    )
  end

  defp confirm_load(repo, true) do
    Mix.shell().yes?("""
    It looks like a structure was already loaded for #{inspect(repo)}. Any attempt to load it again might fail.
    Are you sure you want to proceed?
    """)
  end

  # Prints a report as often as load/2 logs one; the reports come about once a second.
  # structure_load/3 is given the repo's configuration, not the repo: the lines name it.
  defp progress_printer(repo, opts) do
    if opts[:quiet] do
      nil
    else
      key = {__MODULE__, :next_progress}
      Process.put(key, System.monotonic_time(:millisecond) + Progress.log_interval_ms())

      fn progress ->
        now = System.monotonic_time(:millisecond)

        if now >= Process.get(key) do
          Process.put(key, now + Progress.log_interval_ms())
          Mix.shell().info(Progress.message(%{progress | repo: repo}))
        end
      end
    end
  end

  # mix ecto.load's.
  defp format_time(microsec) when microsec < 1_000, do: "#{microsec} μs"
  defp format_time(microsec) when microsec < 1_000_000, do: "#{div(microsec, 1_000)} ms"
  defp format_time(microsec), do: "#{Float.round(microsec / 1_000_000.0)} s"
end
