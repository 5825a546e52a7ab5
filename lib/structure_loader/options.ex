defmodule StructureLoader.Options do
  @moduledoc false
  # The options of the public functions, checked the same way in each: an unknown key or a
  # value of the wrong type is an ArgumentError naming it and what is expected, before
  # anything reaches the NIF. Load options never come from the repo configuration, except
  # the ones Ecto keeps there too (:dump_path, :priv, :otp_app, :migration_source,
  # :migration_default_prefix), for which the options win.

  alias StructureLoader.Config

  @log_levels [:emergency, :alert, :critical, :error, :warning, :notice, :info, :debug]
  # Erlang's timers go no further.
  @max_timeout 4_294_967_295

  @repo_keys [:dump_path, :priv, :otp_app, :migration_source, :migration_default_prefix]

  # What StructureLoader.Release.migrate/2 cannot take for every repo at once.
  @per_repo_keys [:dump_path, :priv, :otp_app]

  @load_defaults [
    dump_path: nil,
    priv: nil,
    otp_app: nil,
    migration_source: nil,
    migration_default_prefix: nil,
    strict: false,
    no_owner: false,
    no_privileges: false,
    no_comments: false,
    timeout: :infinity,
    log: :info,
    skip_if_missing: false,
    progress: nil
  ]

  @structure_load_defaults [
    dump_path: nil,
    strict: false,
    no_owner: false,
    no_privileges: false,
    no_comments: false,
    timeout: :infinity,
    progress: nil
  ]

  @table_exists_defaults [prefix: nil]

  @check_defaults [no_owner: false, no_privileges: false, no_comments: false]

  @booleans [:strict, :no_owner, :no_privileges, :no_comments, :skip_if_missing, :migrate]

  @doc """
  Splits and checks the options of `function` (`:load`, `:structure_load`,
  `:table_exists` or `:check`): `{options, connection}`, the function's own options as a
  map with defaults, and the connection keys that override the repo configuration
  (`check/2` connects nowhere, so takes none).
  """
  @spec split!(keyword(), :load | :structure_load | :table_exists | :check) ::
          {map(), keyword()}
  def split!(opts, function) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "expected the options of #{name(function)} as a keyword list"
    end

    defaults = defaults(function)
    {own, connection} = Keyword.split(opts, Keyword.keys(defaults))
    connection_keys = if function == :check, do: [], else: Config.keys()

    case Keyword.keys(connection) -- connection_keys do
      [] ->
        :ok

      [unknown | _] when function == :check ->
        raise ArgumentError,
              "unknown option #{inspect(unknown)} for #{name(function)}; its options are " <>
                Enum.map_join(Keyword.keys(defaults), ", ", &inspect/1)

      [unknown | _] ->
        raise ArgumentError,
              "unknown option #{inspect(unknown)} for #{name(function)}; its options are " <>
                Enum.map_join(Keyword.keys(defaults), ", ", &inspect/1) <>
                ", and the connection keys of StructureLoader.Config (" <>
                Enum.map_join(Config.keys(), ", ", &inspect/1) <> ")"
    end

    own =
      defaults |> Keyword.merge(own) |> Map.new(fn {key, value} -> {key, check!(key, value)} end)

    {own, connection}
  end

  @doc """
  Splits the options of `StructureLoader.Release.migrate/2`: its own as a map with
  defaults, and the rest, for each repo's `load/2` (which checks them).
  """
  @spec split_release!(keyword()) :: {map(), keyword()}
  def split_release!(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "expected the options of #{name(:release)} as a keyword list"
    end

    {own, load} = Keyword.split(opts, [:repos, :migrate])

    allowed = (Keyword.keys(@load_defaults) -- @per_repo_keys) ++ Config.keys()

    case Keyword.keys(load) -- allowed do
      [] ->
        :ok

      [unknown | _] ->
        raise ArgumentError,
              "unknown option #{inspect(unknown)} for #{name(:release)}; its options are " <>
                ":repos, :migrate, the options of StructureLoader.load/2 but " <>
                Enum.map_join(@per_repo_keys, ", ", &inspect/1) <>
                " (each repo's own), and the connection keys of StructureLoader.Config"
    end

    own =
      [repos: nil, migrate: true]
      |> Keyword.merge(own)
      |> Map.new(fn {k, v} -> {k, check!(k, v)} end)

    {own, load}
  end

  @doc """
  The command-line switches of the Mix tasks that load: one for each option
  `structure_load/3` and `load/2` share that a flag can give (`--timeout MS`,
  `--strict`, `--no-owner`, ...), typed by its default, so that a new or renamed option of the
  library shows up in the tasks as it is.
  """
  @spec task_switches() :: keyword(:boolean | :integer)
  def task_switches do
    for {key, default} <- @structure_load_defaults,
        key not in [:dump_path, :progress],
        Keyword.has_key?(@load_defaults, key),
        type = switch_type(key, default),
        do: {key, type}
  end

  defp switch_type(_key, default) when is_boolean(default), do: :boolean
  defp switch_type(:timeout, _default), do: :integer
  defp switch_type(_key, _default), do: nil

  @doc """
  The library options given by `task_switches/0` switches, checked: `--timeout 0` is an
  `ArgumentError` as `timeout: 0` is.
  """
  @spec from_switches(keyword()) :: keyword()
  def from_switches(switches) do
    options = Keyword.take(switches, Keyword.keys(task_switches()))
    {_checked, _connection} = split!(options, :structure_load)
    options
  end

  @doc "The options that are repo configuration keys too: from `options`, else `config`."
  @spec with_repo_config(map(), keyword()) :: map()
  def with_repo_config(options, config) do
    Enum.reduce(@repo_keys, options, fn key, options ->
      case {Map.get(options, key, :absent), config[key]} do
        {nil, value} when value != nil -> Map.put(options, key, check!(key, value))
        _ -> options
      end
    end)
  end

  defp defaults(:load), do: @load_defaults
  defp defaults(:structure_load), do: @structure_load_defaults
  defp defaults(:table_exists), do: @table_exists_defaults
  defp defaults(:check), do: @check_defaults

  defp name(:load), do: "StructureLoader.load/2"
  defp name(:structure_load), do: "StructureLoader.structure_load/3"
  defp name(:table_exists), do: "StructureLoader.table_exists?/3"
  defp name(:check), do: "StructureLoader.check/2"
  defp name(:release), do: "StructureLoader.Release.migrate/2"

  defp check!(key, value) when key in @booleans do
    if is_boolean(value), do: value, else: invalid!(key, expected(key))
  end

  defp check!(_key, nil), do: nil

  defp check!(key, value) when key in [:dump_path, :priv] do
    if is_binary(value) or (is_list(value) and List.ascii_printable?(value)),
      do: to_string(value),
      else: invalid!(key, "a path")
  end

  defp check!(:otp_app, value) when is_atom(value), do: value

  defp check!(key, value) when key in [:migration_source, :migration_default_prefix, :prefix] do
    if is_binary(value) or is_atom(value), do: to_string(value), else: invalid!(key, "a string")
  end

  defp check!(:repos, repos) when is_list(repos) do
    if Enum.all?(repos, &is_atom/1), do: repos, else: invalid!(:repos, expected(:repos))
  end

  defp check!(:timeout, :infinity), do: :infinity

  defp check!(:timeout, value) when is_integer(value) and value > 0 and value <= @max_timeout,
    do: value

  defp check!(:progress, fun) when is_function(fun, 1), do: fun

  defp check!(:log, false), do: false
  defp check!(:log, :warn), do: :warning
  defp check!(:log, level) when level in @log_levels, do: level

  defp check!(key, _value), do: invalid!(key, expected(key))

  defp expected(:otp_app), do: "an application name (an atom)"
  defp expected(key) when key in @booleans, do: "true or false"
  defp expected(:progress), do: "a function of one argument"
  defp expected(:repos), do: "a list of repo modules"

  defp expected(:timeout),
    do: ":infinity or a number of milliseconds from 1 to #{@max_timeout}"

  defp expected(:log),
    do: "false or a Logger level (#{Enum.map_join(@log_levels, ", ", &inspect/1)})"

  defp invalid!(key, expected) do
    raise ArgumentError, "expected #{inspect(key)} to be #{expected}"
  end
end
