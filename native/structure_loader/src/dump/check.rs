use crate::dump::file::DumpFile;
use crate::dump::preflight::survey;
use crate::error::LoadError;
use crate::split::splitter::SplitOptions;
use std::path::Path;

/// What [`check`] found in a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    /// SQL statements in the file, including `COPY` statements and the transaction control
    /// and settings statements a load would not send.
    pub statements: u64,
    /// `COPY ... FROM stdin` blocks.
    pub copy_blocks: u64,
    /// Data lines in all COPY blocks.
    pub copy_rows: u64,
    /// `\restrict`, `\unrestrict` and `\connect` lines.
    pub meta_commands: u64,
    /// From the header line `-- Dumped by pg_dump version ...`, when present.
    pub pg_dump_version: Option<String>,
}

/// Splits the dump at `path` without any database, as a load would (assuming
/// `standard_conforming_strings` starts on, as on every server since 9.1), and reports
/// what it holds or the first problem a load would meet before sending anything.
///
/// A `\connect` to another database is not detected: that needs to know the target.
pub fn check(path: &Path) -> Result<CheckSummary, LoadError> {
    let dump = DumpFile::open(path)?;
    let pg_dump_version = dump.pg_dump_version()?;
    let found = survey(dump.reader(None)?, SplitOptions::default(), None, None)
        .map_err(|error| error.in_file(path))?;
    Ok(CheckSummary {
        statements: found.statements,
        copy_blocks: found.copy_blocks,
        copy_rows: found.copy_rows,
        meta_commands: found.meta_commands,
        pg_dump_version,
    })
}
