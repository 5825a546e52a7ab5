//! Loading a dump: every item the splitter yields, in order, on one connection, in one
//! transaction.

use crate::connection::connect::ConnectOptions;
use crate::connection::notice::Notice;
use crate::connection::session::{block_on, CopyIn, Session};
use crate::connection::stop::{CancelHandle, Stop};
use crate::dump::file::DumpFile;
use crate::dump::filters::{Filters, LeftOut};
use crate::dump::preflight::{survey, vet, Survey};
use crate::error::LoadError;
use crate::load::batch::Batch;
use crate::load::catalog::{
    privilege_hint, refuse_extensions, skips, Role, ServerFacts, Skip, PROVIDER_ADMIN_ROLES,
    SERVER_FACTS,
};
use crate::load::migrations_table::{self, TableRef};
use crate::load::progress::{Progress, Reporter};
use crate::split::item::{Item, SessionEffect, Statement};
use crate::split::splitter::{SplitOptions, Splitter};
use crate::split::statement_kind::{SettingValue, StatementKind};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio_postgres::types::Type;

/// SQLSTATE `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// How to load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// psql's behaviour wherever the loader deliberately differs from it: preamble settings
    /// the server does not know are sent (and fail), a `COMMENT ON EXTENSION` the role may
    /// not run is sent (and fails), and the dump's extensions are not checked before the
    /// load (the first one the role cannot create fails at its statement).
    pub strict: bool,
    /// pg_restore's filters: statements to leave out.
    pub filters: Filters,
    /// Load only if this table (Ecto's migrations table) does not exist yet, deciding
    /// under a transaction-scoped advisory lock so concurrent callers load exactly once.
    pub if_absent: Option<TableRef>,
    /// Bounds the whole load, from connecting to committing, waiting for the advisory
    /// lock included. When it expires the load is stopped as by [`LoadOptions::cancel`],
    /// and fails with [`crate::ErrorReason::Timeout`]. `None`: no limit, as psql.
    pub timeout: Option<Duration>,
    /// Stops the load when triggered from another thread: nothing more is sent, the
    /// statement running on the server is cancelled, and the transaction rolls back. The
    /// load then fails with [`crate::ErrorReason::Cancelled`].
    pub cancel: Option<CancelHandle>,
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// `false` when [`LoadOptions::if_absent`] found the table: nothing was sent.
    pub loaded: bool,
    /// The file's SQL statements, including `COPY` statements, once run: those the load
    /// leaves out (`SET client_encoding`, `BEGIN`/`COMMIT`, skipped settings) count too, so
    /// this is the count [`crate::split`] finds without a database.
    pub statements: u64,
    /// `COPY ... FROM stdin` blocks sent.
    pub copy_blocks: u64,
    /// Rows the server stored from COPY data.
    pub copy_rows: u64,
    /// `\restrict`, `\unrestrict` and `\connect` lines honoured.
    pub meta_commands: u64,
    /// Preamble settings skipped because the server does not know them, in file order.
    pub skipped_settings: Vec<String>,
    /// Extensions whose `COMMENT ON EXTENSION` was skipped because they existed before
    /// the load and belong to a role the load's role has no privileges of, in file order.
    pub skipped_extension_comments: Vec<String>,
    /// The statements [`LoadOptions::filters`] left out.
    pub left_out: LeftOut,
}

/// Loads the pg_dump plain-format file at `path` into the database `conn` names, as
/// `psql -v ON_ERROR_STOP=1 --single-transaction -f PATH` would, except that:
///
/// - the whole file is split before anything is sent, so a file that cannot be split or
///   holds a refused meta-command (see [`crate::split::Splitter`]) changes nothing;
/// - the load is one transaction even when the file has its own `BEGIN;`/`COMMIT;`
///   (they are not sent); a `ROLLBACK`/`ABORT` in the file is refused;
/// - `\connect` is allowed only to the database already connected to;
/// - settings in the leading run of `SET`/`set_config` statements that the server does
///   not know are skipped with a WARNING notice, unless [`LoadOptions::strict`];
/// - a `COMMENT ON EXTENSION` of an extension that existed before the load and belongs to
///   a role whose privileges the load's role lacks is skipped with a WARNING notice,
///   unless [`LoadOptions::strict`];
/// - before any statement of the dump is sent, every extension it creates that the
///   server lacks or the role may not create fails the load, all of them in one
///   [`crate::ErrorReason::Extensions`] error, unless [`LoadOptions::strict`];
/// - the statements [`LoadOptions::filters`] name are left out, each with a WARNING notice;
/// - a privilege error (SQLSTATE 42501) gets a hint naming the role and what to do.
///
/// Every server notice, and every statement skipped or left out, goes to `on_notice` as
/// it happens; while the file is being sent, `on_progress` hears how far the load has got,
/// at most once per [`crate::load::PROGRESS_INTERVAL`].
///
/// On any error the transaction is rolled back and the error says where in the file it
/// happened: at the server's error position when it gives one, else at the statement's
/// start, or at the failing COPY data line. A load stopped by its time limit or its
/// cancel handle says where it was stopped.
///
/// Before committing, the session's settings are reset (`RESET ALL`, `RESET ROLE`,
/// `RESET SESSION AUTHORIZATION`, all transactional): the dump's session-level `SET`s
/// and `set_config(..., false)` must not outlive the load on a server connection that a
/// transaction-pooling proxy such as PgBouncer hands to the next client.
pub fn load(
    path: &Path,
    conn: &ConnectOptions,
    options: &LoadOptions,
    on_notice: &mut dyn FnMut(Notice),
    on_progress: &mut dyn FnMut(Progress),
) -> Result<LoadSummary, LoadError> {
    let dump = DumpFile::open(path)?;
    block_on(async {
        let stop = Stop::new(options.timeout, options.cancel.clone());
        let mut session = Session::connect(conn, on_notice, stop).await?;
        let loaded = Load {
            session: &mut session,
            dump: &dump,
            options,
            skip: HashMap::new(),
            database: String::new(),
            role: None,
            role_switches: Vec::new(),
            batch: Batch::default(),
            savepoint_taken: false,
            summary: LoadSummary::default(),
            progress: Reporter::new(on_progress),
        }
        .run()
        .await;
        session.close().await;
        loaded
    })?
}

/// Undoes, inside the transaction, every session-level setting the dump made (pg_dump's
/// preamble sets `search_path` to `''` for the session). `RESET ALL` leaves out the role
/// and session authorization, hence their own resets. Prepared statements are left alone:
/// the load leaves none (tokio-postgres closes its own before `COMMIT`), and
/// `DEALLOCATE ALL` would remove those a pooler such as PgBouncer 1.21+ prepared itself.
const RESET_SESSION_STATE: &str = "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL";

/// One load in progress.
struct Load<'a, 'n, 'p> {
    session: &'a mut Session<'n>,
    dump: &'a DumpFile,
    options: &'a LoadOptions,
    /// Statements not to send because of what the server said, by their byte offset.
    skip: HashMap<u64, Skip>,
    /// The database connected to, once asked.
    database: String,
    /// The role the load runs as, once the transaction has begun.
    role: Option<Role>,
    /// Each `SET ROLE`/`SET SESSION AUTHORIZATION` sent: its line, and the role it
    /// switched to (`None`: back to the role connected as).
    role_switches: Vec<(u64, Option<String>)>,
    /// Statements not sent yet.
    batch: Batch,
    /// Whether the savepoint taken before each message exists yet.
    savepoint_taken: bool,
    summary: LoadSummary,
    progress: Reporter<'p>,
}

impl Load<'_, '_, '_> {
    async fn run(mut self) -> Result<LoadSummary, LoadError> {
        let (database, split_options) = self.server_state().await?;
        self.database.clone_from(&database);
        let found = survey(
            self.dump.reader(None)?,
            split_options,
            Some(&database),
            self.options.filters,
            Some(Box::new(self.session.stop_checker())),
        )
        .map_err(|error| self.stopped_instead(error));
        // Splitting a large file takes a while without the server.
        self.session
            .check_stop()
            .map_err(|error| error.in_file(self.dump.path()))?;
        let found = found?;
        self.progress
            .start(found.statements, found.bytes, found.copy_rows);
        let loaded = match self.in_transaction(&found, split_options, &database).await {
            Ok(loaded) => loaded,
            Err(error) => {
                self.session.rollback().await;
                return Err(error);
            }
        };
        self.session
            .commit_after(RESET_SESSION_STATE)
            .await
            .map_err(|error| error.in_file(self.dump.path()))?;
        self.summary.loaded = loaded;
        Ok(self.summary)
    }

    /// Everything between `BEGIN` and `COMMIT`, `BEGIN` included, for the dump the survey
    /// `found`: `false` when [`LoadOptions::if_absent`] found the table, so nothing was
    /// loaded.
    async fn in_transaction(
        &mut self,
        found: &Survey,
        split_options: SplitOptions,
        database: &str,
    ) -> Result<bool, LoadError> {
        let facts = self.begin(found).await?;
        if let Some(table) = &self.options.if_absent {
            migrations_table::lock(self.session, table)
                .await
                .map_err(|error| {
                    error.while_doing(
                        "waiting for the advisory lock: another load of this structure is running",
                    )
                })?;
            let schema = table.schema.as_deref();
            if migrations_table::exists(self.session, schema, &table.table).await? {
                return Ok(false);
            }
        }
        // Strict: everything is sent, and the server fails where psql would.
        if !self.options.strict {
            refuse_extensions(&found.extensions, &facts, database)
                .map_err(|error| error.in_file(self.dump.path()))?;
            self.skip = skips(found, &facts);
        }
        self.role = Some(facts.role);
        let sent_bytes = self.send_all(split_options, database, found.bytes).await?;
        self.dump.unchanged(found.bytes, sent_bytes)?;
        Ok(true)
    }

    /// The connected database, and how the splitter must start given the server's
    /// `standard_conforming_strings`.
    async fn server_state(&mut self) -> Result<(String, SplitOptions), LoadError> {
        let rows = self
            .session
            .query(
                "SELECT current_database()::text, current_setting('standard_conforming_strings')",
                &[],
            )
            .await?;
        let database: String = rows[0].get(0);
        let standard_conforming_strings: String = rows[0].get(1);
        Ok((
            database,
            SplitOptions {
                standard_conforming_strings: standard_conforming_strings == "on",
            },
        ))
    }

    /// Starts the transaction and runs the repo's after-connect SQL, then asks the
    /// server's catalogs what the load must know of the role it runs as (which that SQL
    /// may have set), of the preamble settings and of the extensions the survey `found`:
    /// in the round trip of `BEGIN` when there is no after-connect SQL.
    async fn begin(&mut self, found: &Survey) -> Result<ServerFacts, LoadError> {
        let mut settings: Vec<&str> = Vec::new();
        let mut extensions: Vec<&str> = Vec::new();
        // Strict: nothing is skipped or refused, so there is nothing to ask.
        if !self.options.strict {
            settings.extend(found.preamble_settings.iter().map(|s| s.name.as_str()));
            let created = found.extensions.iter().map(|e| e.name.as_str());
            let commented = found.extension_comments.iter().map(|c| c.name.as_str());
            for name in created.chain(commented) {
                if !extensions.contains(&name) {
                    extensions.push(name);
                }
            }
        }
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] = [
            (&settings, Type::TEXT_ARRAY),
            (&extensions, Type::TEXT_ARRAY),
            (&PROVIDER_ADMIN_ROLES.as_slice(), Type::TEXT_ARRAY),
        ];
        let rows = if self.session.has_after_connect() {
            self.session.execute("BEGIN").await?;
            self.session.run_after_connect().await?;
            self.session.query(SERVER_FACTS, &params).await?
        } else {
            self.session
                .query_after("BEGIN", SERVER_FACTS, &params)
                .await?
        };
        ServerFacts::from_rows(&rows)
    }

    /// Runs every item of the first `length` bytes of the dump (those the survey checked),
    /// in order, and says how many bytes it read.
    async fn send_all(
        &mut self,
        options: SplitOptions,
        database: &str,
        length: u64,
    ) -> Result<u64, LoadError> {
        let dump = self.dump;
        let in_file = |error: LoadError| error.in_file(dump.path());
        let mut copy: Option<(Statement, CopyIn)> = None;
        // The file line of the first data line of the COPY being sent.
        let mut copy_start_line = 0;
        let mut splitter = Splitter::new(dump.reader(Some(length))?, options)
            .interrupt_when(self.session.stop_checker());
        while let Some(item) = splitter.next() {
            // The survey checked the same bytes if the file has not changed since it was
            // opened (which is checked at the end), and these checks cost nothing to repeat.
            let item =
                item.map_err(|error| self.stopped_instead(in_file(LoadError::split(&error))))?;
            vet(&item, Some(database)).map_err(in_file)?;
            match item {
                Item::Sql(statement) => self.execute(statement).await.map_err(in_file)?,
                Item::CopyStart(statement) => {
                    self.flush().await.map_err(in_file)?;
                    copy = Some(self.start_copy(statement).await.map_err(in_file)?);
                    copy_start_line = splitter.position().1;
                }
                Item::CopyData(data) => {
                    let (statement, copy) = copy.as_mut().ok_or_else(copy_outside_block)?;
                    self.session
                        .copy_data(copy, data)
                        .await
                        .map_err(|error| in_file(error.in_copy(statement)))?;
                }
                Item::CopyEnd { .. } => {
                    let (statement, mut copy) = copy.take().ok_or_else(copy_outside_block)?;
                    let rows = self
                        .session
                        .finish_copy(&mut copy)
                        .await
                        .map_err(|error| in_file(error.in_copy(&statement)))?;
                    self.summary.copy_blocks += 1;
                    self.summary.copy_rows += rows;
                }
                Item::Meta { .. } => {
                    self.flush().await.map_err(in_file)?;
                    self.summary.meta_commands += 1;
                }
            }
            if self.progress.due() {
                let (bytes, line) = splitter.position();
                let copying = match copy {
                    Some(_) => line.saturating_sub(copy_start_line),
                    None => 0,
                };
                self.progress.report(
                    self.summary.statements,
                    bytes,
                    self.summary.copy_rows + copying,
                    line,
                );
            }
        }
        self.flush().await.map_err(in_file)?;
        Ok(splitter.bytes_read())
    }

    /// The error of what stopped the load when a stop is due, else `error`: splitting
    /// stops with an error of its own when its stop checker says so.
    fn stopped_instead(&mut self, error: LoadError) -> LoadError {
        match self.session.check_stop() {
            Err(stopped) => stopped.in_file(self.dump.path()),
            Ok(()) => error.in_file(self.dump.path()),
        }
    }

    /// Queues one statement for sending, unless it is one the load leaves out.
    async fn execute(&mut self, statement: Statement) -> Result<(), LoadError> {
        if self.leaves_out(&statement) {
            self.summary.statements += 1;
            return Ok(());
        }
        if let StatementKind::Setting(setting) = &statement.kind {
            if matches!(setting.name.as_str(), "role" | "session_authorization") {
                let role = match &setting.value {
                    SettingValue::One(role) if !role.eq_ignore_ascii_case("none") => {
                        Some(role.clone())
                    }
                    _ => None,
                };
                self.role_switches.push((statement.start.line, role));
            }
        }
        // The server parses a whole message before running it: text after a change of
        // standard_conforming_strings must go in a later message.
        let changes_parsing = matches!(
            statement.effect,
            Some(SessionEffect::StandardConformingStrings(_))
        );
        // A statement that would fill the message goes in one of its own, uncopied.
        if self.batch.would_overflow(&statement) {
            self.flush().await?;
        }
        self.batch.push(statement);
        if changes_parsing || self.batch.is_full() {
            self.flush().await?;
        }
        Ok(())
    }

    /// Whether the load leaves this statement out, telling why as a notice.
    fn leaves_out(&mut self, statement: &Statement) -> bool {
        if let Some(SessionEffect::ClientEncoding(encoding)) = statement.effect {
            self.session.notify(Notice::debug(
                format!(
                    "not sent: the connection stays UTF8, and the file is read as {} from here on",
                    encoding.pg_name()
                ),
                statement.start.line,
            ));
            return true;
        }
        if statement.kind == StatementKind::TransactionControl {
            self.session.notify(Notice::debug(
                "not sent: the whole file is loaded in one transaction".to_owned(),
                statement.start.line,
            ));
            return true;
        }
        if let Some(filter) = self.options.filters.leaving_out(&statement.kind) {
            self.session.notify(Notice::warning(
                format!(
                    "left out ({}: true): {}",
                    filter.option_name(),
                    first_line(&statement.text)
                ),
                statement.start.line,
            ));
            self.summary.left_out.count(filter);
            return true;
        }
        if let Some(skip) = self.skip.get(&statement.start.byte_offset) {
            let role = self.role.as_ref().expect("skips are decided with the role");
            self.session
                .notify(Notice::warning(skip.warning(role), statement.start.line));
            match skip {
                Skip::Setting(name) => self.summary.skipped_settings.push(name.clone()),
                Skip::ExtensionComment { name, .. } => {
                    self.summary.skipped_extension_comments.push(name.clone())
                }
            }
            return true;
        }
        false
    }

    /// A privilege error of `statement`, or an error of `ALTER SYSTEM`, with a hint that
    /// says which role the load runs as and what to do; any other error as it is.
    fn explained(&self, error: LoadError, statement: &Statement) -> LoadError {
        let Some(role) = &self.role else {
            return error;
        };
        if error.sqlstate() != Some(INSUFFICIENT_PRIVILEGE)
            && statement.kind != StatementKind::AlterSystem
        {
            return error;
        }
        let switched_to = self
            .role_switches
            .iter()
            .rev()
            .find(|(line, _)| *line < statement.start.line)
            .and_then(|(line, role)| Some((role.as_deref()?, *line)));
        let hint = privilege_hint(&statement.kind, role, switched_to, &self.database);
        error.with_hint(&hint)
    }

    /// Sends the queued statements as one message, each message preceded by a fresh
    /// savepoint (see [`crate::load::batch`] for why).
    async fn flush(&mut self) -> Result<(), LoadError> {
        let mut pending = vec![std::mem::take(&mut self.batch)];
        while let Some(batch) = pending.pop() {
            if batch.is_empty() {
                continue;
            }
            let prelude = match self.savepoint_taken {
                false => "SAVEPOINT structure_loader",
                true => "RELEASE SAVEPOINT structure_loader; SAVEPOINT structure_loader",
            };
            let lines = batch.lines_of_run_statements();
            match self
                .session
                .execute_counted(prelude, batch.text(), &lines)
                .await
            {
                Ok(()) => {
                    self.savepoint_taken = true;
                    self.summary.statements += batch.len() as u64;
                }
                Err((error, completed)) => {
                    let (index, part) = batch.failing(completed, error.query_position());
                    if completed == 0 && index > 0 {
                        // Only a syntax error names a later statement before any ran,
                        // and then the prelude ran: the savepoint exists.
                        self.savepoint_taken = true;
                        // A syntax error in the message stopped all of it; psql would
                        // have run the statements before it first.
                        self.session
                            .execute("ROLLBACK TO SAVEPOINT structure_loader")
                            .await?;
                        let (head, tail) = batch.split_at(index);
                        pending.push(tail);
                        pending.push(head);
                        continue;
                    }
                    let (statement, chars_before) = batch.statement(index);
                    let error = error
                        .within_message(chars_before)
                        .in_statement_part(statement, part);
                    return Err(self.explained(error, statement));
                }
            }
        }
        Ok(())
    }

    /// Starts a COPY in the load's own transaction, as psql's would run: out of the
    /// savepoint of the last message, so that the server loads a table created by the
    /// load as one created in the same transaction (without a free-space map to keep up).
    async fn start_copy(&mut self, statement: Statement) -> Result<(Statement, CopyIn), LoadError> {
        self.session.set_notice_line(Some(statement.start.line));
        let release = self
            .savepoint_taken
            .then_some("RELEASE SAVEPOINT structure_loader");
        let copy = self
            .session
            .copy_in(release, &statement.text)
            .await
            .map_err(|error| self.explained(error.in_statement(&statement), &statement))?;
        self.savepoint_taken = false;
        self.summary.statements += 1;
        Ok((statement, copy))
    }
}

/// The first line of a statement, shortened to 100 characters, for a notice.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim_end();
    match line.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_owned(),
    }
}

fn copy_outside_block() -> LoadError {
    LoadError::internal("the splitter yielded COPY data outside a COPY block")
}
