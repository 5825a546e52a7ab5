defmodule StructureLoader.Corpus do
  @moduledoc """
  The corpus of real dumps in `test/fixtures/corpus`, and its manifest: one map per file,
  keyed by the manifest's column names (`"file"`, `"psql_pg15_result"`, ...).
  """

  @dir Path.expand("../fixtures/corpus", __DIR__)

  @doc "The corpus directory."
  @spec dir() :: Path.t()
  def dir, do: @dir

  @doc "The manifest's path: a test module that reads it declares it an `@external_resource`."
  @spec manifest() :: Path.t()
  def manifest, do: Path.join(@dir, "MANIFEST.tsv")

  @doc "The manifest's rows."
  @spec entries() :: [%{String.t() => String.t()}]
  def entries do
    [header | rows] = manifest() |> File.read!() |> String.split("\n", trim: true)
    columns = String.split(header, "\t")
    Enum.map(rows, &Map.new(Enum.zip(columns, String.split(&1, "\t"))))
  end
end
