//! What a statement is, as far as splitting and loading care: decided once, by the
//! splitter, from the statement's first words, and carried on the [`Statement`].
//!
//! [`Statement`]: crate::split::Statement

/// What a statement is. Anything not listed is [`StatementKind::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// Any other statement: sent as it is.
    Other,
    /// `COPY ... FROM stdin`: its data follows in the file.
    CopyFromStdin,
    /// `COPY ... TO stdout`: psql would print the rows. The splitter refuses it, so no
    /// statement it yields has this kind.
    CopyToStdout,
    /// `BEGIN`, `START TRANSACTION`, `COMMIT` or `END`: the load already runs in one
    /// transaction, so these are not sent (psql would commit the load half-way).
    TransactionControl,
    /// `ROLLBACK` or `ABORT` of the whole transaction: refused, as it would undo part of
    /// the load and leave the rest running outside any transaction.
    Rollback,
    /// `SET`, `RESET` or `SELECT [pg_catalog.]set_config(...)` of one setting.
    Setting(Setting),
    /// `RESET ALL`.
    ResetAll,
    /// `CREATE EXTENSION [IF NOT EXISTS] name ...`: checked against the server before the
    /// load, since a managed server's role may not be allowed to create it.
    CreateExtension {
        /// The extension's name: lowercased unless quoted.
        name: String,
        /// Whether an extension that exists already is fine (`IF NOT EXISTS`).
        if_not_exists: bool,
    },
    /// `COMMENT ON ...`: pg_restore's `--no-comments` leaves it out.
    Comment {
        /// The extension, for `COMMENT ON EXTENSION name`: only its owner may run it.
        extension: Option<String>,
    },
    /// `ALTER ... OWNER TO role`, changing nothing but an object's owner: pg_restore's
    /// `--no-owner` leaves it out.
    AlterOwner,
    /// `GRANT`, `REVOKE` or `ALTER DEFAULT PRIVILEGES`: pg_restore's `--no-privileges`
    /// leaves it out.
    Privileges,
    /// `CREATE EVENT TRIGGER`, which only a superuser may run.
    CreateEventTrigger,
    /// `ALTER SYSTEM`, which changes the server's configuration file.
    AlterSystem,
}

/// One setting a statement changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The setting's name as the server knows it: lowercased unless quoted, `role` for
    /// `SET ROLE`, `session_authorization` for `SET SESSION AUTHORIZATION`, `timezone`
    /// for `SET TIME ZONE`, `client_encoding` for `SET NAMES`.
    pub name: String,
    /// `SET LOCAL`, or `set_config(..., true)`: only until the end of the transaction.
    pub local: bool,
    /// What it is set to.
    pub value: SettingValue,
}

/// The value a statement gives a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// `DEFAULT`, or a `RESET`: the session's default.
    Default,
    /// One value: a word, number or string literal (its contents).
    One(String),
    /// A list of values, or an expression the splitter does not read.
    Other,
}

/// The kind of a statement that changes one setting.
fn setting(name: impl Into<String>, local: bool, value: SettingValue) -> StatementKind {
    StatementKind::Setting(Setting {
        name: name.into(),
        local,
        value,
    })
}

/// Classifies one statement (not several joined with `\;`).
pub(crate) fn classify(text: &str) -> StatementKind {
    let mut words = Words::new(text);
    let Some(first) = words.keyword() else {
        return StatementKind::Other;
    };
    match first.as_str() {
        "copy" => copy(words),
        "begin" | "end" => StatementKind::TransactionControl,
        "start" if words.next_is("transaction") => StatementKind::TransactionControl,
        // COMMIT PREPARED acts on another, prepared transaction.
        "commit" if !words.next_is("prepared") => StatementKind::TransactionControl,
        "abort" => StatementKind::Rollback,
        "rollback" => {
            // WORK and TRANSACTION are noise words.
            let _ = words.next_is("work") || words.next_is("transaction");
            // ROLLBACK TO SAVEPOINT stays inside the load's transaction.
            if words.next_is("to") || words.next_is("prepared") {
                StatementKind::Other
            } else {
                StatementKind::Rollback
            }
        }
        "set" => set(words),
        "reset" => reset(words),
        "select" => set_config(words),
        "create" => create(words),
        "alter" => alter(words),
        "comment" if words.next_is("on") => StatementKind::Comment {
            extension: if words.next_is("extension") {
                words.identifier()
            } else {
                None
            },
        },
        "grant" | "revoke" => StatementKind::Privileges,
        _ => StatementKind::Other,
    }
}

/// `CREATE EXTENSION` and `CREATE EVENT TRIGGER`.
fn create(mut words: Words) -> StatementKind {
    if words.next_is("event") && words.next_is("trigger") {
        return StatementKind::CreateEventTrigger;
    }
    if !words.next_is("extension") {
        return StatementKind::Other;
    }
    let mut ahead = words.clone();
    let if_not_exists = ahead.next_is("if") && ahead.next_is("not") && ahead.next_is("exists");
    if if_not_exists {
        words = ahead;
    }
    match words.identifier() {
        Some(name) => StatementKind::CreateExtension {
            name,
            if_not_exists,
        },
        None => StatementKind::Other,
    }
}

/// `ALTER SYSTEM`, `ALTER DEFAULT PRIVILEGES`, and `ALTER ... OWNER TO role` alone.
fn alter(words: Words) -> StatementKind {
    let mut ahead = words.clone();
    if ahead.next_is("system") {
        return StatementKind::AlterSystem;
    }
    let mut ahead = words.clone();
    if ahead.next_is("default") && ahead.next_is("privileges") {
        return StatementKind::Privileges;
    }
    if changes_only_the_owner(words) {
        StatementKind::AlterOwner
    } else {
        StatementKind::Other
    }
}

/// Whether the rest of an `ALTER` statement ends in `OWNER TO role` and does nothing
/// else: no comma at parenthesis depth 0, which would separate it from other subcommands
/// (`ALTER TABLE t ADD c int, OWNER TO r`) that leaving it out would lose.
fn changes_only_the_owner(mut words: Words) -> bool {
    let mut depth: u32 = 0;
    // The last three tokens at depth 0, the newest last.
    let mut last: [Option<Token>; 3] = [None, None, None];
    while let Some(token) = words.token() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(',') if depth == 0 => return false,
            Token::Punct(';') if depth == 0 => {}
            token if depth == 0 => {
                last.rotate_left(1);
                last[2] = Some(token);
            }
            _ => {}
        }
    }
    matches!(
        &last,
        [Some(Token::Word(owner)), Some(Token::Word(to)), Some(Token::Word(_) | Token::QuotedIdentifier(_))]
            if owner.eq_ignore_ascii_case("owner") && to.eq_ignore_ascii_case("to")
    )
}

/// Whether the server finds nothing to run in `text`: only whitespace, comments and `;`.
pub(crate) fn is_blank(text: &str) -> bool {
    let mut words = Words::new(text);
    loop {
        match words.token() {
            None => return true,
            Some(Token::Punct(';')) => {}
            Some(_) => return false,
        }
    }
}

/// `COPY ... FROM stdin` or `COPY ... TO stdout`, at parenthesis depth 0.
fn copy(mut words: Words) -> StatementKind {
    let mut depth: u32 = 0;
    let mut previous: Option<String> = None;
    while let Some(token) = words.token() {
        let word = match token {
            Token::Punct('(') => {
                depth += 1;
                None
            }
            Token::Punct(')') => {
                depth = depth.saturating_sub(1);
                None
            }
            Token::Word(word) if depth == 0 => Some(word.to_ascii_lowercase()),
            _ => None,
        };
        match (previous.as_deref(), word.as_deref()) {
            (Some("from"), Some("stdin")) => return StatementKind::CopyFromStdin,
            (Some("to"), Some("stdout")) => return StatementKind::CopyToStdout,
            _ => {}
        }
        previous = word;
    }
    StatementKind::Other
}

/// `SET [SESSION | LOCAL] name { TO | = } value`, and the special forms of `SET`.
fn set(mut words: Words) -> StatementKind {
    let local = if words.next_is("local") {
        true
    } else {
        let _ = words.next_is("session");
        false
    };
    let mut ahead = words.clone();
    let Some(name) = ahead.identifier() else {
        return StatementKind::Other;
    };
    let special = |name: &str, words: &mut Words| setting(name, local, words.value());
    match name.as_str() {
        // SET TRANSACTION ..., SET CONSTRAINTS ..., SET SESSION CHARACTERISTICS AS ...:
        // not settings.
        "transaction" | "constraints" | "characteristics" => StatementKind::Other,
        "role" => special("role", &mut ahead),
        "authorization" => special("session_authorization", &mut ahead),
        "names" => special("client_encoding", &mut ahead),
        "schema" => special("search_path", &mut ahead),
        "time" if ahead.next_is("zone") => special("timezone", &mut ahead),
        "xml" if ahead.next_is("option") => special("xmloption", &mut ahead),
        _ => {
            let mut name = name;
            // A custom setting: `myapp.tenant`.
            while ahead.punct('.') {
                match ahead.identifier() {
                    Some(part) => {
                        name.push('.');
                        name.push_str(&part);
                    }
                    None => return StatementKind::Other,
                }
            }
            if ahead.punct('=') || ahead.next_is("to") {
                setting(name, local, ahead.value())
            } else {
                StatementKind::Other
            }
        }
    }
}

/// `RESET name`, `RESET ALL`, and the special forms (`RESET ROLE`, ...).
fn reset(mut words: Words) -> StatementKind {
    let Some(name) = words.identifier() else {
        return StatementKind::Other;
    };
    let name = match name.as_str() {
        "all" => return StatementKind::ResetAll,
        "session" if words.next_is("authorization") => "session_authorization".to_owned(),
        "time" if words.next_is("zone") => "timezone".to_owned(),
        "xml" if words.next_is("option") => "xmloption".to_owned(),
        _ => {
            let mut name = name;
            while words.punct('.') {
                match words.identifier() {
                    Some(part) => {
                        name.push('.');
                        name.push_str(&part);
                    }
                    None => return StatementKind::Other,
                }
            }
            name
        }
    };
    setting(name, false, SettingValue::Default)
}

/// `SELECT [pg_catalog.]set_config('name', 'value', is_local)`, as pg_dump writes it.
fn set_config(mut words: Words) -> StatementKind {
    let Some(mut function) = words.keyword() else {
        return StatementKind::Other;
    };
    if function == "pg_catalog" && words.punct('.') {
        match words.keyword() {
            Some(name) => function = name,
            None => return StatementKind::Other,
        }
    }
    if function != "set_config" || !words.punct('(') {
        return StatementKind::Other;
    }
    let (Some(name), true, Some(value), true) = (
        words.string_literal(),
        words.punct(','),
        words.string_literal(),
        words.punct(','),
    ) else {
        return StatementKind::Other;
    };
    let local = match words.keyword().as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => return StatementKind::Other,
    };
    setting(name.to_ascii_lowercase(), local, SettingValue::One(value))
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

/// A token of a statement, as far as classifying goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'t> {
    /// An unquoted identifier or keyword, as written.
    Word(&'t str),
    /// A `"quoted identifier"`'s name.
    QuotedIdentifier(String),
    /// A string literal's contents (`'...'`, `E'...'`, `$$...$$`), a number, or a
    /// parameter (`$1`).
    Literal(String),
    Punct(char),
}

/// A cursor over a statement's tokens that skips whitespace and comments. It reads the
/// statement as the server would for the few forms classified; anything it does not
/// recognise is a [`Token::Punct`] of one character.
#[derive(Clone)]
struct Words<'t> {
    rest: &'t str,
}

impl<'t> Words<'t> {
    fn new(text: &'t str) -> Self {
        Words { rest: text }
    }

    fn token(&mut self) -> Option<Token<'t>> {
        self.skip_blank();
        let rest = self.rest;
        let first = rest.chars().next()?;
        if first == '\'' {
            return self.quoted('\'', false).map(Token::Literal);
        }
        if first == '"' {
            return self.quoted('"', false).map(Token::QuotedIdentifier);
        }
        if first == '$' {
            return Some(self.dollar());
        }
        if first.is_ascii_digit() {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(rest.len());
            self.rest = &rest[end..];
            return Some(Token::Literal(rest[..end].to_owned()));
        }
        if is_word_start(first) {
            // E'...' (and e'...'): a string with backslash escapes.
            if (first == 'E' || first == 'e') && rest[1..].starts_with('\'') {
                self.rest = &rest[1..];
                return self.quoted('\'', true).map(Token::Literal);
            }
            let end = rest
                .find(|c: char| !(is_word_start(c) || c.is_ascii_digit() || c == '$'))
                .unwrap_or(rest.len());
            self.rest = &rest[end..];
            return Some(Token::Word(&rest[..end]));
        }
        self.rest = &rest[first.len_utf8()..];
        Some(Token::Punct(first))
    }

    /// The next token if it is an unquoted word, lowercased.
    fn keyword(&mut self) -> Option<String> {
        let mut ahead = self.clone();
        match ahead.token()? {
            Token::Word(word) => {
                *self = ahead;
                Some(word.to_ascii_lowercase())
            }
            _ => None,
        }
    }

    /// The next token if it is an identifier: an unquoted one lowercased, as the server
    /// folds it, or a quoted one exactly.
    fn identifier(&mut self) -> Option<String> {
        let mut ahead = self.clone();
        let name = match ahead.token()? {
            Token::Word(word) => word.to_ascii_lowercase(),
            Token::QuotedIdentifier(name) => name,
            _ => return None,
        };
        *self = ahead;
        Some(name)
    }

    /// Consumes the next token if it is the keyword `keyword`.
    fn next_is(&mut self, keyword: &str) -> bool {
        let mut ahead = self.clone();
        match ahead.token() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword) => {
                *self = ahead;
                true
            }
            _ => false,
        }
    }

    /// Consumes `c` if it comes next.
    fn punct(&mut self, c: char) -> bool {
        let mut ahead = self.clone();
        if ahead.token() == Some(Token::Punct(c)) {
            *self = ahead;
            true
        } else {
            false
        }
    }

    /// The next token if it is a string literal.
    fn string_literal(&mut self) -> Option<String> {
        let mut ahead = self.clone();
        match ahead.token()? {
            Token::Literal(value) if !value.starts_with(|c: char| c.is_ascii_digit()) => {
                *self = ahead;
                Some(value)
            }
            _ => None,
        }
    }

    /// The value of a `SET`: what follows its `=` or `TO` up to the `;`.
    fn value(&mut self) -> SettingValue {
        let value = match self.token() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("default") => {
                SettingValue::Default
            }
            Some(Token::Word(word)) => SettingValue::One(word.to_owned()),
            Some(Token::QuotedIdentifier(text) | Token::Literal(text)) => SettingValue::One(text),
            _ => return SettingValue::Other,
        };
        match self.token() {
            None | Some(Token::Punct(';')) => value,
            Some(_) => SettingValue::Other,
        }
    }

    /// A quoted string or identifier; the opening quote comes next. Doubled quotes stand
    /// for one; with `backslash_escapes`, a backslash keeps the next character.
    fn quoted(&mut self, quote: char, backslash_escapes: bool) -> Option<String> {
        let mut content = String::new();
        let mut chars = self.rest.char_indices().skip(1);
        while let Some((index, c)) = chars.next() {
            if c == quote {
                if self.rest[index + 1..].starts_with(quote) {
                    content.push(quote);
                    chars.next();
                    continue;
                }
                self.rest = &self.rest[index + 1..];
                return Some(content);
            }
            if c == '\\' && backslash_escapes {
                if let Some((_, escaped)) = chars.next() {
                    content.push(escaped);
                }
                continue;
            }
            content.push(c);
        }
        self.rest = "";
        None
    }

    /// `$1`, a `$tag$...$tag$` dollar quote, or a lone `$`.
    fn dollar(&mut self) -> Token<'t> {
        let rest = self.rest;
        let after = &rest[1..];
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if digits > 0 {
            self.rest = &after[digits..];
            return Token::Literal(rest[..1 + digits].to_owned());
        }
        let tag_len = after
            .find(|c: char| !(is_word_start(c) || c.is_ascii_digit()))
            .unwrap_or(after.len());
        if after[tag_len..].starts_with('$') {
            let delimiter = &rest[..tag_len + 2];
            let body = &rest[delimiter.len()..];
            return match body.find(delimiter) {
                Some(end) => {
                    self.rest = &body[end + delimiter.len()..];
                    Token::Literal(body[..end].to_owned())
                }
                None => {
                    self.rest = "";
                    Token::Literal(body.to_owned())
                }
            };
        }
        self.rest = after;
        Token::Punct('$')
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

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// The text after the (nested) block comment `text` starts with (empty if it never ends).
fn skip_block_comment(text: &str) -> &str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use StatementKind::*;

    fn session_setting(name: &str, value: SettingValue) -> StatementKind {
        setting(name, false, value)
    }

    fn one(value: &str) -> SettingValue {
        SettingValue::One(value.to_owned())
    }

    #[test]
    fn copy_from_stdin_and_to_stdout_are_recognised_at_top_level_only() {
        assert_eq!(classify("COPY public.t (a, b) FROM stdin;"), CopyFromStdin);
        assert_eq!(
            classify("copy t from STDIN with (format csv);"),
            CopyFromStdin
        );
        assert_eq!(classify("COPY t TO stdout;"), CopyToStdout);
        assert_eq!(classify("COPY (SELECT 1 FROM stdin) TO '/tmp/x';"), Other);
        assert_eq!(classify("COPY t FROM '/srv/file';"), Other);
        assert_eq!(classify("COPY t FROM 'stdin';"), Other);
        assert_eq!(
            classify("COPY (SELECT $$ FROM stdin $$) TO '/tmp/x';"),
            Other
        );
        assert_eq!(classify("SELECT 'COPY t FROM stdin';"), Other);
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
    fn only_a_whole_transaction_rollback_is_a_rollback() {
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
    fn settings_name_what_they_set_and_their_value() {
        assert_eq!(
            classify("SET statement_timeout = 0;"),
            session_setting("statement_timeout", one("0"))
        );
        assert_eq!(
            classify("SET Transaction_Timeout TO 0;"),
            session_setting("transaction_timeout", one("0"))
        );
        assert_eq!(
            classify("SET SESSION xmloption = content;"),
            session_setting("xmloption", one("content"))
        );
        assert_eq!(
            classify("SET search_path = public, pg_catalog;"),
            session_setting("search_path", SettingValue::Other)
        );
        assert_eq!(
            classify("SET myapp.tenant = 'x';"),
            session_setting("myapp.tenant", one("x"))
        );
        assert_eq!(
            classify("SET \"Quoted\" = 1;"),
            session_setting("Quoted", one("1"))
        );
        assert_eq!(
            classify("SET standard_conforming_strings = DEFAULT;"),
            session_setting("standard_conforming_strings", SettingValue::Default)
        );
        assert_eq!(
            classify("SET client_encoding TO E'LATIN1';"),
            session_setting("client_encoding", one("LATIN1"))
        );
    }

    #[test]
    fn set_local_and_set_config_say_whether_the_setting_is_local() {
        assert_eq!(
            classify("SET LOCAL standard_conforming_strings = 0;"),
            StatementKind::Setting(super::Setting {
                name: "standard_conforming_strings".to_owned(),
                local: true,
                value: one("0"),
            })
        );
        assert_eq!(
            classify("SELECT pg_catalog.set_config('search_path', '', false);"),
            session_setting("search_path", one(""))
        );
        assert_eq!(
            classify("select set_config('it''s', 'x', true);"),
            StatementKind::Setting(super::Setting {
                name: "it's".to_owned(),
                local: true,
                value: one("x"),
            })
        );
        assert_eq!(
            classify("SELECT set_config('a', current_setting('b'), false);"),
            Other
        );
    }

    #[test]
    fn the_special_forms_of_set_name_the_setting_they_change() {
        assert_eq!(
            classify("SET ROLE owner;"),
            session_setting("role", one("owner"))
        );
        assert_eq!(
            classify("SET SESSION AUTHORIZATION app;"),
            session_setting("session_authorization", one("app"))
        );
        assert_eq!(
            classify("SET TIME ZONE 'UTC';"),
            session_setting("timezone", one("UTC"))
        );
        assert_eq!(
            classify("SET NAMES 'LATIN1';"),
            session_setting("client_encoding", one("LATIN1"))
        );
        assert_eq!(
            classify("SET SCHEMA 'app';"),
            session_setting("search_path", one("app"))
        );
        assert_eq!(
            classify("SET XML OPTION DOCUMENT;"),
            session_setting("xmloption", one("DOCUMENT"))
        );
        for text in [
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;",
            "SET CONSTRAINTS ALL DEFERRED;",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;",
        ] {
            assert_eq!(classify(text), Other, "{text}");
        }
    }

    #[test]
    fn reset_names_its_setting() {
        assert_eq!(
            classify("RESET standard_conforming_strings;"),
            session_setting("standard_conforming_strings", SettingValue::Default)
        );
        assert_eq!(
            classify("RESET ROLE;"),
            session_setting("role", SettingValue::Default)
        );
        assert_eq!(
            classify("RESET SESSION AUTHORIZATION;"),
            session_setting("session_authorization", SettingValue::Default)
        );
        assert_eq!(classify("RESET ALL;"), ResetAll);
    }

    #[test]
    fn create_extension_names_the_extension_as_the_server_folds_it() {
        assert_eq!(
            classify("CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;"),
            CreateExtension {
                name: "citext".to_owned(),
                if_not_exists: true,
            }
        );
        assert_eq!(
            classify("create extension \"uuid-ossp\";"),
            CreateExtension {
                name: "uuid-ossp".to_owned(),
                if_not_exists: false,
            }
        );
        assert_eq!(
            classify("CREATE EXTENSION Pg_Trgm SCHEMA public VERSION '1.6' CASCADE;"),
            CreateExtension {
                name: "pg_trgm".to_owned(),
                if_not_exists: false,
            }
        );
        assert_eq!(classify("CREATE EXTENSION IF NOT EXISTS;"), Other);
    }

    #[test]
    fn comments_say_which_extension_they_are_on() {
        assert_eq!(
            classify("COMMENT ON EXTENSION \"uuid-ossp\" IS 'generate UUIDs';"),
            Comment {
                extension: Some("uuid-ossp".to_owned()),
            }
        );
        assert_eq!(
            classify("comment on extension PLPGSQL is 'PL/pgSQL procedural language';"),
            Comment {
                extension: Some("plpgsql".to_owned()),
            }
        );
        for text in [
            "COMMENT ON TABLE public.users IS 'who';",
            "COMMENT ON COLUMN public.users.extension IS NULL;",
            "COMMENT ON SCHEMA public IS 'standard public schema';",
        ] {
            assert_eq!(classify(text), Comment { extension: None }, "{text}");
        }
    }

    #[test]
    fn an_alter_that_only_changes_the_owner_is_an_owner_change() {
        for text in [
            "ALTER TABLE public.actor OWNER TO postgres;",
            "ALTER SCHEMA public OWNER TO \"Quoted Owner\";",
            "ALTER FUNCTION public._group_concat(text, text) OWNER TO postgres;",
            "ALTER AGGREGATE public.group_concat(text) OWNER TO postgres;",
            "ALTER OPERATOR public.= (integer, integer) OWNER TO app;",
            "ALTER LARGE OBJECT 424242 OWNER TO app;",
            "alter table \"owner\" owner to current_user;",
            "ALTER TEXT SEARCH CONFIGURATION public.x OWNER TO app",
        ] {
            assert_eq!(classify(text), AlterOwner, "{text}");
        }
        for text in [
            "ALTER TABLE t ADD COLUMN c int, OWNER TO app;",
            "ALTER TABLE t OWNER TO app, ADD COLUMN c int;",
            "ALTER TABLE owner RENAME TO app;",
            "ALTER SEQUENCE public.s OWNED BY public.t.id;",
            "ALTER TABLE t ALTER COLUMN c SET DEFAULT 'OWNER TO x';",
            "ALTER ROLE app SET search_path TO owner;",
        ] {
            assert_eq!(classify(text), Other, "{text}");
        }
    }

    #[test]
    fn grants_revokes_and_default_privileges_are_privileges() {
        for text in [
            "GRANT ALL ON SCHEMA public TO PUBLIC;",
            "REVOKE USAGE ON SCHEMA public FROM PUBLIC;",
            "grant select on table t to app;",
            "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO app;",
        ] {
            assert_eq!(classify(text), Privileges, "{text}");
        }
    }

    #[test]
    fn event_triggers_and_alter_system_are_recognised() {
        assert_eq!(
            classify("CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end\n    EXECUTE FUNCTION extensions.pgrst_ddl_watch();"),
            CreateEventTrigger
        );
        assert_eq!(classify("ALTER SYSTEM SET work_mem = '64MB';"), AlterSystem);
        assert_eq!(
            classify("CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f();"),
            Other
        );
    }

    #[test]
    fn everything_else_is_other() {
        for text in [
            "CREATE TABLE begin_log (id int);",
            "CREATE TABLE extension (id int);",
            "SELECT pg_catalog.setval('s', 1, true);",
            "SELECT 1;",
            "INSERT INTO t VALUES (1);",
            "COMMENT;",
            "",
            "-- only a comment",
        ] {
            assert_eq!(classify(text), Other, "{text}");
        }
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
