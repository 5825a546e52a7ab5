//! How far a load has got, told to the caller while the file is being sent: at most once
//! per [`PROGRESS_INTERVAL`], and never for a load that ends sooner.

use std::time::{Duration, Instant};

/// The least time between two progress reports.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// The figures of one progress report. The totals come from the pass that checked the
/// file before anything was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// SQL statements run so far (COPY statements and those left out included), of
    /// `statements_total`.
    pub statements: u64,
    /// The file's SQL statements.
    pub statements_total: u64,
    /// Bytes of the file read and sent, or waiting in the message being built, of
    /// `bytes_total`.
    pub bytes: u64,
    /// The file's size.
    pub bytes_total: u64,
    /// COPY data lines sent so far, of `copy_rows_total`.
    pub copy_rows: u64,
    /// The file's COPY data lines.
    pub copy_rows_total: u64,
    /// The file line being read.
    pub line: u64,
    /// Time since the first statement was sent.
    pub elapsed: Duration,
}

/// Calls `on_progress` with the figures given, when a report is due.
pub(crate) struct Reporter<'p> {
    on_progress: &'p mut dyn FnMut(Progress),
    totals: Progress,
    started: Instant,
    next: Instant,
}

impl<'p> Reporter<'p> {
    pub(crate) fn new(on_progress: &'p mut dyn FnMut(Progress)) -> Self {
        let now = Instant::now();
        Reporter {
            on_progress,
            totals: Progress::default(),
            started: now,
            next: now + PROGRESS_INTERVAL,
        }
    }

    /// Sending starts now, with these totals.
    pub(crate) fn start(&mut self, statements: u64, bytes: u64, copy_rows: u64) {
        self.totals = Progress {
            statements_total: statements,
            bytes_total: bytes,
            copy_rows_total: copy_rows,
            ..Progress::default()
        };
        self.started = Instant::now();
        self.next = self.started + PROGRESS_INTERVAL;
    }

    /// Whether a report is due; asking costs a clock read.
    pub(crate) fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Reports these figures.
    pub(crate) fn report(&mut self, statements: u64, bytes: u64, copy_rows: u64, line: u64) {
        let now = Instant::now();
        self.next = now + PROGRESS_INTERVAL;
        (self.on_progress)(Progress {
            statements,
            bytes,
            copy_rows,
            line,
            elapsed: now - self.started,
            ..self.totals
        });
    }
}
