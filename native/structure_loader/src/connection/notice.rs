use tokio_postgres::error::DbError;

/// A message for the user that is not an error: a server `NoticeResponse` (NOTICE,
/// WARNING, INFO, DEBUG, LOG) received while loading, or one of the loader's own: a
/// WARNING for a setting it skipped, a DEBUG note for a statement it does not send.
/// Passed to the `on_notice` callback as soon as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `NOTICE`, `WARNING`, `INFO`, `DEBUG` or `LOG`, not localized.
    pub severity: String,
    /// The primary message.
    pub message: String,
    /// The server's DETAIL, if any.
    pub detail: Option<String>,
    /// The server's HINT, if any.
    pub hint: Option<String>,
    /// The dump line of the statement that caused it, when it came from one.
    pub line: Option<u64>,
}

impl Notice {
    pub(crate) fn from_server(notice: &DbError, line: Option<u64>) -> Self {
        Notice {
            severity: notice
                .parsed_severity()
                .map_or_else(|| notice.severity().to_owned(), |s| s.to_string()),
            message: notice.message().to_owned(),
            detail: notice.detail().map(str::to_owned),
            hint: notice.hint().map(str::to_owned),
            line,
        }
    }

    pub(crate) fn warning(message: String, line: u64) -> Self {
        Notice::own("WARNING", message, line)
    }

    pub(crate) fn debug(message: String, line: u64) -> Self {
        Notice::own("DEBUG", message, line)
    }

    fn own(severity: &str, message: String, line: u64) -> Self {
        Notice {
            severity: severity.to_owned(),
            message,
            detail: None,
            hint: None,
            line: Some(line),
        }
    }
}
