use crate::dump::file::DumpFile;
use crate::dump::filters::{Filters, LeftOut};
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
    /// The extensions the dump creates, once each, in file order: what an administrator
    /// must create beforehand where the role that loads may not.
    pub extensions: Vec<String>,
    /// The statements the filters would leave out (counted in `statements` too).
    pub left_out: LeftOut,
}

/// Splits the dump at `path` without any database, as a load with these `filters` would
/// (assuming `standard_conforming_strings` starts on, as on every server since 9.1), and
/// reports what it holds or the first problem a load would meet before sending anything.
///
/// A `\connect` to another database is not detected: that needs to know the target; nor
/// is what only the server can tell (unknown settings, extensions it lacks).
pub fn check(path: &Path, filters: Filters) -> Result<CheckSummary, LoadError> {
    let dump = DumpFile::open(path)?;
    let pg_dump_version = dump.pg_dump_version()?;
    let found = survey(
        dump.reader(None)?,
        SplitOptions::default(),
        None,
        filters,
        None,
    )
    .map_err(|error| error.in_file(path))?;
    let mut extensions: Vec<String> = Vec::new();
    for created in found.extensions {
        if !extensions.contains(&created.name) {
            extensions.push(created.name);
        }
    }
    Ok(CheckSummary {
        statements: found.statements,
        copy_blocks: found.copy_blocks,
        copy_rows: found.copy_rows,
        meta_commands: found.meta_commands,
        pg_dump_version,
        extensions,
        left_out: found.left_out,
    })
}
