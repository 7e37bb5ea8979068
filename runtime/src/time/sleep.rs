//! [`Sleep`], [`sleep`] and [`sleep_until`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Instant;
use crate::loom::sync::Arc;
use crate::runtime::context;
use crate::runtime::coop;
use crate::runtime::scheduler::Shared;

const NO_RUNTIME: &str = "there is no weft runtime on this thread: timers (sleep, timeout, \
     interval) must be created inside a weft runtime, in a task, in `Runtime::block_on` or \
     while a `Runtime::enter` guard lives";

/// Waits until `duration` has elapsed. Never completes early; completes
/// within about a millisecond (plus scheduling delay) of its deadline.
///
/// # Panics
/// Outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let start = weft::time::Instant::now();
/// weft::time::sleep(Duration::from_millis(10)).await;
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// # });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now().saturating_add(duration))
}

/// Waits until `deadline`.
///
/// # Panics
/// Outside a weft runtime.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    match context::with_current(Arc::clone) {
        Some(shared) => Sleep { deadline, shared, entry: Entry::Unregistered },
        None => panic!("{NO_RUNTIME}"),
    }
}

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// It registers in the timer wheel of the worker that first polls it;
/// dropping it cancels the timer, from any thread.
pub struct Sleep {
    deadline: Instant,
    shared: Arc<Shared>,
    entry: Entry,
}

enum Entry {
    /// Not polled yet (or reset after it fired).
    Unregistered,
    /// In `worker`'s wheel under `key`.
    Registered { worker: usize, key: usize },
    /// Completed; nothing in any wheel.
    Elapsed,
}

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has been reached (the sleep has completed
    /// or will complete on its next poll).
    pub fn is_elapsed(&self) -> bool {
        match self.entry {
            Entry::Elapsed => true,
            Entry::Registered { worker, key } => self.shared.time(worker).is_fired(key),
            Entry::Unregistered => self.now() >= self.deadline,
        }
    }

    /// Moves the deadline, re-arming a completed sleep. If the task was
    /// waiting on it and the new deadline has passed, the task is woken.
    pub fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
        match self.entry {
            Entry::Registered { worker, key } => {
                let tick = self.shared.clock().tick_ceil(deadline.into_std());
                if self.shared.time(worker).reset(key, tick).lowered {
                    self.shared.timer_lowered(worker);
                }
            }
            Entry::Elapsed => self.entry = Entry::Unregistered,
            Entry::Unregistered => {}
        }
    }

    /// The time on the clock of this sleep's runtime (paused or not),
    /// whichever thread asks.
    pub(super) fn now(&self) -> Instant {
        Instant::from_std(self.shared.clock().now())
    }

    fn release(&mut self) {
        if let Entry::Registered { worker, key } =
            std::mem::replace(&mut self.entry, Entry::Elapsed)
        {
            self.shared.time(worker).remove(key);
        }
    }
}

const SHUT_DOWN: &str = "the weft runtime this timer was created in has shut down: its timers \
     no longer fire (a future awaiting one outlived the runtime, e.g. in `Handle::block_on` \
     on another thread)";

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Entry::Elapsed = self.entry {
            return Poll::Ready(());
        }
        // A timer is a resource: it spends budget, so a loop of ready
        // sleeps still yields to other tasks.
        let restore = std::task::ready!(coop::poll_proceed(cx));
        let fired = match self.entry {
            Entry::Registered { worker, key } => {
                let fired = self.shared.time(worker).poll(key, cx.waker());
                // After shutdown no one advances the wheel: waiting would
                // hang (shutdown wakes every timer so that it gets here).
                // Checked after `poll` stored the waker: a shutdown that
                // took the wakers before that has set the flag already.
                if !fired && self.shared.is_shutdown() {
                    panic!("{SHUT_DOWN}");
                }
                fired
            }
            Entry::Unregistered if self.now() >= self.deadline => true,
            Entry::Unregistered => {
                // As above, a shut-down runtime's wheel would never fire
                // this; `register` reads the flag under the wheel lock, so
                // a shutdown either sees our waker or we see its flag.
                let shared = &self.shared;
                let worker = shared.home_worker();
                let tick = shared.clock().tick_ceil(self.deadline.into_std());
                let Some(registered) =
                    shared.time(worker).register(tick, cx.waker(), || shared.is_shutdown())
                else {
                    panic!("{SHUT_DOWN}");
                };
                if registered.lowered {
                    shared.timer_lowered(worker);
                }
                self.entry = Entry::Registered { worker, key: registered.key };
                registered.fired
            }
            Entry::Elapsed => true,
        };
        if !fired {
            return Poll::Pending;
        }
        self.release();
        restore.made_progress();
        Poll::Ready(())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}
