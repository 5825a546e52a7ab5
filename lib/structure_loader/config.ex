defmodule StructureLoader.Config do
  @moduledoc """
  Connection settings resolved from an Ecto repo's configuration, the way Ecto, Postgrex
  and DBConnection read them, so that StructureLoader connects where and as whom the repo
  connects.

  `new/2` takes the keyword list an Ecto repo's `config/0` returns (or one written by hand).
  It reads the keys below; Ecto's own keys that concern the pool, logging, telemetry or
  queries (`:pool_size`, `:timeout`, `:log`, `:prepare`, `:types`, ...) do not change where
  or as whom a connection goes and are left alone. A connection key it cannot honour is an
  `ArgumentError` naming the key and what to use instead, never silently ignored; so is a
  malformed value. The struct's inspect output never shows the password.

  ## Where and as whom

    * `:url` - `ecto://`, `postgres://` or `postgresql://` URL:
      `ecto://USER:PASSWORD@HOST:PORT/DATABASE?ssl=true`, percent-encoded. Its query takes
      Ecto's `ssl=true|false`, libpq's `sslmode`, `sslrootcert`, `sslcert`, `sslkey`,
      `application_name`, `options`, `user`, `password`, `host`, `port`, `dbname`, and
      `connect_timeout` (in milliseconds, as Ecto's other timeouts; libpq's is in seconds);
      Ecto's pool parameters (`pool_size`, `timeout`, ...) are left to Ecto; any other is an
      `ArgumentError`. Query parameters win over the parts before the query, as in libpq,
      and the URL wins over keys given beside it, as Ecto merges it.
    * `:hostname` - default `PGHOST`, else `"localhost"`; an absolute path is a unix-socket
      directory, as in libpq
    * `:port` - default `PGPORT`, else 5432
    * `:endpoints` - `[{hostname, port}, ...]`, tried in order until one accepts the
      connection and the credentials, as Postgrex tries them; wins over `:hostname`
    * `:socket_dir` - unix-socket directory; wins over `:endpoints` and `:hostname`
    * `:socket` - unix-socket file such as `/var/run/postgresql/.s.PGSQL.5432`; wins over
      everything else, and its name gives the port
    * `:socket_options` - `:inet6` resolves host names to IPv6 addresses (as the Erlang
      socket of a Postgrex connection then does), `:inet` to IPv4 (the default); options
      that only tune the socket (`:keepalive`, `:nodelay`, buffer sizes, ...) are accepted
      and not applied; others are an `ArgumentError`
    * `:username` - default `PGUSER`, else `USER`
    * `:password` - default `PGPASSWORD`
    * `:database` - default `PGDATABASE`
    * `:configure` - `{module, function, args}` or a one-argument function called with the
      configuration before connecting, whose result is used, as DBConnection calls it (for
      credentials fetched at connect time, such as an IAM token)
    * `:target_server_type` - `:primary` skips endpoints that are standbys (in recovery);
      `:any` (the default) takes the first that accepts; `:secondary` is an `ArgumentError`,
      since a load writes

  ## The session

    * `:parameters` - startup parameters, such as `[application_name: "my_app"]` or
      `[search_path: "app, public"]`; the older `:search_path` list is taken too
    * `:after_connect` - `{Postgrex, :query!, [sql, []]}` (or `:query`): the SQL runs at the
      start of the load's transaction, so that the load, and the check for the migrations
      table, see what the repo's connections see. Anything else (a function, another
      module) cannot run in the NIF and is an `ArgumentError` naming the alternatives:
      `parameters: [search_path: ...]` for a search path, `:migration_default_prefix` for
      the migrations table's schema.
    * `:connect_timeout` - milliseconds for reaching a server and authenticating together,
      default 15000; with `:handshake_timeout`, the two are added, as Postgrex spends them
      one after the other. An integer or a string of digits, as Ecto leaves one from a URL.

  ## TLS

  TLS runs in the NIF with rustls: no OpenSSL is needed at run time. Without a CA of its
  own, verification uses the system's trusted CAs, so the runtime image needs them
  (Debian: the `ca-certificates` package). Nothing ever falls back to plain text unless
  the mode is `prefer`.

  With the `:ssl` option:

    * `ssl: true` - TLS, with the certificate chain checked against the system's trusted
      CAs and the host name checked against the certificate (as current Postgrex does)
    * `ssl: [verify: :verify_none]` - encrypted, but the server's certificate is not
      checked; logs a warning
    * `ssl: [cacertfile: path]` or `ssl: [cacerts: [der, ...]]` - the chain is checked
      against those CAs (`:public_key.cacerts_get/0` results are taken too), and the host
      name against the certificate
    * `server_name_indication: ~c"name"` - the name sent to the server and expected in its
      certificate, when it is not `:hostname`; `:disable` checks the chain only
    * `certfile:` and `keyfile:` - a client certificate and its unencrypted PEM key, for
      servers whose `pg_hba.conf` says `clientcert=verify-full` or `cert`

  Options that only tune the protocol (`:versions`, `:ciphers`, `:depth`,
  `:customize_hostname_check`, ...) are ignored: rustls negotiates TLS 1.2 or 1.3 with its
  safe defaults and matches wildcard names as HTTPS does. Anything else, such as
  `:verify_fun` or `:password`, is an `ArgumentError` rather than silently dropped.

  With libpq's settings (URL query or keys), which take precedence over `:ssl` for the
  mode, while certificates from both are used (Postgrex itself ignores them; this is where
  StructureLoader connects differently from a Postgrex connection of the same repo):

    * `sslmode=disable` - no TLS
    * `sslmode=allow` or `prefer` - TLS if the server offers it, without checking the
      certificate, else plain text (`allow` is taken as `prefer`: TLS is tried first)
    * `sslmode=require` - TLS without checking the certificate; with a CA given
      (`sslrootcert`), the chain is checked as for `verify-ca`, as libpq does; logs a
      warning otherwise
    * `sslmode=verify-ca` - the chain is checked, not the host name
    * `sslmode=verify-full` - the chain and the host name are checked
    * `sslrootcert=path` - the trusted CAs (PEM); `sslrootcert=system` the system's, which
      as in libpq makes `verify-full` the default and refuses weaker modes. Without it the
      verifying modes trust the system's CAs (libpq would read `~/.postgresql/root.crt`)
    * `sslcert=path`, `sslkey=path` - the client certificate and key (PEM)

  `sslrootcert`, `sslcert` or `sslkey` without `sslmode` mean `prefer`, libpq's default.
  """

  alias StructureLoader.Config.{TLS, URL}

  @derive {Inspect, except: [:password]}
  @enforce_keys [:endpoints, :user, :database]
  @default_connect_timeout 15_000

  defstruct [
    :endpoints,
    :user,
    :password,
    :database,
    address_family: :ipv4,
    connect_timeout: @default_connect_timeout,
    parameters: [],
    ssl: nil,
    after_connect: [],
    primary_only: false
  ]

  @type t :: %__MODULE__{
          endpoints: [{String.t(), :inet.port_number()}],
          address_family: :ipv4 | :ipv6,
          user: String.t(),
          password: String.t() | nil,
          database: String.t(),
          connect_timeout: pos_integer(),
          parameters: [{String.t(), String.t()}],
          ssl: ssl(),
          after_connect: [String.t()],
          primary_only: boolean()
        }

  @typedoc """
  TLS as the NIF takes it, `nil` for plain text: the mode (libpq's `sslmode` of the same
  name), trusted CAs (DER and a PEM file; none means the system's), the client
  certificate and key files, and the name to verify when it is not the host.
  """
  @type ssl ::
          nil
          | %{
              mode: :prefer | :require | :verify_ca | :verify_full,
              cacerts: [binary()],
              cacertfile: String.t() | nil,
              certfile: String.t() | nil,
              keyfile: String.t() | nil,
              server_name: String.t() | nil
            }

  # The keys this module reads: what `new/2` takes as connection settings.
  @keys [
    :url,
    :hostname,
    :port,
    :endpoints,
    :socket_dir,
    :socket,
    :socket_options,
    :username,
    :password,
    :database,
    :configure,
    :target_server_type,
    :parameters,
    :search_path,
    :after_connect,
    :connect_timeout,
    :handshake_timeout,
    :ssl,
    :ssl_opts,
    :sslmode,
    :sslrootcert,
    :sslcert,
    :sslkey,
    :application_name,
    :options,
    :user,
    :host,
    :dbname
  ]

  # Erlang socket options that only tune the socket: they do not change where it goes.
  @tuning_socket_options [
    :keepalive,
    :nodelay,
    :sndbuf,
    :recbuf,
    :buffer,
    :send_timeout,
    :send_timeout_close,
    :delay_send,
    :high_watermark,
    :low_watermark,
    :high_msgq_watermark,
    :low_msgq_watermark,
    :linger,
    :priority,
    :tos,
    :tclass,
    :reuseaddr,
    :exit_on_close,
    :show_econnreset
  ]

  @doc "The keys `new/2` reads."
  @spec keys() :: [atom()]
  def keys, do: @keys

  @doc """
  Resolves connection settings from `config`, with `env` (default: the OS environment)
  supplying the `PG*` defaults.

  Raises `ArgumentError` when they are malformed, name no user or database, or use a key
  StructureLoader cannot honour. Logs a warning when they ask for TLS without certificate
  verification.

      iex> {:ok, config} = StructureLoader.Config.new([url: "ecto://app:secret@db:6432/app_prod"], %{})
      iex> {config.endpoints, config.user, config.database}
      {[{"db", 6432}], "app", "app_prod"}
  """
  @spec new(keyword(), %{optional(String.t()) => String.t()}) :: {:ok, t()}
  def new(config, env \\ System.get_env()) do
    unless Keyword.keyword?(config) do
      raise ArgumentError, "expected the connection settings as a keyword list"
    end

    config = configure(config)
    {url, config} = Keyword.pop(config, :url)
    config = config |> Keyword.merge(URL.parse(url)) |> libpq_names()
    endpoints = endpoints(config, env)

    {:ok,
     %__MODULE__{
       endpoints: endpoints,
       address_family: address_family(config),
       user: string!(config, :username) || env["PGUSER"] || env["USER"] || missing!(:username),
       password: string!(config, :password) || env["PGPASSWORD"],
       database: string!(config, :database) || env["PGDATABASE"] || missing!(:database),
       connect_timeout: connect_timeout(config),
       parameters: parameters(config),
       ssl: TLS.resolve(config, endpoints),
       after_connect: after_connect(config),
       primary_only: primary_only?(config)
     }}
  end

  @doc false
  # The connection map the NIF takes.
  @spec to_native(t()) :: map()
  def to_native(%__MODULE__{} = config) do
    %{
      endpoints: Enum.map(config.endpoints, fn {host, port} -> %{host: host, port: port} end),
      address_family: config.address_family,
      user: config.user,
      password: config.password,
      dbname: config.database,
      connect_timeout_ms: config.connect_timeout,
      parameters: config.parameters,
      ssl: config.ssl,
      after_connect: config.after_connect,
      primary_only: config.primary_only
    }
  end

  @doc false
  # Whether two configurations reach the same database.
  @spec same_database?(t(), t()) :: boolean()
  def same_database?(%__MODULE__{} = one, %__MODULE__{} = other) do
    {one.endpoints, one.database} == {other.endpoints, other.database}
  end

  # Ecto keeps a URL's query parameters as keys of the same name: libpq's `user`, `host`
  # and `dbname` win over what the URL's other parts gave, as in libpq.
  defp libpq_names(config) do
    Enum.reduce([user: :username, host: :hostname, dbname: :database], config, fn
      {libpq, ecto}, config ->
        case Keyword.pop(config, libpq) do
          {nil, config} -> config
          {value, config} -> Keyword.put(config, ecto, value)
        end
    end)
  end

  # DBConnection calls :configure with the options before each connection.
  defp configure(config) do
    configured =
      case config[:configure] do
        nil ->
          config

        {module, function, args} when is_atom(module) and is_list(args) ->
          apply(module, function, [config | args])

        function when is_function(function, 1) ->
          function.(config)

        _other ->
          raise ArgumentError,
                "expected :configure to be {module, function, args} or a one-argument function"
      end

    unless Keyword.keyword?(configured) do
      raise ArgumentError, ":configure must return the configuration as a keyword list"
    end

    Keyword.delete(configured, :configure)
  end

  defp endpoints(config, env) do
    port = port(config[:port] || env["PGPORT"] || 5432)

    cond do
      socket = config[:socket] -> [socket_file(socket)]
      socket_dir = config[:socket_dir] -> [{Path.expand(socket_dir), port}]
      endpoints = config[:endpoints] -> endpoint_list(endpoints)
      present?(config[:hostname]) -> [{config[:hostname], port}]
      present?(env["PGHOST"]) -> [{env["PGHOST"], port}]
      true -> [{"localhost", port}]
    end
  end

  defp endpoint_list([_ | _] = endpoints) do
    Enum.map(endpoints, fn
      {host, port} when is_binary(host) or is_list(host) ->
        {to_string(host), port(port)}

      # Postgrex's older form, whose third element it no longer reads.
      {host, port, _options} when is_binary(host) or is_list(host) ->
        {to_string(host), port(port)}

      _other ->
        raise ArgumentError, "expected :endpoints to be a list of {hostname, port} tuples"
    end)
  end

  defp endpoint_list(_other) do
    raise ArgumentError, "expected :endpoints to be a non-empty list of {hostname, port} tuples"
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
              "expected the :socket to be a PostgreSQL socket file named .s.PGSQL.PORT"
    end
  end

  defp port(port) when is_integer(port) and port in 1..65_535, do: port

  defp port(port) when is_binary(port) do
    case Integer.parse(port) do
      {port, ""} -> port(port)
      _ -> raise ArgumentError, "expected a port number from 1 to 65535"
    end
  end

  defp port(_port), do: raise(ArgumentError, "expected a port number from 1 to 65535")

  defp address_family(config) do
    case config[:socket_options] || [] do
      options when is_list(options) ->
        Enum.reduce(options, :ipv4, fn
          :inet6, _family ->
            :ipv6

          :inet, _family ->
            :ipv4

          {name, _value}, family when name in @tuning_socket_options ->
            family

          name, family when name in @tuning_socket_options ->
            family

          option, _family ->
            raise ArgumentError,
                  "unsupported socket option #{inspect(option)} in :socket_options; " <>
                    "StructureLoader takes :inet6 and :inet, and accepts the options that " <>
                    "only tune the socket (#{Enum.map_join(@tuning_socket_options, ", ", &inspect/1)})"
        end)

      _other ->
        raise ArgumentError, "expected :socket_options to be a list"
    end
  end

  # Ecto leaves a connect_timeout from a URL as a string.
  defp connect_timeout(config) do
    connect = timeout!(config, :connect_timeout, @default_connect_timeout)
    handshake = timeout!(config, :handshake_timeout, 0)
    connect + handshake
  end

  defp timeout!(config, key, default) do
    case Keyword.get(config, key) do
      nil ->
        default

      timeout when is_integer(timeout) and timeout > 0 ->
        timeout

      timeout when is_binary(timeout) ->
        case Integer.parse(timeout) do
          {timeout, ""} when timeout > 0 ->
            timeout

          _ ->
            raise ArgumentError,
                  "expected #{inspect(key)} to be a positive number of milliseconds"
        end

      _other ->
        raise ArgumentError, "expected #{inspect(key)} to be a positive number of milliseconds"
    end
  end

  defp parameters(config) do
    given = config[:parameters] || []

    unless is_map(given) or Keyword.keyword?(given) do
      raise ArgumentError, "expected :parameters to be a keyword list"
    end

    given = Map.new(given, fn {name, value} -> {to_string(name), to_string(value)} end)

    # Postgrex's older :search_path option, which it turns into this parameter.
    given =
      case config[:search_path] do
        nil ->
          given

        path when is_list(path) ->
          Map.put_new(given, "search_path", Enum.map_join(path, ", ", &to_string/1))

        _other ->
          raise ArgumentError, "expected :search_path to be a list of schema names"
      end

    from_url =
      for {key, name} <- [application_name: "application_name", options: "options"],
          value = string!(config, key),
          into: %{},
          do: {name, value}

    given |> Map.merge(from_url) |> Enum.sort()
  end

  # {Postgrex, :query!, [sql, []]}: its SQL can run on the NIF's connection.
  defp after_connect(config) do
    case config[:after_connect] do
      nil ->
        []

      {Postgrex, function, [sql, []]} when function in [:query, :query!] and is_binary(sql) ->
        [sql]

      {Postgrex, function, [sql, [], _options]}
      when function in [:query, :query!] and is_binary(sql) ->
        [sql]

      other ->
        shown =
          case other do
            {module, function, args} when is_list(args) ->
              "{#{inspect(module)}, #{inspect(function)}, [...]}"

            function when is_function(function) ->
              "a function"

            _other ->
              "this value"
          end

        raise ArgumentError,
              "the repo's :after_connect (#{shown}) cannot run on StructureLoader's " <>
                "connection, which runs no Elixir code: only {Postgrex, :query!, [sql, []]} " <>
                "is run, as SQL. For a search path, give parameters: [search_path: \"app\"]; " <>
                "for the migrations table's schema, :migration_default_prefix"
    end
  end

  defp primary_only?(config) do
    case Keyword.get(config, :target_server_type, :any) do
      :any ->
        false

      :primary ->
        true

      :secondary ->
        raise ArgumentError,
              "target_server_type: :secondary names standbys, which a load cannot write to; " <>
                "use :primary or :any for StructureLoader"

      _other ->
        raise ArgumentError, "expected :target_server_type to be :any, :primary or :secondary"
    end
  end

  defp string!(config, key) do
    case config[key] do
      nil -> nil
      value when is_binary(value) -> value
      _other -> raise ArgumentError, "expected #{inspect(key)} to be a string"
    end
  end

  defp missing!(key) do
    default = if key == :database, do: "PGDATABASE", else: "PGUSER or USER"

    raise ArgumentError,
          "no #{inspect(key)} in the connection settings (nor in the :url or #{default})"
  end

  defp present?(value), do: is_binary(value) and value != ""
end
