//! The load: [`load()`] sends a dump's items in batches, in one transaction, after one
//! question to the server's catalogs decides what to skip and which of the dump's
//! extensions the role cannot create; [`table_exists()`] with the advisory lock on the
//! migrations table makes a load happen once.

pub(crate) mod batch;
pub(crate) mod catalog;
pub(crate) mod executor;
pub(crate) mod migrations_table;
pub(crate) mod progress;

pub use executor::{load, LoadOptions, LoadSummary};
pub use migrations_table::{table_exists, TableRef};
pub use progress::{Progress, PROGRESS_INTERVAL};
