import Config

config :my_app, ecto_repos: [MyApp.Repo, MyApp.OtherRepo]

# The other repo keeps its structure.sql and migrations in priv/other_repo.
config :my_app, MyApp.OtherRepo, priv: "priv/other_repo"

config :logger, :console, format: "$time [$level] $message\n"
