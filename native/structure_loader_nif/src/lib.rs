//! `StructureLoader.Native`: the NIFs over the `structure_loader` crate.
//!
//! Every NIF runs on a dirty I/O scheduler and returns `{:ok, value}` or
//! `{:error, error_map}`; it never raises. Malformed arguments and Rust panics come back as
//! `{:error, %{reason: :internal, ...}}` rather than as `badarg` or `nif_panicked`
//! exceptions, which would also put the arguments (the password) in a stacktrace.
//!
//! A dirty NIF cannot be interrupted: a process killed while it runs one dies only once
//! the NIF returns. So `structure_load` has the VM monitor its caller on its behalf (a
//! resource with a `down` callback): when the caller exits, the load is cancelled and
//! returns within moments, having rolled back.
//!
//! With the `panic_probe` cargo feature (never in the library `mix compile` builds), the
//! library registers as `StructureLoader.PanicProbe.Native` instead, and a server notice
//! whose message starts with `structure_loader panic probe: ` panics in the middle of a
//! load: the tests prove with it that a panic comes back as an `:internal` error and leaves
//! the VM running and the database unchanged.

mod terms;

use rustler::{Binary, Encoder, Env, LocalPid, Monitor, Resource, ResourceArc, Term};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use structure_loader::connection::{CancelHandle, ConnectOptions, Notice};
use structure_loader::load::LoadOptions;
use structure_loader::LoadError;
use terms::{
    CheckOptsArg, CheckTerm, ConnArg, ErrorTerm, LoadOptsArg, NoticeTerm, ProgressTerm, SummaryTerm,
};

rustler::atoms! {
    ok,
    error,
    structure_loader_notice,
    structure_loader_progress,
}

const LOAD_OPTS_SHAPE: &str = "%{strict: boolean, no_owner: boolean, no_privileges: boolean, \
     no_comments: boolean, if_absent: nil | %{schema: String.t() | nil, table: String.t()}, \
     timeout_ms: nil | non_neg_integer()}";

const CHECK_OPTS_SHAPE: &str = "%{no_owner: boolean, no_privileges: boolean, no_comments: boolean}";

/// The load of a `structure_load` call, watched on behalf of its caller: the VM calls
/// [`Resource::down`] when the monitored caller exits, and that cancels the load.
struct CallerWatch {
    cancel: CancelHandle,
}

#[rustler::resource_impl]
impl Resource for CallerWatch {
    const IMPLEMENTS_DOWN: bool = true;

    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _monitor: Monitor) {
        self.cancel.cancel();
    }
}

/// `structure_load(path, conn, opts, caller)`: loads the dump, sending each notice to
/// `caller` as `{:structure_loader_notice, notice_map}` and, about once a second while the
/// file is being sent, `{:structure_loader_progress, progress_map}`, and cancelling the
/// load (it then rolls back) if `caller` exits before it ends.
#[rustler::nif(schedule = "DirtyIo")]
fn structure_load<'a>(
    env: Env<'a>,
    path: Term<'a>,
    conn: Term<'a>,
    opts: Term<'a>,
    caller: Term<'a>,
) -> Term<'a> {
    reply(env, || {
        let path = decode_path(path)?;
        let conn = decode_conn(conn)?;
        let mut opts: LoadOptions = opts
            .decode::<LoadOptsArg>()
            .map_err(|_| invalid_argument("opts", LOAD_OPTS_SHAPE))?
            .into();
        let caller: LocalPid = caller
            .decode()
            .map_err(|_| invalid_argument("caller", "a local pid"))?;
        let cancel = CancelHandle::new();
        let watch = ResourceArc::new(CallerWatch {
            cancel: cancel.clone(),
        });
        // No monitor means the caller is gone already: nothing should be loaded.
        let monitor = env.monitor(&watch, &caller);
        if monitor.is_none() {
            cancel.cancel();
        }
        opts.cancel = Some(cancel);
        // Sent through the calling process's own environment: this runs on a dirty
        // scheduler thread, where `OwnedEnv::send_and_clear` refuses to work.
        let mut on_notice = |notice: Notice| {
            #[cfg(feature = "panic_probe")]
            if let Some(message) = notice
                .message
                .strip_prefix("structure_loader panic probe: ")
            {
                // Unwinds like a panic, without the panic hook's report on stderr.
                std::panic::resume_unwind(Box::new(message.to_owned()));
            }
            // A caller that has gone away just misses the notices.
            let _ = env.send(
                &caller,
                (structure_loader_notice(), NoticeTerm::from(notice)),
            );
        };
        let mut on_progress = |progress| {
            let _ = env.send(
                &caller,
                (structure_loader_progress(), ProgressTerm::from(progress)),
            );
        };
        let loaded =
            structure_loader::load::load(&path, &conn, &opts, &mut on_notice, &mut on_progress);
        if let Some(monitor) = monitor {
            env.demonitor(&watch, &monitor);
        }
        loaded.map(SummaryTerm::from)
    })
}

/// `table_exists(conn, schema, table)`: whether the table exists, `schema` `nil` meaning
/// `current_schema()`.
#[rustler::nif(schedule = "DirtyIo")]
fn table_exists<'a>(env: Env<'a>, conn: Term<'a>, schema: Term<'a>, table: Term<'a>) -> Term<'a> {
    reply(env, || {
        let conn = decode_conn(conn)?;
        let schema: Option<String> = schema
            .decode()
            .map_err(|_| invalid_argument("schema", "a string or nil"))?;
        let table: String = table
            .decode()
            .map_err(|_| invalid_argument("table", "a string"))?;
        structure_loader::load::table_exists(&conn, schema.as_deref(), &table)
    })
}

/// `check(path, opts)`: splits the dump without any database, counting what `opts`'
/// filters would leave out.
#[rustler::nif(schedule = "DirtyIo")]
fn check<'a>(env: Env<'a>, path: Term<'a>, opts: Term<'a>) -> Term<'a> {
    reply(env, || {
        let path = decode_path(path)?;
        let filters = opts
            .decode::<CheckOptsArg>()
            .map_err(|_| invalid_argument("opts", CHECK_OPTS_SHAPE))?;
        structure_loader::dump::check(&path, filters.into()).map(CheckTerm::from)
    })
}

/// Runs `work`, turning its result, or a panic, into `{:ok, value}` / `{:error, map}`.
fn reply<'a, T: Encoder>(env: Env<'a>, work: impl FnOnce() -> Result<T, LoadError>) -> Term<'a> {
    let result = catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|message| message.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_owned());
        Err(LoadError::internal(format!(
            "the native loader panicked: {message}"
        )))
    });
    match result {
        Ok(value) => (ok(), value).encode(env),
        Err(failure) => (error(), ErrorTerm::new(env, &failure)).encode(env),
    }
}

/// Paths are binaries: any bytes, as file names on Unix.
fn decode_path(term: Term) -> Result<std::path::PathBuf, LoadError> {
    let bytes: Binary = term
        .decode()
        .map_err(|_| invalid_argument("path", "a binary"))?;
    Ok(Path::new(OsStr::from_bytes(bytes.as_slice())).to_owned())
}

fn decode_conn(term: Term) -> Result<ConnectOptions, LoadError> {
    let conn: ConnArg = term.decode().map_err(|_| {
        invalid_argument(
            "conn",
            "%{endpoints, address_family, user, password, dbname, connect_timeout_ms, \
             parameters, ssl, after_connect, primary_only}",
        )
    })?;
    ConnectOptions::try_from(conn).map_err(|(name, expected)| invalid_argument(name, expected))
}

/// A malformed argument is a bug in the Elixir wrapper; the message names the argument
/// but never shows its value (it may hold the password).
fn invalid_argument(name: &str, expected: &str) -> LoadError {
    LoadError::internal(format!("invalid NIF argument {name}: expected {expected}"))
}

#[cfg(not(feature = "panic_probe"))]
rustler::init!("Elixir.StructureLoader.Native");

#[cfg(feature = "panic_probe")]
rustler::init!("Elixir.StructureLoader.PanicProbe.Native");
