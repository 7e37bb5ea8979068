//! weft's side of the blocking pool: [`spawn_blocking`] runs a closure as a
//! weft task on a `weft-blocking` pool thread (so it returns weft's
//! `JoinHandle`), [`spawn_mandatory_blocking`] does the same with a job that
//! shutdown does not cancel (for `fs::File`), and [`block_in_place`] hands
//! the calling worker's core to a pool thread while the closure runs inline.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::sync::{Arc, Mutex};
use crate::runtime::context;
use crate::runtime::scheduler::{run_core, Core, Shared};
use crate::runtime::task::{self, JoinHandle, Notified, Schedule, Task, Unqueued};
use crate::trace::{self, SpawnMeta};

/// The future of a blocking task: calls the closure once.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("a blocking task runs once");
        Poll::Ready(f())
    }
}

/// The scheduler of blocking tasks: the pool. A blocking task is queued
/// once, when spawned, and completes in its only poll.
struct BlockingSchedule;

impl Schedule for BlockingSchedule {
    fn schedule(&self, _task: Notified<Self>) -> Unqueued<Self> {
        // Wakes and aborts re-schedule only an idle, un-notified task; a
        // blocking task is notified (queued) from spawn until its one poll,
        // which completes it.
        unreachable!("a blocking task is never idle, so nothing re-schedules it");
    }

    fn release(&self, _task: &Task<Self>) -> Option<Task<Self>> {
        // Blocking tasks are not in the owned-task list: once started they
        // run to the end; queued ones are cancelled by `Job`'s drop.
        None
    }
}

/// One blocking task as a pool job. Run: polls the task. Dropped without
/// running (the pool refused or cancelled it at shutdown): cancels the
/// task, so its JoinHandle resolves as cancelled.
pub(super) struct Job {
    notified: Option<Notified<BlockingSchedule>>,
    task: Option<Task<BlockingSchedule>>,
    shared: Arc<Shared>,
}

thread_local! {
    /// The runtime whose pool job this thread is running, if any.
    static RUNNING_JOB_OF: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// True on a pool thread (blocking or CPU) while it runs a job of the
/// runtime that owns `shared`: that runtime's shutdown would wait for this
/// very thread.
pub(super) fn is_running_a_job_of(shared: &Arc<Shared>) -> bool {
    RUNNING_JOB_OF.with(|of| std::ptr::eq(of.get(), Arc::as_ptr(shared)))
}

/// Marks this thread as running a job of a runtime until dropped.
struct RunningJob(*const Shared);

impl RunningJob {
    fn mark(shared: &Arc<Shared>) -> RunningJob {
        RunningJob(RUNNING_JOB_OF.with(|of| of.replace(Arc::as_ptr(shared))))
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        RUNNING_JOB_OF.with(|of| of.set(self.0));
    }
}

impl Job {
    pub(super) fn run(mut self) {
        let _enter = context::enter(self.shared.clone());
        let _running = RunningJob::mark(&self.shared);
        if let Some(notified) = self.notified.take() {
            notified.run();
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Done (ran or dropped unrun): a paused clock may auto-advance
        // again (time::clock rule 4); its worker, parked without a timeout
        // meanwhile, must look.
        let clock = self.shared.clock();
        if clock.allow() && clock.is_virtual() {
            self.shared.unpark_workers();
        }
        let ran = self.notified.is_none();
        drop(self.notified.take());
        if let Some(task) = self.task.take() {
            if ran {
                drop(task);
            } else {
                task.shutdown();
            }
        }
    }
}

/// A blocking task running `f`, and the pool job that polls it (for the
/// blocking pool and the CPU pool; `meta` says which).
pub(super) fn blocking_job<F, R>(
    shared: &Arc<Shared>,
    f: F,
    meta: SpawnMeta,
) -> (Job, JoinHandle<R>)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (task, notified, join) = task::new_task_with(BlockingTask(Some(f)), BlockingSchedule, meta);
    // Until the job drops, a paused clock does not auto-advance.
    shared.clock().inhibit();
    (Job { notified: Some(notified), task: Some(task), shared: shared.clone() }, join)
}

/// Spawns `f` on the runtime's blocking pool. The task's spawn location
/// is the call site (through `#[track_caller]`).
#[track_caller]
pub(super) fn spawn_blocking<F, R>(shared: &Arc<Shared>, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (job, join) = blocking_job(shared, f, SpawnMeta::blocking());
    // Refused after shutdown: the closure (and so the job) is dropped,
    // which cancels the task.
    if let Ok(detached) = shared.blocking_pool().try_spawn(move || job.run()) {
        drop(detached);
    }
    join
}

/// Spawns `f` on the runtime's blocking pool as a *mandatory* job: one the
/// pool's shutdown does not cancel (see "Mandatory jobs" in weft-blocking's
/// policy). Once this returns the JoinHandle, `f` runs exactly once, even if
/// the runtime shuts down before a pool thread takes it; the handle then
/// never resolves as cancelled. `None`: the pool is shut down and refused
/// the job (`f` is dropped unrun).
///
/// For work whose success was already reported: `fs::File` returns from a
/// write once the bytes are in its buffer, so the job writing them must not
/// be dropped at shutdown.
#[cfg(not(loom))] // for `fs`, which loom builds leave out
#[track_caller]
pub(crate) fn spawn_mandatory_blocking<F, R>(shared: &Arc<Shared>, f: F) -> Option<JoinHandle<R>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (job, join) = blocking_job(shared, f, SpawnMeta::blocking());
    match shared.blocking_pool().try_spawn_mandatory(move || job.run()) {
        Ok(detached) => {
            drop(detached);
            Some(join)
        }
        // Refused: the job was dropped, which cancelled the task.
        Err(_) => None,
    }
}

/// A worker core on its way to a replacement thread. If the original
/// thread finishes its closure before a pool thread picks the core up, it
/// takes the core back and stays the worker.
struct CoreHandoff {
    core: Mutex<Option<Box<Core>>>,
    shared: Arc<Shared>,
}

impl CoreHandoff {
    fn take(&self) -> Option<Box<Core>> {
        self.core.lock().take()
    }
}

impl Drop for CoreHandoff {
    fn drop(&mut self) {
        // The pool dropped the job without running it (shut down): the core
        // must still be shut down so the runtime's shutdown completes.
        if let Some(core) = self.take() {
            self.shared.abandon_core(core);
        }
    }
}

/// Runs `f`, a blocking closure, on the current thread without stalling
/// the runtime.
///
/// On a weft worker thread, the worker's core (its local queue, LIFO slot,
/// timers and driver) is handed to a replacement thread from the blocking
/// pool first, so the worker's other tasks keep running while `f` blocks.
/// When `f` returns, this thread takes the core back if the replacement
/// has not started yet; otherwise the rest of the current task's poll runs
/// here without a core, and the task continues on the workers afterwards.
/// Outside a worker thread, `f` simply runs.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let handle = weft::spawn(async {
///     weft::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(5)));
///     "done"
/// });
/// assert_eq!(handle.await.unwrap(), "done");
/// # });
/// ```
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    let handoff = context::with_worker(|worker| {
        let worker = worker?;
        if worker.shared.is_current_thread() {
            panic!(
                "`block_in_place` cannot run on a current-thread weft runtime: its only worker is \
                 the thread inside `block_on`, and there is no other thread to take over its \
                 tasks; use `spawn_blocking`, or build the runtime with `new_multi_thread`"
            );
        }
        let core = worker.core.try_borrow_mut().ok()?.take()?;
        Some((worker.shared.clone(), core))
    });
    let Some((shared, core)) = handoff else { return f() };
    let worker = core.index;
    // Blocking here is the point: not a stall (stall rule 6). The
    // replacement publishes its own polls in this worker's slot; if the
    // core comes back, the rest of this poll is published again.
    let published = shared.poll_slot(worker).read();
    shared.poll_slot(worker).end();
    trace::block_in_place(worker);
    let handoff = Arc::new(CoreHandoff { core: Mutex::new(Some(core)), shared: shared.clone() });
    let job = handoff.clone();
    let replacement = shared.blocking_pool().try_spawn(move || {
        if let Some(core) = job.take() {
            run_core(job.shared.clone(), core);
        }
    });
    drop(replacement);
    // Until the core comes back, wakes on this thread go to the injector
    // and timers made here go to other wheels (see Shared::current_worker).
    let output = f();
    let back = handoff.take();
    trace::block_in_place_done(worker, back.is_some());
    if let Some(core) = back {
        if let Some((_, id, spawned_at)) = published {
            // The replacement never started: this thread is the slot's only
            // writer again.
            shared.poll_slot(worker).begin(id, spawned_at);
        }
        context::with_worker(|worker| {
            if let Some(worker) = worker {
                *worker.core.borrow_mut() = Some(core);
            }
        });
    }
    output
}
