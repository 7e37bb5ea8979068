//! The runtime: [`Runtime`], [`Builder`], [`Handle`], [`RuntimeMetrics`].

mod builder;
pub(crate) mod context;
mod handle;
mod metrics;
mod park;

use std::fmt;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

pub use builder::Builder;
pub(crate) use handle::spawn_current;
pub use handle::{Handle, TryCurrentError};
pub use metrics::RuntimeMetrics;

use crate::loom::thread;
use crate::scheduler::{run_worker, Config, Shared};
use crate::task::JoinHandle;

/// A multi-threaded, work-stealing async runtime: one worker thread per
/// core, each parking in its own driver.
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
    shut_down: bool,
}

impl Runtime {
    /// A multi-thread runtime with default settings (one worker per CPU).
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    fn start(workers: usize, config: Config, builder: &Builder) -> io::Result<Runtime> {
        let shared = Shared::new(workers, config)?;
        let mut runtime = Runtime {
            handle: Handle { shared: shared.clone() },
            threads: Vec::with_capacity(workers),
            shut_down: false,
        };
        for index in 0..workers {
            let mut thread = thread::Builder::new().name(builder.thread_name.clone());
            if let Some(size) = builder.thread_stack_size {
                thread = thread.stack_size(size);
            }
            let thread_shared = shared.clone();
            let on_start = builder.on_thread_start.clone();
            let on_stop = builder.on_thread_stop.clone();
            let spawned = thread.spawn(move || {
                if let Some(hook) = on_start {
                    hook();
                }
                run_worker(thread_shared, index);
                if let Some(hook) = on_stop {
                    hook();
                }
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
        Ok(runtime)
    }

    /// Runs `future` to completion on the calling thread; see
    /// [`Handle::block_on`].
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns `future` on this runtime.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// This runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Shuts down, waiting at most about `timeout` for the worker threads
    /// (a worker stuck inside a long poll is left behind and finishes the
    /// shutdown on its own when that poll returns).
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(Instant::now() + timeout));
    }

    fn shutdown(&mut self, deadline: Option<Instant>) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        self.handle.shared.close();
        if self.handle.shared.wait_cores_finished(deadline) {
            for thread in self.threads.drain(..) {
                // A worker thread only panics in a hook; that is the hook
                // owner's business and must not abort shutdown.
                let _ = thread.join();
            }
        }
        // Otherwise the threads are detached and exit after their poll.
        self.threads.clear();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if context::is_worker_thread() && !std::thread::panicking() {
            panic!(
                "cannot drop a weft Runtime from inside an asynchronous task: shutting down \
                 waits for the worker threads, which would deadlock; drop it from the thread \
                 that created it, or use `shutdown_timeout` there"
            );
        }
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("workers", &self.handle.shared.num_workers()).finish()
    }
}
