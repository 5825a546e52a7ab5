defmodule MyApp.Application do
  @moduledoc false

  use Application

  @impl true
  def start(_type, _args) do
    Supervisor.start_link([MyApp.Repo, MyApp.OtherRepo],
      strategy: :one_for_one,
      name: MyApp.Supervisor
    )
  end
end
