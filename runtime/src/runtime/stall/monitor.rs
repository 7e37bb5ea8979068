//! The stall monitor: one thread per runtime that notices a poll running
//! past the threshold, names it, and rescues what its worker holds.

use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use super::backtrace;
use super::report::{SampledStack, StallReport};
use super::StallSettings;
use crate::loom::sync::Arc;
use crate::runtime::driver::Driver;
use crate::runtime::scheduler::Shared;
use crate::task::Id;
use crate::unwind;

/// The running monitor, owned by the `Runtime`.
pub(crate) struct Monitor {
    thread: thread::JoinHandle<()>,
}

impl Monitor {
    /// Starts the monitor of `shared` on a thread named `<name>-stall`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        settings: StallSettings,
        name: &str,
    ) -> io::Result<Monitor> {
        let thread = thread::Builder::new()
            .name(format!("{name}-stall"))
            .spawn(move || Watcher::new(shared, settings).run())?;
        Ok(Monitor { thread })
    }

    /// Stops the monitor (the runtime's shutdown flag is set) and waits
    /// for its thread.
    pub(crate) fn stop(self, shared: &Shared) {
        debug_assert!(shared.is_shutdown(), "the monitor stops at shutdown");
        shared.idle().ring_monitor();
        self.thread.thread().unpark();
        // The monitor contains the user's hook; anything else escaping is a
        // weft bug, which must not abort shutdown either.
        let _ = self.thread.join();
    }
}

/// How often the monitor looks while some worker is unparked: a tenth of
/// the threshold, between 1 and 10 ms. A stall is reported within the
/// threshold plus two ticks of its start.
fn tick_of(threshold: Duration) -> Duration {
    (threshold / 10).clamp(Duration::from_millis(1), Duration::from_millis(10))
}

/// The monitor's memory of one worker's poll in progress.
#[derive(Clone, Copy)]
struct Sighting {
    /// The poll's sequence number in the worker's slot: a later poll has
    /// another.
    seq: u64,
    /// The tick that first saw it (the poll began at most one tick before).
    since: Instant,
    reported: bool,
}

/// The monitor thread's state.
struct Watcher {
    shared: Arc<Shared>,
    settings: StallSettings,
    tick: Duration,
    seen: Vec<Option<Sighting>>,
    /// Events buffer for polling a stalled worker's driver (rescue); `None`
    /// if it could not be made, then only the watcher serves drivers.
    server: Option<Driver>,
}

impl Watcher {
    fn new(shared: Arc<Shared>, settings: StallSettings) -> Watcher {
        let workers = shared.num_workers();
        Watcher {
            tick: tick_of(settings.threshold),
            seen: vec![None; workers],
            server: Driver::new().ok().map(|(driver, _)| driver),
            shared,
            settings,
        }
    }

    fn run(mut self) {
        while !self.shared.is_shutdown() {
            if self.seen.iter().all(Option::is_none) {
                // No poll in progress at the last look: sleep while every
                // worker is parked (idle rule 6); returns at once if one is
                // not.
                let shared = &self.shared;
                shared.idle().monitor_sleep(|| shared.is_shutdown());
            }
            thread::park_timeout(self.tick);
            let now = Instant::now();
            for worker in 0..self.seen.len() {
                self.look_at(worker, now);
            }
        }
    }

    /// One look at `worker`: the same poll as last time (same sequence
    /// number in its slot) has run since the first sighting.
    fn look_at(&mut self, worker: usize, now: Instant) {
        let Some((seq, task, spawned_at)) = self.shared.poll_slot(worker).read() else {
            self.seen[worker] = None;
            return;
        };
        let sighting = match self.seen[worker] {
            Some(s) if s.seq == seq => s,
            _ => {
                self.seen[worker] = Some(Sighting { seq, since: now, reported: false });
                return;
            }
        };
        let running = now.saturating_duration_since(sighting.since);
        // Stuck for at least a tick: what it holds goes to the others,
        // on every look until the poll ends.
        self.shared.rescue_stalled(worker, self.server.as_mut());
        if sighting.reported || running < self.settings.threshold {
            return;
        }
        self.seen[worker] = Some(Sighting { reported: true, ..sighting });
        let report = StallReport {
            task_id: Id::from_u64(task).expect("a published task id is never 0"),
            spawned_at,
            worker,
            elapsed: running,
            // Sampled while the poll still runs (it was seen this very look).
            backtrace: self
                .shared
                .worker_thread(worker)
                .and_then(|thread| backtrace::capture(&thread, backtrace::CAPTURE_TIMEOUT))
                .map(SampledStack::new),
        };
        self.shared.count_stall();
        match &self.settings.on_stall {
            Some(hook) => {
                if let Some(text) = unwind::contain(|| hook(&report)) {
                    // Not `eprintln!`: it panics when stderr is gone.
                    let _ = writeln!(
                        std::io::stderr(),
                        "weft: caught a panic in the `on_stall` hook ({text}); stall detection \
                         carries on"
                    );
                }
            }
            None => report.write_to_stderr(),
        }
    }
}
