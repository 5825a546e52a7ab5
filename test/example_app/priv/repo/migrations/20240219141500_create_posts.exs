defmodule MyApp.Repo.Migrations.CreatePosts do
  use Ecto.Migration

  def change do
    execute "CREATE TYPE post_status AS ENUM ('draft', 'published', 'archived')",
            "DROP TYPE post_status"

    create table(:posts) do
      add :author_id, references(:users, on_delete: :nilify_all)
      add :title, :string, null: false
      add :slug, :string, null: false
      add :body, :text, null: false, default: ""
      add :status, :post_status, null: false, default: "draft"
      add :comments_count, :integer, null: false, default: 0

      timestamps(type: :utc_datetime)
    end

    create unique_index(:posts, [:slug])
    create index(:posts, [:author_id])
    create constraint(:posts, :title_not_blank, check: "btrim(title) <> ''")
  end
end
