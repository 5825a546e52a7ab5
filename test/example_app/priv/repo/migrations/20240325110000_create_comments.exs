defmodule MyApp.Repo.Migrations.CreateComments do
  use Ecto.Migration

  def up do
    create table(:comments) do
      add :post_id, references(:posts, on_delete: :delete_all), null: false
      add :author_id, references(:users, on_delete: :nilify_all)
      add :body, :text, null: false

      timestamps(type: :utc_datetime)
    end

    create index(:comments, [:post_id])

    execute """
    CREATE FUNCTION count_comments() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        UPDATE posts SET comments_count = comments_count + 1 WHERE id = NEW.post_id;
      ELSE
        UPDATE posts SET comments_count = comments_count - 1 WHERE id = OLD.post_id;
      END IF;
      RETURN NULL;
    END;
    $$
    """

    execute """
    CREATE TRIGGER comments_count_on_posts
    AFTER INSERT OR DELETE ON comments
    FOR EACH ROW EXECUTE FUNCTION count_comments()
    """

    execute """
    CREATE VIEW published_posts AS
    SELECT id, author_id, title, slug, comments_count, inserted_at
    FROM posts
    WHERE status = 'published'
    """
  end

  def down do
    execute "DROP VIEW published_posts"
    execute "DROP TRIGGER comments_count_on_posts ON comments"
    execute "DROP FUNCTION count_comments()"
    drop table(:comments)
  end
end
