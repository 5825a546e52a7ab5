//! `table_exists` against a real PostgreSQL: as Ecto's `table_exists?/3` sees tables.

mod db_support;

use db_support::TestDb;
use structure_loader::load::table_exists;

#[test]
fn finds_tables_in_the_current_schema_and_in_a_given_one_by_exact_name() {
    let db = TestDb::create("exists");
    db.execute(
        "CREATE TABLE schema_migrations (version bigint);\n\
         CREATE TABLE \"MixedCase\" (id int);\n\
         CREATE SCHEMA other;\n\
         CREATE TABLE other.only_here (id int);\n\
         CREATE SCHEMA \"My Schema\";\n\
         CREATE TABLE \"My Schema\".\"Table With Spaces\" (id int);\n",
    );
    let options = db.options();
    let exists = |schema: Option<&str>, table: &str| table_exists(&options, schema, table).unwrap();

    assert!(exists(None, "schema_migrations"));
    assert!(!exists(None, "no_such_table"));
    assert!(exists(Some("public"), "schema_migrations"));
    assert!(exists(Some("other"), "only_here"));
    assert!(!exists(None, "only_here"), "not in current_schema()");
    assert!(!exists(Some("no_such_schema"), "only_here"));
    assert!(exists(Some("My Schema"), "Table With Spaces"));
    assert!(exists(None, "MixedCase"));
    assert!(!exists(None, "mixedcase"), "names are exact, not folded");
    assert!(
        !exists(None, "\"MixedCase\""),
        "names are not SQL identifiers"
    );
}

#[test]
fn current_schema_follows_the_connections_search_path() {
    let db = TestDb::create("searchpath");
    db.execute("CREATE SCHEMA tenant; CREATE TABLE tenant.schema_migrations (version bigint);");
    let mut options = db.options();
    assert!(!table_exists(&options, None, "schema_migrations").unwrap());
    options.parameters = vec![("search_path".to_owned(), "tenant".to_owned())];
    assert!(table_exists(&options, None, "schema_migrations").unwrap());
}

#[test]
fn names_are_parameters_not_sql() {
    let db = TestDb::create("inject");
    db.execute("CREATE TABLE victim (id int);");
    let options = db.options();
    let hostile = "victim' OR '1'='1";
    assert!(!table_exists(&options, None, hostile).unwrap());
    assert!(!table_exists(&options, Some("x'); DROP TABLE victim; --"), "victim").unwrap());
    assert!(table_exists(&options, None, "victim").unwrap());
}
