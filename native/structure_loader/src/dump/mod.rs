//! The dump file, and the pass over it that checks everything before a load sends
//! anything: [`check()`] runs that pass alone and reports what the dump holds. The
//! [`Filters`] (pg_restore's `--no-owner`, `--no-privileges`, `--no-comments`) say which
//! of its statements a load leaves out.

pub(crate) mod check;
pub(crate) mod file;
pub(crate) mod filters;
pub(crate) mod preflight;

pub use check::{check, CheckSummary};
pub use filters::{Filter, Filters, LeftOut};
