//! psql's query lexer (`src/fe_utils/psqlscan.l`), one physical line at a time.
//!
//! Only what decides where a query ends is modelled: quotes of every kind, comments,
//! dollar quotes, parentheses, `BEGIN ATOMIC` blocks, `\;`, `\:` and the start of a
//! meta-command. State carries over from line to line exactly as in psql.

use crate::split::location::Location;
use crate::split::query_buffer::{LineCursor, Query};
use memchr::{memchr, memchr2};

/// Where scanning a line stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// The line is used up; the query (if any) continues on the next line.
    EndOfLine,
    /// A query ended with the `;` just before this index.
    Semicolon(usize),
    /// A meta-command starts with the backslash at this index.
    Backslash(usize),
}

/// What the lexer is inside of: code, or a comment or quote that spans lines.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Inside {
    Code,
    /// `/* ... */`, nested `depth` deep.
    BlockComment {
        depth: u32,
    },
    /// `'...'`; `backslash_escapes` for `E'...'` and for plain strings while
    /// `standard_conforming_strings` is off.
    String {
        backslash_escapes: bool,
    },
    /// `"..."` or `U&"..."`.
    QuotedIdentifier,
    /// `$tag$...$tag$`.
    DollarQuote {
        tag: Vec<u8>,
    },
}

/// A construct still open when the input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unclosed {
    String,
    QuotedIdentifier,
    DollarQuote,
    BlockComment,
    Parenthesis,
    BeginAtomic,
}

impl Unclosed {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Unclosed::String => "unterminated quoted string",
            Unclosed::QuotedIdentifier => "unterminated quoted identifier",
            Unclosed::DollarQuote => "unterminated dollar-quoted string",
            Unclosed::BlockComment => "unterminated /* comment",
            Unclosed::Parenthesis => "unclosed parenthesis",
            Unclosed::BeginAtomic => "unterminated BEGIN ATOMIC block (no matching END)",
        }
    }
}

/// The lexer's state between lines.
#[derive(Debug)]
pub(crate) struct Lexer {
    inside: Inside,
    /// Where the current quote or comment opened.
    opened_at: Location,
    /// Open parentheses, outermost first.
    parens: Vec<Location>,
    /// Open `BEGIN ATOMIC` (and nested `CASE`) blocks, outermost first.
    blocks: Vec<Location>,
    /// psql's `identifier_count`/`identifiers`: the first words of the query, to recognise
    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
    identifier_count: u32,
    identifiers: [u8; 4],
    pub(crate) standard_conforming_strings: bool,
}

impl Lexer {
    pub(crate) fn new(standard_conforming_strings: bool) -> Self {
        Lexer {
            inside: Inside::Code,
            opened_at: Location::default(),
            parens: Vec::new(),
            blocks: Vec::new(),
            identifier_count: 0,
            identifiers: [0; 4],
            standard_conforming_strings,
        }
    }

    /// Inside a quote, quoted identifier, dollar quote or comment (where psql keeps
    /// empty lines).
    pub(crate) fn in_quote(&self) -> bool {
        self.inside != Inside::Code
    }

    /// The innermost construct still open, if any, and where it opened: the one the
    /// writer most likely forgot to close (`('x);` lacks a quote, not a parenthesis).
    pub(crate) fn unclosed(&self) -> Option<(Unclosed, Location)> {
        let quote = match self.inside {
            Inside::Code => None,
            Inside::BlockComment { .. } => Some(Unclosed::BlockComment),
            Inside::String { .. } => Some(Unclosed::String),
            Inside::QuotedIdentifier => Some(Unclosed::QuotedIdentifier),
            Inside::DollarQuote { .. } => Some(Unclosed::DollarQuote),
        };
        let candidates = [
            quote.map(|q| (q, self.opened_at)),
            self.parens.last().map(|&at| (Unclosed::Parenthesis, at)),
            self.blocks.last().map(|&at| (Unclosed::BeginAtomic, at)),
        ];
        candidates
            .into_iter()
            .flatten()
            .max_by_key(|(_, at)| at.byte_offset)
    }

    /// Scans `line` (without its `\n`) from `i`, appending what psql would keep to `query`.
    pub(crate) fn scan(
        &mut self,
        line: &[u8],
        mut i: usize,
        query: &mut Query,
        cursor: &mut LineCursor,
    ) -> Scanned {
        let n = line.len();
        // Bytes from `kept` to `i` go to the query in one piece.
        let mut kept = i;
        while i < n {
            match &self.inside {
                Inside::Code => {
                    let b = line[i];
                    match b {
                        b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                            // psql drops whitespace until the query has some text.
                            if kept == i && query.is_empty() {
                                kept = i + 1;
                            }
                            i += 1;
                        }
                        b'-' if line.get(i + 1) == Some(&b'-') => {
                            if kept == i && query.is_empty() {
                                kept = n;
                            }
                            i = n;
                        }
                        b'/' if line.get(i + 1) == Some(&b'*') => {
                            self.open(Inside::BlockComment { depth: 1 }, line, i, cursor);
                            i += 2;
                        }
                        b'\'' => {
                            let backslash_escapes = !self.standard_conforming_strings;
                            self.open(Inside::String { backslash_escapes }, line, i, cursor);
                            i += 1;
                        }
                        b'"' => {
                            self.open(Inside::QuotedIdentifier, line, i, cursor);
                            i += 1;
                        }
                        b'$' => i = self.dollar(line, i, cursor),
                        b'(' => {
                            self.parens.push(cursor.location(line, i));
                            i += 1;
                        }
                        b')' => {
                            self.parens.pop();
                            i += 1;
                        }
                        b';' => {
                            i += 1;
                            if self.parens.is_empty() && self.blocks.is_empty() {
                                query.push(line, kept..i, cursor);
                                self.identifier_count = 0;
                                return Scanned::Semicolon(i);
                            }
                        }
                        b'\\' => match line.get(i + 1) {
                            // `\;` and `\:` put the bare character into the query.
                            Some(&escaped @ (b';' | b':')) => {
                                query.push(line, kept..i, cursor);
                                query.push(line, i + 1..i + 2, cursor);
                                if escaped == b';' {
                                    self.identifier_count = 0;
                                    query.mark_join();
                                }
                                i += 2;
                                kept = i;
                            }
                            _ => {
                                query.push(line, kept..i, cursor);
                                return Scanned::Backslash(i);
                            }
                        },
                        b'0'..=b'9' => i = number_end(line, i),
                        _ if is_ident_start(b) => i = self.word(line, i, cursor),
                        _ => i += 1,
                    }
                }
                Inside::BlockComment { depth } => {
                    let depth = *depth;
                    match memchr2(b'*', b'/', &line[i..]) {
                        None => i = n,
                        Some(found) => {
                            let at = i + found;
                            if line[at] == b'*' && line.get(at + 1) == Some(&b'/') {
                                self.inside = match depth {
                                    1 => Inside::Code,
                                    _ => Inside::BlockComment { depth: depth - 1 },
                                };
                                i = at + 2;
                            } else if line[at] == b'/' && line.get(at + 1) == Some(&b'*') {
                                self.inside = Inside::BlockComment { depth: depth + 1 };
                                i = at + 2;
                            } else {
                                i = at + 1;
                            }
                        }
                    }
                }
                Inside::String { backslash_escapes } => {
                    let found = if *backslash_escapes {
                        memchr2(b'\'', b'\\', &line[i..])
                    } else {
                        memchr(b'\'', &line[i..])
                    };
                    match found {
                        None => i = n,
                        Some(found) => {
                            let at = i + found;
                            if line[at] == b'\\' {
                                i = (at + 2).min(n);
                            } else if line.get(at + 1) == Some(&b'\'') {
                                i = at + 2;
                            } else {
                                self.inside = Inside::Code;
                                i = at + 1;
                            }
                        }
                    }
                }
                Inside::QuotedIdentifier => match memchr(b'"', &line[i..]) {
                    None => i = n,
                    Some(found) => {
                        let at = i + found;
                        if line.get(at + 1) == Some(&b'"') {
                            i = at + 2;
                        } else {
                            self.inside = Inside::Code;
                            i = at + 1;
                        }
                    }
                },
                Inside::DollarQuote { tag } => match memchr(b'$', &line[i..]) {
                    None => i = n,
                    Some(found) => {
                        let at = i + found;
                        let after_tag = at + 1 + tag.len();
                        if line[at + 1..].starts_with(tag) && line.get(after_tag) == Some(&b'$') {
                            self.inside = Inside::Code;
                            i = after_tag + 1;
                        } else {
                            i = at + 1;
                        }
                    }
                },
            }
        }
        query.push(line, kept..n, cursor);
        Scanned::EndOfLine
    }

    /// Forgets everything about the query that just ended or was abandoned.
    pub(crate) fn reset_query(&mut self) {
        self.inside = Inside::Code;
        self.parens.clear();
        self.blocks.clear();
        self.identifier_count = 0;
    }

    fn open(&mut self, inside: Inside, line: &[u8], i: usize, cursor: &mut LineCursor) {
        self.inside = inside;
        self.opened_at = cursor.location(line, i);
    }

    /// `$1` parameters, `$tag$` dollar quotes, and a `$` that is neither.
    fn dollar(&mut self, line: &[u8], i: usize, cursor: &mut LineCursor) -> usize {
        let rest = &line[i + 1..];
        if rest.first().is_some_and(u8::is_ascii_digit) {
            let end = i + 1 + rest.iter().take_while(|b| b.is_ascii_digit()).count();
            // psql's `param_junk`: one identifier character glued to the number.
            return if line.get(end).is_some_and(|&b| is_ident_start(b)) {
                end + 1
            } else {
                end
            };
        }
        let tag_len = rest.iter().take_while(|&&b| is_dollar_tag_char(b)).count();
        if line.get(i + 1 + tag_len) == Some(&b'$') {
            let tag = rest[..tag_len].to_vec();
            self.open(Inside::DollarQuote { tag }, line, i, cursor);
            i + tag_len + 2
        } else {
            i + 1 + tag_len
        }
    }

    /// An identifier or keyword, or the prefix of `E'`, `B'`, `X'`, `N'`, `U&'`, `U&"`.
    fn word(&mut self, line: &[u8], i: usize, cursor: &mut LineCursor) -> usize {
        let next = line.get(i + 1).copied();
        match (line[i].to_ascii_lowercase(), next) {
            (b'e', Some(b'\'')) => {
                self.open(
                    Inside::String {
                        backslash_escapes: true,
                    },
                    line,
                    i,
                    cursor,
                );
                return i + 2;
            }
            (b'b' | b'x', Some(b'\'')) => {
                self.open(
                    Inside::String {
                        backslash_escapes: false,
                    },
                    line,
                    i,
                    cursor,
                );
                return i + 2;
            }
            (b'n', Some(b'\'')) => {
                let backslash_escapes = !self.standard_conforming_strings;
                self.open(Inside::String { backslash_escapes }, line, i, cursor);
                return i + 2;
            }
            (b'u', Some(b'&')) => {
                match line.get(i + 2) {
                    Some(b'\'') => {
                        self.open(
                            Inside::String {
                                backslash_escapes: false,
                            },
                            line,
                            i,
                            cursor,
                        );
                    }
                    Some(b'"') => self.open(Inside::QuotedIdentifier, line, i, cursor),
                    // psql's `xufailed`: `U&` alone is an operator-like token, not a word.
                    _ => return i + 2,
                }
                return i + 3;
            }
            _ => {}
        }
        let end = i
            + 1
            + line[i + 1..]
                .iter()
                .take_while(|&&b| is_ident_cont(b))
                .count();
        self.identifier(&line[i..end], line, i, cursor);
        end
    }

    /// psql's heuristic for SQL-standard function bodies: in a query that starts with
    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, `BEGIN` at parenthesis depth 0 opens a
    /// block, `CASE` opens one inside a block, and `END` closes one.
    fn identifier(&mut self, word: &[u8], line: &[u8], i: usize, cursor: &mut LineCursor) {
        if self.identifier_count == 0 {
            self.identifiers = [0; 4];
        }
        let count = self.identifier_count as usize;
        if count < self.identifiers.len()
            && ["create", "function", "procedure", "or", "replace"]
                .iter()
                .any(|keyword| word.eq_ignore_ascii_case(keyword.as_bytes()))
        {
            self.identifiers[count] = word[0].to_ascii_lowercase();
        }
        self.identifier_count = self.identifier_count.saturating_add(1);

        let ids = self.identifiers;
        let defines_routine = ids[0] == b'c'
            && (ids[1] == b'f'
                || ids[1] == b'p'
                || (ids[1] == b'o' && ids[2] == b'r' && (ids[3] == b'f' || ids[3] == b'p')));
        if !defines_routine || !self.parens.is_empty() {
            return;
        }
        if word.eq_ignore_ascii_case(b"begin") {
            self.blocks.push(cursor.location(line, i));
        } else if word.eq_ignore_ascii_case(b"case") {
            if !self.blocks.is_empty() {
                self.blocks.push(cursor.location(line, i));
            }
        } else if word.eq_ignore_ascii_case(b"end") {
            self.blocks.pop();
        }
    }
}

/// psql's `ident_start`: a letter, `_`, or any byte of a multibyte character.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// psql's `ident_cont`: also digits and `$`.
fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// psql's `dolq_cont`: like `ident_cont` but without `$`.
fn is_dollar_tag_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// The end of a numeric literal starting at `i`, with psql 15's one character of
/// "trailing junk" (`123abc` lexes as `123a` then `bc`).
fn number_end(line: &[u8], i: usize) -> usize {
    let digits = |from: usize| {
        from + line[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = digits(i);
    if line.get(end) == Some(&b'.') && line.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end = digits(end + 1);
    }
    if matches!(line.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(line.get(end + 1), Some(b'+' | b'-')));
        if line.get(end + 1 + sign).is_some_and(u8::is_ascii_digit) {
            end = digits(end + 1 + sign);
        }
    }
    if line.get(end).is_some_and(|&b| is_ident_start(b)) {
        end += 1;
    }
    end
}
