defmodule MyApp.Release do
  @moduledoc """
  Tasks run from the release, where neither mix nor psql is installed:

      bin/my_app eval "MyApp.Release.migrate()"
  """

  @app :my_app

  def migrate do
    Application.load(@app)

    for repo <- Application.fetch_env!(@app, :ecto_repos) do
      {:ok, _, _} =
        Ecto.Migrator.with_repo(repo, fn repo ->
          # Loads priv/repo/structure.sql unless schema_migrations already exists.
          StructureLoader.load!(repo)
          Ecto.Migrator.run(repo, :up, all: true)
        end)
    end
  end
end
