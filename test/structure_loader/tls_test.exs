defmodule StructureLoader.TLSTest do
  # Against two PostgreSQL servers of its own with ssl=on (one with a valid certificate,
  # one with an expired one), with a CA and certificates made by the openssl CLI here,
  # and the shared test server, which has no TLS.
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, TestDB, TestPorts}

  @moduletag :db

  @pg_script Path.expand("../../scripts/pg", __DIR__)
  @password "sl-tls-pw-#{System.unique_integer([:positive])}"
  # Only this database demands a client certificate (pg_hba.conf below).
  @client_cert_db "sl_tls_client_cert"

  @dump """
  CREATE TABLE public.tls_probe AS
    SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid();
  CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY, inserted_at timestamp(0));
  INSERT INTO public.schema_migrations (version) VALUES (20240101000000);
  """

  setup_all do
    unless System.find_executable("openssl") do
      raise "the TLS tests make their certificates with the openssl CLI: install openssl"
    end

    root = Path.join(System.tmp_dir!(), "sl_tls_#{System.unique_integer([:positive])}")
    certs = make_certificates!(Path.join(root, "certs"))
    servers = %{valid: Path.join(root, "valid"), expired: Path.join(root, "expired")}

    on_exit(fn ->
      for {_name, dir} <- servers, do: System.cmd(@pg_script, ["stop", dir])
      File.rm_rf!(root)
    end)

    valid_port = start_tls_server!(servers.valid, certs, certs.server)
    expired_port = start_tls_server!(servers.expired, certs, certs.expired)
    sql!(servers.valid, "postgres", ~s(CREATE DATABASE "#{@client_cert_db}"))

    %{
      certs: certs,
      tls: %{dir: servers.valid, port: valid_port},
      expired: %{dir: servers.expired, port: expired_port}
    }
  end

  setup %{tls: tls} do
    database = "sl_tls_#{System.unique_integer([:positive])}"
    sql!(tls.dir, "postgres", ~s(CREATE DATABASE "#{database}"))

    on_exit(fn ->
      sql!(tls.dir, "postgres", ~s[DROP DATABASE IF EXISTS "#{database}" WITH (FORCE)])
    end)

    %{database: database}
  end

  describe "verify-full" do
    test "structure_load/2 loads over TLS with the right CA and the IP address",
         %{tls: tls, certs: certs, database: database} do
      config = config(tls, database, ssl: [cacertfile: certs.ca], dump_path: dump!())

      assert {:ok, _path} = StructureLoader.structure_load("unused", config)
      assert probe!(tls, database) == "t|TLSv1.3"
    end

    test "load/2 loads once over TLS by the DNS name localhost",
         %{tls: tls, certs: certs, database: database} do
      config =
        config(tls, database,
          hostname: "localhost",
          ssl: [cacertfile: certs.ca, verify: :verify_peer],
          dump_path: dump!()
        )

      assert {:ok, %StructureLoader.Summary{status: :loaded}} = StructureLoader.load(config)

      assert {:ok, %StructureLoader.Summary{status: :already_loaded}} =
               StructureLoader.load(config)

      assert probe!(tls, database) =~ ~r/^t\|/
    end

    test "table_exists?/3 works with sslmode=verify-full and sslrootcert in the URL",
         %{tls: tls, certs: certs, database: database} do
      config =
        url_config(tls, database, "sslmode=verify-full&sslrootcert=#{URI.encode(certs.ca)}")

      refute StructureLoader.table_exists?(config, "schema_migrations")
      assert StructureLoader.table_exists?(config, "pg_catalog.pg_class")
    end

    test "the CA may be given as DER, and server_name_indication names the server",
         %{tls: tls, certs: certs, database: database} do
      [{:Certificate, der, :not_encrypted}] = certs.ca |> File.read!() |> :public_key.pem_decode()

      config = config(tls, database, ssl: [cacerts: [der], server_name_indication: ~c"localhost"])

      refute StructureLoader.table_exists?(config, "schema_migrations")
    end

    test "fails with a CA that did not sign the server's certificate",
         %{tls: tls, certs: certs, database: database} do
      error = connect_error!(config(tls, database, ssl: [cacertfile: certs.other_ca]))

      assert error.message ==
               "cannot connect to 127.0.0.1:#{tls.port}: the server's certificate is not " <>
                 "signed by a trusted CA (unknown issuer); trusted are the CA certificates " <>
                 "in #{certs.other_ca}"
    end

    test "fails for a host name the certificate is not for; verify-ca does not check it",
         %{tls: tls, certs: certs, database: database} do
      ssl = [cacertfile: certs.ca, server_name_indication: ~c"db.example.com"]
      error = connect_error!(config(tls, database, ssl: ssl))

      assert error.message ==
               "cannot connect to 127.0.0.1:#{tls.port}: the server's certificate does not " <>
                 "match the host name \"db.example.com\" (name mismatch: it is for localhost, " <>
                 "127.0.0.1)"

      verify_ca = "sslmode=verify-ca&sslrootcert=#{URI.encode(certs.ca)}"
      refute StructureLoader.table_exists?(url_config(tls, database, verify_ca), "t")
    end

    test "fails with an expired certificate, in verify-ca too",
         %{expired: expired, certs: certs} do
      for ssl <- [
            [cacertfile: certs.ca],
            [cacertfile: certs.ca, server_name_indication: :disable]
          ] do
        error = connect_error!(config(expired, "postgres", ssl: ssl))

        assert error.message ==
                 "cannot connect to 127.0.0.1:#{expired.port}: the server's certificate has " <>
                   "expired (it was valid until 2021-01-01 00:00:00 UTC)"
      end
    end
  end

  describe "without verification" do
    test "sslmode=require encrypts without a CA, with a warning",
         %{tls: tls, database: database} do
      config = url_config(tls, database, "sslmode=require") ++ [dump_path: dump!()]

      log =
        ExUnit.CaptureLog.capture_log(fn ->
          assert {:ok, _path} = StructureLoader.structure_load("unused", config)
        end)

      assert log =~
               "TLS to 127.0.0.1:#{tls.port} without certificate verification (sslmode=require)"

      assert probe!(tls, database) =~ ~r/^t\|/
    end

    test "verify: :verify_none connects even to the expired certificate", %{expired: expired} do
      ExUnit.CaptureLog.capture_log(fn ->
        config = config(expired, "postgres", ssl: [verify: :verify_none])
        assert StructureLoader.table_exists?(config, "pg_catalog.pg_class")
      end)
    end

    test "sslmode=prefer uses TLS when the server offers it, else plain text",
         %{tls: tls, database: database} do
      ExUnit.CaptureLog.capture_log(fn ->
        config = url_config(tls, database, "sslmode=prefer") ++ [dump_path: dump!()]
        assert {:ok, _path} = StructureLoader.structure_load("unused", config)
        assert probe!(tls, database) =~ ~r/^t\|/

        plain_database = TestDB.create!()

        plain = TestDB.config(plain_database, sslmode: "prefer", dump_path: dump!())

        assert {:ok, _path} = StructureLoader.structure_load("unused", plain)
        assert TestDB.sql!(plain_database, "SELECT ssl FROM tls_probe") == "f"
      end)
    end
  end

  describe "a server without TLS" do
    test "ssl: true is a clear error, never a plain-text connection" do
      config = TestDB.config("postgres", ssl: true)
      error = connect_error!(config)

      assert error.message ==
               "cannot connect to #{config[:hostname]}:#{config[:port]}: the server does not " <>
                 "support SSL (TLS), but the settings require it (verify-full); " <>
                 "StructureLoader never falls back to plain text then"
    end

    test "sslmode=require over a unix socket is refused: sockets carry no TLS" do
      config =
        TestDB.config("postgres",
          socket_dir: System.fetch_env!("PG_SOCKET_DIR"),
          sslmode: "require"
        )

      ExUnit.CaptureLog.capture_log(fn ->
        error = connect_error!(config)
        assert error.message =~ "a unix socket carries no TLS"
      end)
    end
  end

  test "ssl: true trusts the system's CAs, which did not sign a private CA's certificate",
       %{tls: tls, database: database} do
    error = connect_error!(config(tls, database, ssl: true))
    assert error.message =~ "(unknown issuer); trusted are the system's trusted CAs"
  end

  describe "a server demanding a client certificate (clientcert=verify-full)" do
    test "accepts the client certificate, from :ssl or from the URL",
         %{tls: tls, certs: certs} do
      ssl = [cacertfile: certs.ca, certfile: certs.client, keyfile: certs.client_key]
      refute StructureLoader.table_exists?(config(tls, @client_cert_db, ssl: ssl), "t")

      query =
        URI.encode_query(%{
          "sslmode" => "verify-full",
          "sslrootcert" => certs.ca,
          "sslcert" => certs.client,
          "sslkey" => certs.client_key
        })

      refute StructureLoader.table_exists?(url_config(tls, @client_cert_db, query), "t")
    end

    test "rejects a connection without one", %{tls: tls, certs: certs} do
      error = connect_error!(config(tls, @client_cert_db, ssl: [cacertfile: certs.ca]))
      assert %Error{reason: :auth, sqlstate: "28000"} = error
      assert error.message == "connection requires a valid client certificate"
    end

    test "rejects a certificate from another CA", %{tls: tls, certs: certs} do
      ssl = [cacertfile: certs.ca, certfile: certs.stranger, keyfile: certs.stranger_key]
      error = connect_error!(config(tls, @client_cert_db, ssl: ssl))

      assert error.message =~
               "the server broke off the TLS handshake (UnknownCA); it may not accept " <>
                 "the client certificate"
    end

    test "a file that is not a key is named, its contents never shown",
         %{tls: tls, certs: certs} do
      not_a_key = Path.join(Path.dirname(certs.client_key), "not_a_key.pem")
      File.write!(not_a_key, "-----BEGIN PRIVATE KEY\n" <> key_body(certs.client_key))
      ssl = [cacertfile: certs.ca, certfile: certs.client, keyfile: not_a_key]
      error = connect_error!(config(tls, @client_cert_db, ssl: ssl))

      assert error.message ==
               "cannot read the private key file #{not_a_key}: it is not a well-formed PEM file"
    end
  end

  defp config(server, database, extra) do
    Keyword.merge(
      [
        hostname: "127.0.0.1",
        port: server.port,
        username: "postgres",
        password: @password,
        database: database,
        connect_timeout: 5_000
      ],
      extra
    )
  end

  defp url_config(server, database, query) do
    [url: "ecto://postgres:#{@password}@127.0.0.1:#{server.port}/#{database}?#{query}"]
  end

  # A connection failure, whichever function meets it, with no secret in its message.
  defp connect_error!(config) do
    error =
      assert_raise Error, fn -> StructureLoader.table_exists?(config, "schema_migrations") end

    assert {:error, ^error} =
             StructureLoader.structure_load("unused", Keyword.put(config, :dump_path, dump!()))

    refute error.message =~ @password
    refute error.message =~ "PRIVATE KEY"
    error
  end

  defp dump! do
    TestDB.write_file!(@dump)
  end

  defp probe!(server, database) do
    sql!(server.dir, database, "SELECT ssl, version FROM tls_probe")
  end

  defp key_body(key_file) do
    key_file
    |> File.read!()
    |> String.split("\n")
    |> Enum.reject(&String.starts_with?(&1, "-----"))
    |> Enum.join("\n")
  end

  ## Servers

  # A cluster of its own with ssl=on and `certificate` as the server's; only the
  # client-certificate database demands a client certificate.
  defp start_tls_server!(dir, certs, certificate) do
    {port, _} = TestPorts.start_on_free_port(&start_server(dir, &1))

    for {source, name} <- [
          {certificate, "server.pem"},
          {certs.server_key, "server.key"},
          {certs.ca, "ca.pem"}
        ] do
      install_for_server!(source, Path.join(dir, name))
    end

    hba = Path.join(dir, "data/pg_hba.conf")

    File.write!(hba, """
    hostssl #{@client_cert_db} all 127.0.0.1/32 scram-sha-256 clientcert=verify-full
    host    #{@client_cert_db} all 127.0.0.1/32 reject
    #{File.read!(hba)}
    """)

    for sql <- [
          "ALTER SYSTEM SET ssl_cert_file = '#{dir}/server.pem'",
          "ALTER SYSTEM SET ssl_key_file = '#{dir}/server.key'",
          "ALTER SYSTEM SET ssl_ca_file = '#{dir}/ca.pem'",
          "ALTER SYSTEM SET ssl = on",
          "SELECT pg_reload_conf()"
        ] do
      sql!(dir, "postgres", sql)
    end

    wait_for_tls!(dir)
    port
  end

  # The server reads its key only if its own user owns it and no one else may read it.
  defp install_for_server!(source, destination) do
    owner = if System.cmd("id", ["-u"]) == {"0\n", 0}, do: ["-o", "postgres"], else: []
    {_, 0} = System.cmd("install", ["-m", "600"] ++ owner ++ [source, destination])
  end

  defp wait_for_tls!(dir, attempts \\ 50) do
    cond do
      sql!(dir, "postgres", "SHOW ssl") == "on" ->
        :ok

      attempts == 0 ->
        raise "the server in #{dir} did not turn ssl on"

      true ->
        Process.sleep(100)
        wait_for_tls!(dir, attempts - 1)
    end
  end

  # scripts/pg's server on `port`: :port_taken when another process listens there.
  defp start_server(dir, port) do
    {output, status} =
      System.cmd(@pg_script, ["start", dir, to_string(port)],
        env: [{"PG_TEST_PASSWORD", @password}],
        stderr_to_stdout: true
      )

    cond do
      status == 0 -> {:ok, port}
      output =~ "Address already in use" -> :port_taken
      true -> raise "cannot start a TLS test server in #{dir}:\n#{output}"
    end
  end

  # psql over the server's unix socket, which trusts everyone.
  defp sql!(dir, database, sql) do
    port =
      dir |> Path.join("data/postmaster.pid") |> File.read!() |> String.split("\n") |> Enum.at(3)

    case System.cmd(
           "psql",
           [
             "-X",
             "-A",
             "-t",
             "-v",
             "ON_ERROR_STOP=1",
             "-h",
             dir,
             "-p",
             port,
             "-d",
             database,
             "-c",
             sql
           ],
           stderr_to_stdout: true
         ) do
      {output, 0} -> String.trim_trailing(output, "\n")
      {output, status} -> raise "psql exited with #{status} running #{sql}:\n#{output}"
    end
  end

  ## Certificates

  # A CA, and signed by it a server certificate for localhost and 127.0.0.1, an expired
  # one with the same key, and a client certificate for the user postgres; an unrelated
  # CA, and a client certificate it signed.
  defp make_certificates!(dir) do
    File.mkdir_p!(dir)
    path = &Path.join(dir, &1)

    ca = self_signed_ca!(path.("ca"), "StructureLoader test CA")
    other_ca = self_signed_ca!(path.("other_ca"), "Unrelated CA")

    server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    client_ext = "extendedKeyUsage=clientAuth\n"
    server_csr = request!(path.("server"), "localhost")

    %{
      ca: ca.cert,
      other_ca: other_ca.cert,
      server: sign!(ca, server_csr, path.("server.pem"), server_ext, ["-days", "3650"]),
      expired:
        sign!(ca, server_csr, path.("expired.pem"), server_ext, [
          "-startdate",
          "20200101000000Z",
          "-enddate",
          "20210101000000Z"
        ]),
      server_key: path.("server.key"),
      client:
        sign!(ca, request!(path.("client"), "postgres"), path.("client.pem"), client_ext, [
          "-days",
          "3650"
        ]),
      client_key: path.("client.key"),
      stranger:
        sign!(
          other_ca,
          request!(path.("stranger"), "postgres"),
          path.("stranger.pem"),
          client_ext,
          [
            "-days",
            "3650"
          ]
        ),
      stranger_key: path.("stranger.key")
    }
  end

  defp self_signed_ca!(base, name) do
    openssl!(
      ~w(req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650) ++
        ["-subj", "/CN=#{name}", "-keyout", base <> ".key", "-out", base <> ".pem"] ++
        ~w(-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign)
    )

    # `openssl ca` (which can sign with any validity dates) keeps a database per CA.
    File.write!(base <> ".index", "")

    File.write!(base <> ".cnf", """
    [ca]
    default_ca = this_ca
    [this_ca]
    database = #{base}.index
    new_certs_dir = #{Path.dirname(base)}
    rand_serial = yes
    unique_subject = no
    default_md = sha256
    policy = any_name
    [any_name]
    commonName = supplied
    """)

    %{cert: base <> ".pem", key: base <> ".key", config: base <> ".cnf"}
  end

  defp request!(base, common_name) do
    openssl!(
      ~w(req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes) ++
        ["-subj", "/CN=#{common_name}", "-keyout", base <> ".key", "-out", base <> ".csr"]
    )

    base <> ".csr"
  end

  defp sign!(ca, csr, out, extensions, validity) do
    extfile = out <> ".ext"
    File.write!(extfile, extensions)

    openssl!(
      ["ca", "-batch", "-notext", "-config", ca.config, "-cert", ca.cert, "-keyfile", ca.key] ++
        ["-in", csr, "-out", out, "-extfile", extfile] ++ validity
    )

    out
  end

  defp openssl!(args) do
    case System.cmd("openssl", args, stderr_to_stdout: true) do
      {_output, 0} ->
        :ok

      {output, status} ->
        raise "openssl #{Enum.join(args, " ")} exited with #{status}:\n#{output}"
    end
  end
end
