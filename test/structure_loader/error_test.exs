defmodule StructureLoader.ErrorTest do
  use ExUnit.Case, async: true

  alias StructureLoader.Error

  defp server_error(fields) do
    struct!(
      %Error{reason: :database, path: "priv/repo/structure.sql", severity: "ERROR"},
      fields
    )
  end

  test "a server error shows file:line:column, severity, SQLSTATE, a caret and the notes" do
    statement = """
    CREATE TABLE public.users (
        id bigint NOT NULL,
        email public.citext NOT NULL
    );\
    """

    error =
      server_error(
        line: 123,
        column: 11,
        sqlstate: "42704",
        message: ~s(type "public.citext" does not exist),
        statement: statement,
        position:
          String.length("CREATE TABLE public.users (\n    id bigint NOT NULL,\n    email ") + 1,
        detail: "some detail",
        hint: "CREATE EXTENSION citext first."
      )

    assert Exception.message(error) == """
           priv/repo/structure.sql:123:11: ERROR 42704: type "public.citext" does not exist
             | CREATE TABLE public.users (
             |     id bigint NOT NULL,
             |     email public.citext NOT NULL
             |           ^
             | );
           DETAIL: some detail
           HINT: CREATE EXTENSION citext first.\
           """
  end

  test "without a position, the excerpt is the statement's start, without a caret" do
    statement = Enum.map_join(1..8, "\n", &"line #{&1}")

    error =
      server_error(line: 40, column: 1, sqlstate: "42P07", message: "boom", statement: statement)

    assert Exception.message(error) == """
           priv/repo/structure.sql:40:1: ERROR 42P07: boom
             | line 1
             | line 2
             | line 3
             | ...\
           """
  end

  test "a long statement is shortened around the error line" do
    statement = Enum.map_join(1..20, "\n", &"line #{&1}")

    position =
      String.length(Enum.map_join(1..9, "\n", &"line #{&1}")) + 1 + String.length("line ") + 1

    message =
      Exception.message(
        server_error(line: 9, column: 6, message: "x", statement: statement, position: position)
      )

    assert message == """
           priv/repo/structure.sql:9:6: ERROR: x
             | ...
             | line 8
             | line 9
             | line 10
             |      ^
             | line 11
             | line 12
             | ...\
           """
  end

  test "a very long line is cut to a window around the caret" do
    line = String.duplicate("a", 300) <> " WRONG " <> String.duplicate("b", 300)
    position = 302

    message =
      Exception.message(
        server_error(line: 1, column: 302, message: "x", statement: line, position: position)
      )

    [_header, shown, caret] = String.split(message, "\n")
    assert String.starts_with?(shown, "  | ...")
    assert String.ends_with?(shown, "...")
    assert String.length(shown) < 120
    caret_at = String.length(caret) - 1
    assert String.slice(shown, caret_at, 5) == "WRONG"
  end

  test "the caret follows tabs and multibyte characters" do
    statement = "SELECT\t'é', nope;"
    position = String.length("SELECT\t'é', ") + 1

    assert Exception.message(
             server_error(
               line: 2,
               column: 13,
               message: "x",
               statement: statement,
               position: position
             )
           ) ==
             """
             priv/repo/structure.sql:2:13: ERROR: x
               | SELECT\t'é', nope;
               |       \t     ^\
             """
  end

  test "a file error has the path and no location" do
    error = %Error{reason: :file, path: "priv/repo/structure.sql", message: "no such file"}
    assert Exception.message(error) == "priv/repo/structure.sql: no such file"
  end

  test "a parse error has the path, line and column" do
    error = %Error{
      reason: :parse,
      path: "s.sql",
      line: 7,
      column: 3,
      message: "unterminated quoted string"
    }

    assert Exception.message(error) == "s.sql:7:3: unterminated quoted string"
  end

  test "a connection error without a file is the message with its code" do
    error = %Error{
      reason: :auth,
      severity: "FATAL",
      sqlstate: "28P01",
      message: "password authentication failed"
    }

    assert Exception.message(error) == "FATAL 28P01: password authentication failed"
  end

  test "raising shows the rendered message" do
    error = %Error{reason: :parse, path: "s.sql", line: 1, column: 1, message: "bad"}
    assert_raise Error, "s.sql:1:1: bad", fn -> raise error end
  end

  test "inspect leaves out the statement text" do
    error = server_error(message: "x", statement: "CREATE ROLE app PASSWORD 'hunter2';")
    refute inspect(error) =~ "hunter2"
    assert inspect(error) =~ "reason: :database"
  end

  test "from_native/1 builds the exception from the NIF's map" do
    native = %{
      reason: :database,
      message: "m",
      path: "p",
      line: 1,
      column: 2,
      statement: "s",
      sqlstate: "42000",
      severity: "ERROR",
      detail: nil,
      hint: nil,
      position: 1
    }

    assert %Error{reason: :database, line: 1, column: 2, position: 1} = Error.from_native(native)
  end
end
