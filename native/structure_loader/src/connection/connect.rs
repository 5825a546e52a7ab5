use crate::connection::tls::{TlsConnector, TlsMode, TlsOptions};
use crate::error::{error_chain, ErrorReason, LoadError};
use std::error::Error as _;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, Socket};

/// Where and as whom to connect: TCP, with or without TLS, or a unix socket.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// A host name or IP address, or the absolute path of the directory holding the
    /// server's unix socket (`.s.PGSQL.PORT`).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    /// Bounds the whole connection set-up: name lookup, TCP or socket connect, and
    /// authentication.
    pub connect_timeout: Duration,
    /// Startup parameters, such as `application_name` or any server setting.
    pub parameters: Vec<(String, String)>,
    /// TLS, or `None` for plain text. Only [`TlsMode::Prefer`] ever falls back to plain
    /// text; over a unix socket (which carries no TLS) the other modes are an error.
    pub tls: Option<TlsOptions>,
}

pub(crate) type PgConnection = Connection<Socket, <TlsConnector as MakeTlsConnect<Socket>>::Stream>;

impl ConnectOptions {
    /// Opens a connection, failing after [`ConnectOptions::connect_timeout`] at most.
    ///
    /// Errors: [`ErrorReason::Connect`] when the server cannot be reached, set-up times
    /// out or TLS fails (the message says why: an expired or untrusted certificate, a
    /// name mismatch, a server without TLS), [`ErrorReason::Auth`] when it refuses the
    /// credentials (or the client certificate), [`ErrorReason::Database`] for any other
    /// server refusal (e.g. an unknown database).
    pub(crate) async fn connect(&self) -> Result<(Client, PgConnection), LoadError> {
        self.connect_with(self.tls_connector()?).await
    }

    /// [`ConnectOptions::connect`] with the connector already made, for a caller that
    /// keeps it for the connection's cancel requests.
    pub(crate) async fn connect_with(
        &self,
        tls: TlsConnector,
    ) -> Result<(Client, PgConnection), LoadError> {
        let config = self.config();
        match tokio::time::timeout(self.connect_timeout, config.connect(tls)).await {
            Ok(Ok(connected)) => Ok(connected),
            Ok(Err(error)) => Err(self.connect_error(&error)),
            Err(_elapsed) => Err(LoadError::new(
                ErrorReason::Connect,
                format!(
                    "timed out after {} ms connecting to {}",
                    self.connect_timeout.as_millis(),
                    self.endpoint()
                ),
            )),
        }
    }

    /// What makes the TLS sessions of these options: the connection's, and that of any
    /// query-cancel request for it (`CancelToken::cancel_query(connector)`), which must be
    /// secured the same way. Reads the certificate files (and the system's CA store when
    /// verifying without CAs given). Cheap to clone.
    pub(crate) fn tls_connector(&self) -> Result<TlsConnector, LoadError> {
        if let Some(tls) = &self.tls {
            if self.is_unix_socket() && tls.mode != TlsMode::Prefer {
                return Err(LoadError::new(
                    ErrorReason::Connect,
                    format!(
                        "cannot connect to {}: the settings require TLS (sslmode={}), but a \
                         unix socket carries no TLS; connect by host name instead",
                        self.endpoint(),
                        tls.mode.as_str()
                    ),
                ));
            }
        }
        TlsConnector::new(self.tls.as_ref())
    }

    fn is_unix_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    fn config(&self) -> Config {
        let mut config = Config::new();
        if self.is_unix_socket() {
            config.host_path(&self.host);
        } else {
            config.host(&self.host);
        }
        config
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(
                self.tls
                    .as_ref()
                    .map_or(SslMode::Disable, TlsOptions::ssl_mode),
            );
        if let Some(password) = &self.password {
            config.password(password);
        }
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

    /// Where the connection goes, for messages: `HOST:PORT` or the socket file.
    pub(crate) fn endpoint(&self) -> String {
        if self.is_unix_socket() {
            Path::new(&self.host)
                .join(format!(".s.PGSQL.{}", self.port))
                .display()
                .to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn connect_error(&self, error: &tokio_postgres::Error) -> LoadError {
        if let Some(db_error) = error.as_db_error() {
            return LoadError::server(db_error);
        }
        let tls_failure = self
            .tls
            .as_ref()
            .and_then(|tls| tls.explain_failure(error, &self.host));
        if let Some(explained) = tls_failure {
            return LoadError::new(
                ErrorReason::Connect,
                format!("cannot connect to {}: {explained}", self.endpoint()),
            );
        }
        // tokio-postgres reports "the server wants a password but none was given" as a
        // configuration error whose cause says so; the kind itself is private.
        let password_missing = error
            .source()
            .is_some_and(|cause| cause.to_string() == "password missing");
        if password_missing {
            return LoadError::new(
                ErrorReason::Auth,
                format!(
                    "the server at {} asks for a password for user \"{}\" and none was given",
                    self.endpoint(),
                    self.user
                ),
            );
        }
        let reason = if error.to_string() == "authentication error" {
            ErrorReason::Auth
        } else {
            ErrorReason::Connect
        };
        LoadError::new(
            reason,
            format!(
                "cannot connect to {}: {}",
                self.endpoint(),
                error_chain(error)
            ),
        )
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "**redacted**"))
            .field("dbname", &self.dbname)
            .field("connect_timeout", &self.connect_timeout)
            .field("parameters", &self.parameters)
            .field("tls", &self.tls)
            .finish()
    }
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
            host: host.to_owned(),
            port: 5432,
            user: "app".to_owned(),
            password: Some("hunter2-secret".to_owned()),
            dbname: "app_dev".to_owned(),
            connect_timeout: Duration::from_secs(5),
            parameters: vec![
                ("application_name".to_owned(), "deploy".to_owned()),
                ("search_path".to_owned(), "app, public".to_owned()),
            ],
            tls: None,
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?}", options("db.internal"));
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("**redacted**"), "{shown}");
    }

    #[test]
    fn a_leading_slash_means_a_unix_socket_directory() {
        let config = options("/var/run/postgresql").config();
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Unix(
                "/var/run/postgresql".into()
            )]
        );
        assert_eq!(
            options("/var/run/postgresql").endpoint(),
            "/var/run/postgresql/.s.PGSQL.5432"
        );
        assert_eq!(options("db.internal").endpoint(), "db.internal:5432");
    }

    #[test]
    fn parameters_become_application_name_and_escaped_options() {
        let config = options("db.internal").config();
        assert_eq!(config.get_application_name(), Some("deploy"));
        assert_eq!(config.get_options(), Some("-c search_path=app,\\ public"));
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn tls_modes_set_the_ssl_mode_and_only_prefer_may_fall_back() {
        let mut with_tls = options("db.internal");
        with_tls.tls = Some(TlsOptions::new(TlsMode::Prefer));
        assert_eq!(with_tls.config().get_ssl_mode(), SslMode::Prefer);
        with_tls.tls = Some(TlsOptions::new(TlsMode::Require));
        assert_eq!(with_tls.config().get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn tls_over_a_unix_socket_is_refused_unless_preferred() {
        let mut socket = options("/var/run/postgresql");
        socket.tls = Some(TlsOptions::new(TlsMode::Require));
        let error = socket.tls_connector().err().unwrap();
        assert_eq!(error.reason(), ErrorReason::Connect);
        assert_eq!(
            error.message(),
            "cannot connect to /var/run/postgresql/.s.PGSQL.5432: the settings require TLS \
             (sslmode=require), but a unix socket carries no TLS; connect by host name instead"
        );
        socket.tls = Some(TlsOptions::new(TlsMode::Prefer));
        assert!(socket.tls_connector().is_ok());
    }
}
