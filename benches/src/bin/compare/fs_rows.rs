//! The file rows (group `fs`, see `weft_benches::fs`): `fs_read_small`,
//! `fs_random_read` (mean and p99) and `fs_write_sync`, weft against
//! Tokio, each sample on fresh runtimes over one fixture of files.

use std::sync::Arc;

use super::*;
use weft_benches::fs::{
    self as fsb, Fixture, FsRun, RANDOM_READS, RANDOM_TASKS, SMALL_FILES, SYNC_FILES,
};

/// The file rows, filled round by round.
pub(super) struct FsRows {
    fixture: Arc<Fixture>,
    read_small: Row,
    random_read: Row,
    random_p99: Row,
    write_sync: Row,
    /// Blocking-pool jobs weft ran during its read rows, summed over the
    /// samples (0 when the rings served every call).
    pub(super) weft_read_blocking_jobs: u64,
    /// Whether weft's runtime had io_uring rings.
    pub(super) weft_io_uring: bool,
}

impl FsRows {
    pub(super) fn new() -> FsRows {
        FsRows::over(Arc::new(Fixture::new()))
    }

    /// Empty rows over the same files (after a warm-up round).
    pub(super) fn emptied(&self) -> FsRows {
        FsRows::over(self.fixture.clone())
    }

    fn over(fixture: Arc<Fixture>) -> FsRows {
        FsRows {
            fixture,
            read_small: Row::new(format!(
                "fs_read_small: fs::read of {SMALL_FILES} 4 KiB files (µs/file)"
            )),
            random_read: Row::new("fs_random_read: seek + 4 KiB read (µs/read)"),
            random_p99: Row::new("fs_random_read latency p99 (µs)"),
            write_sync: Row::new(format!(
                "fs_write_sync: {SYNC_FILES} files of 16 KiB, sync_all (µs/file)"
            )),
            weft_read_blocking_jobs: 0,
            weft_io_uring: false,
        }
    }

    /// One sample of each file workload on each runtime.
    pub(super) fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        let fx = self.fixture.clone();
        let weft = |this: &mut FsRows| {
            dog.starting("fs rows on weft".to_owned());
            let rt = fsb::weft_runtime();
            let metrics = rt.metrics();
            this.weft_io_uring = metrics.io_uring_enabled();
            let before = metrics.blocking_jobs_completed();
            let small = fsb::read_small_weft(&rt, &fx);
            let random = fsb::random_read_weft(&rt, &fx);
            this.weft_read_blocking_jobs += metrics.blocking_jobs_completed() - before;
            let sync = fsb::write_sync_weft(&rt, &fx);
            drop(rt);
            (small, random, sync)
        };
        let tokio = || {
            dog.starting("fs rows on Tokio".to_owned());
            let rt = fsb::tokio_runtime();
            let small = fsb::read_small_tokio(&rt, &fx);
            let random = fsb::random_read_tokio(&rt, &fx);
            let sync = fsb::write_sync_tokio(&rt, &fx);
            drop(rt);
            (small, random, sync)
        };
        let (w, t) = if weft_first {
            let w = weft(self);
            (w, tokio())
        } else {
            let t = tokio();
            (weft(self), t)
        };
        for (runs, side) in [(w, 0), (t, 1)] {
            let (small, mut random, sync) = runs;
            let push = |row: &mut Row, value: f64| {
                if side == 0 {
                    row.weft.push(value)
                } else {
                    row.tokio.push(value)
                }
            };
            push(&mut self.read_small, per(&small, SMALL_FILES));
            push(&mut self.random_read, per(&random, RANDOM_TASKS * RANDOM_READS));
            let p99 = timers::percentile(&mut random.latencies_ns, 99.0);
            push(&mut self.random_p99, p99.map_or(f64::NAN, |ns| ns as f64 / 1e3));
            push(&mut self.write_sync, per(&sync, SYNC_FILES));
        }
    }

    pub(super) fn into_rows(self) -> Vec<Row> {
        vec![self.read_small, self.random_read, self.random_p99, self.write_sync]
    }
}

/// µs per item of a run.
fn per(run: &FsRun, items: usize) -> f64 {
    run.elapsed.as_secs_f64() * 1e6 / items as f64
}
