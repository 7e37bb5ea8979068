//! The per-worker timer state: a [`Wheel`] behind a lock plus two
//! published ticks that siblings read without locking.
//!
//! The rules:
//!
//! 1. **Never early.** Deadlines round up to the next tick
//!    ([`Clock::tick_ceil`]) and "now" rounds down, on one origin shared by
//!    every wheel of the runtime, so a timer never fires before its
//!    deadline and ticks compare across wheels.
//! 2. **The owner advances its wheel** whenever a park returns (by its
//!    earliest deadline at the latest) and when it polls its driver
//!    between tasks ([`TimeShared::advance`]), and publishes the tick it
//!    reached: its sign of life.
//! 3. **A stale wheel is served by a parked sibling**
//!    ([`TimeShared::serve_stale`]): due timers, and an owner that has not
//!    advanced for over a tick ([`TimeShared::owner_stuck`]) is stuck in a
//!    long poll. The wheel's lock makes owner and sibling exclusive, and a
//!    timer fires once.
//! 4. **Any thread may cancel or reset**, under the lock
//!    ([`TimeShared::remove`], [`TimeShared::reset`]); a reset racing the
//!    fire keeps the new deadline.
//! 5. **A registration that lowers the earliest deadline says so**
//!    ([`TimeShared::register`] returns it in [`Registered::lowered`]); the
//!    scheduler then makes sure someone looks in time (`Shared::timer_lowered`,
//!    the watcher's rule 7).
//! 6. **Shutdown wakes every timer** ([`TimeShared::wake_all_at_shutdown`],
//!    after the runtime's flag is set), and a registration reads that flag
//!    under the wheel's lock ([`TimeShared::register`]): either shutdown
//!    wakes the new timer or the registration fails, so a `Sleep` that
//!    outlives its runtime fails instead of waiting on a wheel nobody
//!    advances.
//!
//! 7. **Time is the runtime's [`Clock`]**, which tests may pause (see
//!    `clock`): "now" and the park timeout come from it, never from the
//!    real clock directly.
//!
//! Checked by the loom models in `loom-tests/tests/time.rs` (cancel and
//! reset racing the fire, two advancers, a first poll racing shutdown) and
//! `loom-tests/tests/time_paused.rs` (the paused clock).

use std::task::Waker;

mod clock;
mod wheel;

pub(crate) use clock::{Clock, PauseError};

use crate::loom::sync::atomic::{AtomicU64, Ordering::*};
use crate::loom::sync::Mutex;
use wheel::Wheel;

/// No timer pending.
pub(crate) const NO_DEADLINE: u64 = u64::MAX;

/// One worker's timers.
pub(crate) struct TimeShared {
    wheel: Mutex<Wheel>,
    /// Earliest pending deadline, `NO_DEADLINE` if none. Written under the
    /// wheel lock; read lock-free by the owner to compute its park timeout
    /// (writers on other threads that lower it also unpark the owner; see
    /// `Shared::timer_lowered`) and by siblings to spot a stale wheel, where
    /// a stale value only costs an early or late look.
    next_deadline: AtomicU64,
    /// Tick at which the owner last advanced the wheel (siblings serving
    /// it do not count): its sign of life. Same rules as `next_deadline`.
    owner_advanced: AtomicU64,
}

/// Result of registering or resetting a timer.
pub(crate) struct Registered {
    pub(crate) key: usize,
    /// Already due: it will not be woken, the caller sees it now.
    pub(crate) fired: bool,
    /// It became the wheel's earliest timer: whoever parks on this wheel
    /// may have to wake sooner.
    pub(crate) lowered: bool,
}

impl TimeShared {
    pub(crate) fn new() -> TimeShared {
        TimeShared {
            wheel: Mutex::new(Wheel::new(0)),
            next_deadline: AtomicU64::new(NO_DEADLINE),
            owner_advanced: AtomicU64::new(0),
        }
    }

    /// Publishes the wheel's earliest deadline; returns whether it dropped.
    fn publish(&self, wheel: &Wheel) -> bool {
        let next = wheel.next_deadline().unwrap_or(NO_DEADLINE);
        // Relaxed: a hint read without the lock (see the field's docs); the
        // lock orders it with the wheel's contents.
        let prev = self.next_deadline.swap(next, Relaxed);
        next < prev
    }

    /// Adds a timer due at `tick`, unless `is_shutdown` (the runtime's
    /// flag) says the runtime shut down: then `None`, and nothing is added.
    ///
    /// The flag is read under the wheel lock. Shutdown sets it before
    /// `wake_all_at_shutdown` takes this lock, so either that call runs
    /// after this one and wakes `waker`, or it ran before and released the
    /// lock after the flag was set, and this read sees the flag. Read
    /// before the lock, a shutdown could set the flag and take the wakers
    /// in between, leaving this timer in a wheel nobody advances.
    pub(crate) fn register(
        &self,
        tick: u64,
        waker: &Waker,
        is_shutdown: impl FnOnce() -> bool,
    ) -> Option<Registered> {
        let mut wheel = self.wheel.lock();
        if is_shutdown() {
            return None;
        }
        let key = wheel.insert(tick, waker.clone());
        let fired = wheel.is_fired(key);
        let lowered = !fired && self.publish(&wheel);
        Some(Registered { key, fired, lowered })
    }

    /// Whether the timer fired; if not, makes sure `waker` is the one it
    /// will wake.
    pub(crate) fn poll(&self, key: usize, waker: &Waker) -> bool {
        let mut wheel = self.wheel.lock();
        if wheel.is_fired(key) {
            return true;
        }
        wheel.set_waker(key, waker);
        false
    }

    /// Whether the timer fired (no waker change).
    pub(crate) fn is_fired(&self, key: usize) -> bool {
        self.wheel.lock().is_fired(key)
    }

    /// Moves a timer to `tick`. If that is already due, the timer's waker
    /// is woken (after the lock is released) so its task sees it.
    pub(crate) fn reset(&self, key: usize, tick: u64) -> Registered {
        let mut wheel = self.wheel.lock();
        let due = wheel.reset(key, tick);
        let fired = wheel.is_fired(key);
        let lowered = !fired && self.publish(&wheel);
        drop(wheel);
        if let Some(waker) = due {
            waker.wake();
        }
        Registered { key, fired, lowered }
    }

    /// Removes a timer, fired or not (drop of its `Sleep`, any thread).
    pub(crate) fn remove(&self, key: usize) {
        let mut wheel = self.wheel.lock();
        wheel.remove(key);
        self.publish(&wheel);
    }

    /// The owner's advance: fires every timer due at `now`, pushing their
    /// wakers to `wake`, and records the owner's sign of life.
    pub(crate) fn advance(&self, now: u64, wake: &mut Vec<Waker>) {
        // Relaxed: a hint for siblings, see the field's docs.
        self.owner_advanced.fetch_max(now, Relaxed);
        self.fire(now, wake);
    }

    /// The paused clock moved (`weft::time::advance`): fires every timer
    /// due at `now` on the caller's thread. Not the owner's sign of life:
    /// with a paused clock there are no siblings (current-thread only).
    pub(crate) fn fire_due(&self, now: u64, wake: &mut Vec<Waker>) {
        self.fire(now, wake);
    }

    /// A sibling's service: if the wheel is stale (see [`Self::is_stale`]),
    /// fires its due timers as the owner would.
    pub(crate) fn serve_stale(&self, now: u64, wake: &mut Vec<Waker>) {
        if self.is_stale(now) {
            self.fire(now, wake);
        }
    }

    fn fire(&self, now: u64, wake: &mut Vec<Waker>) {
        if self.next_deadline() > now {
            // Nothing due (the common case between tasks): skip the lock.
            // A timer registered concurrently with an earlier deadline is
            // seen by the next advance; registration itself checks for
            // "already due" under the lock.
            return;
        }
        let mut wheel = self.wheel.lock();
        if now > wheel.elapsed() || wheel.next_deadline().is_some_and(|d| d <= now) {
            wheel.advance(now, wake);
            self.publish(&wheel);
        }
    }

    /// At shutdown, after the shutdown flag is set: wakes every timer's
    /// waiter, which then sees the flag (see `Sleep::poll`) instead of
    /// waiting for a wheel nobody advances any more.
    pub(crate) fn wake_all_at_shutdown(&self) {
        let mut wakers = Vec::new();
        self.wheel.lock().take_wakers(&mut wakers);
        for waker in wakers {
            // A user waker may panic; this runs on the thread finishing the
            // runtime's shutdown, which must go on.
            crate::unwind::contain(|| waker.wake());
        }
    }

    /// Earliest pending deadline (lock-free hint).
    pub(crate) fn next_deadline(&self) -> u64 {
        // Relaxed: a hint, see the field's docs.
        self.next_deadline.load(Relaxed)
    }

    /// True if the owner has not advanced the wheel for over a tick. A
    /// working owner advances it at every park and every `event_interval`
    /// loop turns; a parked one only when it wakes, which is by its
    /// earliest deadline. So with a timer due this means the owner is stuck
    /// in one long poll (or a tick late waking: then a sibling fires the
    /// timer in its place, which the lock keeps exclusive). Without one, a
    /// parked owner reads as stuck too: `rescue_stuck_lifo` also requires
    /// an occupied LIFO slot and a poll count that did not move.
    pub(super) fn owner_stuck(&self, now: u64) -> bool {
        // Relaxed: a hint; acting on a stale value costs one early or late
        // look, and the wheel lock makes any actual advance exclusive.
        self.owner_advanced.load(Relaxed) + 1 < now
    }

    /// True if timers are due at `now` and the owner is stuck.
    fn is_stale(&self, now: u64) -> bool {
        self.next_deadline() <= now && self.owner_stuck(now)
    }

    /// Number of timers in the wheel (metrics and tests).
    pub(crate) fn len(&self) -> usize {
        self.wheel.lock().len()
    }
}
