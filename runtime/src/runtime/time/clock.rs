//! [`Clock`]: where a runtime's timers read the time, and the paused clock
//! that tests drive (`weft::time::{pause, resume, advance}`).
//!
//! The rules:
//!
//! 1. **Real until first paused.** Until the clock is paused once, `now` is
//!    `std::time::Instant::now()`, read without the lock: a runtime that
//!    never pauses pays one atomic load per reading.
//! 2. **Virtual after.** From the first pause on, the time is `base` while
//!    paused and `base` plus the real time since the resume while running,
//!    both under the lock; so it never goes back, and the time a test
//!    skipped (`advance`, auto-advance) stays skipped after a resume.
//! 3. **Only the current-thread flavor pauses.** With several workers,
//!    "nothing left to run" has no single owner to decide it, as in Tokio.
//! 4. **Auto-advance waits for pool jobs.** While a `spawn_blocking` or
//!    `spawn_cpu` job of the runtime is in flight ([`Clock::inhibit`]), the
//!    worker does not jump the clock: the job may be about to wake someone
//!    at the current time. The last job out unparks the worker so that it
//!    looks again (`Shared::pool_job_done`).
//!
//! Checked by the loom model in `loom-tests/tests/time_paused.rs` (an
//! advance racing a registration from another thread).

use std::time::{Duration, Instant};

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::sync::Mutex;

/// Converts between `Instant`s and the wheels' 1 ms ticks, and tells the
/// time, paused or not. All workers of a runtime share one origin, so
/// ticks compare across wheels.
#[derive(Debug)]
pub(crate) struct Clock {
    origin: Instant,
    /// The runtime is the current-thread flavor (rule 3).
    can_pause: bool,
    /// Set for good by the first pause (rule 1). Until then `state` holds
    /// the real clock (`base == unfrozen == origin`).
    virtual_time: AtomicBool,
    state: Mutex<State>,
    /// Pool jobs in flight (rule 4).
    inhibitors: AtomicUsize,
}

#[derive(Debug)]
struct State {
    /// The time at `unfrozen`, or the time for as long as it is paused.
    base: Instant,
    /// The real instant of the last resume; `None` while paused.
    unfrozen: Option<Instant>,
}

/// Why a pause, resume or advance was refused (the caller words the panic).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PauseError {
    /// `pause` on a multi-thread runtime.
    MultiThread,
    /// `pause` while paused.
    AlreadyPaused,
    /// `resume` or `advance` while running.
    NotPaused,
}

impl Clock {
    /// A running clock, or a paused one at its origin with `paused`
    /// (refused unless `can_pause`).
    pub(crate) fn new(can_pause: bool, paused: bool) -> Result<Clock, PauseError> {
        let origin = Instant::now();
        let clock = Clock {
            origin,
            can_pause,
            virtual_time: AtomicBool::new(false),
            state: Mutex::new(State { base: origin, unfrozen: Some(origin) }),
            inhibitors: AtomicUsize::new(0),
        };
        if paused {
            clock.pause()?;
            // Paused at the origin itself, so ticks fall on whole
            // milliseconds and `sleep(30 s)` jumps exactly 30 s.
            clock.state.lock().base = origin;
        }
        Ok(clock)
    }

    /// The current time of this runtime's timers (rules 1 and 2).
    pub(crate) fn now(&self) -> Instant {
        let real = Instant::now();
        // SeqCst, with the real clock read first: if this load misses the
        // first pause's store, `real` was read before that pause read the
        // real clock for its `base`, so a later (paused) reading is not
        // earlier than this one.
        if !self.virtual_time.load(SeqCst) {
            return real;
        }
        let state = self.state.lock();
        match state.unfrozen {
            None => state.base,
            Some(at) => add(state.base, at.elapsed()),
        }
    }

    /// True while paused.
    pub(crate) fn is_paused(&self) -> bool {
        // SeqCst: as in `now`.
        self.virtual_time.load(SeqCst) && self.state.lock().unfrozen.is_none()
    }

    /// Freezes the time where it is.
    pub(crate) fn pause(&self) -> Result<(), PauseError> {
        if !self.can_pause {
            return Err(PauseError::MultiThread);
        }
        let mut state = self.state.lock();
        let Some(at) = state.unfrozen else {
            return Err(PauseError::AlreadyPaused);
        };
        // Before the real clock is read below (see `now`).
        self.virtual_time.store(true, SeqCst);
        state.base = add(state.base, at.elapsed());
        state.unfrozen = None;
        Ok(())
    }

    /// Lets the time run again from where it stands.
    pub(crate) fn resume(&self) -> Result<(), PauseError> {
        if !self.can_pause {
            return Err(PauseError::MultiThread);
        }
        let mut state = self.state.lock();
        if state.unfrozen.is_some() {
            return Err(PauseError::NotPaused);
        }
        state.unfrozen = Some(Instant::now());
        Ok(())
    }

    /// Moves the paused time forward by `by`.
    pub(crate) fn advance(&self, by: Duration) -> Result<(), PauseError> {
        if !self.can_pause {
            return Err(PauseError::MultiThread);
        }
        let mut state = self.state.lock();
        if state.unfrozen.is_some() {
            return Err(PauseError::NotPaused);
        }
        state.base = add(state.base, by);
        Ok(())
    }

    /// Auto-advance: if paused and no pool job is in flight, moves the
    /// time to the start of `tick` (never back). True if it is there now.
    pub(crate) fn auto_advance_to(&self, tick: u64) -> bool {
        if !self.can_auto_advance() {
            return false;
        }
        let to = add(self.origin, Duration::from_millis(tick));
        let mut state = self.state.lock();
        if state.unfrozen.is_some() {
            return false;
        }
        state.base = state.base.max(to);
        true
    }

    /// True if paused and no pool job holds the time (rule 4).
    pub(crate) fn can_auto_advance(&self) -> bool {
        // SeqCst: the job's decrement comes before its unpark of the
        // worker, and the worker reads this after the park that unpark
        // ends, so it sees the count drop.
        self.is_paused() && self.inhibitors.load(SeqCst) == 0
    }

    /// A pool job starts: no auto-advance until it is done.
    pub(crate) fn inhibit(&self) {
        // SeqCst: see `can_auto_advance`.
        self.inhibitors.fetch_add(1, SeqCst);
    }

    /// A pool job is done; true if it was the last one in flight.
    pub(crate) fn allow(&self) -> bool {
        // SeqCst: see `can_auto_advance`.
        self.inhibitors.fetch_sub(1, SeqCst) == 1
    }

    /// True once the clock was ever paused (then the time may differ from
    /// the real clock).
    pub(crate) fn is_virtual(&self) -> bool {
        // SeqCst: as in `now`.
        self.virtual_time.load(SeqCst)
    }

    /// The current tick, rounded down: a timer due at tick `t` fires only
    /// once `now_tick() >= t`, i.e. at or after its deadline.
    pub(crate) fn now_tick(&self) -> u64 {
        self.tick_floor(self.now())
    }

    fn tick_floor(&self, instant: Instant) -> u64 {
        saturate(instant.saturating_duration_since(self.origin).as_millis())
    }

    /// The tick of a deadline, rounded up (never early). A deadline whose
    /// tick does not fit in a `u64` (some 584 million years away) gets the
    /// last tick, which is never reached: it must not wrap to a near one.
    pub(crate) fn tick_ceil(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.origin);
        let partial = since.subsec_nanos() % 1_000_000 != 0;
        saturate(since.as_millis() + u128::from(partial))
    }

    /// Nanoseconds of the real clock from the origin to `instant` (0
    /// before it; saturating some 584 years after it): a point in time as
    /// one `u64`, for a timestamp that must fit in an atomic (metrics,
    /// which measure real time whether or not the clock is paused).
    pub(crate) fn nanos_at(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since).unwrap_or(u64::MAX)
    }

    /// Time left until `tick` starts, zero if it has.
    pub(crate) fn until(&self, tick: u64) -> Duration {
        match self.origin.checked_add(Duration::from_millis(tick)) {
            Some(at) => at.saturating_duration_since(self.now()),
            None => Duration::MAX,
        }
    }
}

/// `at + by`, staying at `at` where that would overflow `Instant` (some
/// centuries away: a clock that far has nothing left to fire).
fn add(at: Instant, by: Duration) -> Instant {
    at.checked_add(by).unwrap_or(at)
}

/// Milliseconds as a tick, saturating instead of truncating.
fn saturate(ms: u128) -> u64 {
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_toward_the_deadline_and_saturate() {
        let clock = Clock::new(false, false).unwrap();
        let at = |d: Duration| clock.origin + d;
        assert_eq!(clock.tick_ceil(at(Duration::from_millis(7))), 7);
        assert_eq!(clock.tick_ceil(at(Duration::from_micros(7_001))), 8);
        assert_eq!(clock.tick_floor(at(Duration::from_micros(7_999))), 7);
        // 2^64 ms + 384 ms: truncated, this would be tick 384.
        let far = at(Duration::from_secs(18_446_744_073_709_552));
        assert_eq!(clock.tick_ceil(far), u64::MAX);
        assert_eq!(clock.tick_floor(far), u64::MAX);
        assert!(clock.until(u64::MAX) > Duration::from_secs(86_400 * 365 * 1_000));
    }

    #[test]
    fn paused_time_moves_only_when_told() {
        let clock = Clock::new(true, true).unwrap();
        assert_eq!(clock.now(), clock.origin);
        assert_eq!(clock.advance(Duration::from_millis(5)), Ok(()));
        assert_eq!(clock.now_tick(), 5);
        assert!(clock.auto_advance_to(9));
        assert!(clock.auto_advance_to(2), "a jump back is a no-op, not a refusal");
        assert_eq!(clock.now_tick(), 9);
        clock.inhibit();
        assert!(!clock.auto_advance_to(20));
        assert!(clock.allow());
        assert_eq!(clock.pause(), Err(PauseError::AlreadyPaused));
        assert_eq!(clock.resume(), Ok(()));
        assert!(clock.now_tick() >= 9);
        assert_eq!(clock.resume(), Err(PauseError::NotPaused));
        assert_eq!(clock.advance(Duration::ZERO), Err(PauseError::NotPaused));
        assert!(!clock.auto_advance_to(1_000));
    }

    #[test]
    fn only_a_current_thread_clock_pauses() {
        assert_eq!(Clock::new(false, true).unwrap_err(), PauseError::MultiThread);
        let clock = Clock::new(false, false).unwrap();
        assert_eq!(clock.pause(), Err(PauseError::MultiThread));
        assert_eq!(clock.resume(), Err(PauseError::MultiThread));
        assert_eq!(clock.advance(Duration::ZERO), Err(PauseError::MultiThread));
        assert!(!clock.is_virtual());
    }
}
