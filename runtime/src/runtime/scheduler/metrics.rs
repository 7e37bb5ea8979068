//! Per-worker counters. Each worker writes only its own, on its own cache
//! line, with a relaxed load + store (no locked instruction: there is a
//! single writer); readers see slightly stale values, which is all a
//! metric needs.

use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
