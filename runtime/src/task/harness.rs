//! What happens to a task cell: poll, complete, cancel, read the output,
//! drop the JoinHandle, free.
//!
//! [`Harness`] is the one typed view of a cell reached through a raw
//! pointer. It is built in exactly one place, [`Harness::from_raw`], by the
//! vtable entries at the bottom of this file (the vtable was made for this
//! `T` and `S`, so the cast is right by construction). Its methods are safe:
//! holding a `Harness` is the proof that the cell is live and of this type,
//! and a method that consumes a reference takes the `Harness` by value, so
//! it cannot be used again once the reference may have freed the cell.
//!
//! Who may touch which part of the cell is decided by the state word
//! (`state.rs`); every access to the stage or the join waker below names
//! the state that grants it.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::cell::{Cell, Core, Header, Trailer, Vtable};
use super::error::JoinError;
use super::raw::{Notified, RawTask, Task};
use super::state::{Snapshot, State, TransitionToIdle, TransitionToRunning};
use super::{waker, Schedule};
use crate::{coop, unwind};

/// A typed handle on one live task cell (see the module docs).
pub(super) struct Harness<T: Future, S: 'static> {
    cell: NonNull<Cell<T, S>>,
}

impl<T, S> Harness<T, S>
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    /// # Safety
    /// `ptr` is the header of a live `Cell<T, S>` of exactly these `T` and
    /// `S`, and the caller holds (or, for the `&self` methods, borrows) the
    /// reference that the method it calls next consumes, so the cell stays
    /// live until that method returns or frees it.
    unsafe fn from_raw(ptr: NonNull<Header>) -> Harness<T, S> {
        Harness { cell: ptr.cast() }
    }

    fn cell(&self) -> &Cell<T, S> {
        // SAFETY: `from_raw`'s contract keeps the cell live while this
        // Harness is usable, and the header is the first field of the
        // repr(C) cell, so the cast pointer is the cell.
        unsafe { self.cell.as_ref() }
    }

    fn state(&self) -> &State {
        &self.cell().header.state
    }

    fn core(&self) -> &Core<T, S> {
        &self.cell().core
    }

    fn trailer(&self) -> &Trailer {
        &self.cell().trailer
    }

    fn header_ptr(&self) -> NonNull<Header> {
        self.cell.cast()
    }

    fn raw(&self) -> RawTask {
        // SAFETY: the cell is live (this Harness exists).
        unsafe { RawTask::from_raw(self.header_ptr()) }
    }

    // ---- entries -------------------------------------------------------

    /// Polls the task once, consuming the reference of the `Notified` a
    /// worker popped.
    fn poll(self) {
        match self.state().transition_to_running() {
            TransitionToRunning::Success => {}
            TransitionToRunning::Cancelled => return self.cancel_and_complete(),
            TransitionToRunning::Failed => return,
            TransitionToRunning::Dealloc => return self.dealloc(),
        }

        // SAFETY: transition_to_running succeeded: this thread holds RUNNING.
        if unsafe { self.poll_future() }.is_ready() {
            return self.complete();
        }

        match self.state().transition_to_idle() {
            TransitionToIdle::Ok => {}
            TransitionToIdle::OkNotified => {
                // Woken during its own poll: the task yields to the back of
                // the queue rather than jumping ahead of others.
                // SAFETY: transition_to_idle made a reference for this
                // Notified.
                let notified = unsafe { Notified::from_raw(self.raw()) };
                let unqueued = self.core().scheduler.yield_now(notified);
                // The borrow of the scheduler has ended; the poll's own
                // reference still keeps this cell alive meanwhile.
                drop(unqueued);
                self.drop_reference();
            }
            TransitionToIdle::OkDealloc => self.dealloc(),
            // Still RUNNING: transition_to_idle left it set for us.
            TransitionToIdle::Cancelled => self.cancel_and_complete(),
        }
    }

    /// Hands a reference the caller gives up to the task's scheduler as a
    /// `Notified`.
    fn schedule(self) {
        // SAFETY: the caller's reference becomes the Notified, and the
        // state word set NOTIFIED for it (every caller is a wake or abort
        // transition that returned Submit).
        let notified = unsafe { Notified::from_raw(self.raw()) };
        let unqueued = self.core().scheduler.schedule(notified);
        // Only now, with no borrow into the cell left, may the queue
        // references the scheduler handed back be dropped: one of them may
        // be this task's last, which frees the cell and its scheduler.
        drop(unqueued);
    }

    /// Runtime shutdown of one task, consuming the owned list's reference.
    fn shutdown(self) {
        if self.state().transition_to_shutdown() {
            // transition_to_shutdown took RUNNING for us.
            self.cancel_and_complete();
        } else {
            // Running elsewhere (it sees CANCELLED when its poll ends) or
            // already complete.
            self.drop_reference();
        }
    }

    /// The JoinHandle's poll: moves the output into `dst` if the task is
    /// complete, otherwise leaves `waker` to be woken on completion.
    ///
    /// # Safety
    /// `dst` points to a `Poll<Result<T::Output, JoinError>>`, and the
    /// caller is the task's JoinHandle (holding its reference).
    unsafe fn try_read_output(&self, dst: *mut Poll<Result<T::Output, JoinError>>, waker: &Waker) {
        if self.can_read_output(waker) {
            // SAFETY: COMPLETE observed with join interest (the handle is
            // the caller): the stage is the handle's alone.
            let output = unsafe { self.core().take_output() };
            // SAFETY: `dst` is valid for writes of this type (caller).
            unsafe { *dst = Poll::Ready(output) };
        }
    }

    /// The JoinHandle is dropped: give up join interest, clean up what the
    /// state word says is the handle's, and drop the handle's reference.
    /// The output's and the waker's destructors run contained (their
    /// panics, and their payloads' destructors, are caught), so a panic in
    /// either cannot skip the reference drop (a leak) or unwind out of
    /// `JoinHandle::drop`.
    fn drop_join_handle(self) {
        let dropped = self.state().transition_to_join_handle_dropped();
        if dropped.drop_output {
            unwind::contain(|| {
                // SAFETY: COMPLETE was set and the handle was interested, so
                // the output is the handle's to drop.
                unsafe { self.core().drop_future_or_output() }
            });
        }
        if dropped.drop_waker {
            // SAFETY: JOIN_WAKER is clear: the slot is the handle's.
            let old = unsafe { self.trailer().replace_waker(None) };
            unwind::contain(move || drop(old));
        }
        self.drop_reference();
    }

    /// Drops one reference, freeing the cell if it was the last.
    fn drop_reference(self) {
        if self.state().ref_dec() {
            self.dealloc();
        }
    }

    /// Frees the cell. Called once, by whoever dropped the last reference.
    fn dealloc(self) {
        // SAFETY: the cell was made by `Box::leak` in `Cell::allocate` and
        // its last reference is gone, so nothing else can reach it. The Box
        // drops the cell in place on the heap: the stage is `Consumed` or a
        // finished output by now (every task completes before its owned
        // list reference goes away), never a future moved elsewhere.
        drop(unsafe { Box::from_raw(self.cell.as_ptr()) });
    }

    // ---- steps -----------------------------------------------------------

    /// Polls the future in place under a fresh coop budget, with the task's
    /// span entered, catching panics. When the future is done (output or
    /// panic), drops it in place and stores the result.
    ///
    /// # Safety
    /// The caller holds RUNNING.
    unsafe fn poll_future(&self) -> Poll<()> {
        // A borrowed waker: it does not own a reference, so it must never
        // be dropped (ManuallyDrop) nor outlive this poll; the poll's own
        // reference keeps the task alive meanwhile. Wakers the future clones
        // from it take references of their own.
        // SAFETY: the header stays live for the whole poll (see above).
        let waker = ManuallyDrop::new(unsafe { waker::borrowed(self.header_ptr()) });
        let mut cx = Context::from_waker(&waker);
        let polled = {
            // The span guard borrows the cell; it ends with this block.
            let _span = self.cell().enter_span();
            panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: RUNNING (caller) gives exclusive access to a
                // stage that holds the future: a task reaches COMPLETE, and
                // loses its future, only through `finish` under RUNNING.
                coop::with_budget(|| unsafe { self.core().poll(&mut cx) })
            }))
        };
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        // SAFETY: still RUNNING (caller).
        unsafe { self.finish(output) };
        Poll::Ready(())
    }

    /// Drops the future in place and stores `output`; a panic from the
    /// future's destructor replaces the output with that panic.
    ///
    /// # Safety
    /// The caller holds RUNNING.
    unsafe fn finish(&self, output: Result<T::Output, JoinError>) {
        let _span = self.cell().enter_span();
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: RUNNING (caller) gives exclusive access to the stage.
            unsafe { self.core().drop_future_or_output() }
        }));
        let output = match dropped {
            Ok(()) => output,
            Err(payload) => {
                // The output it replaces is user data (a value, or an
                // earlier panic's payload): its destructor may panic too.
                unwind::contain(move || drop(output));
                Err(JoinError::panic(payload))
            }
        };
        // SAFETY: RUNNING (caller); drop_future_or_output left `Consumed`,
        // on return and on unwind alike.
        unsafe { self.core().store_output(output) };
    }

    /// Cancels the task (drops the future in place, stores a cancelled
    /// JoinError) and completes it. Consumes the reference that came with
    /// RUNNING.
    ///
    /// The caller holds RUNNING: every call site is right after a
    /// transition that granted it (`transition_to_running` returning
    /// Cancelled, `transition_to_idle` returning Cancelled, or
    /// `transition_to_shutdown` returning true).
    fn cancel_and_complete(self) {
        // SAFETY: RUNNING is held (see above).
        unsafe { self.finish(Err(JoinError::cancelled())) };
        self.complete();
    }

    /// The output is stored: publish COMPLETE, wake the joiner (or drop the
    /// output if nobody joins), leave the owned list and drop the
    /// references of the poll and of the list.
    ///
    /// Called with RUNNING held and one reference (the poll's or the
    /// shutdown's), right after `finish`.
    fn complete(self) {
        let snapshot = self.state().transition_to_complete();
        // Leave the owned list before telling the joiner, so a task that has
        // been joined is no longer counted alive. `me` borrows the caller's
        // reference as a `Task` only to look it up; ManuallyDrop keeps it
        // from being dropped here.
        // SAFETY: the caller holds a reference, so the cell is live.
        let me = ManuallyDrop::new(unsafe { Task::<S>::from_raw(self.raw()) });
        let released = self.core().scheduler.release(&me).map(Task::into_raw);
        let count = if released.is_some() { 2 } else { 1 };
        // Neither dropping the output nor waking the joiner may unwind into
        // the worker loop.
        unwind::contain(|| self.notify_joiner(snapshot));
        if self.state().transition_to_terminal(count) {
            self.dealloc();
        }
    }

    /// After COMPLETE: drop the output nobody will read, or wake the
    /// JoinHandle and hand the waker slot back to it.
    fn notify_joiner(&self, snapshot: Snapshot) {
        if !snapshot.is_join_interested() {
            // SAFETY: COMPLETE without join interest: the handle is gone,
            // so the completer is the only one to touch the output.
            unsafe { self.core().drop_future_or_output() };
        } else if snapshot.is_join_waker_set() {
            // SAFETY: JOIN_WAKER set at COMPLETE: the completer owns the
            // slot until it clears the bit.
            unsafe { self.trailer().wake_join() };
            let after = self.state().unset_join_waker_after_complete();
            if !after.is_join_interested() {
                // The handle went away meanwhile and left the waker to us.
                // SAFETY: the handle dropped without taking the slot, so it
                // is still the completer's.
                drop(unsafe { self.trailer().replace_waker(None) });
            }
        }
    }

    /// True when the task is complete; else stores `waker` for completion.
    /// Called by the JoinHandle only.
    fn can_read_output(&self, waker: &Waker) -> bool {
        let snapshot = self.state().load();
        if snapshot.is_complete() {
            return true;
        }
        let stored = if !snapshot.is_join_waker_set() {
            self.set_join_waker(waker.clone())
        } else {
            // SAFETY: JOIN_WAKER set: nobody writes the slot, reads are fine.
            if unsafe { self.trailer().will_wake(waker) } {
                return false;
            }
            self.state().unset_join_waker().and_then(|_| self.set_join_waker(waker.clone()))
        };
        match stored {
            Ok(_) => false,
            Err(snapshot) => {
                debug_assert!(snapshot.is_complete());
                true
            }
        }
    }

    /// Stores the handle's waker and sets JOIN_WAKER. Called by the
    /// JoinHandle while JOIN_WAKER is clear (the slot is the handle's).
    fn set_join_waker(&self, waker: Waker) -> Result<Snapshot, Snapshot> {
        // SAFETY: JOIN_WAKER is clear (caller), so the slot is the handle's.
        let old = unsafe { self.trailer().replace_waker(Some(waker)) };
        let result = self.state().set_join_waker();
        if result.is_err() {
            // Completed before we published: the slot is still the handle's.
            // SAFETY: JOIN_WAKER was not set, so the slot is the handle's.
            drop(unsafe { self.trailer().replace_waker(None) });
        }
        // The old waker's destructor runs with the slot consistent.
        drop(old);
        result
    }
}

// ---- vtable entries ----------------------------------------------------------
//
// Each is `unsafe fn(NonNull<Header>)` so the untyped `RawTask` can call it;
// each builds the `Harness` and calls one method. Their shared contract: `ptr`
// is the header of a live `Cell<T, S>` of the vtable's own `T` and `S` (only
// `vtable::<T, S>` stores them, and only cells of that type point to it).

/// The vtable of tasks with future `T` and scheduler `S`.
pub(super) fn vtable<T, S>() -> &'static Vtable
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    &Vtable {
        poll: poll::<T, S>,
        schedule: schedule::<T, S>,
        dealloc: dealloc::<T, S>,
        try_read_output: try_read_output::<T, S>,
        drop_join_handle: drop_join_handle::<T, S>,
        shutdown: shutdown::<T, S>,
    }
}

/// # Safety
/// `ptr`: a live `Cell<T, S>`; the caller gives up a `Notified`'s reference.
unsafe fn poll<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: a live Cell<T, S>; the Notified's reference goes to `poll`.
    unsafe { Harness::<T, S>::from_raw(ptr) }.poll()
}

/// # Safety
/// `ptr`: a live `Cell<T, S>`; the caller gives up a reference that a wake
/// or abort transition made to stand for NOTIFIED.
unsafe fn schedule<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: a live Cell<T, S>; the caller's reference goes to `schedule`.
    unsafe { Harness::<T, S>::from_raw(ptr) }.schedule()
}

/// # Safety
/// `ptr`: a `Cell<T, S>` whose last reference the caller dropped.
unsafe fn dealloc<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: a Cell<T, S> nobody else refers to any more.
    unsafe { Harness::<T, S>::from_raw(ptr) }.dealloc()
}

/// # Safety
/// `ptr`: a live `Cell<T, S>`; called by its JoinHandle; `dst` points to a
/// `Poll<Result<T::Output, JoinError>>`.
unsafe fn try_read_output<T, S>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: a live Cell<T, S>, kept alive by the JoinHandle's reference;
    // `dst` has the output type and the caller is the JoinHandle.
    unsafe { Harness::<T, S>::from_raw(ptr).try_read_output(dst.cast(), waker) }
}

/// # Safety
/// `ptr`: a live `Cell<T, S>`; called once, by its JoinHandle's drop.
unsafe fn drop_join_handle<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: a live Cell<T, S>; the handle's reference goes to the method.
    unsafe { Harness::<T, S>::from_raw(ptr) }.drop_join_handle()
}

/// # Safety
/// `ptr`: a live `Cell<T, S>`; the caller gives up the owned list's
/// reference.
unsafe fn shutdown<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: a live Cell<T, S>; the list's reference goes to `shutdown`.
    unsafe { Harness::<T, S>::from_raw(ptr) }.shutdown()
}
