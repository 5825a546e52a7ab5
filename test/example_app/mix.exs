defmodule MyApp.MixProject do
  use Mix.Project

  def project do
    [
      app: :my_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps(),
      aliases: aliases(),
      # This app lives inside the library's test/, whose `mix test` would run its
      # *_test.exs files as its own.
      test_pattern: "*_check.exs",
      releases: [my_app: [include_executables_for: [:unix]]]
    ]
  end

  # `mix test` creates the test databases and loads each structure.sql into them once,
  # with no psql: a second run finds schema_migrations and loads nothing.
  defp aliases do
    [test: ["ecto.create --quiet", "structure_loader.load --quiet --skip-if-loaded", "test"]]
  end

  def application do
    [mod: {MyApp.Application, []}, extra_applications: [:logger]]
  end

  defp deps do
    [{:structure_loader, path: "../.."} | ecto_deps(System.get_env("STRUCTURE_LOADER_HEXDEPS"))]
  end

  # Ecto and Postgrex from the Hex registry, or, on a machine that cannot reach it, from a
  # directory holding their sources (ecto_sql, ecto, postgrex, db_connection, decimal,
  # telemetry, jason) named by STRUCTURE_LOADER_HEXDEPS.
  defp ecto_deps(nil), do: [{:ecto_sql, "~> 3.10"}, {:postgrex, ">= 0.0.0"}]

  defp ecto_deps(dir) do
    [
      {:ecto_sql, path: Path.join(dir, "ecto_sql")},
      {:postgrex, path: Path.join(dir, "postgrex"), override: true},
      {:jason, path: Path.join(dir, "jason"), override: true}
    ]
  end
end
