//! [`StallReport`]: what the stall monitor says about one stalled poll.

use std::fmt;
use std::io::Write;
use std::panic::Location;
use std::sync::OnceLock;
use std::time::Duration;

use crate::backtrace::Frames;

use weft_util::Id;

/// One poll of one task that ran longer than the runtime's
/// [`stall_threshold`](crate::runtime::Builder::stall_threshold), reported
/// while the poll was still running. Handed to
/// [`on_stall`](crate::runtime::Builder::on_stall), or, without that hook,
/// written to stderr as its [`Display`](fmt::Display) paragraph.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let reports = Arc::new(Mutex::new(Vec::new()));
/// let seen = reports.clone();
/// let rt = weft::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .stall_threshold(Some(Duration::from_millis(50)))
///     .on_stall(move |report| seen.lock().unwrap().push(report.task_id()))
///     .build()
///     .unwrap();
/// let id = rt.block_on(async {
///     // Blocks its worker: a mistake the monitor names.
///     let task = weft::spawn(async { std::thread::sleep(Duration::from_millis(200)) });
///     let id = task.id();
///     task.await.unwrap();
///     id
/// });
/// assert_eq!(*reports.lock().unwrap(), vec![id]);
/// ```
#[derive(Clone, Debug)]
pub struct StallReport {
    pub(super) task_id: Id,
    pub(super) spawned_at: &'static Location<'static>,
    pub(super) worker: usize,
    pub(super) elapsed: Duration,
    pub(super) backtrace: Option<SampledStack>,
}

/// The stalled thread's stack: sampled at once, symbolised on first use
/// (loading debug information can take a while; the report is delivered
/// without waiting for it).
#[derive(Clone, Debug)]
pub(super) struct SampledStack {
    frames: Frames,
    text: OnceLock<String>,
}

impl SampledStack {
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn new(frames: Frames) -> SampledStack {
        SampledStack { frames, text: OnceLock::new() }
    }

    fn text(&self) -> &str {
        self.text.get_or_init(|| self.frames.symbolize())
    }
}

impl StallReport {
    /// The stalled task. (On the current-thread flavor the future given to
    /// `block_on` runs on the worker too and is watched like a task: each
    /// `block_on` call gets an id of its own.)
    pub fn task_id(&self) -> Id {
        self.task_id
    }

    /// Where the stalled task was spawned: the user's `spawn` (or
    /// `spawn_blocking`, or, for a `block_on` future, `block_on`) call.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// The worker the task stalls (`0..num_workers()`).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// How long the poll had run when it was reported: at least the
    /// threshold, and at most one monitor tick (a tenth of the threshold,
    /// 1 to 10 ms) less than the truth.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The stalled thread's stack when the stall was detected, symbolised,
    /// innermost frame first; `None` where it could not be captured (see
    /// the `stall-backtrace` feature).
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_ref().map(SampledStack::text)
    }

    /// The default reporter: the paragraph on stderr. A failed write (a
    /// closed stderr) is ignored: the monitor must go on.
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn write_to_stderr(&self) {
        let _ = writeln!(std::io::stderr().lock(), "{self}");
    }
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.spawned_at;
        write!(
            f,
            "weft: task {} (spawned at {}:{}:{}) has been running on worker {} for {} ms \
             without yielding, so every task queued behind it on that worker waits. Move \
             blocking calls into `weft::task::spawn_blocking` (or wrap them in \
             `block_in_place`), move CPU-heavy work into `weft::task::spawn_cpu`, or \
             `.await` `weft::task::yield_now()` inside long loops.",
            self.task_id,
            at.file(),
            at.line(),
            at.column(),
            self.worker,
            self.elapsed.as_millis(),
        )?;
        if let Some(backtrace) = self.backtrace() {
            write!(f, "\nThe stalled thread's stack:\n{backtrace}")?;
        }
        Ok(())
    }
}
