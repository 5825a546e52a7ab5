defmodule StructureLoader.Config do
  @moduledoc """
  Connection settings resolved from an Ecto repo's configuration, the way Ecto and Postgrex
  read them.

  `new/2` takes the keyword list an Ecto repo's `config/0` returns (or one written by hand)
  and understands these keys:

    * `:url` - `ecto://`, `postgres://` or `postgresql://` URL:
      `ecto://USER:PASSWORD@HOST:PORT/DATABASE?ssl=true`. Userinfo, host, port and database
      are percent-decoded. Query parameters: `ssl` (`true`/`false`), `sslmode` (libpq's
      values), `connect_timeout` (milliseconds, as in Ecto) and `application_name`; the
      others (`pool_size`, `timeout`, ...) concern Ecto's pool and are ignored. As in Ecto,
      the values found in the URL replace the same settings given as keys.
    * `:hostname` - default `PGHOST`, else `"localhost"`; an absolute path is a unix-socket
      directory, as in libpq
    * `:port` - default `PGPORT`, else 5432
    * `:username` - default `PGUSER`, else `USER`
    * `:password` - default `PGPASSWORD`
    * `:database` - default `PGDATABASE`
    * `:socket_dir` - unix-socket directory; wins over `:hostname`
    * `:socket` - unix-socket file such as `/var/run/postgresql/.s.PGSQL.5432`; wins over
      `:socket_dir` and `:hostname`, and its name gives the port
    * `:ssl` - TLS is not supported yet: `ssl: true` (or a list of TLS options) and the URL's
      `ssl=true` / `sslmode=require|verify-ca|verify-full` make `new/2` return a `:connect`
      error, so nothing is ever sent in plain text where TLS was asked for.
      `sslmode=disable|allow|prefer` connect without TLS, as libpq does when the server
      offers none.
    * `:parameters` - startup parameters, such as `[application_name: "my_app"]`
    * `:connect_timeout` - milliseconds for reaching the server and authenticating together
      (Postgrex's `:connect_timeout` and `:handshake_timeout` in one), default 15000

  Other keys (Ecto's pool, log and migration settings) are ignored. A malformed value raises
  `ArgumentError`, as Ecto does.

  The struct's inspect output never shows the password.
  """

  alias StructureLoader.Error

  @derive {Inspect, except: [:password]}
  @enforce_keys [:host, :port, :user, :database]
  @default_connect_timeout 15_000

  defstruct [
    :host,
    :port,
    :user,
    :password,
    :database,
    connect_timeout: @default_connect_timeout,
    parameters: []
  ]

  @type t :: %__MODULE__{
          host: String.t(),
          port: :inet.port_number(),
          user: String.t(),
          password: String.t() | nil,
          database: String.t(),
          connect_timeout: pos_integer(),
          parameters: [{String.t(), String.t()}]
        }

  @schemes ["ecto", "postgres", "postgresql"]
  @plain_sslmodes ["disable", "allow", "prefer"]
  @tls_sslmodes ["require", "verify-ca", "verify-full"]
  @pool_url_parameters ~w(pool_size timeout pool_timeout idle_interval queue_target queue_interval)

  @doc """
  Resolves connection settings from `config`, with `env` (default: the OS environment)
  supplying the `PG*` defaults.

  Returns `{:error, %StructureLoader.Error{reason: :connect}}` when the settings ask for
  TLS; raises `ArgumentError` when they are malformed or name no user or database.

      iex> {:ok, config} = StructureLoader.Config.new([url: "ecto://app:secret@db:6432/app_prod"], %{})
      iex> {config.host, config.port, config.user, config.database}
      {"db", 6432, "app", "app_prod"}
  """
  @spec new(keyword(), %{optional(String.t()) => String.t()}) :: {:ok, t()} | {:error, Error.t()}
  def new(config, env \\ System.get_env()) do
    unless Keyword.keyword?(config) do
      raise ArgumentError, "expected the connection settings as a keyword list"
    end

    {url, config} = Keyword.pop(config, :url)
    config = Keyword.merge(config, parse_url(url))

    with :ok <- refuse_tls(config) do
      {host, port} = endpoint(config, env)

      {:ok,
       %__MODULE__{
         host: host,
         port: port,
         user: config[:username] || env["PGUSER"] || env["USER"] || missing!(:username),
         password: config[:password] || env["PGPASSWORD"],
         database: config[:database] || env["PGDATABASE"] || missing!(:database),
         connect_timeout: connect_timeout(config),
         parameters: parameters(config)
       }}
    end
  end

  @doc false
  # The connection map the NIF takes.
  @spec to_native(t()) :: map()
  def to_native(%__MODULE__{} = config) do
    %{
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password,
      dbname: config.database,
      connect_timeout_ms: config.connect_timeout,
      parameters: config.parameters
    }
  end

  defp parse_url(nil), do: []

  defp parse_url(url) when is_binary(url) do
    uri = URI.parse(url)

    unless uri.scheme in @schemes do
      raise ArgumentError,
            "expected the :url to start with #{Enum.map_join(@schemes, ", ", &"#{&1}://")}"
    end

    {username, password} =
      case uri.userinfo && String.split(uri.userinfo, ":", parts: 2) do
        nil -> {nil, nil}
        [username] -> {username, nil}
        [username, password] -> {username, password}
      end

    database =
      case uri.path do
        path when path in [nil, "", "/"] -> nil
        "/" <> database -> database
      end

    from_parts =
      [
        username: username,
        password: password,
        hostname: uri.host,
        port: uri.port,
        database: database
      ]
      |> Enum.reject(fn {_key, value} -> value in [nil, ""] end)
      |> Enum.map(fn
        {key, value} when is_binary(value) -> {key, URI.decode(value)}
        pair -> pair
      end)

    from_parts ++ url_query(uri.query)
  end

  defp parse_url(url) do
    raise ArgumentError, "expected the :url to be a string, got: #{inspect(url)}"
  end

  defp url_query(nil), do: []

  defp url_query(query) do
    query
    |> URI.query_decoder()
    |> Enum.flat_map(fn
      {"ssl", "true"} -> [ssl: true]
      {"ssl", "false"} -> [ssl: false]
      {"sslmode", mode} when mode in @plain_sslmodes or mode in @tls_sslmodes -> [sslmode: mode]
      {"connect_timeout", value} -> [connect_timeout: url_integer("connect_timeout", value)]
      {"application_name", name} -> [application_name: name]
      {name, _value} when name in @pool_url_parameters -> []
      {name, value} -> raise ArgumentError, "unsupported :url parameter #{name}=#{value}"
    end)
  end

  defp url_integer(name, value) do
    case Integer.parse(value) do
      {integer, ""} -> integer
      _ -> raise ArgumentError, "expected an integer for the :url parameter #{name}"
    end
  end

  defp refuse_tls(config) do
    tls_asked =
      cond do
        config[:ssl] not in [nil, false] -> "ssl: #{inspect(config[:ssl])}"
        config[:sslmode] in @tls_sslmodes -> "sslmode=#{config[:sslmode]}"
        true -> nil
      end

    if tls_asked do
      {:error,
       %Error{
         reason: :connect,
         message:
           "TLS is not supported yet (#{tls_asked} in the connection settings); " <>
             "StructureLoader does not fall back to an unencrypted connection"
       }}
    else
      :ok
    end
  end

  defp endpoint(config, env) do
    port = port(config[:port] || env["PGPORT"] || 5432)

    cond do
      socket = config[:socket] -> socket_file(socket)
      socket_dir = config[:socket_dir] -> {Path.expand(socket_dir), port}
      present?(config[:hostname]) -> {config[:hostname], port}
      present?(env["PGHOST"]) -> {env["PGHOST"], port}
      true -> {"localhost", port}
    end
  end

  # libpq (and so the NIF) finds a socket as DIR/.s.PGSQL.PORT, so a socket file is
  # only usable under that conventional name.
  defp socket_file(socket) do
    path = Path.expand(socket)

    case Regex.run(~r/^\.s\.PGSQL\.(\d+)$/, Path.basename(path)) do
      [_, port] ->
        {Path.dirname(path), port(port)}

      nil ->
        raise ArgumentError,
              "expected the :socket to be a PostgreSQL socket file named .s.PGSQL.PORT, " <>
                "got: #{inspect(socket)}"
    end
  end

  defp port(port) when is_integer(port) and port in 1..65_535, do: port

  defp port(port) when is_binary(port) do
    case Integer.parse(port) do
      {port, ""} -> port(port)
      _ -> raise ArgumentError, "expected a port number, got: #{inspect(port)}"
    end
  end

  defp port(port), do: raise(ArgumentError, "expected a port number, got: #{inspect(port)}")

  defp connect_timeout(config) do
    case Keyword.get(config, :connect_timeout, @default_connect_timeout) do
      timeout when is_integer(timeout) and timeout > 0 ->
        timeout

      other ->
        raise ArgumentError,
              "expected :connect_timeout to be a positive number of milliseconds, got: " <>
                inspect(other)
    end
  end

  defp parameters(config) do
    given = config[:parameters] || []

    unless is_map(given) or Keyword.keyword?(given) do
      raise ArgumentError, "expected :parameters to be a keyword list, got: #{inspect(given)}"
    end

    url_given = for {:application_name, name} <- config, do: {"application_name", name}

    given
    |> Enum.map(fn {name, value} -> {to_string(name), to_string(value)} end)
    |> Map.new()
    |> Map.merge(Map.new(url_given))
    |> Enum.sort()
  end

  defp missing!(key) do
    default = if key == :database, do: "PGDATABASE", else: "PGUSER or USER"

    raise ArgumentError,
          "no #{inspect(key)} in the connection settings (nor in the :url or #{default})"
  end

  defp present?(value), do: is_binary(value) and value != ""
end
