//! Loading dumps into a real PostgreSQL: what arrives, and what the load does differently
//! from psql on purpose (one transaction, skipped unknown settings, notices, load-once).

mod db_support;

use db_support::{load, load_with, psql_golden, server, socket_dir, Dump, TestDb};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use structure_loader::load::{LoadOptions, TableRef};
use structure_loader::ErrorReason;

#[test]
fn a_small_dump_loads_its_tables_and_data() {
    let db = TestDb::create("small");
    let (loaded, _) = load(
        &db,
        "-- a tiny structure.sql\n\
         SET statement_timeout = 0;\n\
         CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL);\n\
         CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY);\n\
         COPY public.users (id, email) FROM stdin;\n\
         1\ta@example.com\n\
         2\tb@example.com\n\
         \\.\n\
         INSERT INTO public.\"schema_migrations\" (version) VALUES (20240101000000);\n",
    );
    let summary = loaded.unwrap();
    assert!(summary.loaded);
    assert_eq!(summary.statements, 5);
    assert_eq!((summary.copy_blocks, summary.copy_rows), (1, 2));
    assert_eq!(summary.skipped_settings, Vec::<String>::new());
    assert_eq!(db.count("SELECT count(*) FROM users"), 2);
    assert_eq!(
        db.count("SELECT max(version) FROM schema_migrations"),
        20240101000000
    );
}

#[test]
fn a_full_pg_dump_with_copy_blocks_and_a_large_object_arrives_complete() {
    let db = TestDb::create("golden");
    let (loaded, _) = load_with(
        &psql_golden("dump_with_data.sql"),
        &db.options(),
        &LoadOptions::default(),
    );
    let summary = loaded.unwrap();
    assert_eq!((summary.copy_blocks, summary.copy_rows), (7, 12));
    assert_eq!(summary.meta_commands, 2, "\\restrict and \\unrestrict");
    assert_eq!(db.count("SELECT count(*) FROM app.items"), 2);
    assert_eq!(db.count("SELECT count(*) FROM app.rawdata"), 7);
    assert_eq!(
        db.count("SELECT count(*) FROM \"My Schema\".\"Table With Spaces\" WHERE \"Column \"\"One\"\"\" = 'x\"y'"),
        1
    );
    let note: String = db
        .client()
        .query_one("SELECT body FROM app.rawdata WHERE id = 7", &[])
        .unwrap()
        .get(0);
    assert_eq!(note, "üñíçødé ✓");
    // The large-object section has its own BEGIN;/COMMIT;, which the load leaves out.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = 424242"),
        1
    );
}

#[test]
fn the_files_own_begin_and_commit_do_not_break_atomicity() {
    let db = TestDb::create("atomic");
    let (loaded, notices) = load(
        &db,
        "CREATE TABLE before_begin (id int);\n\
         BEGIN;\n\
         CREATE TABLE inside (id int);\n\
         COMMIT;\n\
         START TRANSACTION;\n\
         END;\n\
         CREATE TABLE after_commit (id nosuchtype);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42704"));
    assert_eq!((error.line(), error.column()), (Some(7), Some(31)));
    // psql --single-transaction would have committed the first two tables.
    assert_eq!(db.user_objects(), Vec::<String>::new());
    let not_sent: Vec<_> = notices
        .iter()
        .map(|notice| {
            (
                notice.severity.as_str(),
                notice.message.as_str(),
                notice.line,
            )
        })
        .collect();
    let note = "not sent: the whole file is loaded in one transaction";
    assert_eq!(
        not_sent,
        [2, 4, 5, 6].map(|line| ("DEBUG", note, Some(line)))
    );
}

#[test]
fn a_rollback_in_the_file_is_refused_before_anything_is_sent() {
    let db = TestDb::create("rollback");
    let (loaded, _) = load(
        &db,
        "CREATE TABLE first (id int);\nROLLBACK;\nCREATE TABLE second (id int);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Parse);
    assert_eq!((error.line(), error.column()), (Some(2), Some(1)));
    assert_eq!(error.statement(), Some("ROLLBACK;"));
    assert!(
        error.message().contains("rolls back its own transaction"),
        "{error}"
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

const PREAMBLE: &str = "\\restrict k3y\n\
    SET statement_timeout = 0;\n\
    SET transaction_timeout = 0;\n\
    SET client_encoding = 'UTF8';\n\
    SELECT pg_catalog.set_config('search_path', '', false);\n\
    SELECT pg_catalog.set_config('made_up_setting', 'on', false);\n\
    SET myapp.tenant = 'acme';\n\
    CREATE TABLE public.t (id int);\n\
    \\unrestrict k3y\n";

#[test]
fn unknown_preamble_settings_are_skipped_with_a_warning() {
    let db = TestDb::create("preamble");
    let (loaded, notices) = load(&db, PREAMBLE);
    let summary = loaded.unwrap();
    assert_eq!(
        summary.skipped_settings,
        ["transaction_timeout", "made_up_setting"]
    );
    // Every statement of the file, those left out included, as splitting alone counts them.
    assert_eq!(summary.statements, 7);
    let warnings: Vec<_> = notices
        .iter()
        .map(|notice| {
            (
                notice.severity.as_str(),
                notice.message.as_str(),
                notice.line,
            )
        })
        .collect();
    assert_eq!(
        warnings,
        [
            (
                "WARNING",
                "skipped SET transaction_timeout: the server does not know this setting",
                Some(3)
            ),
            (
                "DEBUG",
                "not sent: the connection stays UTF8, and the file is read as UTF8 from here on",
                Some(4)
            ),
            (
                "WARNING",
                "skipped SET made_up_setting: the server does not know this setting",
                Some(6)
            ),
        ]
    );
    assert_eq!(db.count("SELECT count(*) FROM public.t"), 0);
}

#[test]
fn strict_sends_unknown_settings_and_fails_as_psql_does() {
    let db = TestDb::create("strict");
    let dump = Dump::new(PREAMBLE);
    let strict = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    let (loaded, _) = load_with(&dump.path, &db.options(), &strict);
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Database);
    assert_eq!(error.sqlstate(), Some("42704"));
    assert_eq!(
        error.message(),
        "unrecognized configuration parameter \"transaction_timeout\""
    );
    assert_eq!((error.line(), error.column()), (Some(3), Some(1)));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn unknown_settings_after_the_preamble_are_sent() {
    let db = TestDb::create("lateset");
    let (loaded, _) = load(
        &db,
        "SET lock_timeout = 0;\nCREATE TABLE t (id int);\nSET transaction_timeout = 0;\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42704"));
    assert_eq!(error.line(), Some(3));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_role_change_in_the_preamble_is_sent_so_the_role_owns_the_objects() {
    let db = TestDb::create("setrole");
    let role = format!("{}_owner", db.name);
    db.execute(&format!(
        "CREATE ROLE \"{role}\"; GRANT CREATE ON SCHEMA public TO \"{role}\""
    ));
    let (loaded, _) = load(
        &db,
        format!("SET role TO \"{role}\";\nCREATE TABLE t (id int);\n"),
    );
    let summary = loaded.unwrap();
    assert!(summary.skipped_settings.is_empty());
    let owner: String = db
        .client()
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 't'",
            &[],
        )
        .unwrap()
        .get(0);
    db.execute(&format!(
        "DROP TABLE t; REVOKE CREATE ON SCHEMA public FROM \"{role}\"; DROP ROLE \"{role}\""
    ));
    assert_eq!(owner, role);
}

#[test]
fn settings_the_server_hides_from_pg_settings_are_sent_and_fail_as_psql_does() {
    let db = TestDb::create("hidden");
    // default_with_oids exists, hidden from pg_settings, and only takes false since 12.
    let (loaded, _) = load(
        &db,
        "SET default_with_oids = false;\nSET seed = 0.5;\nSET default_with_oids = true;\n\
         CREATE TABLE t (id int);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("0A000"));
    assert_eq!(error.line(), Some(3));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn statements_joined_with_backslash_semicolon_keep_their_own_lines() {
    let db = TestDb::create("joined");
    let (loaded, notices) = load(
        &db,
        "DO $$BEGIN RAISE NOTICE 'a'; END$$\\;\n\
         DO $$BEGIN RAISE NOTICE 'b'; END$$;\n\
         DO $$BEGIN RAISE NOTICE 'c'; END$$;\n",
    );
    loaded.unwrap();
    let lines: Vec<_> = notices
        .iter()
        .map(|notice| (notice.message.as_str(), notice.line))
        .collect();
    assert_eq!(lines, [("a", Some(1)), ("b", Some(2)), ("c", Some(3))]);

    let (loaded, _) = load(&db, "SELECT 1\\; SELECT 2;\nSELECT 1/0;\nSELECT 3;\n");
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("22012"));
    assert_eq!((error.line(), error.column()), (Some(2), Some(1)));

    let (loaded, _) = load(&db, "SELECT 1\\;\n  SELECT 1/0\\; SELECT 3;\n");
    let error = loaded.unwrap_err();
    assert_eq!((error.line(), error.column()), (Some(2), Some(3)));
}

#[test]
fn transaction_statements_joined_with_backslash_semicolon_are_refused() {
    let db = TestDb::create("joinedtx");
    for dump in [
        "CREATE TABLE a (id int);\nSELECT 1\\; COMMIT;\n",
        "CREATE TABLE a (id int);\nBEGIN\\; CREATE TABLE b (id int);\n",
        "CREATE TABLE a (id int);\nSELECT 1\\; SET client_encoding = 'LATIN1';\n",
    ] {
        let (loaded, _) = load(&db, dump);
        let error = loaded.unwrap_err();
        assert_eq!(error.reason(), ErrorReason::Parse, "{dump}");
        assert_eq!(error.line(), Some(2), "{dump}");
        assert!(
            error.message().contains("joined to other statements"),
            "{error}"
        );
        assert_eq!(db.user_objects(), Vec::<String>::new());
    }
}

#[test]
fn server_notices_reach_the_callback_with_their_line() {
    let db = TestDb::create("notices");
    let (loaded, notices) = load(
        &db,
        "CREATE TABLE t (id int);\n\
         DO $$\n\
         BEGIN\n\
           RAISE NOTICE 'hello %', 42 USING DETAIL = 'some detail', HINT = 'a hint';\n\
           RAISE WARNING 'careful';\n\
         END $$;\n\
         DROP TABLE IF EXISTS never_there;\n",
    );
    loaded.unwrap();
    let seen: Vec<_> = notices
        .iter()
        .map(|n| {
            (
                n.severity.as_str(),
                n.message.as_str(),
                n.detail.as_deref(),
                n.hint.as_deref(),
                n.line,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "NOTICE",
                "hello 42",
                Some("some detail"),
                Some("a hint"),
                Some(2)
            ),
            ("WARNING", "careful", None, None, Some(2)),
            (
                "NOTICE",
                "table \"never_there\" does not exist, skipping",
                None,
                None,
                Some(7)
            ),
        ]
    );
}

#[test]
fn a_latin1_dump_is_transcoded_and_its_client_encoding_not_sent() {
    let db = TestDb::create("latin1");
    let (loaded, _) = load(
        &db,
        b"SET client_encoding = 'LATIN1';\nCREATE TABLE t (v text);\nINSERT INTO t VALUES ('caf\xe9');\n",
    );
    loaded.unwrap();
    let value: String = db
        .client()
        .query_one("SELECT v FROM t", &[])
        .unwrap()
        .get(0);
    assert_eq!(value, "café");
}

#[test]
fn connect_to_the_same_database_is_honoured_and_to_another_refused() {
    let db = TestDb::create("connect");
    let (loaded, _) = load(
        &db,
        format!("\\connect {}\nCREATE TABLE t (id int);\n", db.name),
    );
    assert_eq!(loaded.unwrap().meta_commands, 1);

    let other = TestDb::create("connect2");
    let (loaded, _) = load(
        &other,
        "CREATE TABLE u (id int);\n\\connect postgres\nCREATE TABLE v (id int);\n",
    );
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::MetaCommand);
    assert_eq!(error.line(), Some(2));
    assert!(
        error.message().starts_with("\\connect postgres is refused"),
        "{error}"
    );
    assert_eq!(other.user_objects(), Vec::<String>::new());
}

#[test]
fn a_unix_socket_directory_and_startup_parameters_are_used() {
    let db = TestDb::create("socket");
    let mut options = db.options();
    options.endpoints[0].host = socket_dir();
    options.password = None;
    options.parameters = vec![
        ("application_name".to_owned(), "sl db test".to_owned()),
        ("work_mem".to_owned(), "12MB".to_owned()),
    ];
    let dump = Dump::new(
        "CREATE TABLE seen AS SELECT current_setting('application_name') AS app, \
         current_setting('work_mem') AS work_mem, \
         (SELECT client_addr IS NULL FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS via_socket;\n",
    );
    let (loaded, _) = load_with(&dump.path, &options, &LoadOptions::default());
    loaded.unwrap();
    let row = db
        .client()
        .query_one("SELECT app, work_mem, via_socket FROM seen", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "sl db test");
    assert_eq!(row.get::<_, String>(1), "12MB");
    assert!(row.get::<_, bool>(2));
}

const MIGRATIONS: &str = "CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY);\n\
    CREATE TABLE public.loads (at timestamptz DEFAULT clock_timestamp());\n\
    INSERT INTO public.loads DEFAULT VALUES;\n\
    SELECT pg_sleep(0.2);\n\
    INSERT INTO public.schema_migrations (version) VALUES (1);\n";

fn if_absent() -> LoadOptions {
    LoadOptions {
        if_absent: Some(TableRef {
            schema: None,
            table: "schema_migrations".to_owned(),
        }),
        ..LoadOptions::default()
    }
}

#[test]
fn if_absent_loads_once_and_then_reports_already_loaded() {
    let db = TestDb::create("once");
    let dump = Dump::new(MIGRATIONS);
    let (first, _) = load_with(&dump.path, &db.options(), &if_absent());
    assert!(first.unwrap().loaded);
    let (second, _) = load_with(&dump.path, &db.options(), &if_absent());
    let second = second.unwrap();
    assert!(!second.loaded);
    assert_eq!(second.statements, 0);
    assert_eq!(db.count("SELECT count(*) FROM public.loads"), 1);
}

#[test]
fn concurrent_if_absent_loads_load_exactly_once() {
    const LOADERS: usize = 8;
    let db = TestDb::create("race");
    let dump = Arc::new(Dump::new(MIGRATIONS));
    let start = Arc::new(Barrier::new(LOADERS));
    let loaders: Vec<_> = (0..LOADERS)
        .map(|_| {
            let (dump, start, options) = (dump.clone(), start.clone(), db.options());
            std::thread::spawn(move || {
                start.wait();
                load_with(&dump.path, &options, &if_absent()).0
            })
        })
        .collect();
    let loaded: Vec<bool> = loaders
        .into_iter()
        .map(|loader| loader.join().unwrap().unwrap().loaded)
        .collect();
    assert_eq!(
        loaded.iter().filter(|&&loaded| loaded).count(),
        1,
        "{loaded:?}"
    );
    assert_eq!(db.count("SELECT count(*) FROM public.loads"), 1);
}

#[test]
fn if_absent_looks_in_the_given_schema() {
    let db = TestDb::create("schema");
    db.execute("CREATE SCHEMA tenant; CREATE TABLE tenant.schema_migrations (version bigint);");
    let dump = Dump::new(MIGRATIONS);
    let in_tenant = LoadOptions {
        if_absent: Some(TableRef {
            schema: Some("tenant".to_owned()),
            table: "schema_migrations".to_owned(),
        }),
        ..LoadOptions::default()
    };
    let (loaded, _) = load_with(&dump.path, &db.options(), &in_tenant);
    assert!(!loaded.unwrap().loaded);
    let (loaded, _) = load_with(&dump.path, &db.options(), &if_absent());
    assert!(
        loaded.unwrap().loaded,
        "public.schema_migrations did not exist yet"
    );
}

#[test]
fn every_connection_is_closed_after_a_load() {
    let db = TestDb::create("closed");
    for content in [
        "CREATE TABLE t (id int);\n",
        "CREATE TABLE t (id nosuchtype);\n",
    ] {
        let _ = load(&db, content);
    }
    let (loaded, _) = load_with(
        &Dump::new("SELECT 1;\n").path,
        &server(&db.name),
        &LoadOptions::default(),
    );
    loaded.unwrap();
    let others = || {
        db.count(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ))
    };
    // A backend leaves pg_stat_activity a moment after its client has gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while others() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(others(), 0);
}
