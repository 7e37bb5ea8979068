//! The runtime: [`Runtime`], [`Builder`], [`Handle`], [`RuntimeMetrics`].

pub(super) mod blocking;
mod builder;
pub(super) mod context;
pub(super) mod coop;
pub(super) mod cpu;
pub(crate) mod driver;
mod handle;
mod histogram;
mod metrics;
mod park;
pub(super) mod scheduler;
mod stall;
pub(super) mod task;
pub(super) mod time;

use std::fmt;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

pub use builder::Builder;
pub use cpu::CpuPriority;
pub(crate) use handle::spawn_current;
pub use handle::{EnterGuard, Handle, RuntimeFlavor, TryCurrentError};
pub use histogram::Histogram;
pub use metrics::{PollTimeHistogram, RuntimeMetrics};
pub use stall::StallReport;

use crate::loom::thread;
use crate::runtime::cpu::CpuPoolFull;
use crate::runtime::scheduler::{run_worker, Config, Shared};
use crate::runtime::task::JoinHandle;

/// An async runtime: a multi-thread, work-stealing one (one worker thread
/// per core, each parking in its own driver; [`Runtime::new`],
/// [`Builder::new_multi_thread`]) or a current-thread one (tasks run on the
/// thread inside [`Runtime::block_on`]; [`Builder::new_current_thread`]).
///
/// ```
/// use weft::runtime::Runtime;
///
/// let rt = Runtime::new().unwrap();
/// let sum = rt.block_on(async {
///     let tasks: Vec<_> = (0..10u64).map(|i| weft::spawn(async move { i })).collect();
///     let mut sum = 0;
///     for t in tasks {
///         sum += t.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 45);
/// ```
///
/// Dropping the runtime shuts it down: every task's future is dropped on a
/// runtime thread, exactly once, and the worker threads are joined.
pub struct Runtime {
    handle: Handle,
    threads: Vec<thread::JoinHandle<()>>,
    /// The stall monitor, unless detection is off (never under loom).
    #[cfg(not(loom))]
    monitor: Option<stall::Monitor>,
    shut_down: bool,
}

impl Runtime {
    /// A multi-thread runtime with default settings (one worker per CPU).
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    fn start(
        workers: usize,
        config: Config,
        blocking: weft_blocking::Pool,
        cpu: cpu::CpuPool,
        builder: &Builder,
    ) -> io::Result<Runtime> {
        let current_thread = config.current_thread;
        let shared = Shared::new(workers, config, blocking, cpu)?;
        let mut runtime = Runtime {
            handle: Handle { shared: shared.clone() },
            threads: Vec::with_capacity(if current_thread { 0 } else { workers }),
            #[cfg(not(loom))]
            monitor: None,
            shut_down: false,
        };
        if current_thread {
            // The core waits in its slot for `block_on`.
            runtime.start_monitor(builder)?;
            return Ok(runtime);
        }
        for index in 0..workers {
            let mut thread = thread::Builder::new().name(builder.next_thread_name());
            if let Some(size) = builder.thread_stack_size {
                thread = thread.stack_size(size);
            }
            let thread_shared = shared.clone();
            let on_start = builder.on_thread_start.clone();
            let on_stop = builder.on_thread_stop.clone();
            // Never from a lowered thread (a runtime built in a CPU job):
            // the worker would inherit its priority (see `cpu/starter.rs`).
            let spawned = cpu::at_normal_priority(move || {
                thread.spawn(move || {
                    builder::run_hook("on_thread_start", on_start.as_ref());
                    run_worker(thread_shared, index);
                    builder::run_hook("on_thread_stop", on_stop.as_ref());
                })
            });
            match spawned {
                Ok(handle) => runtime.threads.push(handle),
                Err(e) => {
                    // Count the cores that will never run out, so shutdown
                    // completes; dropping `runtime` stops the started ones.
                    for _ in index..workers {
                        shared.core_finished();
                    }
                    return Err(e);
                }
            }
        }
        runtime.start_monitor(builder)?;
        Ok(runtime)
    }

    /// Starts the stall monitor, unless detection is off. Called once the
    /// cores can run: if it fails, dropping the runtime shuts down cleanly.
    fn start_monitor(&mut self, builder: &Builder) -> io::Result<()> {
        // Loom models run without a monitor: it is a timed loop, which loom
        // cannot explore; its bell has a model of its own.
        #[cfg(not(loom))]
        if let Some(settings) = builder.stall_settings() {
            let shared = self.handle.shared.clone();
            self.monitor = Some(stall::Monitor::start(shared, settings)?);
        }
        #[cfg(loom)]
        let _ = builder;
        Ok(())
    }

    /// Runs `future` to completion on the calling thread; see
    /// [`Handle::block_on`].
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns `future` on this runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs the blocking closure `f` on the runtime's blocking pool; see
    /// [`crate::task::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Runs the CPU-bound closure `f` on the runtime's CPU pool; see
    /// [`crate::task::spawn_cpu`].
    #[track_caller]
    pub fn spawn_cpu<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_cpu(f)
    }

    /// Runs `f` on the runtime's CPU pool if it has room; see
    /// [`crate::task::try_spawn_cpu`].
    #[track_caller]
    pub fn try_spawn_cpu<F, R>(&self, f: F) -> Result<JoinHandle<R>, CpuPoolFull<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.try_spawn_cpu(f)
    }

    /// Makes this runtime the calling thread's current runtime until the
    /// returned guard is dropped; see [`Handle::enter`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = weft::runtime::Runtime::new().unwrap();
    /// let sleep = {
    ///     let _guard = rt.enter();
    ///     // A timer needs a current runtime to be created.
    ///     weft::time::sleep(Duration::from_millis(1))
    /// };
    /// rt.block_on(sleep);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// This runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Shuts down, waiting at most about `timeout` for the workers and the
    /// blocking and CPU pools' running jobs. What is still running then (a
    /// worker stuck inside a long poll, a long blocking or CPU job) is left
    /// behind and finishes on its own. Queued `spawn_blocking` and
    /// `spawn_cpu` jobs are cancelled;
    /// queued `weft::fs::File` operations still run (a write that returned
    /// `Ok` is never dropped), possibly after this returns.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(Instant::now() + timeout));
    }

    /// Shuts down without waiting: like
    /// [`shutdown_timeout`](Self::shutdown_timeout) with a zero timeout.
    /// Tasks are cancelled and queued `spawn_blocking` and `spawn_cpu` jobs
    /// dropped; a worker inside a long poll and a running blocking or CPU
    /// job are left behind and finish on their own. Useful where waiting is
    /// not allowed, such as inside an asynchronous context (where dropping
    /// the runtime panics) or in a test's teardown.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = weft::runtime::Runtime::new().unwrap();
    /// // A blocking job that would hold up a plain drop for a minute.
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_secs(60)));
    /// rt.shutdown_background(); // returns at once
    /// ```
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }

    fn shutdown(&mut self, deadline: Option<Instant>) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let shared = &self.handle.shared;
        #[cfg(all(target_os = "linux", not(loom)))]
        shared.set_shutdown_deadline(deadline);
        shared.close();
        #[cfg(not(loom))]
        if let Some(monitor) = self.monitor.take() {
            monitor.stop(shared, deadline);
        }
        if shared.is_current_thread() {
            // No thread is running the core unless one is inside
            // `block_on`; then that thread shuts it down (return_core).
            if let Some(core) = shared.try_take_core(0) {
                let _enter = context::enter(shared.clone());
                shared.abandon_core(core);
            }
        }
        let cores_done = shared.wait_cores_finished(deadline);
        if !cores_done {
            shared.fail_waits_after_timeout();
        }
        // Without a deadline (drop), wait for blocking and CPU jobs as long
        // as they run, like Tokio; a day stands in for "forever" without
        // overflow. Both pools stop taking jobs first, then both are waited
        // for, so neither waits out the other's deadline.
        let pool_timeout = || match deadline {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(86_400),
        };
        shared.cpu_pool().pool().shutdown(Duration::ZERO);
        shared.blocking_pool().shutdown(pool_timeout());
        shared.cpu_pool().pool().shutdown(pool_timeout());
        for thread in self.threads.drain(..) {
            // Join finished worker threads; detach any still inside a long
            // poll or a `block_in_place` closure when the deadline passed.
            if deadline.is_none() || (cores_done && is_finished(&thread)) {
                // Worker threads catch their hooks' panics; anything else
                // escaping one is a weft bug, which must not abort shutdown
                // either.
                let _ = thread.join();
            }
        }
    }
}

#[cfg(not(loom))]
fn is_finished(thread: &thread::JoinHandle<()>) -> bool {
    thread.is_finished()
}

/// Loom's join handles cannot be polled; models always shut down fully.
#[cfg(loom)]
fn is_finished(_thread: &thread::JoinHandle<()>) -> bool {
    true
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // After `shutdown_timeout` or `shutdown_background` nothing is left
        // to wait for, so dropping is fine anywhere.
        if self.shut_down {
            return;
        }
        if context::is_worker_thread() && !std::thread::panicking() {
            panic!(
                "cannot drop a weft Runtime from inside an asynchronous task: shutting down \
                 waits for the worker threads, which would deadlock; drop it from the thread \
                 that created it, or use `shutdown_timeout` there"
            );
        }
        if blocking::is_running_a_job_of(&self.handle.shared) && !std::thread::panicking() {
            // Stopped without waiting (this thread is one of those a wait
            // would be for), so the panic leaves no runtime running.
            self.shutdown(Some(Instant::now()));
            panic!(
                "cannot drop a weft Runtime inside one of its own `spawn_blocking` or \
                 `spawn_cpu` jobs: shutting down waits for the runtime's pool threads, this one \
                 included, which would never finish (it was shut down without waiting); drop \
                 it outside the runtime, or call `shutdown_timeout` (which gives up waiting \
                 after its timeout)"
            );
        }
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor =
            if self.handle.shared.is_current_thread() { "current_thread" } else { "multi_thread" };
        f.debug_struct("Runtime")
            .field("flavor", &flavor)
            .field("workers", &self.handle.shared.num_workers())
            .finish()
    }
}
