//! The wire CancelRequest: asking the server, on a connection of its own, to cancel what a
//! session's backend is running.

use crate::connection::stream::{ServerStream, Target, TlsAnswer};
use crate::connection::tls::TlsConnector;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio_postgres::{CancelToken, NoTls};

/// Sends cancel requests for one session's backend.
#[derive(Clone)]
pub(crate) struct CancelRequester {
    token: CancelToken,
    /// Where the session went: the cancel request goes to the same address.
    target: Target,
    /// The session's TLS and the host it verified, when it has TLS: the request is
    /// encrypted the same way.
    tls: Option<(TlsConnector, String)>,
}

impl CancelRequester {
    pub(crate) fn new(
        token: CancelToken,
        target: Target,
        tls: Option<(TlsConnector, String)>,
    ) -> Self {
        CancelRequester { token, target, tls }
    }

    /// Asks the server to cancel what the session's backend is running, as libpq's
    /// `PQcancel` does: on a new connection, then waiting for the server to close it.
    /// tokio-postgres's `CancelToken::cancel_query_raw` writes the request; it also shuts
    /// the connection down at once, which makes PgBouncer 1.18 (Debian 12's) abort with
    /// "bad client state", dropping every client of the pooler, so it is given a stream
    /// that ignores the shutdown and hands the connection back to be waited on.
    pub(crate) async fn send(self) -> io::Result<()> {
        let mut stream = ServerStream::open(&self.target).await?;
        let (handed_back, connection) = oneshot::channel();
        let sent = match self.tls {
            // The session negotiated TLS before tokio-postgres took over; so does this.
            Some((tls, host)) => {
                if stream.request_tls().await? != TlsAnswer::Willing {
                    return Err(io::Error::other("the server no longer offers TLS"));
                }
                self.token
                    .cancel_query_raw(
                        KeepOpen::new(stream, handed_back),
                        tls.for_server::<KeepOpen>(&host),
                    )
                    .await
            }
            None => {
                self.token
                    .cancel_query_raw(KeepOpen::new(stream, handed_back), NoTls)
                    .await
            }
        };
        sent.map_err(io::Error::other)?;
        let mut stream = connection
            .await
            .map_err(|_| io::Error::other("the cancel connection was not handed back"))?;
        let mut discard = [0; 64];
        while stream.read(&mut discard).await? > 0 {}
        Ok(())
    }
}

/// A stream whose shutdown does nothing, and which hands its connection back when
/// dropped, so that the connection stays open after tokio-postgres is done with it.
struct KeepOpen {
    stream: Option<ServerStream>,
    handed_back: Option<oneshot::Sender<ServerStream>>,
}

impl KeepOpen {
    fn new(stream: ServerStream, handed_back: oneshot::Sender<ServerStream>) -> Self {
        KeepOpen {
            stream: Some(stream),
            handed_back: Some(handed_back),
        }
    }

    fn stream(&mut self) -> Pin<&mut ServerStream> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("the stream is there until dropped"),
        )
    }
}

impl Drop for KeepOpen {
    fn drop(&mut self) {
        if let (Some(stream), Some(handed_back)) = (self.stream.take(), self.handed_back.take()) {
            let _ = handed_back.send(stream);
        }
    }
}

impl AsyncRead for KeepOpen {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for KeepOpen {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
