//! The task state word: lifecycle flags and a reference count in one
//! `AtomicUsize`, changed only by the named transitions below.
//!
//! Every transition is a single CAS loop, so each one is atomic with respect
//! to all others. The reference count counts: the `Notified` handle sitting
//! in a run queue (or the poll in progress that consumed it), the
//! `JoinHandle`, the owned-task list entry and every `Waker`.
//!
//! Orderings: transitions use `AcqRel` on success (a transition publishes the
//! task's cells to the next thread that performs one, e.g. the output written
//! before `COMPLETE` is read after observing it) and `Acquire` on load.
//! Reference increments are `Relaxed` (like `Arc::clone`: a new reference is
//! made from an existing one, nothing is published); the decrement that may
//! free the cell is `AcqRel` so every prior use happens-before the free.

use std::fmt;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};

/// The task is being polled (or cancelled) by exactly one thread.
const RUNNING: usize = 0b00_0001;
/// The future is gone: its output is stored or already taken.
const COMPLETE: usize = 0b00_0010;
/// A wake arrived; the task is in a run queue or will be re-queued when
/// its current poll ends.
const NOTIFIED: usize = 0b00_0100;
/// The task was aborted or the runtime is shutting down.
const CANCELLED: usize = 0b00_1000;
/// The `JoinHandle` still exists and wants the output.
const JOIN_INTEREST: usize = 0b01_0000;
/// The join waker slot holds a waker owned by the runtime side; while this
/// bit is clear, the `JoinHandle` has exclusive access to the slot.
const JOIN_WAKER: usize = 0b10_0000;

const FLAG_BITS: u32 = 6;
const FLAG_MASK: usize = (1 << FLAG_BITS) - 1;
const REF_ONE: usize = 1 << FLAG_BITS;

/// Initial state: three references (the first `Notified`, the `JoinHandle`
/// and the owned-task list), join interest, already notified.
const INITIAL: usize = (REF_ONE * 3) | JOIN_INTEREST | NOTIFIED;

/// The atomic state word of a task.
pub(super) struct State {
    val: AtomicUsize,
}

/// A copy of the state word at one instant.
#[must_use]
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) struct Snapshot(usize);

/// Outcome of [`State::transition_to_running`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TransitionToRunning {
    /// Poll the future.
    Success,
    /// The task is cancelled: drop the future instead of polling it.
    Cancelled,
    /// Nothing to do (already running or complete); the caller's reference
    /// was dropped and this was not the last one.
    Failed,
    /// As `Failed`, and the caller dropped the last reference: free the cell.
    Dealloc,
}

/// Outcome of [`State::transition_to_idle`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TransitionToIdle {
    /// Idle; the poll's reference was dropped, others remain.
    Ok,
    /// Idle and woken during the poll: a new reference was made for the
    /// caller to schedule; the caller still drops the poll's reference.
    OkNotified,
    /// Idle and the poll's reference was the last one: free the cell.
    OkDealloc,
    /// Cancelled during the poll: still RUNNING; the caller cancels.
    Cancelled,
}

/// Outcome of a wake transition.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TransitionToNotified {
    /// Nothing to schedule.
    DoNothing,
    /// Schedule the task: the caller holds a reference for the `Notified`.
    Submit,
    /// The waker's reference was the last one: free the cell.
    Dealloc,
}

/// What the `JoinHandle`'s drop must clean up, from
/// [`State::transition_to_join_handle_dropped`].
#[must_use]
pub(super) struct JoinHandleDropped {
    /// The task completed: the handle must drop the stored output.
    pub(super) drop_output: bool,
    /// The handle owns the join waker slot and must clear it.
    pub(super) drop_waker: bool,
}

impl State {
    /// A new task's state; see `INITIAL`.
    pub(super) fn new() -> State {
        State { val: AtomicUsize::new(INITIAL) }
    }

    /// Reads the current state.
    pub(super) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Acquire))
    }

    /// Applies `f` in a CAS loop until it succeeds or `f` declines.
    fn fetch_update<T>(&self, mut f: impl FnMut(Snapshot) -> (T, Option<Snapshot>)) -> T {
        let mut curr = self.load();
        loop {
            let (out, next) = f(curr);
            let Some(next) = next else { return out };
            match self.val.compare_exchange_weak(curr.0, next.0, AcqRel, Acquire) {
                Ok(_) => return out,
                Err(actual) => curr = Snapshot(actual),
            }
        }
    }

    /// Called by the scheduler with the reference of a `Notified` it popped.
    /// Clears NOTIFIED and takes RUNNING if the task is idle. Only one thread
    /// can win RUNNING, so only one thread ever touches the future at once.
    pub(super) fn transition_to_running(&self) -> TransitionToRunning {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_notified());
            let mut next = curr;
            if !next.is_idle() {
                // Running elsewhere or complete: drop the Notified's ref.
                next.ref_dec();
                let action = if next.ref_count() == 0 {
                    TransitionToRunning::Dealloc
                } else {
                    TransitionToRunning::Failed
                };
                return (action, Some(next));
            }
            next.0 |= RUNNING;
            next.0 &= !NOTIFIED;
            let action = if next.is_cancelled() {
                TransitionToRunning::Cancelled
            } else {
                TransitionToRunning::Success
            };
            (action, Some(next))
        })
    }

    /// Called by the polling thread after a `Pending` poll. Releases RUNNING
    /// unless the task was cancelled meanwhile. A wake that arrived during
    /// the poll only set NOTIFIED; here it becomes exactly one re-schedule.
    pub(super) fn transition_to_idle(&self) -> TransitionToIdle {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_running());
            if curr.is_cancelled() {
                return (TransitionToIdle::Cancelled, None);
            }
            let mut next = curr;
            next.0 &= !RUNNING;
            let action = if next.is_notified() {
                // The new Notified gets its own reference.
                next.ref_inc();
                TransitionToIdle::OkNotified
            } else {
                next.ref_dec();
                if next.ref_count() == 0 {
                    TransitionToIdle::OkDealloc
                } else {
                    TransitionToIdle::Ok
                }
            };
            (action, Some(next))
        })
    }

    /// Called by the thread holding RUNNING once the output (or the
    /// cancellation error) is stored: RUNNING off, COMPLETE on, in one step.
    pub(super) fn transition_to_complete(&self) -> Snapshot {
        const DELTA: usize = RUNNING | COMPLETE;
        let prev = Snapshot(self.val.fetch_xor(DELTA, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        Snapshot(prev.0 ^ DELTA)
    }

    /// Drops `count` references after completion; true when the caller must
    /// free the cell.
    #[must_use]
    pub(super) fn transition_to_terminal(&self, count: usize) -> bool {
        let prev = Snapshot(self.val.fetch_sub(count * REF_ONE, AcqRel));
        assert!(prev.ref_count() >= count, "task reference count underflow");
        prev.ref_count() == count
    }

    /// A wake that consumes the waker's reference. If the task is idle and
    /// not yet notified, a new reference is made for the `Notified`
    /// (Submit), and the caller drops the waker's after scheduling it.
    pub(super) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.fetch_update(|curr| {
            let mut next = curr;
            let action = if curr.is_running() {
                // Re-scheduled by transition_to_idle after the poll. The
                // running poll holds a reference, so this is not the last.
                next.0 |= NOTIFIED;
                next.ref_dec();
                debug_assert!(next.ref_count() > 0);
                TransitionToNotified::DoNothing
            } else if curr.is_complete() || curr.is_notified() {
                next.ref_dec();
                if next.ref_count() == 0 {
                    TransitionToNotified::Dealloc
                } else {
                    TransitionToNotified::DoNothing
                }
            } else {
                // The Notified gets a new reference: the waker keeps its own
                // until `schedule` returns (the queued task may be run and
                // released by another thread before then).
                next.0 |= NOTIFIED;
                next.ref_inc();
                TransitionToNotified::Submit
            };
            (action, Some(next))
        })
    }

    /// A wake through a borrowed waker. Submit means a new reference was
    /// made for the `Notified`.
    pub(super) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.fetch_update(|curr| {
            if curr.is_complete() || curr.is_notified() {
                return (TransitionToNotified::DoNothing, None);
            }
            let mut next = curr;
            next.0 |= NOTIFIED;
            if curr.is_running() {
                return (TransitionToNotified::DoNothing, Some(next));
            }
            next.ref_inc();
            (TransitionToNotified::Submit, Some(next))
        })
    }

    /// Abort: sets CANCELLED. Returns true when the caller must schedule the
    /// task (it was idle and not queued) so a worker cancels it; a new
    /// reference was made for that `Notified`. A running task sees CANCELLED
    /// in `transition_to_idle`; a queued one in `transition_to_running`.
    #[must_use]
    pub(super) fn transition_to_notified_and_cancel(&self) -> bool {
        self.fetch_update(|curr| {
            if curr.is_cancelled() || curr.is_complete() {
                return (false, None);
            }
            let mut next = curr;
            next.0 |= CANCELLED;
            if curr.is_running() || curr.is_notified() {
                // NOTIFIED makes a running task come back to the queue.
                next.0 |= NOTIFIED;
                return (false, Some(next));
            }
            next.0 |= NOTIFIED;
            next.ref_inc();
            (true, Some(next))
        })
    }

    /// Shutdown: sets CANCELLED and, if the task is idle, takes RUNNING so
    /// the caller drops the future right away. Returns whether it did.
    #[must_use]
    pub(super) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|curr| {
            let mut next = curr;
            next.0 |= CANCELLED;
            let take = curr.is_idle();
            if take {
                next.0 |= RUNNING;
            }
            (take, Some(next))
        })
    }

    /// The `JoinHandle` wants to register its waker: sets JOIN_WAKER, giving
    /// the slot to the runtime side. Fails (Err with the state) when the
    /// task already completed, in which case the handle reads the output.
    pub(super) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested() && !curr.is_join_waker_set());
            if curr.is_complete() {
                return (Err(curr), None);
            }
            let next = Snapshot(curr.0 | JOIN_WAKER);
            (Ok(next), Some(next))
        })
    }

    /// The `JoinHandle` takes its slot back to replace the waker. Fails when
    /// the task completed (the completer may be using the waker).
    pub(super) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested() && curr.is_join_waker_set());
            if curr.is_complete() {
                return (Err(curr), None);
            }
            let next = Snapshot(curr.0 & !JOIN_WAKER);
            (Ok(next), Some(next))
        })
    }

    /// The completer has woken the joiner and hands the slot back to the
    /// `JoinHandle` (which then may drop the waker).
    pub(super) fn unset_join_waker_after_complete(&self) -> Snapshot {
        let prev = Snapshot(self.val.fetch_and(!JOIN_WAKER, AcqRel));
        debug_assert!(prev.is_complete() && prev.is_join_waker_set());
        Snapshot(prev.0 & !JOIN_WAKER)
    }

    /// The `JoinHandle` is dropped: clears JOIN_INTEREST (and, before
    /// completion, JOIN_WAKER). The returned flags say what the handle must
    /// clean up; whatever it does not own, the completer drops.
    pub(super) fn transition_to_join_handle_dropped(&self) -> JoinHandleDropped {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested());
            let mut next = curr;
            next.0 &= !JOIN_INTEREST;
            if !curr.is_complete() {
                next.0 &= !JOIN_WAKER;
            }
            let out = JoinHandleDropped {
                drop_output: curr.is_complete(),
                drop_waker: !next.is_join_waker_set(),
            };
            (out, Some(next))
        })
    }

    /// Adds a reference (a waker clone, an `AbortHandle`).
    pub(super) fn ref_inc(&self) {
        // Relaxed: the caller already holds a reference, as in Arc::clone.
        let prev = self.val.fetch_add(REF_ONE, Relaxed);
        assert!(prev <= isize::MAX as usize, "task reference count overflow");
    }

    /// Drops a reference; true when it was the last and the caller must
    /// free the cell.
    #[must_use]
    pub(super) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.val.fetch_sub(REF_ONE, AcqRel));
        assert!(prev.ref_count() >= 1, "task reference count underflow");
        prev.ref_count() == 1
    }
}

impl Snapshot {
    fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
    fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(super) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(super) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(super) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    fn ref_count(self) -> usize {
        self.0 >> FLAG_BITS
    }
    fn ref_inc(&mut self) {
        self.0 += REF_ONE;
    }
    fn ref_dec(&mut self) {
        debug_assert!(self.ref_count() > 0);
        self.0 -= REF_ONE;
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("flags", &format_args!("{:06b}", self.0 & FLAG_MASK))
            .field("refs", &self.ref_count())
            .finish()
    }
}
