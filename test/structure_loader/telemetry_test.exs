defmodule StructureLoader.TelemetryTest do
  # Handlers are global: each test keeps only the events of its own file.
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, Summary, TestDB}

  @moduletag :db

  @events [
    [:structure_loader, :load, :start],
    [:structure_loader, :load, :stop],
    [:structure_loader, :load, :exception]
  ]

  setup do
    database = TestDB.create!()
    test = self()
    id = "structure_loader_test_#{System.unique_integer([:positive])}"

    :ok =
      :telemetry.attach_many(
        id,
        @events,
        fn event, measurements, metadata, _ -> send(test, {event, measurements, metadata}) end,
        nil
      )

    on_exit(fn -> :telemetry.detach(id) end)
    {:ok, config: TestDB.config(database)}
  end

  test "a load emits start, then stop with the repo, the path, the counts and the status",
       ctx do
    path =
      TestDB.write_file!("""
      CREATE TABLE public.widgets (id bigint NOT NULL);
      COPY public.widgets (id) FROM stdin;
      1
      2
      \\.
      """)

    assert {:ok, %Summary{status: :loaded}} =
             StructureLoader.load(ctx.config, dump_path: path, log: false)

    assert_received {[:structure_loader, :load, :start], %{monotonic_time: _, system_time: _},
                     %{repo: nil, path: ^path}}

    assert_received {[:structure_loader, :load, :stop], %{duration: duration},
                     %{
                       repo: nil,
                       path: ^path,
                       status: :loaded,
                       statements: 2,
                       copy_blocks: 1,
                       copy_rows: 2,
                       meta_commands: 0,
                       skipped_settings: [],
                       error: nil
                     }}

    assert duration > 0

    assert {:ok, %Summary{status: :already_loaded}} =
             StructureLoader.load(ctx.config,
               dump_path: path,
               migration_source: "widgets",
               log: false
             )

    assert_received {[:structure_loader, :load, :stop], _, %{status: :already_loaded}}
  end

  test "a failed load ends its span with stop, the error in the metadata", ctx do
    path = TestDB.write_file!("CREATE TABLE public.widgets (id txet);\n")

    assert {:error, %Error{reason: :database} = error} =
             StructureLoader.structure_load("unused", ctx.config, dump_path: path)

    assert_received {[:structure_loader, :load, :start], _, %{path: ^path}}

    assert_received {[:structure_loader, :load, :stop], _,
                     %{path: ^path, status: :error, error: ^error, statements: 0}}

    refute_received {[:structure_loader, :load, :exception], _, _}
  end

  test "an exception raised during a load ends its span with :exception", ctx do
    path =
      TestDB.write_file!(
        "CREATE TABLE public.t (n integer);\nSELECT pg_sleep(0.7);\n" <>
          "COPY public.t FROM stdin;\n\\.\nSELECT pg_sleep(0.7);\nCOPY public.t FROM stdin;\n\\.\n"
      )

    assert_raise RuntimeError, "progress handler failed", fn ->
      StructureLoader.load(ctx.config,
        dump_path: path,
        log: false,
        progress: fn _ -> raise "progress handler failed" end
      )
    end

    assert_received {[:structure_loader, :load, :exception], %{duration: _},
                     %{path: ^path, kind: :error, reason: %RuntimeError{}}}

    refute_received {[:structure_loader, :load, :stop], _, %{path: ^path}}
  end
end
