//! The stall monitor: one thread per runtime that notices a poll running
//! past the threshold, names it, and rescues what its worker holds.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::report::{SampledStack, StallReport};
use super::StallSettings;
use crate::backtrace;
use crate::loom::sync::Arc;
use crate::runtime::cpu::at_normal_priority;
use crate::runtime::driver::Driver;
use crate::runtime::scheduler::Shared;
use crate::unwind;
use weft_util::Id;

/// The running monitor, owned by the `Runtime`.
pub(crate) struct Monitor {
    thread: thread::JoinHandle<()>,
    /// Disconnects when the monitor thread ends (it drops the sender). In
    /// a mutex only so the `Runtime` stays `Sync`.
    ended: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Monitor {
    /// Starts the monitor of `shared` on a thread named `weft-stall` (a
    /// thread's name is cut to 15 bytes on Linux, so no longer prefix).
    pub(crate) fn start(shared: Arc<Shared>, settings: StallSettings) -> io::Result<Monitor> {
        let (ending, ended) = mpsc::channel::<()>();
        // Never from a lowered thread: an idle-priority monitor could not
        // report while every core is busy (see `cpu/starter.rs`).
        let thread = at_normal_priority(move || {
            thread::Builder::new().name("weft-stall".to_owned()).spawn(move || {
                let _ending = ending;
                Watcher::new(shared, settings).run();
            })
        })?;
        Ok(Monitor { thread, ended: std::sync::Mutex::new(ended) })
    }

    /// Stops the monitor (the runtime's shutdown flag is set) and joins
    /// its thread if it finishes within `STOP_WAIT` (and before `deadline`,
    /// a `shutdown_timeout`'s). It may not: the user's
    /// hook may be running, and may even wait for the thread shutting the
    /// runtime down (a lock it holds), or be that thread (a hook dropping
    /// the runtime). Then the monitor is left to finish on its own: it
    /// holds its own `Arc<Shared>`, sees the flag when the hook returns,
    /// and starts no new report (one already under way, in a slow hook or
    /// a first symbolisation, may still finish after the runtime is gone).
    pub(crate) fn stop(self, shared: &Shared, deadline: Option<Instant>) {
        debug_assert!(shared.is_shutdown(), "the monitor stops at shutdown");
        shared.idle().ring_monitor();
        self.thread.thread().unpark();
        if self.thread.thread().id() == thread::current().id() {
            return;
        }
        let mut wait = STOP_WAIT;
        if let Some(deadline) = deadline {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        // Woken the moment the thread ends (the sender drops), not polled.
        let ended = self.ended.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(mpsc::RecvTimeoutError::Disconnected) = ended.recv_timeout(wait) {
            // The monitor contains the user's hook; anything else escaping
            // is a weft bug, which must not abort shutdown either.
            let _ = self.thread.join();
        }
    }
}

/// How long a shutdown waits for the monitor before leaving it behind.
const STOP_WAIT: Duration = Duration::from_millis(100);

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
    /// Making `server` failed once.
    no_server: bool,
}

impl Watcher {
    fn new(shared: Arc<Shared>, settings: StallSettings) -> Watcher {
        let workers = shared.num_workers();
        Watcher {
            tick: tick_of(settings.threshold),
            seen: vec![None; workers],
            server: None,
            no_server: false,
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
                shared.idle().monitor_sleep(|| shared.is_shutdown(), || shared.no_core_running());
            }
            thread::park_timeout(self.tick);
            for worker in 0..self.seen.len() {
                // A slow hook for an earlier worker may have outlasted the
                // runtime: then nothing more is reported or rescued.
                if self.shared.is_shutdown() {
                    return;
                }
                self.look_at(worker);
            }
        }
    }

    /// The stack of the thread running `worker`, if it is still in the poll
    /// `seq` once sampled (else the stack would be another poll's, or the
    /// park's).
    fn sample_stack(&self, worker: usize, seq: u64) -> Option<SampledStack> {
        let thread = self.shared.worker_thread(worker)?;
        let frames = backtrace::capture(&thread, backtrace::CAPTURE_TIMEOUT)?;
        let still = self.shared.poll_slot(worker).read().is_some_and(|(now, ..)| now == seq);
        still.then(|| SampledStack::new(frames))
    }

    /// One look at `worker`: the same poll as last time (same sequence
    /// number in its slot) has run since the first sighting.
    fn look_at(&mut self, worker: usize) {
        let Some((seq, task, spawned_at)) = self.shared.poll_slot(worker).read() else {
            self.seen[worker] = None;
            return;
        };
        // Read after the slot, per look: a first sighting's time must not
        // come from before the poll began (a preempted monitor, or a hook or
        // stack capture for an earlier worker that took a while).
        let now = Instant::now();
        let sighting = match self.seen[worker] {
            Some(s) if s.seq == seq => s,
            _ => {
                self.seen[worker] = Some(Sighting { seq, since: now, reported: false });
                return;
            }
        };
        let running = now.saturating_duration_since(sighting.since);
        if running < self.tick {
            // Two looks close together (an early wake-up): not stuck yet.
            return;
        }
        // Stuck for at least a tick: what it holds goes to the others,
        // on every look until the poll ends. The events buffer for polling
        // its driver is made the first time one is needed (an epoll
        // instance: most runtimes never need it).
        if self.server.is_none() && !self.no_server && self.shared.worker_has_sources(worker) {
            self.server = Driver::new().ok().map(|(driver, _)| driver);
            // Not retried on every look if it cannot be made (no fds left):
            // the watcher still serves drivers.
            self.no_server = self.server.is_none();
        }
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
            backtrace: self.sample_stack(worker, seq),
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
