defmodule StructureLoader.Config.TLS do
  @moduledoc false
  # TLS settings from a repo configuration: Postgrex's :ssl (and :ssl_opts) and libpq's
  # sslmode, sslrootcert, sslcert and sslkey, resolved into what the NIF takes
  # (StructureLoader.Config.ssl/0). The rules are in StructureLoader.Config's documentation.

  require Logger

  @sslmodes %{
    "disable" => nil,
    "allow" => :prefer,
    "prefer" => :prefer,
    "require" => :require,
    "verify-ca" => :verify_ca,
    "verify-full" => :verify_full
  }
  @no_ssl_options %{
    mode: nil,
    cacerts: [],
    cacertfile: nil,
    certfile: nil,
    keyfile: nil,
    server_name: nil
  }
  # Erlang :ssl options that only tune the protocol; rustls has safe defaults for them.
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

  @doc "The TLS settings of `config` for connections to `endpoints`, `nil` for none."
  @spec resolve(keyword(), [{String.t(), :inet.port_number()}]) :: StructureLoader.Config.ssl()
  # TLS: the mode from libpq's sslmode if given, else from :ssl; the trusted CAs, client
  # certificate and server name from :ssl, libpq's files replacing its.
  def resolve(config, endpoints) do
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
      warn_unverified(
        mode,
        config,
        Enum.map_join(endpoints, ", ", fn {host, port} -> "#{host}:#{port}" end)
      )

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
                # Never the value: it may come from a URL, whose query could hold anything.
                "unsupported sslmode value; expected one of " <>
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
end
