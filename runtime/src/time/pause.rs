//! [`pause`], [`resume`] and [`advance`]: a clock that tests control, as
//! Tokio's functions of the same names (its `test-util` feature).

use std::time::Duration;

use crate::loom::sync::Arc;
use crate::runtime::context;
use crate::runtime::scheduler::Shared;
use crate::runtime::time::PauseError;

/// The current runtime, or a panic naming `what` and the problem.
#[track_caller]
fn current(what: &str) -> Arc<Shared> {
    match context::with_current(Arc::clone) {
        Some(shared) => shared,
        None => panic!(
            "`weft::time::{what}` called outside a weft runtime: it acts on the current \
             runtime's clock, so call it in a task, in `Runtime::block_on` or while a \
             `Runtime::enter` guard lives"
        ),
    }
}

/// The panic for a refused `what`.
#[track_caller]
fn refused(what: &str, err: PauseError) -> ! {
    match err {
        PauseError::MultiThread => panic!(
            "`weft::time::{what}` needs the current-thread runtime \
             (`Builder::new_current_thread`, the default of `#[weft::test]`): a multi-thread \
             runtime's clock cannot be paused"
        ),
        PauseError::AlreadyPaused => {
            panic!("`weft::time::{what}` called while the clock is already paused")
        }
        PauseError::NotPaused => panic!(
            "`weft::time::{what}` called while the clock is not paused (call \
             `weft::time::pause()` first, or build the runtime with `start_paused(true)`)"
        ),
    }
}

/// Pauses the current runtime's clock: from now on its
/// [`Instant::now`](super::Instant::now) and its timers ([`sleep`](super::sleep()),
/// [`timeout`](super::timeout()), [`interval`](super::interval())) see a time
/// that moves only when told to, for deterministic tests of time-dependent
/// code.
///
/// The time moves by [`advance`], and by itself when the runtime has
/// nothing left to do but wait for timers (*auto-advance*): instead of
/// sleeping, the runtime looks once for I/O readiness without waiting and,
/// if nothing became ready, jumps the clock to the next timer's deadline.
/// So a test of a 30-second timeout takes microseconds. While a
/// [`spawn_blocking`](crate::task::spawn_blocking) or
/// [`spawn_cpu`](crate::task::spawn_cpu) job of the runtime is in flight
/// there is no auto-advance: the job may be about to wake something at the
/// current time.
///
/// Auto-advance looks at what the thread running the runtime can see: its
/// tasks and its own `block_on` future. A second thread inside
/// `Handle::block_on` of the same runtime polls its future on its own, so
/// the clock may jump again before that future has run after its timer
/// fired; drive a paused runtime from one thread.
///
/// [`Builder::start_paused`](crate::runtime::Builder::start_paused) (and
/// `#[weft::test(start_paused = true)]`) starts a runtime paused.
///
/// # Panics
/// Outside a weft runtime, on a multi-thread runtime (only the
/// current-thread runtime can be paused, as in Tokio), or if the clock is
/// already paused.
///
/// ```
/// use std::time::Duration;
///
/// let rt = weft::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     weft::time::pause();
///     let start = weft::time::Instant::now();
///     // Nothing else to do: the clock jumps to the deadline.
///     let late = weft::time::timeout(Duration::from_secs(30), std::future::pending::<()>());
///     assert!(late.await.is_err());
///     assert!(start.elapsed() >= Duration::from_secs(30));
/// });
/// ```
#[track_caller]
pub fn pause() {
    let shared = current("pause()");
    if let Err(err) = shared.clock().pause() {
        refused("pause()", err);
    }
    // Called off the worker thread (a pool job of this runtime), the
    // parked worker must look at the paused clock.
    shared.unpark_workers();
}

/// Resumes the current runtime's clock: the time runs again from where it
/// stood (the time [`advance`] or auto-advance skipped stays skipped).
///
/// # Panics
/// Outside a weft runtime, or if the clock is not paused.
///
/// ```
/// use std::time::Duration;
///
/// let rt = weft::runtime::Builder::new_current_thread().start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let start = weft::time::Instant::now();
///     weft::time::advance(Duration::from_secs(60)).await;
///     weft::time::resume();
///     weft::time::sleep(Duration::from_millis(1)).await; // real time again
///     assert!(start.elapsed() > Duration::from_secs(60));
/// });
/// ```
#[track_caller]
pub fn resume() {
    let shared = current("resume()");
    if let Err(err) = shared.clock().resume() {
        refused("resume()", err);
    }
    // A parked worker waits for no timer while paused: it must now.
    shared.unpark_workers();
}

/// Moves the current runtime's paused clock forward by `duration`, in one
/// jump: every timer due by then fires (its task is woken), then the
/// calling task yields until the tasks woken (and those they woke) have
/// run, up to 64 times (Tokio's scheduler runs a batch of tasks before it
/// polls `block_on`'s future again; weft polls a woken one after each
/// task, so it yields as often as there is work). It counts queued tasks:
/// awaited from a second thread's `Handle::block_on`, it may return while
/// the runtime's thread is still polling one (see [`pause()`]).
///
/// # Panics
/// When polled: outside a weft runtime, or if the clock is not paused.
///
/// ```
/// use std::time::Duration;
/// use weft::time::{advance, sleep};
///
/// let rt = weft::runtime::Builder::new_current_thread().start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let start = weft::time::Instant::now();
///     let ten_seconds = sleep(Duration::from_secs(10)); // the deadline is set here
///     let woke = weft::spawn(async move {
///         ten_seconds.await;
///         weft::time::Instant::now()
///     });
///     advance(Duration::from_secs(10)).await;
///     assert_eq!(woke.await.unwrap() - start, Duration::from_secs(10));
/// });
/// ```
pub async fn advance(duration: Duration) {
    let shared = current("advance()");
    if let Err(err) = shared.clock().advance(duration) {
        refused("advance()", err);
    }
    shared.fire_due_everywhere();
    // Wakes a worker parked elsewhere (`advance` awaited through
    // `Handle::block_on` on another thread).
    shared.unpark_workers();
    for _ in 0..MAX_SETTLE_YIELDS {
        crate::task::yield_now().await;
        if shared.queued_tasks() == 0 {
            break;
        }
    }
}

/// The most yields [`advance`] makes for the tasks it woke: bounded, so a
/// task that always wakes itself cannot keep `advance` from returning.
const MAX_SETTLE_YIELDS: usize = 64;
