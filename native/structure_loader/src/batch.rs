//! Consecutive statements sent together in one simple-query message, so a load costs
//! about one network round trip per batch rather than one per statement.
//!
//! The server parses a whole message before running any of it and runs its statements
//! in order, stopping at the first error. Within the load's transaction that is what
//! psql's one-by-one sending does, with two things to respect: a batch must end after a
//! statement that changes how later text is parsed (`standard_conforming_strings`), and
//! the failing statement is found by counting the statements that completed before the
//! error (or, for a parse error, from the error's position in the message).

use crate::item::Statement;

/// A batch is sent once it holds this many bytes...
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// ...or this many statements.
const MAX_BATCH_STATEMENTS: usize = 2000;

/// Statements waiting to be sent as one message.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    text: String,
    /// Each statement with the byte offset of its text in `text`.
    statements: Vec<(usize, Statement)>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.text.len() >= MAX_BATCH_BYTES || self.statements.len() >= MAX_BATCH_STATEMENTS
    }

    pub(crate) fn len(&self) -> usize {
        self.statements.len()
    }

    /// Adds a statement. Statements end with their `;` (only the file's very last one
    /// may lack it), so joining them with newlines keeps each one whole.
    pub(crate) fn push(&mut self, statement: Statement) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.statements.push((self.text.len(), statement));
        self.text.push_str(&self.statements.last().unwrap().1.text);
    }

    /// The message to send.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The dump line of each statement the server will report on, in order: the
    /// statements it runs (those with more than comments), for attributing notices.
    pub(crate) fn lines_of_run_statements(&self) -> Vec<u64> {
        self.statements
            .iter()
            .filter(|(_, statement)| !statement.is_blank())
            .map(|(_, statement)| statement.start.line)
            .collect()
    }

    /// The statement an error belongs to, and how many characters of the message come
    /// before it (to turn the error's position into one within the statement).
    ///
    /// A parse error stops the whole message before anything runs and carries a position;
    /// any other error comes after `completed` statements have finished.
    pub(crate) fn failing_statement(
        &self,
        completed: usize,
        position: Option<usize>,
    ) -> (&Statement, usize) {
        let index = match position.and_then(|position| self.statement_at_char(position)) {
            Some(index) => index,
            None => self
                .statements
                .iter()
                .enumerate()
                .filter(|(_, (_, statement))| !statement.is_blank())
                .nth(completed)
                .map_or(self.statements.len() - 1, |(index, _)| index),
        };
        let (offset, statement) = &self.statements[index];
        (statement, self.text[..*offset].chars().count())
    }

    /// The index of the statement holding the `position`-th character (1-based).
    fn statement_at_char(&self, position: usize) -> Option<usize> {
        let byte = self
            .text
            .char_indices()
            .nth(position.checked_sub(1)?)
            .map(|(byte, _)| byte)?;
        Some(
            self.statements
                .partition_point(|(offset, _)| *offset <= byte)
                - 1,
        )
    }

    /// Empties the batch for reuse, keeping its allocation.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.statements.clear();
    }
}
