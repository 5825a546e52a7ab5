defmodule MyApp.Repo.Migrations.AddSearchToPosts do
  use Ecto.Migration

  def change do
    alter table(:posts) do
      add :search, :tsvector,
        generated: "ALWAYS AS (to_tsvector('english', title || ' ' || body)) STORED"
    end

    create index(:posts, [:search], using: :gin)
  end
end
