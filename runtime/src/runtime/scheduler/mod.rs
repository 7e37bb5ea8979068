//! The multi-thread, work-stealing scheduler.
//!
//! `Shared` is what all workers and handles see: per-worker [`Remote`]s
//! (stealer, LIFO slot, driver handle, timers, counters), the global injector, the idle
//! set and the owned-task list. Each worker thread owns a `Core` (its FIFO
//! deque and driver) and runs the loop in `worker`.
//!
//! Where a new or woken task goes:
//! - woken on a worker thread of this runtime: that worker's LIFO slot (the
//!   displaced task moves to its deque), or the back of its deque when the
//!   task woke itself (a yield);
//! - anywhere else: the injector, and one parked worker is woken.
//!
//! The current-thread flavor is this scheduler with one worker whose loop
//! runs inside `block_on` (see `current_thread`).

mod current_thread;
mod idle;
mod lifo;
mod metrics;
mod shutdown;
mod watch;
mod worker;

use std::future::Future;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::backtrace::{StackSampler, ThreadTarget};
use crate::loom::deque::{Injector, Stealer, Worker};
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::runtime::context;
use crate::runtime::cpu::pool::CpuPool;
#[cfg(not(loom))]
use crate::runtime::driver::Registration;
use crate::runtime::driver::{Driver, DriverHandle};
use crate::runtime::histogram::AtomicHistogram;
use crate::runtime::task::{self, list::OwnedTasks, JoinHandle, Schedule};
use crate::runtime::time::{Clock, TimeShared};
use crate::trace::{self, SpawnMeta};

pub(crate) use current_thread::block_on as block_on_current_thread;
pub(crate) use idle::Idle;
pub(crate) use lifo::LifoSlot;
pub(crate) use metrics::{PollSlot, PollTimings, WorkerMetrics};
pub(crate) use watch::DeferredWatch;
pub(crate) use worker::{run_core, run_worker, WorkerContext};

/// A task of this scheduler, as queued.
pub(crate) type Notified = task::Notified<Arc<Shared>>;

/// Queue references this scheduler handed back at shutdown.
pub(super) type Unqueued = task::Unqueued<Arc<Shared>>;

/// Settings the scheduler needs (validated by the Builder).
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) global_queue_interval: u32,
    pub(super) event_interval: u32,
    /// Give each worker's driver an io_uring, if the kernel allows.
    pub(super) io_uring: bool,
    /// One worker, run by the thread in `block_on` (no worker threads).
    pub(super) current_thread: bool,
    /// Time every poll into a per-worker histogram.
    pub(super) poll_time_histogram: bool,
    /// Stamp every scheduled task, and count how long it waited to be
    /// polled into a per-worker histogram.
    pub(super) schedule_latency_histogram: bool,
    /// A stall monitor watches the workers: publish each poll for it.
    pub(super) watch_polls: bool,
    /// The clock starts paused (current-thread only; see `time::clock`).
    pub(super) start_paused: bool,
    /// `on_thread_park` / `on_thread_unpark`, run around each park.
    pub(super) park_hooks: ParkHooks,
}

/// `on_thread_park` and `on_thread_unpark` (from the Builder), which the
/// workers run around each wait in their driver.
#[derive(Clone, Default)]
pub(crate) struct ParkHooks {
    pub(crate) park: Option<weft_util::unwind::Hook>,
    pub(crate) unpark: Option<weft_util::unwind::Hook>,
}

impl std::fmt::Debug for ParkHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkHooks")
            .field("park", &self.park.is_some())
            .field("unpark", &self.unpark.is_some())
            .finish()
    }
}

/// The parts of a worker that siblings and handles reach.
struct Remote {
    stealer: Stealer<Notified>,
    lifo: LifoSlot<Arc<Shared>>,
    /// Unparks this worker; registers I/O sources with its driver.
    driver: DriverHandle,
    /// Tick at which this worker's driver was last polled (by anyone).
    io_polled: AtomicU64,
    metrics: WorkerMetrics,
    /// The task this worker is polling, for the stall monitor.
    poll: PollSlot,
    /// The thread running this worker's core, for the stall monitor to
    /// sample its stack (see `stall::backtrace`).
    thread: Mutex<Option<ThreadTarget>>,
    /// Its poll-time and schedule-latency histograms, if either is
    /// enabled.
    timings: Option<PollTimings>,
    /// This worker's timer wheel.
    time: TimeShared,
}

/// The worker's own state, moved between the worker loop and the thread
/// context (where wakes on this thread find it).
pub(crate) struct Core {
    pub(super) index: usize,
    /// Loop iterations, for the fairness and driver intervals.
    tick: u32,
    local: Worker<Notified>,
    is_searching: bool,
    rand: u32,
    /// Taken out while parked, so wakes the driver delivers can borrow
    /// the core from the context.
    driver: Option<Driver>,
    /// Watcher's memory: each sibling's poll count at its last look.
    seen_polls: Vec<u64>,
    /// Reused buffer for the wakers of fired timers.
    timer_wakers: Vec<std::task::Waker>,
    /// A watch notification put off (see `DeferredWatch`).
    watch: DeferredWatch,
}

/// State shared by the workers and handles of one runtime.
pub(crate) struct Shared {
    remotes: Box<[CachePadded<Remote>]>,
    injector: Injector<Notified>,
    idle: Idle,
    owned: OwnedTasks<Arc<Shared>>,
    config: Config,
    /// The blocking pool: `spawn_blocking` jobs and `block_in_place`
    /// replacement workers.
    blocking: weft_blocking::Pool,
    /// The CPU pool: `spawn_cpu` jobs.
    cpu: CpuPool,
    /// Origin of every wheel's ticks.
    clock: Clock,
    /// Round-robin wheel choice for timers created off the workers.
    timer_rr: AtomicUsize,
    shutdown: AtomicBool,
    /// The shutdown's deadline (`None`: a plain drop, no bound), which
    /// bounds each worker's wait for its ring's writes before it exits.
    #[cfg(all(target_os = "linux", not(loom)))]
    shutdown_deadline: parking_lot::Mutex<Option<std::time::Instant>>,
    /// Stalled polls the monitor reported.
    stalls: AtomicU64,
    /// Cores waiting for their worker thread to start; on a current-thread
    /// runtime, its core between two `block_on`s.
    cores: Mutex<Vec<Option<Box<Core>>>>,
    /// Current-thread: `block_on` callers waiting for the core to return.
    core_waiters: Mutex<Vec<std::task::Waker>>,
    /// Cores not yet finished with shutdown; the last one out leaves
    /// nothing behind (`finish_shutdown`).
    cores_running: Mutex<usize>,
    cores_done: Condvar,
}

impl Shared {
    /// A scheduler with `workers` workers (threads are started by the
    /// runtime, each calling [`run_worker`]).
    pub(super) fn new(
        workers: usize,
        config: Config,
        blocking: weft_blocking::Pool,
        cpu: CpuPool,
    ) -> std::io::Result<Arc<Shared>> {
        let clock = Clock::new(config.current_thread, config.start_paused).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "start_paused needs the current-thread runtime",
            )
        })?;
        let mut remotes = Vec::with_capacity(workers);
        let mut cores = Vec::with_capacity(workers);
        for index in 0..workers {
            let local = Worker::new_fifo();
            // Rings on the multi-thread flavor only: a current-thread core moves
            // between `block_on` threads, any of which may exit with its
            // submissions (the kernel cancels them), so its files take the
            // blocking pool.
            let (driver, handle) =
                Driver::with_io_uring(config.io_uring && !config.current_thread)?;
            remotes.push(CachePadded::new(Remote {
                stealer: local.stealer(),
                lifo: LifoSlot::new(),
                driver: handle,
                io_polled: AtomicU64::new(0),
                metrics: WorkerMetrics::new(),
                poll: PollSlot::new(),
                thread: Mutex::new(None),
                timings: PollTimings::new(&config),
                time: TimeShared::new(),
            }));
            cores.push(Some(Box::new(Core {
                index,
                tick: 0,
                local,
                is_searching: false,
                // Distinct odd seeds for the xorshift steal-start picker.
                rand: (index as u32).wrapping_mul(0x9E37_79B9) | 1,
                driver: Some(driver),
                seen_polls: vec![0; workers],
                timer_wakers: Vec::new(),
                watch: DeferredWatch::default(),
            })));
        }
        Ok(Arc::new(Shared {
            remotes: remotes.into_boxed_slice(),
            injector: Injector::new(),
            idle: Idle::new(workers),
            owned: OwnedTasks::new(workers * 4),
            config,
            blocking,
            cpu,
            clock,
            timer_rr: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            #[cfg(all(target_os = "linux", not(loom)))]
            shutdown_deadline: parking_lot::Mutex::new(None),
            stalls: AtomicU64::new(0),
            cores: Mutex::new(cores),
            core_waiters: Mutex::new(Vec::new()),
            cores_running: Mutex::new(workers),
            cores_done: Condvar::new(),
        }))
    }

    pub(super) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    /// True for a current-thread runtime (one worker, run inside
    /// `block_on`).
    pub(super) fn is_current_thread(&self) -> bool {
        self.config.current_thread
    }

    /// The blocking pool: `spawn_blocking` jobs and `block_in_place`
    /// replacement workers.
    pub(super) fn blocking_pool(&self) -> &weft_blocking::Pool {
        &self.blocking
    }

    /// The CPU pool: `spawn_cpu` jobs.
    pub(super) fn cpu_pool(&self) -> &CpuPool {
        &self.cpu
    }

    /// The origin of every wheel's ticks.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Unparks every worker, so that each recomputes its park timeout: the
    /// paused clock moved, was paused or resumed, or may auto-advance again.
    pub(crate) fn unpark_workers(&self) {
        for remote in self.remotes.iter() {
            remote.driver.unpark();
        }
    }

    /// Tasks spawned and not yet completed.
    pub(super) fn alive_tasks(&self) -> usize {
        self.owned.len()
    }

    /// Tasks waiting in the injector.
    pub(super) fn injector_depth(&self) -> usize {
        self.injector.len()
    }

    /// `worker`'s counters.
    pub(super) fn worker_metrics(&self, worker: usize) -> &WorkerMetrics {
        &self.remotes[worker].metrics
    }

    /// `worker`'s poll slot, if a stall monitor reads it (else a poll
    /// publishes nothing: detection off costs the workers nothing).
    #[inline]
    pub(super) fn watched_poll_slot(&self, worker: usize) -> Option<&PollSlot> {
        self.config.watch_polls.then(|| &self.remotes[worker].poll)
    }

    /// What watches `worker`'s polls, found with one lookup per poll: its
    /// slot if a stall monitor reads it, its histograms if any is enabled.
    #[inline]
    pub(super) fn poll_watchers(&self, worker: usize) -> (Option<&PollSlot>, Option<&PollTimings>) {
        let remote = &self.remotes[worker];
        (self.config.watch_polls.then_some(&remote.poll), remote.timings.as_ref())
    }

    /// The task `worker` is polling, as published for the stall monitor.
    pub(super) fn poll_slot(&self, worker: usize) -> &PollSlot {
        &self.remotes[worker].poll
    }

    /// Registers this thread, which is about to run `worker`'s core, for
    /// stack sampling; it stays the worker's sampled thread until another
    /// takes the core (`block_in_place`) or the returned sampler drops.
    fn sample_worker_thread(&self, worker: usize) -> Option<StackSampler> {
        // Only a stall monitor samples stacks.
        if !self.config.watch_polls {
            return None;
        }
        let sampler = StackSampler::register();
        *self.remotes[worker].thread.lock() = Some(sampler.target());
        Some(sampler)
    }

    /// True while a current-thread runtime's core waits in its slot between
    /// `block_on`s: nothing can stall then, whatever the idle set says (its
    /// worker is counted unparked while out of `block_on`).
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn no_core_running(&self) -> bool {
        self.config.current_thread && self.cores.lock()[0].is_some()
    }

    /// True if I/O sources are registered with `worker`'s driver.
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn worker_has_sources(&self, worker: usize) -> bool {
        self.remotes[worker].driver.has_sources()
    }

    /// The thread running `worker`'s core, to sample its stack.
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn worker_thread(&self, worker: usize) -> Option<ThreadTarget> {
        self.remotes[worker].thread.lock().clone()
    }

    /// `worker`'s poll-time histogram, if enabled.
    pub(super) fn poll_times(&self, worker: usize) -> Option<&AtomicHistogram> {
        self.remotes[worker].timings.as_ref()?.poll_times()
    }

    /// `worker`'s schedule-latency histogram, if enabled.
    pub(super) fn schedule_latencies(&self, worker: usize) -> Option<&AtomicHistogram> {
        self.remotes[worker].timings.as_ref()?.schedule_latencies()
    }

    /// The idle set (the stall monitor sleeps on its bell).
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn idle(&self) -> &Idle {
        &self.idle
    }

    /// Counts a stalled poll the monitor reported.
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn count_stall(&self) {
        // Relaxed: a counter; only the monitor thread writes it.
        self.stalls.fetch_add(1, Relaxed);
    }

    /// Stalled polls reported so far.
    pub(super) fn stall_count(&self) -> u64 {
        // Relaxed: a metric.
        self.stalls.load(Relaxed)
    }

    /// Tasks queued on `worker`: its deque plus its LIFO slot.
    /// The paused clock moved (`weft::time::advance`): fires, on this
    /// thread, every timer of the runtime that is due now, so that when
    /// `advance` returns the timers it passed have fired (their tasks are
    /// woken).
    pub(crate) fn fire_due_everywhere(&self) {
        let now = self.clock().now_tick();
        let mut wakers = Vec::new();
        for worker in 0..self.num_workers() {
            self.time(worker).fire_due(now, &mut wakers);
        }
        for waker in wakers {
            // User wakers: as a worker does, a panic in one must not stop
            // the others (nor unwind into the caller of `advance`).
            crate::unwind::contain(|| waker.wake());
        }
    }

    /// Tasks queued anywhere in the runtime (injector, deques, LIFO
    /// slots); a racy sum, for `weft::time::advance` to let woken tasks run.
    pub(crate) fn queued_tasks(&self) -> usize {
        self.injector_depth()
            + (0..self.remotes.len()).map(|w| self.worker_queue_depth(w)).sum::<usize>()
    }

    pub(super) fn worker_queue_depth(&self, worker: usize) -> usize {
        let remote = &self.remotes[worker];
        remote.stealer.len() + usize::from(remote.lifo.is_occupied())
    }

    fn take_core(&self, index: usize) -> Box<Core> {
        self.try_take_core(index).expect("each worker core is taken once")
    }

    /// Current-thread: takes the core if it is free; else, unless the
    /// runtime is shut down, `waker` is woken when it comes back.
    fn take_core_or_wait(&self, waker: &std::task::Waker) -> Option<Box<Core>> {
        let mut cores = self.cores.lock();
        if let Some(core) = cores[0].take() {
            drop(cores);
            // The stall monitor may sleep while the core waits in its slot
            // (idle rule 6): it runs now.
            self.idle.ring_monitor();
            return Some(core);
        }
        // Registered under the cores lock, so a `return_core` that has not
        // put the core back yet sees this waker when it takes the list.
        if !self.is_shutdown() {
            let mut waiters = self.core_waiters.lock();
            if !waiters.iter().any(|w| w.will_wake(waker)) {
                waiters.push(waker.clone());
            }
        }
        drop(cores);
        None
    }

    /// Current-thread: `block_on` is done with the core. It goes back to its
    /// slot for the next `block_on`, or, if the runtime is shutting down, is
    /// shut down here: under the slot's lock, either the runtime's shutdown
    /// (which takes the slot's core after setting the flag) finds it, or
    /// this sees the flag.
    fn return_core(&self, core: Box<Core>) {
        let mut cores = self.cores.lock();
        if self.is_shutdown() {
            drop(cores);
            self.abandon_core(core);
        } else {
            let index = core.index;
            cores[index] = Some(core);
            drop(cores);
        }
        let waiters = std::mem::take(&mut *self.core_waiters.lock());
        for waker in waiters {
            waker.wake();
        }
    }

    /// Takes core `index` from its slot, if it is there: a worker thread
    /// starting, or a current-thread runtime's core between `block_on`s.
    pub(super) fn try_take_core(&self, index: usize) -> Option<Box<Core>> {
        self.cores.lock()[index].take()
    }

    /// Spawns `future` as a new task of this runtime; `meta` is where it
    /// was spawned (zero-sized without the `tracing` feature).
    pub(super) fn spawn<F>(this: &Arc<Self>, future: F, meta: SpawnMeta) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, join) = task::new_task_with(future, this.clone(), meta);
        if this.owned.bind(task) {
            // `this` is the caller's own Arc, not one inside a task cell, so
            // dropping what shutdown handed back right here frees nothing
            // that is borrowed.
            drop(Shared::schedule_task(this, notified, false));
        }
        // else: the runtime is shut down and bind already cancelled the
        // task; dropping `notified` drops its queue reference.
        join
    }

    /// Routes a runnable task (see the module docs). Never drops a task
    /// reference itself (`this` may live inside a task cell): references
    /// taken back at shutdown are returned for the caller to drop.
    fn schedule_task(this: &Arc<Self>, task: Notified, is_yield: bool) -> Unqueued {
        if this.config.schedule_latency_histogram {
            // Read back by the worker that polls the task (`PollTimings`).
            task.set_scheduled_at(this.clock.nanos_at(Instant::now()));
        }
        let leftover = context::with_worker(|cx| match cx {
            Some(cx) if std::ptr::eq(Arc::as_ptr(&cx.shared), Arc::as_ptr(this)) => {
                match cx.core.borrow_mut().as_mut() {
                    Some(core) => {
                        this.schedule_local(core, task, is_yield);
                        None
                    }
                    None => Some(task),
                }
            }
            _ => Some(task),
        });
        match leftover {
            Some(task) => this.push_remote(task),
            None => Unqueued::none(),
        }
    }

    fn schedule_local(&self, core: &mut Core, task: Notified, is_yield: bool) {
        if is_yield {
            core.local.push(task);
            // With one worker there is nobody to wake: the only worker is
            // this one, polling the task that yields, so it is not parked
            // (every way from a park to a poll takes it off the idle list
            // first), and `notify_parked` would find no sleeper after its
            // SeqCst fence, the one fence per yield that costs (the
            // current-thread flavor and a one-worker multi-thread runtime;
            // the fence pairs only with a parker's announcement, and no
            // other parker exists).
            if self.remotes.len() > 1 {
                self.notify_parked();
            }
            return;
        }
        match self.remotes[core.index].lifo.put(task) {
            Some(displaced) => {
                core.local.push(displaced);
                self.notify_parked();
            }
            None => {
                if !core.watch.defer_lifo_push() {
                    self.notify_for_watch();
                }
            }
        }
    }

    /// Pushes to the injector and wakes a parked worker. A push racing
    /// shutdown hands back what it cannot leave in the injector (shutdown
    /// rule 4) for the caller to drop (see [`Unqueued`]).
    fn push_remote(&self, task: Notified) -> Unqueued {
        self.injector.push(task);
        // Its SeqCst fence orders the push before the flag's load.
        self.notify_parked();
        self.take_back_after_shutdown()
    }

    /// Wakes one parked worker if no worker is searching.
    fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            trace::wake_worker_for_work(index);
            self.remotes[index].driver.unpark();
        }
    }

    /// The index of the worker running on this thread, if it belongs to
    /// this runtime and still holds its core (not after `block_in_place`
    /// gave the core to another thread).
    fn current_worker(&self) -> Option<usize> {
        context::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), self) => {
                w.core.try_borrow().ok().filter(|core| core.is_some()).map(|_| w.index)
            }
            _ => None,
        })
    }

    /// The timer wheel of `worker`.
    pub(crate) fn time(&self, worker: usize) -> &TimeShared {
        &self.remotes[worker].time
    }

    /// The worker a new timer or I/O source made on this thread belongs
    /// to: this worker, or, off the workers, one picked round robin.
    pub(crate) fn home_worker(&self) -> usize {
        // Relaxed: only spreads timers over the wheels.
        self.current_worker()
            .unwrap_or_else(|| self.timer_rr.fetch_add(1, Relaxed) % self.num_workers())
    }

    /// The io_uring a file operation made on this thread may use: this
    /// worker's, when this thread runs a worker core in its loop (the
    /// ring's owner, the only thread that submits to it: the kernel
    /// cancels an exiting thread's requests, and a worker waits for its
    /// ring before it exits). `None` elsewhere (`block_on`, the blocking
    /// pool, another runtime), or if this worker got no ring: the caller
    /// takes the blocking pool.
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn uring_here(&self) -> Option<&crate::runtime::driver::uring::Ring> {
        let worker = self.current_worker()?;
        self.remotes[worker].driver.uring()
    }

    /// Sets the shutdown's deadline, before `close` (see
    /// `shutdown_deadline`).
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn set_shutdown_deadline(&self, deadline: Option<std::time::Instant>) {
        *self.shutdown_deadline.lock() = deadline;
    }

    /// Before a thread that ran worker `index`'s core exits: waits for the
    /// ring requests it entered (`owner`: it still holds the core, at
    /// shutdown: all of them), up to the shutdown's deadline, read again
    /// on every turn (a thread that began waiting before the shutdown
    /// obeys the deadline `shutdown_timeout` sets later).
    pub(crate) fn drain_uring(&self, index: usize, owner: bool) {
        #[cfg(all(target_os = "linux", not(loom)))]
        self.remotes[index].driver.drain_uring(owner, || *self.shutdown_deadline.lock());
        #[cfg(not(all(target_os = "linux", not(loom))))]
        let _ = (index, owner);
    }

    /// Whether the workers have io_uring rings, and the ring operations
    /// submitted and completed on all of them.
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn uring_counts(&self) -> (bool, u64, u64) {
        let mut counts = (false, 0, 0);
        for remote in self.remotes.iter() {
            if let Some(ring) = remote.driver.uring() {
                let (submitted, completed) = ring.counts();
                counts = (true, counts.1 + submitted, counts.2 + completed);
            }
        }
        counts
    }

    /// Registers an I/O source with the driver of the worker it belongs to
    /// (this thread's worker; off the workers, one picked round robin).
    #[cfg(not(loom))]
    pub(crate) fn register_io(
        &self,
        source: &mut impl mio::event::Source,
        interest: mio::Interest,
    ) -> std::io::Result<Registration> {
        let worker = self.home_worker();
        let registration = Registration::new(&self.remotes[worker].driver, source, interest)?;
        // A worker that gets stuck holding this source needs a watcher to
        // poll its driver.
        self.source_added(worker);
        Ok(registration)
    }

    /// True if a sibling of `index` could steal something right now.
    fn has_stealable_work(&self, index: usize) -> bool {
        !self.injector.is_empty()
            || self.remotes.iter().enumerate().any(|(i, r)| i != index && !r.stealer.is_empty())
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: task::Notified<Self>) -> Unqueued {
        Shared::schedule_task(self, task, false)
    }

    fn yield_now(&self, task: task::Notified<Self>) -> Unqueued {
        Shared::schedule_task(self, task, true)
    }

    fn release(&self, task: &task::Task<Self>) -> Option<task::Task<Self>> {
        self.owned.remove(task)
    }
}
