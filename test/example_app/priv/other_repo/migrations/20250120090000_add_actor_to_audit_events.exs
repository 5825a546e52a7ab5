defmodule MyApp.OtherRepo.Migrations.AddActorToAuditEvents do
  use Ecto.Migration

  def change do
    alter table(:audit_events) do
      add :actor_id, :bigint
    end
  end
end
