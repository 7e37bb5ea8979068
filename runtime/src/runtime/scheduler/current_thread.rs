//! The current-thread flavor: the thread inside `block_on` is the runtime's
//! only worker.
//!
//! A current-thread runtime is the work-stealing scheduler with one worker
//! whose core no thread owns. The core (queues, timer wheel, I/O driver)
//! waits in `Shared::cores` until a thread calls `block_on`, which takes it
//! and runs the ordinary worker loop on its own stack, polling its own
//! future whenever that future's waker fires, until the future completes;
//! then the core goes back for the next `block_on`. So queues, timers, I/O
//! and the blocking pool are the same code as the multi-thread runtime's;
//! only who runs the loop, and when it stops, differ.
//!
//! - Tasks run only while some thread is inside `block_on`, as in Tokio's
//!   current-thread runtime. A spawn from another thread goes to the
//!   injector and unparks the worker's driver, like any remote spawn.
//! - Two threads in `block_on` at once: one holds the core; the other polls
//!   its own future on a plain parker and takes the core when it comes
//!   back (it waits in `Shared::core_waiters`).
//! - `block_in_place` is refused: it would move the core, and with it the
//!   tasks, to another thread.
//! - Shutdown: whoever holds the core shuts it down: the runtime's drop if
//!   the core is in its slot, else the `block_on` thread when its loop sees
//!   the shutdown flag. `Shared::return_core` reads the flag under the
//!   slot's lock, so exactly one of them does.

use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use super::worker::MainFuture;
use super::{Shared, WorkerContext};
use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use crate::loom::sync::Arc;
use crate::runtime::context;
use crate::runtime::coop;
use crate::runtime::park::ThreadParker;
use weft_util::Id;

/// The waker of the future given to `block_on`.
///
/// It sets `woken` and then wakes the thread both ways it may be waiting:
/// in the worker's driver (while it holds the core) and on `parker` (while
/// another thread holds the core). The flag is what the thread checks;
/// the two unparks only end its wait.
pub(super) struct MainWake {
    woken: AtomicBool,
    shared: Arc<Shared>,
    parker: ThreadParker,
}

impl MainWake {
    fn new(shared: Arc<Shared>) -> MainWake {
        // Woken at first, so the future is polled once before any wait.
        MainWake { woken: AtomicBool::new(true), shared, parker: ThreadParker::new() }
    }

    /// True, and cleared, if the future was woken since the last call.
    pub(super) fn take_woken(&self) -> bool {
        // Acquire: pairs with the Release store in `wake_by_ref`, so what
        // the waking thread wrote before waking is visible to the poll.
        self.woken.swap(false, Acquire)
    }

    /// True if the future was woken and not yet polled.
    pub(super) fn is_woken(&self) -> bool {
        // Relaxed: a hint that ends a park early or spares the worker loop
        // a swap; `take_woken` (Acquire) is the read that decides a poll.
        self.woken.load(Relaxed)
    }
}

impl Wake for MainWake {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        // Release: see `take_woken`. A thread parked in the driver cannot
        // miss the flag: the driver's unpark and park are SeqCst swaps of
        // its state word, so the park that returns after this unpark
        // observes the store; a park that starts after it returns at once.
        self.woken.store(true, Release);
        self.shared.remotes[0].driver.unpark();
        self.parker.unpark();
    }
}

/// Puts the core back if the main future panics. User code (the main
/// future, tasks, wakers fired by the driver) only runs while the core sits
/// in the worker context, so that is where an unwinding panic leaves it;
/// without this the next `block_on` would wait for it forever.
struct ReturnCoreOnUnwind<'a>(&'a WorkerContext);

impl Drop for ReturnCoreOnUnwind<'_> {
    fn drop(&mut self) {
        if let Some(core) = self.0.core.borrow_mut().take() {
            self.0.shared.return_core(core);
        }
    }
}

/// `block_on` of a current-thread runtime: runs the worker loop on this
/// thread until `future` completes (see the module docs).
#[track_caller]
pub(crate) fn block_on<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    // The stall monitor names a stuck main future by these (stall rule 1).
    let (id, called_at) = (Id::next(), Location::caller());
    let main = StdArc::new(MainWake::new(shared.clone()));
    let waker = Waker::from(main.clone());
    let mut future = pin!(future);
    let mut output = None;
    loop {
        if let Some(core) = shared.take_core_or_wait(&waker) {
            // While this thread runs the core, the stall monitor samples
            // its stack.
            let _sampled = shared.sample_worker_thread(core.index);
            let cx = WorkerContext::new(shared.clone(), core.index);
            let mut poll_main = || {
                let mut task_cx = Context::from_waker(&waker);
                match coop::with_budget(|| future.as_mut().poll(&mut task_cx)) {
                    Poll::Ready(out) => {
                        output = Some(out);
                        true
                    }
                    Poll::Pending => false,
                }
            };
            let guard = ReturnCoreOnUnwind(&cx);
            let main_future = MainFuture { wake: &main, poll: &mut poll_main, id, called_at };
            let core = context::set_worker(&cx, || cx.run(core, Some(main_future)))
                .expect("a current-thread core never leaves its block_on thread");
            std::mem::forget(guard);
            if let Some(out) = output.take() {
                shared.return_core(core);
                return out;
            }
            // The loop only stops early at shutdown: shut the core down
            // here and finish the future without it (its tasks are gone,
            // so what it awaits of them reports cancellation).
            shared.abandon_core(core);
            continue;
        }
        if main.take_woken() {
            let mut task_cx = Context::from_waker(&waker);
            if let Poll::Ready(out) = coop::with_budget(|| future.as_mut().poll(&mut task_cx)) {
                return out;
            }
        } else {
            main.parker.park();
        }
    }
}
