//! Internals for the loom models (built only with `--cfg loom`).
//!
//! [`TestScheduler`] runs real weft tasks (the real cell, state word,
//! harness, wakers and owned-task list) on a queue the model drives by
//! hand, so a model can race a poll against wakes, aborts and drops on
//! other loom threads. The full runtime (`weft::runtime`) also builds under
//! loom, with condvar parkers instead of mio, for the scheduler models.

use std::collections::VecDeque;
use std::future::Future;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Arc, Mutex};
use crate::task::{self, list::OwnedTasks, JoinHandle, Notified, Schedule, Task};

pub use crate::scheduler::Idle;

/// A scheduler whose run queue the model drains explicitly.
pub struct TestScheduler {
    queue: Mutex<VecDeque<Notified<Arc<TestScheduler>>>>,
    owned: OwnedTasks<Arc<TestScheduler>>,
    scheduled: AtomicUsize,
}

impl TestScheduler {
    /// An empty scheduler.
    pub fn new() -> Arc<TestScheduler> {
        Arc::new(TestScheduler {
            queue: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
            scheduled: AtomicUsize::new(0),
        })
    }

    /// Spawns `future`; its first `Notified` goes to the queue.
    pub fn spawn<F>(this: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, join) = task::new_task(future, this.clone());
        if this.owned.bind(task) {
            this.schedule(notified);
        }
        join
    }

    /// Polls the task at the head of the queue; false if it was empty.
    pub fn run_one(&self) -> bool {
        let next = self.queue.lock().pop_front();
        match next {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    /// Runs queued tasks until the queue is empty.
    pub fn run_all(&self) {
        while self.run_one() {}
    }

    /// Tasks waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.lock().len()
    }

    /// Total number of times a task was handed to `schedule`/`yield_now`.
    pub fn times_scheduled(&self) -> usize {
        self.scheduled.load(SeqCst)
    }

    /// Tasks still in the owned-task list.
    pub fn alive(&self) -> usize {
        self.owned.len()
    }

    /// Runtime shutdown: cancels every listed task and drops the queue.
    pub fn shutdown(&self) {
        self.owned.close_and_shutdown_all(0);
        let drained: Vec<_> = self.queue.lock().drain(..).collect();
        drop(drained);
    }
}

impl Schedule for Arc<TestScheduler> {
    fn schedule(&self, task: Notified<Self>) {
        self.scheduled.fetch_add(1, SeqCst);
        let mut queue = self.queue.lock();
        // NOTIFIED stands for exactly one queue entry: a second one would
        // mean a task could be polled twice at once.
        assert!(queue.iter().all(|queued| queued.raw() != task.raw()), "a task was queued twice");
        queue.push_back(task);
    }

    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.owned.remove(task)
    }
}

impl Idle {
    /// Loom access to the searching count.
    pub fn searching(&self) -> usize {
        self.num_searching()
    }

    /// Loom access to the unparked count.
    pub fn unparked(&self) -> usize {
        self.num_unparked()
    }
}

/// One worker's timer wheel with an explicit clock, for the timer models.
pub struct TimerWheel {
    time: crate::time::driver::TimeShared,
}

impl TimerWheel {
    /// An empty wheel at tick 0.
    #[allow(clippy::new_without_default)]
    pub fn new() -> TimerWheel {
        TimerWheel { time: crate::time::driver::TimeShared::new() }
    }

    /// Registers a timer due at `tick`; returns its key and whether it was
    /// already due.
    pub fn register(&self, tick: u64, waker: &std::task::Waker) -> (usize, bool) {
        let registered = self.time.register(tick, waker);
        (registered.key, registered.fired)
    }

    /// What `Sleep::poll` does: fired? else (re)store the waker.
    pub fn poll(&self, key: usize, waker: &std::task::Waker) -> bool {
        self.time.poll(key, waker)
    }

    /// What `Sleep::reset` does.
    pub fn reset(&self, key: usize, tick: u64) {
        self.time.reset(key, tick);
    }

    /// What dropping a `Sleep` does.
    pub fn remove(&self, key: usize) {
        self.time.remove(key);
    }

    /// What a worker (owner or serving sibling) does: fire everything due
    /// at `now` and wake it, outside the lock. Returns the number woken.
    pub fn advance(&self, now: u64) -> usize {
        let mut wakers = Vec::new();
        self.time.advance(now, &mut wakers);
        let n = wakers.len();
        wakers.into_iter().for_each(std::task::Waker::wake);
        n
    }

    /// Timers in the wheel.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// True when the wheel holds no timer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
