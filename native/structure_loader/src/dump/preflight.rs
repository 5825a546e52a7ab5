//! A first pass over a dump that sends nothing: it proves the whole file splits and holds
//! nothing the loader refuses before the first statement reaches the server, counts what
//! is in it, and finds what to check against the server's catalogs: the pg_dump preamble
//! settings, and the extensions the dump creates and comments on.

use crate::dump::filters::{Filters, LeftOut};
use crate::error::{ErrorReason, LoadError};
use crate::split::input::Interrupt;
use crate::split::item::{Item, MetaCommand, Statement};
use crate::split::location::Location;
use crate::split::splitter::{SplitOptions, Splitter};
use crate::split::statement_kind::StatementKind;
use std::io::Read;

/// What a dump holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Survey {
    /// SQL statements, including `COPY` statements.
    pub(crate) statements: u64,
    pub(crate) copy_blocks: u64,
    pub(crate) copy_rows: u64,
    pub(crate) meta_commands: u64,
    /// How many bytes were split: a load sends these and no others.
    pub(crate) bytes: u64,
    /// The settings a load may skip when the server does not know them: those in the
    /// leading run of `SET`/`set_config` statements, in file order. Custom settings
    /// (`myapp.x`), which any server takes, are left out, and so are the role and the
    /// session authorization: who creates the objects is never skipped.
    pub(crate) preamble_settings: Vec<PreambleSetting>,
    /// Every `CREATE EXTENSION`, in file order.
    pub(crate) extensions: Vec<CreatedExtension>,
    /// Every `COMMENT ON EXTENSION` the filters do not leave out, in file order.
    pub(crate) extension_comments: Vec<ExtensionComment>,
    /// The statements the filters leave out.
    pub(crate) left_out: LeftOut,
}

/// A `CREATE EXTENSION` of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreatedExtension {
    pub(crate) name: String,
    pub(crate) if_not_exists: bool,
    pub(crate) start: Location,
    /// The statement, on one line: what an administrator can run instead.
    pub(crate) text: String,
}

/// A `COMMENT ON EXTENSION` of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtensionComment {
    pub(crate) name: String,
    pub(crate) start: Location,
}

/// A setting the dump's preamble sets, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreambleSetting {
    pub(crate) name: String,
    pub(crate) start: Location,
}

/// Splits all of `reader`. `database` is the database the load is connected to, for
/// checking `\connect`; `None` (no connection) accepts any `\connect` target.
/// `filters` say which statements the load leaves out: those are counted, not surveyed.
/// `interrupt`, asked between blocks read, stops the survey early.
///
/// Errors carry no path; the caller knows it.
pub(crate) fn survey(
    reader: impl Read,
    options: SplitOptions,
    database: Option<&str>,
    filters: Filters,
    interrupt: Option<Interrupt>,
) -> Result<Survey, LoadError> {
    let mut survey = Survey::default();
    let mut in_preamble = true;
    let mut copy_start = None;
    let mut splitter = Splitter::new(reader, options);
    if let Some(interrupt) = interrupt {
        splitter = splitter.interrupt_when(interrupt);
    }
    for item in splitter.by_ref() {
        let item = item.map_err(|error| LoadError::split(&error))?;
        vet(&item, database)?;
        match item {
            Item::Sql(statement) => {
                survey.statements += 1;
                if let Some(filter) = filters.leaving_out(&statement.kind) {
                    survey.left_out.count(filter);
                    // As when it is sent, a SET ROLE does not end the preamble.
                    in_preamble &= matches!(statement.kind, StatementKind::Setting(_));
                    continue;
                }
                match &statement.kind {
                    StatementKind::CreateExtension {
                        name,
                        if_not_exists,
                    } => {
                        survey.extensions.push(CreatedExtension {
                            name: name.clone(),
                            if_not_exists: *if_not_exists,
                            start: statement.start,
                            text: statement
                                .text
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" "),
                        });
                        in_preamble = false;
                    }
                    StatementKind::Comment {
                        extension: Some(name),
                    } => {
                        survey.extension_comments.push(ExtensionComment {
                            name: name.clone(),
                            start: statement.start,
                        });
                        in_preamble = false;
                    }
                    StatementKind::Setting(setting) if in_preamble => {
                        let skippable = !setting.name.contains('.')
                            && !matches!(setting.name.as_str(), "role" | "session_authorization");
                        if skippable {
                            survey.preamble_settings.push(PreambleSetting {
                                name: setting.name.clone(),
                                start: statement.start,
                            });
                        }
                    }
                    _ => in_preamble = false,
                }
            }
            Item::CopyStart(statement) => {
                copy_start = Some(statement);
                survey.statements += 1;
                survey.copy_blocks += 1;
                in_preamble = false;
            }
            Item::CopyData(_) => {}
            Item::CopyEnd { rows, terminated } => {
                if let (false, Some(statement)) = (terminated, &copy_start) {
                    return Err(truncated_copy(statement, rows));
                }
                survey.copy_rows += rows;
            }
            Item::Meta { .. } => survey.meta_commands += 1,
        }
    }
    survey.bytes = splitter.bytes_read();
    Ok(survey)
}

/// Refuses what the splitter accepts but the loader must not run: a `ROLLBACK` of the
/// load's own transaction, and `\connect` to another database than `database`.
pub(crate) fn vet(item: &Item, database: Option<&str>) -> Result<(), LoadError> {
    match item {
        Item::Sql(statement) if statement.kind == StatementKind::Rollback => {
            Err(refused_rollback(statement))
        }
        Item::Meta {
            command: MetaCommand::Connect {
                dbname: Some(dbname),
            },
            location,
        } => match database {
            Some(database) if database != dbname => Err(LoadError::new(
                ErrorReason::MetaCommand,
                format!(
                    "\\connect {dbname} is refused: the load runs on database \"{database}\" \
                     and only reconnecting to that same database is allowed"
                ),
            )
            .at(*location)),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// psql sends COPY data up to the end of the file when no `\.` line ends it, but pg_dump
/// always writes that line: without it the file was cut short, and loading it would keep
/// a partial last row and lose everything after it.
fn truncated_copy(statement: &Statement, rows: u64) -> LoadError {
    LoadError::new(
        ErrorReason::Parse,
        format!(
            "the data of this COPY runs to the end of the file ({rows} line{}) without the \\. \
             line that ends it: the file looks truncated",
            if rows == 1 { "" } else { "s" }
        ),
    )
    .at(statement.start)
}

fn refused_rollback(statement: &Statement) -> LoadError {
    LoadError::new(
        ErrorReason::Parse,
        "the dump rolls back its own transaction, which the loader refuses: the whole \
         file loads as one transaction",
    )
    .in_statement(statement)
}
