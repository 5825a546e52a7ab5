//! Splitting throughput on a large dump: `cargo bench -p structure_loader --bench split_throughput`.
//!
//! Builds a file of about 256 MB from the corpus in `test/fixtures/corpus` (schema dumps and
//! pagila's COPY data, repeated), then splits it three times and prints the best
//! throughput, for the whole file and for schema statements alone. Target: at least
//! 200 MB/s on one core.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use structure_loader::split::{Item, SplitOptions, Splitter};

const TARGET_BYTES: u64 = 256 * 1024 * 1024;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/corpus")
}

/// Repeats `sources` until the file holds about `TARGET_BYTES`; each source is a whole
/// dump, so the result splits cleanly. Restrict lines are dropped: their keys would clash.
fn build(path: &Path, sources: &[&str]) -> u64 {
    let corpus = corpus_dir();
    let texts: Vec<String> = sources
        .iter()
        .map(|name| {
            let text = fs::read_to_string(corpus.join(name))
                .unwrap_or_else(|error| panic!("{}: {error}", corpus.join(name).display()));
            text.lines()
                .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
                .map(|line| format!("{line}\n"))
                .collect()
        })
        .collect();
    let mut out = BufWriter::new(File::create(path).unwrap());
    let mut written = 0;
    while written < TARGET_BYTES {
        for text in &texts {
            out.write_all(text.as_bytes()).unwrap();
            written += text.len() as u64;
        }
    }
    out.flush().unwrap();
    written
}

fn measure(label: &str, path: &Path, bytes: u64) {
    let mut best = f64::MAX;
    let mut counts = (0, 0, 0);
    for _ in 0..3 {
        let reader = File::open(path).unwrap();
        let started = Instant::now();
        let (mut statements, mut copies, mut rows) = (0u64, 0u64, 0u64);
        for item in Splitter::new(reader, SplitOptions::default()) {
            match item.expect("the benchmark file splits") {
                Item::Sql(_) => statements += 1,
                Item::CopyStart(_) => copies += 1,
                Item::CopyEnd { rows: n, .. } => rows += n,
                _ => {}
            }
        }
        best = best.min(started.elapsed().as_secs_f64());
        counts = (statements, copies, rows);
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "{label}: {mb:.0} MB, {} statements, {} COPY blocks, {} rows: best of 3 {:.3} s = {:.0} MB/s",
        counts.0,
        counts.1,
        counts.2,
        best,
        mb / best
    );
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    fs::create_dir_all(&dir).unwrap();
    let schemas = [
        "pagila-schema-2024.sql",
        "feedbin.sql",
        "catarse-2013.sql",
        "synapse-main-72.sql",
        "sanbase2-pg96-2018.sql",
        "philomena-pg18.sql",
        "neon-chinook.sql",
    ];
    let schema_path = dir.join("schemas.sql");
    let bytes = build(&schema_path, &schemas);
    measure("schema statements", &schema_path, bytes);
    let mixed_path = dir.join("mixed.sql");
    let mut mixed = schemas.to_vec();
    mixed.push("pagila-data.sql");
    let bytes = build(&mixed_path, &mixed);
    measure("schemas + COPY data", &mixed_path, bytes);
}
