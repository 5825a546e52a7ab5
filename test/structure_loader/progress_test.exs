defmodule StructureLoader.ProgressTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias StructureLoader.{Progress, Summary, TestDB}

  @moduletag :db

  doctest StructureLoader.Progress

  # Statements taking `pauses` x 0.4 s. Each pause is followed by a COPY, which ends the
  # message being built, so the loader gets to report between them.
  defp slow_structure(pauses) do
    ["CREATE TABLE public.ticks (n integer);\n"] ++
      for n <- 1..pauses do
        "SELECT pg_sleep(0.4);\nCOPY public.ticks (n) FROM stdin;\n#{n}\n\\.\n"
      end
  end

  setup do
    database = TestDB.create!()
    {:ok, config: TestDB.config(database), database: database}
  end

  test "a slow load reports growing figures to :progress and logs them every 5 s", ctx do
    contents = IO.iodata_to_binary(slow_structure(16))
    path = TestDB.write_file!(contents)
    test = self()

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :loaded, copy_rows: 16}} =
                 StructureLoader.load(ctx.config,
                   dump_path: path,
                   progress: &send(test, {:progress, &1})
                 )
      end)

    reports = collect_reports()
    assert length(reports) >= 2, inspect(reports)

    for report <- reports do
      assert %Progress{
               repo: nil,
               path: ^path,
               statements_total: 33,
               bytes_total: bytes_total,
               copy_rows_total: 16
             } = report

      assert bytes_total == byte_size(contents)
      assert report.bytes < bytes_total
      assert report.bytes_per_second > 0
      assert is_integer(report.remaining_ms)
    end

    for [earlier, later] <- Enum.chunk_every(reports, 2, 1, :discard) do
      assert later.bytes > earlier.bytes
      assert later.statements > earlier.statements
      assert later.copy_rows > earlier.copy_rows
      assert later.line > earlier.line
      assert later.elapsed_ms > earlier.elapsed_ms
    end

    progress_lines =
      Regex.scan(
        ~r/\[info\]\s+The structure is loading from #{Regex.escape(path)}: [\d.,]+ MB of [\d.,]+ MB \(\d+%\), \d+ of 33 statements, \d+ of 16 COPY rows, line \d+; [\d.,]+ MB\/s, about \d+ (s|min|h) left/,
        log
      )

    assert progress_lines != [], log
    assert log =~ ~r/The structure has been loaded from #{Regex.escape(path)} in \d+ ms/
  end

  test "structure_load/3 hands the reports to :progress and logs none", ctx do
    path = TestDB.write_file!(slow_structure(4))
    test = self()

    log =
      capture_log(fn ->
        assert {:ok, ^path} =
                 StructureLoader.structure_load("unused", ctx.config,
                   dump_path: path,
                   progress: &send(test, {:progress, &1})
                 )
      end)

    assert [%Progress{statements_total: 9, copy_rows_total: 4} | _] = collect_reports()
    refute log =~ "is loading from #{path}"
  end

  test "a load that ends within a few seconds logs only its summary line", ctx do
    path =
      TestDB.write_file!("""
      CREATE TABLE public.widgets (id bigint NOT NULL);
      CREATE TABLE public.schema_migrations (version bigint NOT NULL);
      """)

    test = self()

    log =
      capture_log(fn ->
        assert {:ok, %Summary{status: :loaded}} =
                 StructureLoader.load(ctx.config,
                   dump_path: path,
                   progress: &send(test, {:progress, &1})
                 )
      end)

    # capture_log also captures what other tests running at the same time log.
    assert [summary] =
             String.split(log, "\n", trim: true) |> Enum.filter(&String.contains?(&1, path))

    assert summary =~ ~r/\[info\]\s+The structure has been loaded from #{Regex.escape(path)} in/
    assert collect_reports() == []
  end

  test "a :progress function that raises cancels the load: the exception, and nothing stays",
       ctx do
    # The first report comes after pg_sleep(1.1); without the cancel, the load would go on
    # into pg_sleep(60) with public.ticks created in its open transaction.
    path =
      TestDB.write_file!("""
      CREATE TABLE public.ticks (n integer);
      SELECT pg_sleep(1.1);
      COPY public.ticks (n) FROM stdin;
      1
      \\.
      SELECT pg_sleep(60);
      COPY public.ticks (n) FROM stdin;
      2
      \\.
      """)

    assert_raise RuntimeError, "observer failed", fn ->
      StructureLoader.load(ctx.config,
        dump_path: path,
        log: false,
        progress: fn _ -> raise "observer failed" end
      )
    end

    # Rolled back, not still open: creating the same table would otherwise wait for it.
    again = TestDB.write_file!("CREATE TABLE public.ticks (n integer);\n")
    assert {:ok, ^again} = StructureLoader.structure_load("unused", ctx.config, dump_path: again)
  end

  test ":progress must be a function of one argument", ctx do
    assert_raise ArgumentError, "expected :progress to be a function of one argument", fn ->
      StructureLoader.load(ctx.config, dump_path: "x.sql", progress: fn -> :ok end)
    end
  end

  defp collect_reports(reports \\ []) do
    receive do
      {:progress, report} -> collect_reports([report | reports])
    after
      0 -> Enum.reverse(reports)
    end
  end
end
