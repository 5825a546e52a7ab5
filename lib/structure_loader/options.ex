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
    skip_if_missing: false
  ]

  @structure_load_defaults [
    dump_path: nil,
    strict: false,
    no_owner: false,
    no_privileges: false,
    no_comments: false,
    timeout: :infinity
  ]

  @table_exists_defaults [prefix: nil]

  @check_defaults [no_owner: false, no_privileges: false, no_comments: false]

  @booleans [:strict, :no_owner, :no_privileges, :no_comments, :skip_if_missing]

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

  defp check!(:timeout, :infinity), do: :infinity

  defp check!(:timeout, value) when is_integer(value) and value > 0 and value <= @max_timeout,
    do: value

  defp check!(:log, false), do: false
  defp check!(:log, :warn), do: :warning
  defp check!(:log, level) when level in @log_levels, do: level

  defp check!(key, _value), do: invalid!(key, expected(key))

  defp expected(:otp_app), do: "an application name (an atom)"
  defp expected(key) when key in @booleans, do: "true or false"

  defp expected(:timeout),
    do: ":infinity or a number of milliseconds from 1 to #{@max_timeout}"

  defp expected(:log),
    do: "false or a Logger level (#{Enum.map_join(@log_levels, ", ", &inspect/1)})"

  defp invalid!(key, expected) do
    raise ArgumentError, "expected #{inspect(key)} to be #{expected}"
  end
end
