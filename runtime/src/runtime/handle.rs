//! [`Handle`]: a cloneable reference to a running runtime.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use super::{context, park, RuntimeMetrics};
use crate::loom::sync::Arc;
use crate::runtime::cpu::CpuPoolFull;
use crate::runtime::scheduler::Shared;
use crate::runtime::task::JoinHandle;
use crate::trace::{self, SpawnMeta};

const NO_RUNTIME: &str = "there is no weft runtime on this thread: call this from a task \
     spawned on a weft Runtime, inside `Runtime::block_on` or while a `Runtime::enter` guard \
     lives, or keep a `Handle` and use `Handle::spawn`";

/// A handle to a runtime: spawns tasks and enters the runtime from any
/// thread. Cheap to clone. It does not keep the runtime running: once the
/// `Runtime` is dropped, new tasks are cancelled at once.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// Returned by [`Handle::try_current`] outside a runtime.
#[derive(Debug)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NO_RUNTIME)
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The handle of the runtime this thread is in.
    ///
    /// # Panics
    /// Outside a runtime (neither a worker thread nor inside `block_on`).
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(_) => panic!("{NO_RUNTIME}"),
        }
    }

    /// The handle of the runtime this thread is in, or an error outside one.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::with_current(|shared| Handle { shared: shared.clone() }).ok_or(TryCurrentError(()))
    }

    /// Spawns `future` on this runtime, from any thread.
    ///
    /// Its output may be read on another thread, so it must be `Send`
    /// (a `!Send` one belongs in a [`LocalSet`](crate::task::LocalSet)):
    ///
    /// ```compile_fail
    /// let rt = weft::runtime::Runtime::new().unwrap();
    /// let _ = rt.handle().spawn(async { std::rc::Rc::new(1) });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, SpawnMeta::task())
    }

    /// Runs the blocking closure `f` on this runtime's blocking pool; see
    /// [`crate::task::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::runtime::blocking::spawn_blocking(&self.shared, f)
    }

    /// Runs the CPU-bound closure `f` on this runtime's CPU pool; see
    /// [`crate::task::spawn_cpu`].
    #[track_caller]
    pub fn spawn_cpu<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::runtime::cpu::spawn_cpu(&self.shared, f)
    }

    /// Runs `f` on this runtime's CPU pool if it has room; see
    /// [`crate::task::try_spawn_cpu`].
    #[track_caller]
    pub fn try_spawn_cpu<F, R>(&self, f: F) -> Result<JoinHandle<R>, CpuPoolFull<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::runtime::cpu::try_spawn_cpu(&self.shared, f)
    }

    /// Runs `future` to completion on the calling thread, with this runtime
    /// entered (so `weft::spawn` inside it works). On a multi-thread
    /// runtime, tasks run on the workers meanwhile; on a current-thread
    /// runtime, this thread runs them (and the timers and I/O) while it
    /// waits. If another thread is already running a current-thread
    /// runtime's tasks in `block_on`, this one waits for `future` alone and
    /// takes over when that call returns.
    ///
    /// # Panics
    /// On a weft worker thread: blocking a worker would stall its tasks and
    /// can deadlock the runtime; `.await` the future instead, or wrap the
    /// call in [`block_in_place`](crate::task::block_in_place), which moves
    /// the worker's tasks to another thread first.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_dropping_tasks() {
            panic!(
                "cannot call `block_on` while the runtime drops its tasks at shutdown (from a \
                 task's `Drop`): the tasks it could wait for are being dropped and nothing runs \
                 any more"
            );
        }
        if context::holds_worker_core() {
            panic!(
                "cannot call `block_on` from inside a weft worker thread: it would block the \
                 worker and can deadlock the runtime; `.await` the future instead"
            );
        }
        // With the `tracing` feature, a `weft.task` span (kind `block_on`)
        // entered around each poll of `future`; without it, `future` itself.
        let future = trace::block_on(future);
        let _enter = context::enter(self.shared.clone());
        if self.shared.is_current_thread() {
            crate::runtime::scheduler::block_on_current_thread(&self.shared, future)
        } else {
            park::block_on(future)
        }
    }

    /// Which flavor this runtime is, as Tokio's `Handle::runtime_flavor`.
    ///
    /// ```
    /// use weft::runtime::{Builder, RuntimeFlavor};
    ///
    /// let rt = Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
    /// ```
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        if self.shared.is_current_thread() {
            RuntimeFlavor::CurrentThread
        } else {
            RuntimeFlavor::MultiThread
        }
    }

    /// The runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics { shared: self.shared.clone() }
    }

    /// Makes this runtime the calling thread's current runtime until the
    /// returned guard is dropped, so that what needs a current runtime
    /// works outside a task: [`weft::spawn`](crate::spawn),
    /// [`Handle::current`], creating a [`Sleep`](crate::time::Sleep),
    /// `TcpListener::from_std`. Nothing runs on this thread because of it:
    /// a multi-thread runtime's workers run the tasks, a current-thread
    /// runtime's run inside its `block_on`.
    ///
    /// Guards nest; each one, when dropped, makes the runtime that was
    /// current before it current again (or none).
    ///
    /// Inside a task the guard changes the current runtime of the worker
    /// thread it runs on for as long as it lives, as in Tokio: a guard held
    /// across an `.await` (possible in a current-thread `block_on` future,
    /// which need not be `Send`) makes the tasks polled meanwhile on that
    /// thread spawn onto the guard's runtime. Keep guards inside one
    /// synchronous stretch of code.
    ///
    /// ```
    /// use weft::runtime::{Handle, Runtime};
    ///
    /// let rt = Runtime::new().unwrap();
    /// assert!(Handle::try_current().is_err());
    /// let guard = rt.handle().enter();
    /// let task = weft::spawn(async { 6 * 7 });
    /// drop(guard);
    /// assert!(Handle::try_current().is_err());
    /// assert_eq!(rt.block_on(task).unwrap(), 42);
    /// ```
    ///
    /// # Panics
    /// The guard's drop panics if guards on this thread are dropped out of
    /// order (not in the reverse order of their creation), unless the thread
    /// is already panicking.
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard { _inner: context::enter_checked(self.shared.clone()), _handle: PhantomData }
    }
}

/// The guard of [`Handle::enter`] and [`Runtime::enter`](super::Runtime::enter):
/// while it lives, its runtime is the current runtime of the thread that
/// made it. Drop guards in the reverse order of their creation.
///
/// It restores that thread's context, so it cannot move to another thread:
///
/// ```compile_fail,E0277
/// let rt = weft::runtime::Runtime::new().unwrap();
/// let guard = rt.enter();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard));
/// });
/// ```
#[must_use = "the runtime is current only while the guard lives"]
pub struct EnterGuard<'a> {
    _inner: context::EnterGuard,
    _handle: PhantomData<&'a Handle>,
}

/// The flavor of a runtime, from [`Handle::runtime_flavor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeFlavor {
    /// One thread: tasks run inside `block_on`
    /// ([`Builder::new_current_thread`](crate::runtime::Builder::new_current_thread)).
    CurrentThread,
    /// A work-stealing pool of workers
    /// ([`Builder::new_multi_thread`](crate::runtime::Builder::new_multi_thread)).
    MultiThread,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("workers", &self.shared.num_workers()).finish()
    }
}

/// Spawns on the current runtime; see [`crate::task::spawn`].
#[track_caller]
pub(crate) fn spawn_current<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Captured here: a closure would be the location otherwise.
    let meta = SpawnMeta::task();
    match context::with_current(|shared| Shared::spawn(shared, future, meta)) {
        Some(join) => join,
        None => panic!("{NO_RUNTIME}"),
    }
}
