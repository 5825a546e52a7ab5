//! Recognises the statements whose effect the splitter must know about before the
//! server runs them: `COPY ... FROM stdin` (its data follows in the file) and the
//! settings that change how psql reads the rest of the file.

/// What a complete query means to the splitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Class {
    Plain,
    CopyFromStdin,
    /// `COPY ... TO STDOUT`: psql would print the rows; a loader has nowhere to put them.
    CopyToStdout,
    StandardConformingStrings(Setting<bool>),
    ClientEncoding(Setting<String>),
}

/// A value a statement sets, or a reset to the session's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Setting<T> {
    To(T),
    Default,
    /// A value PostgreSQL would reject; the server will say so.
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, lowercased.
    Word(String),
    /// A string literal's contents or a quoted identifier's name.
    Quoted(String),
    Symbol(char),
}

/// Classifies a complete query.
pub(crate) fn classify(text: &str) -> Class {
    let first = first_word(text);
    match first.as_deref() {
        Some("copy") => classify_copy(&tokens(text)),
        Some("set" | "reset" | "select") => classify_setting(&tokens(text)),
        _ => Class::Plain,
    }
}

/// The first word, lowercased, skipping whitespace and comments; cheap so that most
/// statements are classified without tokenizing them.
fn first_word(text: &str) -> Option<String> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if rest.starts_with("/*") {
            rest = skip_block_comment(rest);
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .take(8)
        .collect();
    (!word.is_empty()).then(|| word.to_ascii_lowercase())
}

/// Whether the server finds nothing to run in `text`: only whitespace, comments and `;`.
pub(crate) fn is_blank(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if rest.starts_with("/*") {
            rest = skip_block_comment(rest);
        } else {
            return rest.is_empty();
        }
    }
}

/// The text after the (nested) block comment `text` starts with (empty if it never ends).
pub(crate) fn skip_block_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut depth = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if bytes[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return &text[i..];
            }
        } else {
            i += 1;
        }
    }
    ""
}

fn classify_copy(tokens: &[(Token, u32)]) -> Class {
    let top_level_words: Vec<&str> = tokens
        .iter()
        .filter(|(_, depth)| *depth == 0)
        .filter_map(|(token, _)| match token {
            Token::Word(word) => Some(word.as_str()),
            _ => None,
        })
        .collect();
    for pair in top_level_words.windows(2) {
        match pair {
            ["from", "stdin"] => return Class::CopyFromStdin,
            ["to", "stdout"] => return Class::CopyToStdout,
            _ => {}
        }
    }
    Class::Plain
}

fn classify_setting(tokens: &[(Token, u32)]) -> Class {
    let tokens: Vec<&Token> = tokens.iter().map(|(token, _)| token).collect();
    let word = |i: usize| match tokens.get(i) {
        Some(Token::Word(word)) => Some(word.as_str()),
        _ => None,
    };
    let has_more_after = |i: usize| tokens.len() > i + 1 && tokens[i + 1] != &Token::Symbol(';');
    match word(0) {
        Some("reset") => match (word(1), has_more_after(1)) {
            (Some("standard_conforming_strings"), false) => {
                Class::StandardConformingStrings(Setting::Default)
            }
            (Some("client_encoding"), false) => Class::ClientEncoding(Setting::Default),
            (Some("all"), false) => Class::StandardConformingStrings(Setting::Default),
            _ => Class::Plain,
        },
        Some("set") => {
            let name_at = match word(1) {
                Some("session") => 2,
                Some("local") => 2,
                _ => 1,
            };
            let (name, value_at) = match word(name_at) {
                Some("names") => ("client_encoding", name_at + 1),
                Some(name) => match tokens.get(name_at + 1) {
                    Some(Token::Symbol('=')) => (name, name_at + 2),
                    Some(Token::Word(to)) if to == "to" => (name, name_at + 2),
                    _ => return Class::Plain,
                },
                None => return Class::Plain,
            };
            if has_more_after(value_at) {
                return classify_named(name, None);
            }
            classify_named(name, tokens.get(value_at).copied())
        }
        Some("select") => {
            // pg_catalog.set_config('name', 'value', is_local)
            let call_at = match (word(1), tokens.get(2)) {
                (Some("pg_catalog"), Some(Token::Symbol('.'))) => 3,
                _ => 1,
            };
            if word(call_at) != Some("set_config")
                || tokens.get(call_at + 1) != Some(&&Token::Symbol('('))
            {
                return Class::Plain;
            }
            match (
                tokens.get(call_at + 2),
                tokens.get(call_at + 3),
                tokens.get(call_at + 4),
            ) {
                (
                    Some(Token::Quoted(name)),
                    Some(Token::Symbol(',')),
                    value @ Some(Token::Quoted(_)),
                ) => classify_named(&name.to_ascii_lowercase(), value.copied()),
                _ => Class::Plain,
            }
        }
        _ => Class::Plain,
    }
}

fn classify_named(name: &str, value: Option<&Token>) -> Class {
    let value = match value {
        Some(Token::Word(word)) if word == "default" => {
            return match name {
                "standard_conforming_strings" => Class::StandardConformingStrings(Setting::Default),
                "client_encoding" => Class::ClientEncoding(Setting::Default),
                _ => Class::Plain,
            }
        }
        Some(Token::Word(text) | Token::Quoted(text)) => Some(text.as_str()),
        _ => None,
    };
    match name {
        "standard_conforming_strings" => Class::StandardConformingStrings(
            value
                .and_then(parse_bool)
                .map_or(Setting::Invalid, Setting::To),
        ),
        "client_encoding" => Class::ClientEncoding(
            value.map_or(Setting::Invalid, |text| Setting::To(text.to_string())),
        ),
        _ => Class::Plain,
    }
}

/// PostgreSQL's `parse_bool`: on/off, true/false, yes/no, 1/0 and unique prefixes.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let value = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| value.len() >= min && word.starts_with(value.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || value == "on" || value == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || value == "0" {
        Some(false)
    } else {
        None
    }
}

/// A rough SQL tokenizer for classification: words, quoted strings and identifiers,
/// symbols, each with its parenthesis depth; comments and whitespace skipped.
fn tokens(text: &str) -> Vec<(Token, u32)> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut depth: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            _ if b.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i += bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .unwrap_or(bytes.len() - i);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text.len() - skip_block_comment(&text[i..]).len();
            }
            b'\'' | b'"' => {
                let (content, end) = quoted(bytes, i + 1, b);
                tokens.push((Token::Quoted(content), depth));
                i = end;
            }
            b'(' => {
                tokens.push((Token::Symbol('('), depth));
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                tokens.push((Token::Symbol(')'), depth));
                i += 1;
            }
            _ if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 => {
                let len = bytes[i..]
                    .iter()
                    .take_while(|&&c| {
                        c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
                    })
                    .count();
                // E'...' and friends: the prefix is part of the string.
                if len == 1 && bytes.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    continue;
                }
                let word = String::from_utf8_lossy(&bytes[i..i + len]).to_ascii_lowercase();
                tokens.push((Token::Word(word), depth));
                i += len;
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or('?');
                tokens.push((Token::Symbol(c), depth));
                i += c.len_utf8();
            }
        }
    }
    tokens
}

/// The contents of a quoted string or identifier opened just before `i`, and the index
/// after its closing quote. Doubled quotes stand for one.
fn quoted(bytes: &[u8], mut i: usize, quote: u8) -> (String, usize) {
    let mut content = Vec::new();
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                content.push(quote);
                i += 2;
                continue;
            }
            return (String::from_utf8_lossy(&content).into_owned(), i + 1);
        }
        content.push(bytes[i]);
        i += 1;
    }
    (String::from_utf8_lossy(&content).into_owned(), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_copy_from_stdin_at_top_level_only() {
        assert_eq!(
            classify("COPY public.t (a, b) FROM stdin;"),
            Class::CopyFromStdin
        );
        assert_eq!(
            classify("copy t from STDIN with (format csv);"),
            Class::CopyFromStdin
        );
        assert_eq!(
            classify("COPY (SELECT 1 FROM stdin) TO '/tmp/x';"),
            Class::Plain
        );
        assert_eq!(classify("COPY t TO stdout;"), Class::CopyToStdout);
        assert_eq!(classify("COPY t FROM '/srv/file';"), Class::Plain);
        assert_eq!(classify("SELECT 'COPY t FROM stdin';"), Class::Plain);
    }

    #[test]
    fn recognises_standard_conforming_strings_settings() {
        let set = |value| Class::StandardConformingStrings(Setting::To(value));
        assert_eq!(
            classify("SET standard_conforming_strings = off;"),
            set(false)
        );
        assert_eq!(
            classify("SET standard_conforming_strings TO 'on';"),
            set(true)
        );
        assert_eq!(
            classify("set session standard_conforming_strings = false;"),
            set(false)
        );
        assert_eq!(
            classify("SET LOCAL standard_conforming_strings = 0;"),
            set(false)
        );
        assert_eq!(
            classify("SELECT pg_catalog.set_config('standard_conforming_strings', 'off', false);"),
            set(false)
        );
        assert_eq!(
            classify("RESET standard_conforming_strings;"),
            Class::StandardConformingStrings(Setting::Default)
        );
        assert_eq!(
            classify("SET standard_conforming_strings = maybe;"),
            Class::StandardConformingStrings(Setting::Invalid)
        );
        assert_eq!(classify("SET statement_timeout = 0;"), Class::Plain);
    }

    #[test]
    fn recognises_client_encoding_settings() {
        let set = |name: &str| Class::ClientEncoding(Setting::To(name.to_string()));
        assert_eq!(classify("SET client_encoding = 'UTF8';"), set("UTF8"));
        assert_eq!(classify("SET NAMES 'LATIN1';"), set("LATIN1"));
        assert_eq!(classify("SET client_encoding TO win1252;"), set("win1252"));
    }

    #[test]
    fn blank_statements_hold_only_comments_and_semicolons() {
        assert!(is_blank(";"));
        assert!(is_blank("/* trailing /* nested */ comment */"));
        assert!(is_blank("-- a\n;"));
        assert!(!is_blank("/* c */ SELECT 1;"));
        assert!(!is_blank("SELECT 1"));
    }

    #[test]
    fn parses_booleans_like_postgres() {
        for on in ["on", "true", "t", "yes", "y", "1", "TRUE"] {
            assert_eq!(parse_bool(on), Some(true), "{on}");
        }
        for off in ["off", "of", "false", "f", "no", "n", "0"] {
            assert_eq!(parse_bool(off), Some(false), "{off}");
        }
        assert_eq!(parse_bool("o"), None);
        assert_eq!(parse_bool("2"), None);
    }
}
