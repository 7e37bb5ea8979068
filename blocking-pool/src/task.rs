//! A job's two halves: the [`Job`] a pool thread runs (or drops, which
//! cancels it) and the [`Task`] its submitter keeps.
//!
//! They share one slot behind a mutex: the job stores its result there and
//! wakes whoever waits (a waker for `.await`, a condvar for [`Task::wait`]).
//! The lock is held only to move the result or the waker, never while the
//! job runs.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::admission::Place;
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::{Id, JoinError};

/// A job on its way to a pool thread. Running it runs the closure and
/// resolves its [`Task`]; dropping it drops the closure unrun and resolves
/// the Task as cancelled.
pub(crate) type Job = Box<dyn Run>;

/// The type-erased job.
pub(crate) trait Run: Send {
    /// Runs the closure (catching a panic), counts it in `completed`, then
    /// resolves the Task (so a resolved Task is always counted).
    fn run(self: Box<Self>, completed: &AtomicU64);
}

/// Creates a job for `f` and the Task that receives its result; the job
/// gets its task [`Id`] here, when it is submitted. `place` is its place
/// in a bounded pool (see `admission.rs`), given back when `f` is gone.
pub(crate) fn new<F, R>(f: F, place: Place) -> (Job, Task<R>)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let shared = Arc::new(Shared {
        id: Id::next(),
        slot: Mutex::new(Slot::Waiting(None)),
        done: Condvar::new(),
    });
    let job = Box::new(JobImpl { f, place, resolver: Resolver(Some(shared.clone())) });
    (job, Task { shared })
}

struct JobImpl<F, R> {
    // Field order matters: when a job is dropped unrun, `f` is dropped
    // before `resolver` resolves the Task as cancelled, so a cancelled Task
    // never sees the closure's captures still alive, and `place` is given
    // back before it too, so a caller that saw the Task resolve finds the
    // place free.
    f: F,
    place: Place,
    resolver: Resolver<R>,
}

impl<F, R> Run for JobImpl<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(self: Box<Self>, completed: &AtomicU64) {
        let JobImpl { f, place, resolver } = *self;
        let id = resolver.id();
        let result = panic::catch_unwind(AssertUnwindSafe(f))
            .map_err(|payload| JoinError::panic(id, payload));
        // The job is finished: its place goes back before its Task resolves.
        drop(place);
        // Relaxed: a statistic; the Task's mutex orders it before `resolve`
        // for whoever then reads it after the Task resolved.
        completed.fetch_add(1, Ordering::Relaxed);
        resolver.resolve(result);
    }
}

/// The job's end of the slot. Dropped without `resolve`: cancelled.
struct Resolver<R>(Option<Arc<Shared<R>>>);

impl<R> Resolver<R> {
    /// The job's id.
    fn id(&self) -> Id {
        self.0.as_ref().expect("a resolver holds its slot until it resolves").id
    }

    fn resolve(mut self, result: Result<R, JoinError>) {
        if let Some(shared) = self.0.take() {
            shared.resolve(result);
        }
    }
}

impl<R> Drop for Resolver<R> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let id = shared.id;
            shared.resolve(Err(JoinError::cancelled(id)));
        }
    }
}

struct Shared<R> {
    /// The job's task id; its JoinError carries it too.
    id: Id,
    slot: Mutex<Slot<R>>,
    /// [`Task::wait`] waits here.
    done: Condvar,
}

enum Slot<R> {
    /// Not finished; the waker of the last poll, if any.
    Waiting(Option<Waker>),
    /// Finished; the result has not been taken.
    Done(Result<R, JoinError>),
    /// The result was returned to the Task's owner.
    Taken,
}

impl<R> Shared<R> {
    fn resolve(&self, result: Result<R, JoinError>) {
        let waker = match std::mem::replace(&mut *self.slot.lock(), Slot::Done(result)) {
            Slot::Waiting(waker) => waker,
            Slot::Done(_) | Slot::Taken => unreachable!("a job resolves its Task once"),
        };
        // After unlocking: a `wait` that saw `Waiting` is already parked on
        // the condvar (it releases the lock atomically with parking).
        self.done.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The result of a job on the pool: `.await` it, or [`wait`](Task::wait)
/// for it from synchronous code.
///
/// Resolves to `Ok(value)` when the closure returns, or to a [`JoinError`]
/// when it panicked or was cancelled by [`Pool::shutdown`](crate::Pool::shutdown)
/// before it started (never, for a [mandatory](crate#mandatory-jobs) job).
///
/// Dropping a `Task` detaches the job: it still runs, and its result is
/// dropped.
///
/// ```
/// let pool = weft_blocking::Pool::new();
/// let task = pool.spawn(|| 6 * 7);
/// assert_eq!(task.wait().unwrap(), 42);
/// ```
#[must_use = "dropping a Task detaches the job; call `wait` or `.await` for its result"]
pub struct Task<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Task<R> {
    /// Blocks the current thread until the job has finished and returns its
    /// result. Fine to call from a pool thread (another job), as long as
    /// `max_threads` leaves room for the job it waits for.
    ///
    /// # Panics
    ///
    /// If the Task was already polled to completion as a future.
    pub fn wait(self) -> Result<R, JoinError> {
        let mut slot = self.shared.slot.lock();
        loop {
            match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Done(result) => return result,
                Slot::Taken => panic!("Task::wait called after the Task returned its result"),
                waiting @ Slot::Waiting(_) => {
                    *slot = waiting;
                    self.shared.done.wait(&mut slot);
                }
            }
        }
    }

    /// The job's task id, handed out when it was submitted: unique among
    /// the jobs of every pool and the tasks of every weft runtime, and the
    /// one its [`JoinError`] carries.
    ///
    /// ```
    /// let pool = weft_blocking::Pool::new();
    /// let task = pool.spawn(|| panic!("boom"));
    /// let id = task.id();
    /// assert_eq!(task.wait().unwrap_err().id(), id);
    /// ```
    pub fn id(&self) -> Id {
        self.shared.id
    }

    /// Whether the job has finished (returned, panicked or been cancelled).
    /// Never blocks.
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.slot.lock(), Slot::Waiting(_))
    }
}

impl<R> Future for Task<R> {
    type Output = Result<R, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.slot.lock();
        match &mut *slot {
            Slot::Waiting(waker) => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Done(_) => match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Done(result) => Poll::Ready(result),
                _ => unreachable!(),
            },
            Slot::Taken => panic!("Task polled after it returned its result"),
        }
    }
}

impl<R> fmt::Debug for Task<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.shared.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
