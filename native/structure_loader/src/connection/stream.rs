//! The byte stream to a server: a TCP connection or a unix socket, opened here rather than
//! by tokio-postgres so that the loader decides where to connect (endpoints in order, the
//! address family) and negotiates TLS itself.

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Where one connection goes: an address, or a unix socket file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// An open connection to a server, before or after TLS is set up over it.
#[derive(Debug)]
pub(crate) enum ServerStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The server's answer to an SSLRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsAnswer {
    /// `S`: the TLS handshake comes next.
    Willing,
    /// `N`: the server does not do TLS (a unix socket, or `ssl = off`).
    Unwilling,
}

impl ServerStream {
    pub(crate) async fn open(target: &Target) -> io::Result<ServerStream> {
        match target {
            Target::Tcp(address) => {
                let stream = TcpStream::connect(address).await?;
                // Statements and COPY data go out as soon as they are written, as libpq's do.
                stream.set_nodelay(true)?;
                Ok(ServerStream::Tcp(stream))
            }
            Target::Unix(path) => Ok(ServerStream::Unix(UnixStream::connect(path).await?)),
        }
    }

    /// Sends an SSLRequest (the protocol's way to ask for TLS before anything else) and
    /// reads the one-byte answer.
    pub(crate) async fn request_tls(&mut self) -> io::Result<TlsAnswer> {
        let mut request = BytesMut::new();
        frontend::ssl_request(&mut request);
        self.write_all(&request).await?;
        match self.read_u8().await? {
            b'S' => Ok(TlsAnswer::Willing),
            b'N' => Ok(TlsAnswer::Unwilling),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the server answered the request for TLS with byte 0x{other:02X}, not S or N"
                ),
            )),
        }
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            ServerStream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            ServerStream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            ServerStream::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerStream::Tcp(stream) => stream.is_write_vectored(),
            ServerStream::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            ServerStream::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            ServerStream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
