//! [`PoolBuilder`]: a pool's settings, checked when the pool is built.

use std::fmt;
use std::io;
use std::time::Duration;

use weft_util::unwind::Hook;
use weft_util::ThreadName;

use crate::admission::Admission;
use crate::loom::sync::Arc;
use crate::state;
use crate::threads::Inner;
use crate::Pool;

const DEFAULT_MAX_THREADS: usize = 512;
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
const DEFAULT_THREAD_NAME: &str = "weft-blocking";

/// Configures and builds a [`Pool`]. Setters take and return `&mut Self`, so
/// they chain:
///
/// ```
/// use std::time::Duration;
///
/// let pool = weft_blocking::Pool::builder()
///     .max_threads(64)
///     .keep_alive(Duration::from_secs(1))
///     .thread_name("my-blocking")
///     .build()?;
/// assert_eq!(pool.spawn(|| 1 + 1).wait().unwrap(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct PoolBuilder {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) thread_name: ThreadName,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    pub(crate) queue_capacity: Option<usize>,
    pub(crate) thread_starter: Option<ThreadStarter>,
}

/// Starts one pool thread when called: what a
/// [`thread_starter`](PoolBuilder::thread_starter) is handed.
pub type StartThread = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// The hook set by [`PoolBuilder::thread_starter`].
pub(crate) type ThreadStarter = std::sync::Arc<dyn Fn(StartThread) -> io::Result<()> + Send + Sync>;

impl Default for PoolBuilder {
    fn default() -> PoolBuilder {
        PoolBuilder::new()
    }
}

impl PoolBuilder {
    /// A builder with the defaults: 512 threads at most, 10 s keep-alive,
    /// threads named `weft-blocking`, the platform's stack size, no hooks,
    /// no cap on the queue.
    pub fn new() -> PoolBuilder {
        PoolBuilder {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            thread_name: ThreadName::Fixed(DEFAULT_THREAD_NAME.to_owned()),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            queue_capacity: None,
            thread_starter: None,
        }
    }

    /// Chooses which thread starts the pool's threads (default: the thread
    /// submitting the job that needs one). `starter` is called with a
    /// [`StartThread`] and must call it, on this thread or another, before
    /// it returns, and return its result. The pool goes by what the
    /// `StartThread` did: if `starter` panics or returns without calling it,
    /// the start failed (and a later call refuses), and the job waits for a
    /// thread as when the OS refuses one. A thread inherits its scheduling policy and nice
    /// value from the thread that starts it: weft's CPU pool lowers its own
    /// threads' priority, so a blocking-pool thread started from a CPU job
    /// would run at that priority for good; weft hands such starts to a
    /// thread at normal priority.
    ///
    /// ```
    /// let pool = weft_blocking::Pool::builder()
    ///     .thread_starter(|start| std::thread::spawn(start).join().expect("no panic"))
    ///     .build()?;
    /// assert_eq!(pool.spawn(|| 1).wait().unwrap(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_starter<S>(&mut self, starter: S) -> &mut Self
    where
        S: Fn(StartThread) -> io::Result<()> + Send + Sync + 'static,
    {
        self.thread_starter = Some(std::sync::Arc::new(starter));
        self
    }

    /// Caps the jobs that may wait for a thread (default: no cap). With a
    /// cap, [`Pool::try_reserve`] refuses once `max_threads + capacity`
    /// jobs are in flight (queued or running), so a caller can shed load
    /// instead of queueing without bound; the other ways to submit a job
    /// never refuse for being full, but their jobs count. `0` admits a job
    /// through `try_reserve` only while a thread is free for it. See
    /// [Bounded queue](crate#bounded-queue).
    ///
    /// ```
    /// let pool = weft_blocking::Pool::builder().max_threads(2).queue_capacity(8).build()?;
    /// let permit = pool.try_reserve().expect("nothing in flight yet");
    /// assert_eq!(permit.spawn(|| 6 * 7).wait().unwrap(), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn queue_capacity(&mut self, capacity: usize) -> &mut Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// The most threads alive at once (default 512). When all are busy, new
    /// jobs wait in the queue. Must be at least 1 (checked by
    /// [`build`](Self::build)).
    pub fn max_threads(&mut self, max_threads: usize) -> &mut Self {
        self.max_threads = max_threads;
        self
    }

    /// How long an idle thread waits for a job before it exits (default
    /// 10 s). `Duration::ZERO` makes threads exit as soon as they find the
    /// queue empty.
    pub fn keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The name of the pool's threads (default `weft-blocking`).
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.thread_name = ThreadName::Fixed(name.into());
        self
    }

    /// Names each new pool thread by calling `f` (the last of this and
    /// [`thread_name`](Self::thread_name) wins). A name `f` returns with a
    /// NUL byte, or a panic in `f`, gives that thread the default name
    /// (`weft-blocking`) and a line on stderr.
    pub fn thread_name_fn<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.thread_name = ThreadName::Made(std::sync::Arc::new(f));
        self
    }

    /// The name for the next thread the pool starts.
    pub(crate) fn next_thread_name(&self) -> String {
        self.thread_name.next("weft-blocking", DEFAULT_THREAD_NAME)
    }

    /// The stack size of the pool's threads, in bytes (default: the
    /// platform's, as for [`std::thread::spawn`]).
    pub fn stack_size(&mut self, bytes: usize) -> &mut Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each new pool thread before its first job. A panic in
    /// `f` is caught and reported on stderr (naming the hook and the
    /// thread), and the thread carries on: the job it was started for
    /// still runs.
    pub fn on_thread_start<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.on_thread_start = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs `f` on each pool thread just before it exits. A panic in `f` is
    /// caught and reported on stderr, and the thread exits as usual
    /// ([`Pool::shutdown`] still sees it exit).
    pub fn on_thread_stop<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.on_thread_stop = Some(std::sync::Arc::new(f));
        self
    }

    /// Builds the pool. No thread starts until the first job.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if `max_threads` is 0 or above
    /// 1,048,575, if `max_threads + queue_capacity` overflows `usize`, or if
    /// `thread_name` holds a NUL byte.
    pub fn build(&self) -> io::Result<Pool> {
        if let Some(name) = self.thread_name.fixed().filter(|name| name.contains('\0')) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("weft-blocking: thread_name must not contain a NUL byte: {name:?}"),
            ));
        }
        if self.max_threads == 0 || self.max_threads > state::MAX_THREADS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "weft-blocking: max_threads must be between 1 and {}, got {}",
                    state::MAX_THREADS,
                    self.max_threads
                ),
            ));
        }
        let admission = match self.queue_capacity {
            None => None,
            Some(capacity) => match self.max_threads.checked_add(capacity) {
                Some(limit) => Some(Admission::new(limit)),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "weft-blocking: queue_capacity {capacity} plus max_threads {} \
                             overflows usize",
                            self.max_threads
                        ),
                    ))
                }
            },
        };
        Ok(Pool { inner: Arc::new(Inner::new(self.clone())), admission })
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("queue_capacity", &self.queue_capacity)
            .field("thread_starter", &self.thread_starter.is_some())
            .finish()
    }
}
