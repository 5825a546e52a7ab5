//! The dump file, and the pass over it that checks everything before a load sends
//! anything: [`check()`] runs that pass alone and reports what the dump holds.

pub(crate) mod check;
pub(crate) mod file;
pub(crate) mod preflight;

pub use check::{check, CheckSummary};
