//! Load pg_dump plain-format files into PostgreSQL exactly as
//! `psql -v ON_ERROR_STOP=1 --single-transaction -f FILE` would, without psql.
//!
//! The crate has four layers, each importing only from the ones before it:
//!
//! 1. **Splitting** ([`split`]): [`Splitter`](split::Splitter) turns a dump into the
//!    [`Item`](split::Item)s psql would act on (SQL statements, COPY blocks with their
//!    data, meta-commands), streaming from any [`std::io::BufRead`] in memory bounded by
//!    the largest statement or COPY line.
//!    psql's lexer, meta-commands, client encodings, and the one classification of each
//!    statement live here.
//! 2. **The dump file** ([`dump`]): opening a dump, and the pass over it that proves it
//!    splits and holds nothing refused before anything is sent; [`dump::check()`] reports
//!    what it holds, and what pg_restore's filters ([`dump::Filters`]) would leave out.
//! 3. **The connection** ([`connection`]): [`ConnectOptions`](connection::ConnectOptions)
//!    (TCP or unix socket, TLS), the session that drives one connection and forwards the
//!    server's notices, what stops its requests ([`CancelHandle`](connection::CancelHandle),
//!    time limits), and the wire CancelRequest.
//! 4. **The load** ([`load`]): [`load::load()`] asks the server's catalogs once what
//!    the role it runs as may do, then sends a dump's items in batches in one
//!    transaction; [`load::table_exists()`] and an advisory lock make a load happen once.
//!
//! [`LoadError`] is the one error type of layers 2 to 4. The crate knows nothing of the
//! BEAM: the NIF crate is thin glue over this API.
//!
//! Layers 3 and 4 are the default feature `load`; without it the crate splits and checks
//! dumps with none of the network stack (the fuzz target builds it so).

#![warn(missing_docs)]
// Without the load layer, helpers that only it calls are unused.
#![cfg_attr(not(feature = "load"), allow(dead_code))]

#[cfg(feature = "load")]
pub mod connection;
pub mod dump;
mod error;
#[cfg(feature = "load")]
pub mod load;
pub mod split;

pub use error::{ErrorReason, LoadError};
