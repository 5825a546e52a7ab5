import Config

# As a Phoenix app's runtime.exs: each repo's database from the environment. In dev the
# URLs are optional, for `mix ecto.dump` and friends against a local server.
database_url = System.get_env("DATABASE_URL")
other_database_url = System.get_env("OTHER_DATABASE_URL")

if config_env() == :prod and (database_url == nil or other_database_url == nil) do
  raise """
  environment variables DATABASE_URL and OTHER_DATABASE_URL are missing.
  For example: ecto://USER:PASS@HOST/DATABASE
  """
end

if database_url, do: config(:my_app, MyApp.Repo, url: database_url)
if other_database_url, do: config(:my_app, MyApp.OtherRepo, url: other_database_url)
