//! Stopping a load before it ends: a time limit ([`crate::load::LoadOptions::timeout`]) or a
//! [`CancelHandle`] triggered from another thread.
//!
//! Once a stop is due, the load sends nothing more. If a request is on its way, the server
//! is asked to cancel it (a cancel request on a second connection, repeated until it takes
//! effect, since one that arrives between two statements is ignored), the load waits up
//! to [`CANCEL_GRACE`] for the server to give up the statement, then ends its session
//! without committing: the server rolls the transaction back and releases every lock.

use crate::error::{ErrorReason, LoadError};
use futures_util::task::AtomicWaker;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// How long a stopped load waits for the server to give up the running statement before
/// dropping the connection anyway (the server then notices only when it next talks to it).
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// How often the cancel request is repeated while the statement keeps running.
pub(crate) const CANCEL_RETRY: Duration = Duration::from_millis(250);

/// Stops a running load from any thread: [`CancelHandle::cancel`] makes the load fail with
/// [`crate::ErrorReason::Cancelled`] promptly, rolling back everything it did.
///
/// Clones share the same state. Cancelling before the load starts makes it stop before it
/// sends anything.
#[derive(Clone, Default)]
pub struct CancelHandle(Arc<Shared>);

#[derive(Default)]
struct Shared {
    cancelled: AtomicBool,
    waker: AtomicWaker,
}

impl CancelHandle {
    /// A handle no load has been stopped through yet.
    pub fn new() -> Self {
        CancelHandle::default()
    }

    /// Asks the load to stop. Returns at once; the load fails soon after.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.waker.wake();
    }

    /// Whether [`CancelHandle::cancel`] has been called on this handle or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    fn poll_cancelled(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_cancelled() {
            return Poll::Ready(());
        }
        self.0.waker.register(cx.waker());
        // A cancel between the check and the registration would have found no waker.
        if self.is_cancelled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Handles compare equal when they are clones of each other.
impl PartialEq for CancelHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CancelHandle {}

/// Why a load was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The time limit, given here, expired.
    TimedOut(Duration),
    Cancelled,
}

impl StopReason {
    /// The error of a load stopped before it ended; the caller says where it was.
    pub(crate) fn error(self) -> LoadError {
        match self {
            StopReason::TimedOut(limit) => LoadError::new(
                ErrorReason::Timeout,
                format!(
                    "timed out: the load did not finish within its time limit of {} ms, so \
                     it was stopped and rolled back",
                    limit.as_millis()
                ),
            ),
            StopReason::Cancelled => LoadError::new(
                ErrorReason::Cancelled,
                "cancelled: the load was stopped on request and rolled back",
            ),
        }
    }

    /// What happened, for a message that goes on to say what came of it.
    pub(crate) fn what_happened(self) -> String {
        match self {
            StopReason::TimedOut(limit) => {
                format!("the time limit of {} ms expired", limit.as_millis())
            }
            StopReason::Cancelled => "the load was cancelled".to_owned(),
        }
    }

    /// The error of a load stopped before its connection was made.
    pub(crate) fn error_connecting(self, endpoint: &str) -> LoadError {
        match self {
            StopReason::TimedOut(limit) => LoadError::new(
                ErrorReason::Timeout,
                format!(
                    "timed out connecting to {endpoint}: the load's time limit of {} ms \
                     expired first",
                    limit.as_millis()
                ),
            ),
            StopReason::Cancelled => LoadError::new(
                ErrorReason::Cancelled,
                format!("cancelled on request while connecting to {endpoint}"),
            ),
        }
    }
}

/// The conditions that stop a load: a deadline, a [`CancelHandle`], both or neither.
pub(crate) struct Stop {
    cancel: Option<CancelHandle>,
    deadline: Option<(Duration, Instant, Pin<Box<Sleep>>)>,
}

impl Stop {
    /// Never stops.
    pub(crate) fn never() -> Stop {
        Stop {
            cancel: None,
            deadline: None,
        }
    }

    /// Stops `timeout` from now, or when `cancel` is triggered. Must be called inside the
    /// runtime (the deadline is a runtime timer).
    pub(crate) fn new(timeout: Option<Duration>, cancel: Option<CancelHandle>) -> Stop {
        let deadline = timeout.map(|timeout| {
            let at = Instant::now() + timeout;
            (timeout, at, Box::pin(tokio::time::sleep_until(at)))
        });
        Stop { cancel, deadline }
    }

    /// Whether a stop is due, without waiting (for code that does not poll, such as
    /// splitting the file).
    pub(crate) fn due(&self) -> Option<StopReason> {
        if self.cancel.as_ref().is_some_and(CancelHandle::is_cancelled) {
            return Some(StopReason::Cancelled);
        }
        match &self.deadline {
            Some((timeout, at, _)) if Instant::now() >= *at => Some(StopReason::TimedOut(*timeout)),
            _ => None,
        }
    }

    /// A check of the same conditions for code that does not poll, such as splitting the
    /// file: `true` once a stop is due.
    pub(crate) fn checker(&self) -> impl FnMut() -> bool + 'static {
        let cancel = self.cancel.clone();
        let deadline = self.deadline.as_ref().map(|(_, at, _)| *at);
        move || {
            cancel.as_ref().is_some_and(CancelHandle::is_cancelled)
                || deadline.is_some_and(|at| Instant::now() >= at)
        }
    }

    /// Ready once a stop is due.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<StopReason> {
        if let Some(cancel) = &self.cancel {
            if cancel.poll_cancelled(cx).is_ready() {
                return Poll::Ready(StopReason::Cancelled);
            }
        }
        if let Some((timeout, _, sleep)) = &mut self.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(StopReason::TimedOut(*timeout));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_cancel_from_another_thread_wakes_the_waiting_load() {
        let handle = CancelHandle::new();
        let remote = handle.clone();
        assert_eq!(handle, remote);
        assert_ne!(handle, CancelHandle::new());
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            remote.cancel();
        });
        let reason = runtime().block_on(async {
            let mut stop = Stop::new(None, Some(handle.clone()));
            assert_eq!(stop.due(), None);
            poll_fn(|cx| stop.poll(cx)).await
        });
        canceller.join().unwrap();
        assert_eq!(reason, StopReason::Cancelled);
        assert!(handle.is_cancelled());
    }

    #[test]
    fn the_deadline_stops_after_the_timeout() {
        runtime().block_on(async {
            let timeout = Duration::from_millis(30);
            let started = Instant::now();
            let mut stop = Stop::new(Some(timeout), None);
            assert_eq!(
                poll_fn(|cx| stop.poll(cx)).await,
                StopReason::TimedOut(timeout)
            );
            assert!(started.elapsed() >= timeout);
            assert_eq!(stop.due(), Some(StopReason::TimedOut(timeout)));
        });
    }

    #[test]
    fn never_is_never_due() {
        runtime().block_on(async {
            let mut stop = Stop::never();
            assert_eq!(stop.due(), None);
            let polled = poll_fn(|cx| Poll::Ready(stop.poll(cx))).await;
            assert_eq!(polled, Poll::Pending);
        });
    }
}
