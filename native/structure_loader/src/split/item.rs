use crate::split::encoding::Encoding;
use crate::split::location::Location;
use crate::split::statement_kind::{is_blank, StatementKind};
use bytes::Bytes;

/// One thing psql would do while reading the file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A query, with exactly the text psql would send.
    Sql(Statement),
    /// A `COPY ... FROM stdin` query. Its data follows as [`Item::CopyData`] items and
    /// exactly one [`Item::CopyEnd`].
    CopyStart(Statement),
    /// One or more whole COPY data lines, each ending in `\n` (the last line of the file
    /// may lack it), as the server must receive them. Never contains the `\.` line.
    CopyData(Bytes),
    /// The end of a COPY block: how many data lines it had, and whether it ended at a
    /// `\.` line (`false`: at end of file, which psql also accepts).
    CopyEnd {
        /// Data lines in the block.
        rows: u64,
        /// Whether a `\.` line ended it.
        terminated: bool,
    },
    /// A meta-command psql would honour and StructureLoader allows.
    Meta {
        /// Which meta-command.
        command: MetaCommand,
        /// Where its backslash stands.
        location: Location,
    },
}

/// The meta-commands pg_dump writes. Every other meta-command is a [`crate::split::SplitError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// `\restrict KEY`: from here on only `\unrestrict KEY` is allowed.
    Restrict {
        /// The key `\unrestrict` must give.
        key: String,
    },
    /// `\unrestrict KEY` with the key that `\restrict` set.
    Unrestrict {
        /// The key `\restrict` set.
        key: String,
    },
    /// `\connect [DBNAME]` (pg_dump -C): the executor allows only the database it is
    /// already connected to. `None` (no name, or `-`) means the current database.
    Connect {
        /// The database named.
        dbname: Option<String>,
    },
}

/// What a statement changes in the session that later splitting or sending depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEffect {
    /// `SET standard_conforming_strings`/`RESET`: lexing changes from the next line on.
    StandardConformingStrings(bool),
    /// `SET client_encoding`/`SET NAMES`: the splitter transcodes the file from this
    /// encoding to UTF-8 from the next statement on, so the statement must not be sent:
    /// the connection stays UTF-8.
    ClientEncoding(Encoding),
}

/// A query as psql would send it, with where it stands in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The exact text psql would send (always UTF-8: transcoded if the file is not).
    pub text: String,
    /// Where the statement's first character stands.
    pub start: Location,
    /// The line of the `;` that ended it (or the file's last line).
    pub end_line: u64,
    /// What the statement is (for statements joined with `\;`: [`StatementKind::Other`]).
    pub kind: StatementKind,
    /// A change to the session that later items depend on, if this is such a statement.
    pub effect: Option<SessionEffect>,
    /// Where each statement joined to the previous one with `\;` starts in `text` (just
    /// after that `;`); empty for a single statement.
    pub(crate) joins: Vec<usize>,
    /// For each line of `text` after the first: where it starts in `text` and in the
    /// file. Empty lines psql drops make the two differ.
    pub(crate) line_starts: Vec<LineStart>,
}

impl Statement {
    /// The statements the server runs for this one, by where each starts in `text`: one,
    /// or more when `\;` joined them; none when it holds only comments and `;`. Each of
    /// them gets its own answer from the server inside a message of several statements.
    pub(crate) fn server_statements(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(0)
            .chain(self.joins.iter().copied())
            .zip(
                self.joins
                    .iter()
                    .copied()
                    .chain(std::iter::once(self.text.len())),
            )
            .filter(|&(start, end)| !is_blank(&self.text[start..end]))
            .map(|(start, end)| {
                let part = &self.text[start..end];
                start + (part.len() - part.trim_start().len())
            })
    }

    /// The file location of the character at `byte_offset` in [`Statement::text`]
    /// (clamped to the text). Used to turn a server error position into a file position.
    pub fn location_of(&self, byte_offset: usize) -> Location {
        let byte_offset = floor_char_boundary(&self.text, byte_offset.min(self.text.len()));
        let index = self
            .line_starts
            .partition_point(|start| start.text_offset <= byte_offset);
        let segment = match index {
            0 => LineStart {
                text_offset: 0,
                line: self.start.line,
                column: self.start.column,
                file_offset: self.start.byte_offset,
            },
            i => self.line_starts[i - 1],
        };
        let within = &self.text[segment.text_offset..byte_offset];
        Location::new(
            segment.line,
            segment.column + within.chars().count() as u64,
            segment.file_offset + within.len() as u64,
        )
    }

    /// The file location of the `position`-th character (1-based, as in a server
    /// error's `position` field) of the text.
    pub fn location_of_char(&self, position: usize) -> Location {
        let byte_offset = self
            .text
            .char_indices()
            .nth(position.saturating_sub(1))
            .map_or(self.text.len(), |(offset, _)| offset);
        self.location_of(byte_offset)
    }
}

/// Where one line of a statement's text starts, in the text and in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineStart {
    pub(crate) text_offset: usize,
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) file_offset: u64,
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}
