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
                pg_dump_version: "15.18 (Debian 15.18-0+deb12u1)",
                extensions: [],
                left_out: %{owner: 0, privileges: 0, comments: 0}
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

  test "names the extensions a dump creates, in file order" do
    assert {:ok, %{extensions: ["citext", "fuzzystrmatch", "pg_trgm", "pgcrypto", "uuid-ossp"]}} =
             StructureLoader.check(Path.join(@corpus, "hexpm.sql"))
  end

  test "counts what each of pg_restore's filters would leave out, and only when asked" do
    path = Path.join(@corpus, "pagila-schema-2024.sql")
    none = %{owner: 0, privileges: 0, comments: 0}
    assert {:ok, %{statements: 233, left_out: ^none}} = StructureLoader.check(path)

    assert {:ok, %{statements: 233, left_out: %{owner: 57, privileges: 0, comments: 0}}} =
             StructureLoader.check(path, no_owner: true)

    assert {:ok, %{statements: 233, left_out: %{owner: 57, privileges: 2, comments: 0}}} =
             StructureLoader.check(path, no_owner: true, no_privileges: true)

    assert {:ok, %{left_out: %{owner: 0, privileges: 0, comments: 5}}} =
             StructureLoader.check(Path.join(@corpus, "hexpm.sql"), no_comments: true)
  end

  test "takes the filters as options, and nothing else" do
    path = Path.join(@corpus, "hexpm.sql")

    assert_raise ArgumentError,
                 "unknown option :username for StructureLoader.check/2; its options are " <>
                   ":no_owner, :no_privileges, :no_comments",
                 fn -> StructureLoader.check(path, username: "app") end

    assert_raise ArgumentError, "expected :no_owner to be true or false", fn ->
      StructureLoader.check(path, no_owner: "yes")
    end
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
