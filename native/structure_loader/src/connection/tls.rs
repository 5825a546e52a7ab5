//! TLS for the server connection: rustls with the ring provider (no OpenSSL), configured
//! the way libpq's `sslmode` describes, and failures explained in plain words.

use crate::error::{ErrorReason, LoadError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use rustls::{Error as RustlsError, SignatureScheme};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How to secure the connection. Verification follows libpq's `sslmode` of the same name.
///
/// `Debug` shows the file paths and how many CA certificates were given. No key material
/// is ever held here: the client key stays in its file until connecting.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// What TLS must achieve: encryption only, or a verified server too.
    pub mode: TlsMode,
    /// Trusted CA certificates, DER-encoded, in addition to those in `ca_certificate_file`.
    /// Only the verifying modes use CAs; with none given they trust the system's CA store
    /// (which the runtime image must have: Debian's `ca-certificates`).
    pub ca_certificates: Vec<Vec<u8>>,
    /// A PEM file of trusted CA certificates (libpq's `sslrootcert`).
    pub ca_certificate_file: Option<PathBuf>,
    /// A PEM file with the client certificate (and any intermediates), for servers that
    /// authenticate clients by certificate (libpq's `sslcert`).
    pub client_certificate_file: Option<PathBuf>,
    /// The PEM file of the client certificate's private key, unencrypted (libpq's `sslkey`).
    pub client_key_file: Option<PathBuf>,
    /// The name to send (SNI) and to find in the server's certificate, when it is not the
    /// host connected to (Erlang's `server_name_indication`).
    pub server_name: Option<String>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("mode", &self.mode)
            .field("ca_certificates", &self.ca_certificates.len())
            .field("ca_certificate_file", &self.ca_certificate_file)
            .field("client_certificate_file", &self.client_certificate_file)
            .field("client_key_file", &self.client_key_file)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// What TLS must achieve for the connection to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// TLS when the server offers it, else plain text; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked (encryption only).
    Require,
    /// TLS with a certificate issued by a trusted CA, whatever name it is for.
    VerifyCa,
    /// TLS with a certificate issued by a trusted CA for the server's name.
    VerifyFull,
}

impl TlsMode {
    /// libpq's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

impl TlsOptions {
    /// `mode` with nothing else: the system's CAs, no client certificate, the host's name.
    pub fn new(mode: TlsMode) -> Self {
        TlsOptions {
            mode,
            ca_certificates: Vec::new(),
            ca_certificate_file: None,
            client_certificate_file: None,
            client_key_file: None,
            server_name: None,
        }
    }

    /// The rustls configuration: the trust store and verifier the mode asks for, and the
    /// client certificate if any. Reads the files named, and the system's CA store when
    /// verifying without CAs of its own.
    fn client_config(&self) -> Result<ClientConfig, LoadError> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| tls_setup_error(format!("cannot set up TLS: {error}")))?;
        let builder = match self.mode {
            TlsMode::Prefer | TlsMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptionOnly { provider })),
            TlsMode::VerifyFull => builder.with_root_certificates(self.trusted_roots()?),
            TlsMode::VerifyCa => {
                let verifier = WebPkiServerVerifier::builder_with_provider(
                    self.trusted_roots()?.into(),
                    provider,
                )
                .build()
                .map_err(|error| tls_setup_error(format!("cannot set up TLS: {error}")))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyNameFromTrustedCa(verifier)))
            }
        };
        match (&self.client_certificate_file, &self.client_key_file) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(certificate_file), Some(key_file)) => {
                let chain = read_certificates(certificate_file, "client certificate")?;
                let key = read_private_key(key_file)?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    tls_setup_error(format!(
                        "cannot use the client certificate {} with the key {}: {error}",
                        certificate_file.display(),
                        key_file.display()
                    ))
                })
            }
            (Some(_), None) | (None, Some(_)) => Err(tls_setup_error(
                "a client certificate needs both a certificate file and a key file",
            )),
        }
    }

    /// The CAs the verifying modes trust: those given, else the system's.
    fn trusted_roots(&self) -> Result<RootCertStore, LoadError> {
        let mut roots = RootCertStore::empty();
        if self.ca_certificates.is_empty() && self.ca_certificate_file.is_none() {
            let system = rustls_native_certs::load_native_certs();
            let (added, _unusable) = roots.add_parsable_certificates(system.certs);
            if added == 0 {
                return Err(tls_setup_error(
                    "no trusted CA certificates found on this system to verify the server \
                     with (install the ca-certificates package, or give the CA with \
                     ssl: [cacertfile: ...] or sslrootcert=...)",
                ));
            }
            return Ok(roots);
        }
        for (index, der) in self.ca_certificates.iter().enumerate() {
            roots
                .add(CertificateDer::from(der.as_slice()))
                .map_err(|error| {
                    tls_setup_error(format!(
                        "CA certificate {} of cacerts is not usable: {error}",
                        index + 1
                    ))
                })?;
        }
        if let Some(file) = &self.ca_certificate_file {
            for (index, certificate) in read_certificates(file, "CA certificate")?
                .into_iter()
                .enumerate()
            {
                roots.add(certificate).map_err(|error| {
                    tls_setup_error(format!(
                        "CA certificate {} in {} is not usable: {error}",
                        index + 1,
                        file.display()
                    ))
                })?;
            }
        }
        Ok(roots)
    }

    /// Who is trusted to vouch for the server, for messages.
    fn trusted_description(&self) -> String {
        let mut sources = Vec::new();
        if let Some(file) = &self.ca_certificate_file {
            sources.push(format!("the CA certificates in {}", file.display()));
        }
        if !self.ca_certificates.is_empty() {
            sources.push("the CA certificates given as cacerts".to_owned());
        }
        if sources.is_empty() {
            "the system's trusted CAs".to_owned()
        } else {
            sources.join(" and ")
        }
    }

    /// Explains a failed TLS handshake, if `error` is one: what was wrong with the
    /// server's certificate, or why the server broke off. Never shows key material: the
    /// parts used are rustls' classification, names and dates.
    pub(crate) fn explain_failure(
        &self,
        error: &tokio_postgres::Error,
        host: &str,
    ) -> Option<String> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let explained = match rustls_error(error)? {
            RustlsError::InvalidCertificate(problem) => match problem {
                CertificateError::Expired => "the server's certificate has expired".to_owned(),
                CertificateError::ExpiredContext { not_after, .. } => format!(
                    "the server's certificate has expired (it was valid until {})",
                    utc_date(not_after.as_secs())
                ),
                CertificateError::NotValidYet => {
                    "the server's certificate is not valid yet".to_owned()
                }
                CertificateError::NotValidYetContext { not_before, .. } => format!(
                    "the server's certificate is not valid yet (only from {})",
                    utc_date(not_before.as_secs())
                ),
                CertificateError::UnknownIssuer => format!(
                    "the server's certificate is not signed by a trusted CA (unknown issuer); \
                     trusted are {}",
                    self.trusted_description()
                ),
                CertificateError::NotValidForName => format!(
                    "the server's certificate does not match the host name \"{name}\" \
                     (name mismatch)"
                ),
                CertificateError::NotValidForNameContext { presented, .. } => format!(
                    "the server's certificate does not match the host name \"{name}\" \
                     (name mismatch: it is for {})",
                    if presented.is_empty() {
                        "no names".to_owned()
                    } else {
                        presented
                            .iter()
                            .map(|name| presented_name(name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                other => format!("the server's certificate was refused: {other}"),
            },
            RustlsError::AlertReceived(alert) => format!(
                "the server broke off the TLS handshake ({alert:?}){}",
                if self.client_certificate_file.is_some() {
                    "; it may not accept the client certificate"
                } else {
                    ""
                }
            ),
            other => format!("the TLS handshake failed: {other}"),
        };
        Some(explained)
    }
}

/// Makes the TLS sessions of a connection and of its cancel requests: the rustls
/// configuration of a [`TlsOptions`], and the server name to verify when it is not the
/// host. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    rustls: MakeRustlsConnect,
    server_name: Option<String>,
}

impl TlsConnector {
    pub(crate) fn new(options: Option<&TlsOptions>) -> Result<TlsConnector, LoadError> {
        match options {
            Some(options) => Ok(TlsConnector {
                rustls: MakeRustlsConnect::new(options.client_config()?),
                server_name: options.server_name.clone(),
            }),
            // A connection without TLS never starts a handshake; this configuration
            // trusts nothing, so even if it did, no handshake could succeed.
            None => Ok(TlsConnector {
                rustls: MakeRustlsConnect::new(
                    ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
                        .with_safe_default_protocol_versions()
                        .map_err(|error| tls_setup_error(format!("cannot set up TLS: {error}")))?
                        .with_root_certificates(RootCertStore::empty())
                        .with_no_client_auth(),
                ),
                server_name: None,
            }),
        }
    }
}

/// tokio-postgres's TLS connector for one server, over a stream `S` the loader opens.
pub(crate) type ServerTls<S> = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;

impl TlsConnector {
    /// The connector for a session with `host`, which verifies the server's certificate
    /// for the configured server name, else for `host`.
    pub(crate) fn for_server<S>(&self, host: &str) -> ServerTls<S>
    where
        MakeRustlsConnect: MakeTlsConnect<S, Error = std::convert::Infallible>,
    {
        let name = self.server_name.as_deref().unwrap_or(host);
        let Ok(connector) = MakeTlsConnect::<S>::make_tls_connect(&mut self.rustls.clone(), name);
        connector
    }
}

/// `sslmode=require`/`prefer`: any certificate will do, but the handshake signatures are
/// still checked, so the session is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct EncryptionOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptionOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `sslmode=verify-ca`: the full check of the chain, validity dates and signatures, with
/// any name accepted. The webpki verifier checks the name last, so a name mismatch means
/// everything else passed.
#[derive(Debug)]
struct AnyNameFromTrustedCa(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyNameFromTrustedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(RustlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        self.0
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        self.0
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The certificates of a PEM file; `what` names them in messages.
fn read_certificates(file: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let certificates = CertificateDer::pem_file_iter(file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| pem_error(file, what, &error))?;
    if certificates.is_empty() {
        return Err(pem_error(file, what, &pem::Error::NoItemsFound));
    }
    Ok(certificates)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
fn read_private_key(file: &Path) -> Result<PrivateKeyDer<'static>, LoadError> {
    PrivateKeyDer::from_pem_file(file).map_err(|error| pem_error(file, "private key", &error))
}

/// Why a PEM file could not be used. Only the I/O error and the kind of problem are
/// shown: the parser's own messages may quote lines of the file, which may be a key.
fn pem_error(file: &Path, what: &str, error: &pem::Error) -> LoadError {
    let why = match error {
        pem::Error::Io(io_error) => io_error.to_string(),
        pem::Error::NoItemsFound if what == "private key" => {
            "it holds no unencrypted PEM private key (encrypted keys are not supported)".to_owned()
        }
        pem::Error::NoItemsFound => format!("it holds no PEM {what}"),
        _ => "it is not a well-formed PEM file".to_owned(),
    };
    tls_setup_error(format!(
        "cannot read the {what} file {}: {why}",
        file.display()
    ))
}

fn tls_setup_error(message: impl Into<String>) -> LoadError {
    LoadError::new(ErrorReason::Connect, message)
}

/// The rustls error behind a failed connection, if TLS failed. tokio-rustls wraps it in
/// an `io::Error`, whose `source()` skips it, so each cause is also unwrapped by hand.
fn rustls_error(error: &tokio_postgres::Error) -> Option<&RustlsError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<RustlsError>() {
            return Some(found);
        }
        let wrapped = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io_error| io_error.get_ref())
            .and_then(|inner| inner.downcast_ref::<RustlsError>());
        if wrapped.is_some() {
            return wrapped;
        }
        cause = current.source();
    }
    None
}

/// A name from a certificate as rustls reports it (`DnsName("db.internal")`,
/// `IpAddress(10.0.0.5)`), bare.
fn presented_name(name: &str) -> &str {
    let bare = name
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        });
    bare.unwrap_or(name)
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch (proleptic Gregorian).
fn utc_date(seconds: u64) -> String {
    let days = seconds / 86_400;
    let time = seconds % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (none before it here).
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shown_in_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(1_609_459_200), "2021-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3_723), "2000-02-29 01:02:03 UTC");
        assert_eq!(utc_date(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn certificate_names_are_shown_bare() {
        assert_eq!(presented_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(presented_name("*.example.com"), "*.example.com");
    }

    #[test]
    fn a_key_file_that_is_no_pem_key_is_refused_without_quoting_it() {
        let directory = std::env::temp_dir().join(format!("sl-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let key = directory.join("client.key");
        let secret = "-----BEGIN PRIVATE KEY\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n";
        std::fs::write(&key, secret).unwrap();
        let certificate = directory.join("client.pem");
        std::fs::write(&certificate, "not a certificate\n").unwrap();

        let mut client = TlsOptions::new(TlsMode::Require);
        client.client_certificate_file = Some(certificate.clone());
        client.client_key_file = Some(key.clone());
        let error = TlsConnector::new(Some(&client)).err().unwrap();
        assert!(
            error.message().contains("holds no PEM client certificate"),
            "{error}"
        );

        std::fs::write(&certificate, CA_FOR_TESTS).unwrap();
        let error = TlsConnector::new(Some(&client)).err().unwrap();
        assert!(
            error.message().starts_with(&format!(
                "cannot read the private key file {}:",
                key.display()
            )),
            "{error}"
        );
        assert!(!error.message().contains("c2VjcmV0"), "{error}");
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn ca_certificates_may_come_as_der_and_garbage_is_named() {
        let der = CertificateDer::from_pem_slice(CA_FOR_TESTS.as_bytes()).unwrap();
        let mut verify = TlsOptions::new(TlsMode::VerifyCa);
        verify.ca_certificates = vec![der.to_vec()];
        assert!(TlsConnector::new(Some(&verify)).is_ok());

        verify.ca_certificates.push(b"not DER".to_vec());
        let error = TlsConnector::new(Some(&verify)).err().unwrap();
        assert!(
            error
                .message()
                .starts_with("CA certificate 2 of cacerts is not usable"),
            "{error}"
        );
    }

    #[test]
    fn the_trusted_cas_are_described_for_unknown_issuer_errors() {
        let mut verify = TlsOptions::new(TlsMode::VerifyFull);
        assert_eq!(verify.trusted_description(), "the system's trusted CAs");
        verify.ca_certificate_file = Some("/etc/db/ca.pem".into());
        assert_eq!(
            verify.trusted_description(),
            "the CA certificates in /etc/db/ca.pem"
        );
    }

    /// A self-signed CA certificate (EC P-256), only ever parsed here.
    const CA_FOR_TESTS: &str = "-----BEGIN CERTIFICATE-----
MIIBpDCCAUmgAwIBAgIUe0L5RzqV6CvAlaNYCIlFeCMKxI0wCgYIKoZIzj0EAwIw
JjEkMCIGA1UEAwwbc3RydWN0dXJlX2xvYWRlciB1bml0IHRlc3RzMCAXDTI2MTEy
NTE4MTUxOFoYDzIxMjYxMTAxMTgxNTE4WjAmMSQwIgYDVQQDDBtzdHJ1Y3R1cmVf
bG9hZGVyIHVuaXQgdGVzdHMwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASuG95e
momDtP+ajYAtu0HHrxC6UNWBl/5AuM1gq3GkCkSzSNBmSPHf3Wq0XULzQwVD98WK
zdZQRF/kPpoJNiDto1MwUTAdBgNVHQ4EFgQUEJw9Thtm+LQ2/cyhDHZyz80uiwkw
HwYDVR0jBBgwFoAUEJw9Thtm+LQ2/cyhDHZyz80uiwkwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNJADBGAiEAkbBm0Kfm/PsVOxgb/9zEM69Z40PG04RTDcJh
4m8Xea0CIQCmrnE0LzyrJuIdNOeGIADbCxXpb/rvW33oxIWmKXQfZQ==
-----END CERTIFICATE-----
";
}
