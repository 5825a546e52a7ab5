//! Every lexer edge case in `test/fixtures/psql15/cases`: the splitter must yield exactly
//! the queries psql 15.18 sent, or, where StructureLoader deliberately refuses what psql
//! does (unterminated input at end of file, meta-commands other than
//! `\restrict`/`\unrestrict`/`\connect`), a located error after the queries psql sent
//! before that point.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use structure_loader::split::{Item, SplitErrorKind, SplitOptions, Splitter};

mod fixtures;
use fixtures::psql15_dir;

fn cases_dir() -> PathBuf {
    psql15_dir().join("cases")
}

/// What psql sent for each case, from `EXPECTED_psql15.18.txt`.
fn psql_queries() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(cases_dir().join("EXPECTED_psql15.18.txt")).unwrap();
    let mut cases = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("== ") {
            let name = header.split_whitespace().next().unwrap().to_string();
            cases.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if let Some((label, repr)) = line.trim_start().split_once(": ") {
            if label.starts_with('Q') && label[1..].chars().all(|c| c.is_ascii_digit()) {
                let name = current.as_ref().unwrap();
                cases.get_mut(name).unwrap().push(python_str(repr));
            }
        }
    }
    cases
}

/// Decodes a Python `repr()` of a str.
fn python_str(repr: &str) -> String {
    let quote = repr.chars().next().unwrap();
    let body = &repr[1..repr.len() - 1];
    assert!(repr.ends_with(quote), "not a Python string literal: {repr}");
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next().unwrap();
        let mut hex = |digits: usize| {
            let code: String = chars.by_ref().take(digits).collect();
            char::from_u32(u32::from_str_radix(&code, 16).unwrap()).unwrap()
        };
        out.push(match escaped {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'x' => hex(2),
            'u' => hex(4),
            other => other,
        });
    }
    out
}

/// What the splitter did with a case: the queries it yields, every item, and the error.
struct Outcome {
    queries: Vec<String>,
    items: Vec<Item>,
    error: Option<(SplitErrorKind, u64, u64, String)>,
}

fn split_case(name: &str) -> Outcome {
    let file = File::open(cases_dir().join(name)).unwrap();
    let mut outcome = Outcome {
        queries: Vec::new(),
        items: Vec::new(),
        error: None,
    };
    for item in Splitter::new(file, SplitOptions::default()) {
        match item {
            Ok(item) => {
                if let Item::Sql(statement) | Item::CopyStart(statement) = &item {
                    outcome.queries.push(statement.text.clone());
                }
                outcome.items.push(item);
            }
            Err(error) => {
                let location = error.location();
                outcome.error = Some((
                    error.kind(),
                    location.line,
                    location.column,
                    error.message().to_string(),
                ));
            }
        }
    }
    outcome
}

/// Cases where StructureLoader deliberately stops with an error: how many of psql's
/// queries come first, and the error's kind, line, column and a word of its message.
const REFUSED: &[(&str, usize, SplitErrorKind, u64, u64, &str)] = {
    use SplitErrorKind::{MetaCommand as Meta, Unsupported, Unterminated as Open};
    &[
        ("c05_std_off_sameline.sql", 3, Open, 1, 64, "quoted string"),
        ("c18_unclosed_paren_eof.sql", 0, Open, 1, 8, "parenthesis"),
        ("c22_func_named_begin.sql", 0, Open, 1, 17, "BEGIN ATOMIC"),
        (
            "c26_meta_midline.sql",
            1,
            Meta,
            1,
            11,
            "\\echo is not allowed",
        ),
        (
            "c31_unterminated_quote_eof.sql",
            1,
            Open,
            2,
            8,
            "quoted string",
        ),
        (
            "c32_estring_continuation.sql",
            1,
            Open,
            2,
            6,
            "quoted string",
        ),
        (
            "c42_meta_then_sql.sql",
            0,
            Meta,
            1,
            1,
            "\\echo is not allowed",
        ),
        (
            "c43_unterminated_dollar_eof.sql",
            1,
            Open,
            2,
            8,
            "dollar-quoted",
        ),
        ("c44_begin_after_paren.sql", 0, Open, 1, 64, "BEGIN ATOMIC"),
        ("d08_two_copies_escsemi.sql", 1, Unsupported, 2, 1, "joined"),
        (
            "m02_meta_inside_stmt.sql",
            0,
            Meta,
            2,
            1,
            "\\echo is not allowed",
        ),
        (
            "m03_double_backslash.sql",
            0,
            Meta,
            1,
            10,
            "\\ is not allowed",
        ),
        (
            "m06_unknown_meta.sql",
            0,
            Meta,
            1,
            1,
            "\\nosuchcmd is not allowed",
        ),
        (
            "m08_returns_setof_begin_type.sql",
            1,
            Open,
            2,
            36,
            "BEGIN ATOMIC",
        ),
        (
            "m09_semicolon_after_meta_arg.sql",
            0,
            Meta,
            1,
            1,
            "\\echo is not allowed",
        ),
        ("m10_meta_no_space.sql", 0, Meta, 1, 9, "\\g is not allowed"),
        (
            "r01_restrict_basic.sql",
            1,
            Meta,
            3,
            1,
            "restricted; only \\unrestrict",
        ),
        ("r02_wrong_key.sql", 0, Meta, 2, 1, "wrong key"),
        (
            "r03_double_restrict.sql",
            0,
            Meta,
            2,
            1,
            "restricted; only \\unrestrict",
        ),
        (
            "r04_unrestrict_not_restricted.sql",
            0,
            Meta,
            1,
            1,
            "not currently in restricted mode",
        ),
        (
            "r05_unrestrict_extra.sql",
            0,
            Meta,
            3,
            1,
            "\\echo is not allowed",
        ),
        (
            "r06_restrict_noarg.sql",
            0,
            Meta,
            1,
            1,
            "missing required argument",
        ),
        (
            "r08_restrict_midline.sql",
            2,
            Meta,
            3,
            1,
            "\\echo is not allowed",
        ),
        (
            "r09_unrestrict_trailing_semicolon.sql",
            0,
            Meta,
            3,
            1,
            "\\echo is not allowed",
        ),
        (
            "r10_unrestrict_quoted.sql",
            0,
            Meta,
            3,
            1,
            "\\echo is not allowed",
        ),
    ]
};

/// The golden run defined the psql variable `foo`; Ecto's psql defines none, and then
/// psql leaves `:foo` as written (checked with run_case.sh without `-v foo=42`).
const WITHOUT_VARIABLES: &[(&str, &str)] = &[
    (
        "c27_vars.sql",
        "SELECT :foo AS a, ':foo' AS b, :'foo' AS c, :\"foo\" AS d, $$:foo$$ AS e, /* :foo */ 1 AS f, :bar AS g;",
    ),
    ("m05_vars_restricted.sql", "SELECT :'foo' AS v, :foo AS w;"),
];

/// psql ran with ON_ERROR_STOP=0 here: after the server rejected the COPY it lexed the
/// data as SQL. With ON_ERROR_STOP=1 it stops after the COPY, which is all that counts.
const COPY_REJECTED_BY_SERVER: &str = "d06_copy_fail_nostop.sql";

#[test]
fn every_case_matches_psql_or_is_refused_with_a_location() {
    let golden = psql_queries();
    let files: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    assert!(
        files.len() >= 80,
        "expected the whole case set, found {}",
        files.len()
    );
    let mut checked = 0;
    for name in files {
        let Some(psql) = golden.get(&name) else {
            continue; // not in EXPECTED (scratch file)
        };
        let outcome = split_case(&name);
        if let Some(&(_, sent, kind, line, column, words)) =
            REFUSED.iter().find(|(case, ..)| *case == name)
        {
            assert_eq!(
                outcome.queries,
                psql[..sent],
                "{name}: queries before the error"
            );
            let (actual_kind, actual_line, actual_column, message) = outcome
                .error
                .unwrap_or_else(|| panic!("{name}: expected an error"));
            assert_eq!(
                (actual_kind, actual_line, actual_column),
                (kind, line, column),
                "{name}: {message}"
            );
            assert!(
                message.contains(words),
                "{name}: {message:?} lacks {words:?}"
            );
        } else if let Some((_, query)) = WITHOUT_VARIABLES.iter().find(|(case, _)| *case == name) {
            assert_eq!(outcome.queries, [*query], "{name}");
            assert!(outcome.error.is_none(), "{name}: {:?}", outcome.error);
        } else if name == COPY_REJECTED_BY_SERVER {
            assert_eq!(outcome.queries[0], psql[0], "{name}");
            assert_eq!(outcome.queries, [psql[0].as_str(), "SELECT 'after';"]);
        } else {
            assert_eq!(outcome.queries, *psql, "{name}");
            assert!(outcome.error.is_none(), "{name}: {:?}", outcome.error);
        }
        checked += 1;
    }
    assert_eq!(checked, golden.len(), "every case in EXPECTED has a file");
}

fn copy_blocks(name: &str) -> Vec<(Vec<u8>, u64, bool)> {
    let mut blocks = Vec::new();
    let mut data = Vec::new();
    for item in split_case(name).items {
        match item {
            Item::CopyData(chunk) => data.extend_from_slice(&chunk),
            Item::CopyEnd { rows, terminated } => {
                blocks.push((std::mem::take(&mut data), rows, terminated))
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn copy_data_is_sent_verbatim_without_the_end_marker() {
    assert_eq!(
        copy_blocks("d01_copy_basic.sql"),
        [(b"x\t\\\\.\n\\.x\ty\nsemi;\t\\N\n".to_vec(), 3, true)]
    );
    assert_eq!(
        copy_blocks("d02_copy_same_line.sql"),
        [(b"l1\tv1\n".to_vec(), 1, true)]
    );
    assert_eq!(
        copy_blocks("d05_copy_crlf_marker.sql"),
        [(b"q\tw\r\n".to_vec(), 1, true)]
    );
    assert_eq!(
        copy_blocks("d07_copy_csv.sql"),
        [(b"\"a\nb\",c\n".to_vec(), 2, true)]
    );
}

#[test]
fn copy_data_ends_at_end_of_file_as_in_psql() {
    assert_eq!(
        copy_blocks("d03_copy_eof_no_marker.sql"),
        [(b"q\tw\n".to_vec(), 1, false)]
    );
    // psql 15 only knows `\.` followed by a newline; the server then rejects the data.
    assert_eq!(
        copy_blocks("d09_marker_no_newline_eof.sql"),
        [(b"q\tw\n\\.".to_vec(), 2, false)]
    );
    // `\. ` is data too.
    assert_eq!(
        copy_blocks("d04_copy_marker_trailing_space.sql"),
        [(b"q\tw\n\\. \n".to_vec(), 2, true)]
    );
}

#[test]
fn the_rest_of_a_copy_line_runs_after_the_data() {
    let items = split_case("d02_copy_same_line.sql").items;
    let kinds: Vec<String> = items
        .iter()
        .map(|item| match item {
            Item::Sql(statement) => format!("sql {}", statement.text),
            Item::CopyStart(statement) => format!("copy {}", statement.text),
            Item::CopyData(data) => format!("data {}", String::from_utf8_lossy(data)),
            Item::CopyEnd { rows, .. } => format!("end {rows}"),
            Item::Meta { .. } => "meta".to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "copy COPY ct FROM stdin;",
            "data l1\tv1\n",
            "end 1",
            "sql SELECT 'after copy on same line';",
            "sql SELECT 'next';",
        ]
    );
}
