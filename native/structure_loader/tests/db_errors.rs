//! Every way a load fails, against a real PostgreSQL: the reason, the message, the exact
//! location in the file, and a database left exactly as it was.

mod db_support;

use db_support::{load, load_with, server, Dump, TestDb};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use structure_loader::load::LoadOptions;
use structure_loader::{ErrorReason, LoadError};

const WRONG_PASSWORD: &str = "sl-wrong-password-8c1d";

fn assert_no_password(error: &LoadError) {
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(WRONG_PASSWORD), "password leaked: {shown}");
    }
}

#[test]
fn a_failing_statement_mid_file_names_its_token_and_leaves_nothing() {
    let db = TestDb::create("midfile");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE ok_one (id int);\n\
         \n\
         CREATE TABLE broken (\n\
         \x20   id int,\n\
         \x20   name txet\n\
         );\n\
         CREATE TABLE never (id int);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Database);
    assert_eq!(error.sqlstate(), Some("42704"));
    assert_eq!(error.severity(), Some("ERROR"));
    assert_eq!(error.message(), "type \"txet\" does not exist");
    assert_eq!((error.line(), error.column()), (Some(5), Some(10)));
    let statement = error.statement().unwrap();
    assert_eq!(
        statement,
        "CREATE TABLE broken (\n    id int,\n    name txet\n);"
    );
    let caret = error.position().unwrap();
    assert!(statement
        .chars()
        .skip(caret - 1)
        .collect::<String>()
        .starts_with("txet"));
    let path = error.path().unwrap().display().to_string();
    assert_eq!(
        error.to_string(),
        format!("{path}:5:10: ERROR 42704: type \"txet\" does not exist")
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn an_earlier_failure_wins_over_a_later_syntax_error_in_the_same_batch() {
    // The server rejects a message with a syntax error before running any of it; psql,
    // sending one statement at a time, fails on the earlier statement first.
    let db = TestDb::create("hoisted");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE first (id int);\n\
         CREATE TABLE second (id uuid DEFAULT no_such_function());\n\
         CREATE TABLE third (id int GENERATED ALWAYS AS (1) VIRTUAL);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42883"), "{error}");
    assert_eq!((error.line(), error.column()), (Some(2), Some(38)));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_syntax_error_after_good_statements_is_reported_at_its_token() {
    let db = TestDb::create("late_syntax");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE first (id int);\n\
         CREATE TABLE second (id int);\n\
         CREATE TABLE third (id int GENERATED ALWAYS AS (1) VIRTUAL);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42601"), "{error}");
    assert_eq!((error.line(), error.column()), (Some(3), Some(52)));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_syntax_error_points_at_the_offending_token_after_a_leading_comment() {
    let db = TestDb::create("syntax");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE a (id int);\n-- a comment psql drops\n  SELEC 1;\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42601"));
    assert_eq!(error.message(), "syntax error at or near \"SELEC\"");
    assert_eq!((error.line(), error.column()), (Some(3), Some(3)));
    assert_eq!(
        (error.statement(), error.position()),
        (Some("SELEC 1;"), Some(1))
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn an_error_without_a_position_points_at_the_statement_and_keeps_detail_and_hint() {
    let db = TestDb::create("detail");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE p (id int PRIMARY KEY);\n\
         INSERT INTO p VALUES (1);\n\
         \x20 INSERT INTO p VALUES (1);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("23505"));
    assert_eq!(error.detail(), Some("Key (id)=(1) already exists."));
    assert_eq!((error.line(), error.column()), (Some(3), Some(3)));
    assert_eq!(error.position(), None);

    let (loaded, _) = load(&db, "SELECT * FROM missing_table_with_hint();\n");
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42883"));
    assert!(
        error.hint().unwrap().contains("No function matches"),
        "{error:?}"
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_bad_copy_row_names_its_data_line() {
    let db = TestDb::create("copyrow");
    let mut content =
        String::from("CREATE TABLE items (id int, qty int);\nCOPY items (id, qty) FROM stdin;\n");
    for row in 1..=5000 {
        let qty = if row == 4000 {
            "lots".to_owned()
        } else {
            row.to_string()
        };
        content.push_str(&format!("{row}\t{qty}\n"));
    }
    content.push_str("\\.\nCREATE TABLE after (id int);\n");
    let (loaded, _) = load(&db, content);
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("22P02"));
    assert_eq!(
        error.message(),
        "invalid input syntax for type integer: \"lots\""
    );
    // Data line 4000 is file line 2 + 4000.
    assert_eq!((error.line(), error.column()), (Some(4002), Some(1)));
    assert_eq!(error.statement(), Some("COPY items (id, qty) FROM stdin;"));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn an_unterminated_quote_is_reported_where_it_opened_before_anything_is_sent() {
    let db = TestDb::create("unterm");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nCOMMENT ON TABLE a IS 'oops;\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Parse);
    assert_eq!((error.line(), error.column()), (Some(3), Some(23)));
    assert!(error.path().is_some());
    assert_eq!(error.sqlstate(), None);
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_refused_meta_command_is_reported_before_anything_is_sent() {
    let db = TestDb::create("meta");
    let sentinel = std::env::temp_dir().join(format!("sl-sentinel-{}", std::process::id()));
    let (loaded, _) = load(
        &db,
        format!(
            "CREATE TABLE a (id int);\n\\! touch {}\n",
            sentinel.display()
        ),
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::MetaCommand);
    assert_eq!(error.line(), Some(2));
    assert!(!sentinel.exists());
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_missing_file_and_a_directory_are_file_errors() {
    let db = TestDb::create("nofile");
    let missing = std::env::temp_dir().join("sl-no-such-dump.sql");
    let (loaded, _) = load_with(&missing, &db.options(), &LoadOptions::default());
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::File);
    assert_eq!(error.path(), Some(missing.as_path()));
    assert!(
        error.message().contains("No such file or directory"),
        "{error}"
    );

    let (loaded, _) = load_with(
        &std::env::temp_dir(),
        &db.options(),
        &LoadOptions::default(),
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::File);
    assert!(
        error
            .message()
            .ends_with("it is a directory, not a regular file"),
        "{error}"
    );
}

#[test]
fn a_wrong_password_is_an_auth_error_that_never_shows_the_password() {
    let db = TestDb::create("authfail");
    let mut options = db.options();
    options.password = Some(WRONG_PASSWORD.to_owned());
    let dump = Dump::new("CREATE TABLE a (id int);\n");
    let (loaded, _) = load_with(&dump.path, &options, &LoadOptions::default());
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Auth);
    assert_eq!(error.sqlstate(), Some("28P01"));
    assert_eq!(
        error.message(),
        format!(
            "password authentication failed for user \"{}\"",
            options.user
        )
    );
    assert_no_password(&error);

    let error = structure_loader::load::table_exists(&options, None, "a").unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Auth);
    assert_no_password(&error);
}

#[test]
fn a_missing_password_is_an_auth_error() {
    let db = TestDb::create("nopass");
    let mut options = db.options();
    options.password = None;
    let error = structure_loader::load::table_exists(&options, None, "a").unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Auth);
    assert!(error.message().contains("asks for a password"), "{error}");
}

#[test]
fn a_closed_port_is_a_connect_error() {
    // Bound but not listening: connections are refused, and no one else can take the port
    // while the test holds it.
    let closed = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    closed
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = closed.local_addr().unwrap().as_socket().unwrap().port();
    let mut options = server("postgres");
    options.endpoints[0].port = port;
    options.password = Some(WRONG_PASSWORD.to_owned());
    let dump = Dump::new("CREATE TABLE a (id int);\n");
    let (loaded, _) = load_with(&dump.path, &options, &LoadOptions::default());
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Connect);
    assert!(
        error
            .message()
            .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(error.message().contains("Connection refused"), "{error}");
    assert_no_password(&error);
}

#[test]
fn a_server_that_never_answers_fails_within_the_connect_timeout() {
    // The kernel accepts connections into the backlog; nobody ever answers them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut options = server("postgres");
    options.endpoints[0].port = listener.local_addr().unwrap().port();
    options.connect_timeout = Duration::from_millis(300);
    let error = structure_loader::load::table_exists(&options, None, "a").unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Connect);
    assert!(
        error
            .message()
            .starts_with("timed out after 300 ms connecting to 127.0.0.1:"),
        "{error}"
    );
}

#[test]
fn an_unknown_database_is_a_database_error() {
    let options = server("sl_no_such_database");
    let dump = Dump::new("CREATE TABLE a (id int);\n");
    let (loaded, _) = load_with(&dump.path, &options, &LoadOptions::default());
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Database);
    assert_eq!(error.sqlstate(), Some("3D000"));
    assert_eq!(
        error.message(),
        "database \"sl_no_such_database\" does not exist"
    );
    assert_eq!(error.severity(), Some("FATAL"));
}

#[test]
fn a_backend_terminated_mid_load_is_an_error_and_leaves_nothing() {
    let db = TestDb::create("terminated");
    let application_name = format!("sl-terminate-{}", std::process::id());
    let mut options = db.options();
    options.parameters = vec![("application_name".to_owned(), application_name.clone())];
    let dump =
        Dump::new("CREATE TABLE a (id int);\nSELECT pg_sleep(30);\nCREATE TABLE b (id int);\n");
    let loader =
        std::thread::spawn(move || load_with(&dump.path, &options, &LoadOptions::default()).0);
    let started = Instant::now();
    let terminate = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = '{application_name}' AND wait_event = 'PgSleep'"
    );
    while db.count(&terminate) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the load never reached pg_sleep"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let error = loader.join().unwrap().unwrap_err();
    assert_eq!(error.sqlstate(), Some("57P01"), "{error:?}");
    assert_eq!(error.line(), Some(2));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

/// A dump that waits, mid-load, on an advisory lock the test holds, then copies ~2 MB
/// (more than the loader reads ahead), so that the file can be changed while the load
/// is under way; returns the file and the offset where the COPY data starts.
fn dump_waiting_on(lock: i64) -> (Dump, usize) {
    let mut content = format!(
        "CREATE TABLE a (id int, note text);\n\
         SELECT pg_advisory_xact_lock({lock});\n\
         COPY a (id, note) FROM stdin;\n"
    )
    .into_bytes();
    let data_start = content.len();
    for id in 0..20_000 {
        content.extend_from_slice(format!("{id}\t{}\n", "x".repeat(100)).as_bytes());
    }
    content.extend_from_slice(b"\\.\nCREATE TABLE b (id int);\n");
    (Dump::new(content), data_start)
}

/// Loads `dump` while holding advisory lock `lock`; once the load waits for it, calls
/// `change`, then lets the load go on. Returns the load's result.
fn load_changing_the_file(
    db: &TestDb,
    dump: &Dump,
    lock: i64,
    change: impl FnOnce(&std::path::Path),
) -> Result<structure_loader::load::LoadSummary, LoadError> {
    let mut holder = db.client();
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({lock})"))
        .unwrap();
    let path = dump.path.clone();
    let options = db.options();
    let loader = std::thread::spawn(move || load_with(&path, &options, &LoadOptions::default()).0);
    let waiting = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {lock} \
         AND NOT granted"
    );
    while db.count(&waiting) == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    change(&dump.path);
    holder
        .batch_execute(&format!("SELECT pg_advisory_unlock({lock})"))
        .unwrap();
    loader.join().unwrap()
}

#[test]
fn a_dump_cut_short_while_it_loads_fails_and_leaves_nothing() {
    let db = TestDb::create("cutshort");
    let (dump, data_start) = dump_waiting_on(71);
    let original = std::fs::metadata(&dump.path).unwrap().len();
    let cut = data_start as u64 + 1_000_000;
    let error = load_changing_the_file(&db, &dump, 71, |path| {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(cut).unwrap();
    })
    .unwrap_err();
    assert_eq!(error.reason(), ErrorReason::File, "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "{path}: the file changed while it was being loaded: it was cut short ({original} \
             bytes when opened, {cut} now); nothing of it was committed. Load it again once it \
             stays put",
            path = dump.path.display()
        )
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_dump_appended_to_while_it_loads_fails_and_leaves_nothing() {
    let db = TestDb::create("appended");
    let (dump, _) = dump_waiting_on(72);
    let error = load_changing_the_file(&db, &dump, 72, |path| {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(b"CREATE TABLE appended (id int);\n")
            .unwrap();
    })
    .unwrap_err();
    assert_eq!(error.reason(), ErrorReason::File);
    assert!(
        error
            .message()
            .contains("changed while it was being loaded: it grew"),
        "{error}"
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}
