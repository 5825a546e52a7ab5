//! One server connection, driven on the calling thread so that server notices reach
//! the caller's callback while a statement runs.

use crate::connection::cancel_request::CancelRequester;
use crate::connection::connect::{ConnectOptions, Connected, PgConnection};
use crate::connection::farewell::Farewell;
use crate::connection::notice::Notice;
use crate::connection::stop::{Stop, StopReason, CANCEL_GRACE, CANCEL_RETRY};
use crate::error::{ErrorReason, LoadError, COMMIT_UNKNOWN};
use bytes::Bytes;
use futures_util::future::join;
use futures_util::{SinkExt, Stream};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
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
///
/// Every request also watches the session's [`Stop`]: once a stop is due, no new request
/// is sent, and the one in flight is cancelled on the server (see [`crate::connection::stop`]).
pub(crate) struct Session<'n> {
    client: Client,
    driver: Driver<'n>,
    /// The repository's after-connect SQL, run by [`Session::run_after_connect`].
    after_connect: Vec<String>,
}

/// What drives the connection: the socket half of tokio-postgres's connection, where
/// notices go, whether it has ended, and what stops its requests.
struct Driver<'n> {
    connection: PgConnection,
    on_notice: &'n mut dyn FnMut(Notice),
    /// The dump line notices are attributed to: that of the statement running now.
    notice_line: Option<u64>,
    /// Why the connection ended, once it has; it must not be polled after that.
    ended: Option<LoadError>,
    stop: Stop,
    canceller: CancelRequester,
    farewell: Farewell,
    /// A stop that came while a request was in flight, waiting for the server to end it.
    stopping: Option<Stopping>,
    /// Why the session was stopped, once it has been: every later request fails with it.
    stopped: Option<LoadError>,
    /// A cancel request still on its way when the stopped request ended; closing the
    /// session gives it a moment to arrive (a pooler may forward it only once this
    /// session's server connection is free).
    unfinished_cancel: Option<CancelFuture>,
}

type CancelFuture = Pin<Box<dyn Future<Output = ()>>>;

/// What a stop does to a request in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnStop {
    /// It is cancelled on the server.
    Cancel,
    /// `COMMIT`: its outcome is awaited (for [`CANCEL_GRACE`]) rather than cancelled, so
    /// that the load never reports a failure for a transaction the server committed.
    AwaitAnswer,
}

/// A stop that came while a request was in flight.
struct Stopping {
    reason: StopReason,
    on_stop: OnStop,
    /// When to stop waiting for the server.
    give_up: Pin<Box<Sleep>>,
    canceller: CancelRequester,
    /// The cancel request being sent, if any.
    cancel_request: Option<CancelFuture>,
    /// When to send the cancel request again.
    retry: Pin<Box<Sleep>>,
}

impl<'n> Session<'n> {
    /// Connects, unless `stop` comes first. `stop` then governs every request of the session.
    pub(crate) async fn connect(
        options: &ConnectOptions,
        on_notice: &'n mut dyn FnMut(Notice),
        mut stop: Stop,
    ) -> Result<Session<'n>, LoadError> {
        let mut connecting = pin!(options.connect());
        let Connected {
            client,
            connection,
            canceller,
            farewell,
        } = poll_fn(|cx| match stop.poll(cx) {
            Poll::Ready(reason) => {
                Poll::Ready(Err(reason.error_connecting(&options.endpoints_text())))
            }
            Poll::Pending => connecting.as_mut().poll(cx),
        })
        .await?;
        Ok(Session {
            client,
            after_connect: options.after_connect.clone(),
            driver: Driver {
                connection,
                on_notice,
                notice_line: None,
                ended: None,
                stop,
                canceller,
                farewell,
                stopping: None,
                stopped: None,
                unfinished_cancel: None,
            },
        })
    }

    /// Fails if a stop is due, for code that goes without the server for a while, and
    /// before sending what [`Driver::drive`] does not.
    pub(crate) fn check_stop(&mut self) -> Result<(), LoadError> {
        if let Some(stopped) = &self.driver.stopped {
            return Err(stopped.clone());
        }
        match self.driver.stop.due() {
            Some(reason) => {
                let error = reason.error();
                self.driver.stopped = Some(error.clone());
                Err(error)
            }
            None => Ok(()),
        }
    }

    /// Whether the session's stop is due, for code that goes without the server for a
    /// while and cannot poll (see [`Stop::checker`]).
    pub(crate) fn stop_checker(&self) -> impl FnMut() -> bool + 'static {
        self.driver.stop.checker()
    }

    /// Whether the repository gave after-connect SQL ([`ConnectOptions::after_connect`]).
    pub(crate) fn has_after_connect(&self) -> bool {
        !self.after_connect.is_empty()
    }

    /// Runs the repository's after-connect SQL ([`ConnectOptions::after_connect`]); in a
    /// transaction, so that what it sets ends with the transaction.
    pub(crate) async fn run_after_connect(&mut self) -> Result<(), LoadError> {
        for sql in self.after_connect.clone() {
            self.execute(&sql)
                .await
                .map_err(|error| error.context("the repo's after_connect SQL failed"))?;
        }
        Ok(())
    }

    /// Attributes the notices of the requests that follow to `line` of the dump.
    pub(crate) fn set_notice_line(&mut self, line: Option<u64>) {
        self.driver.notice_line = line;
    }

    /// Sends a notice of the loader's own to the callback.
    pub(crate) fn notify(&mut self, notice: Notice) {
        (self.driver.on_notice)(notice);
    }

    /// Runs `sql` through the simple-query protocol, discarding any rows.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), LoadError> {
        self.driver
            .drive(self.client.batch_execute(sql), OnStop::Cancel)
            .await
    }

    /// Runs `prelude`, then commits, both sent at once. Either way the transaction has
    /// ended: if the prelude fails, the server turns the `COMMIT` behind it into a
    /// rollback, and the prelude's error is returned. A stop that comes once they are sent
    /// does not cancel them: the server's answer decides. When no answer comes (the
    /// connection is lost, a `FATAL` error ends it, or a stop waited [`CANCEL_GRACE`]),
    /// the error is [`ErrorReason::CommitUnknown`]: the server may have committed.
    pub(crate) async fn commit_after(&mut self, prelude: &str) -> Result<(), LoadError> {
        // A connection already gone, or a stop already due, sends nothing: rolled back.
        if let Some(ended) = &self.driver.ended {
            return Err(ended.clone());
        }
        self.check_stop()?;
        let commit = self.client.batch_execute("COMMIT");
        self.driver
            .drive(after(&self.client, prelude, commit), OnStop::AwaitAnswer)
            .await
            .map_err(|error| match (error.reason(), error.severity()) {
                // The server answered: an ERROR ends the transaction with a rollback.
                (ErrorReason::Database, Some("ERROR")) => error,
                _ => error.commit_unknown(),
            })
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
        self.check_stop().map_err(|error| (error, 0))?;
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
        self.driver
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
        self.driver
            .drive(self.client.query_typed(sql, params), OnStop::Cancel)
            .await
    }

    /// Runs `prelude` through the simple-query protocol, then `sql` as [`Session::query`]
    /// does, both sent at once: the prelude costs no round trip of its own. Fails with
    /// the prelude's error if it failed.
    pub(crate) async fn query_after(
        &mut self,
        prelude: &str,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, LoadError> {
        let query = self.client.query_typed(sql, params);
        self.driver
            .drive(after(&self.client, prelude, query), OnStop::Cancel)
            .await
    }

    /// Starts `COPY ... FROM STDIN`.
    /// Starts `COPY ... FROM STDIN`, after the simple-query `prelude` when there is one,
    /// sent at once: the prelude costs no round trip of its own.
    pub(crate) async fn copy_in(
        &mut self,
        prelude: Option<&str>,
        sql: &str,
    ) -> Result<CopyIn, LoadError> {
        let copy_in = self.client.copy_in(sql);
        let sink = match prelude {
            Some(prelude) => {
                self.driver
                    .drive(after(&self.client, prelude, copy_in), OnStop::Cancel)
                    .await?
            }
            None => self.driver.drive(copy_in, OnStop::Cancel).await?,
        };
        Ok(CopyIn {
            sink: Box::pin(sink),
        })
    }

    /// Sends COPY data lines; they may be buffered until [`Session::finish_copy`].
    pub(crate) async fn copy_data(
        &mut self,
        copy: &mut CopyIn,
        data: Bytes,
    ) -> Result<(), LoadError> {
        let sent = self
            .driver
            .drive(copy.sink.feed(data), OnStop::Cancel)
            .await;
        match sent {
            Ok(()) => Ok(()),
            Err(error) if self.driver.stopped.is_some() => Err(error),
            // A sink that failed only says "closed"; the server's reason comes with the end.
            Err(error) => Err(self.finish_copy(copy).await.err().unwrap_or(error)),
        }
    }

    /// Ends the COPY data and returns how many rows the server stored.
    pub(crate) async fn finish_copy(&mut self, copy: &mut CopyIn) -> Result<u64, LoadError> {
        self.driver
            .drive(copy.sink.as_mut().finish(), OnStop::Cancel)
            .await
    }

    /// Rolls back the open transaction if the connection still works, ignoring failure:
    /// the server rolls back anyway when the connection ends. A stopped session, which
    /// may be in the middle of a COPY, is left for [`Session::close`] to end.
    pub(crate) async fn rollback(&mut self) {
        if self.driver.ended.is_none() && self.driver.stopped.is_none() {
            let _ = self.execute("ROLLBACK").await;
        }
    }

    /// Ends the session politely (Terminate, after CopyFail in an unfinished COPY),
    /// waiting briefly for the socket to close, then for a cancel request still on its
    /// way. The server rolls back any open transaction.
    pub(crate) async fn close(self) {
        let Session {
            client, mut driver, ..
        } = self;
        drop(client);
        let closed = poll_fn(|cx| {
            driver.poll_connection(cx);
            match driver.ended {
                Some(_) => Poll::Ready(()),
                None => Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, closed).await;
        let Driver {
            connection,
            unfinished_cancel,
            ..
        } = driver;
        drop(connection);
        if let Some(cancel) = unfinished_cancel {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, cancel).await;
        }
    }
}

/// An open `COPY ... FROM STDIN`.
pub(crate) struct CopyIn {
    sink: Pin<Box<CopyInSink<Bytes>>>,
}

impl Driver<'_> {
    /// Like [`Driver::drive`], for the responses to a message of several statements and
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
            // Both messages are on their way: a stop now cancels them.
            if let Poll::Ready(error) = self.poll_stop(cx, true, OnStop::Cancel) {
                return Poll::Ready(Err(error));
            }
            if let Some(request) = prelude.as_mut() {
                match request.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => prelude = None,
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(self.outcome(Err(LoadError::postgres(&error))))
                    }
                    Poll::Pending => {}
                }
            }
            if let Some(done) = take_ready_responses(stream.as_mut(), cx, completed) {
                return Poll::Ready(self.outcome(done));
            }
            if let Some(ended) = self.ended.clone() {
                return Poll::Ready(self.outcome(Err(ended)));
            }
            match self.connection.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                    // The responses the server sent before this notice are in the stream
                    // now: count them first, so the notice goes with its own statement.
                    let done = take_ready_responses(stream.as_mut(), cx, completed);
                    let line = lines.get(*completed).copied();
                    (self.on_notice)(Notice::from_server(&notice, line));
                    if let Some(done) = done {
                        return Poll::Ready(self.outcome(done));
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
    /// notices to the callback as they arrive. Fails at once if the connection ends, and
    /// without sending the request if a stop is due.
    async fn drive<T>(
        &mut self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
        on_stop: OnStop,
    ) -> Result<T, LoadError> {
        let mut request = pin!(request);
        let mut sent = false;
        poll_fn(|cx| {
            if let Poll::Ready(error) = self.poll_stop(cx, sent, on_stop) {
                return Poll::Ready(Err(error));
            }
            self.poll_connection(cx);
            sent = true;
            let polled = request
                .as_mut()
                .poll(cx)
                .map_err(|error| LoadError::postgres(&error));
            match (polled, self.ended.clone()) {
                (Poll::Ready(outcome), _) => Poll::Ready(self.outcome(outcome)),
                // A request the server answered before leaving (e.g. with a FATAL error)
                // keeps that answer; any other would wait forever on a dead connection.
                (Poll::Pending, Some(ended)) => Poll::Ready(self.outcome(Err(ended))),
                (Poll::Pending, None) => Poll::Pending,
            }
        })
        .await
    }

    /// Takes in what the connection received: notices go to the callback, and the end of
    /// the connection is recorded.
    fn poll_connection(&mut self, cx: &mut Context<'_>) {
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
    }

    /// Watches for a stop while a request is driven (`sent`: it is on its way). Ready
    /// with the error to fail with when the request must end now: at once if it was not
    /// sent, else when the server has not ended it within [`CANCEL_GRACE`]. Meanwhile a
    /// cancellable request is cancelled on the server, again and again.
    fn poll_stop(&mut self, cx: &mut Context<'_>, sent: bool, on_stop: OnStop) -> Poll<LoadError> {
        if let Some(stopped) = &self.stopped {
            return Poll::Ready(stopped.clone());
        }
        if self.stopping.is_none() {
            let Poll::Ready(reason) = self.stop.poll(cx) else {
                return Poll::Pending;
            };
            if !sent {
                let error = reason.error();
                self.stopped = Some(error.clone());
                return Poll::Ready(error);
            }
            self.stopping = Some(Stopping::new(reason, on_stop, self.canceller.clone()));
        }
        let stopping = self.stopping.as_mut().expect("a stop is under way");
        if stopping.give_up.as_mut().poll(cx).is_ready() {
            let error = stopping.unanswered();
            self.unfinished_cancel = stopping.cancel_request.take();
            self.stopping = None;
            self.stopped = Some(error.clone());
            // The server did not answer: nothing more is expected of this connection.
            self.ended.get_or_insert_with(|| error.clone());
            return Poll::Ready(error);
        }
        stopping.poll_cancel(cx);
        Poll::Pending
    }

    /// A lost connection is reported as the server's `FATAL` error when it sent one
    /// before leaving: that says why.
    fn lost(&self, error: LoadError) -> LoadError {
        match (error.reason(), self.farewell.last_words()) {
            (ErrorReason::Connect, Some(last_words)) => last_words,
            _ => error,
        }
    }

    /// What a request that completed comes to: while stopping, a cancellable request
    /// (usually failed by the cancel) fails with the reason for stopping, whereas a final
    /// one keeps its own outcome.
    fn outcome<T>(&mut self, outcome: Result<T, LoadError>) -> Result<T, LoadError> {
        let outcome = outcome.map_err(|error| self.lost(error));
        let Some(stopping) = self.stopping.take() else {
            return outcome;
        };
        self.unfinished_cancel = stopping.cancel_request;
        let error = stopping.reason.error();
        self.stopped = Some(error.clone());
        match stopping.on_stop {
            OnStop::Cancel => Err(error),
            OnStop::AwaitAnswer => outcome,
        }
    }
}

impl Stopping {
    fn new(reason: StopReason, on_stop: OnStop, canceller: CancelRequester) -> Stopping {
        Stopping {
            reason,
            on_stop,
            give_up: Box::pin(tokio::time::sleep(CANCEL_GRACE)),
            canceller,
            cancel_request: None,
            // Due at once: the first cancel request goes out right away.
            retry: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Sends the cancel request, and again every [`CANCEL_RETRY`] after the last one is
    /// through: one that reaches the server between two statements of a message, or
    /// before the statement starts, cancels nothing. Failures to send are ignored;
    /// [`CANCEL_GRACE`] bounds the wait.
    fn poll_cancel(&mut self, cx: &mut Context<'_>) {
        if self.on_stop == OnStop::AwaitAnswer {
            return;
        }
        loop {
            if let Some(request) = &mut self.cancel_request {
                if request.as_mut().poll(cx).is_pending() {
                    return;
                }
                self.cancel_request = None;
            }
            if self.retry.as_mut().poll(cx).is_pending() {
                return;
            }
            self.retry.as_mut().reset(Instant::now() + CANCEL_RETRY);
            let send = self.canceller.clone().send();
            self.cancel_request = Some(Box::pin(async move {
                let _ = send.await;
            }));
        }
    }

    /// The error when the server did not end the request within [`CANCEL_GRACE`].
    fn unanswered(&self) -> LoadError {
        let error = self.reason.error();
        let message = match self.on_stop {
            OnStop::Cancel => format!(
                "{}; the server did not confirm the cancel within {} s, so the connection \
                 was dropped (the server rolls back once it notices)",
                error.message(),
                CANCEL_GRACE.as_secs()
            ),
            OnStop::AwaitAnswer => {
                return LoadError::new(
                    ErrorReason::CommitUnknown,
                    format!(
                        "{} after COMMIT was sent, and the server did not answer it within \
                         {} s: {COMMIT_UNKNOWN}",
                        self.reason.what_happened(),
                        CANCEL_GRACE.as_secs()
                    ),
                )
            }
        };
        LoadError::new(error.reason(), message)
    }
}

/// `request`, sent right behind the simple-query message `prelude` without waiting for
/// its answer (both go out on the first poll, in that order), and awaited with it.
async fn after<T>(
    client: &Client,
    prelude: &str,
    request: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let (prelude, request) = join(client.batch_execute(prelude), request).await;
    prelude?;
    request
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
