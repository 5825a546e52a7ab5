//! Splitting: a dump's bytes into the [`Item`]s psql would act on, in file order. Reads from
//! any [`std::io::BufRead`] and knows nothing of files or servers.

pub(crate) mod encoding;
pub(crate) mod error;
pub(crate) mod input;
pub(crate) mod item;
pub(crate) mod lexer;
pub(crate) mod location;
pub(crate) mod meta_command;
pub(crate) mod query_buffer;
pub(crate) mod splitter;
pub(crate) mod statement_kind;

pub use encoding::Encoding;
pub use error::{SplitError, SplitErrorKind};
pub use item::{Item, MetaCommand, SessionEffect, Statement};
pub use location::Location;
pub use splitter::{SplitOptions, Splitter};
pub use statement_kind::{Setting, SettingValue, StatementKind};
