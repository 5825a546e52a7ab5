defmodule StructureLoader.Release do
  @moduledoc """
  The release command of an app whose repos start from a `structure.sql`: for every repo,
  load the structure where its migrations table is absent, then run the newer migrations.

      defmodule MyApp.Release do
        def migrate, do: StructureLoader.Release.migrate!(:my_app)
      end

  run as the platform's release command: `bin/my_app eval "MyApp.Release.migrate()"`.

  For each repo of the app's `:ecto_repos`, in order, `migrate/2` does what this does:

      {:ok, _, _} =
        Ecto.Migrator.with_repo(repo, fn repo ->
          StructureLoader.load!(repo)   # only if schema_migrations is absent, under a lock
          Ecto.Migrator.run(repo, :up, all: true)
        end)

  Ecto is not a dependency of StructureLoader: the migrations run when `Ecto.Migrator` is
  there (ecto_sql is in the release), and with `migrate: true`, the default. Without it,
  each repo's structure is loaded and nothing else.
  """

  alias StructureLoader.{Error, Options, Summary}

  @compile {:no_warn_undefined, Ecto.Migrator}

  @doc """
  Loads each repo's structure where needed and migrates it, stopping at the first repo that
  fails. Returns the summary of each repo's load, in order.

  Options:

    * `:repos` - the repos, in order (default: the app's `:ecto_repos`)
    * `:migrate` - run `Ecto.Migrator.run(repo, :up, all: true)` after the load, when
      `Ecto.Migrator` is loaded (default `true`)
    * `:skip_if_missing` - a repo without a structure file is not an error: its load is
      `status: :skipped` and its migrations still run (a repo with migrations only)
    * `:strict`, `:no_owner`, `:no_privileges`, `:no_comments`, `:timeout`, `:log`,
      `:progress` - passed to each `StructureLoader.load/2`, as are connection keys

  A failing migration raises, as `Ecto.Migrator.run/3` does.

      {:ok, [%StructureLoader.Summary{repo: MyApp.Repo, status: :loaded},
             %StructureLoader.Summary{repo: MyApp.OtherRepo, status: :loaded}]} =
        StructureLoader.Release.migrate(:my_app)

      {:ok, [%StructureLoader.Summary{status: :already_loaded} | _]} =
        StructureLoader.Release.migrate(:my_app, repos: [MyApp.Repo], timeout: 600_000)
  """
  @spec migrate(atom(), keyword()) :: {:ok, [Summary.t()]} | {:error, Error.t()}
  def migrate(otp_app, opts \\ []) when is_atom(otp_app) do
    {options, load_opts} = Options.split_release!(opts)
    # Checked once, before the first repo is touched.
    Options.split!(load_opts, :load)
    Application.load(otp_app)
    repos = options.repos || Application.fetch_env!(otp_app, :ecto_repos)
    migrate? = options.migrate and Code.ensure_loaded?(Ecto.Migrator)

    Enum.reduce_while(repos, {:ok, []}, fn repo, {:ok, summaries} ->
      case migrate_repo(repo, load_opts, migrate?) do
        {:ok, summary} -> {:cont, {:ok, summaries ++ [summary]}}
        {:error, _} = error -> {:halt, error}
      end
    end)
  end

  @doc """
  Like `migrate/2`, but returns the summaries and raises `StructureLoader.Error` on failure.

      defmodule MyApp.Release do
        def migrate, do: StructureLoader.Release.migrate!(:my_app)
      end
  """
  @spec migrate!(atom(), keyword()) :: [Summary.t()]
  def migrate!(otp_app, opts \\ []) do
    case migrate(otp_app, opts) do
      {:ok, summaries} -> summaries
      {:error, error} -> raise error
    end
  end

  defp migrate_repo(repo, load_opts, false), do: StructureLoader.load(repo, load_opts)

  defp migrate_repo(repo, load_opts, true) do
    run = fn repo ->
      with {:ok, _summary} = loaded <- StructureLoader.load(repo, load_opts) do
        Ecto.Migrator.run(repo, :up, all: true)
        loaded
      end
    end

    case Ecto.Migrator.with_repo(repo, run) do
      {:ok, result, _started} ->
        result

      {:error, reason} ->
        raise "Ecto.Migrator.with_repo/2 could not start #{inspect(repo)}: #{inspect(reason)}"
    end
  end
end
