defmodule MyApp.MixProject do
  use Mix.Project

  def project do
    [
      app: :my_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps(),
      releases: [my_app: [include_executables_for: [:unix]]]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp deps do
    [{:structure_loader, path: "../.."}]
  end
end
