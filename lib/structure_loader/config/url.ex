defmodule StructureLoader.Config.URL do
  @moduledoc false
  # The :url of a repo configuration, as the keys it stands for: what Ecto's own URL parsing
  # gives (userinfo, host, port, database, ssl=true), and libpq's TLS parameters.

  @schemes ["ecto", "postgres", "postgresql"]
  @pool_url_parameters ~w(pool_size timeout pool_timeout idle_interval queue_target queue_interval)

  @doc "The keyword list the URL stands for; `[]` for `nil`."
  @spec parse(String.t() | nil) :: keyword()
  def parse(nil), do: []

  def parse(url) when is_binary(url) do
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

  def parse(url) do
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
end
