//! [`Interval`], [`interval`], [`interval_at`] and [`MissedTickBehavior`].

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{sleep_until, Instant, Sleep};

/// A stream of ticks `period` apart; the first tick completes at once.
///
/// # Panics
/// If `period` is zero, or outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let mut ticks = weft::time::interval(Duration::from_millis(2));
/// let first = ticks.tick().await; // at once
/// let second = ticks.tick().await;
/// assert!(second - first >= Duration::from_millis(2));
/// # });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// A stream of ticks `period` apart, the first at `start`.
///
/// # Panics
/// If `period` is zero, or outside a weft runtime.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero");
    Interval { delay: sleep_until(start), period, missed_tick_behavior: MissedTickBehavior::Burst }
}

/// What an [`Interval`] does when ticks were missed (the task was late by
/// more than 5 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the default).
    #[default]
    Burst,
    /// Restart the schedule: the next tick is `period` after now.
    Delay,
    /// Drop the missed ticks: the next tick is the next multiple of
    /// `period` on the original schedule.
    Skip,
}

impl MissedTickBehavior {
    fn next_deadline(self, deadline: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => deadline.saturating_add(period),
            MissedTickBehavior::Delay => now.saturating_add(period),
            MissedTickBehavior::Skip => {
                // Below `period`, so its seconds fit in a u64.
                let late = (now - deadline).as_nanos() % period.as_nanos();
                let late =
                    Duration::new((late / 1_000_000_000) as u64, (late % 1_000_000_000) as u32);
                now.saturating_add(period - late)
            }
        }
    }
}

/// Lateness tolerated before a tick counts as missed.
const MISSED_AFTER: Duration = Duration::from_millis(5);

/// Ticks at a fixed period; see [`interval`].
pub struct Interval {
    delay: Sleep,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; see [`Interval::tick`].
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        std::task::ready!(Pin::new(&mut self.delay).poll(cx));
        let deadline = self.delay.deadline();
        let now = self.delay.now();
        // Saturating: a period of `Duration::MAX` means "no next tick".
        let next = if now > deadline.saturating_add(MISSED_AFTER) {
            self.missed_tick_behavior.next_deadline(deadline, now, self.period)
        } else {
            deadline.saturating_add(self.period)
        };
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(deadline)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        let now = self.delay.now();
        Pin::new(&mut self.delay).reset(now.saturating_add(self.period));
    }

    /// Makes the next tick complete at once.
    pub fn reset_immediately(&mut self) {
        let now = self.delay.now();
        Pin::new(&mut self.delay).reset(now);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets the missed-tick behaviour.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("missed_tick_behavior", &self.missed_tick_behavior)
            .finish()
    }
}
