//! The sources registered with one driver: a slab of `ScheduledIo`s
//! indexed by token, and the shutdown flag that closes it.
//!
//! Kept apart from mio (the OS registration is a closure handed in), so
//! the registration protocol also runs under loom.
//!
//! Tokens: a slab key alone is not enough, since the slab hands the last
//! freed key out first. Events harvested by a poll before a deregistration
//! and dispatched after the key's reuse would land on the new source, and
//! a stale closed bit (never cleared: closed is final) would make its
//! reader spin. So a token is the key plus the slot's generation, which
//! each deregistration advances; dispatch drops an event whose generation
//! is not the slot's current one.
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

/// Bits of a token holding the slab key: at most 2^24 sources per driver.
const KEY_BITS: u32 = 24;
const KEY_MASK: usize = (1 << KEY_BITS) - 1;
/// Bits above the key holding the generation. The top bit is left out, so
/// no source token can equal the wake-up token (`usize::MAX`). A key's
/// generation wraps after 2^39 reuses (2^7 on 32-bit targets): a stale
/// event could match again only if its key were reused that many times
/// between the poll that harvested it and its dispatch.
const GENERATION_BITS: u32 = usize::BITS - KEY_BITS - 1;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;

fn token(key: usize, generation: usize) -> usize {
    (generation << KEY_BITS) | key
}

/// The key and generation of a source token; `None` for a token no source
/// can have (the wake-up token).
fn unpack(token: usize) -> Option<(usize, usize)> {
    let generation = token >> KEY_BITS;
    (generation <= GENERATION_MASK).then_some((token & KEY_MASK, generation))
}

/// The registered sources of one driver.
pub(crate) struct Sources {
    inner: Mutex<Inner>,
    /// Number of sources, read without the lock to skip idle drivers.
    count: AtomicUsize,
}

struct Inner {
    slab: Slab<Slot>,
    /// Per key, the generation its next registration gets (missing: 0).
    generations: Vec<usize>,
    /// Set once, by `shutdown`: later registrations fail.
    shut_down: bool,
}

struct Slot {
    generation: usize,
    io: Arc<ScheduledIo>,
}

/// The error of a registration after (or losing a race with) shutdown.
fn registration_shut_down_error() -> io::Error {
    io::Error::other(
        "cannot register the socket: the weft runtime it would belong to has shut down",
    )
}

impl Sources {
    /// No sources; registration open.
    pub(super) fn new() -> Sources {
        Sources {
            inner: Mutex::new(Inner {
                slab: Slab::new(),
                generations: Vec::new(),
                shut_down: false,
            }),
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
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if inner.shut_down {
            return Err(registration_shut_down_error());
        }
        let entry = inner.slab.vacant_entry();
        let key = entry.key();
        if key > KEY_MASK {
            return Err(io::Error::other(format!(
                "cannot register the socket: {} sources are already registered with this \
                 worker's driver, its limit",
                KEY_MASK + 1
            )));
        }
        let generation = inner.generations.get(key).copied().unwrap_or(0);
        let token = token(key, generation);
        os_register(token)?;
        let io = Arc::new(ScheduledIo::new());
        entry.insert(Slot { generation, io: io.clone() });
        // Relaxed: a hint (see `has_sources`), changed under the lock.
        self.count.fetch_add(1, Relaxed);
        Ok((token, io))
    }

    /// Removes the source registered under `token`; the key's next
    /// registration gets the next generation.
    pub(crate) fn remove(&self, token: usize) {
        let Some((key, generation)) = unpack(token) else { return };
        let mut inner = self.inner.lock();
        // A token whose generation is not the slot's names no source.
        if inner.slab.get(key).is_none_or(|slot| slot.generation != generation) {
            return;
        }
        inner.slab.remove(key);
        if inner.generations.len() <= key {
            inner.generations.resize(key + 1, 0);
        }
        inner.generations[key] = (generation + 1) & GENERATION_MASK;
        // Relaxed: a hint, see `has_sources`.
        self.count.fetch_sub(1, Relaxed);
    }

    /// True if any source is registered (a hint for siblings deciding
    /// whether a stale driver is worth polling).
    pub(super) fn has_sources(&self) -> bool {
        // Relaxed: a stale answer only delays or adds one zero-timeout poll.
        self.count.load(Relaxed) > 0
    }

    /// Delivers a batch of `(token, readiness)` events of dispatch round
    /// `tick`: the sources are looked up under the lock, their readiness
    /// set and waiters woken outside it, on this thread (so their tasks are
    /// scheduled on this worker). An event whose token's generation is not
    /// its slot's (meant for a deregistered source) is dropped.
    pub(crate) fn dispatch(
        &self,
        events: impl Iterator<Item = (usize, Ready)>,
        tick: usize,
        scratch: &mut Vec<(Arc<ScheduledIo>, Ready)>,
    ) {
        {
            let inner = self.inner.lock();
            for (token, ready) in events {
                let Some((key, generation)) = unpack(token) else { continue };
                match inner.slab.get(key) {
                    Some(slot) if slot.generation == generation => {
                        scratch.push((slot.io.clone(), ready));
                    }
                    _ => {}
                }
            }
        }
        for (io, ready) in scratch.drain(..) {
            io.set_readiness(tick, ready);
        }
    }

    /// Shutdown began: every later registration fails. Sources already
    /// registered keep working until [`Sources::shutdown`] (their tasks may
    /// still be polled while the workers wind down).
    pub(super) fn close_registrations(&self) {
        self.inner.lock().shut_down = true;
    }

    /// The runtime shut down: fail every wait on these sources, and every
    /// later registration.
    pub(super) fn shutdown(&self) {
        let sources: Vec<_> = {
            let mut inner = self.inner.lock();
            inner.shut_down = true;
            inner.slab.iter().map(|(_, slot)| slot.io.clone()).collect()
        };
        for io in sources {
            io.shutdown();
        }
    }
}

/// The slab key of a source token (for tests and models).
#[cfg(any(test, loom))]
pub(crate) fn key_of(token: usize) -> usize {
    token & KEY_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_key_gets_a_new_token_and_generations_wrap() {
        let sources = Sources::new();
        let (first, _) = sources.register(|_| Ok(())).unwrap();
        sources.remove(first);
        let (second, _) = sources.register(|_| Ok(())).unwrap();
        assert_eq!(key_of(first), key_of(second), "the slab reuses the freed key");
        assert_ne!(first, second, "a reused key must get a new token");
        // A stale token removes nothing.
        sources.remove(first);
        assert!(sources.has_sources());
        sources.remove(second);
        assert!(!sources.has_sources());

        assert_eq!(unpack(token(7, GENERATION_MASK)), Some((7, GENERATION_MASK)));
        assert_eq!(unpack(usize::MAX), None, "the wake-up token is no source's");
        let mut inner = sources.inner.lock();
        inner.generations[0] = GENERATION_MASK;
        drop(inner);
        let (last, _) = sources.register(|_| Ok(())).unwrap();
        assert_ne!(last, usize::MAX);
        sources.remove(last);
        let (wrapped, _) = sources.register(|_| Ok(())).unwrap();
        assert_eq!(wrapped, token(0, 0), "the generation wraps within its bits");
    }

    #[test]
    fn a_failed_os_registration_leaves_no_slot() {
        let sources = Sources::new();
        match sources.register(|_| Err(io::Error::other("refused"))) {
            Err(e) => assert_eq!(e.to_string(), "refused"),
            Ok(_) => panic!("the OS registration's error was lost"),
        }
        assert!(!sources.has_sources());
        let (token, _) = sources.register(|_| Ok(())).unwrap();
        assert_eq!(token, self::token(0, 0));
    }
}
