//! Internals for the loom models (built only with `--cfg loom`).
//!
//! [`TestScheduler`] runs real weft tasks (the real cell, state word,
//! harness, wakers and owned-task list) on a queue the model drives by
//! hand, so a model can race a poll against wakes, aborts and drops on
//! other loom threads. The full runtime (`weft::runtime`) also builds under
//! loom, with condvar parkers instead of mio, for the scheduler models.

use std::collections::VecDeque;
use std::future::Future;

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Arc, Mutex};
use crate::runtime::task::{
    self, list::OwnedTasks, JoinHandle, Notified, Schedule, Task, Unqueued,
};

use crate::runtime::scheduler::Idle;

/// A scheduler whose run queue the model drains explicitly.
pub struct TestScheduler {
    /// The run queue; `None` once shut down (a later `schedule` hands its
    /// task back, as the real scheduler does with a push after shutdown).
    queue: Mutex<Option<VecDeque<Notified<Arc<TestScheduler>>>>>,
    owned: OwnedTasks<Arc<TestScheduler>>,
    scheduled: AtomicUsize,
}

impl TestScheduler {
    /// An empty scheduler.
    pub fn new() -> Arc<TestScheduler> {
        Arc::new(TestScheduler {
            queue: Mutex::new(Some(VecDeque::new())),
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
            drop(this.schedule(notified));
        }
        join
    }

    /// Polls the task at the head of the queue; false if it was empty.
    pub fn run_one(&self) -> bool {
        let next = self.queue.lock().as_mut().and_then(VecDeque::pop_front);
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
        self.queue.lock().as_ref().map_or(0, VecDeque::len)
    }

    /// Total number of times a task was handed to `schedule`/`yield_now`.
    pub fn times_scheduled(&self) -> usize {
        self.scheduled.load(SeqCst)
    }

    /// Tasks still in the owned-task list.
    pub fn alive(&self) -> usize {
        self.owned.len()
    }

    /// Runtime shutdown: cancels every listed task, closes the queue and
    /// drops what was in it (outside the lock).
    pub fn shutdown(&self) {
        self.owned.close_and_shutdown_all(0);
        let drained = self.queue.lock().take();
        drop(drained);
    }
}

impl Schedule for Arc<TestScheduler> {
    fn schedule(&self, task: Notified<Self>) -> Unqueued<Self> {
        self.scheduled.fetch_add(1, SeqCst);
        let mut queue = self.queue.lock();
        let Some(queue) = queue.as_mut() else {
            // Shut down: never drop the reference here (`self` may live in
            // the task's own cell); hand it back to the caller.
            return Unqueued::of(vec![task]);
        };
        // NOTIFIED stands for exactly one queue entry: a second one would
        // mean a task could be polled twice at once.
        assert!(queue.iter().all(|queued| queued.raw() != task.raw()), "a task was queued twice");
        queue.push_back(task);
        Unqueued::none()
    }

    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.owned.remove(task)
    }
}

impl TestScheduler {
    /// Takes the task at the head of the queue without running it.
    pub fn take_queued(&self) -> Option<QueuedTask> {
        self.queue.lock().as_mut().and_then(VecDeque::pop_front).map(QueuedTask)
    }
}

/// A queued task (a `Notified`) taken out of a [`TestScheduler`].
pub struct QueuedTask(Notified<Arc<TestScheduler>>);

impl QueuedTask {
    /// Polls the task.
    pub fn run(self) {
        self.0.run();
    }
}

/// The worker's stealable LIFO slot, holding real tasks.
pub struct LifoModel(crate::runtime::scheduler::LifoSlot<Arc<TestScheduler>>);

impl LifoModel {
    /// An empty slot.
    #[allow(clippy::new_without_default)]
    pub fn new() -> LifoModel {
        LifoModel(crate::runtime::scheduler::LifoSlot::new())
    }

    /// Owner: puts a task, returning the one it displaced.
    pub fn put(&self, task: QueuedTask) -> Option<QueuedTask> {
        self.0.put(task.0).map(QueuedTask)
    }

    /// Owner or thief: takes the task.
    pub fn take(&self) -> Option<QueuedTask> {
        self.0.take().map(QueuedTask)
    }

    /// Whether a task sits in the slot (the watcher's look).
    pub fn is_occupied(&self) -> bool {
        self.0.is_occupied()
    }
}

/// The loom model of crossbeam-deque itself (the queues every model above
/// runs on), for the model's own tests.
pub use crate::loom::deque_model::{
    Injector as InjectorModel, Stealer as DequeStealerModel, Worker as DequeModel,
};
pub use crossbeam_deque::Steal;

/// A worker's run queue (the loom model of crossbeam-deque's API that the
/// scheduler uses under loom), holding real tasks.
pub struct LocalQueueModel(crate::loom::deque::Worker<QueuedTask>);

/// A thief's end of a [`LocalQueueModel`].
pub struct StealerModel(crate::loom::deque::Stealer<QueuedTask>);

impl LocalQueueModel {
    /// An empty FIFO queue.
    #[allow(clippy::new_without_default)]
    pub fn new() -> LocalQueueModel {
        LocalQueueModel(crate::loom::deque::Worker::new_fifo())
    }

    /// Owner push.
    pub fn push(&self, task: QueuedTask) {
        self.0.push(task);
    }

    /// Owner pop.
    pub fn pop(&self) -> Option<QueuedTask> {
        self.0.pop()
    }

    /// A stealer for siblings.
    pub fn stealer(&self) -> StealerModel {
        StealerModel(self.0.stealer())
    }
}

impl StealerModel {
    /// Steals half of the queue into `dest`, returning one task.
    pub fn steal_batch_and_pop(&self, dest: &LocalQueueModel) -> Option<QueuedTask> {
        match self.0.steal_batch_and_pop(&dest.0) {
            crossbeam_deque::Steal::Success(task) => Some(task),
            _ => None,
        }
    }
}

/// The idle set's protocol, driven by hand.
pub struct IdleModel(Idle);

impl IdleModel {
    /// An idle set for `workers` workers, all unparked.
    pub fn new(workers: usize) -> IdleModel {
        IdleModel(Idle::new(workers))
    }

    /// A worker starts searching (false if half already search).
    pub fn to_searching(&self) -> bool {
        self.0.transition_worker_to_searching()
    }

    /// A searcher found work; true if it was the last searcher.
    pub fn from_searching(&self) -> bool {
        self.0.transition_worker_from_searching()
    }

    /// A worker parks; true if it was the last searcher.
    pub fn to_parked(&self, index: usize, searching: bool) -> bool {
        self.0.transition_worker_to_parked(index, searching)
    }

    /// A pusher asks whom to wake (marks it unparked and searching).
    pub fn worker_to_notify(&self) -> Option<usize> {
        self.0.worker_to_notify()
    }

    /// A parked worker takes the watcher role.
    pub fn try_become_watcher(&self) -> bool {
        self.0.try_become_watcher()
    }

    /// The watcher gives its role up (a parker then re-reads
    /// [`IdleModel::any_unparked`] and may take it again; a leaver asks
    /// [`IdleModel::worker_to_notify_for_watch`] to hand it on).
    pub fn stop_watching(&self) {
        self.0.stop_watching()
    }

    /// What a parked worker reads before taking the watcher role: is any
    /// worker unparked?
    pub fn any_unparked(&self) -> bool {
        self.0.any_unparked()
    }

    /// Before polling while holding something only a watcher could serve
    /// (a LIFO task, timers, sources), and after a LIFO-only push: whom to
    /// wake (marks it unparked and searching), unless a watcher looks.
    pub fn worker_to_notify_for_watch(&self) -> Option<usize> {
        self.0.worker_to_notify_for_watch()
    }

    /// A watch ask for something `owner` holds (see
    /// `Shared::timer_lowered`): nobody is woken while `owner` is parked.
    pub fn worker_to_notify_for_watch_of(&self, owner: usize) -> Option<usize> {
        self.0.worker_to_notify_for_watch_of(owner)
    }

    /// Whether `index` is still listed as parked.
    pub fn is_parked(&self, index: usize) -> bool {
        self.0.is_parked(index)
    }

    /// A parked worker woke on its own.
    pub fn unpark_by_id(&self, index: usize) -> bool {
        self.0.unpark_worker_by_id(index)
    }

    /// Searching workers.
    pub fn searching(&self) -> usize {
        self.0.num_searching()
    }

    /// Unparked workers.
    pub fn unparked(&self) -> usize {
        self.0.num_unparked()
    }

    /// Whether a parked worker holds the watcher role.
    pub fn watching(&self) -> bool {
        self.0.is_watching()
    }

    /// The stall monitor: sleeps on the bell while every worker is parked
    /// and `stop` stays false.
    pub fn monitor_sleep(&self, stop: impl Fn() -> bool) {
        self.0.monitor_sleep(stop, || false)
    }

    /// Rings the monitor's bell (what the runtime's shutdown does).
    pub fn ring_monitor(&self) {
        self.0.ring_monitor()
    }
}

/// One worker's timer wheel with an explicit clock, for the timer models,
/// and a runtime shutdown flag standing for `Shared`'s.
pub struct TimerWheel {
    time: crate::runtime::time::TimeShared,
    shutdown: crate::loom::sync::atomic::AtomicBool,
}

impl TimerWheel {
    /// An empty wheel at tick 0.
    #[allow(clippy::new_without_default)]
    pub fn new() -> TimerWheel {
        TimerWheel {
            time: crate::runtime::time::TimeShared::new(),
            shutdown: crate::loom::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Registers a timer due at `tick`; returns its key and whether it was
    /// already due.
    pub fn register(&self, tick: u64, waker: &std::task::Waker) -> (usize, bool) {
        let registered = self.time.register(tick, waker, || false).expect("not shut down");
        (registered.key, registered.fired)
    }

    /// What a `Sleep`'s first poll does: registers unless the runtime shut
    /// down (`None`: the poll reports the shutdown). The flag is read as
    /// `Shared::is_shutdown` reads it.
    pub fn register_unless_shut_down(&self, tick: u64, waker: &std::task::Waker) -> Option<usize> {
        let is_shutdown = || self.shutdown.load(crate::loom::sync::atomic::Ordering::Acquire);
        self.time.register(tick, waker, is_shutdown).map(|registered| registered.key)
    }

    /// What runtime shutdown does to a wheel: set the flag (`Shared::close`),
    /// later wake every timer's waiter (`Shared::finish_shutdown`).
    pub fn shut_down(&self) {
        self.shutdown.store(true, crate::loom::sync::atomic::Ordering::SeqCst);
        self.time.wake_all_at_shutdown();
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

    /// What a parked sibling does with another worker's wheel: fire what
    /// is due at `now` if the owner is stuck (has not advanced it for over
    /// a tick). Returns the number woken.
    pub fn serve_stale(&self, now: u64) -> usize {
        let mut wakers = Vec::new();
        self.time.serve_stale(now, &mut wakers);
        let n = wakers.len();
        wakers.into_iter().for_each(std::task::Waker::wake);
        n
    }

    /// What a worker's `settle_watch` reads: does the wheel hold a pending
    /// timer (the published earliest deadline, read without the lock)?
    pub fn has_pending_timer(&self) -> bool {
        self.time.next_deadline() != crate::runtime::time::NO_DEADLINE
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

/// A paused clock (`time::clock`) and one wheel, for the paused-clock
/// models: what `sleep`'s first poll and `weft::time::advance` do with
/// them.
pub struct PausedTimer {
    clock: crate::runtime::time::Clock,
    time: crate::runtime::time::TimeShared,
}

impl PausedTimer {
    /// A wheel and a clock paused at its origin (tick 0).
    #[allow(clippy::new_without_default)]
    pub fn new() -> PausedTimer {
        PausedTimer {
            clock: crate::runtime::time::Clock::new(true, true).expect("a current-thread clock"),
            time: crate::runtime::time::TimeShared::new(),
        }
    }

    /// What `sleep(ms)` and its first poll do: read the clock, register at
    /// the deadline's tick. Returns the key, that tick, and whether it was
    /// already due (then nothing wakes it: the poll sees it).
    pub fn sleep(&self, ms: u64, waker: &std::task::Waker) -> (usize, u64, bool) {
        let deadline = self.clock.now() + std::time::Duration::from_millis(ms);
        let tick = self.clock.tick_ceil(deadline);
        let registered = self.time.register(tick, waker, || false).expect("not shut down");
        (registered.key, tick, registered.fired)
    }

    /// What `weft::time::advance(ms)` does: move the clock, then fire what
    /// is due (waking it outside the lock). Returns the number woken.
    pub fn advance(&self, ms: u64) -> usize {
        self.clock.advance(std::time::Duration::from_millis(ms)).expect("paused");
        let mut wakers = Vec::new();
        self.time.fire_due(self.clock.now_tick(), &mut wakers);
        let n = wakers.len();
        wakers.into_iter().for_each(std::task::Waker::wake);
        n
    }

    /// The paused clock's tick (what `Instant::now` reads, in ticks).
    pub fn now_tick(&self) -> u64 {
        self.clock.now_tick()
    }

    /// What `Sleep::poll` does: fired? else (re)store the waker.
    pub fn poll(&self, key: usize, waker: &std::task::Waker) -> bool {
        self.time.poll(key, waker)
    }

    /// What dropping a `Sleep` does.
    pub fn remove(&self, key: usize) {
        self.time.remove(key);
    }
}

/// A source's `ScheduledIo` (readiness word, tick, wakers), for the
/// readiness models.
pub struct IoReadiness {
    io: crate::runtime::driver::scheduled_io::ScheduledIo,
}

/// A readiness observation, to be cleared by its tick.
pub struct IoEvent(crate::runtime::driver::scheduled_io::ReadyEvent);

impl IoReadiness {
    /// No readiness yet.
    #[allow(clippy::new_without_default)]
    pub fn new() -> IoReadiness {
        IoReadiness { io: crate::runtime::driver::scheduled_io::ScheduledIo::new() }
    }

    /// The driver delivers "readable" in dispatch round `tick`.
    pub fn set_readable(&self, tick: usize) {
        self.io.set_readiness(tick, crate::runtime::driver::scheduled_io::Ready::READABLE);
    }

    /// A task polls for read readiness (registering `cx`'s waker).
    pub fn poll_readable(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<IoEvent> {
        use crate::runtime::driver::scheduled_io::Direction;
        match self.io.poll_readiness(cx, Direction::Read) {
            std::task::Poll::Ready(Ok(event)) => std::task::Poll::Ready(IoEvent(event)),
            std::task::Poll::Ready(Err(_)) => panic!("not shut down in the models"),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    /// Read readiness now, without registering a waker.
    pub fn is_readable(&self) -> bool {
        use crate::runtime::driver::scheduled_io::Direction;
        matches!(self.io.ready_now(Direction::Read), Ok(Some(_)))
    }

    /// The task's read hit `WouldBlock` after `event`.
    pub fn clear(&self, event: IoEvent) {
        self.io.clear_readiness(event.0);
    }
}

/// A worker's driver (loom wait: condvar + poll flag) and its handle, for
/// the park/serve model.
pub struct DriverModel {
    driver: crate::runtime::driver::Driver,
}

/// Handle of a [`DriverModel`]: unpark, or serve it from a sibling.
#[derive(Clone)]
pub struct DriverModelHandle {
    handle: crate::runtime::driver::DriverHandle,
}

impl DriverModel {
    /// A driver and its handle.
    pub fn new() -> (DriverModel, DriverModelHandle) {
        let (driver, handle) = crate::runtime::driver::Driver::new().expect("loom driver");
        (DriverModel { driver }, DriverModelHandle { handle })
    }

    /// The owner parks until unparked.
    pub fn park(&mut self) {
        self.driver.park(None);
    }

    /// A sibling polls `other`'s driver without blocking (as when serving
    /// a stale driver); false if someone else is polling it.
    pub fn serve(&mut self, other: &DriverModelHandle) -> bool {
        self.driver.serve(&other.handle)
    }
}

impl DriverModelHandle {
    /// Wakes the owner.
    pub fn unpark(&self) {
        self.handle.unpark();
    }

    /// What a socket's creation does (with no OS registration under loom):
    /// adds a source to the driver, or fails if the driver shut down.
    pub fn register_source(&self) -> std::io::Result<SourceModel> {
        let (token, io) = self.handle.sources().register(|_| Ok(()))?;
        Ok(SourceModel { token, io })
    }

    /// What dropping a socket does: removes its source.
    pub fn deregister_source(&self, source: SourceModel) {
        self.handle.sources().remove(source.token);
    }

    /// What a poll and dispatch of this driver do with one event for
    /// `token` (say harvested before that source was deregistered): sets
    /// read-closed on the source the token names, if it still does.
    pub fn dispatch_read_closed(&self, token: usize, tick: usize) {
        use crate::runtime::driver::scheduled_io::Ready;
        let mut scratch = Vec::new();
        self.handle.sources().dispatch(
            std::iter::once((token, Ready::READABLE | Ready::READ_CLOSED)),
            tick,
            &mut scratch,
        );
    }

    /// What the runtime's shutdown does to this driver's sources.
    pub fn shutdown_io(&self) {
        self.handle.shutdown_io();
    }
}

/// A source registered through [`DriverModelHandle::register_source`].
pub struct SourceModel {
    token: usize,
    io: crate::loom::sync::Arc<crate::runtime::driver::scheduled_io::ScheduledIo>,
}

impl SourceModel {
    /// The token its events carry.
    pub fn token(&self) -> usize {
        self.token
    }

    /// The slab key inside the token.
    pub fn key(&self) -> usize {
        crate::runtime::driver::sources::key_of(self.token)
    }

    /// True if the source reads as ready to read (or closed).
    pub fn is_readable(&self) -> bool {
        use crate::runtime::driver::scheduled_io::Direction;
        matches!(self.io.ready_now(Direction::Read), Ok(Some(_)))
    }

    /// True once the source was shut down with its driver (every wait on
    /// it fails).
    pub fn is_shut_down(&self) -> bool {
        use crate::runtime::driver::scheduled_io::Direction;
        self.io.ready_now(Direction::Read).is_err()
    }
}

/// A worker's published poll (`PollSlot`), for the stall monitor's models.
pub struct PollSlotModel(crate::runtime::scheduler::PollSlot);

impl PollSlotModel {
    /// No poll in progress.
    #[allow(clippy::new_without_default)]
    pub fn new() -> PollSlotModel {
        PollSlotModel(crate::runtime::scheduler::PollSlot::new())
    }

    /// The worker starts polling task `id`, spawned at `at`.
    pub fn begin(&self, id: u64, at: &'static std::panic::Location<'static>) {
        self.0.begin(id, at)
    }

    /// The poll ended.
    pub fn end(&self) {
        self.0.end()
    }

    /// What the monitor reads: the poll in progress, if any (its task id
    /// and spawn location).
    pub fn read(&self) -> Option<(u64, &'static std::panic::Location<'static>)> {
        self.0.read().map(|(_seq, id, at)| (id, at))
    }
}

use crate::runtime::driver::uring_slot::{Completed, Inflight, Slot};

/// A ring's in-flight table alone (no kernel under loom): the model plays
/// the kernel, the reaper and the shutdown against a future's poll and
/// drop (see `runtime/driver/uring/slot.rs`). Its `closed` flag is read
/// and set under the table's lock, as `Ring::submit` and `Ring::close` do
/// with the ring's.
pub struct UringTable<R> {
    table: Mutex<Inflight<R>>,
    closed: AtomicBool,
}

/// The future's side of one operation's slot.
pub struct UringOp<R>(Arc<Slot<R>>);

impl<R> UringTable<R> {
    /// An empty table.
    pub fn new() -> UringTable<R> {
        UringTable { table: Mutex::new(Inflight::new()), closed: AtomicBool::new(false) }
    }

    /// Submits an operation lending `res`; returns its key and the
    /// future's side.
    pub fn submit(&self, res: R) -> (u64, UringOp<R>) {
        let slot = Slot::new(res);
        let key = self.table.lock().insert(slot.clone());
        (key, UringOp(slot))
    }

    /// `Ring::submit`: refused once the table is closed (`Err` gives the
    /// resources back, never lent); the flag is read under the lock
    /// `close` sets it under.
    pub fn try_submit(&self, res: R) -> Result<(u64, UringOp<R>), R> {
        let mut table = self.table.lock();
        if self.closed.load(SeqCst) {
            return Err(res);
        }
        let slot = Slot::new(res);
        let key = table.insert(slot.clone());
        Ok((key, UringOp(slot)))
    }

    /// `Ring::close`: sets the flag under the lock and returns the keys in
    /// flight then (the operations the shutdown cancels or waits for).
    pub fn close(&self) -> Vec<u64> {
        let table = self.table.lock();
        self.closed.store(true, SeqCst);
        table.keys()
    }

    /// The reaper took the CQE for `key` in (the kernel is done with the
    /// resources): completes the slot, lets go of it, wakes the waker
    /// after the lock. False if `key` was not in flight.
    pub fn complete(&self, key: u64, result: i32) -> bool {
        self.complete_with(key, result, |res, _| drop(res))
    }

    /// [`UringTable::complete`], with `orphan` getting an abandoned slot's
    /// resources and result (the ring closes an orphaned open's fd).
    pub fn complete_with(&self, key: u64, result: i32, orphan: impl FnOnce(R, i32)) -> bool {
        let waker = {
            let mut table = self.table.lock();
            let Some(slot) = table.get(key) else { return false };
            match slot.complete(result, |_, result| Ok::<i32, ()>(result), orphan) {
                Completed::Done(waker) => {
                    table.complete(key);
                    waker
                }
                Completed::Again(()) => unreachable!("the model's step always ends"),
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Operations whose completion is still due.
    pub fn in_flight(&self) -> usize {
        self.table.lock().len()
    }

    /// The end of a ring whose kernel side finished: drops the table's
    /// references. Returns how many were left.
    pub fn take_all(&self) -> usize {
        let slots = self.table.lock().take_all();
        slots.len()
    }
}

impl<R> Default for UringTable<R> {
    fn default() -> Self {
        UringTable::new()
    }
}

impl<R> UringOp<R> {
    /// The future's poll.
    pub fn poll(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<(i32, R)> {
        self.0.poll(cx).map(|done| done.expect("the model never loses a slot"))
    }

    /// The future's drop.
    pub fn abandon(&self) -> bool {
        self.0.abandon(|res, _| drop(res))
    }

    /// The future's drop, with `orphan` getting the resources and result
    /// of a slot that completed before it (as `OpFuture`'s drop closes an
    /// open's fd nobody took).
    pub fn abandon_with(&self, orphan: impl FnOnce(R, i32)) -> bool {
        self.0.abandon(orphan)
    }

    /// Whether the completion is still due.
    pub fn is_in_flight(&self) -> bool {
        self.0.is_in_flight()
    }
}
