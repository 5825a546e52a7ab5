//! The dump's bytes as the splitter reads them: in large blocks, with what must hold for
//! every byte checked as the block arrives (no NUL byte, no line longer than PostgreSQL
//! takes), and the reading interruptible.

use crate::split::error::{SplitError, SplitErrorKind};
use crate::split::location::Location;
use bytes::{Bytes, BytesMut};
use std::io::{ErrorKind, Read};

/// How much is asked of the reader at a time.
const READ_BYTES: usize = 256 * 1024;

/// The longest line, statement or COPY row PostgreSQL can take at all: its largest
/// allocation (`MaxAllocSize`) is 1 GB less one byte.
pub(crate) const MAX_STATEMENT_BYTES: usize = (1 << 30) - 1;

/// Asked between reads whether to stop: `true` ends the splitting with a
/// [`SplitErrorKind::Interrupted`] error.
pub(crate) type Interrupt = Box<dyn FnMut() -> bool>;

pub(crate) struct Input<R> {
    reader: R,
    /// Bytes read and not consumed yet.
    buffer: BytesMut,
    /// Where `buffer[0]` stands in the file: its offset, and its line (1-based). Bytes are
    /// consumed in whole lines, so `buffer[0]` always starts a line.
    offset: u64,
    line: u64,
    /// How much of `buffer` has been checked for NUL bytes.
    checked: usize,
    eof: bool,
    read_bytes: u64,
    interrupt: Option<Interrupt>,
}

impl<R: Read> Input<R> {
    pub(crate) fn new(reader: R) -> Self {
        Input {
            reader,
            buffer: BytesMut::new(),
            offset: 0,
            line: 1,
            checked: 0,
            eof: false,
            read_bytes: 0,
            interrupt: None,
        }
    }

    pub(crate) fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = Some(interrupt);
    }

    /// The bytes read but not consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buffer
    }

    /// Where the unconsumed bytes start: the file offset and line of `buffered()[0]`.
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.offset, self.line)
    }

    /// How many bytes have been read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read_bytes
    }

    /// Reads another block. `false` at the end of the file.
    pub(crate) fn fill(&mut self) -> Result<bool, SplitError> {
        if self.eof {
            return Ok(false);
        }
        if let Some(interrupt) = &mut self.interrupt {
            if interrupt() {
                return Err(SplitError::new(
                    SplitErrorKind::Interrupted,
                    self.location_of(self.buffer.len()),
                    "interrupted while reading the file",
                ));
            }
        }
        let start = self.buffer.len();
        // Never more than a line may hold, so the buffer's capacity stays within 1 GB.
        let room = READ_BYTES.min((MAX_STATEMENT_BYTES + 1).saturating_sub(start).max(1));
        self.buffer.resize(start + room, 0);
        let read = loop {
            match self.reader.read(&mut self.buffer[start..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.buffer.truncate(start);
                    return Err(SplitError::new(
                        SplitErrorKind::Io,
                        self.location_of(start),
                        format!("cannot read the file: {error}"),
                    ));
                }
            }
        };
        self.buffer.truncate(start + read);
        if read == 0 {
            self.eof = true;
            return Ok(false);
        }
        if self.read_bytes == 0 {
            check_plain_format(&self.buffer)?;
        }
        self.read_bytes += read as u64;
        if let Some(nul) = memchr::memchr(0, &self.buffer[self.checked..]) {
            return Err(SplitError::new(
                SplitErrorKind::Encoding,
                self.location_of(self.checked + nul),
                "NUL byte in the file: this is not a text SQL file",
            ));
        }
        self.checked = self.buffer.len();
        Ok(true)
    }

    /// The length of the next line, with its `\n` (the file's last line may lack it):
    /// reads until the buffer holds the whole line. `None` at the end of the file.
    ///
    /// `validate_utf8`: once a line grows past a megabyte, check what has arrived of it
    /// as UTF-8 as it arrives, so that a huge binary file fails at its start.
    pub(crate) fn next_line(&mut self, validate_utf8: bool) -> Result<Option<usize>, SplitError> {
        let mut scanned = 0;
        let mut valid = 0;
        loop {
            if let Some(newline) = memchr::memchr(b'\n', &self.buffer[scanned..]) {
                return Ok(Some(scanned + newline + 1));
            }
            scanned = self.buffer.len();
            if scanned > MAX_STATEMENT_BYTES {
                return Err(SplitError::new(
                    SplitErrorKind::TooLong,
                    self.location_of(0),
                    format!(
                        "this line is longer than {MAX_STATEMENT_BYTES} bytes, more than \
                         PostgreSQL takes in one statement or COPY row"
                    ),
                ));
            }
            if validate_utf8 && scanned > 1 << 20 {
                valid = self.check_utf8_prefix(valid)?;
            }
            if !self.fill()? {
                return Ok((!self.buffer.is_empty()).then_some(self.buffer.len()));
            }
        }
    }

    /// Checks `buffer[from..]` as the start of UTF-8 text (a character cut at its end may
    /// continue); returns how far it is valid.
    fn check_utf8_prefix(&self, from: usize) -> Result<usize, SplitError> {
        match std::str::from_utf8(&self.buffer[from..]) {
            Ok(_) => Ok(self.buffer.len()),
            Err(error) if error.error_len().is_none() => Ok(from + error.valid_up_to()),
            Err(error) => {
                let bad = from + error.valid_up_to();
                Err(SplitError::new(
                    SplitErrorKind::Encoding,
                    self.location_of(bad),
                    format!(
                        "byte 0x{:02X} (file offset {}) is not valid UTF8; if the file is in \
                         another encoding, put SET client_encoding = '...'; before this point",
                        self.buffer[bad],
                        self.offset + bad as u64
                    ),
                ))
            }
        }
    }

    /// Consumes `len` bytes holding `lines` whole lines.
    pub(crate) fn consume(&mut self, len: usize, lines: u64) -> Bytes {
        let taken = self.buffer.split_to(len).freeze();
        self.offset += len as u64;
        self.line += lines;
        self.checked -= len.min(self.checked);
        taken
    }

    /// The location of `buffer[index]`, its column counted in bytes.
    pub(crate) fn location_of(&self, index: usize) -> Location {
        let before = &self.buffer[..index.min(self.buffer.len())];
        let lines = memchr::memchr_iter(b'\n', before).count() as u64;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |newline| newline + 1);
        Location::new(
            self.line + lines,
            (index - line_start) as u64 + 1,
            self.offset + index as u64,
        )
    }
}

/// Refuses the other pg_dump formats and compressed files with advice, from the file's
/// first bytes (before their NUL bytes are reported).
fn check_plain_format(start: &[u8]) -> Result<(), SplitError> {
    let message = if start.starts_with(b"PGDMP") {
        "this is a pg_dump custom-format archive, not SQL: restore it with pg_restore, or dump with --format=plain"
    } else if start.starts_with(&[0x1f, 0x8b]) {
        "this file is gzip-compressed: decompress it first"
    } else {
        return Ok(());
    };
    Err(SplitError::new(
        SplitErrorKind::NotPlainFormat,
        Location::new(1, 1, 0),
        message,
    ))
}
