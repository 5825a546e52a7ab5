defmodule Mix.Tasks.Compile.StructureLoaderNif do
  @shortdoc "Builds the structure_loader NIF with cargo and installs it in priv/native"
  @moduledoc """
  Builds the Rust NIF with `cargo build --release -p structure_loader_nif` and installs
  the library as `priv/native/libstructure_loader_nif.so`.

  StructureLoader's `mix.exs` lists it after Mix's own compilers, so it runs on every
  `mix compile` of the library, also when StructureLoader is a dependency of another project
  (it is a module of the library: the Elixir compiler must build it first). It does nothing
  while the installed library is newer than every Rust source, `Cargo.toml` and
  `Cargo.lock`. `mix compile --force` rebuilds it anyway; `mix compile --verbose` shows
  cargo's output, which is otherwise shown only when the build fails. The `CARGO` environment variable names
  the cargo binary to use (default: `cargo` on the `PATH`), and `CARGO_TARGET_DIR` is honoured.

  A clean build takes about a minute on two cores; see the README's Install section for
  what a Docker build stage needs.

      $ mix compile --force --verbose
  """

  use Mix.Task.Compiler

  @crate "structure_loader_nif"
  @installed "priv/native/libstructure_loader_nif.so"

  @impl Mix.Task.Compiler
  def run(args) do
    if "--force" in args or stale?() do
      build(verbose: "--verbose" in args)
    else
      {:noop, []}
    end
  end

  @impl Mix.Task.Compiler
  def manifests, do: [installed()]

  @impl Mix.Task.Compiler
  def clean, do: File.rm(installed())

  # Mix runs a dependency's compilers in the dependency's own project.
  defp root, do: Path.dirname(Mix.Project.project_file())

  defp installed, do: Path.join(root(), @installed)

  defp stale? do
    sources =
      Enum.flat_map(
        ["native/**/src/**/*", "native/**/Cargo.toml", "native/**/build.rs"],
        &Path.wildcard(Path.join(root(), &1))
      ) ++ [Path.join(root(), "Cargo.toml"), Path.join(root(), "Cargo.lock")]

    Mix.Utils.stale?(sources, [installed()])
  end

  defp build(verbose: verbose) do
    with {:ok, cargo} <- find_cargo(),
         :ok <- cargo_build(cargo, verbose) do
      install()
    else
      {:error, message} ->
        Mix.shell().error(message)
        {:error, [diagnostic(message)]}
    end
  end

  defp find_cargo do
    name = System.get_env("CARGO", "cargo")

    case System.find_executable(name) do
      nil ->
        {:error,
         "cannot build the structure_loader NIF: #{inspect(name)} was not found. " <>
           "Install a Rust toolchain (https://rustup.rs) or set CARGO to the cargo binary."}

      path ->
        {:ok, path}
    end
  end

  defp cargo_build(cargo, verbose) do
    args = ["build", "--release", "-p", @crate]
    Mix.shell().info("Compiling #{@crate} (cargo #{Enum.join(args, " ")})")
    into = if verbose, do: IO.stream(:stdio, :line), else: ""

    case System.cmd(cargo, args, cd: root(), stderr_to_stdout: true, into: into) do
      {_, 0} ->
        :ok

      {output, status} ->
        unless verbose, do: IO.write(output)
        {:error, "cargo build of #{@crate} failed (exit status #{status}); see its output above"}
    end
  end

  # Copying to a temporary file beside the target and renaming it keeps a concurrent
  # `mix compile` or a running VM from ever seeing a half-written library.
  defp install do
    artifact = Path.join([target_dir(), "release", artifact_name()])
    installed = installed()
    temporary = "#{installed}.#{System.unique_integer([:positive])}.tmp"

    with :ok <- File.mkdir_p(Path.dirname(installed)),
         :ok <- File.cp(artifact, temporary),
         :ok <- File.rename(temporary, installed) do
      # Mix links priv/ into _build only when it exists before compiling; on a fresh
      # clone it appears just now.
      Mix.Project.build_structure()
      {:ok, []}
    else
      {:error, reason} ->
        File.rm(temporary)
        message = "cannot install #{artifact} as #{installed}: #{:file.format_error(reason)}"
        Mix.shell().error(message)
        {:error, [diagnostic(message)]}
    end
  end

  defp target_dir do
    Path.expand(System.get_env("CARGO_TARGET_DIR", "target"), root())
  end

  defp artifact_name do
    case :os.type() do
      {:unix, :darwin} -> "lib#{@crate}.dylib"
      _ -> "lib#{@crate}.so"
    end
  end

  defp diagnostic(message) do
    %Mix.Task.Compiler.Diagnostic{
      compiler_name: @crate,
      file: Path.join(root(), "Cargo.toml"),
      message: message,
      position: nil,
      severity: :error
    }
  end
end
