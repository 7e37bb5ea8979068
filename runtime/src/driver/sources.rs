//! The sources registered with one driver: a slab of `ScheduledIo`s
//! indexed by token, and the shutdown flag that closes it.
//!
//! Kept apart from mio (the OS registration is a closure handed in), so
//! the registration protocol also runs under loom.
//!
//! Shutdown: `shutdown` sets the flag and collects the sources under the
//! slab lock, and `register` checks the flag under that same lock; so a
//! registration either lands before the shutdown (and is swept by it) or
//! fails: none can slip in after the sweep and wait on a driver nobody
//! polls any more.

use std::io;

use slab::Slab;

use super::scheduled_io::{Ready, ScheduledIo};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::loom::sync::{Arc, Mutex};

/// The registered sources of one driver.
pub(crate) struct Sources {
    inner: Mutex<Inner>,
    /// Number of sources, read without the lock to skip idle drivers.
    count: AtomicUsize,
}

struct Inner {
    slab: Slab<Arc<ScheduledIo>>,
    /// Set once, by `shutdown`: later registrations fail.
    shut_down: bool,
}

/// The error of a registration after (or losing a race with) shutdown.
pub(crate) fn registration_shut_down_error() -> io::Error {
    io::Error::other(
        "cannot register the socket: the weft runtime it would belong to has shut down",
    )
}

impl Sources {
    pub(crate) fn new() -> Sources {
        Sources {
            inner: Mutex::new(Inner { slab: Slab::new(), shut_down: false }),
            count: AtomicUsize::new(0),
        }
    }

    /// Adds a source: `os_register` registers it with the OS under the
    /// token it is given (under the lock, so no event for the token can be
    /// dispatched before the slab holds it). Fails if the driver shut down.
    pub(crate) fn register(
        &self,
        os_register: impl FnOnce(usize) -> io::Result<()>,
    ) -> io::Result<(usize, Arc<ScheduledIo>)> {
        let mut inner = self.inner.lock();
        if inner.shut_down {
            return Err(registration_shut_down_error());
        }
        let entry = inner.slab.vacant_entry();
        let token = entry.key();
        os_register(token)?;
        let io = Arc::new(ScheduledIo::new());
        entry.insert(io.clone());
        // Relaxed: a hint (see `has_sources`), changed under the lock.
        self.count.fetch_add(1, Relaxed);
        Ok((token, io))
    }

    /// Removes the source registered under `token`.
    pub(crate) fn remove(&self, token: usize) {
        if self.inner.lock().slab.try_remove(token).is_some() {
            // Relaxed: a hint, see `has_sources`.
            self.count.fetch_sub(1, Relaxed);
        }
    }

    /// True if any source is registered (a hint for siblings deciding
    /// whether a stale driver is worth polling).
    pub(crate) fn has_sources(&self) -> bool {
        // Relaxed: a stale answer only delays or adds one zero-timeout poll.
        self.count.load(Relaxed) > 0
    }

    /// Delivers a batch of `(token, readiness)` events of dispatch round
    /// `tick`: the sources are looked up under the lock, their readiness
    /// set and waiters woken outside it, on this thread (so their tasks are
    /// scheduled on this worker).
    pub(crate) fn dispatch(
        &self,
        events: impl Iterator<Item = (usize, Ready)>,
        tick: usize,
        scratch: &mut Vec<(Arc<ScheduledIo>, Ready)>,
    ) {
        {
            let inner = self.inner.lock();
            for (token, ready) in events {
                if let Some(io) = inner.slab.get(token) {
                    scratch.push((io.clone(), ready));
                }
            }
        }
        for (io, ready) in scratch.drain(..) {
            io.set_readiness(tick, ready);
        }
    }

    /// The runtime shut down: fail every wait on these sources, and every
    /// later registration.
    pub(crate) fn shutdown(&self) {
        let sources: Vec<_> = {
            let mut inner = self.inner.lock();
            inner.shut_down = true;
            inner.slab.iter().map(|(_, io)| io.clone()).collect()
        };
        for io in sources {
            io.shutdown();
        }
    }
}
