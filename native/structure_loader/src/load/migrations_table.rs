//! Looking up a table (Ecto's migrations table) and serialising loads on it.

use crate::connection::connect::ConnectOptions;
use crate::connection::session::{block_on, Session};
use crate::connection::stop::Stop;
use crate::error::LoadError;
use tokio_postgres::types::Type;

/// A table, in `schema` or, when `None`, in the session's `current_schema()`.
/// Names are exact (case-sensitive, unquoted), as the catalog stores them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    /// The schema; `None` for `current_schema()`.
    pub schema: Option<String>,
    /// The table's name.
    pub table: String,
}

/// As `information_schema.tables` shows it, like Ecto's `table_exists?/3`: tables and
/// views the user has any privilege on.
const EXISTS_SQL: &str = "SELECT EXISTS (SELECT FROM information_schema.tables \
     WHERE table_schema = coalesce($1, current_schema()::text) AND table_name = $2)";

/// The first key of the two-key advisory lock every load-once of StructureLoader takes
/// ("SLdr"), so it cannot meet an application's single-key locks or other two-key ones.
const LOCK_NAMESPACE: i32 = 0x534c_6472;

/// Whether `table` exists in `schema` (or `current_schema()`), on a connection of its own.
/// The names travel as query parameters, never inside the SQL.
pub fn table_exists(
    conn: &ConnectOptions,
    schema: Option<&str>,
    table: &str,
) -> Result<bool, LoadError> {
    let mut ignore_notices = |_| {};
    block_on(async {
        let mut session = Session::connect(conn, &mut ignore_notices, Stop::never()).await?;
        let exists = match conn.after_connect.is_empty() {
            true => exists(&mut session, schema, table).await,
            // In a transaction that ends with the session, as the after-connect SQL does.
            false => {
                async {
                    session.execute("BEGIN").await?;
                    session.run_after_connect().await?;
                    exists(&mut session, schema, table).await
                }
                .await
            }
        };
        session.close().await;
        exists
    })?
}

/// Whether the table exists, as seen by the session's current transaction.
pub(crate) async fn exists(
    session: &mut Session<'_>,
    schema: Option<&str>,
    table: &str,
) -> Result<bool, LoadError> {
    let rows = session
        .query(EXISTS_SQL, &[(&schema, Type::TEXT), (&table, Type::TEXT)])
        .await?;
    Ok(rows[0].get(0))
}

/// Takes the transaction-scoped advisory lock for loading into `table`; held until the
/// transaction ends, so concurrent loads of the same structure run one after another.
pub(crate) async fn lock(session: &mut Session<'_>, table: &TableRef) -> Result<(), LoadError> {
    session
        .query(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[
                (&LOCK_NAMESPACE, Type::INT4),
                (&lock_key(table), Type::INT4),
            ],
        )
        .await?;
    Ok(())
}

/// The second lock key: a stable hash (32-bit FNV-1a) of the table's name as given, the
/// same in every process and every version of this library.
fn lock_key(table: &TableRef) -> i32 {
    let schema = table.schema.as_deref().unwrap_or("");
    let bytes = schema.bytes().chain([0]).chain(table.table.bytes());
    let hash = bytes.fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, table: &str) -> TableRef {
        TableRef {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
        }
    }

    #[test]
    fn lock_keys_are_stable_and_tell_tables_apart() {
        // Fixed value: a change would let two library versions load at once.
        assert_eq!(lock_key(&table(None, "schema_migrations")), 1_796_039_744);
        assert_ne!(
            lock_key(&table(Some("public"), "schema_migrations")),
            lock_key(&table(None, "schema_migrations"))
        );
        assert_ne!(
            lock_key(&table(Some("a"), "bc")),
            lock_key(&table(Some("ab"), "c"))
        );
    }
}
