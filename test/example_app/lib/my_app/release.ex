defmodule MyApp.Release do
  @moduledoc """
  Tasks run from the release, where neither mix nor psql is installed:

      bin/my_app eval "MyApp.Release.migrate()"
  """

  @app :my_app

  # For each repo of :ecto_repos: loads its structure.sql unless schema_migrations already
  # exists, then runs the newer migrations.
  def migrate, do: StructureLoader.Release.migrate!(@app)
end
