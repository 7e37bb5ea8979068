//! `ScheduledIo`: the readiness of one I/O source, shared between the
//! driver that receives its events and the tasks that use it (on any
//! worker: a task stolen to another worker still finds it here).
//!
//! One atomic word holds the readiness bits, the driver tick at which they
//! were last set, and a shutdown flag. The tick makes clearing safe under
//! edge-triggered epoll: a task clears readiness after `WouldBlock` only if
//! no new event arrived since it observed the readiness (same tick), so an
//! event that lands between the failed read and the clear is never erased.
//!
//! Wakers sit behind a mutex, per direction: one slot for the usual single
//! waiter and a list for more (several tasks sharing a socket). A poller
//! stores its waker and re-reads the readiness under that mutex; the driver
//! sets readiness and then takes the wakers under it; so either the poller
//! sees the new readiness or the driver sees the poller's waker.

use std::task::{Context, Poll, Waker};

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::Mutex;

/// Readiness bits of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Ready(usize);

impl Ready {
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) const EMPTY: Ready = Ready(0);
    pub(crate) const READABLE: Ready = Ready(0b0001);
    pub(crate) const WRITABLE: Ready = Ready(0b0010);
    pub(crate) const READ_CLOSED: Ready = Ready(0b0100);
    pub(crate) const WRITE_CLOSED: Ready = Ready(0b1000);
    pub(crate) const ERROR: Ready = Ready(0b1_0000);
    const MASK: usize = 0b1_1111;

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn intersection(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }

    /// The bits of `self` that are not in `other`.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn difference(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

/// Which side of the source a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
    /// Either side (`weft::io::unix::AsyncFd::ready` with both interests):
    /// the wait ends when the source is ready for reading or for writing.
    #[cfg_attr(loom, allow(dead_code))]
    Either,
}

impl Direction {
    /// The readiness that ends a wait in this direction. Closed and error
    /// states count: the next I/O call reports them.
    fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready::READABLE | Ready::READ_CLOSED | Ready::ERROR,
            Direction::Write => Ready::WRITABLE | Ready::WRITE_CLOSED | Ready::ERROR,
            Direction::Either => Direction::Read.mask() | Direction::Write.mask(),
        }
    }
}

/// Readiness observed by a poll, to be cleared by that observation's tick.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    ready: Ready,
    tick: usize,
}

#[cfg_attr(loom, allow(dead_code))]
impl ReadyEvent {
    /// The readiness observed.
    pub(crate) fn ready(self) -> Ready {
        self.ready
    }

    /// The same observation narrowed to `ready`, to clear only those bits.
    pub(crate) fn only(self, ready: Ready) -> ReadyEvent {
        ReadyEvent { ready: self.ready.intersection(ready), tick: self.tick }
    }
}

const TICK_SHIFT: u32 = 16;
const TICK_MASK: usize = 0x7FFF << TICK_SHIFT;
/// The driver is gone (runtime shut down): every wait ends with an error.
const SHUTDOWN: usize = 1 << 31;

/// The readiness and wakers of one source.
pub(crate) struct ScheduledIo {
    /// Readiness bits | tick << TICK_SHIFT | SHUTDOWN.
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    read: DirectionWaiters,
    write: DirectionWaiters,
}

/// The tasks waiting on one direction: the first in a slot (no allocation
/// in the common case of one task per direction), others in a list.
#[derive(Default)]
struct DirectionWaiters {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl DirectionWaiters {
    fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(first) if first.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    fn take(&mut self) -> (Option<Waker>, Vec<Waker>) {
        let more = if self.more.is_empty() { Vec::new() } else { std::mem::take(&mut self.more) };
        (self.first.take(), more)
    }
}

/// The source was shut down with its runtime.
pub(crate) struct Shutdown;

impl ScheduledIo {
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo { readiness: AtomicUsize::new(0), waiters: Mutex::new(Waiters::default()) }
    }

    /// Driver: an event arrived in dispatch round `tick`. Adds `ready` and
    /// stamps the tick, then wakes the tasks waiting on those directions.
    pub(crate) fn set_readiness(&self, tick: usize, ready: Ready) {
        let tick = (tick << TICK_SHIFT) & TICK_MASK;
        // AcqRel: publishes the readiness to pollers (Acquire loads) and
        // orders it before the waiter lock below.
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |curr| {
            Some((curr & !TICK_MASK) | tick | (ready.0 & Ready::MASK))
        });
        self.wake(ready);
    }

    /// Wakes the waiters of the directions `ready` concerns.
    fn wake(&self, ready: Ready) {
        let (readers, writers) = {
            let mut waiters = self.waiters.lock();
            let readers = if ready.intersection(Direction::Read.mask()).is_empty() {
                (None, Vec::new())
            } else {
                waiters.read.take()
            };
            let writers = if ready.intersection(Direction::Write.mask()).is_empty() {
                (None, Vec::new())
            } else {
                waiters.write.take()
            };
            (readers, writers)
        };
        // Waiters' wakers are user code, woken here on a worker (dispatch)
        // or on the thread finishing shutdown: a panic must not unwind
        // into either.
        for waker in
            [readers, writers].into_iter().flat_map(|(first, more)| first.into_iter().chain(more))
        {
            crate::unwind::contain(|| waker.wake());
        }
    }

    /// The runtime is gone: wake everyone; every later poll errors.
    #[cfg_attr(loom, allow(dead_code))]
    pub(super) fn shutdown(&self) {
        self.readiness.fetch_or(SHUTDOWN, AcqRel);
        self.wake(Direction::Read.mask() | Direction::Write.mask());
    }

    /// The readiness in `direction` right now, without registering a waker.
    pub(crate) fn ready_now(&self, direction: Direction) -> Result<Option<ReadyEvent>, Shutdown> {
        let curr = self.readiness.load(Acquire);
        if curr & SHUTDOWN != 0 {
            return Err(Shutdown);
        }
        let ready = Ready(curr & Ready::MASK).intersection(direction.mask());
        Ok((!ready.is_empty()).then_some(ReadyEvent { ready, tick: curr & TICK_MASK }))
    }

    /// Task: is the source ready in `direction`? If not, leaves the waker
    /// to be woken when it is.
    pub(crate) fn poll_readiness(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<Result<ReadyEvent, Shutdown>> {
        if let Some(event) = self.ready_now(direction)? {
            return Poll::Ready(Ok(event));
        }
        let mut waiters = self.waiters.lock();
        match direction {
            Direction::Read => waiters.read.register(cx.waker()),
            Direction::Write => waiters.write.register(cx.waker()),
            // Both sides hold the waker; when one fires, the other keeps
            // its clone (deduplicated by `will_wake`) until that side fires,
            // the waker is replaced, or the source goes away.
            Direction::Either => {
                waiters.read.register(cx.waker());
                waiters.write.register(cx.waker());
            }
        }
        // Re-check under the lock: readiness set before we stored the
        // waker would otherwise never wake us.
        match self.ready_now(direction) {
            Ok(Some(event)) => Poll::Ready(Ok(event)),
            Ok(None) => Poll::Pending,
            Err(shutdown) => {
                // Shut down after the first check: the shutdown's wake may
                // have run before our waker was stored, and nothing will
                // take it now. A stored waker holds the runtime, which
                // holds this source (a cycle): take this direction's
                // wakers back and wake them (they see the shutdown too).
                let (read, write) = match direction {
                    Direction::Read => (Some(waiters.read.take()), None),
                    Direction::Write => (None, Some(waiters.write.take())),
                    Direction::Either => (Some(waiters.read.take()), Some(waiters.write.take())),
                };
                drop(waiters);
                // Wakers are user code: a panic must not unwind out of
                // this poll's error path either.
                read.into_iter()
                    .chain(write)
                    .flat_map(|(first, more)| first.into_iter().chain(more))
                    .for_each(|waker| {
                        crate::unwind::contain(|| waker.wake());
                    });
                Poll::Ready(Err(shutdown))
            }
        }
    }

    /// Task: the I/O call returned `WouldBlock` after `event`: clear those
    /// bits, unless a newer event (another tick) arrived meanwhile. Closed
    /// states are never cleared: they are final (which is why dispatch must
    /// never deliver an event meant for an earlier source under the same
    /// slab key: the driver's tokens carry a generation). An error state is
    /// cleared (the call did not report one, so it was stale), so it cannot
    /// make the task spin.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let clear = event.ready.intersection(Ready::READABLE | Ready::WRITABLE | Ready::ERROR);
        // AcqRel: the CAS must observe the latest tick the driver stamped.
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |curr| {
            if curr & TICK_MASK != event.tick {
                return None;
            }
            Some(curr & !clear.0)
        });
    }
}
