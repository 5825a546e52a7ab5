defmodule StructureLoader.PackageTest do
  # The Hex package must build on its own: its files are taken as `mix hex.build` takes
  # them, copied alone to a directory of their own, compiled there (the NIF by cargo
  # included) and run. cargo reuses the repository's target directory (or
  # CARGO_TARGET_DIR), so only the package's two crates are compiled again: the copied
  # files are new to it, and a file missing from the package fails that build.
  use ExUnit.Case, async: false

  @moduletag :package
  @moduletag timeout: 600_000

  @repo_root Path.expand("..", __DIR__)
  @copy Path.join([@repo_root, "tmp", "package_test", "structure_loader"])
  @fixture Path.join(@repo_root, "test/fixtures/psql15/dumps/dump_with_data.sql")

  setup_all do
    files = package_files()
    copy_files!(files)
    {:ok, files: files}
  end

  test "the package holds the Rust workspace and the library, and nothing built or of the repository's own",
       %{files: files} do
    for file <- ~w(mix.exs .formatter.exs Cargo.toml Cargo.lock README.md LICENSE CHANGELOG.md
                   docs/psql-compatibility.md lib/structure_loader.ex
                   lib/mix/tasks/compile.structure_loader_nif.ex
                   native/structure_loader/Cargo.toml native/structure_loader/src/lib.rs
                   native/structure_loader/benches/split_throughput.rs
                   native/structure_loader_nif/Cargo.toml native/structure_loader_nif/src/lib.rs) do
      assert file in files, "#{file} is not in the package"
    end

    for file <- files do
      refute file =~ ~r{^(priv|_build|deps|target|test|tmp|scripts|bench|\.ci|\.git)(/|$)}, file
      refute file =~ ~r{^native/structure_loader/fuzz/}, file
      refute file =~ ~r{(^|/)target/|\.(so|dylib|beam)$}, file
    end
  end

  test "the package's files alone compile, the NIF included, and check a dump" do
    compiled = mix!(["compile", "--warnings-as-errors"])
    assert compiled.status == 0, compiled.output
    assert File.regular?(Path.join(@copy, "priv/native/libstructure_loader_nif.so"))

    {:ok, summary} = StructureLoader.check(@fixture)
    checked = mix!(["structure_loader.check", @fixture])
    assert checked.status == 0, checked.output

    assert checked.output =~
             """
             #{@fixture}
               statements: #{summary.statements}
               copy_blocks: #{summary.copy_blocks}
               copy_rows: #{summary.copy_rows}
               meta_commands: #{summary.meta_commands}
               pg_dump_version: #{inspect(summary.pg_dump_version)}
             """

    help = mix!(["help", "compile.structure_loader_nif"])
    assert help.output =~ "Builds the Rust NIF with `cargo build --release"
  end

  # mix hex.build's expansion of package[:files]: each entry is a wildcard from the project
  # root; a directory brings every file below it, dot files included (File.ls/1); then the
  # paths matching :exclude_patterns, or .DS_Store, are left out. Directories themselves
  # are not copied here: a file brings its directory.
  defp package_files do
    package = Mix.Project.config()[:package]
    exclude_patterns = Keyword.get(package, :exclude_patterns, []) ++ [~r/\W\.DS_Store$/]

    package
    |> Keyword.fetch!(:files)
    |> Enum.flat_map(&Path.wildcard(Path.join(@repo_root, &1)))
    |> Enum.flat_map(&dir_files/1)
    |> Enum.map(&Path.relative_to(&1, @repo_root))
    |> Enum.uniq()
    |> Enum.reject(fn path -> Enum.any?(exclude_patterns, &(path =~ &1)) end)
    |> Enum.filter(&File.regular?(Path.join(@repo_root, &1)))
  end

  defp dir_files(path) do
    case File.lstat(path) do
      {:ok, %File.Stat{type: :directory}} ->
        [path | path |> File.ls!() |> Enum.flat_map(&dir_files(Path.join(path, &1)))]

      _ ->
        [path]
    end
  end

  # Everything but _build (Elixir's, kept between runs) is replaced.
  defp copy_files!(files) do
    File.mkdir_p!(@copy)

    for entry <- File.ls!(@copy), entry != "_build" do
      File.rm_rf!(Path.join(@copy, entry))
    end

    for file <- files do
      source = Path.join(@repo_root, file)
      target = Path.join(@copy, file)
      File.mkdir_p!(Path.dirname(target))
      File.cp!(source, target)
    end
  end

  defp mix!(args) do
    target_dir = System.get_env("CARGO_TARGET_DIR") || Path.join(@repo_root, "target")

    {output, status} =
      System.cmd("mix", args,
        cd: @copy,
        stderr_to_stdout: true,
        env: StructureLoader.TestMix.env("prod", [{"CARGO_TARGET_DIR", target_dir}])
      )

    %{status: status, output: output}
  end
end
