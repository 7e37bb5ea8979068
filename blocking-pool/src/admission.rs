//! The bounded queue: a cap on jobs in flight, so a caller can be told
//! "full" at once instead of queueing without bound.
//!
//! A pool built with [`queue_capacity`](crate::PoolBuilder::queue_capacity)
//! counts its jobs in flight: submitted and not yet finished (waiting in
//! the queue or running). [`Pool::try_reserve`](crate::Pool::try_reserve)
//! takes one place while fewer than `max_threads + queue_capacity` are
//! taken, so at most `queue_capacity` jobs wait while every thread is busy
//! (a job whose caller gives its place back early, [`Permit::into_parts`],
//! may still hold its thread a moment after). Every other way in ([`Pool::spawn`](crate::Pool::spawn) and the other
//! `try_spawn*`) takes a place without looking at the cap: those never
//! refuse for being full, and their jobs still count against the cap of
//! the next `try_reserve`.
//!
//! A job gives its place back when its closure is dropped: after it
//! returns or panics, or unrun when shutdown cancels it. That drop comes
//! before the job's Task resolves (see `task::JobImpl`), so whoever has
//! seen a Task resolve and then calls `try_reserve` sees the place free.
//! A [`Permit`] dropped without spawning gives its place
//! back too.
//!
//! The count is one atomic, never a lock. A pool without a cap does not
//! count at all: its jobs cost nothing here.

use std::fmt;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::loom::sync::Arc;
use crate::threads::Inner;
use crate::{task, Pool, Task};

/// The count of jobs in flight against the cap.
///
/// Every access is `Relaxed`: the count orders nothing else (no data is
/// published through it), and every change is a read-modify-write of the
/// one atomic, so all of them form one total order and no place is lost
/// or counted twice. The one ordering that matters, a place given back
/// before a Task resolves is seen by a `try_reserve` made after the Task
/// was seen resolved, comes from the Task's own lock: the give-back is
/// sequenced before the unlock that publishes the result, and a later
/// access to the count observes every write that happens-before it.
#[derive(Debug)]
pub(crate) struct Admission {
    in_flight: AtomicUsize,
    /// `max_threads + queue_capacity`.
    limit: usize,
}

impl Admission {
    pub(crate) fn new(limit: usize) -> Arc<Admission> {
        Arc::new(Admission { in_flight: AtomicUsize::new(0), limit })
    }

    /// Takes a place if fewer than `limit` are taken.
    pub(crate) fn try_take(this: &Arc<Admission>) -> Option<Place> {
        this.in_flight
            .fetch_update(Relaxed, Relaxed, |n| (n < this.limit).then_some(n + 1))
            .ok()
            .map(|_| Place(Some(this.clone())))
    }

    /// Takes a place whatever the count: for the ways in that never refuse.
    pub(crate) fn take(this: &Arc<Admission>) -> Place {
        this.in_flight.fetch_add(1, Relaxed);
        Place(Some(this.clone()))
    }

    /// Jobs in flight now (a snapshot, for metrics).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Relaxed)
    }
}

/// One job's place in a bounded pool's count of jobs in flight; dropping
/// it gives the place back. A job holds its place until its closure is
/// gone; [`Permit::into_parts`] hands it to a caller that gives it back
/// itself. In a pool without a cap it counts nothing.
#[derive(Debug)]
pub struct Place(Option<Arc<Admission>>);

impl Place {
    /// The place of a job in a pool that does not count.
    pub(crate) fn uncounted() -> Place {
        Place(None)
    }

    /// Takes a place in `admission`, if the pool has one, whatever the count.
    pub(crate) fn take(admission: Option<&Arc<Admission>>) -> Place {
        admission.map_or(Place(None), Admission::take)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(admission) = &self.0 {
            admission.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

/// A place reserved for one job by [`Pool::try_reserve`] or
/// [`Pool::reserve`]. [`spawn`](Self::spawn) uses it; dropping it unused
/// gives the place back.
#[must_use = "a permit holds a place in the pool until it is used or dropped"]
pub struct Permit {
    pool: Pool,
    place: Place,
}

impl Permit {
    pub(crate) fn new(pool: Pool, place: Place) -> Permit {
        Permit { pool, place }
    }

    /// Splits the permit into its [`Place`] and a [`Spawner`] that submits
    /// one job without a place of its own: for a job that finishes before
    /// its closure returns. The caller moves the place to where the job's
    /// work ends and drops it there. weft does this: its CPU job's closure
    /// completes a task whose handle resolves inside the job, so the place
    /// rides in the task and comes back before the handle resolves.
    ///
    /// ```
    /// let pool = weft_blocking::Pool::builder().max_threads(1).queue_capacity(0).build()?;
    /// let (place, spawner) = pool.try_reserve().unwrap().into_parts();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let job = spawner.spawn(move || {
    ///     drop(place); // the work is done: the place is free
    ///     tx.send(()).unwrap();
    ///     std::thread::sleep(std::time::Duration::from_millis(10)); // winding down
    /// });
    /// rx.recv().unwrap();
    /// assert!(pool.try_reserve().is_ok(), "free before the job returned");
    /// job.wait().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_parts(self) -> (Place, Spawner) {
        (self.place, Spawner { pool: self.pool })
    }

    /// Runs `f` on a pool thread in the reserved place and returns its
    /// [`Task`]. Never refuses: like [`Pool::spawn`], after a shutdown that
    /// raced with the reservation `f` is dropped unrun and the Task
    /// resolves as cancelled.
    pub fn spawn<F, R>(self, f: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, task) = task::new(f, self.place);
        Inner::submit(&self.pool.inner, job);
        task
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("place", &self.place).finish_non_exhaustive()
    }
}

/// Submits one job whose [`Place`] its caller holds ([`Permit::into_parts`]).
#[must_use = "a spawner submits nothing until `spawn` is called"]
#[derive(Debug)]
pub struct Spawner {
    pool: Pool,
}

impl Spawner {
    /// Runs `f` on a pool thread and returns its [`Task`]; the job holds no
    /// place (its caller's [`Place`] stands for it). As [`Permit::spawn`]
    /// otherwise.
    pub fn spawn<F, R>(self, f: F) -> Task<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, task) = task::new(f, Place::uncounted());
        Inner::submit(&self.pool.inner, job);
        task
    }
}

/// [`Pool::try_reserve`] found no place: the pool is full, or shut down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReserveError {
    shut_down: bool,
}

impl ReserveError {
    pub(crate) fn full() -> ReserveError {
        ReserveError { shut_down: false }
    }

    pub(crate) fn shut_down() -> ReserveError {
        ReserveError { shut_down: true }
    }

    /// Every place is taken: `max_threads` jobs running (or about to) and
    /// `queue_capacity` waiting. Retry later, or shed the work.
    pub fn is_full(&self) -> bool {
        !self.shut_down
    }

    /// The pool is shut down and takes no more jobs.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shut_down {
            f.write_str("the pool is shut down")
        } else {
            f.write_str("the pool's queue is full: every thread is busy and the queue at capacity")
        }
    }
}

impl std::error::Error for ReserveError {}
