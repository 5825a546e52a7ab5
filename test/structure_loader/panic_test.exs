defmodule StructureLoader.PanicProbe.Native do
  # The NIF library built with the `panic_probe` cargo feature registers under this name,
  # so it loads beside the real StructureLoader.Native. Stubs for every NIF it holds.
  @moduledoc false

  def load(path), do: :erlang.load_nif(String.to_charlist(path), 0)

  def structure_load(_path, _conn, _opts, _caller), do: :erlang.nif_error(:nif_not_loaded)
  def table_exists(_conn, _schema, _table), do: :erlang.nif_error(:nif_not_loaded)
  def check(_path, _opts), do: :erlang.nif_error(:nif_not_loaded)
end

defmodule StructureLoader.PanicTest do
  # Never a crash: a Rust panic in the middle of a load comes back as an
  # `:internal` error with its message; the VM keeps running and the database is unchanged.
  #
  # A panic cannot be provoked through the real library: it has no code path meant to
  # panic. So this test builds the same NIF crate a second time with the `panic_probe`
  # cargo feature, which makes a load panic when the server sends a notice starting with
  # "structure_loader panic probe: " (from inside the notice callback, with a connection
  # and a transaction open), and loads that library beside the real one under another
  # module name. The library `mix compile` installs is built without the feature; the last
  # test checks that it holds no trace of the probe.
  #
  # Not async: the extra cargo build would compete for the CPU with timing-sensitive tests.
  use ExUnit.Case, async: false

  alias StructureLoader.{Config, Error, TestDB}
  alias StructureLoader.PanicProbe.Native, as: Probe

  @moduletag :db

  @repo_root Path.expand("../..", __DIR__)
  @probe_text "structure_loader panic probe: "

  setup_all do
    :ok = Probe.load(build_probe!())
    :ok
  end

  # `cargo build` (dev profile) of the NIF crate with the feature; returns the library
  # copied to a scratch directory, without its extension, as :erlang.load_nif/2 wants it.
  defp build_probe! do
    cargo = System.find_executable(System.get_env("CARGO", "cargo")) || flunk("cargo not found")

    {output, status} =
      System.cmd(
        cargo,
        ~w(build -p structure_loader_nif --features panic_probe --message-format=json),
        cd: @repo_root,
        stderr_to_stdout: true
      )

    assert status == 0, "cargo build of the panic probe failed:\n#{output}"

    [_, built] =
      Regex.run(
        ~r/"name":"structure_loader_nif".*"filenames":\["([^"]+\.(?:so|dylib))"\]/,
        output
      )

    dir = Path.join(System.tmp_dir!(), "sl-panic-probe-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    File.cp!(built, Path.join(dir, "libstructure_loader_panic_probe.so"))
    Path.join(dir, "libstructure_loader_panic_probe")
  end

  # A row of the README's table "When something goes wrong", in its words.
  test "the failure table in the README: a bug panics in the native code" do
    database = TestDB.create!()
    empty = TestDB.dump!(database)
    name = "sl-panic-#{System.unique_integer([:positive])}"
    {:ok, config} = Config.new(TestDB.config(database, parameters: [application_name: name]))

    path =
      TestDB.write_file!("""
      CREATE TABLE public.before_the_panic (id integer);
      DO $$ BEGIN RAISE NOTICE '#{@probe_text}boom in the middle of a load'; END $$;
      CREATE TABLE public.after_the_panic (id integer);
      """)

    assert {:error, %{reason: :internal} = native_error} =
             Probe.structure_load(
               path,
               Config.to_native(config),
               %{
                 strict: false,
                 no_owner: false,
                 no_privileges: false,
                 no_comments: false,
                 if_absent: nil,
                 timeout_ms: nil
               },
               self()
             )

    error = Error.from_native(native_error)
    assert Exception.message(error) == "the native loader panicked: boom in the middle of a load"

    # Unwinding dropped the connection: the server rolled the transaction back.
    TestDB.assert_same_text!(empty, TestDB.dump!(database), "the database before and after")

    assert TestDB.sql!(
             "postgres",
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '#{name}'"
           ) == "0"

    # The same library, and the real one, go on working.
    assert {:ok, %{statements: 3}} =
             Probe.check(path, %{no_owner: false, no_privileges: false, no_comments: false})

    good = TestDB.write_file!("CREATE TABLE public.after_the_panic (id integer);\n")

    assert {:ok, ^good} =
             StructureLoader.structure_load(
               "/unused",
               TestDB.config(database, dump_path: good, log: false)
             )

    assert StructureLoader.table_exists?(TestDB.config(database), "after_the_panic")
  end

  test "the library mix compile installs has no panic probe" do
    installed = Path.join(:code.priv_dir(:structure_loader), "native/libstructure_loader_nif.so")
    library = File.read!(installed)
    assert :binary.match(library, "Elixir.StructureLoader.Native") != :nomatch
    assert :binary.match(library, @probe_text) == :nomatch
    assert :binary.match(library, "PanicProbe") == :nomatch
  end
end
