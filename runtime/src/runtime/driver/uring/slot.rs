//! [`Slot`]: one ring operation's shared state, and [`Inflight`], the
//! ring's table of the slots the kernel may still use.
//!
//! The kernel reads or writes an operation's memory (its buffer, its path,
//! its file) from the submission until the completion is reaped. So that
//! memory, `R`, lives in the slot, never in the future that awaits it:
//!
//! 1. **The ring keeps a reference until the completion.** [`Inflight`]
//!    holds an `Arc` of every submitted slot under its key (the SQE's
//!    `user_data`) and drops it only in [`Inflight::complete`], when the
//!    CQE for that key is reaped (or [`Inflight::take_all`], which the
//!    ring calls only once the kernel has finished every operation).
//! 2. **The resources leave the slot only once it is done.** While in
//!    flight nobody touches `R` (no move, no access), so the addresses
//!    the SQE carries stay valid; [`Slot::poll`] hands `R` to the awaiting
//!    future only after [`Slot::complete`].
//! 3. **A dropped future abandons its slot** ([`Slot::abandon`]): the
//!    operation goes on; `R` is dropped by whichever comes last of the
//!    completion and the drop, never before the completion.
//!
//! The three-way race (completion vs future drop vs shutdown) is the loom
//! model `loom-tests/tests/uring_slot.rs`.

use std::task::{Context, Poll, Waker};

use crate::loom::sync::{Arc, Mutex};

/// One operation: its resources and, once reaped, its result.
pub(crate) struct Slot<R> {
    state: Mutex<State<R>>,
}

enum State<R> {
    /// Submitted (or queued to be); the kernel may use `res`. `lost`: the
    /// ring gave up on it at its end ([`Slot::lose`]): `res` stays here,
    /// never freed, and the future learns it will get nothing.
    InFlight { res: R, waker: Option<Waker>, abandoned: bool, lost: bool },
    /// Reaped: `result` is the CQE's `res`; the kernel is done with `res`.
    Done { result: i32, res: R },
    /// The future took the result, or abandoned a finished slot.
    Empty,
}

impl<R> Slot<R> {
    /// A slot owning `res`, in flight.
    pub(crate) fn new(res: R) -> Arc<Slot<R>> {
        Arc::new(Slot {
            state: Mutex::new(State::InFlight { res, waker: None, abandoned: false, lost: false }),
        })
    }

    /// The completion arrived (`result`, the CQE's `res`). `step` looks at
    /// it with the resources: `Ok(result)` ends the operation (the kernel
    /// is done with them; `step` dropped what the future must not get back,
    /// like the file it held), `Err(next)` keeps it in flight to submit
    /// `next` (the rest of a short write) under the same key. On the end,
    /// returns the waker to wake once the caller released its locks; an
    /// abandoned slot's resources go to `orphan` with the result (which
    /// frees what the result created: an open's new descriptor).
    pub(crate) fn complete<E>(
        &self,
        result: i32,
        step: impl FnOnce(&mut R, i32) -> Result<i32, E>,
        orphan: impl FnOnce(R, i32),
    ) -> Completed<E> {
        let mut state = self.state.lock();
        let State::InFlight { res, .. } = &mut *state else {
            // A completion for a finished slot: the ring never reaps a key
            // twice (the key leaves `Inflight` with the last completion).
            return Completed::Done(None);
        };
        let result = match step(res, result) {
            Ok(result) => result,
            Err(next) => return Completed::Again(next),
        };
        match std::mem::replace(&mut *state, State::Empty) {
            State::InFlight { res, waker, abandoned, .. } => {
                if abandoned {
                    // Nobody waits: free now (after the unlock).
                    drop(state);
                    orphan(res, result);
                    Completed::Done(None)
                } else {
                    *state = State::Done { result, res };
                    Completed::Done(waker)
                }
            }
            _ => unreachable!("matched InFlight"),
        }
    }

    /// The result and the resources once complete (`None` if the ring
    /// lost the operation: see [`Slot::lose`]); registers the waker
    /// otherwise. Ready with a result at most once.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Option<(i32, R)>> {
        let mut state = self.state.lock();
        match &mut *state {
            State::InFlight { lost: true, .. } => Poll::Ready(None),
            State::InFlight { waker, .. } => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Done { .. } => match std::mem::replace(&mut *state, State::Empty) {
                State::Done { result, res } => Poll::Ready(Some((result, res))),
                _ => unreachable!("matched Done"),
            },
            State::Empty => panic!("a ring operation's result was taken twice"),
        }
    }

    /// The future is gone: the operation goes on, and its resources are
    /// freed on completion (or now, if it already completed: `orphan`
    /// gets them with the result nobody took). Returns whether it was
    /// still in flight (worth cancelling).
    pub(crate) fn abandon(&self, orphan: impl FnOnce(R, i32)) -> bool {
        let mut state = self.state.lock();
        match &mut *state {
            State::InFlight { waker, abandoned, .. } => {
                *abandoned = true;
                *waker = None;
                true
            }
            State::Done { .. } => {
                let done = std::mem::replace(&mut *state, State::Empty);
                drop(state);
                if let State::Done { result, res } = done {
                    orphan(res, result);
                }
                false
            }
            State::Empty => false,
        }
    }

    /// The ring ends with the operation still in flight and will never
    /// reap it: the caller keeps this slot alive forever (the kernel may
    /// still use `res`, which stays in place); the future, woken with the
    /// returned waker, gets `None`.
    #[cfg(not(loom))]
    pub(crate) fn lose(&self) -> Option<Waker> {
        match &mut *self.state.lock() {
            State::InFlight { waker, lost, .. } => {
                *lost = true;
                waker.take()
            }
            _ => None,
        }
    }

    /// Whether the slot is still waiting for its completion.
    #[cfg(loom)]
    pub(crate) fn is_in_flight(&self) -> bool {
        matches!(*self.state.lock(), State::InFlight { .. })
    }

    /// Looks at the resources of a slot in flight (the ring reads which
    /// operation it is; nothing the kernel uses is read or moved).
    #[cfg(not(loom))]
    pub(crate) fn with_in_flight<T>(&self, f: impl FnOnce(&R) -> T) -> Option<T> {
        match &*self.state.lock() {
            State::InFlight { res, .. } => Some(f(res)),
            _ => None,
        }
    }
}

/// What a completion did to a slot.
pub(crate) enum Completed<E> {
    /// The operation ended: wake this waker (if anyone waits).
    Done(Option<Waker>),
    /// The operation goes on: submit this under the same key.
    Again(E),
}

/// The ring's table of slots whose completion has not been reaped, keyed
/// by the SQE's `user_data`.
pub(crate) struct Inflight<R> {
    slab: slab::Slab<Arc<Slot<R>>>,
}

impl<R> Inflight<R> {
    /// An empty table.
    pub(crate) fn new() -> Inflight<R> {
        Inflight { slab: slab::Slab::new() }
    }

    /// Keeps a reference to `slot` until its completion; returns the key
    /// for the SQE's `user_data`.
    pub(crate) fn insert(&mut self, slot: Arc<Slot<R>>) -> u64 {
        self.slab.insert(slot) as u64
    }

    /// The slot under `key`, if still in flight.
    pub(crate) fn get(&self, key: u64) -> Option<&Arc<Slot<R>>> {
        self.slab.get(key as usize)
    }

    /// The CQE for `key` was reaped: the ring lets go of its slot.
    pub(crate) fn complete(&mut self, key: u64) -> Option<Arc<Slot<R>>> {
        self.slab.try_remove(key as usize)
    }

    /// Operations whose completion is still due.
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// The keys in flight (for cancelling them at shutdown).
    pub(crate) fn keys(&self) -> Vec<u64> {
        self.slab.iter().map(|(key, _)| key as u64).collect()
    }

    /// Every slot, for the end of a ring whose kernel side is finished
    /// (all completions reaped or the ring torn down by the kernel).
    pub(crate) fn take_all(&mut self) -> Vec<Arc<Slot<R>>> {
        self.slab.drain().collect()
    }
}

impl<R> Default for Inflight<R> {
    fn default() -> Self {
        Inflight::new()
    }
}
