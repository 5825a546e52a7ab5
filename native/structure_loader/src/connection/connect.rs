//! Where and as whom to connect, and connecting: the endpoints tried in order, the socket
//! opened here, TLS negotiated here, then tokio-postgres's startup and authentication over
//! that stream (`Config::connect_raw`). Failures are told apart by their types and the
//! server's SQLSTATEs, never by the text of tokio-postgres's messages.

use crate::connection::cancel_request::CancelRequester;
use crate::connection::farewell::{Farewell, Watched, WatchedTls};
use crate::connection::stream::{ServerStream, Target, TlsAnswer};
use crate::connection::tls::{ServerTls, TlsConnector, TlsMode, TlsOptions};
use crate::error::{error_chain, ErrorReason, LoadError};
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio_postgres::config::{SslMode, SslNegotiation};
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::{Client, Config, Connection};

/// Where and as whom to connect.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Where the server listens, tried in order until one accepts the connection and the
    /// credentials, as Postgrex's `:endpoints` and libpq's host lists are. Never empty.
    pub endpoints: Vec<Endpoint>,
    /// The addresses a host name stands for (IP addresses are used as written).
    pub address_family: AddressFamily,
    /// The role to log in as.
    pub user: String,
    /// `None`: no password. A server that asks for one then refuses the login.
    pub password: Option<String>,
    /// The database to load into.
    pub dbname: String,
    /// Bounds each endpoint's attempt: name lookup, TCP or socket connect, TLS, and
    /// authentication.
    pub connect_timeout: Duration,
    /// Startup parameters, such as `application_name` or any server setting.
    pub parameters: Vec<(String, String)>,
    /// TLS, or `None` for plain text. Only [`TlsMode::Prefer`] ever falls back to plain
    /// text; over a unix socket (which carries no TLS) the other modes are an error.
    pub tls: Option<TlsOptions>,
    /// SQL the repository runs on each new connection (Ecto's `after_connect`), run at the
    /// start of each transaction here, so that its session settings never outlive it.
    pub after_connect: Vec<String>,
    /// Skip endpoints whose server is a standby (in recovery), as Postgrex does with
    /// `target_server_type: :primary`.
    pub primary_only: bool,
}

/// One place a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A host name or IP address, or the absolute path of the directory holding the
    /// server's unix socket (`.s.PGSQL.PORT`).
    pub host: String,
    /// The TCP port, or the number in the socket file's name.
    pub port: u16,
}

/// The addresses a host name stands for, as the Erlang socket of a Postgrex connection
/// sees them: IPv4 unless its `socket_options` hold `:inet6`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AddressFamily {
    /// IPv4 addresses (`A` records), Postgrex's default.
    #[default]
    Ipv4,
    /// IPv6 addresses (`AAAA` records).
    Ipv6,
}

/// The stream a session reads: a [`ServerStream`], watched for the server's last words.
type SessionStream = Watched<ServerStream>;

/// tokio-postgres's connection over a [`SessionStream`], with or without TLS.
pub(crate) type PgConnection = Connection<
    SessionStream,
    <WatchedTls<ServerTls<SessionStream>> as TlsConnect<SessionStream>>::Stream,
>;

/// An established, authenticated connection.
pub(crate) struct Connected {
    pub(crate) client: Client,
    pub(crate) connection: PgConnection,
    /// Sends cancel requests for this connection's backend.
    pub(crate) canceller: CancelRequester,
    /// Where the server's `FATAL` error is kept if it sends one before leaving.
    pub(crate) farewell: Farewell,
}

impl Endpoint {
    /// Whether the host is a unix-socket directory.
    pub fn is_unix_socket(&self) -> bool {
        self.host.starts_with('/')
    }
}

impl fmt::Display for Endpoint {
    /// `HOST:PORT`, or the socket file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unix_socket() {
            let file = Path::new(&self.host).join(format!(".s.PGSQL.{}", self.port));
            write!(f, "{}", file.display())
        } else if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ConnectOptions {
    /// One endpoint and the defaults for the rest: no password, 15 s to connect, no
    /// parameters, no TLS.
    pub fn new(host: &str, port: u16, user: &str, dbname: &str) -> Self {
        ConnectOptions {
            endpoints: vec![Endpoint {
                host: host.to_owned(),
                port,
            }],
            address_family: AddressFamily::default(),
            user: user.to_owned(),
            password: None,
            dbname: dbname.to_owned(),
            connect_timeout: Duration::from_secs(15),
            parameters: Vec::new(),
            tls: None,
            after_connect: Vec::new(),
            primary_only: false,
        }
    }

    /// Connects to the first endpoint that accepts the connection and the credentials.
    ///
    /// Errors: [`ErrorReason::Connect`] when no server can be reached, set-up times out or
    /// TLS fails (the message says why: an expired or untrusted certificate, a name
    /// mismatch, a server without TLS), [`ErrorReason::Auth`] when the server refuses the
    /// credentials (or the client certificate), [`ErrorReason::Database`] for any other
    /// server refusal (e.g. an unknown database). With several endpoints, the error is
    /// the last one's, and the message names each endpoint's failure.
    pub(crate) async fn connect(&self) -> Result<Connected, LoadError> {
        let tls = TlsConnector::new(self.tls.as_ref())?;
        let mut failures = Vec::new();
        for endpoint in &self.endpoints {
            let attempt =
                tokio::time::timeout(self.connect_timeout, self.connect_endpoint(endpoint, &tls))
                    .await;
            let error = match attempt {
                Ok(Ok(connected)) => return Ok(connected),
                Ok(Err(error)) => error,
                Err(_elapsed) => LoadError::new(
                    ErrorReason::Connect,
                    format!(
                        "timed out after {} ms connecting to {endpoint}",
                        self.connect_timeout.as_millis()
                    ),
                ),
            };
            failures.push((endpoint, error));
        }
        Err(several_failures(failures))
    }

    async fn connect_endpoint(
        &self,
        endpoint: &Endpoint,
        tls: &TlsConnector,
    ) -> Result<Connected, LoadError> {
        let mode = self.tls.as_ref().map(|tls| tls.mode);
        if endpoint.is_unix_socket() && mode.is_some_and(|mode| mode != TlsMode::Prefer) {
            return Err(LoadError::new(
                ErrorReason::Connect,
                format!(
                    "cannot connect to {endpoint}: the settings require TLS (sslmode={}), but \
                     a unix socket carries no TLS; connect by host name instead",
                    mode.map_or("", TlsMode::as_str)
                ),
            ));
        }
        let mut last_error = None;
        for target in self.targets(endpoint).await? {
            match self.connect_target(endpoint, &target, tls).await {
                Ok(connected) => return Ok(connected),
                // The next address of the name may work; a server's own answer will not
                // change with the address.
                Err(error) if error.sqlstate().is_none() => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.expect("a name resolves to at least one address"))
    }

    /// The addresses an endpoint stands for, in the resolver's order.
    async fn targets(&self, endpoint: &Endpoint) -> Result<Vec<Target>, LoadError> {
        if endpoint.is_unix_socket() {
            let file = Path::new(&endpoint.host).join(format!(".s.PGSQL.{}", endpoint.port));
            return Ok(vec![Target::Unix(file)]);
        }
        if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
            return Ok(vec![Target::Tcp(SocketAddr::new(ip, endpoint.port))]);
        }
        let lookup_error = |why: String| {
            LoadError::new(
                ErrorReason::Connect,
                format!("cannot connect to {endpoint}: {why}"),
            )
        };
        let addresses: Vec<Target> =
            tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|error| lookup_error(format!("cannot resolve the host name: {error}")))?
                .filter(|address| match self.address_family {
                    AddressFamily::Ipv4 => address.is_ipv4(),
                    AddressFamily::Ipv6 => address.is_ipv6(),
                })
                .map(Target::Tcp)
                .collect();
        if addresses.is_empty() {
            return Err(lookup_error(format!(
                "the host name has no {} address",
                match self.address_family {
                    AddressFamily::Ipv4 => "IPv4 (socket_options: [:inet6] asks for IPv6)",
                    AddressFamily::Ipv6 => "IPv6",
                }
            )));
        }
        Ok(addresses)
    }

    /// Opens the stream, sets up TLS as the mode asks, and starts the session over it.
    async fn connect_target(
        &self,
        endpoint: &Endpoint,
        target: &Target,
        tls: &TlsConnector,
    ) -> Result<Connected, LoadError> {
        let failed = |why: &dyn fmt::Display| {
            LoadError::new(
                ErrorReason::Connect,
                format!("cannot connect to {endpoint}: {why}"),
            )
        };
        let mut stream = ServerStream::open(target)
            .await
            .map_err(|error| failed(&error))?;
        let mode = self.tls.as_ref().map(|tls| tls.mode);
        let encrypted = match mode {
            None => false,
            Some(TlsMode::Prefer) if endpoint.is_unix_socket() => false,
            Some(mode) => match stream.request_tls().await.map_err(|error| failed(&error))? {
                TlsAnswer::Willing => true,
                TlsAnswer::Unwilling if mode == TlsMode::Prefer => false,
                TlsAnswer::Unwilling => {
                    return Err(failed(&format_args!(
                        "the server does not support SSL (TLS), but the settings require it \
                         ({}); StructureLoader never falls back to plain text then",
                        mode.as_str()
                    )))
                }
            },
        };
        let mut config = self.config();
        if encrypted {
            // The SSLRequest was answered here: tokio-postgres starts the handshake at once.
            config
                .ssl_mode(SslMode::Require)
                .ssl_negotiation(SslNegotiation::Direct);
        }
        let connector = WatchedTls(tls.for_server::<SessionStream>(&endpoint.host));
        let farewell = Farewell::default();
        let stream = Watched::new(stream, farewell.clone());
        match config.connect_raw(stream, connector).await {
            Ok((client, mut connection)) => {
                if self.primary_only && is_standby(&client, &mut connection).await? {
                    return Err(LoadError::new(
                        ErrorReason::Connect,
                        format!(
                            "cannot use {endpoint}: it is a standby (in recovery), and the \
                             settings ask for the primary (target_server_type: :primary)"
                        ),
                    ));
                }
                Ok(Connected {
                    canceller: CancelRequester::new(
                        client.cancel_token(),
                        target.clone(),
                        encrypted.then(|| (tls.clone(), endpoint.host.clone())),
                    ),
                    client,
                    connection,
                    farewell,
                })
            }
            Err(error) => Err(self.connect_error(endpoint, &error)),
        }
    }

    fn config(&self) -> Config {
        let mut config = Config::new();
        config
            .user(&self.user)
            .dbname(&self.dbname)
            .ssl_mode(SslMode::Disable)
            // No password given is an empty one: a server that asks for a password then
            // refuses it with SQLSTATE 28P01, where tokio-postgres would fail on its side
            // with an error told apart only by its text.
            .password(self.password.as_deref().unwrap_or(""));
        let mut options = Vec::new();
        for (name, value) in &self.parameters {
            match name.as_str() {
                "application_name" => {
                    config.application_name(value);
                }
                "options" => options.push(value.clone()),
                _ => options.push(format!(
                    "-c {}={}",
                    escape_option(name),
                    escape_option(value)
                )),
            }
        }
        if !options.is_empty() {
            config.options(options.join(" "));
        }
        config
    }

    /// The error of a failed startup: the server's refusal, TLS, or the connection.
    fn connect_error(&self, endpoint: &Endpoint, error: &tokio_postgres::Error) -> LoadError {
        if let Some(db_error) = error.as_db_error() {
            let refused = LoadError::server(db_error);
            if self.password.is_none() && db_error.code().code() == "28P01" {
                return LoadError::new(
                    ErrorReason::Auth,
                    format!(
                        "the server at {endpoint} asks for a password for user \"{}\" and none \
                         was given",
                        self.user
                    ),
                );
            }
            return refused;
        }
        if let Some(explained) = self
            .tls
            .as_ref()
            .and_then(|tls| tls.explain_failure(error, &endpoint.host))
        {
            return LoadError::new(
                ErrorReason::Connect,
                format!("cannot connect to {endpoint}: {explained}"),
            );
        }
        LoadError::new(
            ErrorReason::Connect,
            format!("cannot connect to {endpoint}: {}", error_chain(error)),
        )
    }

    /// Where the connection goes, for messages: the first endpoint, or all of them.
    pub(crate) fn endpoints_text(&self) -> String {
        self.endpoints
            .iter()
            .map(Endpoint::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The error when every endpoint failed: the only one's, or the last one's kind with a
/// message naming each failure, as Postgrex reports several endpoints.
fn several_failures(mut failures: Vec<(&Endpoint, LoadError)>) -> LoadError {
    if failures.len() == 1 {
        return failures.pop().expect("one failure").1;
    }
    let lines: Vec<String> = failures
        .iter()
        .map(|(endpoint, error)| format!("  * {endpoint}: {}", error.message()))
        .collect();
    let (_, last) = failures.pop().expect("several failures");
    LoadError::new(
        last.reason(),
        format!(
            "cannot connect to any of the {} endpoints:\n{}",
            lines.len(),
            lines.join("\n")
        ),
    )
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("endpoints", &self.endpoints)
            .field("address_family", &self.address_family)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "**redacted**"))
            .field("dbname", &self.dbname)
            .field("connect_timeout", &self.connect_timeout)
            .field("parameters", &self.parameters)
            .field("tls", &self.tls)
            .field("after_connect", &self.after_connect)
            .field("primary_only", &self.primary_only)
            .finish()
    }
}

/// Whether the server is a standby, asked before the connection is handed to a session
/// (so it is driven here, its notices dropped).
async fn is_standby(client: &Client, connection: &mut PgConnection) -> Result<bool, LoadError> {
    let mut asked = std::pin::pin!(client.simple_query("SELECT pg_catalog.pg_is_in_recovery()"));
    let answer = std::future::poll_fn(|cx| {
        while let std::task::Poll::Ready(Some(_)) = connection.poll_message(cx) {}
        asked.as_mut().poll(cx)
    })
    .await
    .map_err(|error| LoadError::postgres(&error))?;
    Ok(answer.iter().any(|message| {
        matches!(message, tokio_postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))
    }))
}

/// Escapes a value for the `options` startup parameter, which the server splits at
/// unescaped whitespace.
fn escape_option(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c.is_whitespace() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(host: &str) -> ConnectOptions {
        ConnectOptions {
            password: Some("hunter2-secret".to_owned()),
            parameters: vec![
                ("application_name".to_owned(), "deploy".to_owned()),
                ("search_path".to_owned(), "app, public".to_owned()),
            ],
            ..ConnectOptions::new(host, 5432, "app", "app_dev")
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?}", options("db.internal"));
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("**redacted**"), "{shown}");
    }

    #[test]
    fn endpoints_show_as_host_and_port_or_the_socket_file() {
        let endpoint = |host: &str| Endpoint {
            host: host.to_owned(),
            port: 5432,
        };
        assert_eq!(
            endpoint("/var/run/postgresql").to_string(),
            "/var/run/postgresql/.s.PGSQL.5432"
        );
        assert_eq!(endpoint("db.internal").to_string(), "db.internal:5432");
        assert_eq!(endpoint("::1").to_string(), "[::1]:5432");
    }

    #[test]
    fn parameters_become_application_name_and_escaped_options() {
        let config = options("db.internal").config();
        assert_eq!(config.get_application_name(), Some("deploy"));
        assert_eq!(config.get_options(), Some("-c search_path=app,\\ public"));
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn no_password_is_an_empty_one() {
        let mut without = options("db.internal");
        without.password = None;
        assert_eq!(without.config().get_password(), Some(&b""[..]));
    }

    #[test]
    fn several_failures_name_each_endpoint() {
        let first = Endpoint {
            host: "db1".to_owned(),
            port: 5432,
        };
        let second = Endpoint {
            host: "db2".to_owned(),
            port: 6432,
        };
        let error = several_failures(vec![
            (&first, LoadError::new(ErrorReason::Connect, "refused")),
            (&second, LoadError::new(ErrorReason::Auth, "bad password")),
        ]);
        assert_eq!(error.reason(), ErrorReason::Auth);
        assert_eq!(
            error.message(),
            "cannot connect to any of the 2 endpoints:\n  * db1:5432: refused\n  * db2:6432: bad password"
        );
    }
}
