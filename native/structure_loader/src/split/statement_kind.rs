//! Recognises the few statements the executor treats specially, from their first words.

use crate::split::classify::skip_block_comment;

/// What the executor needs to know about a statement before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StatementKind {
    /// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`: the load already runs in one
    /// transaction, so these are not sent (psql would commit the load half-way).
    TransactionControl,
    /// `ROLLBACK` or `ABORT` of the whole transaction: refused, as it would undo part of
    /// the load and leave the rest running outside any transaction.
    Rollback,
    /// `SET name ...` or `SELECT [pg_catalog.]set_config('name', ...)`, with the setting's
    /// name when it is a plain one the server can be asked about (`None` for forms such as
    /// `SET TIME ZONE` or `SET ROLE`).
    Setting(Option<String>),
    Other,
}

/// Classifies `text`, a statement as the splitter yields it.
pub(crate) fn classify(text: &str) -> StatementKind {
    let mut words = Words::new(text);
    let Some(first) = words.word() else {
        return StatementKind::Other;
    };
    match first.to_ascii_lowercase().as_str() {
        "begin" | "end" => StatementKind::TransactionControl,
        "start" if words.word_is("transaction") => StatementKind::TransactionControl,
        // COMMIT PREPARED acts on another, prepared transaction.
        "commit" if !words.word_is("prepared") => StatementKind::TransactionControl,
        "abort" => StatementKind::Rollback,
        "rollback" => {
            // WORK and TRANSACTION are noise words.
            let _ = words.word_is("work") || words.word_is("transaction");
            // ROLLBACK TO SAVEPOINT stays inside the load's transaction.
            if words.word_is("to") || words.word_is("prepared") {
                StatementKind::Other
            } else {
                StatementKind::Rollback
            }
        }
        "set" => StatementKind::Setting(set_name(&mut words)),
        "select" => set_config_name(&mut words).map_or(StatementKind::Other, |name| {
            StatementKind::Setting(Some(name))
        }),
        _ => StatementKind::Other,
    }
}

/// The name in `SET [SESSION] name { = | TO } ...`.
fn set_name(words: &mut Words) -> Option<String> {
    if words.word_is("session") && words.clone().word_is("authorization") {
        return None;
    }
    let mut name = words.word()?.to_owned();
    while words.punct('.') {
        name.push('.');
        name.push_str(words.word()?);
    }
    if words.punct('=') || words.word_is("to") {
        Some(name.to_ascii_lowercase())
    } else {
        None
    }
}

/// The name in `SELECT [pg_catalog.]set_config('name', ...`.
fn set_config_name(words: &mut Words) -> Option<String> {
    let mut function = words.word()?;
    if function.eq_ignore_ascii_case("pg_catalog") && words.punct('.') {
        function = words.word()?;
    }
    if !function.eq_ignore_ascii_case("set_config") || !words.punct('(') {
        return None;
    }
    words.string_literal().map(|name| name.to_ascii_lowercase())
}

/// A cursor over the start of a statement that skips whitespace and comments.
#[derive(Clone)]
struct Words<'t> {
    rest: &'t str,
}

impl<'t> Words<'t> {
    fn new(text: &'t str) -> Self {
        Words { rest: text }
    }

    /// The next unquoted identifier or keyword.
    fn word(&mut self) -> Option<&'t str> {
        self.skip_blank();
        let end = self
            .rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(self.rest.len());
        let starts_like_word = self
            .rest
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
        if !starts_like_word {
            return None;
        }
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }

    /// Consumes the next word if it is `keyword` (case-insensitive).
    fn word_is(&mut self, keyword: &str) -> bool {
        let mut ahead = self.clone();
        match ahead.word() {
            Some(word) if word.eq_ignore_ascii_case(keyword) => {
                *self = ahead;
                true
            }
            _ => false,
        }
    }

    /// Consumes `c` if it comes next.
    fn punct(&mut self, c: char) -> bool {
        self.skip_blank();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// The value of a plain `'...'` literal (`''` is a quote) coming next.
    fn string_literal(&mut self) -> Option<String> {
        if !self.punct('\'') {
            return None;
        }
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((index, c)) = chars.next() {
            if c != '\'' {
                value.push(c);
            } else if self.rest[index + 1..].starts_with('\'') {
                value.push('\'');
                chars.next();
            } else {
                self.rest = &self.rest[index + 1..];
                return Some(value);
            }
        }
        None
    }

    fn skip_blank(&mut self) {
        loop {
            self.rest = self.rest.trim_start();
            if let Some(comment) = self.rest.strip_prefix("--") {
                self.rest = comment.find('\n').map_or("", |end| &comment[end..]);
            } else if self.rest.starts_with("/*") {
                self.rest = skip_block_comment(self.rest);
            } else {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementKind::*;

    fn setting(name: &str) -> StatementKind {
        Setting(Some(name.to_owned()))
    }

    #[test]
    fn transaction_control_is_recognised_in_every_spelling() {
        for text in [
            "BEGIN;",
            "begin work;",
            "BEGIN ISOLATION LEVEL SERIALIZABLE;",
            "START TRANSACTION;",
            "COMMIT;",
            "commit and chain;",
            "END;",
            "END TRANSACTION;",
            "/* lo */ -- section\nCOMMIT;",
        ] {
            assert_eq!(classify(text), TransactionControl, "{text}");
        }
        assert_eq!(classify("COMMIT PREPARED 'x';"), Other);
    }

    #[test]
    fn only_a_whole_transaction_rollback_is_refused() {
        for text in [
            "ROLLBACK;",
            "rollback work;",
            "ROLLBACK AND NO CHAIN;",
            "ABORT;",
        ] {
            assert_eq!(classify(text), Rollback, "{text}");
        }
        for text in [
            "ROLLBACK TO SAVEPOINT a;",
            "ROLLBACK TO a;",
            "ROLLBACK WORK TO SAVEPOINT a;",
            "ROLLBACK PREPARED 'x';",
        ] {
            assert_eq!(classify(text), Other, "{text}");
        }
    }

    #[test]
    fn settings_name_what_they_set() {
        assert_eq!(
            classify("SET statement_timeout = 0;"),
            setting("statement_timeout")
        );
        assert_eq!(
            classify("SET Transaction_Timeout TO 0;"),
            setting("transaction_timeout")
        );
        assert_eq!(
            classify("SET SESSION xmloption = content;"),
            setting("xmloption")
        );
        assert_eq!(
            classify("SET search_path = public, pg_catalog;"),
            setting("search_path")
        );
        assert_eq!(classify("SET myapp.tenant = 'x';"), setting("myapp.tenant"));
        assert_eq!(
            classify("SELECT pg_catalog.set_config('search_path', '', false);"),
            setting("search_path")
        );
        assert_eq!(
            classify("select set_config('it''s', 'x', false);"),
            setting("it's")
        );
    }

    #[test]
    fn special_set_forms_are_settings_without_a_name() {
        for text in [
            "SET TIME ZONE 'UTC';",
            "SET ROLE app;",
            "SET SESSION AUTHORIZATION app;",
            "SET \"quoted\" = 1;",
        ] {
            assert_eq!(classify(text), Setting(None), "{text}");
        }
    }

    #[test]
    fn everything_else_is_other() {
        for text in [
            "CREATE TABLE begin_log (id int);",
            "SELECT pg_catalog.setval('s', 1, true);",
            "SELECT 1;",
            "INSERT INTO t VALUES (1);",
            "",
            "-- only a comment",
        ] {
            assert_eq!(classify(text), Other, "{text}");
        }
    }
}
