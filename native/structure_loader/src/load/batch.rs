//! Consecutive statements sent together in one simple-query message, so a load costs
//! about one network round trip per batch rather than one per statement.
//!
//! The server parses a whole message before running any of it and runs its statements
//! in order, stopping at the first error. Within the load's transaction that is what
//! psql's one-by-one sending does, with three things to respect:
//! - a batch must end after a statement that changes how later text is parsed
//!   (`standard_conforming_strings`);
//! - the failing statement is found by counting the statements that completed before the
//!   error, or, for a syntax error, from the error's position in the message;
//! - a syntax error stops the whole message before anything in it runs, whereas psql
//!   would have run the statements before it, one of which may fail first. The executor
//!   then rolls back to a savepoint taken before the message and sends the statements
//!   before the syntax error on their own ([`Batch::split_at`]).

use crate::split::item::Statement;

/// A batch is sent once it holds this many bytes...
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// ...or this many statements.
const MAX_BATCH_STATEMENTS: usize = 10_000;

/// Statements waiting to be sent as one message.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The statements' texts joined by newlines, once there are two: a batch of one sends
    /// its statement's own text, so that a huge statement is not copied.
    joined: String,
    /// Each statement with the byte offset of its text in the message.
    statements: Vec<(usize, Statement)>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.text().len() >= MAX_BATCH_BYTES || self.statements.len() >= MAX_BATCH_STATEMENTS
    }

    /// Whether adding `statement` would take a batch that holds some already past its
    /// size.
    pub(crate) fn would_overflow(&self, statement: &Statement) -> bool {
        !self.is_empty() && self.text().len() + statement.text.len() >= MAX_BATCH_BYTES
    }

    pub(crate) fn len(&self) -> usize {
        self.statements.len()
    }

    /// Adds a statement. Statements end with their `;` (only the file's very last one
    /// may lack it), so joining them with newlines keeps each one whole.
    pub(crate) fn push(&mut self, statement: Statement) {
        if let [(_, first)] = &self.statements[..] {
            self.joined.push_str(&first.text);
        }
        if !self.statements.is_empty() {
            self.joined.push('\n');
        }
        self.statements.push((self.joined.len(), statement));
        if self.statements.len() > 1 {
            self.joined
                .push_str(&self.statements.last().expect("just pushed").1.text);
        }
    }

    /// The message to send.
    pub(crate) fn text(&self) -> &str {
        match &self.statements[..] {
            [(_, only)] => &only.text,
            _ => &self.joined,
        }
    }

    /// The dump line of each statement the server will report on, in order (those it
    /// runs: more than comments, each of several joined with `\;` on its own), for
    /// attributing notices.
    pub(crate) fn lines_of_run_statements(&self) -> Vec<u64> {
        self.server_statements()
            .map(|(_, statement, start)| statement.location_of(start).line)
            .collect()
    }

    /// Where an error belongs: the index of the statement, and where in its text the
    /// server statement that failed starts (not 0 only for statements joined with `\;`).
    ///
    /// A syntax error stops the whole message before anything runs and carries a
    /// position; any other error comes after `completed` server statements have finished.
    pub(crate) fn failing(&self, completed: usize, position: Option<usize>) -> (usize, usize) {
        match position.and_then(|position| self.statement_at_char(position)) {
            Some(index) => (index, 0),
            None => self
                .server_statements()
                .nth(completed)
                .map_or((self.statements.len() - 1, 0), |(index, _, start)| {
                    (index, start)
                }),
        }
    }

    /// Every statement the server runs, in order: the index of the batch's statement
    /// holding it, that statement, and where it starts in the statement's text.
    fn server_statements(&self) -> impl Iterator<Item = (usize, &Statement, usize)> {
        self.statements
            .iter()
            .enumerate()
            .flat_map(|(index, (_, statement))| {
                statement
                    .server_statements()
                    .map(move |start| (index, statement, start))
            })
    }

    /// The statement at `index`, and how many characters of the message come before it
    /// (to turn an error position in the message into one within the statement).
    pub(crate) fn statement(&self, index: usize) -> (&Statement, usize) {
        let (offset, statement) = &self.statements[index];
        (statement, self.text()[..*offset].chars().count())
    }

    /// Splits the batch in two before the statement at `index`.
    pub(crate) fn split_at(self, index: usize) -> (Batch, Batch) {
        let mut head = Batch::default();
        let mut tail = Batch::default();
        for (i, (_, statement)) in self.statements.into_iter().enumerate() {
            if i < index {
                head.push(statement);
            } else {
                tail.push(statement);
            }
        }
        (head, tail)
    }

    /// The index of the statement holding the `position`-th character (1-based).
    fn statement_at_char(&self, position: usize) -> Option<usize> {
        let byte = self
            .text()
            .char_indices()
            .nth(position.checked_sub(1)?)
            .map(|(byte, _)| byte)?;
        Some(
            self.statements
                .partition_point(|(offset, _)| *offset <= byte)
                - 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::{Item, SplitOptions, Splitter};

    fn batch(text: &str) -> Batch {
        let mut batch = Batch::default();
        for item in Splitter::new(text.as_bytes(), SplitOptions::default()) {
            match item.unwrap() {
                Item::Sql(statement) => batch.push(statement),
                other => panic!("{other:?}"),
            }
        }
        batch
    }

    #[test]
    fn statements_are_joined_by_newlines() {
        let batch = batch(
            "SELECT 1; SELECT 2;

SELECT 3;",
        );
        assert_eq!(batch.text(), "SELECT 1;\nSELECT 2;\nSELECT 3;");
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn an_error_position_names_its_statement_and_offset() {
        let batch = batch("SELECT 1;\nSELECT 'é' FROM nowhere;\nSELECT 3;");
        // "nowhere" starts at character 30 of the message: "SELECT 1;\n" is 10 characters.
        assert_eq!(batch.failing(0, Some(30)), (1, 0));
        let (statement, chars_before) = batch.statement(1);
        assert_eq!(statement.text, "SELECT 'é' FROM nowhere;");
        assert_eq!(chars_before, 10);
    }

    #[test]
    fn without_a_position_the_error_follows_the_completed_statements() {
        let batch = batch("SELECT 1;\n;\nSELECT 2;\nSELECT 3;");
        // The blank statement is not reported on by the server.
        assert_eq!(batch.failing(1, None), (2, 0));
        assert_eq!(batch.failing(0, None), (0, 0));
    }

    #[test]
    fn statements_joined_with_backslash_semicolon_are_counted_one_by_one() {
        let batch = batch("SELECT 1\\; SELECT 2;\nSELECT 1/0;\nSELECT 3\\;\n  SELECT 4;");
        // The server answers SELECT 1 and SELECT 2 apart: the third answer is line 2's.
        assert_eq!(batch.failing(2, None), (1, 0));
        assert_eq!(batch.failing(1, None), (0, 10));
        assert_eq!(batch.failing(4, None), (2, 12));
        assert_eq!(batch.lines_of_run_statements(), [1, 1, 2, 3, 4]);
    }

    #[test]
    fn splitting_keeps_order_and_text() {
        let (head, tail) = batch("SELECT 1;\nSELECT 2;\nSELECT 3;").split_at(1);
        assert_eq!(head.text(), "SELECT 1;");
        assert_eq!(tail.text(), "SELECT 2;\nSELECT 3;");
    }
}
