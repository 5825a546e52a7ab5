defmodule StructureLoader.Config.URL do
  @moduledoc false
  # The :url of a repo configuration, as the keys it stands for: what Ecto's own URL parsing
  # gives (userinfo, host, port, database, query parameters as keys), with libpq's query
  # parameters understood and winning over the parts before the query, as in libpq.
  #
  # No error ever quotes the URL or a value of its query: the password may be in either.

  @schemes ["ecto", "postgres", "postgresql"]
  # Parameters of Ecto's pool, read by Ecto and not by the connection.
  @pool_parameters ~w(pool_size timeout pool_timeout idle_interval queue_target queue_interval
                      pool_count migration_lock log)
  @string_parameters %{
    "sslmode" => :sslmode,
    "sslrootcert" => :sslrootcert,
    "sslcert" => :sslcert,
    "sslkey" => :sslkey,
    "application_name" => :application_name,
    "options" => :options,
    "password" => :password,
    "user" => :username,
    "host" => :hostname,
    "dbname" => :database
  }

  @doc "The keyword list the URL stands for; `[]` for `nil`."
  @spec parse(String.t() | nil) :: keyword()
  def parse(nil), do: []

  def parse(url) when is_binary(url) do
    check_userinfo!(url)
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

    Keyword.merge(from_parts, query(uri.query))
  end

  def parse(_url) do
    raise ArgumentError, "expected the :url to be a string"
  end

  # A `/`, `?` or `#` left unescaped in the user or password ends the userinfo early, and
  # the rest of the password would be read as a path or a query.
  defp check_userinfo!(url) do
    with [_scheme, rest] <- String.split(url, "://", parts: 2),
         [userinfo, _host_and_rest] <- split_at_last_at(rest),
         true <- String.contains?(userinfo, ["/", "?", "#"]) do
      raise ArgumentError,
            "the user or password in the :url holds a /, ? or # as it is: percent-encode " <>
              "them (%2F, %3F, %23), as URI.encode_www_form/1 does"
    else
      _ -> :ok
    end
  end

  defp split_at_last_at(rest) do
    case :binary.matches(rest, "@") do
      [] ->
        :none

      matches ->
        {at, 1} = List.last(matches)
        [binary_part(rest, 0, at), binary_part(rest, at + 1, byte_size(rest) - at - 1)]
    end
  end

  defp query(nil), do: []

  defp query(query) do
    query
    |> URI.query_decoder()
    |> Enum.flat_map(fn
      {"ssl", "true"} ->
        [ssl: true]

      {"ssl", "false"} ->
        [ssl: false]

      {"ssl", _value} ->
        raise ArgumentError, "expected the :url parameter ssl to be true or false"

      {"port", value} ->
        [port: value]

      {"connect_timeout", value} ->
        [connect_timeout: value]

      {name, value} when is_map_key(@string_parameters, name) ->
        [{@string_parameters[name], value}]

      {name, _value} when name in @pool_parameters ->
        []

      {name, _value} ->
        raise ArgumentError, "unsupported :url parameter #{inspect(name)}"
    end)
  end
end
