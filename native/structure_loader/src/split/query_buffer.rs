//! The query buffer psql builds line by line, and where its pieces came from.

use crate::split::item::LineStart;
use crate::split::location::Location;
use std::ops::Range;

/// The physical line being lexed: its number, where it starts in the file, and a
/// running character count so columns cost O(line length) in total.
#[derive(Debug, Default)]
pub(crate) struct LineCursor {
    pub(crate) number: u64,
    pub(crate) file_offset: u64,
    /// Each byte is one character (single-byte encodings) rather than UTF-8.
    pub(crate) single_byte: bool,
    counted_bytes: usize,
    counted_chars: u64,
}

impl LineCursor {
    pub(crate) fn start_line(&mut self, number: u64, file_offset: u64, single_byte: bool) {
        *self = LineCursor {
            number,
            file_offset,
            single_byte,
            counted_bytes: 0,
            counted_chars: 0,
        };
    }

    /// The location of byte `i` of `line`. Calls for one line should come in increasing
    /// order of `i` to stay linear; earlier positions are recounted.
    pub(crate) fn location(&mut self, line: &[u8], i: usize) -> Location {
        if i < self.counted_bytes {
            self.counted_bytes = 0;
            self.counted_chars = 0;
        }
        let piece = &line[self.counted_bytes..i];
        self.counted_chars += if self.single_byte {
            piece.len() as u64
        } else {
            // Count UTF-8 lead bytes; continuation bytes are 0b10xx_xxxx.
            piece.iter().filter(|&&b| (b as i8) >= -0x40).count() as u64
        };
        self.counted_bytes = i;
        Location::new(
            self.number,
            self.counted_chars + 1,
            self.file_offset + i as u64,
        )
    }
}

/// The text of the query being collected, in the file's encoding.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) bytes: Vec<u8>,
    /// Where the query's first byte came from.
    pub(crate) start: Location,
    /// Where each line after the first starts (offsets into `bytes`).
    pub(crate) line_starts: Vec<LineStart>,
    /// Where each statement joined to the previous one with `\;` starts (offsets into
    /// `bytes`, just after that `;`).
    pub(crate) joins: Vec<usize>,
    /// The `\n` psql adds between lines, while nothing followed it yet.
    pending_newline: Option<usize>,
}

impl Query {
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends `line[range]`.
    pub(crate) fn push(&mut self, line: &[u8], range: Range<usize>, cursor: &mut LineCursor) {
        if range.is_empty() {
            return;
        }
        if self.bytes.is_empty() {
            self.start = cursor.location(line, range.start);
        }
        self.pending_newline = None;
        self.bytes.extend_from_slice(&line[range]);
    }

    /// psql's newline between the lines of a query (only once it has text).
    pub(crate) fn begin_line(&mut self, cursor: &LineCursor) {
        if self.bytes.is_empty() {
            return;
        }
        self.bytes.push(b'\n');
        self.line_starts.push(LineStart {
            text_offset: self.bytes.len(),
            line: cursor.number,
            column: 1,
            file_offset: cursor.file_offset,
        });
        self.pending_newline = Some(self.bytes.len());
    }

    /// psql removes the newline it added when a line holds only a meta-command.
    pub(crate) fn drop_pending_newline(&mut self) {
        if let Some(len) = self.pending_newline.take() {
            if self.bytes.len() == len {
                self.bytes.pop();
                self.line_starts.pop();
            }
        }
    }

    /// A `\;` just put its `;` into the query: another statement starts here.
    pub(crate) fn mark_join(&mut self) {
        self.joins.push(self.bytes.len());
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.line_starts.clear();
        self.joins.clear();
        self.pending_newline = None;
    }
}
