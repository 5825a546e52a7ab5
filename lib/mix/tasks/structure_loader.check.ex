defmodule Mix.Tasks.StructureLoader.Check do
  @shortdoc "Reports what loading a structure file would send, without a database"

  @moduledoc """
  Splits a structure file as a load would, without any database, and reports what it
  holds: statements, COPY blocks and rows, meta-commands, the pg_dump version, and whatever
  else `StructureLoader.check/1` reports. A file that cannot be loaded (an unterminated
  quote, a refused meta-command such as `\\!`, invalid bytes, a custom-format dump) fails
  with its file, line and column and exit status 1, so CI can run it on every commit.

  Without FILE, it checks the structure file of each repo, found as
  `mix structure_loader.load` finds it (`-r` repeatable, default the app's `:ecto_repos`).

  ## Examples

      $ mix structure_loader.check
      $ mix structure_loader.check priv/repo/structure.sql
      priv/repo/structure.sql
        statements: 412
        copy_blocks: 0
        copy_rows: 0
        meta_commands: 2
        pg_dump_version: "15.18 (Debian 15.18-0+deb12u1)"

  ## Command line options

    * `-r`, `--repo` - the repo whose structure file to check (repeatable), without FILE
    * `--no-compile` - does not compile applications first
    * `--no-deps-check` - does not check dependencies first
    * `--no-owner`, `--no-privileges`, `--no-comments` - report what these filters of
      `mix structure_loader.load` would leave out
  """

  use Mix.Task

  @filters [no_owner: :boolean, no_privileges: :boolean, no_comments: :boolean]

  @switches [repo: [:string, :keep], no_compile: :boolean, no_deps_check: :boolean] ++ @filters

  # The counts come first, in this order; anything else check/1 reports follows by name.
  @first [:statements, :copy_blocks, :copy_rows, :meta_commands, :pg_dump_version]

  @impl Mix.Task
  def run(args) do
    {opts, files} = OptionParser.parse!(args, strict: @switches, aliases: [r: :repo])
    filters = Keyword.take(opts, Keyword.keys(@filters))

    paths =
      case files do
        [] ->
          Mix.Task.run("app.config", args)

          for repo <- Mix.StructureLoader.repos(args) do
            repo |> Mix.StructureLoader.ensure_repo!() |> Mix.StructureLoader.structure_path()
          end

        files ->
          Mix.Task.run(if("--no-compile" in args, do: "loadpaths", else: "compile"), args)
          files
      end

    Enum.each(paths, &check(&1, filters))
  end

  defp check(path, filters) do
    case StructureLoader.check(path, filters) do
      {:ok, summary} ->
        keys = Enum.filter(@first, &Map.has_key?(summary, &1))
        keys = keys ++ Enum.sort(Map.keys(summary) -- keys)
        Mix.shell().info([path | Enum.map(keys, &"\n  #{&1}: #{inspect(summary[&1])}")])

      {:error, error} ->
        Mix.raise(Exception.message(error))
    end
  end
end
