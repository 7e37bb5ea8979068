//! The per-worker driver: how a worker waits, and what it waits for.
//!
//! Each worker parks in its own [`Driver`]: in production a `mio::Poll`
//! (woken by a `mio::Waker`, an eventfd on Linux) that also delivers the
//! readiness of the I/O sources registered with it (`io`); timers are the
//! park timeout (see `time`). Under loom the wait is a condvar and there is
//! no mio, which cannot run under the model checker; the park/unpark
//! protocol above it, and the slab of sources with its shutdown protocol
//! (`sources`), are the same code in both.
//!
//! The hand-off rules: who may poll a driver, and how a wake-up is never
//! lost between them.
//!
//! 1. **A three-state word** (EMPTY, PARKED, NOTIFIED) says whether the
//!    owner sleeps. [`DriverHandle::unpark`] swaps in NOTIFIED and makes
//!    the wake-up syscall only if the owner was PARKED, so waking a busy
//!    worker costs one atomic swap.
//! 2. **Park consumes a pending unpark without sleeping.** [`Driver::park`]
//!    moves NOTIFIED to EMPTY and returns; otherwise it moves EMPTY to
//!    PARKED and sleeps until woken or the timeout passes, then stores
//!    EMPTY. A park with a zero timeout (the poll between tasks) leaves a
//!    pending unpark for the next real park.
//! 3. **One poll at a time.** The OS poll sits behind a lock: the owner
//!    holds it to sleep, an idle sibling serving a stale driver
//!    ([`Driver::serve`], for a worker stuck in a long task poll) only
//!    `try_lock`s it and polls with a zero timeout, so two threads never
//!    poll one driver at once and a sibling never waits for an owner.
//! 4. **A served poll may swallow the owner's wake-up event**; so the
//!    owner, once it holds the poll lock, re-checks the state word and
//!    sleeps only if it is not NOTIFIED, and an unpark that comes later
//!    finds the owner inside the poll (PARKED) and wakes it.
//! 5. **Events go to whoever polled.** Readiness is delivered to the
//!    sources' wakers on the polling thread (the owner's or a sibling's).
//!    Each dispatch round stamps a tick on the readiness it sets, and a
//!    task clears readiness only if the tick it observed is still there
//!    (`scheduled_io`), so an event a sibling delivered meanwhile is never
//!    cleared unseen.
//! 6. **Shutdown closes registrations first** ([`DriverHandle::close_registrations`],
//!    shutdown rule 1), then fails every wait ([`DriverHandle::shutdown_io`],
//!    shutdown rules 5 and 6); both under the sources lock, so a
//!    registration either lands before and is swept, or fails.
//!
//! SeqCst throughout: parking is off the hot path (a worker gets here
//! with nothing to do, or every `event_interval` ticks). Checked by the
//! loom models in `loom-tests/tests/driver.rs` (the condvar stands in for
//! mio under loom; the state word and the sources are the same code).

#[cfg(not(loom))]
mod io;
#[cfg(not(loom))]
mod mio_wait;
#[cfg(not(loom))]
pub(crate) use io::Registration;
#[cfg(not(loom))]
use mio_wait::Wait;

#[cfg(loom)]
mod condvar_wait;
#[cfg(loom)]
use condvar_wait::Wait;

#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) mod uring;
/// The slot protocol alone, for the loom model (no ring under loom).
#[cfg(loom)]
#[path = "uring/slot.rs"]
pub(crate) mod uring_slot;

pub(crate) mod scheduled_io;
pub(crate) mod sources;

use std::time::Duration;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// Token of the ring's eventfd; sources' tokens never reach it (their
/// generation is bounded, see `sources`).
#[cfg(all(target_os = "linux", not(loom)))]
const URING_TOKEN: mio::Token = mio::Token(usize::MAX - 1);

struct DriverShared {
    state: AtomicUsize,
    wait: Wait,
    /// The registered sources (and the shutdown flag registration checks).
    sources: sources::Sources,
    #[cfg(not(loom))]
    io: io::IoRegistry,
    /// The worker's io_uring (`None`: off, or unavailable), whose eventfd
    /// is registered with the poll under [`URING_TOKEN`].
    #[cfg(all(target_os = "linux", not(loom)))]
    uring: Option<uring::Ring>,
    /// Dispatch rounds, stamped on readiness (see scheduled_io).
    #[cfg(not(loom))]
    tick: AtomicUsize,
}

/// The owner's side: parks the worker.
pub(crate) struct Driver {
    shared: Arc<DriverShared>,
    events: Events,
    #[cfg(not(loom))]
    scratch: Vec<(Arc<scheduled_io::ScheduledIo>, scheduled_io::Ready)>,
}

#[cfg(not(loom))]
type Events = mio::Events;
#[cfg(loom)]
type Events = ();

/// Unparks the driver's owner, registers sources with it, lets siblings
/// serve it; cheap to clone, usable from any thread.
#[derive(Clone)]
pub(crate) struct DriverHandle {
    shared: Arc<DriverShared>,
}

impl Driver {
    /// A driver and its handle, without an io_uring.
    pub(crate) fn new() -> std::io::Result<(Driver, DriverHandle)> {
        Driver::with_io_uring(false)
    }

    /// A driver and its handle; with `io_uring`, it also gets a ring if the
    /// kernel allows one (otherwise files go through the blocking pool).
    pub(crate) fn with_io_uring(_io_uring: bool) -> std::io::Result<(Driver, DriverHandle)> {
        let (wait, events, _registry) = Wait::new()?;
        #[cfg(all(target_os = "linux", not(loom)))]
        let uring = if _io_uring { uring_for(&_registry) } else { None };
        let shared = Arc::new(DriverShared {
            state: AtomicUsize::new(EMPTY),
            wait,
            sources: sources::Sources::new(),
            #[cfg(not(loom))]
            io: io::IoRegistry::new(_registry),
            #[cfg(all(target_os = "linux", not(loom)))]
            uring,
            #[cfg(not(loom))]
            tick: AtomicUsize::new(0),
        });
        let driver = Driver {
            shared: shared.clone(),
            events,
            #[cfg(not(loom))]
            scratch: Vec::new(),
        };
        Ok((driver, DriverHandle { shared }))
    }

    /// Waits until unparked or `timeout` passes, then delivers the I/O
    /// events that arrived; returns at once if an unpark arrived since the
    /// last park. `Some(ZERO)` polls for events without sleeping (skipped
    /// if a sibling is polling this driver right now). May return
    /// spuriously: callers re-check their condition.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) {
        let shared = &self.shared;
        let state = &shared.state;
        // Ring operations queued since the last turn go to the kernel in
        // one batch, before any wait (a completion signals the eventfd, so
        // the wait below returns for it).
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(ring) = &shared.uring {
            ring.flush();
        }
        // SeqCst on the whole protocol: it is off the hot path (a worker
        // only gets here with nothing to do, or every event_interval ticks)
        // and pairs with unpark's swap.
        if timeout == Some(Duration::ZERO) {
            // A poll between tasks: leaves a pending unpark for the next
            // real park.
            if shared.wait.try_poll_now(&mut self.events) {
                self.dispatch_own();
            }
            return;
        }
        if state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
            return;
        }
        if state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst).is_err() {
            // An unpark slipped in between: consume it.
            state.swap(EMPTY, SeqCst);
            return;
        }
        // Under the poll lock: sleep only if no unpark came (a sibling's
        // poll may have consumed its wake-up event).
        shared.wait.wait(&mut self.events, timeout, || state.load(SeqCst) != NOTIFIED);
        // Consume whatever woke us (or nothing, on timeout).
        state.swap(EMPTY, SeqCst);
        self.dispatch_own();
    }

    fn dispatch_own(&mut self) {
        #[cfg(not(loom))]
        {
            let shared = self.shared.clone();
            shared.dispatch(&self.events, &mut self.scratch, true);
        }
    }

    /// Polls a sibling's driver without blocking, delivering its events on
    /// this thread. False if the sibling's poll is busy (its owner or
    /// another sibling is in it).
    pub(crate) fn serve(&mut self, other: &DriverHandle) -> bool {
        // A stuck owner's queued ring operations wait for it: only a
        // ring's owner submits to it (see `uring`).
        if !other.shared.wait.try_poll_now(&mut self.events) {
            return false;
        }
        #[cfg(not(loom))]
        other.shared.dispatch(&self.events, &mut self.scratch, false);
        // The reap may have queued a continuation (the rest of a short
        // write) that only the owner submits.
        #[cfg(all(target_os = "linux", not(loom)))]
        if other.shared.uring.as_ref().is_some_and(uring::Ring::has_unsubmitted) {
            other.unpark();
        }
        true
    }
}

impl DriverShared {
    #[cfg(not(loom))]
    fn dispatch(
        &self,
        events: &mio::Events,
        scratch: &mut Vec<(Arc<scheduled_io::ScheduledIo>, scheduled_io::Ready)>,
        _owner: bool,
    ) {
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(ring) = &self.uring {
            // After every poll: completions posted inline by a flush are
            // taken in even before their eventfd event is seen.
            ring.reap(events.iter().any(|event| event.token() == URING_TOKEN), _owner);
        }
        if events.is_empty() {
            return;
        }
        // Relaxed: the tick only has to differ between rounds.
        let tick = self.tick.fetch_add(1, Relaxed);
        io::dispatch(&self.sources, events, tick, scratch);
    }
}

impl DriverHandle {
    /// Wakes the owner: ends its current park, or makes its next park
    /// return at once.
    pub(crate) fn unpark(&self) {
        if self.shared.state.swap(NOTIFIED, SeqCst) == PARKED {
            self.shared.wait.wake();
        }
    }

    /// True if I/O sources are registered here (worth serving when stale).
    pub(super) fn has_sources(&self) -> bool {
        #[cfg(all(target_os = "linux", not(loom)))]
        if self.shared.uring.as_ref().is_some_and(|ring| ring.in_flight() > 0) {
            return true;
        }
        self.shared.sources.has_sources()
    }

    /// The worker's io_uring, if it has one.
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn uring(&self) -> Option<&uring::Ring> {
        self.shared.uring.as_ref()
    }

    /// Before a thread that ran this driver's worker core exits: waits
    /// for the ring requests it entered (see `uring::Ring::drain`), up to
    /// `deadline()` (read on every turn).
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn drain_uring(
        &self,
        owner: bool,
        deadline: impl Fn() -> Option<std::time::Instant>,
    ) {
        if let Some(ring) = &self.shared.uring {
            ring.drain(owner, deadline);
        }
    }

    /// Shutdown began: every later registration with this driver fails
    /// (under the sources lock, so a registration either lands before this
    /// and is swept by `shutdown_io`, or sees the flag).
    pub(super) fn close_registrations(&self) {
        self.shared.sources.close_registrations();
    }

    /// The runtime shut down: every wait on this driver's sources fails,
    /// and so does every later registration.
    pub(crate) fn shutdown_io(&self) {
        // Ring operations: new ones refused; the owner cancels the
        // optional ones and waits for the rest before its thread exits.
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(ring) = &self.shared.uring {
            ring.close();
        }
        self.shared.sources.shutdown();
    }

    /// The driver's sources, for the loom models (there is no mio to
    /// register real sockets with under loom).
    #[cfg(loom)]
    pub(crate) fn sources(&self) -> &sources::Sources {
        &self.shared.sources
    }
}

/// A ring whose eventfd wakes this driver's poll; `None` where io_uring is
/// unavailable (the fallback: files go through the blocking pool).
#[cfg(all(target_os = "linux", not(loom)))]
fn uring_for(registry: &mio::Registry) -> Option<uring::Ring> {
    let ring = uring::Ring::new().ok()?;
    let fd = ring.eventfd();
    registry.register(&mut mio::unix::SourceFd(&fd), URING_TOKEN, mio::Interest::READABLE).ok()?;
    Some(ring)
}
