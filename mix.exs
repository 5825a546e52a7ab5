defmodule StructureLoader.MixProject do
  use Mix.Project

  @version "0.1.0"
  # Where the repository is published; set before the first `mix hex.publish`.
  @source_url "https://example.invalid/structure_loader"

  def project do
    [
      app: :structure_loader,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: Mix.compilers() ++ [:structure_loader_nif],
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: deps(System.get_env("STRUCTURE_LOADER_HEXDEPS")),
      description:
        "Loads a pg_dump plain-format file (priv/repo/structure.sql) into PostgreSQL " <>
          "from a release, without psql.",
      package: package(),
      source_url: @source_url,
      docs: docs()
    ]
  end

  # What `mix hex.build` puts in the package: everything needed to build the NIF from source
  # on the user's machine (the Rust workspace and its lock file), and nothing built.
  defp package do
    [
      licenses: ["Apache-2.0"],
      links: %{"Source" => @source_url, "Changelog" => "#{@source_url}/blob/main/CHANGELOG.md"},
      files: ~w(lib native Cargo.toml Cargo.lock mix.exs .formatter.exs README.md LICENSE
                CHANGELOG.md docs),
      # The fuzz crate is a workspace of its own, with generated corpora; build output of
      # any nested cargo run stays out too.
      exclude_patterns: [~r{^native/structure_loader/fuzz(/|$)}, ~r{(^|/)target(/|$)}]
    ]
  end

  defp docs do
    [
      main: "readme",
      source_ref: "v#{@version}",
      extras: ["README.md", "CHANGELOG.md", "docs/psql-compatibility.md"],
      groups_for_modules: [
        API: [StructureLoader, StructureLoader.Release, StructureLoader.Summary],
        Details: [
          StructureLoader.Progress,
          StructureLoader.Error,
          StructureLoader.Config
        ]
      ]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_env), do: ["lib"]

  # The library depends on nothing. Its tests compare it with real Ecto and Postgrex, and
  # attach :telemetry handlers to its events: from the Hex registry or, on a machine that
  # cannot reach it, from a directory holding their sources (ecto_sql, ecto, postgrex,
  # db_connection, decimal, telemetry, jason) named by STRUCTURE_LOADER_HEXDEPS.
  defp deps(nil) do
    [
      {:ecto_sql, "~> 3.10", only: :test},
      {:postgrex, ">= 0.0.0", only: :test},
      {:telemetry, "~> 1.0", only: :test}
    ]
  end

  defp deps(dir) do
    [
      {:ecto_sql, path: Path.join(dir, "ecto_sql"), only: :test},
      {:postgrex, path: Path.join(dir, "postgrex"), only: :test, override: true},
      {:jason, path: Path.join(dir, "jason"), only: :test, override: true},
      {:telemetry, path: Path.join(dir, "telemetry"), only: :test, override: true}
    ]
  end
end
