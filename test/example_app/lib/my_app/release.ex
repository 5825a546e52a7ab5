defmodule MyApp.Release do
  @moduledoc """
  Tasks run from the release, where neither mix nor psql is installed:

      bin/my_app eval "MyApp.Release.migrate()"

  A real application would wrap each load in `Ecto.Migrator.with_repo/3` and run
  `Ecto.Migrator.run(repo, :up, all: true)` after it, so that the migrations newer than
  `structure.sql` are applied on top of it.
  """

  require Logger

  @app :my_app

  @doc """
  Loads `priv/repo/structure.sql` into every repo's database that does not hold the
  schema yet. Safe to run on every deploy, and from several nodes at once: exactly one
  of them loads the file. Raises, so that the command exits non-zero, when a load fails.
  """
  @spec migrate() :: :ok
  def migrate do
    load_app()

    for repo <- repos() do
      case StructureLoader.load(repo) do
        {:ok, :loaded, path} ->
          Logger.info("#{inspect(repo)}: loaded the database structure from #{path}")

        {:ok, :already_loaded} ->
          Logger.info("#{inspect(repo)}: the database structure is already loaded, nothing to do")

        {:error, error} ->
          Logger.error("#{inspect(repo)}: loading the database structure failed")
          Logger.flush()
          raise error
      end
    end

    Logger.flush()
  end

  defp repos do
    Application.fetch_env!(@app, :ecto_repos)
  end

  # `eval` boots a bare VM: load the app for its configuration and start the loader's
  # applications, as `Ecto.Migrator.with_repo/3` starts the repo's.
  defp load_app do
    Application.load(@app)
    {:ok, _} = Application.ensure_all_started(:structure_loader)
  end
end
