use crate::split::location::Location;
use std::fmt;

/// Why a file cannot be split. Every error carries the location it refers to.
#[derive(Debug)]
pub struct SplitError {
    kind: SplitErrorKind,
    location: Location,
    message: String,
}

/// The broad class of a [`SplitError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitErrorKind {
    /// Reading the input failed.
    Io,
    /// The input is not valid in its encoding, or names an encoding we cannot transcode.
    Encoding,
    /// A quote, comment, parenthesis or `BEGIN ATOMIC` block is still open at end of
    /// file; the location is where it opened.
    Unterminated,
    /// The input is not a plain-format dump (e.g. pg_dump's custom format).
    NotPlainFormat,
    /// A meta-command that is refused, malformed, or breaks the `\restrict` rules.
    MetaCommand,
    /// Something psql would send that StructureLoader does not support (e.g. `COPY TO STDOUT`).
    Unsupported,
    /// A line or statement longer than PostgreSQL takes (1 GB).
    TooLong,
    /// The reading was interrupted on request (a time limit, a cancelled load).
    Interrupted,
}

impl SplitError {
    pub(crate) fn new(
        kind: SplitErrorKind,
        location: Location,
        message: impl Into<String>,
    ) -> Self {
        SplitError {
            kind,
            location,
            message: message.into(),
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> SplitErrorKind {
        self.kind
    }

    /// Where in the file the problem is (for `Unterminated`, where the construct opened).
    pub fn location(&self) -> Location {
        self.location
    }

    /// The message, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for SplitError {}
