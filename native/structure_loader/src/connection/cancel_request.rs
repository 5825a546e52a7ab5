//! The wire CancelRequest: asking the server, on a connection of its own, to cancel what a
//! session's backend is running.

use futures_util::FutureExt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_postgres::CancelToken;

/// Sends cancel requests for one session's backend.
#[derive(Clone)]
pub(crate) struct CancelRequester {
    /// The CancelRequest message (backend process id and secret key), if it could be made.
    message: Option<[u8; CANCEL_REQUEST_LENGTH]>,
    /// The host name or address, or unix-socket directory, and port connected to.
    host: String,
    port: u16,
}

const CANCEL_REQUEST_LENGTH: usize = 16;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

impl CancelRequester {
    pub(crate) fn new(token: &CancelToken, host: &str, port: u16) -> Self {
        CancelRequester {
            message: cancel_request_message(token),
            host: host.to_owned(),
            port,
        }
    }

    /// Asks the server to cancel what the session's backend is running, as libpq's
    /// `PQcancel` does: on a new plain connection (the server answers a cancel request
    /// before any TLS or authentication, whatever the main connection uses), then waiting
    /// for the server to close that connection. tokio-postgres's own
    /// `CancelToken::cancel_query` closes it first, which makes PgBouncer 1.18 (Debian
    /// 12's) abort with "bad client state", dropping every client of the pooler.
    pub(crate) async fn send(self) -> io::Result<()> {
        let message = self
            .message
            .ok_or_else(|| io::Error::other("tokio-postgres wrote an unexpected cancel request"))?;
        if self.host.starts_with('/') {
            let socket = Path::new(&self.host).join(format!(".s.PGSQL.{}", self.port));
            send_on(UnixStream::connect(socket).await?, &message).await
        } else {
            let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
            send_on(stream, &message).await
        }
    }
}

async fn send_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    message: &[u8],
) -> io::Result<()> {
    stream.write_all(message).await?;
    let mut discard = [0; 64];
    while stream.read(&mut discard).await? > 0 {}
    Ok(())
}

/// The CancelRequest message for `token`'s backend. Its process id and secret key are
/// private to tokio-postgres, so this lets it write the request into memory, answering
/// "go ahead" to the TLS request it sends first when the connection uses TLS.
fn cancel_request_message(token: &CancelToken) -> Option<[u8; CANCEL_REQUEST_LENGTH]> {
    let mut written = Vec::new();
    token
        .cancel_query_raw(Captured(&mut written), Unencrypted)
        .now_or_never()?
        .ok()?;
    let message: [u8; CANCEL_REQUEST_LENGTH] = written
        .get(written.len().checked_sub(CANCEL_REQUEST_LENGTH)?..)?
        .try_into()
        .ok()?;
    let is_cancel_request = message[..4] == (CANCEL_REQUEST_LENGTH as u32).to_be_bytes()
        && message[4..8] == CANCEL_REQUEST_CODE.to_be_bytes();
    is_cancel_request.then_some(message)
}

/// An in-memory stream that keeps what is written and reads `S` (TLS accepted).
struct Captured<'a>(&'a mut Vec<u8>);

impl AsyncRead for Captured<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        buf.put_slice(b"S");
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Captured<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl TlsStream for Captured<'_> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// A TLS "handshake" that leaves [`Captured`] as it is.
struct Unencrypted;

impl<'a> TlsConnect<Captured<'a>> for Unencrypted {
    type Stream = Captured<'a>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Captured<'a>>>;

    fn connect(self, stream: Captured<'a>) -> Self::Future {
        std::future::ready(Ok(stream))
    }
}
