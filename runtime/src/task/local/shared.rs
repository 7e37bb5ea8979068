//! The part of a [`LocalSet`](super::LocalSet) that other threads reach:
//! its run queue, the waker of whoever runs the set, and its owned-task
//! list. It is the `Schedule` of every local task, so it lives in each
//! task cell (an `Arc`) and a waker or `AbortHandle` on any thread can
//! reach it.
//!
//! What other threads may do here is push: a wake or an abort from
//! anywhere only queues the task's `Notified` and wakes the set's runner.
//! Popping, polling and shutting tasks down are the owner's alone: only
//! the `LocalSet` (which is `!Send` and `!Sync`) calls [`Shared::pop`],
//! [`Shared::spawn`] and [`Shared::close`], so every future is polled and
//! dropped on the set's own thread. The owned list keeps each cell's
//! future reachable from the owner until the owner has dropped it: a
//! wake or a handle dropped elsewhere afterwards only drops a reference to
//! a cell whose future is already gone.

use std::collections::VecDeque;
use std::future::Future;
use std::task::Waker;

use crate::loom::sync::{Arc, Mutex};
use crate::runtime::task::list::OwnedTasks;
use crate::runtime::task::{self, JoinHandle, Notified, Schedule, Task, Unqueued};

/// The shared half of a `LocalSet` (see the module docs).
pub(super) struct Shared {
    inner: Mutex<Inner>,
    owned: OwnedTasks<Arc<Shared>>,
}

/// What the lock guards: the queue and the runner's waker change together,
/// so a push and a registration cannot miss each other.
struct Inner {
    /// Tasks to poll, in wake order; `None` once the set was dropped (a
    /// later wake's `Notified` is handed back to the waker's thread, which
    /// only drops a reference: that task's future is already gone).
    queue: Option<VecDeque<Notified<Arc<Shared>>>>,
    /// Whoever last polled the set (its `run_until` or its own future);
    /// taken by the first push after that poll.
    waker: Option<Waker>,
}

impl Shared {
    pub(super) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner { queue: Some(VecDeque::new()), waker: None }),
            owned: OwnedTasks::new(1),
        })
    }

    /// Spawns `future` as a task of this set and queues its first poll.
    ///
    /// Owner only: called by `LocalSet::spawn_local` (through `&LocalSet`,
    /// which is `!Sync`) or by `spawn_local` while this set runs on the
    /// calling thread.
    #[track_caller]
    pub(super) fn spawn<F>(this: &Arc<Shared>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // SAFETY: `new_local_task`'s contract, on this scheduler: its
        // `Notified`s are popped only by `pop` and its owned list is shut
        // down only by `close` (and by `bind` just below, for a list
        // already closed), all called by the `LocalSet` on its own
        // thread, which is this one (see this function's doc); the list
        // keeps its reference until the task completes (released in the
        // owner's poll) or `close` shuts it down, also on this thread.
        let (task, notified, join) = unsafe { task::new_local_task(future, this.clone()) };
        // A closed list (the set is being dropped: a future's destructor
        // spawns) shuts the task down right here, on the owner.
        if this.owned.bind(task) {
            drop(this.schedule(notified));
        }
        join
    }

    /// Owner: the next task to poll.
    pub(super) fn pop(&self) -> Option<Notified<Arc<Shared>>> {
        self.inner.lock().queue.as_mut().and_then(VecDeque::pop_front)
    }

    /// Owner: whether tasks wait in the queue.
    pub(super) fn has_queued(&self) -> bool {
        self.inner.lock().queue.as_ref().is_some_and(|queue| !queue.is_empty())
    }

    /// Owner: stores the runner's waker before a look at the queue, so a
    /// push after that look wakes it.
    pub(super) fn register(&self, waker: &Waker) {
        if self.inner.lock().waker.as_ref().is_some_and(|stored| stored.will_wake(waker)) {
            return;
        }
        // Cloned and the old one dropped outside the lock: a waker's clone
        // and destructor are user code. Only the owner registers, so
        // nothing changes the slot between the look above and this.
        let new = waker.clone();
        let old = self.inner.lock().waker.replace(new);
        drop(old);
    }

    /// Owner: the number of tasks not yet finished (spawned, not
    /// completed or cancelled).
    pub(super) fn alive(&self) -> usize {
        self.owned.len()
    }

    /// Owner, from `LocalSet::drop`: drops every remaining future here and
    /// closes the queue.
    pub(super) fn close(&self) {
        // First the futures: each is dropped in place on this thread and
        // its JoinHandle resolves as cancelled. A destructor that spawns
        // finds the list closed (the task is shut down at once); one that
        // wakes a task pushes to the still-open queue, emptied below.
        self.owned.close_and_shutdown_all(0);
        let (queue, waker) = {
            let mut inner = self.inner.lock();
            (inner.queue.take(), inner.waker.take())
        };
        // Every queued entry now refers to a completed task: dropping it
        // drops a reference only (it may free the cell, whose stage holds
        // no future any more). Outside the lock: a free drops the cell's
        // `Arc<Shared>`, and the waker's destructor is user code.
        drop(queue);
        drop(waker);
    }
}

impl Schedule for Arc<Shared> {
    /// From any thread: queue the task and wake the set's runner. Never
    /// polls and never drops a task here.
    fn schedule(&self, task: Notified<Self>) -> Unqueued<Self> {
        let mut inner = self.inner.lock();
        let Some(queue) = inner.queue.as_mut() else {
            // The set was dropped: nobody will run this. Dropping it may
            // free this very cell, so it goes back to the caller.
            return Unqueued::of(vec![task]);
        };
        queue.push_back(task);
        let waker = inner.waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Unqueued::none()
    }

    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.owned.remove(task)
    }
}
