defmodule StructureLoader.ConfigTest do
  use ExUnit.Case, async: true

  alias StructureLoader.Config

  doctest Config

  @no_env %{}

  defp new!(config, env \\ @no_env) do
    {:ok, config} = Config.new(config, env)
    config
  end

  describe "url" do
    test "gives user, password, host, port and database, percent-decoded" do
      config = new!(url: "ecto://app%20user:p%40ss%3Aword@db.internal:6432/my%2Fdb")

      assert %Config{
               endpoints: [{"db.internal", 6432}],
               user: "app user",
               password: "p@ss:word",
               database: "my/db"
             } = config
    end

    test "accepts the postgres and postgresql schemes, and an IPv6 host" do
      assert new!(url: "postgres://u@[::1]/d").endpoints == [{"::1", 5432}]
      assert new!(url: "postgresql://u@h/d").endpoints == [{"h", 5432}]
    end

    test "refuses other schemes" do
      assert_raise ArgumentError, ~r/ecto:\/\//, fn ->
        Config.new([url: "mysql://u@h/d"], @no_env)
      end

      assert_raise ArgumentError, fn -> Config.new([url: 42], @no_env) end
    end

    test "wins over explicit keys, as Ecto merges it" do
      config =
        new!(
          url: "ecto://u@url-host/url_db",
          hostname: "key-host",
          database: "key_db",
          port: 7000
        )

      assert {config.endpoints, config.database} == {[{"url-host", 7000}], "url_db"}
    end

    test "leaves absent parts to the keys and the environment" do
      env = %{"PGHOST" => "env-host", "PGUSER" => "env_user", "PGPASSWORD" => "env_pw"}
      config = new!([url: "postgres:///only_db", port: 6000], env)

      assert %Config{endpoints: [{"env-host", 6000}], user: "env_user", password: "env_pw"} =
               config

      assert config.database == "only_db"
    end

    test "takes connect_timeout and application_name, and ignores Ecto's pool parameters" do
      config =
        new!(
          url: "ecto://u@h/d?connect_timeout=1500&application_name=boot&pool_size=10&timeout=5"
        )

      assert config.connect_timeout == 1500
      assert config.parameters == [{"application_name", "boot"}]
    end

    test "takes libpq's parameters, which win over the parts before the query" do
      config =
        new!(
          url:
            "postgresql://ignored@ignored:1/ignored?user=app&password=s%3Dcret&host=db&" <>
              "port=6432&dbname=app_prod&options=-c%20search_path%3Dapp"
        )

      assert %Config{endpoints: [{"db", 6432}], user: "app", password: "s=cret"} = config
      assert config.database == "app_prod"
      assert config.parameters == [{"options", "-c search_path=app"}]
    end

    test "refuses unknown parameters and a non-integer connect_timeout, quoting no value" do
      error =
        assert_raise ArgumentError, fn ->
          Config.new([url: "ecto://u@h/d?passwd=hunter2secret"], @no_env)
        end

      assert error.message == ~s(unsupported :url parameter "passwd")

      assert_raise ArgumentError, ~r/connect_timeout/, fn ->
        Config.new([url: "ecto://u@h/d?connect_timeout=soon"], @no_env)
      end
    end

    test "a /, ? or # left in the password is an error that does not show it" do
      for url <- ["ecto://user:pa?ss-hunter2@host/db", "ecto://user:pa/ss-hunter2@host/db"] do
        error = assert_raise ArgumentError, fn -> Config.new([url: url], @no_env) end
        assert error.message =~ "percent-encode them"
        refute error.message =~ "hunter2"
        refute error.message =~ "ss-"
      end
    end

    test "nil is no url, as in a runtime.exs reading an unset variable" do
      assert new!(url: nil, database: "d", username: "u").database == "d"
    end
  end

  describe "defaults" do
    test "come from PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE" do
      env = %{
        "PGHOST" => "pg.local",
        "PGPORT" => "6543",
        "PGUSER" => "pg_user",
        "PGPASSWORD" => "pg_pw",
        "PGDATABASE" => "pg_db",
        "USER" => "os_user"
      }

      assert %Config{
               endpoints: [{"pg.local", 6543}],
               user: "pg_user",
               password: "pg_pw",
               database: "pg_db"
             } = new!([], env)
    end

    test "are localhost, 5432, $USER, no password and a 15 s connect timeout otherwise" do
      config = new!([database: "d"], %{"USER" => "os_user"})

      assert %Config{endpoints: [{"localhost", 5432}], user: "os_user", password: nil} = config
      assert config.connect_timeout == 15_000
      assert config.parameters == []
    end

    test "explicit keys win over the environment" do
      env = %{"PGHOST" => "env", "PGPORT" => "1", "PGUSER" => "env", "PGDATABASE" => "env"}
      config = new!([hostname: "key", port: 2, username: "key", database: "key"], env)
      assert {config.endpoints, config.user, config.database} == {[{"key", 2}], "key", "key"}
    end

    test "a missing database or user is an ArgumentError" do
      assert_raise ArgumentError, ~r/no :database .*PGDATABASE/, fn ->
        Config.new([username: "u"], @no_env)
      end

      assert_raise ArgumentError, ~r/no :username/, fn -> Config.new([database: "d"], @no_env) end
    end

    test "a malformed port is an ArgumentError" do
      assert_raise ArgumentError, ~r/port/, fn ->
        Config.new([database: "d", username: "u", port: "x"], @no_env)
      end

      assert_raise ArgumentError, ~r/port/, fn ->
        Config.new([database: "d", username: "u", port: 70_000], @no_env)
      end
    end
  end

  describe "unix sockets" do
    @base [username: "u", database: "d", hostname: "ignored", port: 6000]

    test "socket_dir wins over hostname and keeps the port" do
      assert new!(@base ++ [socket_dir: "/run/postgresql"]).endpoints == [
               {"/run/postgresql", 6000}
             ]
    end

    test "a relative socket_dir is expanded, as the NIF needs an absolute directory" do
      assert new!(@base ++ [socket_dir: "sockets"]).endpoints == [{Path.expand("sockets"), 6000}]
    end

    test "a socket file gives the directory and the port, and wins over socket_dir" do
      config =
        new!(@base ++ [socket_dir: "/elsewhere", socket: "/var/run/postgresql/.s.PGSQL.5433"])

      assert config.endpoints == [{"/var/run/postgresql", 5433}]
    end

    test "a socket file not named .s.PGSQL.PORT is an ArgumentError" do
      assert_raise ArgumentError, ~r/\.s\.PGSQL\.PORT/, fn ->
        Config.new(@base ++ [socket: "/tmp/postgres.sock"], @no_env)
      end
    end

    test "an absolute PGHOST is a socket directory, as in libpq" do
      assert new!([username: "u", database: "d"], %{"PGHOST" => "/tmp/pg"}).endpoints ==
               [{"/tmp/pg", 5432}]
    end
  end

  describe "TLS from the :ssl option, as Postgrex takes it" do
    @tls_base [hostname: "db.config-test", username: "u", database: "d"]

    defp ssl!(config), do: new!(Keyword.merge(@tls_base, config)).ssl

    test "is off by default and with ssl: false" do
      assert ssl!([]) == nil
      assert ssl!(ssl: false) == nil
      assert ssl!(ssl: false, ssl_opts: [verify: :verify_none]) == nil
    end

    test "ssl: true verifies the chain and the host name against the system's CAs" do
      assert ssl!(ssl: true) == %{
               mode: :verify_full,
               cacerts: [],
               cacertfile: nil,
               certfile: nil,
               keyfile: nil,
               server_name: nil
             }

      assert ssl!(url: "ecto://u@h/d?ssl=true").mode == :verify_full
      assert ssl!(ssl: [verify: :verify_peer]).mode == :verify_full
    end

    test "verify: :verify_none encrypts without verification, with a warning" do
      log =
        ExUnit.CaptureLog.capture_log(fn ->
          assert ssl!(ssl: [verify: :verify_none, cacertfile: "/ca.pem"]).mode == :require
        end)

      assert log =~
               "TLS to db.config-test:5432 without certificate verification " <>
                 "(ssl: [verify: :verify_none])"
    end

    test "CAs, the server name and a client certificate are taken, paths expanded" do
      ssl =
        ssl!(
          ssl: [
            cacertfile: ~c"certs/ca.pem",
            server_name_indication: ~c"db.internal",
            certfile: "/etc/app/client.pem",
            keyfile: "/etc/app/client.key"
          ]
        )

      assert ssl == %{
               mode: :verify_full,
               cacerts: [],
               cacertfile: Path.expand("certs/ca.pem"),
               certfile: "/etc/app/client.pem",
               keyfile: "/etc/app/client.key",
               server_name: "db.internal"
             }
    end

    test "cacerts take DER binaries and :public_key.cacerts_get/0 records" do
      assert ssl!(ssl: [cacerts: ["der-1", {:cert, "der-2", :otp_record}]]).cacerts ==
               ["der-1", "der-2"]

      assert_raise ArgumentError, ~r/DER-encoded/, fn ->
        Config.new(@tls_base ++ [ssl: [cacerts: [:not_der]]], @no_env)
      end
    end

    test "server_name_indication: :disable checks the chain only" do
      assert ssl!(ssl: [cacertfile: "/ca.pem", server_name_indication: :disable]).mode ==
               :verify_ca
    end

    test "the older ssl: true, ssl_opts: [...] works" do
      ssl = ssl!(ssl: true, ssl_opts: [cacertfile: "/ca.pem", verify: :verify_peer])
      assert {ssl.mode, ssl.cacertfile} == {:verify_full, "/ca.pem"}
    end

    test "protocol tuning options are ignored, others refused" do
      ssl =
        ssl!(
          ssl: [
            versions: [:"tlsv1.3"],
            customize_hostname_check: [match_fun: &:erlang.==/2],
            depth: 3
          ]
        )

      assert ssl.mode == :verify_full

      for option <- [verify_fun: {&:erlang.==/2, nil}, password: ~c"secret", verify: :maybe] do
        assert_raise ArgumentError, ~r/TLS option #{inspect(elem(option, 0))}/, fn ->
          Config.new(@tls_base ++ [ssl: [option]], @no_env)
        end
      end

      assert_raise ArgumentError, ~r/:ssl to be a boolean or a keyword list/, fn ->
        Config.new(@tls_base ++ [ssl: "yes"], @no_env)
      end
    end

    test "a client certificate needs its key, and the key its certificate" do
      for half <- [[certfile: "/c.pem"], [keyfile: "/c.key"]] do
        assert_raise ArgumentError, ~r/both a certificate file .* and a key file/, fn ->
          Config.new(@tls_base ++ [ssl: half], @no_env)
        end
      end
    end
  end

  describe "TLS from libpq's sslmode, sslrootcert, sslcert and sslkey" do
    defp url_ssl!(query), do: new!(url: "ecto://u@url.config-test/d?" <> query).ssl

    test "sslmode names the mode; disable means none" do
      assert url_ssl!("sslmode=disable") == nil
      assert url_ssl!("sslmode=verify-ca").mode == :verify_ca
      assert url_ssl!("sslmode=verify-full").mode == :verify_full
    end

    test "require and prefer encrypt without verification, with a warning" do
      log =
        ExUnit.CaptureLog.capture_log(fn ->
          assert url_ssl!("sslmode=require").mode == :require
          assert url_ssl!("sslmode=prefer").mode == :prefer
          assert url_ssl!("sslmode=allow").mode == :prefer
        end)

      assert log =~
               "TLS to url.config-test:5432 without certificate verification (sslmode=require)"

      assert log =~
               ~r/TLS to url.config-test:5432 only if .* \(sslmode=prefer\): the connection may/

      assert log =~ ~r/TLS to url.config-test:5432 only if .* \(sslmode=allow\)/
    end

    test "require with a root certificate verifies the chain, as in libpq" do
      assert url_ssl!("sslmode=require&sslrootcert=/ca.pem") == %{
               mode: :verify_ca,
               cacerts: [],
               cacertfile: "/ca.pem",
               certfile: nil,
               keyfile: nil,
               server_name: nil
             }
    end

    test "sslrootcert=system means the system's CAs, verify-full by default" do
      assert %{mode: :verify_full, cacertfile: nil} = url_ssl!("sslrootcert=system")
      assert url_ssl!("sslmode=verify-full&sslrootcert=system").mode == :verify_full

      assert_raise ArgumentError, ~r/weak sslmode=verify-ca .* sslrootcert=system/, fn ->
        Config.new([url: "ecto://u@h/d?sslmode=verify-ca&sslrootcert=system"], @no_env)
      end
    end

    test "sslcert and sslkey give the client certificate" do
      ssl = url_ssl!("sslmode=verify-full&sslcert=/c.pem&sslkey=/c.key&sslrootcert=/ca.pem")
      assert {ssl.certfile, ssl.keyfile, ssl.cacertfile} == {"/c.pem", "/c.key", "/ca.pem"}
    end

    test "files without sslmode mean prefer, libpq's default, with a warning" do
      log =
        ExUnit.CaptureLog.capture_log(fn ->
          assert url_ssl!("sslrootcert=/ca.pem").mode == :prefer
        end)

      assert log =~
               ~r/TLS to url.config-test:5432 only if .* \(sslmode=prefer, libpq's default with/
    end

    test "are also taken as keys, as Ecto's own URL parsing leaves them" do
      ssl = ssl!(sslmode: "verify-ca", sslrootcert: "/ca.pem")
      assert {ssl.mode, ssl.cacertfile} == {:verify_ca, "/ca.pem"}
    end

    test "sslmode sets the mode over :ssl, whose certificates still count" do
      assert ssl!(ssl: true, url: "ecto://u@h/d?sslmode=disable") == nil

      ssl = ssl!(ssl: [cacertfile: "/ca.pem"], url: "ecto://u@h/d?sslmode=require")
      assert {ssl.mode, ssl.cacertfile} == {:verify_ca, "/ca.pem"}

      ssl = ssl!(ssl: [cacertfile: "/ca.pem"], url: "ecto://u@h/d?sslrootcert=/other.pem")
      assert {ssl.mode, ssl.cacertfile} == {:verify_full, "/other.pem"}
    end

    test "an unknown sslmode is an ArgumentError" do
      assert_raise ArgumentError, ~r/unsupported sslmode value; expected one of allow/, fn ->
        Config.new([url: "ecto://u@h/d?sslmode=sometimes"], @no_env)
      end
    end
  end

  test "parameters become string pairs, the url's application_name winning" do
    config =
      new!(
        url: "ecto://u@h/d?application_name=from_url",
        parameters: [application_name: "key", search_path: "app"]
      )

    assert config.parameters == [{"application_name", "from_url"}, {"search_path", "app"}]

    assert_raise ArgumentError, ~r/:parameters/, fn ->
      Config.new([username: "u", database: "d", parameters: "application_name=x"], @no_env)
    end
  end

  test "a connect_timeout must be a positive number of milliseconds" do
    assert new!(username: "u", database: "d", connect_timeout: 250).connect_timeout == 250
    # As Ecto leaves one from a URL's query.
    assert new!(username: "u", database: "d", connect_timeout: "250").connect_timeout == 250
    # Postgrex spends the two one after the other.
    assert new!(username: "u", database: "d", connect_timeout: 250, handshake_timeout: 100).connect_timeout ==
             350

    assert_raise ArgumentError, ~r/:connect_timeout/, fn ->
      Config.new([username: "u", database: "d", connect_timeout: :infinity], @no_env)
    end
  end

  test "the settings must be a keyword list" do
    assert_raise ArgumentError, ~r/keyword list/, fn -> Config.new(%{database: "d"}, @no_env) end
  end

  test "inspect never shows the password" do
    config = new!(url: "ecto://app:hunter2secret@db/app")
    refute inspect(config) =~ "hunter2secret"
    assert inspect(config) =~ ~s(endpoints: [{"db", 5432}])
  end

  test "to_native/1 gives the NIF's connection map" do
    config =
      new!(
        username: "u",
        password: "pw",
        database: "d",
        hostname: "h",
        port: 1,
        parameters: [a: 1]
      )

    assert Config.to_native(config) == %{
             endpoints: [%{host: "h", port: 1}],
             address_family: :ipv4,
             user: "u",
             password: "pw",
             dbname: "d",
             connect_timeout_ms: 15_000,
             parameters: [{"a", "1"}],
             ssl: nil,
             after_connect: [],
             primary_only: false
           }
  end

  describe "keys of Postgrex and DBConnection" do
    @base [username: "u", database: "d"]

    test "endpoints are tried in order, and win over hostname" do
      config = new!(@base ++ [hostname: "h", endpoints: [{"db1", 5432}, {~c"db2", 6432}]])
      assert config.endpoints == [{"db1", 5432}, {"db2", 6432}]

      assert_raise ArgumentError, ~r/:endpoints/, fn ->
        Config.new(@base ++ [endpoints: []], @no_env)
      end
    end

    test "socket_options: [:inet6] resolves names to IPv6; tuning options are accepted" do
      assert new!(@base ++ [socket_options: [:inet6, keepalive: true]]).address_family == :ipv6
      assert new!(@base ++ [socket_options: [nodelay: true]]).address_family == :ipv4

      assert_raise ArgumentError, ~r/unsupported socket option \{:ip,/, fn ->
        Config.new(@base ++ [socket_options: [ip: {10, 0, 0, 1}]], @no_env)
      end
    end

    test "configure is called with the configuration before connecting" do
      configure = fn config -> Keyword.put(config, :password, "from-configure") end
      assert new!(@base ++ [configure: configure]).password == "from-configure"

      assert new!(@base ++ [configure: {Keyword, :put, [:password, "from-mfa"]}]).password ==
               "from-mfa"
    end

    test "after_connect runs its SQL when it is a Postgrex query, and is refused otherwise" do
      sql = "SET search_path TO app"
      assert new!(@base ++ [after_connect: {Postgrex, :query!, [sql, []]}]).after_connect == [sql]

      assert new!(@base ++ [after_connect: {Postgrex, :query, [sql, [], []]}]).after_connect == [
               sql
             ]

      for other <- [
            {MyApp.Repo, :setup, ["secret-arg"]},
            fn _conn -> :ok end,
            {Postgrex, :query!, [sql, [1]]}
          ] do
        error =
          assert_raise ArgumentError, fn ->
            Config.new(@base ++ [after_connect: other], @no_env)
          end

        assert error.message =~ "parameters: [search_path:"
        assert error.message =~ ":migration_default_prefix"
        refute error.message =~ "secret-arg"
      end
    end

    test "target_server_type: :primary skips standbys, :secondary is refused" do
      assert new!(@base ++ [target_server_type: :primary]).primary_only
      refute new!(@base ++ [target_server_type: :any]).primary_only

      assert_raise ArgumentError, ~r/:secondary names standbys/, fn ->
        Config.new(@base ++ [target_server_type: :secondary], @no_env)
      end
    end

    test "the older search_path list becomes the parameter, unless given there" do
      assert new!(@base ++ [search_path: ["app", "public"]]).parameters ==
               [{"search_path", "app, public"}]

      assert new!(@base ++ [search_path: ["x"], parameters: [search_path: "app"]]).parameters ==
               [{"search_path", "app"}]
    end
  end
end
