//! The per-worker driver: how a worker waits.
//!
//! Each worker parks in its own [`Driver`] and is woken through its own
//! [`Unparker`]. In production the driver is a `mio::Poll` woken by a
//! `mio::Waker` (an eventfd on Linux), so the same wait will also deliver
//! I/O readiness and timer deadlines once those resources exist (the I/O
//! and timer issues add them here). Under loom the wait is a condvar, since
//! mio cannot run under the model checker; the park/unpark protocol above
//! it is the same code in both.
//!
//! Protocol: a three-state word (EMPTY, PARKED, NOTIFIED). `unpark` swaps in
//! NOTIFIED and only makes the wake-up syscall if the owner was PARKED, so
//! waking a busy worker costs one atomic swap. `park` consumes a pending
//! NOTIFIED without sleeping; otherwise it moves to PARKED and sleeps until
//! woken or the timeout passes.

#[cfg(not(loom))]
mod mio_wait;
#[cfg(not(loom))]
use mio_wait::Wait;

#[cfg(loom)]
mod condvar_wait;
#[cfg(loom)]
use condvar_wait::Wait;

use std::io;
use std::time::Duration;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Arc;

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

struct Shared {
    state: AtomicUsize,
    wait: Wait,
}

/// The owner's side: parks the worker.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    events: <Wait as WaitSource>::Events,
}

/// Wakes the driver's owner; cheap to clone, usable from any thread.
#[derive(Clone)]
pub(crate) struct Unparker {
    shared: Arc<Shared>,
}

/// What the blocking primitive under the park protocol must provide.
pub(crate) trait WaitSource: Sized {
    /// Scratch space the owner reuses between waits.
    type Events;
    /// A new wait primitive and its scratch space.
    fn new() -> io::Result<(Self, Self::Events)>;
    /// Blocks until `wake` is called or `timeout` passes (may return early).
    fn wait(&self, events: &mut Self::Events, timeout: Option<Duration>);
    /// Ends a current or the next `wait`.
    fn wake(&self);
}

impl Driver {
    /// A driver and its unparker.
    pub(crate) fn new() -> io::Result<(Driver, Unparker)> {
        let (wait, events) = Wait::new()?;
        let shared = Arc::new(Shared { state: AtomicUsize::new(EMPTY), wait });
        Ok((Driver { shared: shared.clone(), events }, Unparker { shared }))
    }

    /// Waits until unparked or `timeout` passes; returns at once if an
    /// unpark arrived since the last park. May return spuriously: callers
    /// re-check their condition.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) {
        let state = &self.shared.state;
        // SeqCst on the whole protocol: it is off the hot path (a worker
        // only gets here with nothing to do) and pairs with unpark's swap.
        if state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
            return;
        }
        if timeout == Some(Duration::ZERO) {
            // A poll of the driver, not a sleep (event_interval maintenance).
            self.shared.wait.wait(&mut self.events, timeout);
            return;
        }
        if state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst).is_err() {
            // An unpark slipped in between: consume it.
            state.swap(EMPTY, SeqCst);
            return;
        }
        self.shared.wait.wait(&mut self.events, timeout);
        // Consume whatever woke us (or nothing, on timeout).
        state.swap(EMPTY, SeqCst);
    }
}

impl Unparker {
    /// Wakes the owner: ends its current park, or makes its next park
    /// return at once.
    pub(crate) fn unpark(&self) {
        if self.shared.state.swap(NOTIFIED, SeqCst) == PARKED {
            self.shared.wait.wake();
        }
    }
}
