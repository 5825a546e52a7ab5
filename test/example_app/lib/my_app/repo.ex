defmodule MyApp.Repo do
  @moduledoc """
  Stands in for an `Ecto.Repo`: StructureLoader only needs `config/0`, and this one
  builds it the way Ecto does, from the `:my_app` application environment plus `otp_app`.
  """

  @otp_app :my_app

  @doc "The repo configuration, as `Ecto.Repo.config/0` returns it."
  @spec config() :: keyword()
  def config do
    [otp_app: @otp_app] ++ Application.get_env(@otp_app, __MODULE__, [])
  end
end
