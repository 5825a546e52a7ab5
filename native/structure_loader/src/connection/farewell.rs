//! The server's last words. A server that ends a session (`pg_terminate_backend`, a
//! shutdown) sends a `FATAL` error, then closes the connection. tokio-postgres hands that
//! error to the request in flight, but a request that is still sending (COPY data) fails
//! on the closed socket first and never reads it. [`Watched`] reads the server's messages
//! as they pass, keeps the last `FATAL` or `PANIC` error in a [`Farewell`], and so the
//! load can report why the server left rather than only that it did.

use crate::error::LoadError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// Error messages longer than this are not kept (the server's are far shorter).
const MAX_KEPT_BYTES: usize = 64 * 1024;

/// The last `FATAL` or `PANIC` error the server sent, shared by a stream and its session.
#[derive(Clone, Default)]
pub(crate) struct Farewell(Arc<Mutex<Option<LoadError>>>);

impl Farewell {
    /// The server's last `FATAL` or `PANIC` error, if it sent one.
    pub(crate) fn last_words(&self) -> Option<LoadError> {
        self.0.lock().map_or(None, |kept| kept.clone())
    }

    fn keep(&self, error: LoadError) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some(error);
        }
    }
}

/// A stream from the server whose bytes are read through the protocol's framing as they
/// pass (one type byte, a four-byte length, the body), keeping error bodies only.
pub(crate) struct Watched<S> {
    inner: S,
    /// Off for the raw stream under TLS, whose bytes are ciphertext.
    watching: bool,
    framing: Framing,
    farewell: Farewell,
}

#[derive(Default)]
struct Framing {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
    /// The body of an `ErrorResponse` being read.
    error_body: Option<Vec<u8>>,
}

impl<S> Watched<S> {
    /// Watches `inner` for the server's last words, kept in `farewell`.
    pub(crate) fn new(inner: S, farewell: Farewell) -> Self {
        Watched {
            inner,
            watching: true,
            framing: Framing::default(),
            farewell,
        }
    }

    /// The same stream, its bytes no longer read: TLS goes over it.
    pub(crate) fn unwatched(mut self) -> Self {
        self.watching = false;
        self
    }

    /// What this stream keeps the server's last words in.
    pub(crate) fn farewell(&self) -> &Farewell {
        &self.farewell
    }
}

impl Framing {
    /// Reads `bytes`, the next ones from the server, calling `done` with each complete
    /// `ErrorResponse` body.
    fn read(&mut self, mut bytes: &[u8], done: &mut impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            if self.header_len < self.header.len() {
                let n = (self.header.len() - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == self.header.len() {
                    let length = u32::from_be_bytes(self.header[1..5].try_into().expect("4"));
                    self.body_left = (length as usize).saturating_sub(4);
                    self.error_body = (self.header[0] == b'E' && self.body_left <= MAX_KEPT_BYTES)
                        .then(|| Vec::with_capacity(self.body_left));
                    self.end_if_complete(done);
                }
            } else {
                let n = self.body_left.min(bytes.len());
                if let Some(body) = &mut self.error_body {
                    body.extend_from_slice(&bytes[..n]);
                }
                self.body_left -= n;
                bytes = &bytes[n..];
                self.end_if_complete(done);
            }
        }
    }

    fn end_if_complete(&mut self, done: &mut impl FnMut(&[u8])) {
        if self.body_left == 0 {
            if let Some(body) = self.error_body.take() {
                done(&body);
            }
            self.header_len = 0;
        }
    }
}

/// The error an `ErrorResponse` body describes if it ends the session (`FATAL`, `PANIC`).
fn session_ending_error(body: &[u8]) -> Option<LoadError> {
    let mut fields = Vec::new();
    let mut rest = body;
    while let [kind, tail @ ..] = rest {
        if *kind == 0 {
            break;
        }
        let end = tail.iter().position(|&byte| byte == 0)?;
        fields.push((*kind, String::from_utf8_lossy(&tail[..end]).into_owned()));
        rest = &tail[end + 1..];
    }
    let field = |kind: u8| {
        fields
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, value)| value.as_str())
    };
    // `V` is never localized; servers before 9.6 send only `S`.
    let severity = field(b'V').or(field(b'S'))?;
    if severity != "FATAL" && severity != "PANIC" {
        return None;
    }
    Some(LoadError::server_fields(
        severity,
        field(b'C')?,
        field(b'M')?,
        field(b'D'),
        field(b'H'),
        field(b'W'),
    ))
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.watching {
            let farewell = &this.farewell;
            this.framing.read(&buf.filled()[before..], &mut |body| {
                if let Some(error) = session_ending_error(body) {
                    farewell.keep(error);
                }
            });
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A TLS connector whose sessions are [`Watched`]: the server's messages are read where
/// they are plain text, above TLS, and the raw stream beneath is left alone.
pub(crate) struct WatchedTls<T>(pub(crate) T);

impl<S, T> TlsConnect<Watched<S>> for WatchedTls<T>
where
    T: TlsConnect<Watched<S>>,
    T::Future: 'static,
{
    type Stream = Watched<T::Stream>;
    type Error = T::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, T::Error>>>>;

    fn connect(self, stream: Watched<S>) -> Self::Future {
        let farewell = stream.farewell().clone();
        let handshake = self.0.connect(stream.unwatched());
        Box::pin(async move { Ok(Watched::new(handshake.await?, farewell)) })
    }
}

impl<S: TlsStream + Unpin> TlsStream for Watched<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    const TERMINATED: &[u8] = b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to \
        administrator command\0\0";

    fn errors_in(stream: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut framing = Framing::default();
        let mut found = Vec::new();
        for piece in stream.chunks(chunk) {
            framing.read(piece, &mut |body| found.push(body.to_vec()));
        }
        found
    }

    #[test]
    fn error_bodies_are_found_between_other_messages_however_the_bytes_arrive() {
        let mut stream = message(b'C', b"INSERT 0 1\0");
        stream.extend(message(b'Z', b"T"));
        stream.extend(message(b'E', TERMINATED));
        stream.extend(message(b'S', b"a\0b\0"));
        for chunk in [1, 2, 5, 7, stream.len()] {
            assert_eq!(
                errors_in(&stream, chunk),
                [TERMINATED],
                "in chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_fatal_error_is_kept_with_its_fields_and_an_error_is_not() {
        let error = session_ending_error(TERMINATED).unwrap();
        assert_eq!(error.severity(), Some("FATAL"));
        assert_eq!(error.sqlstate(), Some("57P01"));
        assert_eq!(
            error.message(),
            "terminating connection due to administrator command"
        );
        assert!(session_ending_error(b"SERROR\0VERROR\0C42P01\0Mno\0\0").is_none());
        assert!(session_ending_error(b"SFATAL\0C57P01\0").is_none());
    }
}
