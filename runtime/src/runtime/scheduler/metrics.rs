//! What a worker publishes about itself: counters, the poll in progress
//! (for the stall monitor) and, when enabled, its poll-time and
//! schedule-latency histograms.
//! Each worker writes only its own, on its own cache line, with a relaxed
//! load + store (no locked instruction: there is a single writer); readers
//! see slightly stale values, which is all a metric needs.

use std::panic::Location;
use std::ptr;
use std::time::{Duration, Instant};

use super::{Config, Notified};
use crate::loom::sync::atomic::{fence, AtomicPtr, AtomicU64, Ordering::*};
use crate::runtime::histogram::AtomicHistogram;
use crate::runtime::time::Clock;

pub(crate) struct WorkerMetrics {
    pub(super) polls: AtomicU64,
    pub(super) steals: AtomicU64,
    pub(super) parks: AtomicU64,
}

impl WorkerMetrics {
    pub(super) fn new() -> Self {
        WorkerMetrics {
            polls: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            parks: AtomicU64::new(0),
        }
    }

    /// Adds `n`; only the owning worker calls this.
    #[inline]
    pub(super) fn bump(counter: &AtomicU64, n: u64) {
        // Relaxed: single writer; readers only need eventual values.
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub(super) fn read(counter: &AtomicU64) -> u64 {
        // Relaxed: a metric (and the watcher's progress check) only needs
        // some recent value.
        counter.load(Relaxed)
    }

    /// Task polls so far.
    pub(crate) fn polls(&self) -> u64 {
        Self::read(&self.polls)
    }

    /// Tasks stolen so far (including rescued LIFO tasks).
    pub(crate) fn steals(&self) -> u64 {
        Self::read(&self.steals)
    }

    /// Parks so far.
    pub(crate) fn parks(&self) -> u64 {
        Self::read(&self.parks)
    }
}

/// The task a worker is polling right now, for the stall monitor: its id
/// (0 between polls) and where it was spawned, published as a seqlock so
/// the monitor never pairs one poll's id with another's location.
pub(crate) struct PollSlot {
    /// Odd while `begin` writes, even otherwise; a new value per poll, so
    /// it also tells one poll from the next.
    seq: AtomicU64,
    task: AtomicU64,
    spawned_at: AtomicPtr<Location<'static>>,
}

impl PollSlot {
    pub(crate) fn new() -> PollSlot {
        PollSlot {
            seq: AtomicU64::new(0),
            task: AtomicU64::new(0),
            spawned_at: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The worker starts polling task `id`, spawned at `spawned_at`.
    /// Only the worker running this slot's core calls it.
    #[inline]
    pub(crate) fn begin(&self, id: u64, spawned_at: &'static Location<'static>) {
        // Relaxed: this thread is the only writer.
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq + 1, Relaxed);
        // Release fence: a reader that sees either field below also sees
        // the odd count before it (with its Acquire fence), so it knows the
        // fields changed under it. Free on x86.
        fence(Release);
        self.spawned_at.store(ptr::from_ref(spawned_at).cast_mut(), Relaxed);
        self.task.store(id, Relaxed);
        // Release: a reader that sees this count sees both fields.
        self.seq.store(seq + 2, Release);
    }

    /// The poll ended, or the worker gave its core away mid-poll
    /// (`block_in_place`): nothing of this worker is stalled now.
    #[inline]
    pub(crate) fn end(&self) {
        // Relaxed: a reader that sees 0 reports nothing; one that still sees
        // the id next look finds the same count only if no poll began since,
        // and then reports it at most a tick late, as if this store were.
        self.task.store(0, Relaxed);
    }

    /// Runs `poll`, then [`PollSlot::end`], also if `poll` unwinds.
    pub(super) fn end_after<R>(&self, poll: impl FnOnce() -> R) -> R {
        struct End<'a>(&'a PollSlot);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.end();
            }
        }
        let _end = End(self);
        poll()
    }

    /// The poll in progress, if any, read consistently: its sequence
    /// number (distinct per poll), task id and spawn location. `None`
    /// between polls, and while `begin` writes (the next look sees it).
    pub(crate) fn read(&self) -> Option<(u64, u64, &'static Location<'static>)> {
        // Acquire: pairs with the Release store ending `begin`.
        let before = self.seq.load(Acquire);
        if before % 2 == 1 {
            return None;
        }
        let id = self.task.load(Relaxed);
        let at = self.spawned_at.load(Relaxed);
        // Pairs with `begin`'s Release fence: if either load saw a later
        // `begin`'s write, the count below has moved.
        fence(Acquire);
        let after = self.seq.load(Relaxed);
        if before != after || id == 0 {
            return None;
        }
        // SAFETY: the count was even and unchanged around both loads, so
        // both saw the fields one `begin` stored; that `begin` stored the
        // non-zero id, so it also stored `at`, from a `&'static Location`.
        Some((before, id, unsafe { &*at }))
    }
}

/// A worker's timing histograms, each kept only when enabled (each reads
/// the clock at every poll): how long its polls took, and how long the
/// tasks it polled waited to run. Only the worker holding the core records
/// into them.
pub(crate) struct PollTimings {
    poll_time: Option<AtomicHistogram>,
    schedule_latency: Option<AtomicHistogram>,
}

impl PollTimings {
    /// The histograms `config` enables; `None` if it enables neither, so
    /// that a poll then skips all timing with one branch.
    pub(super) fn new(config: &Config) -> Option<PollTimings> {
        let enabled = |on: bool| on.then(AtomicHistogram::new);
        let timings = PollTimings {
            poll_time: enabled(config.poll_time_histogram),
            schedule_latency: enabled(config.schedule_latency_histogram),
        };
        (timings.poll_time.is_some() || timings.schedule_latency.is_some()).then_some(timings)
    }

    /// The poll of `task` starts now: counts how long it waited since it
    /// was scheduled, and returns the clock reading (one for both
    /// histograms) for [`PollTimings::poll_ended`].
    #[inline]
    pub(super) fn poll_starts(&self, clock: &Clock, task: &Notified) -> Instant {
        let now = Instant::now();
        if let Some(latency) = &self.schedule_latency {
            let waited = clock.nanos_at(now).saturating_sub(task.scheduled_at());
            latency.record_single_writer(Duration::from_nanos(waited));
        }
        now
    }

    /// The poll that [`PollTimings::poll_starts`] timed returned.
    #[inline]
    pub(super) fn poll_ended(&self, started: Instant) {
        if let Some(times) = &self.poll_time {
            times.record_single_writer(started.elapsed());
        }
    }

    /// The poll-time histogram, if enabled.
    pub(super) fn poll_times(&self) -> Option<&AtomicHistogram> {
        self.poll_time.as_ref()
    }

    /// The schedule-latency histogram, if enabled.
    pub(super) fn schedule_latencies(&self) -> Option<&AtomicHistogram> {
        self.schedule_latency.as_ref()
    }
}
