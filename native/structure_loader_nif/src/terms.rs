//! The maps that cross the BEAM boundary, and their conversion to and from the core
//! crate's types. Field names are the map keys of the NIF contract.

use rustler::{Atom, Binary, NifMap, NifUnitEnum};
use std::time::Duration;
use structure_loader::connection::{
    AddressFamily, ConnectOptions, Endpoint, Notice, TlsMode, TlsOptions,
};
use structure_loader::dump::{CheckSummary, Filters, LeftOut};
use structure_loader::load::{LoadOptions, LoadSummary, Progress, TableRef};
use structure_loader::LoadError;

/// `conn`: every key present, `nil` where absent.
#[derive(NifMap)]
pub struct ConnArg<'a> {
    endpoints: Vec<EndpointArg>,
    address_family: AddressFamilyArg,
    user: String,
    password: Option<String>,
    dbname: String,
    connect_timeout_ms: i64,
    parameters: Vec<(String, String)>,
    ssl: Option<SslArg<'a>>,
    after_connect: Vec<String>,
    primary_only: bool,
}

/// One of `conn.endpoints`.
#[derive(NifMap)]
pub struct EndpointArg {
    host: String,
    // Integers are decoded wide and range-checked here: rustler's narrow decoders wrap.
    port: i64,
}

/// `:ipv4` or `:ipv6`.
#[derive(NifUnitEnum)]
pub enum AddressFamilyArg {
    Ipv4,
    Ipv6,
}

/// `conn.ssl`: `nil` means plain text.
#[derive(NifMap)]
pub struct SslArg<'a> {
    mode: SslModeArg,
    /// DER-encoded CA certificates.
    cacerts: Vec<Binary<'a>>,
    cacertfile: Option<String>,
    certfile: Option<String>,
    keyfile: Option<String>,
    server_name: Option<String>,
}

/// `:prefer`, `:require`, `:verify_ca` or `:verify_full`.
#[derive(NifUnitEnum)]
pub enum SslModeArg {
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl From<SslArg<'_>> for TlsOptions {
    fn from(ssl: SslArg<'_>) -> Self {
        TlsOptions {
            mode: match ssl.mode {
                SslModeArg::Prefer => TlsMode::Prefer,
                SslModeArg::Require => TlsMode::Require,
                SslModeArg::VerifyCa => TlsMode::VerifyCa,
                SslModeArg::VerifyFull => TlsMode::VerifyFull,
            },
            ca_certificates: ssl.cacerts.iter().map(|der| der.to_vec()).collect(),
            ca_certificate_file: ssl.cacertfile.map(Into::into),
            client_certificate_file: ssl.certfile.map(Into::into),
            client_key_file: ssl.keyfile.map(Into::into),
            server_name: ssl.server_name,
        }
    }
}

impl TryFrom<ConnArg<'_>> for ConnectOptions {
    /// Which field is out of range and what it must be.
    type Error = (&'static str, &'static str);

    fn try_from(conn: ConnArg<'_>) -> Result<Self, Self::Error> {
        let endpoints = conn
            .endpoints
            .into_iter()
            .map(|endpoint| {
                let port = u16::try_from(endpoint.port)
                    .ok()
                    .filter(|&port| port > 0)
                    .ok_or(("conn.endpoints", "ports from 1 to 65535"))?;
                Ok::<_, Self::Error>(Endpoint {
                    host: endpoint.host,
                    port,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(("conn.endpoints", "a non-empty list"));
        }
        let connect_timeout_ms = u64::try_from(conn.connect_timeout_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .ok_or(("conn.connect_timeout_ms", "a positive integer"))?;
        Ok(ConnectOptions {
            endpoints,
            address_family: match conn.address_family {
                AddressFamilyArg::Ipv4 => AddressFamily::Ipv4,
                AddressFamilyArg::Ipv6 => AddressFamily::Ipv6,
            },
            user: conn.user,
            password: conn.password,
            dbname: conn.dbname,
            connect_timeout: Duration::from_millis(connect_timeout_ms),
            parameters: conn.parameters,
            tls: conn.ssl.map(TlsOptions::from),
            after_connect: conn.after_connect,
            primary_only: conn.primary_only,
        })
    }
}

/// `opts` of `structure_load`.
#[derive(NifMap)]
pub struct LoadOptsArg {
    strict: bool,
    no_owner: bool,
    no_privileges: bool,
    no_comments: bool,
    if_absent: Option<TableArg>,
    /// `nil`: no time limit.
    timeout_ms: Option<u64>,
}

#[derive(NifMap)]
pub struct TableArg {
    schema: Option<String>,
    table: String,
}

impl From<LoadOptsArg> for LoadOptions {
    fn from(opts: LoadOptsArg) -> Self {
        LoadOptions {
            strict: opts.strict,
            filters: Filters {
                no_owner: opts.no_owner,
                no_privileges: opts.no_privileges,
                no_comments: opts.no_comments,
            },
            if_absent: opts.if_absent.map(|table| TableRef {
                schema: table.schema,
                table: table.table,
            }),
            timeout: opts.timeout_ms.map(Duration::from_millis),
            cancel: None,
        }
    }
}

#[derive(NifMap)]
pub struct SummaryTerm {
    loaded: bool,
    statements: u64,
    copy_blocks: u64,
    copy_rows: u64,
    meta_commands: u64,
    skipped_settings: Vec<String>,
    skipped_extension_comments: Vec<String>,
    left_out: LeftOutTerm,
}

/// `opts` of `check`: pg_restore's filters.
#[derive(NifMap)]
pub struct CheckOptsArg {
    no_owner: bool,
    no_privileges: bool,
    no_comments: bool,
}

impl From<CheckOptsArg> for Filters {
    fn from(opts: CheckOptsArg) -> Self {
        Filters {
            no_owner: opts.no_owner,
            no_privileges: opts.no_privileges,
            no_comments: opts.no_comments,
        }
    }
}

/// How many statements each filter left out.
#[derive(NifMap)]
pub struct LeftOutTerm {
    owner: u64,
    privileges: u64,
    comments: u64,
}

impl From<LeftOut> for LeftOutTerm {
    fn from(left_out: LeftOut) -> Self {
        LeftOutTerm {
            owner: left_out.owner,
            privileges: left_out.privileges,
            comments: left_out.comments,
        }
    }
}

impl From<LoadSummary> for SummaryTerm {
    fn from(summary: LoadSummary) -> Self {
        SummaryTerm {
            loaded: summary.loaded,
            statements: summary.statements,
            copy_blocks: summary.copy_blocks,
            copy_rows: summary.copy_rows,
            meta_commands: summary.meta_commands,
            skipped_settings: summary.skipped_settings,
            skipped_extension_comments: summary.skipped_extension_comments,
            left_out: summary.left_out.into(),
        }
    }
}

#[derive(NifMap)]
pub struct CheckTerm {
    statements: u64,
    copy_blocks: u64,
    copy_rows: u64,
    meta_commands: u64,
    pg_dump_version: Option<String>,
    extensions: Vec<String>,
    left_out: LeftOutTerm,
}

impl From<CheckSummary> for CheckTerm {
    fn from(summary: CheckSummary) -> Self {
        CheckTerm {
            statements: summary.statements,
            copy_blocks: summary.copy_blocks,
            copy_rows: summary.copy_rows,
            meta_commands: summary.meta_commands,
            pg_dump_version: summary.pg_dump_version,
            extensions: summary.extensions,
            left_out: summary.left_out.into(),
        }
    }
}

#[derive(NifMap)]
pub struct ProgressTerm {
    statements: u64,
    statements_total: u64,
    bytes: u64,
    bytes_total: u64,
    copy_rows: u64,
    copy_rows_total: u64,
    line: u64,
    elapsed_ms: u64,
}

impl From<Progress> for ProgressTerm {
    fn from(progress: Progress) -> Self {
        ProgressTerm {
            statements: progress.statements,
            statements_total: progress.statements_total,
            bytes: progress.bytes,
            bytes_total: progress.bytes_total,
            copy_rows: progress.copy_rows,
            copy_rows_total: progress.copy_rows_total,
            line: progress.line,
            elapsed_ms: u64::try_from(progress.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[derive(NifMap)]
pub struct NoticeTerm {
    severity: String,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    line: Option<u64>,
}

impl From<Notice> for NoticeTerm {
    fn from(notice: Notice) -> Self {
        NoticeTerm {
            severity: notice.severity,
            message: notice.message,
            detail: notice.detail,
            hint: notice.hint,
            line: notice.line,
        }
    }
}

#[derive(NifMap)]
pub struct ErrorTerm {
    reason: Atom,
    message: String,
    path: Option<String>,
    line: Option<u64>,
    column: Option<u64>,
    statement: Option<String>,
    sqlstate: Option<String>,
    severity: Option<String>,
    detail: Option<String>,
    hint: Option<String>,
    position: Option<usize>,
}

impl ErrorTerm {
    /// `reason` becomes an atom, so this needs an environment (any one will do).
    pub fn new(env: rustler::Env, error: &LoadError) -> Self {
        ErrorTerm {
            reason: Atom::from_str(env, error.reason().as_str()).expect("reasons are valid atoms"),
            message: error.message().to_owned(),
            path: error.path().map(|path| path.display().to_string()),
            line: error.line(),
            column: error.column(),
            statement: error.statement().map(str::to_owned),
            sqlstate: error.sqlstate().map(str::to_owned),
            severity: error.severity().map(str::to_owned),
            detail: error.detail().map(str::to_owned),
            hint: error.hint().map(str::to_owned),
            position: error.position(),
        }
    }
}
