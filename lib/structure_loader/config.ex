defmodule StructureLoader.Config do
  @moduledoc """
  Connection settings resolved from an Ecto repo's configuration, the way Ecto and Postgrex
  read them.

  `new/2` takes the keyword list an Ecto repo's `config/0` returns (or one written by hand)
  and understands these keys:

    * `:url` - `ecto://`, `postgres://` or `postgresql://` URL:
      `ecto://USER:PASSWORD@HOST:PORT/DATABASE?ssl=true`. Userinfo, host, port and database
      are percent-decoded. Query parameters: `ssl` (`true`/`false`), libpq's `sslmode`,
      `sslrootcert`, `sslcert` and `sslkey` (see TLS below), `connect_timeout`
      (milliseconds, as in Ecto) and `application_name`; the others (`pool_size`,
      `timeout`, ...) concern Ecto's pool and are ignored. As in Ecto, the values found in
      the URL replace the same settings given as keys.
    * `:hostname` - default `PGHOST`, else `"localhost"`; an absolute path is a unix-socket
      directory, as in libpq
    * `:port` - default `PGPORT`, else 5432
    * `:username` - default `PGUSER`, else `USER`
    * `:password` - default `PGPASSWORD`
    * `:database` - default `PGDATABASE`
    * `:socket_dir` - unix-socket directory; wins over `:hostname`
    * `:socket` - unix-socket file such as `/var/run/postgresql/.s.PGSQL.5432`; wins over
      `:socket_dir` and `:hostname`, and its name gives the port
    * `:ssl` - `false` (default), `true`, or a keyword list of TLS options as Postgrex takes
      them (the older `ssl: true, ssl_opts: [...]` works too); see TLS below
    * `:sslmode`, `:sslrootcert`, `:sslcert`, `:sslkey` - libpq's TLS settings, as the URL
      gives them (Ecto's own URL parsing leaves them in the repo config as these keys)
    * `:parameters` - startup parameters, such as `[application_name: "my_app"]`
    * `:connect_timeout` - milliseconds for reaching the server and authenticating together
      (Postgrex's `:connect_timeout` and `:handshake_timeout` in one), default 15000

  Other keys (Ecto's pool, log and migration settings) are ignored. A malformed value raises
  `ArgumentError`, as Ecto does.

  The struct's inspect output never shows the password.

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
  mode, while certificates from both are used:

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

  require Logger

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
    parameters: [],
    ssl: nil
  ]

  @type t :: %__MODULE__{
          host: String.t(),
          port: :inet.port_number(),
          user: String.t(),
          password: String.t() | nil,
          database: String.t(),
          connect_timeout: pos_integer(),
          parameters: [{String.t(), String.t()}],
          ssl: ssl()
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

  @schemes ["ecto", "postgres", "postgresql"]
  @sslmodes %{
    "disable" => nil,
    "allow" => :prefer,
    "prefer" => :prefer,
    "require" => :require,
    "verify-ca" => :verify_ca,
    "verify-full" => :verify_full
  }
  # Erlang :ssl options that only tune the protocol; rustls has safe defaults for them.
  @no_ssl_options %{
    mode: nil,
    cacerts: [],
    cacertfile: nil,
    certfile: nil,
    keyfile: nil,
    server_name: nil
  }
  @ignored_ssl_options [
    :versions,
    :ciphers,
    :depth,
    :customize_hostname_check,
    :log_level,
    :log_alert,
    :reuse_sessions,
    :secure_renegotiate,
    :hibernate_after
  ]
  @pool_url_parameters ~w(pool_size timeout pool_timeout idle_interval queue_target queue_interval)

  @doc """
  Resolves connection settings from `config`, with `env` (default: the OS environment)
  supplying the `PG*` defaults.

  Raises `ArgumentError` when they are malformed or name no user or database. Logs a
  warning when they ask for TLS without certificate verification.

      iex> {:ok, config} = StructureLoader.Config.new([url: "ecto://app:secret@db:6432/app_prod"], %{})
      iex> {config.host, config.port, config.user, config.database}
      {"db", 6432, "app", "app_prod"}
  """
  @spec new(keyword(), %{optional(String.t()) => String.t()}) :: {:ok, t()}
  def new(config, env \\ System.get_env()) do
    unless Keyword.keyword?(config) do
      raise ArgumentError, "expected the connection settings as a keyword list"
    end

    {url, config} = Keyword.pop(config, :url)
    config = Keyword.merge(config, parse_url(url))
    {host, port} = endpoint(config, env)

    {:ok,
     %__MODULE__{
       host: host,
       port: port,
       user: config[:username] || env["PGUSER"] || env["USER"] || missing!(:username),
       password: config[:password] || env["PGPASSWORD"],
       database: config[:database] || env["PGDATABASE"] || missing!(:database),
       connect_timeout: connect_timeout(config),
       parameters: parameters(config),
       ssl: ssl(config, host, port)
     }}
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
      parameters: config.parameters,
      ssl: config.ssl
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
      {"sslmode", mode} -> [sslmode: mode]
      {"sslrootcert", path} -> [sslrootcert: path]
      {"sslcert", path} -> [sslcert: path]
      {"sslkey", path} -> [sslkey: path]
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

  # TLS: the mode from libpq's sslmode if given, else from :ssl; the trusted CAs, client
  # certificate and server name from :ssl, libpq's files replacing its.
  defp ssl(config, host, port) do
    from_ssl =
      case ssl_options(config) do
        nil -> @no_ssl_options
        options -> ssl_option_settings(options)
      end

    rootcert = libpq_setting(config, :sslrootcert)
    sslcert = libpq_setting(config, :sslcert)
    sslkey = libpq_setting(config, :sslkey)

    settings = %{
      cacerts: if(rootcert == "system", do: [], else: from_ssl.cacerts),
      cacertfile:
        case rootcert do
          nil -> from_ssl.cacertfile
          "system" -> nil
          path -> expand(path)
        end,
      certfile: expand(sslcert) || from_ssl.certfile,
      keyfile: expand(sslkey) || from_ssl.keyfile,
      server_name: from_ssl.server_name
    }

    if is_nil(settings.certfile) != is_nil(settings.keyfile) do
      raise ArgumentError,
            "a client certificate needs both a certificate file (:certfile or sslcert) " <>
              "and a key file (:keyfile or sslkey)"
    end

    mode =
      case libpq_setting(config, :sslmode) do
        nil ->
          cond do
            from_ssl.mode -> from_ssl.mode
            rootcert == "system" -> :verify_full
            rootcert || sslcert || sslkey -> :prefer
            true -> nil
          end

        sslmode ->
          libpq_mode(sslmode, settings, rootcert)
      end

    if mode do
      warn_unverified(mode, config, "#{host}:#{port}")
      Map.put(settings, :mode, mode)
    end
  end

  # The :ssl option as a keyword list of Erlang :ssl options, or nil without TLS.
  defp ssl_options(config) do
    case config[:ssl] do
      falsy when falsy in [nil, false] ->
        nil

      true ->
        case Keyword.get(config, :ssl_opts, []) do
          options when is_list(options) ->
            ssl_keyword!(options, ":ssl_opts")

          other ->
            raise ArgumentError, "expected :ssl_opts to be a keyword list, got: #{inspect(other)}"
        end

      options when is_list(options) ->
        ssl_keyword!(options, ":ssl")

      other ->
        raise ArgumentError,
              "expected :ssl to be a boolean or a keyword list of TLS options, got: " <>
                inspect(other)
    end
  end

  defp ssl_keyword!(options, key) do
    if Keyword.keyword?(options) do
      options
    else
      raise ArgumentError, "expected #{key} to be a keyword list of TLS options"
    end
  end

  # As Erlang's :ssl takes them: the chain and the host name are verified unless
  # `verify: :verify_none`; `server_name_indication: :disable` skips the host name.
  defp ssl_option_settings(options) do
    settings =
      Enum.reduce(options, Map.merge(@no_ssl_options, %{verify: true, check_name: true}), fn
        {:verify, :verify_peer}, acc ->
          %{acc | verify: true}

        {:verify, :verify_none}, acc ->
          %{acc | verify: false}

        {:cacertfile, path}, acc ->
          %{acc | cacertfile: expand(path)}

        {:cacerts, cacerts}, acc when is_list(cacerts) ->
          %{acc | cacerts: Enum.map(cacerts, &der!/1)}

        {:server_name_indication, :disable}, acc ->
          %{acc | check_name: false, server_name: nil}

        {:server_name_indication, name}, acc when is_list(name) or is_binary(name) ->
          %{acc | check_name: true, server_name: to_string(name)}

        {:certfile, path}, acc ->
          %{acc | certfile: expand(path)}

        {:keyfile, path}, acc ->
          %{acc | keyfile: expand(path)}

        {name, _value}, acc when name in @ignored_ssl_options ->
          acc

        {name, value}, _acc when name in [:verify, :cacerts, :server_name_indication] ->
          raise ArgumentError,
                "unsupported value for the TLS option #{inspect(name)}: #{inspect(value)}"

        {name, _value}, _acc ->
          raise ArgumentError,
                "unsupported TLS option #{inspect(name)}; StructureLoader takes :verify, " <>
                  ":cacertfile, :cacerts, :server_name_indication, :certfile and :keyfile"
      end)

    mode =
      cond do
        not settings.verify -> :require
        settings.check_name -> :verify_full
        true -> :verify_ca
      end

    settings |> Map.drop([:verify, :check_name]) |> Map.put(:mode, mode)
  end

  defp der!(der) when is_binary(der), do: der
  # :public_key.cacerts_get/0 gives #cert{der: DER, otp: ...} records.
  defp der!({:cert, der, _otp}) when is_binary(der), do: der

  defp der!(other) do
    raise ArgumentError,
          "expected :cacerts to hold DER-encoded certificates, got: #{inspect(other, limit: 5)}"
  end

  defp libpq_mode(sslmode, settings, rootcert) do
    mode =
      case Map.fetch(@sslmodes, sslmode) do
        {:ok, mode} ->
          mode

        :error ->
          raise ArgumentError,
                "unsupported sslmode=#{sslmode}; expected one of " <>
                  Enum.join(Map.keys(@sslmodes), ", ")
      end

    cond do
      rootcert == "system" and mode not in [nil, :verify_full] ->
        raise ArgumentError,
              "weak sslmode=#{sslmode} may not be used with sslrootcert=system " <>
                "(use sslmode=verify-full), as in libpq"

      # libpq: require with a root certificate checks the chain, as verify-ca does.
      mode == :require and (settings.cacertfile != nil or settings.cacerts != []) ->
        :verify_ca

      true ->
        mode
    end
  end

  defp libpq_setting(config, key) do
    case config[key] do
      nil ->
        nil

      value when is_binary(value) ->
        value

      other ->
        raise ArgumentError, "expected #{inspect(key)} to be a string, got: #{inspect(other)}"
    end
  end

  defp expand(nil), do: nil
  defp expand(path) when is_binary(path) or is_list(path), do: Path.expand(to_string(path))

  defp expand(path) do
    raise ArgumentError, "expected a file path, got: #{inspect(path)}"
  end

  defp warn_unverified(:require, config, endpoint) do
    origin =
      if config[:sslmode], do: "sslmode=#{config[:sslmode]}", else: "ssl: [verify: :verify_none]"

    Logger.warning(
      "TLS to #{endpoint} without certificate verification (#{origin}): the connection " <>
        "is encrypted, but the server is not authenticated. Give its CA " <>
        "(ssl: [cacertfile: ...], or sslmode=verify-full with sslrootcert=...) to verify it"
    )
  end

  defp warn_unverified(:prefer, config, endpoint) do
    origin = config[:sslmode] || "prefer, libpq's default with sslrootcert, sslcert or sslkey"

    Logger.warning(
      "TLS to #{endpoint} only if the server offers it, without certificate verification " <>
        "(sslmode=#{origin}): the connection may be plain text, and the server is not " <>
        "authenticated. Use sslmode=verify-full to require and verify TLS"
    )
  end

  defp warn_unverified(_mode, _config, _endpoint), do: :ok

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
