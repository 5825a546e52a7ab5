//! Load pg_dump plain-format files into PostgreSQL exactly as
//! `psql -v ON_ERROR_STOP=1 --single-transaction -f FILE` would, without psql.
//!
//! The crate has two halves:
//! - [`Splitter`] turns a dump into the sequence of [`Item`]s psql would act on
//!   (SQL queries, COPY blocks with their data, meta-commands), streaming from any
//!   [`std::io::BufRead`] in memory bounded by the largest statement or COPY line.
//! - the executor ([`load`], [`table_exists`]) runs those items on one connection in one
//!   transaction through tokio-postgres.
//!
//! It knows nothing of the BEAM: the NIF crate is thin glue over this API.

mod classify;
mod encoding;
mod item;
mod lexer;
mod location;
mod meta;
mod query;
mod split_error;
mod splitter;

mod batch;
mod cancel;
mod check;
mod connect;
mod dump_file;
mod executor;
mod load_error;
mod notice;
mod session;
mod statement_kind;
mod survey;
mod table;
mod tls;

pub use cancel::CancelHandle;
pub use check::{check, CheckSummary};
pub use connect::ConnectOptions;
pub use encoding::Encoding;
pub use executor::{load, LoadOptions, LoadSummary};
pub use item::{Item, MetaCommand, SessionEffect, Statement};
pub use load_error::{ErrorReason, LoadError};
pub use location::Location;
pub use notice::Notice;
pub use split_error::{SplitError, SplitErrorKind};
pub use splitter::{SplitOptions, Splitter};
pub use table::{table_exists, TableRef};
pub use tls::{TlsMode, TlsOptions};
