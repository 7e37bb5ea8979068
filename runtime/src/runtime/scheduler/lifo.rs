//! The LIFO slot: the task most recently woken by the running task, run
//! next for message-passing locality.
//!
//! Unlike Tokio's, the slot can be taken from another thread, but only by
//! the watcher or the stall monitor, and only from an owner stuck inside
//! one poll (see the `watch` module's rules 2 and 8), so a blocked worker
//! cannot hold the task hostage. Ordinary stealers never touch it. The slot is one `AtomicPtr`; the
//! owner's put and take are single swaps on a line that others touch only
//! to rescue (the watcher, while parked; the stall monitor, from a stuck
//! owner).

use std::ptr::{self, NonNull};

use crate::loom::sync::atomic::{AtomicPtr, Ordering::*};
use crate::runtime::task::{Notified, RawTask};

pub(crate) struct LifoSlot<S: 'static> {
    /// A `Notified` (owning its reference), or null.
    slot: AtomicPtr<()>,
    _scheduler: std::marker::PhantomData<S>,
}

impl<S: 'static> LifoSlot<S> {
    pub(crate) fn new() -> Self {
        LifoSlot { slot: AtomicPtr::new(ptr::null_mut()), _scheduler: std::marker::PhantomData }
    }

    /// Owner: puts `task` in the slot and returns the task it displaced.
    pub(crate) fn put(&self, task: Notified<S>) -> Option<Notified<S>> {
        let new = task.into_raw().as_ptr();
        // SeqCst: the push must be ordered before the pusher's read of the
        // watcher flag (Dekker pairing with Idle::stop_watching), and
        // AcqRel publishes the task to a thief / acquires a displaced one.
        let prev = self.slot.swap(new, SeqCst);
        // SAFETY: a non-null slot value is a Notified put here.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(RawTask::from_ptr(p)) })
    }

    /// Owner or thief: takes the task, if any. Exactly one caller gets a
    /// given task because the take is a single swap.
    pub(crate) fn take(&self) -> Option<Notified<S>> {
        // Cheap check first: the owner calls this after every poll. Relaxed
        // is enough: the owner always sees its own puts, and a thief that
        // reads a stale null just looks again on its next round.
        if self.slot.load(Relaxed).is_null() {
            return None;
        }
        // AcqRel: acquires the task published by `put`.
        let prev = self.slot.swap(ptr::null_mut(), AcqRel);
        // SAFETY: a non-null slot value is a Notified put here.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(RawTask::from_ptr(p)) })
    }

    /// Whether a task sits in the slot. SeqCst: read by the watcher after
    /// giving up its role (Dekker pairing with `put`).
    pub(crate) fn is_occupied(&self) -> bool {
        !self.slot.load(SeqCst).is_null()
    }
}

impl<S: 'static> Drop for LifoSlot<S> {
    fn drop(&mut self) {
        drop(self.take());
    }
}
