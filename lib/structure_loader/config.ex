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

  alias StructureLoader.Config.{TLS, URL}

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
    config = Keyword.merge(config, URL.parse(url))
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
       ssl: TLS.resolve(config, host, port)
     }}
  end

  @doc false
  # The connection map the NIF takes.
  @spec to_native(t()) :: map()
  def to_native(%__MODULE__{} = config) do
    %{
      endpoints: [%{host: config.host, port: config.port}],
      address_family: :ipv4,
      user: config.user,
      password: config.password,
      dbname: config.database,
      connect_timeout_ms: config.connect_timeout,
      parameters: config.parameters,
      ssl: config.ssl
    }
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
