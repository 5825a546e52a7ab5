//! Progress reports while a dump is sent: about once a second, figures that only grow,
//! and none for a load that ends sooner.

mod db_support;

use db_support::{Dump, TestDb};
use structure_loader::load::{load, LoadOptions, Progress};

/// A dump whose statements take `pauses` × 0.4 s: each pause is followed by a COPY, which
/// ends the message being built, so the load reaches the reporting point between them.
fn slow_dump(pauses: usize) -> String {
    let mut dump = String::from("CREATE TABLE public.ticks (n integer);\n");
    for n in 0..pauses {
        dump.push_str("SELECT pg_sleep(0.4);\nCOPY public.ticks (n) FROM stdin;\n");
        dump.push_str(&format!("{n}\n\\.\n"));
    }
    dump
}

fn load_collecting(db: &TestDb, content: &str) -> Vec<Progress> {
    let dump = Dump::new(content);
    let mut reports = Vec::new();
    load(
        &dump.path,
        &db.options(),
        &LoadOptions::default(),
        &mut |_notice| {},
        &mut |progress| reports.push(progress),
    )
    .unwrap();
    reports
}

#[test]
fn a_slow_load_reports_growing_figures_against_the_file_totals() {
    let db = TestDb::create("progress_slow");
    let content = slow_dump(8);
    let reports = load_collecting(&db, &content);

    assert!(reports.len() >= 2, "{reports:?}");
    for report in &reports {
        assert_eq!(report.statements_total, 17);
        assert_eq!(report.bytes_total, content.len() as u64);
        assert_eq!(report.copy_rows_total, 8);
        assert!(report.bytes < report.bytes_total, "{report:?}");
    }
    for pair in reports.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        assert!(later.bytes > earlier.bytes, "{pair:?}");
        assert!(later.statements > earlier.statements, "{pair:?}");
        assert!(later.copy_rows > earlier.copy_rows, "{pair:?}");
        assert!(later.line > earlier.line, "{pair:?}");
        assert!(later.elapsed >= earlier.elapsed + structure_loader::load::PROGRESS_INTERVAL);
    }
}

#[test]
fn a_load_shorter_than_the_interval_reports_nothing() {
    let db = TestDb::create("progress_fast");
    assert_eq!(load_collecting(&db, &slow_dump(0)), []);
}
