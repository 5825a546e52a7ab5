defmodule Mix.StructureLoader do
  # What the Mix tasks share with ecto's: which repos (`-r`, else `:ecto_repos` of the app
  # or of every umbrella app) and where each keeps its structure.sql in the source tree.
  # Ecto is not a dependency, so this follows Mix.Ecto and Mix.EctoSQL rather than calling
  # them.
  @moduledoc false

  @doc "The repos given with `-r`/`--repo`, else those of `:ecto_repos`."
  @spec repos([String.t()]) :: [module()]
  def repos(args), do: repos(args, [])

  defp repos([key, value | rest], acc) when key in ~w(--repo -r),
    do: repos(rest, [Module.concat([value]) | acc])

  defp repos([_ | rest], acc), do: repos(rest, acc)

  defp repos([], []) do
    apps =
      if apps_paths = Mix.Project.apps_paths() do
        Enum.filter(Mix.Project.deps_apps(), &is_map_key(apps_paths, &1))
      else
        [Mix.Project.config()[:app]]
      end

    apps
    |> Enum.flat_map(fn app ->
      Application.load(app)
      Application.get_env(app, :ecto_repos, [])
    end)
    |> Enum.uniq()
    |> case do
      [] ->
        Mix.shell().error("""
        warning: could not find Ecto repos in any of the apps: #{inspect(apps)}.

        You can avoid this warning by passing the -r flag or by setting the
        repositories managed by those applications in your config/config.exs:

            config #{inspect(hd(apps))}, ecto_repos: [...]
        """)

        []

      repos ->
        repos
    end
  end

  defp repos([], acc), do: Enum.reverse(acc)

  @doc "Raises unless `repo` is a compiled module with `config/0`."
  @spec ensure_repo!(module()) :: module()
  def ensure_repo!(repo) do
    case Code.ensure_compiled(repo) do
      {:module, _} ->
        if function_exported?(repo, :config, 0) do
          repo
        else
          Mix.raise(
            "Module #{inspect(repo)} is not an Ecto.Repo. " <>
              "Please configure your app accordingly or pass a repo with the -r option."
          )
        end

      {:error, error} ->
        Mix.raise(
          "Could not load #{inspect(repo)}, error: #{inspect(error)}. " <>
            "Please configure your app accordingly or pass a repo with the -r option."
        )
    end
  end

  @doc """
  `structure.sql` in the repo's priv directory in the source tree (of its umbrella app,
  or of a dependency), as `mix ecto.dump` writes it.
  """
  @spec structure_path(module()) :: Path.t()
  def structure_path(repo) do
    config = repo.config()
    priv = config[:priv] || StructureLoader.default_priv(repo)
    app = Keyword.fetch!(config, :otp_app)
    Path.join([Mix.Project.deps_paths()[app] || File.cwd!(), priv, "structure.sql"])
  end
end
