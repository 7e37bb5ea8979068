//! Keeps the CPU pool's low priority from spreading.
//!
//! A Linux thread inherits its scheduling policy and nice value from the
//! thread that creates it, and an unprivileged thread cannot raise them
//! again. A CPU job that submits a blocking job may make the blocking pool
//! start a thread from the CPU thread; a CPU job may build a runtime, whose
//! workers and stall monitor would start there too. Those threads, and all
//! the work they ever run, would be stuck at idle priority. So every
//! thread the runtime starts (workers, stall monitor, blocking-pool and
//! CPU-pool threads) is started through [`at_normal_priority`]: on a
//! thread that is not lowered, right there; on a lowered one, by the
//! starter, a thread at normal priority (one per process, started when the
//! first runtime whose CPU pool lowers its threads is built, from the
//! thread building it).
//!
//! Not fork-safe: a child process made by `fork` (without `exec`) has no
//! starter thread, and a lowered thread there that starts a runtime thread
//! would wait for it forever. weft runtimes do not survive `fork` anyway.

use crate::runtime::cpu::priority::this_thread_is_lowered;

/// Starts the starter thread, unless it runs already or this thread is
/// lowered itself (it would pass its priority on).
pub(crate) fn prepare() {
    if !this_thread_is_lowered() {
        imp::get_or_start();
    }
}

/// Runs `f` (which starts a thread) on a thread at normal priority: this
/// one unless it is lowered, else the starter. Without a starter (it could
/// not be started, or every runtime was built on a lowered thread), `f`
/// runs here and the thread it starts inherits this thread's priority.
#[cfg(not(loom))]
pub(crate) fn at_normal_priority<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !this_thread_is_lowered() {
        return f();
    }
    imp::run(f)
}

/// Loom models start their threads from the model: nothing is lowered.
#[cfg(loom)]
pub(crate) fn at_normal_priority<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(not(loom))]
mod imp {
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::mpsc::{self, Sender};
    use std::sync::{Mutex, OnceLock};

    type Job = Box<dyn FnOnce() + Send>;

    /// The starter's queue; `None` if it could not be started.
    static STARTER: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();

    pub(super) fn get_or_start() {
        STARTER.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            // Lives as long as the process, asleep in `recv` between jobs
            // (no runtime's shutdown waits for it). Each job catches its
            // own panic, so the loop never ends early.
            std::thread::Builder::new()
                .name("weft-thread-starter".to_owned())
                .spawn(move || rx.into_iter().for_each(|job| job()))
                .ok()
                .map(|_| Mutex::new(tx))
        });
    }

    pub(super) fn run<T, F>(f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            // `sync_channel(1)`: this one send never blocks.
            let _ = reply.send(panic::catch_unwind(AssertUnwindSafe(f)));
        });
        let unsent = match STARTER.get().and_then(Option::as_ref) {
            Some(queue) => {
                let sent = queue.lock().unwrap_or_else(|e| e.into_inner()).send(job);
                sent.err().map(|mpsc::SendError(job)| job)
            }
            None => Some(job),
        };
        // No starter (or it is gone): run it here, without the lock held.
        if let Some(job) = unsent {
            job();
        }
        match result.recv().expect("the starter runs every job it takes, and replies") {
            Ok(value) => value,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

/// Loom: nothing to start.
#[cfg(loom)]
mod imp {
    pub(super) fn get_or_start() {}
}
