//! The orphan queue: children whose `Child` was dropped before they were
//! reaped, kept until a non-blocking wait collects them, so none is left a
//! zombie.
//!
//! The rules:
//!
//! 1. Only a dropped [`Child`](super::Child) whose exit status was not
//!    collected adds to the queue ([`adopt`]); the queue owns the
//!    `std::process::Child` from then on, so no other code waits on that pid
//!    and the pid cannot be reused while it is queued (an unreaped child
//!    keeps its pid).
//! 2. [`reap`] tries each queued child once with a non-blocking wait
//!    (`waitpid(WNOHANG)` inside `std::process::Child::try_wait`) and drops
//!    those that have exited (or cannot be waited any more). It never
//!    blocks, so it may run anywhere: on every spawn, on every completed
//!    wait, and in the reaper task.
//! 3. While the queue is not empty and a runtime is at hand, one reaper
//!    task per runtime ([`REAPERS`]) calls [`reap`] on a weft timer with
//!    backoff until the queue is empty. Per runtime, not per process: a
//!    runtime that nothing drives (a current-thread one between
//!    `block_on`s) would otherwise hold the only reaper while others run.
//!    If a task is dropped (its runtime shuts down), it reaps once more on
//!    the way out and lets that runtime's next adopter start a new one. A
//!    child dropped outside any runtime waits for the next spawn or wait in
//!    this process.

use std::process::Child as StdChild;
use std::sync::Mutex;
use std::time::Duration;

use crate::loom::sync::Arc;
use crate::runtime::context;

/// The children waiting to be reaped (rule 1).
static ORPHANS: Mutex<Vec<StdChild>> = Mutex::new(Vec::new());

/// The runtimes (by the address of their shared state) that have a reaper
/// task (rule 3).
static REAPERS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn reapers() -> std::sync::MutexGuard<'static, Vec<usize>> {
    REAPERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first and the longest pause of the reaper task between two reaps.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

fn orphans() -> std::sync::MutexGuard<'static, Vec<StdChild>> {
    // A panic while holding the lock leaves a valid Vec: keep going.
    ORPHANS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Queues `child` (not reaped yet) to be reaped later (rule 1), and makes
/// sure a reaper task runs if a runtime is at hand (rule 3).
pub(super) fn adopt(mut child: StdChild) {
    if let Ok(None) = child.try_wait() {
        orphans().push(child);
        start_reaper();
    }
}

/// Reaps every queued child that has exited, without blocking (rule 2);
/// returns whether any is still queued.
pub(super) fn reap() -> bool {
    let mut queue = orphans();
    // `Err` means the pid is no longer our child to wait for (ECHILD):
    // nothing is left to reap.
    queue.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    !queue.is_empty()
}

/// Starts a reaper task on the current runtime unless it has one or no
/// runtime is at hand.
fn start_reaper() {
    let Some(runtime) = context::with_current(|shared| Arc::as_ptr(shared) as usize) else {
        return;
    };
    {
        let mut reapers = reapers();
        if reapers.contains(&runtime) {
            return;
        }
        reapers.push(runtime);
    }
    // Made outside the task, so a task its runtime drops unpolled (during
    // shutdown) still takes its runtime off the list.
    let turn = ReaperGuard { runtime, finished: false };
    crate::task::spawn(async move {
        // The whole guard moves in (not just the field assigned below).
        let mut turn = turn;
        let mut pause = FIRST_PAUSE;
        while reap() {
            crate::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        turn.finished = true;
    });
}

/// Ends a reaper task's turn (rule 3): one last reap, then its runtime
/// leaves the list. A task that finished (found the queue empty) looks at
/// the queue once more, so a child adopted between its last reap and the
/// removal still gets a reaper; a task dropped by its runtime's shutdown
/// does not, since a new task would be dropped too: those children wait
/// for another runtime's reaper or the next spawn or wait.
struct ReaperGuard {
    /// The runtime the task runs on (the address of its shared state,
    /// alive while the task is).
    runtime: usize,
    finished: bool,
}

impl Drop for ReaperGuard {
    fn drop(&mut self) {
        let left = reap();
        reapers().retain(|&r| r != self.runtime);
        if left && self.finished {
            start_reaper();
        }
    }
}
