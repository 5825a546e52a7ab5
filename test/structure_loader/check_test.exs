defmodule StructureLoader.CheckTest do
  use ExUnit.Case, async: true

  alias StructureLoader.{Error, TestDB}

  @corpus Path.expand("../fixtures/corpus", __DIR__)

  test "counts statements, COPY blocks, rows and meta-commands, and reads the pg_dump version" do
    path =
      TestDB.write_file!("""
      --
      -- PostgreSQL database dump
      --

      \\restrict abc

      -- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
      -- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

      SET statement_timeout = 0;
      CREATE TABLE public.t (i integer);
      COPY public.t (i) FROM stdin;
      1
      2
      \\.
      COPY public.t (i) FROM stdin;
      \\.

      \\unrestrict abc
      INSERT INTO public."schema_migrations" (version) VALUES (20240101000000);
      """)

    assert StructureLoader.check(path) ==
             {:ok,
              %{
                statements: 5,
                copy_blocks: 2,
                copy_rows: 2,
                meta_commands: 2,
                pg_dump_version: "15.18 (Debian 15.18-0+deb12u1)"
              }}
  end

  test "a real pg_dump 18 structure.sql" do
    assert {:ok, %{pg_dump_version: "18.4", meta_commands: 2, copy_blocks: 0}} =
             StructureLoader.check(Path.join(@corpus, "philomena-pg18.sql"))
  end

  @tag :db
  test "counts what a load counts, the statements it leaves out included" do
    # Its preamble sets client_encoding, which is never sent, and transaction_timeout,
    # which servers before 17 do not know.
    path = Path.join(@corpus, "philomena-pg18.sql")
    {:ok, checked} = StructureLoader.check(path)
    database = TestDB.create!()

    {result, _log} =
      ExUnit.CaptureLog.with_log(fn ->
        StructureLoader.load(TestDB.config(database), dump_path: path, log: false)
      end)

    assert {:ok, loaded} = result

    assert Map.take(loaded, [:statements, :copy_blocks, :copy_rows, :meta_commands]) ==
             Map.take(checked, [:statements, :copy_blocks, :copy_rows, :meta_commands])
  end

  test "a dump without a header has no version" do
    assert {:ok, %{statements: 1, pg_dump_version: nil}} =
             StructureLoader.check(TestDB.write_file!("CREATE TABLE t (i integer);\n"))
  end

  test "reports the errors a load would find before sending anything" do
    missing =
      Path.join(System.tmp_dir!(), "sl_ex_missing_#{System.unique_integer([:positive])}.sql")

    assert {:error, %Error{reason: :file, path: ^missing}} = StructureLoader.check(missing)

    unterminated = TestDB.write_file!("SELECT 1;\nSELECT $body$ never closed;\n")

    assert {:error, %Error{reason: :parse, line: 2, column: 8}} =
             StructureLoader.check(unterminated)

    shell = TestDB.write_file!("SELECT 1;\n\\! rm -rf /\n")
    assert {:error, %Error{reason: :meta_command, line: 2}} = StructureLoader.check(shell)
  end
end
