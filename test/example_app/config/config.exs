import Config

config :my_app, ecto_repos: [MyApp.Repo]

config :logger, :console, format: "$time [$level] $message\n"
