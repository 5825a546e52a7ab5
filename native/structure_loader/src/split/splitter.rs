use crate::split::encoding::Encoding;
use crate::split::error::{SplitError, SplitErrorKind};
use crate::split::input::{Input, MAX_STATEMENT_BYTES};
use crate::split::item::{Item, LineStart, MetaCommand, SessionEffect, Statement};
use crate::split::lexer::{Lexer, Scanned};
use crate::split::location::Location;
use crate::split::meta_command::{self, ParsedMeta};
use crate::split::query_buffer::{LineCursor, Query};
use crate::split::statement_kind::{classify, parse_bool, Setting, SettingValue, StatementKind};
use bytes::Bytes;
use std::io::Read;

/// COPY data is handed out in pieces of about this many bytes (whole lines).
const COPY_CHUNK_BYTES: usize = 256 * 1024;

/// How the session starts out, as far as splitting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitOptions {
    /// The server's `standard_conforming_strings` when the file starts (on by default
    /// since PostgreSQL 9.1).
    pub standard_conforming_strings: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            standard_conforming_strings: true,
        }
    }
}

/// Reads a plain-format dump and yields, in file order, what
/// `psql -v ON_ERROR_STOP=1 -f FILE` would do with it: the queries it would send (byte
/// for byte), the COPY data it would stream, and the meta-commands it would run.
///
/// It reads in large blocks, so `reader` needs no buffering of its own. Memory stays
/// bounded by the longest query or line, whatever the file's size; a line or statement
/// longer than PostgreSQL takes (1 GB) is an error, and so is a NUL byte, as soon as the
/// block holding it is read.
/// Where psql would send something broken (an unterminated quote at end of file) or run
/// something unsafe (any meta-command but `\restrict`, `\unrestrict` and `\connect`),
/// the splitter yields a located [`SplitError`] instead, and nothing after it.
pub struct Splitter<R> {
    input: Input<R>,
    options: SplitOptions,
    lexer: Lexer,
    query: Query,
    /// Where the physical line being lexed is, and how far it has been lexed.
    line_at: LineAt,
    position: usize,
    /// The rest of a COPY statement's line, once its data has been read ([`LineAt::Saved`]).
    line: Vec<u8>,
    cursor: LineCursor,
    encoding: Encoding,
    /// A `standard_conforming_strings` change psql would see from the next line on.
    pending_standard_strings: Option<bool>,
    restrict_key: Option<String>,
    state: State,
    /// The rest of a COPY statement's line, lexed once the COPY data has been read.
    line_after_copy: Option<SavedLine>,
}

/// Where the physical line being lexed is. Lines are lexed where they were read, in the
/// input's buffer, so that a huge line is not copied before its statement is assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineAt {
    /// Nowhere: the next line must be read.
    Nowhere,
    /// At the start of the input's buffer: its text (without a byte order mark or the
    /// `\n`) is `buffered()[start..end]`, and `len` bytes go once it has been lexed.
    Input {
        start: usize,
        end: usize,
        len: usize,
    },
    /// In `Splitter::line`.
    Saved,
}

/// The text of the line `at` says, from the fields that may hold it.
fn line_text<'a, R: Read>(at: LineAt, input: &'a Input<R>, saved: &'a [u8]) -> &'a [u8] {
    match at {
        LineAt::Nowhere => &[],
        LineAt::Input { start, end, .. } => &input.buffered()[start..end],
        LineAt::Saved => saved,
    }
}

enum State {
    Sql,
    Copy {
        rows: u64,
    },
    /// The COPY block ended; its `CopyEnd` comes next.
    CopyEnded {
        rows: u64,
        terminated: bool,
    },
    Finished,
}

struct SavedLine {
    line: Vec<u8>,
    position: usize,
    number: u64,
    file_offset: u64,
}

impl<R: Read> Splitter<R> {
    /// A splitter reading `reader` from its start, with the session as `options` says.
    pub fn new(reader: R, options: SplitOptions) -> Self {
        Splitter {
            input: Input::new(reader),
            options,
            lexer: Lexer::new(options.standard_conforming_strings),
            query: Query::default(),
            line_at: LineAt::Nowhere,
            position: 0,
            line: Vec::new(),
            cursor: LineCursor::default(),
            encoding: Encoding::Utf8,
            pending_standard_strings: None,
            restrict_key: None,
            state: State::Sql,
            line_after_copy: None,
        }
    }

    /// Makes the splitting stop with a [`SplitErrorKind::Interrupted`] error once
    /// `interrupt` says so; it is asked before each block is read (every 256 KiB), so
    /// that a time limit holds while a large file is split.
    pub fn interrupt_when(mut self, interrupt: impl FnMut() -> bool + 'static) -> Self {
        self.input.set_interrupt(Box::new(interrupt));
        self
    }

    /// How many bytes have been read: the whole input once the splitter has yielded
    /// its last item.
    pub fn bytes_read(&self) -> u64 {
        self.input.bytes_read()
    }

    /// How far the items yielded so far reach: the file offset and line of the first
    /// byte not consumed yet, which is the start of the line the last statement ended on,
    /// or, after COPY data, the line after it. Unlike [`Splitter::bytes_read`], it does not
    /// run ahead by a block.
    pub fn position(&self) -> (u64, u64) {
        self.input.position()
    }

    fn next_item(&mut self) -> Result<Option<Item>, SplitError> {
        loop {
            match self.state {
                State::Finished => return Ok(None),
                State::CopyEnded { rows, terminated } => {
                    self.state = State::Sql;
                    if let Some(saved) = self.line_after_copy.take() {
                        self.restore_line(saved);
                    }
                    return Ok(Some(Item::CopyEnd { rows, terminated }));
                }
                State::Copy { rows } => return self.copy_data(rows).map(Some),
                State::Sql => {
                    if let Some(item) = self.sql_step()? {
                        return Ok(Some(item));
                    }
                }
            }
        }
    }

    /// Lexes until a query is complete or a meta-command is read. `Ok(None)` when the
    /// current line was used up without either.
    fn sql_step(&mut self) -> Result<Option<Item>, SplitError> {
        let line_len = line_text(self.line_at, &self.input, &self.line).len();
        if self.line_at == LineAt::Nowhere || self.position >= line_len {
            self.line_done();
            if !self.read_sql_line()? {
                return self.end_of_file();
            }
            if line_text(self.line_at, &self.input, &self.line).is_empty() && !self.lexer.in_quote()
            {
                // psql skips empty lines outside quotes and comments entirely.
                return Ok(None);
            }
            self.query.begin_line(&self.cursor);
        }
        let line = line_text(self.line_at, &self.input, &self.line);
        let line_len = line.len();
        let stop = self
            .lexer
            .scan(line, self.position, &mut self.query, &mut self.cursor);
        if self.query.bytes.len() > MAX_STATEMENT_BYTES {
            return Err(SplitError::new(
                SplitErrorKind::TooLong,
                self.query.start,
                format!(
                    "this statement is longer than {MAX_STATEMENT_BYTES} bytes, more than \
                     PostgreSQL takes in one statement"
                ),
            ));
        }
        match stop {
            Scanned::EndOfLine => {
                self.position = line_len;
                Ok(None)
            }
            Scanned::Semicolon(end) => {
                self.position = end;
                let end_line = self.cursor.number;
                self.finish_query(end_line).map(Some)
            }
            Scanned::Backslash(at) => self.meta_command(at),
        }
    }

    /// Reads the next physical line for lexing. `false` at end of file.
    fn read_sql_line(&mut self) -> Result<bool, SplitError> {
        if let Some(standard) = self.pending_standard_strings.take() {
            self.lexer.standard_conforming_strings = standard;
        }
        let utf8 = self.encoding.is_utf8_passthrough();
        let Some(len) = self.input.next_line(utf8)? else {
            return Ok(false);
        };
        let (file_offset, number) = self.input.position();
        let line = &self.input.buffered()[..len];
        let start = if number == 1 && line.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let end = if line.ends_with(b"\n") { len - 1 } else { len };
        self.line_at = LineAt::Input { start, end, len };
        self.cursor
            .start_line(number, file_offset + start as u64, !utf8);
        self.position = 0;
        Ok(true)
    }

    /// Lets go of the line lexed so far.
    fn line_done(&mut self) {
        if let LineAt::Input { len, .. } = self.line_at {
            self.input.consume(len, 1);
        }
        self.line_at = LineAt::Nowhere;
    }

    fn end_of_file(&mut self) -> Result<Option<Item>, SplitError> {
        self.state = State::Finished;
        if self.query.is_empty() {
            return Ok(None);
        }
        if let Some((unclosed, opened_at)) = self.lexer.unclosed() {
            return Err(SplitError::new(
                SplitErrorKind::Unterminated,
                opened_at,
                format!(
                    "{} at end of file (opened here); psql would send the rest of the file as one broken statement",
                    unclosed.describe()
                ),
            ));
        }
        // psql sends a final query that lacks its `;` as it stands.
        let end_line = self.input.position().1.saturating_sub(1).max(1);
        self.finish_query(end_line).map(Some)
    }

    /// Turns the collected query into an item and resets for the next one.
    fn finish_query(&mut self, end_line: u64) -> Result<Item, SplitError> {
        let result = self.build_statement(end_line);
        self.query.clear();
        self.lexer.reset_query();
        let statement = result?;
        if statement.kind == StatementKind::CopyFromStdin {
            self.start_copy();
            Ok(Item::CopyStart(statement))
        } else {
            Ok(Item::Sql(statement))
        }
    }

    fn build_statement(&mut self, end_line: u64) -> Result<Statement, SplitError> {
        let (text, line_starts, joins) = self.decode_query()?;
        let mut statement = Statement {
            text,
            start: self.query.start,
            end_line,
            kind: StatementKind::Other,
            effect: None,
            joins,
            line_starts,
        };
        if statement.joins.is_empty() {
            statement.kind = classify(&statement.text);
            statement.effect = self.effect_of(&statement.kind, statement.start)?;
            if statement.kind == StatementKind::CopyToStdout {
                return Err(SplitError::new(
                    SplitErrorKind::Unsupported,
                    statement.start,
                    "COPY ... TO STDOUT prints rows, which a loader cannot do; remove it from the file",
                ));
            }
            return Ok(statement);
        }
        // Statements joined with `\;` go to the server as one message, as psql sends them;
        // the loader leaves none of them out, so none may be one it must leave out.
        let starts: Vec<usize> = std::iter::once(0)
            .chain(statement.joins.iter().copied())
            .collect();
        let ends = statement
            .joins
            .iter()
            .copied()
            .chain(std::iter::once(statement.text.len()));
        for (start, end) in starts.into_iter().zip(ends) {
            let part = &statement.text[start..end];
            let at = statement.location_of(start + (part.len() - part.trim_start().len()));
            let kind = classify(part);
            let refused = match &kind {
                StatementKind::CopyFromStdin | StatementKind::CopyToStdout => Some("a COPY"),
                StatementKind::TransactionControl | StatementKind::Rollback => {
                    Some("a transaction statement (BEGIN, COMMIT, ROLLBACK, ...)")
                }
                StatementKind::Setting(setting) if setting.name == "client_encoding" => {
                    Some("a change of client_encoding")
                }
                _ => None,
            };
            if let Some(what) = refused {
                return Err(SplitError::new(
                    SplitErrorKind::Unsupported,
                    at,
                    format!(
                        "{what} joined to other statements with \\; is not supported; end it with a plain ;"
                    ),
                ));
            }
            if let Some(effect) = self.effect_of(&kind, at)? {
                statement.effect = Some(effect);
            }
        }
        Ok(statement)
    }

    /// What a statement of this kind changes for the statements after it: how psql lexes
    /// them (`standard_conforming_strings`, from the next line on), or the encoding they
    /// are read in.
    fn effect_of(
        &mut self,
        kind: &StatementKind,
        at: Location,
    ) -> Result<Option<SessionEffect>, SplitError> {
        let (name, value) = match kind {
            StatementKind::Setting(Setting { name, value, .. }) => (name.as_str(), value),
            StatementKind::ResetAll => {
                self.encoding = Encoding::Utf8;
                let standard = self.options.standard_conforming_strings;
                self.pending_standard_strings = Some(standard);
                return Ok(Some(SessionEffect::StandardConformingStrings(standard)));
            }
            _ => return Ok(None),
        };
        match name {
            "standard_conforming_strings" => {
                let standard = match value {
                    SettingValue::One(value) => parse_bool(value),
                    SettingValue::Default => Some(self.options.standard_conforming_strings),
                    // A value PostgreSQL rejects: the server will say so.
                    SettingValue::Other => None,
                };
                Ok(standard.map(|standard| {
                    self.pending_standard_strings = Some(standard);
                    SessionEffect::StandardConformingStrings(standard)
                }))
            }
            "client_encoding" => {
                let encoding = match value {
                    SettingValue::One(name) => Encoding::from_pg_name(name).ok_or_else(|| {
                        SplitError::new(
                            SplitErrorKind::Encoding,
                            at,
                            format!(
                                "client_encoding {name:?} is not supported: StructureLoader reads UTF8, SQL_ASCII and the single-byte encodings (LATIN1-LATIN10, ISO_8859_5-8, WIN866, WIN874, WIN1250-WIN1258, KOI8R, KOI8U)"
                            ),
                        )
                    })?,
                    SettingValue::Default | SettingValue::Other => Encoding::Utf8,
                };
                self.encoding = encoding;
                Ok(Some(SessionEffect::ClientEncoding(encoding)))
            }
            _ => Ok(None),
        }
    }

    /// The query's text as UTF-8, where its lines start in that text, and where the
    /// statements joined with `\;` start.
    fn decode_query(&mut self) -> Result<(String, Vec<LineStart>, Vec<usize>), SplitError> {
        let bytes = std::mem::take(&mut self.query.bytes);
        let joins = std::mem::take(&mut self.query.joins);
        if self.encoding.is_utf8_passthrough() {
            return match String::from_utf8(bytes) {
                Ok(text) => Ok((text, self.query.line_starts.clone(), joins)),
                Err(error) => {
                    let bad = error.utf8_error().valid_up_to();
                    let bytes = error.into_bytes();
                    Err(self.invalid_byte_error(&bytes, bad))
                }
            };
        }
        let mut text = String::with_capacity(bytes.len() + bytes.len() / 8);
        if let Err(bad) = self.encoding.decode_single_byte(&bytes, &mut text) {
            return Err(self.invalid_byte_error(&bytes, bad));
        }
        // In a single-byte encoding each byte is one character: byte `i` of the query is
        // character `i` of the text.
        let offsets: Vec<usize> = text
            .char_indices()
            .map(|(offset, _)| offset)
            .chain(std::iter::once(text.len()))
            .collect();
        let line_starts = self
            .query
            .line_starts
            .iter()
            .map(|start| LineStart {
                text_offset: offsets[start.text_offset],
                ..*start
            })
            .collect();
        let joins = joins.iter().map(|&join| offsets[join]).collect();
        Ok((text, line_starts, joins))
    }

    fn invalid_byte_error(&self, bytes: &[u8], bad: usize) -> SplitError {
        let statement = Statement {
            text: String::from_utf8_lossy(&bytes[..bad]).into_owned(),
            start: self.query.start,
            end_line: 0,
            kind: StatementKind::Other,
            effect: None,
            joins: Vec::new(),
            line_starts: self.query.line_starts.clone(),
        };
        let location = statement.location_of(bad);
        SplitError::new(
            SplitErrorKind::Encoding,
            location,
            format!(
                "byte 0x{:02X} (file offset {}) is not valid {}; if the file is in another encoding, put SET client_encoding = '...'; before this point",
                bytes[bad],
                location.byte_offset,
                self.encoding.pg_name()
            ),
        )
    }

    /// Handles the meta-command starting at byte `at` of the line.
    fn meta_command(&mut self, at: usize) -> Result<Option<Item>, SplitError> {
        self.query.drop_pending_newline();
        let line = line_text(self.line_at, &self.input, &self.line);
        let location = self.cursor.location(line, at);
        let parsed = meta_command::parse(line, at);
        self.position = parsed.end;
        let error =
            |message: String| SplitError::new(SplitErrorKind::MetaCommand, location, message);
        if self.restrict_key.is_some() && parsed.name != "unrestrict" {
            return Err(error(
                "backslash commands are restricted; only \\unrestrict is allowed".to_string(),
            ));
        }
        if parsed.has_backtick {
            return Err(error(format!(
                "\\{} with a backquoted shell command is refused: StructureLoader never runs programs",
                parsed.name
            )));
        }
        let command = self.allowed_meta_command(&parsed).map_err(error)?;
        Ok(Some(Item::Meta { command, location }))
    }

    fn allowed_meta_command(&mut self, parsed: &ParsedMeta) -> Result<MetaCommand, String> {
        let first_argument = parsed.args.first().filter(|arg| !arg.is_empty()).cloned();
        match parsed.name.as_str() {
            "restrict" => {
                let key = first_argument
                    .ok_or_else(|| "\\restrict: missing required argument".to_string())?;
                self.restrict_key = Some(key.clone());
                Ok(MetaCommand::Restrict { key })
            }
            "unrestrict" => {
                let key = first_argument
                    .ok_or_else(|| "\\unrestrict: missing required argument".to_string())?;
                match &self.restrict_key {
                    None => Err("\\unrestrict: not currently in restricted mode".to_string()),
                    Some(expected) if *expected != key => Err("\\unrestrict: wrong key".to_string()),
                    Some(_) => {
                        self.restrict_key = None;
                        Ok(MetaCommand::Unrestrict { key })
                    }
                }
            }
            "connect" | "c" => {
                let mut names = parsed.args.iter().filter(|arg| !arg.starts_with("-reuse-previous"));
                let dbname = names.next().filter(|name| !name.is_empty() && *name != "-");
                if dbname.is_some_and(|name| name.contains('=') || name.contains("://")) {
                    return Err(
                        "\\connect with a connection string is not supported: StructureLoader loads into the database it was given"
                            .to_string(),
                    );
                }
                if names.any(|other| other != "-") {
                    return Err(
                        "\\connect to another user, host or port is not supported: StructureLoader loads into the database it was given"
                            .to_string(),
                    );
                }
                Ok(MetaCommand::Connect {
                    dbname: dbname.cloned(),
                })
            }
            name => Err(format!(
                "\\{name} is not allowed: StructureLoader runs no shell commands, opens no other files, and honours only \\restrict, \\unrestrict and \\connect to the current database"
            )),
        }
    }

    /// The COPY statement ended: its data starts on the next physical line, and the rest
    /// of this line is lexed after the data.
    fn start_copy(&mut self) {
        let line = line_text(self.line_at, &self.input, &self.line);
        if self.position < line.len() {
            self.line_after_copy = Some(SavedLine {
                line: line.to_vec(),
                position: self.position,
                number: self.cursor.number,
                file_offset: self.cursor.file_offset,
            });
        }
        self.line_done();
        self.state = State::Copy { rows: 0 };
    }

    fn restore_line(&mut self, saved: SavedLine) {
        self.line = saved.line;
        self.line_at = LineAt::Saved;
        self.position = saved.position;
        self.cursor.start_line(
            saved.number,
            saved.file_offset,
            !self.encoding.is_utf8_passthrough(),
        );
    }

    /// Reads COPY data lines up to about [`COPY_CHUNK_BYTES`], stopping at the `\.`
    /// line (which psql never sends) or at end of file. The lines are scanned where they
    /// were read and handed out without a copy (transcoded when the file is not UTF-8).
    fn copy_data(&mut self, mut rows: u64) -> Result<Item, SplitError> {
        let rows_before = rows;
        let mut scanned = 0;
        // How far the line from `scanned` on is known to hold no newline.
        let mut searched = 0;
        let ended = loop {
            let buffered = self.input.buffered();
            match memchr::memchr(b'\n', &buffered[searched..]) {
                Some(newline) => {
                    let line = &buffered[scanned..searched + newline + 1];
                    // psql ends the data only at `\.` followed by a newline.
                    if line == b"\\.\n" || line == b"\\.\r\n" {
                        break Some(true);
                    }
                    scanned += line.len();
                    searched = scanned;
                    rows += 1;
                    if scanned >= COPY_CHUNK_BYTES {
                        break None;
                    }
                }
                None if buffered.len() - scanned > MAX_STATEMENT_BYTES => {
                    return Err(SplitError::new(
                        SplitErrorKind::TooLong,
                        self.input.location_of(scanned),
                        format!(
                            "this COPY row is longer than {MAX_STATEMENT_BYTES} bytes, more \
                             than PostgreSQL takes"
                        ),
                    ));
                }
                None => {
                    searched = buffered.len();
                    if !self.input.fill()? {
                        // The file's last line may lack its newline; psql sends it as data.
                        let rest = self.input.buffered().len() - scanned;
                        if rest > 0 {
                            scanned += rest;
                            rows += 1;
                        }
                        break Some(false);
                    }
                }
            }
        };
        let data = self.copy_chunk(scanned, rows - rows_before)?;
        if ended == Some(true) {
            let terminator = memchr::memchr(b'\n', self.input.buffered()).map_or(0, |i| i + 1);
            self.input.consume(terminator, 1);
        }
        self.state = match ended {
            Some(terminated) => State::CopyEnded { rows, terminated },
            None => State::Copy { rows },
        };
        match data {
            Some(data) => Ok(Item::CopyData(data)),
            None => self
                .next_item()
                .map(|item| item.expect("a COPY block always ends with CopyEnd")),
        }
    }

    /// Takes the first `len` buffered bytes, `lines` whole COPY lines, as the server must
    /// receive them: checked as UTF-8, or transcoded to it. `None` when there are none.
    fn copy_chunk(&mut self, len: usize, lines: u64) -> Result<Option<Bytes>, SplitError> {
        if len == 0 {
            return Ok(None);
        }
        let data = &self.input.buffered()[..len];
        if self.encoding.is_utf8_passthrough() {
            // COPY data is most of a big dump: SIMD validation keeps up with the disk, and
            // the slower standard one runs only to locate an invalid byte.
            if simdutf8::basic::from_utf8(data).is_err() {
                let bad = std::str::from_utf8(data)
                    .err()
                    .map_or(0, |error| error.valid_up_to());
                return Err(self.copy_encoding_error(bad, "is not valid"));
            }
            return Ok(Some(self.input.consume(len, lines)));
        }
        let mut text = String::with_capacity(len + len / 8);
        if let Err(bad) = self.encoding.decode_single_byte(data, &mut text) {
            return Err(self.copy_encoding_error(bad, "has no mapping in"));
        }
        self.input.consume(len, lines);
        Ok(Some(Bytes::from(text)))
    }

    fn copy_encoding_error(&self, bad: usize, what: &str) -> SplitError {
        let location = self.input.location_of(bad);
        let data = self.input.buffered();
        // Columns count characters: the bytes are counted again for the character count.
        let line_start = memchr::memrchr(b'\n', &data[..bad]).map_or(0, |i| i + 1);
        let mut cursor = LineCursor::default();
        cursor.start_line(
            location.line,
            location.byte_offset - (bad - line_start) as u64,
            !self.encoding.is_utf8_passthrough(),
        );
        SplitError::new(
            SplitErrorKind::Encoding,
            cursor.location(&data[line_start..], bad - line_start),
            format!(
                "byte 0x{:02X} in COPY data (file offset {}) {what} {}; if the file is in \
                 another encoding, put SET client_encoding = '...'; before this point",
                data[bad],
                location.byte_offset,
                self.encoding.pg_name()
            ),
        )
    }
}

impl<R: Read> Iterator for Splitter<R> {
    type Item = Result<Item, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(item) => item.map(Ok),
            Err(error) => {
                self.state = State::Finished;
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> Result<Vec<Item>, SplitError> {
        Splitter::new(input, SplitOptions::default()).collect()
    }

    fn statements(input: &[u8]) -> Vec<Statement> {
        split(input)
            .unwrap()
            .into_iter()
            .filter_map(|item| match item {
                Item::Sql(statement) | Item::CopyStart(statement) => Some(statement),
                _ => None,
            })
            .collect()
    }

    fn texts(input: &[u8]) -> Vec<String> {
        statements(input).into_iter().map(|s| s.text).collect()
    }

    fn error(input: &[u8]) -> (SplitErrorKind, u64, u64, String) {
        let error = split(input).unwrap_err();
        let at = error.location();
        (
            error.kind(),
            at.line,
            at.column,
            error.message().to_string(),
        )
    }

    #[test]
    fn an_empty_file_or_one_of_comments_yields_nothing() {
        assert!(split(b"").unwrap().is_empty());
        assert!(split(b"-- only\n\n   -- comments\n").unwrap().is_empty());
    }

    #[test]
    fn statements_know_where_they_start_and_end() {
        let found = statements(b"-- header\n\n  SELECT 1;\nSELECT\n  2\n;");
        assert_eq!(found[0].start, Location::new(3, 3, 13));
        assert_eq!(found[0].end_line, 3);
        assert_eq!(found[1].start, Location::new(4, 1, 23));
        assert_eq!(found[1].end_line, 6);
    }

    #[test]
    fn positions_in_the_text_map_back_to_the_file_across_dropped_empty_lines() {
        let found = statements(b"SELECT\n\n\n  nosuchcol\nFROM t;\n");
        let text = &found[0].text;
        assert_eq!(text, "SELECT\n  nosuchcol\nFROM t;");
        let column_name = text.find("nosuchcol").unwrap();
        assert_eq!(found[0].location_of(column_name), Location::new(4, 3, 11));
        // Server error positions count characters from 1.
        assert_eq!(
            found[0].location_of_char(column_name + 1),
            Location::new(4, 3, 11)
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let found = statements("SELECT 'é'; SELECT 2;".as_bytes());
        assert_eq!(found[1].start.column, 13);
        assert_eq!(found[1].start.byte_offset, 13);
    }

    #[test]
    fn a_byte_order_mark_is_dropped_but_counted_in_offsets() {
        let found = statements(b"\xEF\xBB\xBFSELECT 1;");
        assert_eq!(found[0].text, "SELECT 1;");
        assert_eq!(found[0].start, Location::new(1, 1, 3));
    }

    #[test]
    fn standard_conforming_strings_off_changes_lexing_from_the_next_line() {
        let input = b"SET standard_conforming_strings = off;\nSELECT 'a\\'; b';\nSET standard_conforming_strings = on;\nSELECT 'c\\'; SELECT 1;\n";
        let found = statements(input);
        assert_eq!(
            found.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            [
                "SET standard_conforming_strings = off;",
                "SELECT 'a\\'; b';",
                "SET standard_conforming_strings = on;",
                "SELECT 'c\\';",
                "SELECT 1;"
            ]
        );
        assert_eq!(
            found[0].effect,
            Some(SessionEffect::StandardConformingStrings(false))
        );
    }

    #[test]
    fn the_server_setting_at_the_start_is_honoured() {
        let options = SplitOptions {
            standard_conforming_strings: false,
        };
        let items: Vec<Item> = Splitter::new(&b"SELECT 'a\\'; b';"[..], options)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(matches!(&items[..], [Item::Sql(s)] if s.text == "SELECT 'a\\'; b';"));
    }

    #[test]
    fn a_latin1_file_is_transcoded_from_the_statement_after_its_set() {
        let found = statements(b"SET client_encoding = 'LATIN1';\nSELECT 'caf\xe9';\nCOPY t FROM stdin;\n\xe9t\xe9\n\\.\n");
        assert_eq!(
            found[0].effect,
            Some(SessionEffect::ClientEncoding(Encoding::Latin1))
        );
        assert_eq!(found[1].text, "SELECT 'café';");
        let items = split(b"SET client_encoding = 'LATIN1';\nCOPY t FROM stdin;\n\xe9t\xe9\n\\.\n")
            .unwrap();
        assert_eq!(items[2], Item::CopyData(Bytes::from("été\n")));
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_line_and_column() {
        let (kind, line, column, message) = error(b"SELECT 1;\nSELECT 'ab\xe9';\n");
        assert_eq!((kind, line, column), (SplitErrorKind::Encoding, 2, 11));
        assert!(
            message.contains("byte 0xE9 (file offset 20) is not valid UTF8"),
            "{message}"
        );
        let (kind, line, column, _) = error(b"COPY t FROM stdin;\nok\nb\xffd\n\\.\n");
        assert_eq!((kind, line, column), (SplitErrorKind::Encoding, 3, 2));
    }

    #[test]
    fn an_encoding_we_cannot_transcode_is_refused_at_its_set() {
        let (kind, line, column, message) = error(b"\n  SET client_encoding = 'SJIS';\nSELECT 1;");
        assert_eq!((kind, line, column), (SplitErrorKind::Encoding, 2, 3));
        assert!(message.contains("\"SJIS\" is not supported"), "{message}");
    }

    #[test]
    fn nul_bytes_and_other_formats_are_refused() {
        let (kind, line, column, _) = error(b"SELECT 1;\nSEL\0ECT 2;\n");
        assert_eq!((kind, line, column), (SplitErrorKind::Encoding, 2, 4));
        let (kind, _, _, message) = error(b"PGDMP\x01\x0e\x00");
        assert_eq!(kind, SplitErrorKind::NotPlainFormat);
        assert!(message.contains("pg_restore"), "{message}");
        let (kind, _, _, message) = error(b"\x1f\x8b\x08\x00");
        assert_eq!(kind, SplitErrorKind::NotPlainFormat);
        assert!(message.contains("gzip"), "{message}");
    }

    #[test]
    fn the_innermost_unterminated_construct_is_reported_where_it_opened() {
        let (kind, line, column, message) = error(b"INSERT INTO t VALUES ('x);\n");
        assert_eq!((kind, line, column), (SplitErrorKind::Unterminated, 1, 23));
        assert!(
            message.starts_with("unterminated quoted string"),
            "{message}"
        );
        let (_, line, column, message) = error(b"SELECT f((1,\n  (2\n");
        assert_eq!((line, column), (2, 3));
        assert!(message.starts_with("unclosed parenthesis"), "{message}");
        let (_, line, column, message) =
            error(b"CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT (1;\n");
        assert_eq!((line, column), (3, 10));
        assert!(message.starts_with("unclosed parenthesis"), "{message}");
    }

    #[test]
    fn a_nul_byte_is_refused_as_soon_as_the_block_holding_it_is_read() {
        let mut input = b"SELECT 1;\n".repeat(1000);
        input.extend_from_slice(b"SELECT 'a\0b';\n");
        let mut splitter = Splitter::new(&input[..], SplitOptions::default());
        let error = splitter.next().unwrap().unwrap_err();
        assert_eq!(error.kind(), SplitErrorKind::Encoding);
        assert_eq!(error.location(), Location::new(1001, 10, 10_009));
        assert!(splitter.next().is_none());
    }

    #[test]
    fn every_byte_is_counted_as_read() {
        let input = b"SELECT 1;\nCOPY t FROM stdin;\na\n\\.\n";
        let mut splitter = Splitter::new(&input[..], SplitOptions::default());
        assert_eq!(splitter.by_ref().count(), 4);
        assert_eq!(splitter.bytes_read(), input.len() as u64);
    }

    #[test]
    fn the_position_follows_the_items_not_the_reads() {
        let input = b"SELECT 1;\nCOPY t FROM stdin;\na\nb\n\\.\nSELECT 2;\n";
        let mut splitter = Splitter::new(&input[..], SplitOptions::default());
        let mut positions = vec![splitter.position()];
        while let Some(item) = splitter.next() {
            item.unwrap();
            positions.push(splitter.position());
        }
        // Before anything, after SELECT 1 (its line may hold more), COPY, its data (up to
        // the `\.` line), its end, SELECT 2.
        assert_eq!(
            positions,
            [(0, 1), (0, 1), (29, 3), (36, 6), (36, 6), (36, 6)]
        );
    }

    #[test]
    fn connect_names_the_database_or_none() {
        let connect = |input: &[u8]| match &split(input).unwrap()[..] {
            [Item::Meta { command, .. }] => command.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            connect(b"\\connect lexsrc\n"),
            MetaCommand::Connect {
                dbname: Some("lexsrc".into())
            }
        );
        assert_eq!(
            connect(b"\\connect -reuse-previous=on \"dbname\"\n"),
            MetaCommand::Connect {
                dbname: Some("dbname".into())
            }
        );
        assert_eq!(connect(b"\\c\n"), MetaCommand::Connect { dbname: None });
        let (kind, _, _, message) = error(b"\\connect \"dbname='x' host=evil\"\n");
        assert_eq!(kind, SplitErrorKind::MetaCommand);
        assert!(message.contains("connection string"), "{message}");
        let (_, _, _, message) = error(b"\\c db other_user\n");
        assert!(message.contains("another user"), "{message}");
    }

    #[test]
    fn shell_escapes_are_refused_without_running_anything() {
        for input in [
            &b"\\! touch /tmp/sentinel\n"[..],
            b"\\i /etc/passwd\n",
            b"\\o /tmp/out\n",
            b"\\copy t from '/tmp/x'\n",
            b"\\set x `id`\n",
            b"\\gexec\n",
        ] {
            let (kind, line, column, _) = error(input);
            assert_eq!((kind, line, column), (SplitErrorKind::MetaCommand, 1, 1));
        }
        let (_, _, _, message) = error(b"\\restrict `touch /tmp/sentinel`\n");
        assert!(message.contains("backquoted shell command"), "{message}");
    }

    #[test]
    fn a_meta_command_on_its_own_line_leaves_the_query_unchanged() {
        assert_eq!(
            texts(b"\\restrict k\nSELECT 1\n\\unrestrict k\n;\n"),
            ["SELECT 1\n;"]
        );
    }

    #[test]
    fn copy_data_comes_in_bounded_chunks_of_whole_lines() {
        let row = "x".repeat(999) + "\n";
        let mut input = b"COPY t FROM stdin;\n".to_vec();
        for _ in 0..600 {
            input.extend_from_slice(row.as_bytes());
        }
        input.extend_from_slice(b"\\.\nSELECT 1;\n");
        let items = split(&input).unwrap();
        let chunks: Vec<usize> = items
            .iter()
            .filter_map(|item| match item {
                Item::CopyData(chunk) => Some(chunk.len()),
                _ => None,
            })
            .collect();
        // Chunks end after the line that reaches 256 KiB.
        assert_eq!(chunks, [263_000, 263_000, 74_000]);
        assert!(matches!(
            items[items.len() - 2],
            Item::CopyEnd {
                rows: 600,
                terminated: true
            }
        ));
        assert!(matches!(&items[items.len() - 1], Item::Sql(s) if s.text == "SELECT 1;"));
    }

    #[test]
    fn copy_to_stdout_is_refused() {
        let (kind, line, column, _) = error(b"SELECT 1;\n COPY t TO stdout;\n");
        assert_eq!((kind, line, column), (SplitErrorKind::Unsupported, 2, 2));
    }

    #[test]
    fn nothing_more_is_yielded_after_an_error() {
        let mut splitter = Splitter::new(&b"\\echo hi\nSELECT 1;\n"[..], SplitOptions::default());
        assert!(splitter.next().unwrap().is_err());
        assert!(splitter.next().is_none());
    }
}
