defmodule MyApp.StructureTest do
  # Runs after the `test` alias has loaded each repo's structure.sql.
  use ExUnit.Case, async: true

  test "each repo's structure is loaded, with the migrations its dump recorded" do
    for {repo, table} <- [{MyApp.Repo, "posts"}, {MyApp.OtherRepo, "audit_events"}] do
      assert %{rows: [[true]]} = repo.query!("SELECT to_regclass($1) IS NOT NULL", [table])
      assert %{rows: [[dumped]]} = repo.query!("SELECT count(*) FROM schema_migrations")
      assert dumped > 0
    end
  end
end
