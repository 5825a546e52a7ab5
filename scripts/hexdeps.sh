# Sourced by the scripts that build the tests, the example app or the benchmark: where the
# Hex registry cannot be reached, STRUCTURE_LOADER_HEXDEPS names the sources of Ecto and
# Postgrex (ecto_sql, ecto, postgrex, db_connection, decimal, telemetry, jason) for mix.exs to
# take as path dependencies; this sets it to the copy beside the repository when there is one.
# shellcheck shell=bash
if [ -z "${STRUCTURE_LOADER_HEXDEPS:-}" ] && [ -d "$repo/../shared/hexdeps" ]; then
  STRUCTURE_LOADER_HEXDEPS=$(cd "$repo/../shared/hexdeps" && pwd)
  export STRUCTURE_LOADER_HEXDEPS
fi
