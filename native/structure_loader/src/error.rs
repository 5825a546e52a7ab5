use crate::split::error::{SplitError, SplitErrorKind};
use crate::split::item::Statement;
use crate::split::location::Location;
use std::fmt;
use std::path::{Path, PathBuf};
#[cfg(feature = "load")]
use tokio_postgres::error::{DbError, ErrorPosition};

/// Statements longer than this (in characters) are shortened to a window around the
/// error in [`LoadError::statement`], so an error never carries a whole huge statement.
const STATEMENT_EXCERPT_CHARS: usize = 4000;

/// What every [`ErrorReason::CommitUnknown`] error ends with.
pub(crate) const COMMIT_UNKNOWN: &str = "whether the load was committed is unknown; look \
    before loading again (a load-once retry loads only if the migrations table is absent)";

/// Why a load, check or table lookup failed, with everything known about where.
///
/// Opaque: read it through the accessors. It never contains the connection password:
/// messages are built from the server's reply, the OS error and non-secret settings only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(Box<Inner>);

// Boxed: errors travel through every `?` of the load, and are rare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    reason: ErrorReason,
    message: String,
    path: Option<PathBuf>,
    location: Option<Location>,
    statement: Option<String>,
    position: Option<usize>,
    /// The server's DETAIL, or the loader's own for its errors.
    detail: Option<String>,
    /// The server's HINT, the loader's own, or both: the loader adds what to do.
    hint: Option<String>,
    server: Option<ServerFields>,
}

/// The fields of a server `ErrorResponse` worth keeping, beside its detail and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerFields {
    sqlstate: String,
    severity: String,
    /// 1-based character position in the query the server was given.
    query_position: Option<usize>,
    /// The server's context lines (`COPY items, line 3: ...`).
    context: Option<String>,
}

/// The broad class of a [`LoadError`]; what the caller can do about it differs per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// The dump cannot be opened or read.
    File,
    /// The dump cannot be split into statements (see [`SplitErrorKind`]), or holds a
    /// statement the loader refuses (a `ROLLBACK` of its own).
    Parse,
    /// A meta-command that is refused or breaks psql's `\restrict` rules.
    MetaCommand,
    /// The server cannot be reached, TLS failed, or the connection broke.
    Connect,
    /// The server refused the credentials (SQLSTATE 28P01 or 28000).
    Auth,
    /// The server reported an error (any other SQLSTATE).
    Database,
    /// The dump creates extensions that the server does not have, or that the role the
    /// load runs as may not create: found before anything of the dump was sent, all of
    /// them in one error that says what an administrator must run.
    Extensions,
    /// The load's time limit ([`crate::load::LoadOptions::timeout`]) expired: it was stopped
    /// and rolled back.
    Timeout,
    /// The load was stopped through its [`crate::connection::CancelHandle`] and rolled back.
    Cancelled,
    /// `COMMIT` was sent, and its answer never came: the connection was lost, the server
    /// ended it with a `FATAL` error, or a stop gave up waiting. The load may or may not
    /// have been committed; only the database can tell.
    CommitUnknown,
    /// A bug: something that must not happen did (e.g. a panic caught at the NIF boundary).
    Internal,
}

impl ErrorReason {
    /// The lowercase name used across the BEAM boundary (`:file`, `:parse`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::File => "file",
            ErrorReason::Parse => "parse",
            ErrorReason::MetaCommand => "meta_command",
            ErrorReason::Connect => "connect",
            ErrorReason::Auth => "auth",
            ErrorReason::Database => "database",
            ErrorReason::Extensions => "extensions",
            ErrorReason::Timeout => "timeout",
            ErrorReason::Cancelled => "cancelled",
            ErrorReason::CommitUnknown => "commit_unknown",
            ErrorReason::Internal => "internal",
        }
    }
}

impl LoadError {
    pub(crate) fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        LoadError(Box::new(Inner {
            reason,
            message: message.into(),
            path: None,
            location: None,
            statement: None,
            position: None,
            detail: None,
            hint: None,
            server: None,
        }))
    }

    /// Sets the DETAIL: what exactly went wrong, beyond the message.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Adds to the HINT, after the server's own: what to do about it.
    pub(crate) fn with_hint(mut self, hint: &str) -> Self {
        self.0.hint = Some(match self.0.hint.take() {
            Some(server_hint) => format!("{server_hint}\n{hint}"),
            None => hint.to_owned(),
        });
        self
    }

    /// An error for a bug caught at a boundary, such as a panic in the NIF.
    pub fn internal(message: impl Into<String>) -> Self {
        LoadError::new(ErrorReason::Internal, message)
    }

    /// Puts what failed before the message (`{what}: {message}`).
    pub(crate) fn context(mut self, what: &str) -> Self {
        self.0.message = format!("{what}: {}", self.0.message);
        self
    }

    /// Says what the load was doing when it was stopped; other errors stay as they are.
    pub(crate) fn while_doing(mut self, doing: &str) -> Self {
        if matches!(self.0.reason, ErrorReason::Timeout | ErrorReason::Cancelled) {
            self.0.message = format!("{} ({doing})", self.0.message);
        }
        self
    }

    /// The dump at `path` cannot be opened or read.
    pub(crate) fn file(path: &Path, error: &std::io::Error) -> Self {
        LoadError::new(
            ErrorReason::File,
            format!("cannot read {}: {error}", path.display()),
        )
        .in_file(path)
    }

    /// A splitter error, classified by its kind.
    pub(crate) fn split(error: &SplitError) -> Self {
        let reason = match error.kind() {
            SplitErrorKind::Io => ErrorReason::File,
            SplitErrorKind::MetaCommand => ErrorReason::MetaCommand,
            SplitErrorKind::Encoding
            | SplitErrorKind::Unterminated
            | SplitErrorKind::NotPlainFormat
            | SplitErrorKind::Unsupported
            | SplitErrorKind::TooLong => ErrorReason::Parse,
            // The load turns an interruption into the error of what stopped it.
            SplitErrorKind::Interrupted => ErrorReason::Internal,
        };
        LoadError::new(reason, error.message()).at(error.location())
    }

    /// A server `ErrorResponse`: [`ErrorReason::Auth`] for SQLSTATE class 28, else
    /// [`ErrorReason::Database`].
    #[cfg(feature = "load")]
    pub(crate) fn server(error: &DbError) -> Self {
        let sqlstate = error.code().code();
        let reason = if sqlstate.starts_with("28") {
            ErrorReason::Auth
        } else {
            ErrorReason::Database
        };
        let mut load_error = LoadError::new(reason, error.message());
        load_error.0.detail = error.detail().map(str::to_owned);
        load_error.0.hint = error.hint().map(str::to_owned);
        load_error.0.server = Some(ServerFields {
            sqlstate: sqlstate.to_owned(),
            severity: error
                .parsed_severity()
                .map_or_else(|| error.severity().to_owned(), |s| s.to_string()),
            query_position: error.position().and_then(|position| match position {
                ErrorPosition::Original(position) => Some(*position as usize),
                ErrorPosition::Internal { .. } => None,
            }),
            context: error.where_().map(str::to_owned),
        });
        load_error
    }

    /// A server error read off the wire rather than through tokio-postgres (the
    /// server's last words, see [`crate::connection`]).
    pub(crate) fn server_fields(
        severity: &str,
        sqlstate: &str,
        message: &str,
        detail: Option<&str>,
        hint: Option<&str>,
        context: Option<&str>,
    ) -> Self {
        let reason = if sqlstate.starts_with("28") {
            ErrorReason::Auth
        } else {
            ErrorReason::Database
        };
        let mut load_error = LoadError::new(reason, message);
        load_error.0.detail = detail.map(str::to_owned);
        load_error.0.hint = hint.map(str::to_owned);
        load_error.0.server = Some(ServerFields {
            sqlstate: sqlstate.to_owned(),
            severity: severity.to_owned(),
            query_position: None,
            context: context.map(str::to_owned),
        });
        load_error
    }

    /// Any tokio-postgres error: a server error keeps its fields; anything else means the
    /// connection is unusable ([`ErrorReason::Connect`]).
    #[cfg(feature = "load")]
    pub(crate) fn postgres(error: &tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db_error) => LoadError::server(db_error),
            None => LoadError::new(
                ErrorReason::Connect,
                format!("connection to the server lost: {}", error_chain(error)),
            ),
        }
    }

    /// This failure, come after `COMMIT` was sent instead of its answer: the outcome is
    /// unknown. The server's fields, if any, are kept.
    pub(crate) fn commit_unknown(mut self) -> Self {
        if self.0.reason != ErrorReason::CommitUnknown {
            self.0.reason = ErrorReason::CommitUnknown;
            self.0.message = format!(
                "{}, after COMMIT was sent and before its answer came: {COMMIT_UNKNOWN}",
                self.0.message
            );
        }
        self
    }

    /// Attaches the dump's path.
    pub(crate) fn in_file(mut self, path: &Path) -> Self {
        self.0.path = Some(path.to_owned());
        self
    }

    /// Attaches a file location.
    pub(crate) fn at(mut self, location: Location) -> Self {
        self.0.location = Some(location);
        self
    }

    /// The server's error position: a 1-based character index in the message it was sent.
    pub(crate) fn query_position(&self) -> Option<usize> {
        self.0
            .server
            .as_ref()
            .and_then(|server| server.query_position)
    }

    /// For an error in a message of several statements: makes the server's position
    /// relative to the statement that starts `chars_before` characters into the message.
    pub(crate) fn within_message(mut self, chars_before: usize) -> Self {
        if let Some(server) = &mut self.0.server {
            server.query_position = server
                .query_position
                .and_then(|position| position.checked_sub(chars_before))
                .filter(|&position| position >= 1);
        }
        self
    }

    /// Attaches the statement that failed, locating the error at the server's error
    /// position when the server gave one in the statement, else at its first character.
    pub(crate) fn in_statement(self, statement: &Statement) -> Self {
        self.in_statement_part(statement, 0)
    }

    /// [`LoadError::in_statement`] for the part of a statement that starts at byte
    /// `part_start` of its text (one of several joined with `\;`): located there when the
    /// server gives no position.
    pub(crate) fn in_statement_part(mut self, statement: &Statement, part_start: usize) -> Self {
        let position = self
            .0
            .server
            .as_ref()
            .and_then(|server| server.query_position)
            .filter(|&position| position >= 1);
        self.0.location = Some(match position {
            Some(position) => statement.location_of_char(position),
            None => statement.location_of(part_start),
        });
        let (excerpt, position) = excerpt(&statement.text, position);
        self.0.statement = Some(excerpt);
        self.0.position = position;
        self
    }

    /// Attaches a `COPY ... FROM STDIN` statement whose data failed, locating the error
    /// at the data line the server names (`COPY items, line 3`), else at the statement.
    pub(crate) fn in_copy(mut self, statement: &Statement) -> Self {
        let data_line = self
            .0
            .server
            .as_ref()
            .and_then(|server| server.context.as_deref())
            .and_then(copy_data_line);
        self.0.location = Some(match data_line {
            // The data starts on the line after the one holding the COPY's `;`.
            Some(data_line) => Location::new(statement.end_line + data_line, 1, 0),
            None => statement.start,
        });
        let (excerpt, _) = excerpt(&statement.text, None);
        self.0.statement = Some(excerpt);
        self
    }

    /// What kind of failure this is.
    pub fn reason(&self) -> ErrorReason {
        self.0.reason
    }

    /// What went wrong, without location or SQLSTATE (the server's message for server errors).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The dump the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }

    /// 1-based line in the dump.
    pub fn line(&self) -> Option<u64> {
        self.0.location.map(|location| location.line)
    }

    /// 1-based column (in characters) in the dump.
    pub fn column(&self) -> Option<u64> {
        self.0.location.map(|location| location.column)
    }

    /// The failing statement's text, or a window of it around the error when it is long.
    pub fn statement(&self) -> Option<&str> {
        self.0.statement.as_deref()
    }

    /// 1-based character position of the error inside [`LoadError::statement`], for a caret.
    pub fn position(&self) -> Option<usize> {
        self.0.position
    }

    /// The five-character SQLSTATE of a server error.
    pub fn sqlstate(&self) -> Option<&str> {
        self.0
            .server
            .as_ref()
            .map(|server| server.sqlstate.as_str())
    }

    /// The server's severity (`ERROR`, `FATAL`, ...), not localized.
    pub fn severity(&self) -> Option<&str> {
        self.0
            .server
            .as_ref()
            .map(|server| server.severity.as_str())
    }

    /// The server's DETAIL field, or the loader's own for its errors.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// The server's HINT field, followed by the loader's own advice where it has some.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }
}

impl fmt::Display for LoadError {
    /// `PATH:LINE:COLUMN: SEVERITY SQLSTATE: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.0.path {
            write!(f, "{}:", path.display())?;
            if let Some(location) = self.0.location {
                write!(f, "{location}:")?;
            }
            f.write_str(" ")?;
        }
        if let Some(server) = &self.0.server {
            write!(f, "{} {}: ", server.severity, server.sqlstate)?;
        }
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for LoadError {}

/// `error`'s message followed by its sources', as tokio-postgres keeps the cause apart.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The data line number in a COPY error context, whose last line reads
/// `COPY items, line 3, column x: "..."` (earlier lines name e.g. a trigger function).
fn copy_data_line(context: &str) -> Option<u64> {
    let copy_line = context
        .lines()
        .rev()
        .find(|line| line.starts_with("COPY "))?;
    let after = &copy_line[copy_line.find(", line ")? + ", line ".len()..];
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    after[..digits].parse().ok()
}

/// The statement text to keep in an error, and the error position within it: the whole
/// text when short, else a window of [`STATEMENT_EXCERPT_CHARS`] characters around the
/// position (or from the start), marked with `...` where cut.
fn excerpt(text: &str, position: Option<usize>) -> (String, Option<usize>) {
    let length = text.chars().count();
    if length <= STATEMENT_EXCERPT_CHARS {
        return (text.to_owned(), position);
    }
    let center = position.unwrap_or(1).min(length);
    let first = center.saturating_sub(STATEMENT_EXCERPT_CHARS / 2).max(1);
    let last = (first + STATEMENT_EXCERPT_CHARS - 1).min(length);
    let mut window = String::new();
    if first > 1 {
        window.push_str("...");
    }
    let prefix = window.chars().count();
    window.extend(text.chars().skip(first - 1).take(last - first + 1));
    if last < length {
        window.push_str("...");
    }
    (
        window,
        position.map(|position| position - first + 1 + prefix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_statements_are_kept_whole() {
        assert_eq!(
            excerpt("SELECT 1;", Some(8)),
            ("SELECT 1;".to_owned(), Some(8))
        );
    }

    #[test]
    fn long_statements_keep_a_window_around_the_error_with_the_caret_moved() {
        let text = format!("{}X{}", "a".repeat(10_000), "b".repeat(10_000));
        let (window, position) = excerpt(&text, Some(10_001));
        let position = position.unwrap();
        assert!(window.starts_with("...") && window.ends_with("..."));
        assert_eq!(window.chars().nth(position - 1), Some('X'));
        assert!(window.chars().count() <= STATEMENT_EXCERPT_CHARS + 6);
    }

    #[test]
    fn long_statements_without_position_keep_their_start() {
        let text = format!("CREATE {}", "x".repeat(10_000));
        let (window, position) = excerpt(&text, None);
        assert!(window.starts_with("CREATE x") && window.ends_with("..."));
        assert_eq!(position, None);
    }

    #[test]
    fn display_puts_location_and_sqlstate_first() {
        let mut error = LoadError::new(ErrorReason::Database, "relation \"users\" already exists")
            .in_file(Path::new("priv/repo/structure.sql"))
            .at(Location::new(123, 15, 0));
        error.0.server = Some(ServerFields {
            sqlstate: "42P07".into(),
            severity: "ERROR".into(),
            query_position: None,
            context: None,
        });
        assert_eq!(
            error.to_string(),
            "priv/repo/structure.sql:123:15: ERROR 42P07: relation \"users\" already exists"
        );
    }

    #[test]
    fn copy_context_names_the_data_line() {
        assert_eq!(
            copy_data_line("COPY items, line 3, column qty: \"x\""),
            Some(3)
        );
        assert_eq!(copy_data_line("COPY items, line 12"), Some(12));
        assert_eq!(
            copy_data_line("PL/pgSQL function check_qty() line 3 at RAISE\nCOPY items, line 7"),
            Some(7)
        );
        assert_eq!(copy_data_line("SQL function \"f\" statement 1"), None);
    }

    #[test]
    fn split_errors_are_classified_by_kind() {
        let meta = SplitError::new(
            SplitErrorKind::MetaCommand,
            Location::new(3, 1, 40),
            "\\! is refused",
        );
        let error = LoadError::split(&meta);
        assert_eq!(error.reason(), ErrorReason::MetaCommand);
        assert_eq!((error.line(), error.column()), (Some(3), Some(1)));
        let io = SplitError::new(SplitErrorKind::Io, Location::new(1, 1, 0), "read failed");
        assert_eq!(LoadError::split(&io).reason(), ErrorReason::File);
        let open = SplitError::new(
            SplitErrorKind::Unterminated,
            Location::new(9, 4, 80),
            "unterminated quote",
        );
        assert_eq!(LoadError::split(&open).reason(), ErrorReason::Parse);
    }
}
