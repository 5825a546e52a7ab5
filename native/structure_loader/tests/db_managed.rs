//! Loading as a managed server's application role: not a superuser, the owner of its
//! database, with extensions an administrator created. What is skipped (with a warning),
//! what is refused before anything is sent, what the filters leave out, and what a
//! privilege error says.

mod db_support;

use db_support::{load_with, Dump, TestDb, TestRole};
use structure_loader::connection::Notice;
use structure_loader::dump::{Filters, LeftOut};
use structure_loader::load::LoadOptions;
use structure_loader::ErrorReason;

fn warnings(notices: &[Notice]) -> Vec<(String, Option<u64>)> {
    notices
        .iter()
        .filter(|notice| notice.severity == "WARNING")
        .map(|notice| (notice.message.clone(), notice.line))
        .collect()
}

fn strict() -> LoadOptions {
    LoadOptions {
        strict: true,
        ..LoadOptions::default()
    }
}

fn comment_on(db: &TestDb, extension: &str) -> String {
    db.client()
        .query_one(
            "SELECT obj_description(oid, 'pg_extension') FROM pg_extension WHERE extname = $1",
            &[&extension],
        )
        .unwrap()
        .get(0)
}

/// hexpm's dump, cut down: an extension, its comment, a table using it.
const EXTENSION_DUMP: &str = "SET client_min_messages = warning;\n\
    CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;\n\
    COMMENT ON EXTENSION citext IS 'as the dump says';\n\
    COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL procedural language';\n\
    CREATE TABLE public.users (email public.citext);\n";

#[test]
fn a_comment_on_an_extension_an_administrator_created_is_skipped_with_a_warning() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("precreated", &app);
    db.execute("CREATE EXTENSION citext");
    let dump = Dump::new(EXTENSION_DUMP);

    let (loaded, notices) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let summary = loaded.unwrap();
    assert_eq!(summary.skipped_extension_comments, ["citext", "plpgsql"]);
    assert_eq!(summary.statements, 5);
    let role = &app.name;
    assert_eq!(
        warnings(&notices),
        [
            (
                format!(
                    "skipped COMMENT ON EXTENSION citext: the extension existed before the \
                     load and belongs to role postgres, and only its owner may comment on \
                     it, not role {role} that runs the load"
                ),
                Some(3)
            ),
            (
                format!(
                    "skipped COMMENT ON EXTENSION plpgsql: the extension existed before the \
                     load and belongs to role postgres, and only its owner may comment on \
                     it, not role {role} that runs the load"
                ),
                Some(4)
            ),
        ]
    );
    assert_eq!(
        comment_on(&db, "citext"),
        "data type for case-insensitive character strings"
    );
    assert_eq!(db.count("SELECT count(*) FROM public.users"), 0);
}

#[test]
fn strict_sends_the_comment_and_fails_as_psql_does_saying_which_role_runs_the_load() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("precreated_strict", &app);
    db.execute("CREATE EXTENSION citext");
    let dump = Dump::new(EXTENSION_DUMP);

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &strict());

    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Database);
    assert_eq!(error.sqlstate(), Some("42501"));
    assert_eq!(error.message(), "must be owner of extension citext");
    assert_eq!((error.line(), error.column()), (Some(3), Some(1)));
    assert_eq!(
        error.hint(),
        Some(
            format!(
                "the load runs as role {}, which is not a superuser; only the owner of \
                 extension citext may comment on it; without strict: true, a comment on an \
                 extension that existed before the load and belongs to another role is \
                 skipped with a warning, and no_comments: true leaves out every comment",
                app.name
            )
            .as_str()
        )
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        0
    );
}

#[test]
fn a_trusted_extension_the_load_creates_gets_the_dumps_comment() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("trusted", &app);
    let dump = Dump::new(EXTENSION_DUMP);

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    // plpgsql came with the database; citext is the load's own, so its comment is sent.
    assert_eq!(loaded.unwrap().skipped_extension_comments, ["plpgsql"]);
    assert_eq!(comment_on(&db, "citext"), "as the dump says");
    let owner: String = db
        .client()
        .query_one(
            "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'citext'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, app.name);
}

#[test]
fn every_extension_the_role_cannot_create_is_listed_before_anything_is_sent() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("refused", &app);
    let dump = Dump::new(
        "CREATE TABLE public.first (id int);\n\
         CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public;\n\
         CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;\n\
         CREATE EXTENSION IF NOT EXISTS \"no-such-extension\" WITH SCHEMA public;\n\
         CREATE EXTENSION IF NOT EXISTS plpgsql WITH SCHEMA pg_catalog;\n",
    );

    let (loaded, notices) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    let (role, database) = (&app.name, &db.name);
    assert_eq!(error.reason(), ErrorReason::Extensions);
    assert_eq!(error.path(), Some(dump.path.as_path()));
    assert_eq!((error.line(), error.column()), (Some(2), Some(1)));
    assert_eq!(
        error.message(),
        format!(
            "the dump creates extensions that role {role} cannot create in database \
             {database}: pg_stat_statements, no-such-extension; nothing of the dump was sent"
        )
    );
    assert_eq!(
        error.detail(),
        Some(
            format!(
                "pg_stat_statements (line 2): only a superuser can create it (it is not a \
                 trusted extension), and role {role} is not one\n\
                 \"no-such-extension\" (line 4): the server does not have it (it is not in \
                 pg_available_extensions)"
            )
            .as_str()
        )
    );
    assert_eq!(
        error.hint(),
        Some(
            format!(
                "ask an administrator (a superuser, or the administrator role of a managed \
                 service) to run in database {database}:\n    \
                 CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public;\n    \
                 CREATE EXTENSION IF NOT EXISTS \"no-such-extension\" WITH SCHEMA public;\n\
                 then load again: the dump's CREATE EXTENSION IF NOT EXISTS leaves an \
                 existing extension as it is. An extension the server does not have must be \
                 installed on it first; on a managed service, it must be one the provider \
                 offers and allows."
            )
            .as_str()
        )
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
    assert_eq!(warnings(&notices), Vec::<(String, Option<u64>)>::new());
}

#[test]
fn a_trusted_extension_needs_the_create_privilege_on_the_database() {
    let app = TestRole::create("app");
    let db = TestDb::create("no_create");
    db.execute(&format!(
        "GRANT CREATE ON SCHEMA public TO \"{0}\"; GRANT CONNECT ON DATABASE \"{1}\" TO \"{0}\"",
        app.name, db.name
    ));
    let dump = Dump::new("CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;\n");

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(
        error.detail(),
        Some(
            format!(
                "citext (line 1): a trusted extension, which needs the CREATE privilege on \
                 database {}, and role {} does not have it",
                db.name, app.name
            )
            .as_str()
        )
    );
    assert!(
        error.hint().unwrap().ends_with(&format!(
            "GRANT CREATE ON DATABASE {} TO {};`.",
            db.name, app.name
        )),
        "{:?}",
        error.hint()
    );
}

#[test]
fn a_superuser_is_told_of_every_missing_extension_and_strict_fails_where_psql_does() {
    let db = TestDb::create("missing");
    let dump = Dump::new(
        "SELECT uuidv8();\n\
         CREATE EXTENSION IF NOT EXISTS no_such_one;\n\
         CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n\
         CREATE EXTENSION IF NOT EXISTS no_such_two;\n",
    );

    let (loaded, _) = load_with(&dump.path, &db.options(), &LoadOptions::default());
    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Extensions);
    assert_eq!(error.line(), Some(2));
    assert_eq!(
        error.message(),
        format!(
            "the dump creates extensions that role postgres cannot create in database {}: \
             no_such_one, no_such_two; nothing of the dump was sent",
            db.name
        )
    );

    // psql fails on the first statement the server refuses.
    let (loaded, _) = load_with(&dump.path, &db.options(), &strict());
    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42883"));
    assert_eq!(error.line(), Some(1));
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn the_role_after_the_repos_after_connect_sql_is_the_one_checked() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("after_connect", &app);
    let dump = Dump::new("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n");
    // Connected as the superuser, the load runs as the application's role.
    let mut conn = db.options();
    conn.after_connect = vec![format!("SET ROLE \"{}\"", app.name)];

    let (loaded, _) = load_with(&dump.path, &conn, &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Extensions);
    assert!(
        error.message().starts_with(&format!(
            "the dump creates an extension that role {} ",
            app.name
        )),
        "{error}"
    );
}

const OWNED_DUMP: &str = "SET client_min_messages = warning;\n\
    SET SESSION AUTHORIZATION 'postgres';\n\
    CREATE TABLE public.actor (id int);\n\
    ALTER TABLE public.actor OWNER TO postgres;\n\
    COMMENT ON TABLE public.actor IS 'who acts';\n\
    GRANT SELECT ON TABLE public.actor TO PUBLIC;\n\
    REVOKE ALL ON TABLE public.actor FROM PUBLIC;\n\
    ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC;\n\
    RESET SESSION AUTHORIZATION;\n";

#[test]
fn the_filters_leave_out_owners_privileges_and_comments_each_with_a_warning() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("filters", &app);
    let dump = Dump::new(OWNED_DUMP);
    let options = LoadOptions {
        filters: Filters {
            no_owner: true,
            no_privileges: true,
            no_comments: true,
        },
        ..LoadOptions::default()
    };

    let (loaded, notices) = load_with(&dump.path, &db.options_as(&app), &options);

    let summary = loaded.unwrap();
    assert_eq!(
        summary.left_out,
        LeftOut {
            owner: 3,
            privileges: 3,
            comments: 1
        }
    );
    assert_eq!(summary.statements, 9);
    let left_out = |option: &str, text: &str, line: u64| {
        (format!("left out ({option}: true): {text}"), Some(line))
    };
    assert_eq!(
        warnings(&notices),
        [
            left_out("no_owner", "SET SESSION AUTHORIZATION 'postgres';", 2),
            left_out("no_owner", "ALTER TABLE public.actor OWNER TO postgres;", 4),
            left_out("no_comments", "COMMENT ON TABLE public.actor IS 'who acts';", 5),
            left_out("no_privileges", "GRANT SELECT ON TABLE public.actor TO PUBLIC;", 6),
            left_out("no_privileges", "REVOKE ALL ON TABLE public.actor FROM PUBLIC;", 7),
            left_out(
                "no_privileges",
                "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC;",
                8
            ),
            left_out("no_owner", "RESET SESSION AUTHORIZATION;", 9),
        ]
    );
    let row = db
        .client()
        .query_one(
            "SELECT tableowner::text, obj_description('public.actor'::regclass), \
                    (SELECT relacl IS NULL FROM pg_class WHERE oid = 'public.actor'::regclass), \
                    (SELECT count(*) FROM pg_default_acl) \
             FROM pg_tables WHERE tablename = 'actor'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), app.name);
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, i64>(3), 0);
}

#[test]
fn without_no_owner_a_switch_of_owner_fails_with_a_hint_naming_the_role_and_the_filter() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("owned", &app);
    let dump = Dump::new(OWNED_DUMP);

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42501"));
    assert_eq!(error.line(), Some(2));
    assert_eq!(
        error.hint(),
        Some(
            format!(
                "the load runs as role {}, which is not a superuser; SET ROLE needs \
                 membership in that role, and SET SESSION AUTHORIZATION a superuser; \
                 no_owner: true leaves out the dump's switches of role and its ALTER ... \
                 OWNER TO statements, so that the load's role owns everything",
                app.name
            )
            .as_str()
        )
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn an_event_trigger_fails_with_a_hint_naming_the_role_the_dump_switched_to() {
    let app = TestRole::create("app");
    let other = TestRole::create("other");
    let db = TestDb::owned_by("event_trigger", &app);
    db.execute(&format!(
        "GRANT \"{}\" TO \"{}\"; GRANT CREATE ON SCHEMA public TO \"{0}\"",
        other.name, app.name
    ));
    let dump = Dump::new(format!(
        "CREATE FUNCTION public.watch() RETURNS event_trigger LANGUAGE plpgsql \
           AS $$BEGIN END$$;\n\
         SET ROLE \"{}\";\n\
         CREATE EVENT TRIGGER watch ON ddl_command_end\n    EXECUTE FUNCTION public.watch();\n",
        other.name
    ));

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42501"));
    assert_eq!(error.line(), Some(3));
    assert_eq!(
        error.hint(),
        Some(
            format!(
                "Must be superuser to create an event trigger.\n\
                 the load runs as role {} (the dump switched to it at line 2; the load \
                 connected as role {}); only a superuser can create an event trigger: ask an \
                 administrator to create it, or remove it from the dump",
                other.name, app.name
            )
            .as_str()
        )
    );
}

#[test]
fn a_setting_only_a_superuser_may_change_fails_with_a_hint() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("superuser_setting", &app);
    let dump = Dump::new("CREATE TABLE t (id int);\nSET session_replication_role = replica;\n");

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(error.sqlstate(), Some("42501"));
    assert_eq!(error.line(), Some(2));
    assert_eq!(
        error.hint(),
        Some(
            format!(
                "the load runs as role {0}, which is not a superuser; only a superuser, or on \
                 PostgreSQL 15 and later a role granted it (GRANT SET ON PARAMETER \
                 session_replication_role TO {0}), can change session_replication_role",
                app.name
            )
            .as_str()
        )
    );
}

#[test]
fn alter_system_fails_as_psql_does_with_a_hint_to_remove_it() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("alter_system", &app);
    let dump = Dump::new("ALTER SYSTEM SET work_mem = '64MB';\n");

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    // Before any privilege check, the server refuses it in a transaction.
    assert_eq!(error.sqlstate(), Some("25001"));
    assert_eq!(
        error.hint(),
        Some(
            format!(
                "the load runs as role {}, which is not a superuser; ALTER SYSTEM cannot run \
                 in a transaction, so not in a load (nor under psql --single-transaction), \
                 and needs a superuser or, on PostgreSQL 15 and later, the ALTER SYSTEM \
                 privilege on the parameter: remove it from the dump; a managed service sets \
                 server parameters through its own console or API",
                app.name
            )
            .as_str()
        )
    );
}

#[test]
fn an_extension_a_providers_module_lists_is_left_to_the_server() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("extwlist", &app);
    // As pgextwlist (Heroku) lists the extensions any database owner may create; this
    // server has the setting without the module, so the server itself refuses it.
    db.execute(&format!(
        "ALTER DATABASE \"{}\" SET extwlist.extensions = 'hstore, pg_stat_statements'",
        db.name
    ));
    let dump = Dump::new(
        "CREATE TABLE public.first (id int);\n\
         CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n",
    );

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Database);
    assert_eq!(error.sqlstate(), Some("42501"));
    assert_eq!(error.line(), Some(2));
    assert_eq!(
        error.message(),
        "permission denied to create extension \"pg_stat_statements\""
    );
}

#[test]
fn an_extension_a_providers_allow_list_leaves_out_is_refused_even_to_a_superuser() {
    let db = TestDb::create("allow_list");
    // As azure.extensions on Azure Database for PostgreSQL.
    db.execute(&format!(
        "ALTER DATABASE \"{}\" SET azure.extensions = 'citext,hstore'",
        db.name
    ));
    let dump = Dump::new(
        "CREATE EXTENSION IF NOT EXISTS hstore;\n\
         CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;\n",
    );

    let (loaded, _) = load_with(&dump.path, &db.options(), &LoadOptions::default());

    let error = loaded.unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Extensions);
    assert_eq!(
        error.detail(),
        Some(
            "pg_trgm (line 2): the server's allow-list azure.extensions leaves it out: no role \
             may create it until an administrator adds it there"
        )
    );
    assert_eq!(db.user_objects(), Vec::<String>::new());
}

#[test]
fn a_member_of_a_providers_administrator_role_is_not_refused_an_untrusted_extension() {
    let app = TestRole::create("app");
    let db = TestDb::owned_by("provider_admin", &app);
    // The role a managed service makes its administrators members of (here Neon's), with
    // none of its powers on this server: the server itself then refuses the extension.
    db.execute(&format!(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'neon_superuser') \
         THEN CREATE ROLE neon_superuser; END IF; END$$; GRANT neon_superuser TO \"{}\"",
        app.name
    ));
    let dump = Dump::new("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n");

    let (loaded, _) = load_with(&dump.path, &db.options_as(&app), &LoadOptions::default());

    let error = loaded.unwrap_err();
    db.execute("DROP ROLE neon_superuser");
    assert_eq!(error.reason(), ErrorReason::Database);
    assert_eq!(error.sqlstate(), Some("42501"));
    assert_eq!(error.line(), Some(1));
}
