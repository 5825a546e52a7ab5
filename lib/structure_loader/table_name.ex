defmodule StructureLoader.TableName do
  @moduledoc false
  # Table names as table_exists?/3 takes them: an exact name, or a schema and a name
  # separated by a dot, either part possibly in double quotes.

  @doc """
  `"schema.table"` as `{"schema", "table"}`, `"table"` as `{nil, "table"}`; a part in double
  quotes is taken literally (`""` for a quote). Raises `ArgumentError` for anything else.
  """
  @spec parse(String.t()) :: {String.t() | nil, String.t()}
  def parse(name) do
    case name_parts(name, []) do
      {:ok, [table]} ->
        {nil, table}

      {:ok, [schema, table]} ->
        {schema, table}

      _ ->
        raise ArgumentError,
              "expected a table name like table, schema.table or \"odd.schema\".\"Table\", " <>
                "got: #{inspect(name)}"
    end
  end

  # Each part is followed either by the end of the name or by a dot and another part.
  defp name_parts(name, parts) do
    case name_part(name) do
      {:ok, part, ""} when part != "" -> {:ok, Enum.reverse([part | parts])}
      {:ok, part, "." <> rest} when part != "" -> name_parts(rest, [part | parts])
      _ -> :error
    end
  end

  defp name_part("\"" <> quoted), do: quoted_part(quoted, "")

  defp name_part(name) do
    {part, rest} =
      case :binary.match(name, ".") do
        {at, _} -> {binary_part(name, 0, at), binary_part(name, at, byte_size(name) - at)}
        :nomatch -> {name, ""}
      end

    if String.contains?(part, "\""), do: :error, else: {:ok, part, rest}
  end

  defp quoted_part("\"\"" <> rest, part), do: quoted_part(rest, part <> "\"")
  defp quoted_part("\"" <> rest, part), do: {:ok, part, rest}
  defp quoted_part(<<byte, rest::binary>>, part), do: quoted_part(rest, <<part::binary, byte>>)
  defp quoted_part("", _part), do: :error
end
