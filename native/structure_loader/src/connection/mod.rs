//! Talking to the server: where and how to connect ([`ConnectOptions`], [`TlsOptions`]),
//! the session that drives one connection's requests and forwards the server's
//! [`Notice`]s, what stops those requests ([`CancelHandle`], a time limit), and the wire
//! CancelRequest that asks the server to cancel one.

pub(crate) mod cancel_request;
pub(crate) mod connect;
pub(crate) mod farewell;
pub(crate) mod notice;
pub(crate) mod session;
pub(crate) mod stop;
pub(crate) mod stream;
pub(crate) mod tls;

pub use connect::{AddressFamily, ConnectOptions, Endpoint};
pub use notice::Notice;
pub use stop::CancelHandle;
pub use tls::{TlsMode, TlsOptions};
