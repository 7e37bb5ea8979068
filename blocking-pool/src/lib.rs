//! A thread pool for blocking work: file system calls, blocking libraries,
//! CPU-heavy computations. Async code hands such work to the pool and
//! `.await`s the [`Task`]; synchronous code [`wait`](Task::wait)s for it.
//! weft's `spawn_blocking` runs on it, and so does weft's `spawn_cpu` (a
//! second pool, with one thread per core, a [bounded queue](#bounded-queue)
//! and its threads at the lowest priority); it works just as well without
//! weft (see [`unblock`]).
//!
//! ```
//! let pool = weft_blocking::Pool::new();
//! let task = pool.spawn(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()));
//! let len = task.wait().expect("the job did not panic")?; // or `task.await` in async code
//! assert!(len > 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Policy
//!
//! The pool starts with no threads and has one first-in first-out queue of
//! jobs. When a job is submitted:
//!
//! 1. if a thread is idle, that thread takes it;
//! 2. otherwise, if fewer than `max_threads` threads are alive, a new thread
//!    starts for it;
//! 3. otherwise the job waits in the queue. It is never lost: every thread
//!    takes the next job from the queue as soon as it finishes one.
//!
//! A thread that finds no job waits for one, and exits after `keep_alive`
//! (default 10 s) without one. The next job after that starts a new thread.
//! Waiting is a short pure spin on the queue (a job submitted right after
//! the previous one finished starts at once), then sleep on a condvar that
//! a submitter rings only when a thread sleeps (see `loom.rs`, `channel`).
//!
//! A job that panics is caught: its [`Task`] resolves to a [`JoinError`]
//! with the panic, and the thread goes on to the next job.
//!
//! # The race this design rules out
//!
//! A job arrives at the very moment the last idle thread's keep-alive runs
//! out. If the submitter sees "one idle thread" and starts none, while that
//! thread decides "no job, exit", the job waits forever. Here the two
//! decisions are steps on one atomic counter, `idle`: idle threads minus
//! jobs already promised to them. A submitter puts its job in the queue,
//! then takes one from `idle`: if it was positive, the job is promised to
//! an idle thread; if not, the submitter starts a thread (while fewer than
//! `max_threads` are alive) or the job waits its turn. A thread whose
//! keep-alive ran out may exit only by taking one from `idle` while it is
//! positive, in one atomic step. So exactly one of the two wins: either the
//! job was promised first, the thread finds nothing left to take, stays and
//! runs the job; or the thread left first, and the submitter sees no idle
//! thread and starts one. A thread that takes a job from the queue changes
//! nothing: its idle period and the job's promise cancel out. The loom
//! models in `loom-tests/tests/blocking.rs` check this.
//!
//! Submitting a job costs one channel send and one compare-exchange (plus
//! a condvar notification when a thread sleeps, and starting a thread when
//! there is no idle one); no lock is held while a job runs.
//!
//! # Shutdown
//!
//! [`Pool::shutdown`] refuses new jobs ([`Pool::try_spawn`] and
//! [`Pool::try_spawn_mandatory`] return [`SpawnError`]; [`Pool::spawn`]
//! returns a Task that is already cancelled), cancels every queued ordinary
//! job that has not started (its closure is dropped unrun and its Task
//! resolves to a cancelled [`JoinError`]), lets running jobs finish, runs
//! the queued mandatory jobs (below), and waits up to a timeout for every
//! thread to exit. An ordinary job submitted while `shutdown` runs either
//! runs or is cancelled; its Task resolves either way.
//!
//! # Mandatory jobs
//!
//! A job submitted with [`Pool::try_spawn_mandatory`] is never cancelled:
//! once that call has returned its Task, the job runs, exactly once, even if
//! the pool shuts down before it starts. It is for work whose success was
//! already promised to someone (weft's `fs::File` reports a write done once
//! its bytes are buffered, and writes them in a mandatory job). The only
//! refusal is `try_spawn_mandatory` itself returning [`SpawnError`] (and
//! dropping the closure unrun), which it decides before queueing anything:
//! after shutdown, or if the pool is found shut down as the call starts.
//!
//! `shutdown` cancels the ordinary jobs in the queue and puts the mandatory
//! ones back, in their order, ahead of its wake-ups. After shutdown each
//! thread keeps taking from the queue, running mandatory jobs (and
//! cancelling any ordinary job that raced in), until it takes its wake-up
//! and exits; the last thread to exit runs whatever mandatory job is still
//! queued. So mandatory jobs run on pool threads, as many at once as there
//! are threads, and start in submission order, like every job.
//!
//! The timeout bounds the caller's wait, not the jobs: `shutdown` waits up
//! to `timeout` for the threads to finish the running jobs and the queued
//! mandatory ones and exit. If it returns `false`, nothing is cancelled:
//! the remaining threads still run the mandatory jobs, then exit. One case
//! runs them outside the pool's threads: when no thread is left to take
//! them (every thread's keep-alive ran out just as shutdown began, or no
//! thread could be started), the thread calling `shutdown` runs them itself
//! before it waits, and the timeout does not cover them. Likewise a
//! `try_spawn_mandatory` that races with `shutdown` and finds no thread
//! alive runs the queued mandatory jobs (its own included) before it
//! returns.
//!
//! Dropping the last [`Pool`] handle does not block and cancels nothing:
//! jobs already submitted still run, and the threads exit after
//! `keep_alive` idle, as they would anyway. Call `shutdown` for a prompt,
//! bounded stop.
//!
//! # Bounded queue
//!
//! By default the queue has no cap: [`Pool::spawn`] never refuses, and a
//! burst waits as long as it takes. A pool built with
//! [`queue_capacity`](PoolBuilder::queue_capacity) counts its jobs in
//! flight (queued or running), and [`Pool::try_reserve`] refuses at once
//! (without queueing anything) while `max_threads + queue_capacity` are in
//! flight, so a server can answer "busy" instead of letting latency grow
//! without bound. A job gives its place back when it finishes or is
//! cancelled, before its Task resolves. The other ways in never refuse for
//! being full but are counted. weft's CPU pool (`spawn_cpu`,
//! `try_spawn_cpu`) is such a pool, with `max_threads` set to the number of
//! cores and an [`on_thread_start`](PoolBuilder::on_thread_start) hook that
//! lowers its threads' priority.
//!
//! # Blocking inside a job
//!
//! Jobs may block on anything, including [`Task::wait`] on other jobs of the
//! same pool, as long as `max_threads` leaves a thread for the job waited
//! for (with `max_threads(1)`, a job waiting for another job of the same
//! pool waits forever).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod admission;
mod builder;
mod loom;
mod state;
mod task;
mod threads;

use std::fmt;
use std::io;
use std::time::Duration;

use crate::admission::Admission;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Arc;
use crate::threads::{Inner, Message};

pub use crate::admission::{Permit, Place, ReserveError, Spawner};
pub use crate::builder::{PoolBuilder, StartThread};
pub use crate::task::Task;
/// The identity of a job, unique among the jobs of every pool and the tasks
/// of every weft runtime: [`Task::id`], [`JoinError::id`]. The same type as
/// `weft::task::Id`.
///
/// ```
/// let pool = weft_blocking::Pool::new();
/// let (a, b) = (pool.spawn(|| ()), pool.spawn(|| ()));
/// assert_ne!(a.id(), b.id());
/// ```
pub use weft_util::Id;
/// What a [`Task`] gives instead of its value when the job panicked, or was
/// cancelled because the pool shut down before the job started. The same
/// type as `weft::task::JoinError`: a blocking job is a task too.
///
/// ```
/// let pool = weft_blocking::Pool::new();
/// let err = pool.spawn(|| panic!("boom")).wait().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub use weft_util::JoinError;

/// A pool of threads for blocking jobs; see the [crate docs](crate) for its
/// policy.
///
/// A `Pool` is a handle: cloning it is cheap, and all clones share the same
/// threads and queue.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
    /// The count of jobs in flight, for a pool with a
    /// [`queue_capacity`](PoolBuilder::queue_capacity).
    admission: Option<Arc<Admission>>,
}

/// [`Pool::try_spawn`] failed because the pool is shut down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnError(());

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the blocking pool is shut down")
    }
}

impl std::error::Error for SpawnError {}

impl From<SpawnError> for io::Error {
    fn from(err: SpawnError) -> io::Error {
        io::Error::other(err)
    }
}

/// A snapshot of a pool's counters, from [`Pool::metrics`]. Each field is
/// read separately, so under load they may not add up exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Threads alive (started and not exiting).
    pub threads_alive: usize,
    /// Threads waiting for a job with none promised to them.
    pub idle_threads: usize,
    /// Jobs in the queue, not yet taken by a thread.
    pub queue_depth: usize,
    /// Jobs that have run to the end (returned or panicked).
    pub jobs_completed: u64,
    /// Threads running a job: alive and not waiting for one (a snapshot:
    /// a thread taking a job may be counted a moment late; after shutdown,
    /// every thread still alive).
    pub busy_threads: usize,
    /// Jobs submitted and not yet finished (queued or running). Counted
    /// only by a pool with a [`queue_capacity`](PoolBuilder::queue_capacity);
    /// always 0 in one without.
    pub jobs_in_flight: usize,
}

impl Pool {
    /// A pool with the default settings (see [`PoolBuilder::new`]).
    pub fn new() -> Pool {
        PoolBuilder::new().build().expect("the default settings are valid")
    }

    /// A builder to configure a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    /// Runs `f` on a pool thread and returns its [`Task`].
    ///
    /// After [`shutdown`](Self::shutdown), `f` is dropped unrun and the Task
    /// resolves at once to a cancelled [`JoinError`]. Dropping the Task
    /// detaches the job; it still runs.
    ///
    /// # Panics
    ///
    /// If the OS refuses to start a thread while no pool thread is alive to
    /// take the job later.
    pub fn spawn<F, R>(&self, f: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, task) = task::new(f, Place::take(self.admission.as_ref()));
        Inner::submit(&self.inner, job);
        task
    }

    /// Reserves a place for one job in a pool with a
    /// [`queue_capacity`](PoolBuilder::queue_capacity), or says at once
    /// that there is none: the way to shed load instead of queueing without
    /// bound. [`Permit::spawn`] then submits the job; dropping the permit
    /// unused gives the place back. A pool without a cap always has room.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = weft_blocking::Pool::builder().max_threads(1).queue_capacity(1).build()?;
    /// let (release, gate) = mpsc::channel::<()>();
    /// let busy = pool.spawn(move || gate.recv()); // runs (or will run) on the only thread
    /// let queued = pool.try_reserve().unwrap().spawn(|| "queued"); // waits its turn
    /// let err = pool.try_reserve().unwrap_err(); // 1 running + 1 waiting: full
    /// assert!(err.is_full());
    /// release.send(()).unwrap();
    /// busy.wait().unwrap().unwrap();
    /// assert_eq!(queued.wait().unwrap(), "queued");
    /// assert!(pool.try_reserve().is_ok()); // room again once both finished
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReserveError`]: the pool is full
    /// ([`is_full`](ReserveError::is_full)) or shut down
    /// ([`is_shut_down`](ReserveError::is_shut_down)).
    pub fn try_reserve(&self) -> Result<Permit, ReserveError> {
        if self.inner.state.load().shutdown {
            return Err(ReserveError::shut_down());
        }
        let place = match &self.admission {
            None => Place::uncounted(),
            Some(admission) => Admission::try_take(admission).ok_or(ReserveError::full())?,
        };
        Ok(Permit::new(self.clone(), place))
    }

    /// Reserves a place whatever the count: never refuses, like
    /// [`spawn`](Self::spawn), and the job still counts against the cap of
    /// the next [`try_reserve`](Self::try_reserve). For a caller that wants
    /// [`Permit::into_parts`] on a job it must not refuse.
    pub fn reserve(&self) -> Permit {
        Permit::new(self.clone(), Place::take(self.admission.as_ref()))
    }

    /// Like [`spawn`](Self::spawn), but after [`shutdown`](Self::shutdown)
    /// returns [`SpawnError`] (dropping `f` unrun) instead of a cancelled
    /// Task. A call racing with `shutdown` may still return a Task, which
    /// then resolves either way.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = weft_blocking::Pool::new();
    /// assert!(pool.shutdown(Duration::from_secs(1)));
    /// let err = pool.try_spawn(|| ()).unwrap_err();
    /// assert_eq!(err.to_string(), "the blocking pool is shut down");
    /// ```
    ///
    /// # Panics
    ///
    /// As for [`spawn`](Self::spawn).
    pub fn try_spawn<F, R>(&self, f: F) -> Result<Task<R>, SpawnError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.inner.state.load().shutdown {
            return Err(SpawnError(()));
        }
        Ok(self.spawn(f))
    }

    /// Like [`try_spawn`](Self::try_spawn), for a *mandatory* job: one that
    /// [`shutdown`](Self::shutdown) does not cancel (see [Mandatory
    /// jobs](crate#mandatory-jobs)). Once this returns the Task, `f` runs
    /// exactly once, whatever shutdown does: its Task never resolves as
    /// cancelled. After shutdown it returns [`SpawnError`] and drops `f`
    /// unrun.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = weft_blocking::Pool::builder().max_threads(1).build()?;
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started_tx, started) = mpsc::channel();
    /// let busy = pool.spawn(move || {
    ///     started_tx.send(()).unwrap();
    ///     gate.recv() // holds the only thread
    /// });
    /// started.recv().unwrap();
    /// let ordinary = pool.spawn(|| "ordinary");
    /// let mandatory = pool.try_spawn_mandatory(|| "mandatory").unwrap();
    /// assert!(!pool.shutdown(Duration::from_millis(10))); // the thread is busy
    /// release.send(()).unwrap();
    /// assert!(pool.shutdown(Duration::from_secs(5)));
    /// assert!(busy.wait().unwrap().is_ok());
    /// assert!(ordinary.wait().unwrap_err().is_cancelled());
    /// assert_eq!(mandatory.wait().unwrap(), "mandatory"); // ran at shutdown
    /// assert!(pool.try_spawn_mandatory(|| ()).is_err()); // refused now
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// As for [`spawn`](Self::spawn).
    pub fn try_spawn_mandatory<F, R>(&self, f: F) -> Result<Task<R>, SpawnError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        // The only refusal. Past this hint the job is sent, and a sent
        // mandatory job is never dropped unrun: if the flag was set in the
        // meantime, a thread still alive or the drain in `send` runs it.
        if self.inner.state.load().shutdown {
            return Err(SpawnError(()));
        }
        let (job, task) = task::new(f, Place::take(self.admission.as_ref()));
        Inner::send(&self.inner, Message::Mandatory(job));
        Ok(task)
    }

    /// Shuts the pool down: refuses new jobs, cancels the queued ordinary
    /// jobs that have not started (drops their closures, resolves their
    /// Tasks as cancelled), wakes idle threads so they exit, and waits up to
    /// `timeout` for running jobs and queued [mandatory](crate#mandatory-jobs)
    /// jobs to finish and every thread to exit.
    ///
    /// Returns whether every thread has exited (its `on_thread_stop` hook
    /// included). On `false`, the remaining threads exit when their current
    /// job returns and no mandatory job is left in the queue. Calling it
    /// again only waits again. Called from a job of this pool, it cannot see
    /// its own thread exit and returns `false` after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = weft_blocking::Pool::new();
    /// let job = pool.spawn(|| 1);
    /// assert!(pool.shutdown(Duration::from_secs(5)));
    /// // The job ran, or was cancelled if no thread had taken it yet.
    /// match job.wait() {
    ///     Ok(value) => assert_eq!(value, 1),
    ///     Err(err) => assert!(err.is_cancelled()),
    /// }
    /// assert!(pool.try_spawn(|| 2).is_err());
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown();
        let all_exited = self.inner.wait_for_threads(timeout);
        if all_exited {
            // No thread is left to wake: drop spare wake-ups, and settle any
            // job that raced in (cancel it, or run it here if mandatory).
            self.inner.drain_queued();
        }
        all_exited
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.state.load().shutdown
    }

    /// A snapshot of the pool's counters.
    ///
    /// ```
    /// let pool = weft_blocking::Pool::new();
    /// pool.spawn(|| ()).wait().unwrap();
    /// assert_eq!(pool.metrics().jobs_completed, 1);
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        let state = self.inner.state.load();
        // `idle` is idle threads minus promised jobs; it can briefly
        // overshoot (see `state.rs`) and is not kept after shutdown.
        let idle_threads = (state.idle.max(0) as usize).min(state.alive);
        PoolMetrics {
            threads_alive: state.alive,
            idle_threads,
            queue_depth: self.inner.queue_rx.len(),
            // Relaxed: a statistic, ordered with nothing.
            jobs_completed: self.inner.jobs_completed.load(Ordering::Relaxed),
            busy_threads: state.alive - idle_threads,
            jobs_in_flight: self.admission.as_ref().map_or(0, |a| a.in_flight()),
        }
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_threads", &self.inner.config.max_threads)
            .field("shut_down", &self.is_shut_down())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Runs `f` on a global pool (default settings, created on first use) and
/// returns its [`Task`]. For code outside weft that needs a blocking pool.
///
/// ```
/// let task = weft_blocking::unblock(|| std::thread::current().name().map(str::to_owned));
/// assert_eq!(task.wait().unwrap().as_deref(), Some("weft-blocking"));
/// ```
#[cfg(not(loom))]
pub fn unblock<F, R>(f: F) -> Task<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    static GLOBAL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(Pool::new).spawn(f)
}

/// Internals for the loom models in `loom-tests/tests/blocking.rs` (built
/// only with `--cfg loom`).
///
/// Loom has no clock, so under loom a pool's keep-alive works like this:
/// `Duration::ZERO` expires the instant a thread finds the queue empty (so
/// a model explores every point at which the last idle thread can time
/// out), and any other keep-alive never expires (threads wait for a job or
/// a shutdown wake-up). Timed waits in `shutdown` wait until done, except
/// that `shutdown(Duration::ZERO)` only looks (as it does without loom), so
/// a model can check what happens after a shutdown that did not wait.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    use super::Pool;
    use std::time::Duration;

    /// A pool of at most `max_threads` whose idle threads time out at once.
    pub fn pool_with_expiring_keep_alive(max_threads: usize) -> Pool {
        Pool::builder().max_threads(max_threads).keep_alive(Duration::ZERO).build().unwrap()
    }

    /// A pool of at most `max_threads` whose idle threads never time out.
    pub fn pool_without_keep_alive(max_threads: usize) -> Pool {
        Pool::builder().max_threads(max_threads).keep_alive(Duration::from_secs(1)).build().unwrap()
    }

    /// As [`pool_with_expiring_keep_alive`], with a `queue_capacity`.
    pub fn bounded_pool_with_expiring_keep_alive(max_threads: usize, capacity: usize) -> Pool {
        Pool::builder()
            .max_threads(max_threads)
            .queue_capacity(capacity)
            .keep_alive(Duration::ZERO)
            .build()
            .unwrap()
    }

    /// As [`pool_without_keep_alive`], with a `queue_capacity`.
    pub fn bounded_pool_without_keep_alive(max_threads: usize, capacity: usize) -> Pool {
        Pool::builder()
            .max_threads(max_threads)
            .queue_capacity(capacity)
            .keep_alive(Duration::from_secs(1))
            .build()
            .unwrap()
    }
}
