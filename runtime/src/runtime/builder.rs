//! [`Builder`]: configures and starts a [`Runtime`].

use std::fmt;
use std::io;
use std::sync::Arc as StdArc;
use std::time::Duration;

use weft_util::unwind::Hook;
use weft_util::ThreadName;

use super::stall::{OnStall, StallSettings};
use super::{Runtime, StallReport};
use crate::runtime::cpu::{self, CpuPool, CpuPriority, CpuSettings, DEFAULT_QUEUE_PER_THREAD};
use crate::runtime::scheduler::{Config, ParkHooks};

/// The default name of workers and blocking-pool threads.
const DEFAULT_THREAD_NAME: &str = "weft-worker";

/// Which scheduler a [`Builder`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

/// Runs the hook `name` (if set) on a worker thread. A panic in it is
/// caught and reported on stderr, and the thread carries on: a worker that
/// died here would never claim its core, stranding its tasks and leaving
/// shutdown waiting for that core forever.
pub(super) fn run_hook(name: &str, hook: Option<&Hook>) {
    weft_util::unwind::run_hook("weft", name, hook);
}

/// Builds a [`Runtime`] with custom settings.
///
/// Setters take and return `&mut Self`, so calls chain as with Tokio:
///
/// ```
/// let rt = weft::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
///
/// Invalid settings (`worker_threads(0)`, `global_queue_interval(0)`,
/// `event_interval(0)`, `max_blocking_threads(0)`, `cpu_threads(0)`, a
/// zero `stall_threshold`) make [`Builder::build`] return an `InvalidInput`
/// error that names the setting.
pub struct Builder {
    flavor: Flavor,
    worker_threads: Option<usize>,
    max_blocking_threads: usize,
    pub(super) thread_name: ThreadName,
    pub(super) thread_stack_size: Option<usize>,
    thread_keep_alive: Duration,
    event_interval: u32,
    global_queue_interval: u32,
    pub(super) on_thread_start: Option<Hook>,
    pub(super) on_thread_stop: Option<Hook>,
    park_hooks: ParkHooks,
    stall_threshold: Option<Duration>,
    on_stall: Option<OnStall>,
    poll_time_histogram: bool,
    schedule_latency_histogram: bool,
    cpu_threads: Option<usize>,
    cpu_queue_capacity: Option<usize>,
    cpu_priority: CpuPriority,
    start_paused: bool,
    io_uring: bool,
}

impl Builder {
    /// A builder for the multi-thread, work-stealing runtime, with the
    /// defaults: one worker per CPU, 512 blocking threads kept alive 10 s,
    /// `global_queue_interval` 31, `event_interval` 61.
    pub fn new_multi_thread() -> Builder {
        Builder {
            flavor: Flavor::MultiThread,
            worker_threads: None,
            max_blocking_threads: 512,
            thread_name: ThreadName::Fixed(DEFAULT_THREAD_NAME.to_owned()),
            thread_stack_size: None,
            thread_keep_alive: Duration::from_secs(10),
            event_interval: 61,
            global_queue_interval: 31,
            on_thread_start: None,
            on_thread_stop: None,
            park_hooks: ParkHooks::default(),
            stall_threshold: Some(Duration::from_millis(100)),
            on_stall: None,
            poll_time_histogram: false,
            schedule_latency_histogram: false,
            cpu_threads: None,
            cpu_queue_capacity: None,
            cpu_priority: CpuPriority::Idle,
            start_paused: false,
            // The environment can turn the default off (CI runs the fs
            // tests on both paths this way).
            io_uring: std::env::var_os("WEFT_IO_URING").is_none_or(|v| v != "0"),
        }
    }

    /// A builder for the current-thread runtime: every task runs on the
    /// thread that calls [`Runtime::block_on`], with the same I/O driver,
    /// timers and blocking pool as the multi-thread runtime.
    pub fn new_current_thread() -> Builder {
        Builder { flavor: Flavor::CurrentThread, ..Builder::new_multi_thread() }
    }

    /// Number of worker threads (default: the number of CPUs). A
    /// current-thread runtime has no worker threads and ignores it (0 is
    /// still refused).
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        self.worker_threads = Some(n);
        self
    }

    /// Upper bound on blocking-pool threads (default 512).
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Self {
        self.max_blocking_threads = n;
        self
    }

    /// Name of the runtime's worker and blocking-pool threads (default
    /// `weft-worker`); CPU-pool threads are named `weft-cpu`.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.thread_name = ThreadName::Fixed(name.into());
        self
    }

    /// Names each worker and blocking-pool thread by calling `f`, as
    /// Tokio's `thread_name_fn` (the last of this and
    /// [`thread_name`](Self::thread_name) wins). A name with a NUL byte, or
    /// a panic in `f`, gives that thread the default name and a line on
    /// stderr: the thread still starts.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let next = AtomicUsize::new(0);
    /// let rt = weft::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .thread_name_fn(move || format!("app-{}", next.fetch_add(1, Ordering::Relaxed)))
    ///     .build()
    ///     .unwrap();
    /// let name = rt.block_on(rt.spawn(async {
    ///     std::thread::current().name().map(str::to_owned)
    /// }));
    /// assert!(name.unwrap().unwrap().starts_with("app-"));
    /// ```
    pub fn thread_name_fn<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.thread_name = ThreadName::Made(StdArc::new(f));
        self
    }

    /// The name for the next worker or blocking-pool thread.
    pub(super) fn next_thread_name(&self) -> String {
        self.thread_name.next("weft", DEFAULT_THREAD_NAME)
    }

    /// Stack size of the runtime's threads, in bytes (default: std's).
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// How long an idle blocking-pool or CPU-pool thread waits before
    /// exiting (default 10 s).
    pub fn thread_keep_alive(&mut self, duration: Duration) -> &mut Self {
        self.thread_keep_alive = duration;
        self
    }

    /// Whether each worker gets an io_uring for `weft::fs` (default on,
    /// unless the environment sets `WEFT_IO_URING=0`; multi-thread flavor
    /// only). With it, file operations io_uring can do (open, read, write,
    /// sync, close, rename, unlink, mkdir, where the kernel has the opcode)
    /// made in a task on a worker complete on that worker without a
    /// blocking-pool thread; the rest, and calls made off the workers
    /// (`block_on`, `spawn_blocking`), still use the pool: the kernel
    /// cancels the requests of a thread that exits, so only a worker, which
    /// waits for its ring's writes before it exits, submits to a ring. The
    /// current-thread flavor's core moves between `block_on` threads, so
    /// it takes the pool throughout. Where the kernel refuses a
    /// ring (not Linux, an old kernel, the `io_uring_disabled` sysctl, a
    /// seccomp filter) or with `false`, every `weft::fs` call goes through
    /// the blocking pool. [`RuntimeMetrics::io_uring_enabled`] says which
    /// path a runtime took.
    ///
    /// ```
    /// let rt = weft::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .io_uring(false)
    ///     .build()
    ///     .unwrap();
    /// assert!(!rt.metrics().io_uring_enabled());
    /// ```
    ///
    /// [`RuntimeMetrics::io_uring_enabled`]: crate::runtime::RuntimeMetrics::io_uring_enabled
    pub fn io_uring(&mut self, enabled: bool) -> &mut Self {
        self.io_uring = enabled;
        self
    }

    /// Scheduler ticks between non-blocking polls of a busy worker's driver
    /// (default 61).
    pub fn event_interval(&mut self, ticks: u32) -> &mut Self {
        self.event_interval = ticks;
        self
    }

    /// Scheduler ticks between checks of the global queue ahead of the
    /// local one, for fairness (default 31).
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Self {
        self.global_queue_interval = ticks;
        self
    }

    /// Runs `f` on each runtime thread as it starts: on each worker thread
    /// of a multi-thread runtime before it runs any task, on each
    /// blocking-pool thread (`spawn_blocking`, `block_in_place`, `fs`)
    /// before its first job, and on each CPU-pool thread (`spawn_cpu`) after
    /// it lowered its priority, before its first job. A current-thread runtime has no worker
    /// threads: the thread inside `block_on` runs no hook, only its
    /// blocking threads do.
    ///
    /// A panic in `f` is caught and reported on stderr (naming the hook and
    /// the thread), and the thread carries on as if `f` had returned: the
    /// worker still runs its share of the tasks, the blocking thread still
    /// runs the job it was started for, and shutdown completes. (With
    /// `panic = "abort"` there is nothing to catch: the process aborts.)
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.on_thread_start = Some(StdArc::new(f));
        self
    }

    /// Runs `f` on each runtime thread just before it exits: a worker
    /// thread when it stops running tasks (at shutdown, or once
    /// `block_in_place` handed its core to another thread); a blocking-pool
    /// or CPU-pool thread when its keep-alive runs out or at shutdown. A thread that
    /// [`Runtime::shutdown_timeout`] leaves behind runs it when it exits.
    /// On a current-thread runtime only the blocking threads run it.
    ///
    /// A panic in `f` is caught and reported on stderr (naming the hook and
    /// the thread), and the thread exits as usual: shutting down or
    /// dropping the runtime neither hangs nor panics because of it.
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.on_thread_stop = Some(StdArc::new(f));
        self
    }

    /// Runs `f` on a worker thread each time it is about to wait in its
    /// driver with nothing to run, as Tokio's `on_thread_park` (unlike
    /// Tokio's, once per wait: a parked worker that watches a busy sibling
    /// waits again every millisecond, each time between the two hooks); on the
    /// current-thread flavor, on the thread in `block_on`. A panic in `f`
    /// is caught and reported on stderr, and the worker parks as usual.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let parks = Arc::new(AtomicUsize::new(0));
    /// let counted = parks.clone();
    /// let rt = weft::runtime::Builder::new_current_thread()
    ///     .on_thread_park(move || {
    ///         counted.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { weft::time::sleep(std::time::Duration::from_millis(5)).await });
    /// assert!(parks.load(Ordering::Relaxed) >= 1);
    /// ```
    pub fn on_thread_park(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.park_hooks.park = Some(StdArc::new(f));
        self
    }

    /// Runs `f` on a worker thread each time it wakes from a park, before
    /// it looks for work, as Tokio's `on_thread_unpark`. Panics are
    /// contained as for [`on_thread_park`](Self::on_thread_park).
    pub fn on_thread_unpark(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.park_hooks.unpark = Some(StdArc::new(f));
        self
    }

    /// How long one poll of one task may run before it is reported as a
    /// stall (default `Some(100 ms)`); `None` turns stall detection off.
    ///
    /// A monitor thread reports a stalled poll while it still runs, once,
    /// naming the task, where it was spawned, the worker and how long (see
    /// [`StallReport`]), and meanwhile hands what that worker holds (queued
    /// tasks, due timers, I/O events) to the other workers. Zero is refused
    /// by [`Builder::build`].
    pub fn stall_threshold(&mut self, threshold: Option<Duration>) -> &mut Self {
        self.stall_threshold = threshold;
        self
    }

    /// Calls `f` with each stall report (on the monitor thread) instead of
    /// writing it to stderr. A panic in `f` is caught and reported; the
    /// monitor goes on.
    pub fn on_stall(&mut self, f: impl Fn(&StallReport) + Send + Sync + 'static) -> &mut Self {
        self.on_stall = Some(StdArc::new(f));
        self
    }

    /// Times every task poll into a per-worker histogram
    /// ([`RuntimeMetrics::worker_poll_time_histogram`](crate::runtime::RuntimeMetrics::worker_poll_time_histogram)).
    /// Off by default: it reads the clock twice per poll.
    pub fn enable_poll_time_histogram(&mut self) -> &mut Self {
        self.poll_time_histogram = true;
        self
    }

    /// Counts, per worker, how long each task waited from becoming
    /// runnable (spawned, woken, or yielding) to the start of its next
    /// poll
    /// ([`RuntimeMetrics::worker_schedule_latency_histogram`](crate::runtime::RuntimeMetrics::worker_schedule_latency_histogram)).
    /// Off by default: it reads the clock every time a task is scheduled
    /// and every time one is polled. A task woken while it is being polled
    /// becomes runnable when that poll ends, and is counted from there.
    pub fn enable_schedule_latency_histogram(&mut self) -> &mut Self {
        self.schedule_latency_histogram = true;
        self
    }

    /// Threads of the CPU pool, where [`spawn_cpu`](crate::task::spawn_cpu)
    /// jobs run (default: the number of cores). At most this many CPU jobs
    /// run at once; the rest wait in FIFO order. Threads start on demand and
    /// exit after `thread_keep_alive` idle. `0` makes [`build`](Self::build)
    /// fail.
    pub fn cpu_threads(&mut self, n: usize) -> &mut Self {
        self.cpu_threads = Some(n);
        self
    }

    /// How many CPU jobs may wait for a CPU thread before
    /// [`try_spawn_cpu`](crate::task::try_spawn_cpu) refuses new ones
    /// (default: 1024 per CPU thread). Counted over every CPU job, including
    /// those from [`spawn_cpu`](crate::task::spawn_cpu), which never
    /// refuses. `0` admits a job through `try_spawn_cpu` only while a CPU
    /// thread is free for it.
    pub fn cpu_queue_capacity(&mut self, n: usize) -> &mut Self {
        self.cpu_queue_capacity = Some(n);
        self
    }

    /// How the CPU pool's threads are scheduled (default
    /// [`CpuPriority::Idle`]: below everything else, so a worker with a task
    /// to run always gets its core first).
    pub fn cpu_priority(&mut self, priority: CpuPriority) -> &mut Self {
        self.cpu_priority = priority;
        self
    }

    /// Starts the runtime's clock paused (default `false`), as Tokio's
    /// `start_paused`: its timers and [`time::Instant::now`](crate::time::Instant::now)
    /// then read a clock that moves only by [`time::advance`](crate::time::advance)
    /// or, when the runtime has nothing left to run but timers, by jumping
    /// to the next one (see [`time::pause`](crate::time::pause)). For
    /// tests. Only the current-thread runtime can be paused: on a
    /// multi-thread one, [`Builder::build`] returns an `InvalidInput` error
    /// (where Tokio panics).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = weft::runtime::Builder::new_current_thread().start_paused(true).build().unwrap();
    /// rt.block_on(async {
    ///     let start = weft::time::Instant::now();
    ///     weft::time::sleep(Duration::from_secs(3600)).await; // returns at once
    ///     assert_eq!(start.elapsed(), Duration::from_secs(3600));
    /// });
    /// ```
    pub fn start_paused(&mut self, start_paused: bool) -> &mut Self {
        self.start_paused = start_paused;
        self
    }

    /// The stall monitor's settings, unless detection is off.
    #[cfg_attr(loom, allow(dead_code))] // no monitor under loom
    pub(super) fn stall_settings(&self) -> Option<StallSettings> {
        let threshold = self.stall_threshold?;
        Some(StallSettings { threshold, on_stall: self.on_stall.clone() })
    }

    /// Enables I/O and time drivers. They are always on in weft; this
    /// exists so code ported from Tokio compiles unchanged.
    pub fn enable_all(&mut self) -> &mut Self {
        self
    }

    /// Enables the I/O driver. It is always on in weft: this does nothing
    /// and exists so code ported from Tokio compiles unchanged.
    ///
    /// ```
    /// let rt = weft::runtime::Builder::new_multi_thread().enable_io().build().unwrap();
    /// rt.block_on(async {
    ///     let listener = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(listener.local_addr().is_ok());
    /// });
    /// ```
    pub fn enable_io(&mut self) -> &mut Self {
        self
    }

    /// Enables the timers. They are always on in weft: this does nothing
    /// and exists so code ported from Tokio compiles unchanged.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = weft::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// rt.block_on(async { weft::time::sleep(Duration::from_millis(1)).await });
    /// ```
    pub fn enable_time(&mut self) -> &mut Self {
        self
    }

    /// Checks the settings and starts the worker threads.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
        if self.worker_threads == Some(0) {
            return invalid("worker_threads must be at least 1 (got 0)");
        }
        if self.global_queue_interval == 0 {
            return invalid("global_queue_interval must be at least 1 (got 0)");
        }
        if self.event_interval == 0 {
            return invalid("event_interval must be at least 1 (got 0)");
        }
        if self.max_blocking_threads == 0 {
            return invalid("max_blocking_threads must be at least 1 (got 0)");
        }
        if self.thread_name.fixed().is_some_and(|name| name.contains('\0')) {
            return invalid("thread_name must not contain a NUL byte");
        }
        if self.cpu_threads == Some(0) {
            return invalid("cpu_threads must be at least 1 (got 0)");
        }
        if self.stall_threshold == Some(Duration::ZERO) {
            return invalid(
                "stall_threshold must be greater than zero (got 0); use None to turn stall \
                 detection off",
            );
        }
        let current_thread = self.flavor == Flavor::CurrentThread;
        if self.start_paused && !current_thread {
            return invalid(
                "start_paused needs the current-thread runtime (Builder::new_current_thread); \
                 a multi-thread runtime's clock cannot be paused",
            );
        }
        let workers = match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => self.worker_threads.unwrap_or_else(num_cpus::get).max(1),
        };
        let config = Config {
            global_queue_interval: self.global_queue_interval,
            event_interval: self.event_interval,
            io_uring: self.io_uring,
            current_thread,
            poll_time_histogram: self.poll_time_histogram,
            schedule_latency_histogram: self.schedule_latency_histogram,
            // No monitor runs under loom (see `Runtime::start_monitor`).
            watch_polls: self.stall_threshold.is_some() && !cfg!(loom),
            start_paused: self.start_paused,
            park_hooks: self.park_hooks.clone(),
        };
        // What the blocking pool and the CPU pool share: the runtime's thread
        // settings.
        let mut threads = weft_blocking::Pool::builder();
        threads.keep_alive(self.thread_keep_alive);
        if let Some(size) = self.thread_stack_size {
            threads.stack_size(size);
        }
        if let Some(hook) = self.on_thread_stop.clone() {
            threads.on_thread_stop(move || hook());
        }
        // A pool thread started from a lowered thread (a CPU job, or a
        // thread one started) would inherit its priority for good: whatever
        // this runtime's own CPU priority, such starts go to the starter.
        threads.thread_starter(cpu::at_normal_priority);
        let mut blocking = threads.clone();
        blocking.max_threads(self.max_blocking_threads);
        match &self.thread_name {
            ThreadName::Fixed(name) => blocking.thread_name(name.clone()),
            made @ ThreadName::Made(_) => {
                // Checked here, so a bad name falls back to the runtime's
                // default, not the pool's own.
                let made = made.clone();
                blocking.thread_name_fn(move || made.next("weft", DEFAULT_THREAD_NAME))
            }
        };
        if let Some(hook) = self.on_thread_start.clone() {
            blocking.on_thread_start(move || hook());
        }
        if self.cpu_priority != CpuPriority::Normal {
            // This CPU pool lowers its threads: have the starter ready (see
            // `cpu/starter.rs`), started from this thread.
            cpu::prepare_starter();
        }
        let cpu_threads = self.cpu_threads.unwrap_or_else(num_cpus::get).max(1);
        let cpu = CpuSettings {
            threads: cpu_threads,
            queue_capacity: self
                .cpu_queue_capacity
                .unwrap_or(cpu_threads.saturating_mul(DEFAULT_QUEUE_PER_THREAD)),
            priority: self.cpu_priority,
        };
        let cpu = CpuPool::new(cpu, threads, self.on_thread_start.clone()).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "invalid CPU pool settings (cpu_threads {}, cpu_queue_capacity {}): {err}",
                    cpu.threads, cpu.queue_capacity
                ),
            )
        })?;
        Runtime::start(workers, config, blocking.build()?, cpu, self)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_name", &self.thread_name)
            .field("thread_stack_size", &self.thread_stack_size)
            .field("thread_keep_alive", &self.thread_keep_alive)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("park_hooks", &self.park_hooks)
            .field("stall_threshold", &self.stall_threshold)
            .field("on_stall", &self.on_stall.is_some())
            .field("poll_time_histogram", &self.poll_time_histogram)
            .field("schedule_latency_histogram", &self.schedule_latency_histogram)
            .field("cpu_threads", &self.cpu_threads)
            .field("io_uring", &self.io_uring)
            .field("cpu_queue_capacity", &self.cpu_queue_capacity)
            .field("cpu_priority", &self.cpu_priority)
            .field("start_paused", &self.start_paused)
            .finish()
    }
}
