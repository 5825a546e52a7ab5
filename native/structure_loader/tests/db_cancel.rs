//! Stopping a load: its time limit and its cancel handle, against a real PostgreSQL. The
//! statement running is cancelled on the server (the load returns long before the 3 s it
//! would wait for an unanswered cancel), and nothing of the file stays.

mod db_support;

use db_support::{load_with, socket_dir, Dump, TestDb};
use std::time::{Duration, Instant};
use structure_loader::connection::CancelHandle;
use structure_loader::load::LoadOptions;
use structure_loader::ErrorReason;

const SLEEPY: &str = "CREATE TABLE a (id int);\nSELECT pg_sleep(60);\nCREATE TABLE b (id int);\n";

/// The backends still connected to `db` besides the one asking, once those on their way
/// out have left (a backend leaves pg_stat_activity a moment after its client).
fn other_backends(db: &TestDb) -> i64 {
    let count = || {
        db.count(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    count()
}

fn wait_until_running(db: &TestDb, fragment: &str) {
    let started = Instant::now();
    let running = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' \
         AND query LIKE '%{fragment}%' AND pid <> pg_backend_pid()",
        db.name
    );
    while db.count(&running) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_time_limit_cancels_the_running_statement_and_leaves_nothing() {
    let db = TestDb::create("timeout");
    let dump = Dump::new(SLEEPY);
    let options = LoadOptions {
        timeout: Some(Duration::from_millis(300)),
        ..LoadOptions::default()
    };
    let started = Instant::now();
    let (loaded, _) = load_with(&dump.path, &db.options(), &options);
    let elapsed = started.elapsed();
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Timeout, "{error}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert_eq!((error.line(), error.column()), (Some(2), Some(1)));
    assert_eq!(error.statement(), Some("SELECT pg_sleep(60);"));
    // Not "... did not confirm the cancel, so the connection was dropped": the server
    // cancelled pg_sleep(60) when asked.
    assert_eq!(
        error.message(),
        "timed out: the load did not finish within its time limit of 300 ms, so it was \
         stopped and rolled back"
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
    assert_eq!(other_backends(&db), 0);
}

#[test]
fn a_cancel_from_another_thread_stops_the_load_over_a_unix_socket_too() {
    let db = TestDb::create("cancel");
    let dump = Dump::new(SLEEPY);
    let cancel = CancelHandle::new();
    let options = LoadOptions {
        cancel: Some(cancel.clone()),
        ..LoadOptions::default()
    };
    let mut conn = db.options();
    conn.endpoints[0].host = socket_dir();
    let loader = std::thread::spawn(move || load_with(&dump.path, &conn, &options).0);
    wait_until_running(&db, "pg_sleep(60)");
    let cancelled = Instant::now();
    cancel.cancel();
    let error = loader.join().unwrap().unwrap_err();
    assert!(
        cancelled.elapsed() < Duration::from_secs(2),
        "{:?}",
        cancelled.elapsed()
    );
    assert_eq!(error.reason(), ErrorReason::Cancelled, "{error}");
    assert_eq!(error.line(), Some(2));
    assert_eq!(db.user_objects(), Vec::<String>::new());
    assert_eq!(other_backends(&db), 0);
}

#[test]
fn a_load_cancelled_before_it_starts_never_connects() {
    let db = TestDb::create("cancelled_early");
    let dump = Dump::new("CREATE TABLE a (id int);\n");
    let cancel = CancelHandle::new();
    cancel.cancel();
    let options = LoadOptions {
        cancel: Some(cancel),
        ..LoadOptions::default()
    };
    let (loaded, _) = load_with(&dump.path, &db.options(), &options);
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Cancelled);
    assert_eq!(
        error.message(),
        format!(
            "cancelled on request while connecting to {}",
            db.options().endpoints[0]
        )
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_stop_during_copy_ends_the_copy_and_leaves_nothing() {
    let db = TestDb::create("copy_stop");
    // A trigger that sleeps on one row keeps the COPY running on the server.
    let mut content = String::from(
        "CREATE TABLE items (id int);\n\
         CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN IF NEW.id = 500 THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$;\n\
         CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION slow();\n\
         COPY items (id) FROM stdin;\n",
    );
    for row in 1..=1000 {
        content.push_str(&format!("{row}\n"));
    }
    content.push_str("\\.\n");
    let dump = Dump::new(content);
    let options = LoadOptions {
        timeout: Some(Duration::from_millis(500)),
        ..LoadOptions::default()
    };
    let started = Instant::now();
    let (loaded, _) = load_with(&dump.path, &db.options(), &options);
    let error = loaded.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.reason(), ErrorReason::Timeout, "{error}");
    assert_eq!(error.line(), Some(5));
    assert_eq!(error.statement(), Some("COPY items (id) FROM stdin;"));
    assert_eq!(db.user_objects(), Vec::<String>::new());
    assert_eq!(other_backends(&db), 0);
}
