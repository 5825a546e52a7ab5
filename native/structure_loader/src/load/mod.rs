//! The load: [`load()`] sends a dump's items in batches, in one transaction, and
//! [`table_exists()`] with the advisory lock on the migrations table makes a load happen
//! once.

pub(crate) mod batch;
pub(crate) mod executor;
pub(crate) mod migrations_table;
pub(crate) mod progress;

pub use executor::{load, load_with_progress, LoadOptions, LoadSummary};
pub use migrations_table::{table_exists, TableRef};
pub use progress::{Progress, PROGRESS_INTERVAL};
