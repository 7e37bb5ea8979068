//! What a worker publishes about itself: counters, the poll in progress
//! (for the stall monitor) and, when enabled, its poll-time histogram.
//! Each worker writes only its own, on its own cache line, with a relaxed
//! load + store (no locked instruction: there is a single writer); readers
//! see slightly stale values, which is all a metric needs.

use std::panic::Location;
use std::ptr;
use std::time::Duration;

use crate::loom::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

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
/// (0 between polls) and where it was spawned.
pub(crate) struct PollSlot {
    task: AtomicU64,
    spawned_at: AtomicPtr<Location<'static>>,
}

impl PollSlot {
    pub(super) fn new() -> PollSlot {
        PollSlot { task: AtomicU64::new(0), spawned_at: AtomicPtr::new(ptr::null_mut()) }
    }

    /// The worker starts polling task `id`, spawned at `spawned_at`.
    #[inline]
    pub(super) fn begin(&self, id: u64, spawned_at: &'static Location<'static>) {
        // Relaxed: published by the Release store of the id below.
        self.spawned_at.store(ptr::from_ref(spawned_at).cast_mut(), Relaxed);
        // Release: a monitor that reads this id (Acquire) reads this
        // poll's location, not an older one.
        self.task.store(id, Release);
    }

    /// The poll ended, or the worker gave its core away mid-poll
    /// (`block_in_place`): nothing of this worker is stalled now.
    #[inline]
    pub(crate) fn end(&self) {
        // Relaxed: the monitor only needs to stop seeing the id eventually;
        // a late sighting is dropped because the poll count moved on.
        self.task.store(0, Relaxed);
    }

    /// The poll in progress, if any: the task's id and spawn location.
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(crate) fn read(&self) -> Option<(u64, &'static Location<'static>)> {
        let id = self.task.load(Acquire);
        if id == 0 {
            return None;
        }
        let at = self.spawned_at.load(Relaxed);
        // SAFETY: every non-null pointer stored here came from a
        // `&'static Location` in `begin`, and the Acquire load of a
        // non-zero id above follows a `begin`, so `at` is one of those.
        Some((id, unsafe { &*at }))
    }
}

/// Buckets of the poll-time histogram: [0, 1 µs), then powers of two
/// up to [2^19 µs, 2^20 µs), then ≥ 2^20 µs (about 1.05 s).
pub(crate) const POLL_TIME_BUCKETS: usize = 22;

/// The lower bound of poll-time bucket `i`.
pub(crate) fn poll_time_bucket_start(i: usize) -> Duration {
    match i {
        0 => Duration::ZERO,
        _ => Duration::from_micros(1 << (i - 1)),
    }
}

/// A worker's poll-time histogram (only when enabled: timing each poll
/// reads the clock twice).
pub(crate) struct PollTimes {
    counts: [AtomicU64; POLL_TIME_BUCKETS],
}

impl PollTimes {
    pub(super) fn new() -> PollTimes {
        PollTimes { counts: std::array::from_fn(|_| AtomicU64::new(0)) }
    }

    /// Counts one poll that took `elapsed`; only the owning worker calls
    /// this.
    pub(super) fn record(&self, elapsed: Duration) {
        let micros = elapsed.as_micros();
        let bucket = if micros == 0 {
            0
        } else {
            // 1 µs → bucket 1, [2, 4) µs → bucket 2, ...
            (1 + micros.ilog2() as usize).min(POLL_TIME_BUCKETS - 1)
        };
        WorkerMetrics::bump(&self.counts[bucket], 1);
    }

    /// The counts, bucket by bucket.
    pub(crate) fn counts(&self) -> Vec<u64> {
        self.counts.iter().map(WorkerMetrics::read).collect()
    }
}
