//! The splitter sends exactly what psql 15 sends, on real dumps.
//!
//! - Every file of the corpus (`test/fixtures/corpus`) splits into the statements recorded
//!   in `test/fixtures/psql15/corpus/<file>.tsv`: the length and SHA-256 of each statement
//!   psql sent, made by `scripts/psql-goldens` from psql's query log.
//! - The three dumps in `test/fixtures/psql15/dumps` split into exactly the statements of
//!   their `*.expected_statements.json`.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use structure_loader::split::{Item, SplitOptions, Splitter};

mod fixtures;
use fixtures::{corpus_dir, psql15_dir};

/// How much of a mismatching statement a failure shows.
const SHOWN_CHARS: usize = 300;

fn golden_dir() -> PathBuf {
    psql15_dir().join("corpus")
}

fn file_names(dir: &Path, extension: &str) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(extension))
        .collect()
}

fn corpus_files() -> BTreeSet<String> {
    let files = file_names(&corpus_dir(), ".sql");
    assert!(
        !files.is_empty(),
        "no .sql files in {}",
        corpus_dir().display()
    );
    files
}

/// The texts of the statements the splitter would send, in order: plain SQL and COPY
/// statements alike, as psql sends both as queries.
fn split_statements(path: &Path) -> Vec<String> {
    let file =
        File::open(path).unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()));
    Splitter::new(file, SplitOptions::default())
        .filter_map(|item| match item {
            Ok(Item::Sql(statement) | Item::CopyStart(statement)) => Some(statement.text),
            Ok(_) => None,
            Err(error) => panic!("{}:{error}", path.display()),
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            write!(hex, "{byte:02x}").expect("writing to a String");
            hex
        })
}

/// One statement psql sent, as a golden records it.
#[derive(Debug, PartialEq, Eq)]
struct GoldenStatement {
    byte_length: usize,
    sha256: String,
}

impl GoldenStatement {
    fn of(text: &str) -> Self {
        GoldenStatement {
            byte_length: text.len(),
            sha256: sha256_hex(text.as_bytes()),
        }
    }
}

/// Reads `test/fixtures/psql15/corpus/<name>.tsv`, checking that it was made from the corpus file
/// as it is now (its header names the file's SHA-256).
fn read_golden(name: &str) -> Vec<GoldenStatement> {
    let path = golden_dir().join(format!("{name}.tsv"));
    let golden = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let mut lines = golden.lines();
    let header = lines.next().unwrap_or_default();
    let source = fs::read(corpus_dir().join(name)).expect("corpus file");
    let source_sha256 = format!("(sha256 {})", sha256_hex(&source));
    assert!(
        header.starts_with("# ") && header.contains(&source_sha256),
        "{} was not made from the current {name} (header: {header:?}); run scripts/psql-goldens",
        path.display()
    );
    let statements: Vec<GoldenStatement> = lines
        .enumerate()
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [number, byte_length, sha256] = fields[..] else {
                panic!("{}: malformed line {line:?}", path.display());
            };
            assert_eq!(
                number.parse::<usize>().ok(),
                Some(index + 1),
                "{}: statements out of order at {line:?}",
                path.display()
            );
            GoldenStatement {
                byte_length: byte_length.parse().expect("byte length"),
                sha256: sha256.to_owned(),
            }
        })
        .collect();
    assert!(
        !statements.is_empty(),
        "{}: psql sent no statements",
        path.display()
    );
    statements
}

/// Where `ours` first departs from what psql sent, described for a failure message.
fn first_difference(name: &str, ours: &[String], golden: &[GoldenStatement]) -> Option<String> {
    let position = ours
        .iter()
        .zip(golden)
        .position(|(text, expected)| GoldenStatement::of(text) != *expected);
    let described = |index: usize| {
        let text = ours.get(index).map_or_else(
            || "nothing (the splitter ended here)".to_owned(),
            |text| {
                let shown: String = text.chars().take(SHOWN_CHARS).collect();
                format!("{} bytes, {shown:?}", text.len())
            },
        );
        let expected = golden.get(index).map_or_else(
            || "nothing (psql ended here)".to_owned(),
            |statement| format!("{} bytes", statement.byte_length),
        );
        format!(
            "{name}: statement {} of {} (psql sent {}) differs\n  splitter sent: {text}\n  psql sent: {expected}",
            index + 1,
            ours.len(),
            golden.len()
        )
    };
    match position {
        Some(index) => Some(described(index)),
        None if ours.len() != golden.len() => Some(described(ours.len().min(golden.len()))),
        None => None,
    }
}

#[test]
fn every_corpus_file_has_a_golden_and_every_golden_a_corpus_file() {
    let expected: BTreeSet<String> = corpus_files()
        .into_iter()
        .map(|name| format!("{name}.tsv"))
        .collect();
    assert_eq!(
        file_names(&golden_dir(), ".tsv"),
        expected,
        "goldens and corpus differ; run scripts/psql-goldens"
    );
}

#[test]
fn corpus_files_split_into_the_statements_psql_sends() {
    let differences: Vec<String> = corpus_files()
        .iter()
        .filter_map(|name| {
            let ours = split_statements(&corpus_dir().join(name));
            first_difference(name, &ours, &read_golden(name))
        })
        .collect();
    assert!(differences.is_empty(), "\n{}", differences.join("\n\n"));
}

fn assert_reproduces_expected_statements(dump: &str) {
    let dir = psql15_dir().join("dumps");
    let expected_path = dir.join(format!("{dump}.expected_statements.json"));
    let expected: Vec<String> = serde_json::from_slice(
        &fs::read(&expected_path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", expected_path.display())),
    )
    .expect("a JSON array of strings");
    assert!(!expected.is_empty(), "{}: empty", expected_path.display());
    let ours = split_statements(&dir.join(format!("{dump}.sql")));
    for (index, (text, expected_text)) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(text, expected_text, "{dump}.sql: statement {}", index + 1);
    }
    assert_eq!(ours.len(), expected.len(), "{dump}.sql: statement count");
}

#[test]
fn schema_only_dump_reproduces_psql() {
    assert_reproduces_expected_statements("dump_schema_only");
}

#[test]
fn dump_with_data_reproduces_psql() {
    assert_reproduces_expected_statements("dump_with_data");
}

#[test]
fn dump_with_standard_conforming_strings_off_reproduces_psql() {
    assert_reproduces_expected_statements("dump_std_strings_off");
}
