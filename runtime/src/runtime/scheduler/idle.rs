//! The idle protocol: who is searching for work, who is parked, and whom a
//! new task should wake.
//!
//! One atomic word packs the number of searching workers and the number of
//! unparked workers; the list of parked workers sits behind a mutex that
//! every transition which changes the unparked count holds, so the count
//! and the list never disagree.
//!
//! The rules (Tokio's; the loom models check them):
//!
//! 1. **At most half the workers search at once**
//!    ([`Idle::transition_worker_to_searching`]), so stealing cannot turn
//!    every worker into a spinning thief.
//! 2. **One wake per push, and none while someone searches.** A push that
//!    siblings could take wakes one parked worker, marking it unparked and
//!    searching, and only if no worker searches ([`Idle::worker_to_notify`]):
//!    a searcher will find the work, and one wake per push means no
//!    thundering herd.
//! 3. **The last searcher to find work wakes another**
//!    ([`Idle::transition_worker_from_searching`], and a parker whose
//!    re-check found work: [`Idle::transition_worker_to_parked`] returns
//!    whether it was the last searcher), so a burst fans out one worker at
//!    a time while pushes during the search woke nobody.
//! 4. **Announce, then re-check, then sleep.** A worker announces itself
//!    parked, re-checks every queue, and only then sleeps; no push goes
//!    unseen. Store-buffer argument: the pusher writes the queue, fences
//!    and reads this word ([`Idle::worker_to_notify`]); the parker writes
//!    this word, fences and reads the queues
//!    ([`Idle::transition_worker_to_parked`]); with SeqCst fences on both
//!    sides, whatever orderings the queues use, not both reads can see the
//!    old value.
//! 5. **Leaving the set.** A parked worker that wakes on its own takes
//!    itself off the list ([`Idle::unpark_worker_by_id`]) and does not
//!    search; one that a notifier took off was counted searching by it.
//!    The worker loop does this in one step (`WorkerContext::leave_parked`).
//!
//! A parked worker may also hold the watcher role (the flag here; its
//! rules are in the `watch` module): [`Idle::worker_to_notify_for_watch`]
//! and [`Idle::worker_to_notify_for_watch_of`] are rule 2 for what only a
//! watcher would serve, and wake nobody while the role is held.
//!
//! The stall monitor sleeps here too ([`Idle::monitor_sleep`]) while every
//! worker is parked, since no poll can stall then:
//!
//! 6. **The first worker to unpark rings the monitor's bell.** The monitor
//!    marks itself asleep, then re-reads the unparked count, under the
//!    bell's lock; an unpark raises the count, then reads the mark and, if
//!    set, rings under the same lock, with a SeqCst fence between the
//!    write and the read on both sides (as in rule 4). Either the
//!    monitor sees the worker unparked and stays awake, or the worker sees
//!    the mark and its ring finds the monitor waiting. Only the 0 → 1
//!    transition looks at the mark, so a busy runtime pays nothing. (A
//!    current-thread core waiting in its slot between `block_on`s counts
//!    as parked here; the `block_on` that takes it rings.)
//!
//! Checked by the loom models in `loom-tests/tests/queues.rs`,
//! `scheduler.rs`, `watch.rs` and `stall.rs`.

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};

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
    /// Where the stall monitor sleeps while every worker is parked (rule 6).
    bell: Bell,
}

/// The stall monitor's bell (rule 6).
struct Bell {
    /// The monitor is asleep, or about to be (set under `lock`).
    asleep: AtomicBool,
    lock: Mutex<()>,
    rung: Condvar,
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
            bell: Bell {
                asleep: AtomicBool::new(false),
                lock: Mutex::new(()),
                rung: Condvar::new(),
            },
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
        let prev = State(self.state.fetch_add(UNPARK_ONE | 1, SeqCst));
        self.after_unpark(prev);
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
        let prev = State(self.state.fetch_add(UNPARK_ONE, SeqCst));
        self.after_unpark(prev);
        true
    }

    /// Rule 6, after an unpark raised the count from `prev`: the first
    /// worker out of an all-parked runtime rings the monitor's bell.
    fn after_unpark(&self, prev: State) {
        if prev.unparked() != 0 {
            return;
        }
        // The unparker's half of the store-buffer pairing with
        // `monitor_sleep`: the raised count is ordered before this read of
        // the mark.
        fence(SeqCst);
        if self.bell.asleep.load(SeqCst) {
            self.ring_monitor();
        }
    }

    /// Wakes the stall monitor if it sleeps in [`Idle::monitor_sleep`] (an
    /// unpark, or the runtime stopping it).
    pub(crate) fn ring_monitor(&self) {
        let _lock = self.bell.lock.lock();
        self.bell.rung.notify_all();
    }

    /// The stall monitor: sleeps while every worker is parked, or
    /// `nothing_runs` (a current-thread core waiting in its slot, which its
    /// taker rings for), and `stop` stays false (rule 6). Returns at once
    /// otherwise.
    pub(crate) fn monitor_sleep(&self, stop: impl Fn() -> bool, nothing_runs: impl Fn() -> bool) {
        let mut lock = self.bell.lock.lock();
        self.bell.asleep.store(true, SeqCst);
        // The monitor's half of the pairing with `after_unpark`: the mark is
        // ordered before this read of the count.
        fence(SeqCst);
        while (self.load().unparked() == 0 || nothing_runs()) && !stop() {
            self.bell.rung.wait(&mut lock);
        }
        self.bell.asleep.store(false, SeqCst);
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
