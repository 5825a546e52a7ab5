defmodule StructureLoader.ConfigTest do
  use ExUnit.Case, async: true

  alias StructureLoader.{Config, Error}

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
               host: "db.internal",
               port: 6432,
               user: "app user",
               password: "p@ss:word",
               database: "my/db"
             } = config
    end

    test "accepts the postgres and postgresql schemes, and an IPv6 host" do
      assert new!(url: "postgres://u@[::1]/d").host == "::1"
      assert new!(url: "postgresql://u@h/d").port == 5432
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

      assert {config.host, config.database, config.port} == {"url-host", "url_db", 7000}
    end

    test "leaves absent parts to the keys and the environment" do
      env = %{"PGHOST" => "env-host", "PGUSER" => "env_user", "PGPASSWORD" => "env_pw"}
      config = new!([url: "postgres:///only_db", port: 6000], env)

      assert %Config{host: "env-host", port: 6000, user: "env_user", password: "env_pw"} = config
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

    test "refuses unknown parameters and a non-integer connect_timeout" do
      assert_raise ArgumentError, ~r/unsupported :url parameter foo=bar/, fn ->
        Config.new([url: "ecto://u@h/d?foo=bar"], @no_env)
      end

      assert_raise ArgumentError, ~r/connect_timeout/, fn ->
        Config.new([url: "ecto://u@h/d?connect_timeout=soon"], @no_env)
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
               host: "pg.local",
               port: 6543,
               user: "pg_user",
               password: "pg_pw",
               database: "pg_db"
             } = new!([], env)
    end

    test "are localhost, 5432, $USER, no password and a 15 s connect timeout otherwise" do
      config = new!([database: "d"], %{"USER" => "os_user"})

      assert %Config{host: "localhost", port: 5432, user: "os_user", password: nil} = config
      assert config.connect_timeout == 15_000
      assert config.parameters == []
    end

    test "explicit keys win over the environment" do
      env = %{"PGHOST" => "env", "PGPORT" => "1", "PGUSER" => "env", "PGDATABASE" => "env"}
      config = new!([hostname: "key", port: 2, username: "key", database: "key"], env)
      assert {config.host, config.port, config.user, config.database} == {"key", 2, "key", "key"}
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
      assert %Config{host: "/run/postgresql", port: 6000} =
               new!(@base ++ [socket_dir: "/run/postgresql"])
    end

    test "a relative socket_dir is expanded, as the NIF needs an absolute directory" do
      assert new!(@base ++ [socket_dir: "sockets"]).host == Path.expand("sockets")
    end

    test "a socket file gives the directory and the port, and wins over socket_dir" do
      config =
        new!(@base ++ [socket_dir: "/elsewhere", socket: "/var/run/postgresql/.s.PGSQL.5433"])

      assert {config.host, config.port} == {"/var/run/postgresql", 5433}
    end

    test "a socket file not named .s.PGSQL.PORT is an ArgumentError" do
      assert_raise ArgumentError, ~r/\.s\.PGSQL\.PORT/, fn ->
        Config.new(@base ++ [socket: "/tmp/postgres.sock"], @no_env)
      end
    end

    test "an absolute PGHOST is a socket directory, as in libpq" do
      assert new!([username: "u", database: "d"], %{"PGHOST" => "/tmp/pg"}).host == "/tmp/pg"
    end
  end

  describe "TLS, not supported yet, is refused rather than downgraded" do
    for {label, config} <- [
          {"ssl: true", [ssl: true]},
          {"ssl options", [ssl: [verify: :verify_peer, cacertfile: "/ca.pem"]]},
          {"ssl=true in the url", [url: "ecto://u@h/d?ssl=true"]},
          {"sslmode=require", [url: "ecto://u@h/d?sslmode=require"]},
          {"sslmode=verify-ca", [url: "ecto://u@h/d?sslmode=verify-ca"]},
          {"sslmode=verify-full", [url: "ecto://u@h/d?sslmode=verify-full"]}
        ] do
      test label do
        config = Keyword.merge([username: "u", database: "d"], unquote(config))
        assert {:error, %Error{reason: :connect} = error} = Config.new(config, @no_env)
        assert error.message =~ "TLS is not supported yet"
        assert error.message =~ "does not fall back to an unencrypted connection"
      end
    end

    test "ssl: false and sslmode=disable, allow or prefer connect without TLS" do
      assert new!(username: "u", database: "d", ssl: false)

      for mode <- ~w(disable allow prefer) do
        assert new!(url: "ecto://u@h/d?sslmode=#{mode}")
      end
    end

    test "an unknown sslmode is an ArgumentError" do
      assert_raise ArgumentError, ~r/sslmode=sometimes/, fn ->
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
    assert inspect(config) =~ ~s(host: "db")
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
             host: "h",
             port: 1,
             user: "u",
             password: "pw",
             dbname: "d",
             connect_timeout_ms: 15_000,
             parameters: [{"a", "1"}]
           }
  end
end
