//! The idle protocol: who is searching for work, who is parked, and whom a
//! new task should wake.
//!
//! One atomic word packs the number of searching workers and the number of
//! unparked workers; the list of parked workers sits behind a mutex that
//! every transition which changes the unparked count holds, so the count
//! and the list never disagree.
//!
//! Rules (tokio's, which the loom models check):
//! - At most half the workers search at once ([`Idle::transition_worker_to_searching`]).
//! - A push that may leave work unseen wakes one parked worker, and only if
//!   no worker is searching ([`Idle::worker_to_notify`]): a searcher will
//!   find the work, and one wake per push means no thundering herd.
//! - The last searcher to stop searching because it found work wakes
//!   another, so a burst fans out one worker at a time.
//! - A worker announces itself parked, then re-checks every queue before it
//!   sleeps (the worker loop does this); together with the SeqCst fence in
//!   `worker_to_notify` no push can go unseen (store-buffer argument: the
//!   pusher writes the queue then reads this word, the parker writes this
//!   word then reads the queue; SeqCst fences on both sides forbid both
//!   reads seeing the old value).
//!
//! A parked worker may also be the *watcher*: while some sibling is
//! unparked, it parks with a short timeout to rescue what a worker blocked
//! inside a long poll would hold hostage (a task in its LIFO slot, due
//! timers in its wheel, events of its driver). While a watcher exists,
//! LIFO-only pushes and new timers wake nobody (the watcher will look), so
//! message passing and timers on a busy worker cost no syscalls.
//!
//! The invariant: a worker that polls a task while holding something only
//! a watcher could serve has a watcher, or one on its way. It asks
//! ([`Idle::worker_to_notify_for_watch`]) before the poll, and the ask
//! wakes nobody only when the role is held, when nobody is parked, or when
//! a worker searches: the last searcher either parks, taking the role if
//! anyone is unparked, or finds work and wakes another (the rule above).
//! A worker going back to work after parking, on any path, asks before its
//! next poll if it holds a LIFO task, timers or I/O sources; a watcher
//! that leaves to run a task hands the role on; a watcher that gives the
//! role up re-reads the idle state ([`Idle::stop_watching`]). Each of
//! these has a loom model in `loom-tests/tests/watch.rs`.
//!
//! What it costs: a worker that runs what its own park woke, or registers
//! a timer for the task it polls, puts the ask off until it polls another
//! task (the worker loop's `DeferredWatch`) and then asks only if it still
//! holds something. So a task sleeping in a loop on an otherwise idle
//! runtime wakes no sibling: its worker parks between the timers and fires
//! them itself. Timers on a worker that keeps running other tasks, or that
//! holds other timers or sources, do wake a parked worker to watch (one,
//! which keeps the role while anyone is unparked). A timer registered off
//! the workers unparks its wheel's owner, and wakes a watcher only if that
//! owner is not parked; so does an I/O source registered off the workers
//! (`Shared::source_added`). (The deferral leaves one gap, documented on
//! `DeferredWatch`: what the poll that blocks registered itself.)

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

const SEARCH_BITS: usize = 16;
const SEARCH_MASK: usize = (1 << SEARCH_BITS) - 1;
const UNPARK_ONE: usize = 1 << SEARCH_BITS;

/// The idle set of one runtime (see the module docs).
pub(crate) struct Idle {
    /// Low 16 bits: searching workers; the rest: unparked workers.
    state: AtomicUsize,
    /// Indices of parked workers.
    sleepers: Mutex<Vec<usize>>,
    /// A parked worker holds the watcher role (see the module docs).
    watching: AtomicBool,
    num_workers: usize,
}

#[derive(Clone, Copy)]
struct State(usize);

impl State {
    fn searching(self) -> usize {
        self.0 & SEARCH_MASK
    }
    fn unparked(self) -> usize {
        self.0 >> SEARCH_BITS
    }
}

impl Idle {
    /// All workers start unparked and not searching.
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCH_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(num_workers << SEARCH_BITS),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            watching: AtomicBool::new(false),
            num_workers,
        }
    }

    fn load(&self) -> State {
        State(self.state.load(SeqCst))
    }

    /// Called after a push: is some parked worker worth waking?
    fn should_wake(&self) -> bool {
        // Pairs with the parker's SeqCst update + re-check (module docs).
        fence(SeqCst);
        self.wake_wanted(self.load())
    }

    /// No worker searches and some worker is parked.
    fn wake_wanted(&self, state: State) -> bool {
        state.searching() == 0 && state.unparked() < self.num_workers
    }

    /// After a push to a queue siblings can steal from (or the injector):
    /// picks one parked worker to wake, marking it unparked and searching,
    /// or `None` when a searcher exists or nobody is parked.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        self.pop_sleeper(None)
    }

    /// Under the lock: re-checks and unlists one parked worker, counting it
    /// unparked and searching.
    fn pop_sleeper(&self, unless_parked: Option<usize>) -> Option<usize> {
        let mut sleepers = self.sleepers.lock();
        // Re-check under the lock: another notifier may have woken one.
        if !self.should_wake() || unless_parked.is_some_and(|owner| sleepers.contains(&owner)) {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, SeqCst);
        Some(index)
    }

    /// After a LIFO-only push or a new timer on a busy worker: like
    /// [`Idle::worker_to_notify`], but not when a watcher already looks.
    /// One fence serves both checks: it orders the push before the read of
    /// the watcher flag (Dekker pairing with [`Idle::stop_watching`]) and
    /// before the read of the state (pairing with the parker).
    pub(crate) fn worker_to_notify_for_watch(&self) -> Option<usize> {
        self.watch_for(None)
    }

    /// [`Idle::worker_to_notify_for_watch`] for something `owner` holds
    /// (a timer or a source added from another thread): nobody is woken
    /// while `owner` is listed as parked, since it serves its own wheel and
    /// driver. The list is read under its lock, which `owner` takes to
    /// leave it, after the caller published what it added: an owner that
    /// leaves later sees it and asks for a watcher itself.
    pub(crate) fn worker_to_notify_for_watch_of(&self, owner: usize) -> Option<usize> {
        self.watch_for(Some(owner))
    }

    fn watch_for(&self, unless_parked: Option<usize>) -> Option<usize> {
        fence(SeqCst);
        if self.watching.load(SeqCst) || !self.wake_wanted(self.load()) {
            return None;
        }
        self.pop_sleeper(unless_parked)
    }

    /// A worker with nothing to do announces itself parked. Returns true if
    /// it was the last searcher: pushes while it searched woke nobody, so
    /// if its re-check of the queues finds work, it wakes another.
    pub(crate) fn transition_worker_to_parked(&self, index: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARK_ONE + usize::from(is_searching);
        let prev = State(self.state.fetch_sub(dec, SeqCst));
        sleepers.push(index);
        drop(sleepers);
        // The parker's half of the store-buffer pairing (module docs): the
        // queue re-check that follows must not be ordered before the
        // announcement, whatever orderings the queues use internally.
        fence(SeqCst);
        is_searching && prev.searching() == 1
    }

    /// A worker wants to steal: allowed while fewer than half search.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let state = self.load();
        if 2 * state.searching() >= self.num_workers {
            return false;
        }
        // Racy on purpose (like tokio): a slight overshoot of the limit is
        // harmless, and a CAS loop here would contend on every steal.
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searching worker found work (or gave up). Returns true if it was
    /// the last searcher: the caller then wakes another worker, since
    /// there may be more work than it can handle.
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = State(self.state.fetch_sub(1, SeqCst));
        debug_assert!(prev.searching() > 0);
        prev.searching() == 1
    }

    /// A parked worker woke up on its own (timeout, driver event, or work
    /// it found in a re-check). If it is still listed as parked, unlist it
    /// and count it unparked (not searching); returns whether it was.
    pub(crate) fn unpark_worker_by_id(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        let Some(pos) = sleepers.iter().position(|&i| i == index) else { return false };
        sleepers.swap_remove(pos);
        self.state.fetch_add(UNPARK_ONE, SeqCst);
        true
    }

    /// Is this worker still listed as parked (nobody woke it)?
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers.lock().contains(&index)
    }

    /// True if some worker is unparked (busy or searching). Called by a
    /// parked worker, so it does not count itself.
    pub(crate) fn any_unparked(&self) -> bool {
        self.load().unparked() > 0
    }

    /// Takes the watcher role if nobody holds it.
    pub(crate) fn try_become_watcher(&self) -> bool {
        self.watching.compare_exchange(false, true, SeqCst, SeqCst).is_ok()
    }

    /// Gives the watcher role up. A caller that goes on parking re-reads
    /// the idle state afterwards ([`Idle::any_unparked`] at the top of the
    /// worker's park loop): Dekker pairing with
    /// [`Idle::worker_to_notify_for_watch`], whose caller is unparked
    /// before it asks, so if it still saw the role held, that re-read sees
    /// it unparked and the role is taken again. A caller that leaves to
    /// work asks itself afterwards, handing the role on.
    pub(crate) fn stop_watching(&self) {
        self.watching.store(false, SeqCst);
        fence(SeqCst);
    }

    /// Number of searching workers (tests and models).
    #[cfg(loom)]
    pub(crate) fn num_searching(&self) -> usize {
        self.load().searching()
    }

    /// Number of unparked workers (tests and models).
    #[cfg(loom)]
    pub(crate) fn num_unparked(&self) -> usize {
        self.load().unparked()
    }

    /// Whether a parked worker holds the watcher role (tests and models).
    #[cfg(loom)]
    pub(crate) fn is_watching(&self) -> bool {
        self.watching.load(SeqCst)
    }
}
