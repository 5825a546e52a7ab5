defmodule StructureLoader.TestMix do
  @moduledoc """
  Running mix in another project (a copy of the example app, the package's files) from
  within this project's `mix test`.
  """

  @doc """
  The environment for `System.cmd("mix", ...)` in another project in `mix_env`, with
  `extra` variables: without the MIX_* paths of this run, which point at this project.
  """
  @spec env(String.t(), [{String.t(), String.t() | nil}]) :: [{String.t(), String.t() | nil}]
  def env(mix_env, extra \\ []) do
    [{"MIX_ENV", mix_env}] ++
      Enum.map(
        ~w(MIX_BUILD_PATH MIX_BUILD_ROOT MIX_DEPS_PATH MIX_EXS MIX_LOCKFILE MIX_TARGET),
        &{&1, nil}
      ) ++
      extra
  end
end
