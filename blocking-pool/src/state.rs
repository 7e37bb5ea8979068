//! The pool's state word. Every decision of the policy (where a job goes,
//! whether a thread may exit) is one read-modify-write of this one atomic,
//! so all decisions happen in one total order.
//!
//! The word holds three fields:
//!
//! - `shutdown` (1 bit): set once by `Pool::shutdown`.
//! - `alive` (20 bits): threads that have been started (or are being
//!   started) and have not yet decided to exit.
//! - `idle` (43 bits, signed): idle threads minus jobs already promised to
//!   them. A submission takes one (its promise); a thread that becomes idle
//!   adds one; a thread that takes a job from the queue changes nothing (its
//!   idle period and the job's promise cancel out). So `idle > 0` means a
//!   thread is waiting with nothing promised to it, and `idle < 0` is the
//!   backlog of jobs waiting for a thread to finish its current job. (Between
//!   a submitter's send and its transition, the job is in the queue but not
//!   yet counted, so `idle` can briefly be one too high per such job; see
//!   `Inner::submit` for why that is harmless.) A thread a submitter starts
//!   is born idle with that submitter's job promised to it: net zero.
//!
//! A thread whose wait ended without a job exits only by taking one from a
//! positive `idle`. If it cannot, `idle <= 0` although it is idle itself, so
//! some job promised to an idle thread has been sent and not yet taken: it
//! is in the queue, and waiting again finds it (or another thread took it,
//! and then the next timeout finds `idle > 0`). Threads never exit while a
//! job waits for them, and never wait in vain for longer than a keep-alive.
//!
//! After shutdown, `idle` decides nothing: a thread whose wait ends (a
//! wake-up, or its keep-alive) exits, finishing a job changes nothing, and
//! submissions change nothing. Only `alive` still counts down: the thread
//! that takes it to 0 is the last one (see [`Exit`]). `alive` never grows
//! after the flag (threads are only started by submissions decided before
//! it), so once a transition after the flag sees `alive == 0`, no thread
//! will take from the queue again.
//!
//! Orderings: every transition is one successful compare-exchange with
//! `AcqRel`, even when it changes nothing. A submitter sends its job *before*
//! its transition, so any later transition (in the word's modification order:
//! all writes are RMWs, so they form one release sequence) acquires that send,
//! and a thread that decides after it to wait or exit sees the job in the
//! queue. Plain loads are `Relaxed`: they feed metrics and fast-path hints
//! that a later transition re-checks.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

const SHUTDOWN: u64 = 1 << 63;
const ALIVE_SHIFT: u32 = 43;
const ALIVE_MASK: u64 = (1 << 20) - 1;
const IDLE_MASK: u64 = (1 << ALIVE_SHIFT) - 1;

/// The largest `max_threads` the state word can count.
pub(crate) const MAX_THREADS: usize = ALIVE_MASK as usize;

/// The decoded state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) shutdown: bool,
    pub(crate) alive: usize,
    pub(crate) idle: i64,
}

impl State {
    fn decode(word: u64) -> State {
        // Sign-extend the 43-bit `idle` field.
        let idle = ((word & IDLE_MASK) << (64 - ALIVE_SHIFT)) as i64 >> (64 - ALIVE_SHIFT);
        State {
            shutdown: word & SHUTDOWN != 0,
            alive: ((word >> ALIVE_SHIFT) & ALIVE_MASK) as usize,
            idle,
        }
    }

    fn encode(self) -> u64 {
        debug_assert!(self.alive as u64 <= ALIVE_MASK, "alive overflow: {self:?}");
        (if self.shutdown { SHUTDOWN } else { 0 })
            | (self.alive as u64) << ALIVE_SHIFT
            | (self.idle as u64 & IDLE_MASK)
    }
}

/// Where a submitted job goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Submit {
    /// An idle thread was waiting: it takes the job.
    IdleThread,
    /// No idle thread and room for one more: the submitter starts a thread.
    StartThread,
    /// No idle thread and `max_threads` alive: the job waits its turn.
    Queued,
    /// The pool is shut down; `alive` threads had not exited yet.
    ShutDown { alive: usize },
}

/// A thread has been counted out of `alive` and must exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) struct Exit {
    /// It was the last thread of a shut-down pool: it must drain whatever
    /// is left in the queue (cancel ordinary jobs, run mandatory ones).
    pub(crate) last_at_shutdown: bool,
}

impl Exit {
    fn after(after: State) -> Exit {
        Exit { last_at_shutdown: after.shutdown && after.alive == 0 }
    }
}

/// The atomic state word.
#[derive(Debug)]
pub(crate) struct StateCell(AtomicU64);

impl StateCell {
    pub(crate) fn new() -> StateCell {
        StateCell(AtomicU64::new(State { shutdown: false, alive: 0, idle: 0 }.encode()))
    }

    /// A snapshot for metrics and fast-path hints.
    pub(crate) fn load(&self) -> State {
        // Relaxed: callers only report the value or use it as a hint that a
        // transition below re-checks.
        State::decode(self.0.load(Ordering::Relaxed))
    }

    /// Applies `f` in one atomic step (always writing, see the module docs)
    /// and returns the state before and after.
    fn transition(&self, mut f: impl FnMut(State) -> State) -> (State, State) {
        // Relaxed first read and failure ordering: a stale value only makes
        // the compare-exchange fail and retry; the successful one is AcqRel.
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            let before = State::decode(word);
            let after = f(before);
            match self.0.compare_exchange_weak(
                word,
                after.encode(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (before, after),
                Err(actual) => word = actual,
            }
        }
    }

    /// A job was just sent to the queue: decide where it goes.
    pub(crate) fn submit(&self, max_threads: usize) -> Submit {
        let (before, _) = self.transition(|mut s| {
            if s.shutdown {
                return s;
            }
            if s.idle <= 0 && s.alive < max_threads {
                // The new thread starts idle with this job promised to it:
                // idle + 1 - 1.
                s.alive += 1;
            } else {
                s.idle -= 1;
            }
            s
        });
        if before.shutdown {
            Submit::ShutDown { alive: before.alive }
        } else if before.idle > 0 {
            Submit::IdleThread
        } else if before.alive < max_threads {
            Submit::StartThread
        } else {
            Submit::Queued
        }
    }

    /// The thread a submitter decided to start could not be started.
    pub(crate) fn start_failed(&self) -> State {
        // Undo `alive + 1`; the job's promise now has no thread: idle - 1.
        self.transition(|mut s| {
            s.alive -= 1;
            s.idle -= 1;
            s
        })
        .1
    }

    /// A thread finished a job (ran or cancelled it) and becomes idle. After
    /// shutdown this changes nothing: `idle` no longer decides anything, and
    /// the thread goes on taking messages until its wake-up (see
    /// `Inner::work`).
    pub(crate) fn become_idle(&self) {
        self.transition(|mut s| {
            if !s.shutdown {
                s.idle += 1;
            }
            s
        });
    }

    /// An idle thread's wait ended without a job (keep-alive expired, or a
    /// shutdown wake-up). It may exit only if no job is promised to it,
    /// `idle > 0`, or if the pool is shut down. `None`: a job is promised
    /// to an idle thread, so this one must wait again.
    pub(crate) fn try_retire(&self) -> Option<Exit> {
        let (before, after) = self.transition(|mut s| {
            if s.shutdown || s.idle > 0 {
                s.alive -= 1;
                s.idle -= 1;
            }
            s
        });
        (before.shutdown || before.idle > 0).then(|| Exit::after(after))
    }

    /// A transition that changes nothing, for its ordering: every later
    /// transition acquires what this thread did before it (the jobs it sent),
    /// and the state it returns is current at that point of the order.
    pub(crate) fn recheck(&self) -> State {
        self.transition(|s| s).1
    }

    /// Sets the shutdown flag. Returns the state before if this call set it,
    /// `None` if the pool was already shut down.
    pub(crate) fn shutdown(&self) -> Option<State> {
        let (before, _) = self.transition(|mut s| {
            s.shutdown = true;
            s
        });
        (!before.shutdown).then_some(before)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        for shutdown in [false, true] {
            for alive in [0, 1, 7, MAX_THREADS] {
                for idle in [0, 1, -1, 12345, -12345, (1 << 42) - 1, -(1 << 42)] {
                    let s = State { shutdown, alive, idle };
                    assert_eq!(State::decode(s.encode()), s);
                }
            }
        }
    }

    #[test]
    fn last_idle_thread_and_submitter_cannot_both_win() {
        // The submitter wins: the thread must stay for the job.
        let cell = StateCell::new();
        assert_eq!(cell.submit(1), Submit::StartThread);
        cell.become_idle(); // finished the job, idle again
        assert_eq!(cell.submit(1), Submit::IdleThread);
        assert_eq!(cell.try_retire(), None);

        // The thread wins: the submitter must start a new thread.
        let cell = StateCell::new();
        assert_eq!(cell.submit(1), Submit::StartThread);
        cell.become_idle();
        assert_eq!(cell.try_retire(), Some(Exit { last_at_shutdown: false }));
        assert_eq!(cell.submit(1), Submit::StartThread);
    }

    #[test]
    fn after_shutdown_only_alive_counts() {
        let cell = StateCell::new();
        assert_eq!(cell.submit(2), Submit::StartThread);
        assert_eq!(cell.submit(2), Submit::StartThread);
        let before = cell.shutdown().unwrap();
        assert_eq!(before, State { shutdown: false, alive: 2, idle: 0 });
        assert_eq!(cell.shutdown(), None, "set once");
        // Finishing a job changes nothing; submissions are not counted.
        cell.become_idle();
        assert_eq!(cell.submit(2), Submit::ShutDown { alive: 2 });
        assert_eq!(cell.recheck(), State { shutdown: true, alive: 2, idle: 0 });
        // Any wait that ends exits, even with jobs promised (`idle <= 0`).
        assert_eq!(cell.try_retire(), Some(Exit { last_at_shutdown: false }));
        assert_eq!(cell.try_retire(), Some(Exit { last_at_shutdown: true }));
        assert_eq!(cell.recheck().alive, 0);
    }

    #[test]
    fn backlog_is_negative_idle() {
        let cell = StateCell::new();
        assert_eq!(cell.submit(1), Submit::StartThread);
        assert_eq!(cell.submit(1), Submit::Queued);
        assert_eq!(cell.submit(1), Submit::Queued);
        assert_eq!(cell.load(), State { shutdown: false, alive: 1, idle: -2 });
        assert_eq!(cell.try_retire(), None);
    }
}
