//! What happens to a task cell: poll, complete, cancel, read the output,
//! drop the JoinHandle, free. Each function here is one entry of the
//! [`Vtable`](super::cell::Vtable), monomorphised per future and scheduler.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::cell::{Cell, Core, Header, Stage};
use super::error::JoinError;
use super::raw::{Notified, RawTask, Task};
use super::state::{TransitionToIdle, TransitionToRunning};
use super::{waker, Schedule};
use crate::coop;

/// # Safety
/// `ptr` is the header of a `Cell<T, S>`.
unsafe fn cell<'a, T: Future, S>(ptr: NonNull<Header>) -> &'a Cell<T, S> {
    // SAFETY: the header is the first field of the repr(C) cell.
    unsafe { ptr.cast::<Cell<T, S>>().as_ref() }
}

/// Polls the task once. The caller hands over a `Notified`'s reference.
///
/// # Safety
/// `ptr` is the header of a live `Cell<T, S>`.
pub(super) unsafe fn poll<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: caller's contract.
    let cell = unsafe { cell::<T, S>(ptr) };
    let state = &cell.header.state;
    match state.transition_to_running() {
        TransitionToRunning::Success => {}
        TransitionToRunning::Cancelled => {
            // SAFETY: we hold RUNNING.
            unsafe {
                cancel_in_span(cell);
                complete::<T, S>(ptr);
            }
            return;
        }
        TransitionToRunning::Failed => return,
        // SAFETY: the Notified's was the last reference.
        TransitionToRunning::Dealloc => return unsafe { dealloc::<T, S>(ptr) },
    }

    let polled = {
        // The task's span (feature `tracing`) is entered for the poll only:
        // the guard borrows the cell, which `complete` may free.
        let _span = cell.enter_span();
        // SAFETY: we hold RUNNING, so the stage is ours.
        unsafe { poll_future(&cell.core, ptr) }
    };
    if polled.is_ready() {
        // SAFETY: still RUNNING; the output is stored.
        return unsafe { complete::<T, S>(ptr) };
    }

    match state.transition_to_idle() {
        TransitionToIdle::Ok => {}
        TransitionToIdle::OkNotified => {
            // Woken during its own poll: the task yields to the back of
            // the queue rather than jumping ahead of others.
            // SAFETY: transition_to_idle made a reference for this Notified.
            cell.core.scheduler.yield_now(unsafe { Notified::from_raw(RawTask::from_raw(ptr)) });
            // SAFETY: ptr is live; drop the poll's own reference.
            unsafe { RawTask::from_raw(ptr) }.drop_reference();
        }
        // SAFETY: the poll's reference was the last one.
        TransitionToIdle::OkDealloc => unsafe { dealloc::<T, S>(ptr) },
        TransitionToIdle::Cancelled => {
            // SAFETY: we still hold RUNNING.
            unsafe {
                cancel_in_span(cell);
                complete::<T, S>(ptr);
            }
        }
    }
}

/// Polls the future under a fresh coop budget, catching panics. Stores the
/// output (or the panic as a JoinError) and drops the future when done.
///
/// # Safety
/// The caller holds RUNNING.
unsafe fn poll_future<T: Future, S>(core: &Core<T, S>, ptr: NonNull<Header>) -> Poll<()> {
    // A borrowed waker: no reference is taken, so it must not be dropped.
    // SAFETY: the task is alive for the whole poll.
    let waker = ManuallyDrop::new(unsafe { waker::borrowed(ptr) });
    let mut cx = Context::from_waker(&waker);
    let polled = panic::catch_unwind(AssertUnwindSafe(|| {
        core.stage.with_mut(|stage| {
            // SAFETY: RUNNING gives exclusive access; the cell is never moved
            // once allocated, so the future is pinned.
            let Stage::Running(future) = (unsafe { &mut *stage }) else {
                unreachable!("polled a task that has no future")
            };
            // SAFETY: see above.
            let future = unsafe { std::pin::Pin::new_unchecked(future) };
            coop::with_budget(|| future.poll(&mut cx))
        })
    }));
    let output = match polled {
        Ok(Poll::Pending) => return Poll::Pending,
        Ok(Poll::Ready(output)) => Ok(output),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: still RUNNING.
    unsafe { finish(core, output) };
    Poll::Ready(())
}

/// Drops the future and stores `output`; a panic from the future's Drop
/// replaces the output with that panic.
///
/// # Safety
/// The caller holds RUNNING.
unsafe fn finish<T: Future, S>(core: &Core<T, S>, output: Result<T::Output, JoinError>) {
    // SAFETY: caller holds RUNNING.
    let old = unsafe { core.replace_stage(Stage::Consumed) };
    let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(old)));
    let output = match dropped {
        Ok(()) => output,
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: caller holds RUNNING; the stage is Consumed, nothing to drop.
    let _ = unsafe { core.replace_stage(Stage::Finished(output)) };
}

/// Cancels the future: drops it and stores a cancelled JoinError.
///
/// # Safety
/// The caller holds RUNNING.
unsafe fn cancel_future<T: Future, S>(core: &Core<T, S>) {
    // SAFETY: forwarded.
    unsafe { finish(core, Err(JoinError::cancelled())) }
}

/// [`cancel_future`] with the task's span entered, so the future's drop is
/// inside it (feature `tracing`).
///
/// # Safety
/// The caller holds RUNNING.
unsafe fn cancel_in_span<T: Future, S>(cell: &Cell<T, S>) {
    let _span = cell.enter_span();
    // SAFETY: forwarded.
    unsafe { cancel_future(&cell.core) }
}

/// The task is done (output stored): publish COMPLETE, notify or clean up
/// for the JoinHandle, leave the owned list and drop the references of the
/// poll and of the list.
///
/// # Safety
/// The caller holds RUNNING and one reference (the poll's).
unsafe fn complete<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: caller's contract.
    let cell = unsafe { cell::<T, S>(ptr) };
    let snapshot = cell.header.state.transition_to_complete();
    // Leave the owned list before telling the joiner, so a task that has
    // been joined is no longer counted alive.
    // SAFETY: ptr is live; this borrows the list's reference if present.
    let me = ManuallyDrop::new(unsafe { Task::<S>::from_raw(RawTask::from_raw(ptr)) });
    let released = cell.core.scheduler.release(&me).map(Task::into_raw);
    let count = if released.is_some() { 2 } else { 1 };
    // Neither dropping the output nor waking the joiner may unwind into the
    // worker loop.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        if !snapshot.is_join_interested() {
            // No JoinHandle: the output is ours to drop.
            // SAFETY: COMPLETE without join interest: nobody else reads it.
            drop(unsafe { cell.core.replace_stage(Stage::Consumed) });
        } else if snapshot.is_join_waker_set() {
            // SAFETY: JOIN_WAKER set: the slot is ours until we unset it.
            unsafe { cell.trailer.wake_join() };
            let after = cell.header.state.unset_join_waker_after_complete();
            if !after.is_join_interested() {
                // The handle went away meanwhile and left the waker to us.
                // SAFETY: the handle dropped without taking the slot.
                unsafe { cell.trailer.set_waker(None) };
            }
        }
    }));

    if cell.header.state.transition_to_terminal(count) {
        // SAFETY: those were the last references.
        unsafe { dealloc::<T, S>(ptr) };
    }
}

/// Schedules a Notified whose reference the caller hands over.
///
/// # Safety
/// `ptr` is the header of a live `Cell<T, S>`.
pub(super) unsafe fn schedule<T: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller's contract.
    let cell = unsafe { cell::<T, S>(ptr) };
    // SAFETY: the caller's reference becomes the Notified.
    cell.core.scheduler.schedule(unsafe { Notified::from_raw(RawTask::from_raw(ptr)) });
}

/// Frees the cell.
///
/// # Safety
/// No references remain; `ptr` came from `Cell::<T, S>::new`.
pub(super) unsafe fn dealloc<T: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the cell was made by Box::leak in Cell::new and nothing else
    // refers to it any more. Dropping it drops the stage (already Consumed
    // or Finished, never a live future: see complete) and the scheduler.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<T, S>>().as_ptr()) });
}

/// The JoinHandle's poll: moves the output out if the task is complete,
/// otherwise leaves `waker` to be woken on completion.
///
/// # Safety
/// `dst` is a `*mut Poll<Result<T::Output, JoinError>>`; called by the
/// task's JoinHandle only.
pub(super) unsafe fn try_read_output<T: Future, S>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: caller's contract.
    let cell = unsafe { cell::<T, S>(ptr) };
    // SAFETY: only the JoinHandle calls this.
    if unsafe { can_read_output(&cell.header, &cell.trailer, waker) } {
        let dst = dst.cast::<Poll<Result<T::Output, JoinError>>>();
        // SAFETY: COMPLETE observed with join interest: the output is ours;
        // dst is valid per the contract.
        unsafe { *dst = Poll::Ready(cell.core.take_output()) };
    }
}

/// True when the task is complete; else stores `waker` for completion.
///
/// # Safety
/// Called by the JoinHandle only.
unsafe fn can_read_output(header: &Header, trailer: &super::cell::Trailer, waker: &Waker) -> bool {
    let snapshot = header.state.load();
    if snapshot.is_complete() {
        return true;
    }
    let stored = if !snapshot.is_join_waker_set() {
        // SAFETY: JOIN_WAKER clear: the slot is the handle's.
        unsafe { set_join_waker(header, trailer, waker.clone()) }
    } else {
        // SAFETY: JOIN_WAKER set: shared reads are allowed.
        if unsafe { trailer.will_wake(waker) } {
            return false;
        }
        header
            .state
            .unset_join_waker()
            // SAFETY: the unset gave the slot back to the handle.
            .and_then(|_| unsafe { set_join_waker(header, trailer, waker.clone()) })
    };
    match stored {
        Ok(_) => false,
        Err(snapshot) => {
            debug_assert!(snapshot.is_complete());
            true
        }
    }
}

/// # Safety
/// The handle owns the waker slot (JOIN_WAKER clear).
unsafe fn set_join_waker(
    header: &Header,
    trailer: &super::cell::Trailer,
    waker: Waker,
) -> Result<super::state::Snapshot, super::state::Snapshot> {
    // SAFETY: the slot is ours.
    unsafe { trailer.set_waker(Some(waker)) };
    let result = header.state.set_join_waker();
    if result.is_err() {
        // Completed before we published: the slot is still ours.
        // SAFETY: JOIN_WAKER was not set.
        unsafe { trailer.set_waker(None) };
    }
    result
}

/// The JoinHandle is dropped: give up join interest and clean up what the
/// state word says is the handle's to clean.
///
/// # Safety
/// Called once, by the task's JoinHandle.
pub(super) unsafe fn drop_join_handle<T: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: caller's contract.
    let cell = unsafe { cell::<T, S>(ptr) };
    let dropped = cell.header.state.transition_to_join_handle_dropped();
    if dropped.drop_output {
        // A panicking output destructor must not unwind out of drop.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: COMPLETE and the handle was interested: it is ours.
            drop(unsafe { cell.core.replace_stage(Stage::Consumed) });
        }));
    }
    if dropped.drop_waker {
        // SAFETY: JOIN_WAKER clear: the slot is the handle's.
        unsafe { cell.trailer.set_waker(None) };
    }
    // SAFETY: ptr is live; drop the handle's reference.
    unsafe { RawTask::from_raw(ptr) }.drop_reference();
}

/// Shutdown of one task; consumes the owned list's reference.
///
/// # Safety
/// `ptr` is the header of a live `Cell<T, S>`.
pub(super) unsafe fn shutdown<T, S>(ptr: NonNull<Header>)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: caller's contract.
    let cell = unsafe { cell::<T, S>(ptr) };
    if !cell.header.state.transition_to_shutdown() {
        // Running elsewhere (it sees CANCELLED when its poll ends) or done.
        // SAFETY: ptr is live.
        return unsafe { RawTask::from_raw(ptr) }.drop_reference();
    }
    // SAFETY: transition_to_shutdown gave us RUNNING.
    unsafe {
        cancel_in_span(cell);
        complete::<T, S>(ptr);
    }
}
