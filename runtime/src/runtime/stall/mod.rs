//! Stall detection: a poll that runs too long is reported while it runs,
//! naming the task, where it was spawned and where it is stuck, and what
//! its worker holds is handed to the others.
//!
//! The rules:
//!
//! 1. **What a stall is.** One poll of one task running longer than the
//!    threshold (`Builder::stall_threshold`, 100 ms by default). A worker
//!    publishes the task it polls before each poll and clears it after
//!    (`PollSlot`, a seqlock on the worker's own cache line: a count, the
//!    task id and its spawn location before the poll, the id cleared
//!    after; plain stores and fences that cost nothing on x86, and no
//!    clock read: about 20 instructions per poll, measured). The count
//!    tells one poll from the next. With detection off nothing is
//!    published. On the
//!    current-thread flavor the `block_on` future is published the same way
//!    (an id per `block_on` call, and its location).
//! 2. **The monitor looks, the workers do not.** One thread per runtime
//!    looks at every worker each tick (a tenth of the threshold, 1 to
//!    10 ms). A poll seen with the same count on consecutive looks is the
//!    same poll; once it has been seen for the threshold it
//!    is reported, once, while it still runs: within the threshold plus
//!    two ticks of its start (later if the monitor is busy with another
//!    report: it looks at the workers one after another, and a slow
//!    `on_stall` hook delays its next looks). Polls shorter than the threshold are never
//!    reported: a report needs one poll seen for the whole threshold.
//! 3. **It works when every worker is stuck**, and on the current-thread
//!    flavor: the monitor is its own thread, not a worker.
//! 4. **It sleeps when nothing can stall**: with every worker parked it
//!    waits on the idle set's bell, which the first worker to unpark rings
//!    (idle rule 6); otherwise it wakes once a tick.
//! 5. **It rescues.** From the second look at a stuck poll on, it does the
//!    watcher's work for that worker whether or not anyone is parked
//!    (watch rule 8): due timers fired, driver polled, queued tasks moved
//!    to the injector.
//! 6. **A worker that gives its core away mid-poll** (`block_in_place`)
//!    clears its slot first: blocking there is the point, and the
//!    replacement thread publishes its own polls in that worker's slot. If
//!    the core comes back (the replacement never started), the rest of the
//!    poll is published again, as a new poll.
//! 7. **Reports** go to `Builder::on_stall`, or, without it, to stderr as
//!    one paragraph; a panicking hook is contained and the monitor goes on.
//!    Each counts in `RuntimeMetrics::stall_count`.
//!
//! Checked by the loom model in `loom-tests/tests/stall.rs` (rule 4's bell)
//! and by `runtime/tests/stall.rs`.

// Not under loom: the monitor is a timed loop, which loom cannot explore;
// what it shares with the workers (the bell) has models of its own.
#[cfg(not(loom))]
mod monitor;
mod report;

use std::sync::Arc as StdArc;
use std::time::Duration;

#[cfg(not(loom))]
pub(crate) use monitor::Monitor;
pub use report::StallReport;

/// The user's stall hook.
pub(crate) type OnStall = StdArc<dyn Fn(&StallReport) + Send + Sync>;

/// What the Builder configured (built under loom too, where no monitor
/// runs).
#[derive(Clone)]
#[cfg_attr(loom, allow(dead_code))]
pub(crate) struct StallSettings {
    pub(crate) threshold: Duration,
    pub(crate) on_stall: Option<OnStall>,
}
