//! What the database tests share: the server named by the PG* variables, a fresh
//! database per test (dropped afterwards), and dumps written to temporary files.
// Each test file uses a different part of this module.
#![allow(dead_code)]

#[path = "../fixtures/mod.rs"]
mod fixtures;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use structure_loader::connection::{ConnectOptions, Notice};
use structure_loader::load::{LoadOptions, LoadSummary};
use structure_loader::LoadError;

const HOW_TO_START: &str = "run the tests through scripts/test, or start a throwaway server \
     first: eval \"$(scripts/pg start /tmp/sl-pg)\"";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set, so there is no server to test against: {HOW_TO_START}")
    })
}

/// The test server over TCP, as the PG* variables describe it, on database `dbname`.
pub fn server(dbname: &str) -> ConnectOptions {
    ConnectOptions {
        password: Some(env("PGPASSWORD")),
        connect_timeout: Duration::from_secs(10),
        ..ConnectOptions::new(
            &env("PGHOST"),
            env("PGPORT").parse().expect("PGPORT is a port number"),
            &env("PGUSER"),
            dbname,
        )
    }
}

/// The directory of the test server's unix socket.
pub fn socket_dir() -> String {
    env("PG_SOCKET_DIR")
}

/// A name no other test of any running test binary uses: `sl_LABEL_PID_N`.
fn unique_name(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "sl_{label}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn create(label: &str) -> TestDb {
        let name = unique_name(label);
        admin()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        TestDb { name }
    }

    /// A database owned by `role`, as a managed service gives an application its own.
    pub fn owned_by(label: &str, role: &TestRole) -> TestDb {
        let db = TestDb::create(label);
        admin()
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" OWNER TO \"{}\"",
                db.name, role.name
            ))
            .unwrap();
        db
    }

    pub fn options(&self) -> ConnectOptions {
        server(&self.name)
    }

    /// Connecting as `role` rather than as the superuser.
    pub fn options_as(&self, role: &TestRole) -> ConnectOptions {
        ConnectOptions {
            user: role.name.clone(),
            password: Some(TestRole::PASSWORD.to_owned()),
            ..self.options()
        }
    }

    pub fn client(&self) -> postgres::Client {
        connect(&self.name)
    }

    pub fn execute(&self, sql: &str) {
        self.client().batch_execute(sql).unwrap();
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }

    /// Every schema, relation, function and extension not there in a fresh database,
    /// sorted: a failed load must leave this empty.
    pub fn user_objects(&self) -> Vec<String> {
        let rows = self
            .client()
            .query(
                "SELECT 'schema ' || nspname FROM pg_namespace \
                   WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'public') \
                     AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%' \
                 UNION ALL SELECT 'relation ' || c.oid::regclass::text FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
                 UNION ALL SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p \
                   JOIN pg_namespace n ON n.oid = p.pronamespace \
                   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 UNION ALL SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql' \
                 UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata \
                 ORDER BY 1",
                &[],
            )
            .unwrap();
        rows.iter().map(|row| row.get(0)).collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let dropped = admin().batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
        if let Err(error) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// A login role that is not a superuser, as an application's role on a managed server,
/// dropped when the test ends (after the databases it owns: declare it before them).
pub struct TestRole {
    pub name: String,
}

impl TestRole {
    pub const PASSWORD: &'static str = "sl-role-pw-3c9e";

    pub fn create(label: &str) -> TestRole {
        let name = unique_name(label);
        admin()
            .batch_execute(&format!(
                "CREATE ROLE \"{name}\" LOGIN NOSUPERUSER PASSWORD '{}'",
                TestRole::PASSWORD
            ))
            .unwrap();
        TestRole { name }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        if let Err(error) = admin().batch_execute(&format!("DROP ROLE \"{}\"", self.name)) {
            eprintln!("could not drop test role {}: {error}", self.name);
        }
    }
}

fn admin() -> postgres::Client {
    connect(&env("PGDATABASE"))
}

fn connect(dbname: &str) -> postgres::Client {
    let options = server(dbname);
    postgres::Config::new()
        .host(&options.endpoints[0].host)
        .port(options.endpoints[0].port)
        .user(&options.user)
        .password(options.password.as_deref().unwrap_or_default())
        .dbname(dbname)
        .connect(postgres::NoTls)
        .unwrap_or_else(|error| {
            panic!("cannot connect to the test server: {error}; {HOW_TO_START}")
        })
}

/// A dump in a temporary file, removed when dropped.
pub struct Dump {
    pub path: PathBuf,
}

impl Dump {
    pub fn new(content: impl AsRef<[u8]>) -> Dump {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sl-db-test-{}-{}.sql",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, content).unwrap();
        Dump { path }
    }
}

impl Drop for Dump {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Loads `path` into `conn` with `options`, collecting the notices.
pub fn load_with(
    path: &Path,
    conn: &ConnectOptions,
    options: &LoadOptions,
) -> (Result<LoadSummary, LoadError>, Vec<Notice>) {
    let mut notices = Vec::new();
    let result = structure_loader::load::load(
        path,
        conn,
        options,
        &mut |notice| notices.push(notice),
        &mut |_| {},
    );
    (result, notices)
}

/// Loads `content` into `db` with default options.
pub fn load(
    db: &TestDb,
    content: impl AsRef<[u8]>,
) -> (Result<LoadSummary, LoadError>, Vec<Notice>) {
    let dump = Dump::new(content);
    load_with(&dump.path, &db.options(), &LoadOptions::default())
}

pub fn psql_golden(file: &str) -> PathBuf {
    fixtures::psql15_dir().join("dumps").join(file)
}
