//! The file's `client_encoding` read as the server would read it: for every single-byte
//! encoding the loader offers and every byte 0x80-0xFF, the loader gives the character
//! PostgreSQL's `convert_from` gives and refuses the bytes PostgreSQL refuses; a refused
//! byte stops the load at its line and column before anything is sent.

mod db_support;

use db_support::{load, TestDb};
use structure_loader::split::{Encoding, Item, SplitErrorKind, SplitOptions, Splitter};
use structure_loader::ErrorReason;

/// Every single-byte encoding the loader reads, by PostgreSQL's name.
const SINGLE_BYTE: [&str; 27] = [
    "LATIN1",
    "LATIN2",
    "LATIN3",
    "LATIN4",
    "LATIN5",
    "LATIN6",
    "LATIN7",
    "LATIN8",
    "LATIN9",
    "LATIN10",
    "ISO_8859_5",
    "ISO_8859_6",
    "ISO_8859_7",
    "ISO_8859_8",
    "WIN866",
    "WIN874",
    "WIN1250",
    "WIN1251",
    "WIN1252",
    "WIN1253",
    "WIN1254",
    "WIN1255",
    "WIN1256",
    "WIN1257",
    "WIN1258",
    "KOI8R",
    "KOI8U",
];

/// What the loader makes of `byte` in a file in `encoding`: the character, or `None` when
/// it refuses the byte (at its place in the file).
fn loader_decodes(encoding: &str, byte: u8) -> Option<char> {
    let mut dump = format!("SET client_encoding = '{encoding}';\nSELECT '").into_bytes();
    dump.extend_from_slice(&[byte, b'\'', b';', b'\n']);
    let mut items = Splitter::new(&dump[..], SplitOptions::default());
    assert!(matches!(items.next(), Some(Ok(Item::Sql(_)))));
    match items.next() {
        Some(Ok(Item::Sql(statement))) => {
            let quoted = statement.text.strip_prefix("SELECT '");
            let mut chars = quoted
                .and_then(|rest| rest.strip_suffix("';"))
                .unwrap()
                .chars();
            let decoded = chars.next();
            assert_eq!(
                chars.next(),
                None,
                "{encoding} {byte:#04X}: one byte, one character"
            );
            decoded
        }
        Some(Err(error)) => {
            let location = error.location();
            assert_eq!(error.kind(), SplitErrorKind::Encoding, "{error}");
            assert_eq!((location.line, location.column), (2, 9), "{error}");
            None
        }
        other => panic!("{encoding} {byte:#04X}: {other:?}"),
    }
}

/// What the server's `convert_from` makes of each byte 0x80-0xFF in `encoding`, in byte
/// order: the character, or `None` where it has no equivalent in UTF8. One query per
/// encoding; any other error fails the test.
fn server_decodes(client: &mut postgres::Client, encoding: &str) -> Vec<Option<char>> {
    client
        .query(
            "SELECT pg_temp.server_decodes(b, $1) FROM generate_series(128, 255) AS b ORDER BY b",
            &[&encoding],
        )
        .unwrap()
        .iter()
        .map(|row| {
            let decoded: Option<String> = row.get(0);
            decoded.map(|text| {
                let mut chars = text.chars();
                let decoded = chars.next().unwrap();
                assert_eq!(chars.next(), None, "{encoding}: one byte, one character");
                decoded
            })
        })
        .collect()
}

/// A client on a fresh UTF8 database (`convert_from` converts into the database's
/// encoding) with `pg_temp.server_decodes(byte, encoding)`.
fn server_with_convert_from(db: &TestDb) -> postgres::Client {
    let mut client = db.client();
    let encoding: String = client
        .query_one("SELECT current_setting('server_encoding')", &[])
        .unwrap()
        .get(0);
    assert_eq!(encoding, "UTF8", "the test database must be UTF8");
    client
        .batch_execute(
            "CREATE FUNCTION pg_temp.server_decodes(byte int, encoding text) RETURNS text \
             LANGUAGE plpgsql AS $$ \
             BEGIN \
               RETURN convert_from(decode(to_hex(byte), 'hex'), encoding); \
             EXCEPTION WHEN untranslatable_character THEN \
               RETURN NULL; \
             END $$",
        )
        .unwrap();
    client
}

#[test]
fn every_byte_of_every_single_byte_encoding_is_read_as_the_server_reads_it() {
    let db = TestDb::create("encodings");
    let mut client = server_with_convert_from(&db);
    let mut differences = Vec::new();
    let mut refused = 0;
    for encoding in SINGLE_BYTE {
        let server = server_decodes(&mut client, encoding);
        assert_eq!(server.len(), 128, "{encoding}");
        for (byte, server) in (0x80..=0xFF).zip(server) {
            let loader = loader_decodes(encoding, byte);
            if loader != server {
                differences.push(format!(
                    "{encoding} {byte:#04X}: server {server:?}, loader {loader:?}"
                ));
            }
            refused += usize::from(server.is_none());
        }
    }
    assert_eq!(differences, Vec::<String>::new());
    // The comparison means something only if the server refuses some bytes.
    assert!(refused > 0);
}

#[test]
fn the_single_byte_encodings_are_every_one_the_server_names_that_the_loader_reads() {
    let db = TestDb::create("encnames");
    let names: Vec<String> = db
        .client()
        .query(
            "SELECT pg_encoding_to_char(i) FROM generate_series(0, 63) AS i \
             WHERE pg_encoding_to_char(i) <> '' ORDER BY i",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut read: Vec<&str> = names
        .iter()
        .filter_map(|name| Encoding::from_pg_name(name))
        .map(|encoding| encoding.pg_name())
        .filter(|name| !["UTF8", "SQL_ASCII"].contains(name))
        .collect();
    read.sort_unstable();
    let mut expected = SINGLE_BYTE;
    expected.sort_unstable();
    assert_eq!(read, expected);
}

#[test]
fn a_byte_the_server_refuses_stops_the_load_at_its_line_and_column() {
    let db = TestDb::create("refused");
    for (dump, line, column) in [
        (
            &b"SET client_encoding = 'WIN1252';\nCREATE TABLE t (v text);\nINSERT INTO t VALUES ('a\x81');\n"[..],
            3,
            25,
        ),
        (
            b"SET client_encoding = 'WIN1252';\nCREATE TABLE t (v text);\nCOPY t (v) FROM stdin;\nok\nb\x81d\n\\.\n",
            5,
            2,
        ),
    ] {
        let (loaded, _) = load(&db, dump);
        let error = loaded.unwrap_err();
        assert_eq!(error.reason(), ErrorReason::Parse, "{error}");
        assert_eq!((error.line(), error.column()), (Some(line), Some(column)));
        assert!(error.message().starts_with("byte 0x81 "), "{error}");
        assert!(error.message().contains(" WIN1252;"), "{error}");
        assert_eq!(db.user_objects(), Vec::<String>::new());
    }
}

#[test]
fn a_win1252_dump_loads_the_euro_sign() {
    let db = TestDb::create("euro");
    let (loaded, _) = load(
        &db,
        b"SET client_encoding = 'WIN1252';\n\
          CREATE TABLE t (id int, v text);\n\
          INSERT INTO t VALUES (1, '\x80 5');\n\
          COPY t (id, v) FROM stdin;\n\
          2\t\x80 6\n\
          \\.\n",
    );
    loaded.unwrap();
    let values: Vec<String> = db
        .client()
        .query("SELECT v FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(values, ["€ 5", "€ 6"]);
}
