//! One server connection, driven on the calling thread so that server notices reach
//! the caller's callback while a statement runs.

use crate::connect::{ConnectOptions, PgConnection};
use crate::load_error::{ErrorReason, LoadError};
use crate::notice::Notice;
use bytes::Bytes;
use futures_util::{SinkExt, Stream};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{
    AsyncMessage, Client, CopyInSink, Row, SimpleQueryMessage, SimpleQueryStream,
};

/// How long closing waits for the server to acknowledge the end of the session.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `future` to completion on a fresh single-threaded runtime on this thread.
///
/// Each call gets its own runtime, so callers need no runtime of their own and nothing
/// outlives the call.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, LoadError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| LoadError::internal(format!("cannot start the I/O runtime: {error}")))?;
    Ok(runtime.block_on(future))
}

/// A connection whose every request is driven through [`Session`] methods.
///
/// tokio-postgres splits a connection into a `Client` (requests) and a `Connection`
/// (the socket). Instead of spawning the socket half, each request polls it alongside the
/// request, so notices are delivered in order, live, to a callback that need not be
/// `Send`.
pub(crate) struct Session<'n> {
    client: Client,
    socket: Socket<'n>,
}

/// The socket half: the connection, where notices go, and whether it has ended.
struct Socket<'n> {
    connection: PgConnection,
    on_notice: &'n mut dyn FnMut(Notice),
    /// The dump line notices are attributed to: that of the statement running now.
    notice_line: Option<u64>,
    /// Why the connection ended, once it has; it must not be polled after that.
    ended: Option<LoadError>,
}

impl<'n> Session<'n> {
    pub(crate) async fn connect(
        options: &ConnectOptions,
        on_notice: &'n mut dyn FnMut(Notice),
    ) -> Result<Session<'n>, LoadError> {
        let (client, connection) = options.connect().await?;
        Ok(Session {
            client,
            socket: Socket {
                connection,
                on_notice,
                notice_line: None,
                ended: None,
            },
        })
    }

    /// Attributes the notices of the requests that follow to `line` of the dump.
    pub(crate) fn set_notice_line(&mut self, line: Option<u64>) {
        self.socket.notice_line = line;
    }

    /// Sends a notice of the loader's own to the callback.
    pub(crate) fn notify(&mut self, notice: Notice) {
        (self.socket.on_notice)(notice);
    }

    /// Runs `sql` through the simple-query protocol, discarding any rows.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), LoadError> {
        self.socket.drive(self.client.batch_execute(sql)).await
    }

    /// Runs `prelude`, then `sql`, a message of several statements, through the
    /// simple-query protocol, attributing each notice to `lines[i]`, the dump line of the
    /// i-th statement the server reports on. On error, also says how many statements of
    /// `sql` completed before it. Both messages go out together: the prelude costs no
    /// round trip of its own.
    pub(crate) async fn execute_counted(
        &mut self,
        prelude: &str,
        sql: &str,
        lines: &[u64],
    ) -> Result<(), (LoadError, usize)> {
        // The prelude goes out first and the message right behind it, without waiting
        // for the prelude's answer: polling its request once sends it.
        let mut prelude = pin!(self.client.batch_execute(prelude));
        let prelude_polled = poll_fn(|cx| Poll::Ready(prelude.as_mut().poll(cx))).await;
        let prelude = match prelude_polled {
            Poll::Ready(answered) => {
                answered.map_err(|error| (LoadError::postgres(&error), 0))?;
                None
            }
            Poll::Pending => Some(prelude),
        };
        // Sending needs no help from the connection: this resolves at once.
        let stream = self
            .client
            .simple_query_raw(sql)
            .await
            .map_err(|error| (LoadError::postgres(&error), 0))?;
        let mut completed = 0;
        self.socket
            .drive_counted(pin!(stream), prelude, lines, &mut completed)
            .await
            .map_err(|error| (error, completed))
    }

    /// Runs one parameterized query through the unnamed statement (nothing prepared
    /// stays behind on the server).
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, LoadError> {
        self.socket
            .drive(self.client.query_typed(sql, params))
            .await
    }

    /// Starts `COPY ... FROM STDIN`.
    pub(crate) async fn copy_in(&mut self, sql: &str) -> Result<CopyIn, LoadError> {
        let sink = self.socket.drive(self.client.copy_in(sql)).await?;
        Ok(CopyIn {
            sink: Box::pin(sink),
        })
    }

    /// Sends COPY data lines; they may be buffered until [`Session::finish_copy`].
    pub(crate) async fn copy_data(
        &mut self,
        copy: &mut CopyIn,
        data: Vec<u8>,
    ) -> Result<(), LoadError> {
        let sent = self.socket.drive(copy.sink.feed(Bytes::from(data))).await;
        match sent {
            Ok(()) => Ok(()),
            // A sink that failed only says "closed"; the server's reason comes with the end.
            Err(error) => Err(self.finish_copy(copy).await.err().unwrap_or(error)),
        }
    }

    /// Ends the COPY data and returns how many rows the server stored.
    pub(crate) async fn finish_copy(&mut self, copy: &mut CopyIn) -> Result<u64, LoadError> {
        self.socket.drive(copy.sink.as_mut().finish()).await
    }

    /// Rolls back the open transaction if the connection still works, ignoring failure:
    /// the server rolls back anyway when the connection ends.
    pub(crate) async fn rollback(&mut self) {
        if self.socket.ended.is_none() {
            let _ = self.execute("ROLLBACK").await;
        }
    }

    /// Ends the session politely (Terminate), waiting briefly for the socket to close.
    pub(crate) async fn close(self) {
        let Session { client, mut socket } = self;
        drop(client);
        if socket.ended.is_none() {
            let _ = tokio::time::timeout(
                CLOSE_TIMEOUT,
                socket.drive(std::future::pending::<Result<(), _>>()),
            )
            .await;
        }
    }
}

/// An open `COPY ... FROM STDIN`.
pub(crate) struct CopyIn {
    sink: Pin<Box<CopyInSink<Bytes>>>,
}

impl Socket<'_> {
    /// Like [`Socket::drive`], for the responses to a message of several statements and
    /// to the prelude sent just before it:
    /// counts the statements that complete, and before passing on a notice takes in every
    /// response the server sent before it, so the notice goes with its own statement.
    async fn drive_counted<P: Future<Output = Result<(), tokio_postgres::Error>>>(
        &mut self,
        mut stream: Pin<&mut SimpleQueryStream>,
        mut prelude: Option<Pin<&mut P>>,
        lines: &[u64],
        completed: &mut usize,
    ) -> Result<(), LoadError> {
        poll_fn(|cx| loop {
            if let Some(request) = prelude.as_mut() {
                match request.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => prelude = None,
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Err(LoadError::postgres(&error)))
                    }
                    Poll::Pending => {}
                }
            }
            if let Some(done) = take_ready_responses(stream.as_mut(), cx, completed) {
                return Poll::Ready(done);
            }
            if let Some(ended) = &self.ended {
                return Poll::Ready(Err(ended.clone()));
            }
            match self.connection.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                    // The responses the server sent before this notice are in the stream
                    // now: count them first, so the notice goes with its own statement.
                    let done = take_ready_responses(stream.as_mut(), cx, completed);
                    let line = lines.get(*completed).copied();
                    (self.on_notice)(Notice::from_server(&notice, line));
                    if let Some(done) = done {
                        return Poll::Ready(done);
                    }
                }
                Poll::Ready(Some(Ok(_notification))) => {}
                Poll::Ready(Some(Err(error))) => self.ended = Some(LoadError::postgres(&error)),
                Poll::Ready(None) => self.ended = Some(connection_closed()),
                Poll::Pending => return Poll::Pending,
            }
        })
        .await
    }

    /// Polls `request` and the connection together until the request completes, passing
    /// notices to the callback as they arrive. Fails at once if the connection ends.
    async fn drive<T>(
        &mut self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, LoadError> {
        let mut request = pin!(request);
        poll_fn(|cx| {
            while self.ended.is_none() {
                match self.connection.poll_message(cx) {
                    Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                        (self.on_notice)(Notice::from_server(&notice, self.notice_line));
                    }
                    Poll::Ready(Some(Ok(_notification))) => {}
                    Poll::Ready(Some(Err(error))) => self.ended = Some(LoadError::postgres(&error)),
                    Poll::Ready(None) => self.ended = Some(connection_closed()),
                    Poll::Pending => break,
                }
            }
            let polled = request
                .as_mut()
                .poll(cx)
                .map_err(|error| LoadError::postgres(&error));
            match &self.ended {
                // A request the server answered before leaving (e.g. with a FATAL error)
                // keeps that answer; any other would wait forever on a dead connection.
                Some(ended) if polled.is_pending() => Poll::Ready(Err(ended.clone())),
                _ => polled,
            }
        })
        .await
    }
}

/// Takes every response already received, counting completed statements; the outcome
/// once the server has answered the whole message.
fn take_ready_responses(
    mut stream: Pin<&mut SimpleQueryStream>,
    cx: &mut std::task::Context<'_>,
    completed: &mut usize,
) -> Option<Result<(), LoadError>> {
    loop {
        match stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(SimpleQueryMessage::CommandComplete(_)))) => *completed += 1,
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(error))) => return Some(Err(LoadError::postgres(&error))),
            Poll::Ready(None) => return Some(Ok(())),
            Poll::Pending => return None,
        }
    }
}

fn connection_closed() -> LoadError {
    LoadError::new(ErrorReason::Connect, "the server closed the connection")
}
