//! The `RawWakerVTable` shared by all tasks. A waker is one task reference;
//! waking goes through the state word and then the task's own vtable.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::cell::Header;
use super::raw::RawTask;
use super::state::TransitionToNotified;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for the task at `ptr` that does not own a reference: the caller
/// must keep it in `ManuallyDrop` and not let it outlive the task.
///
/// # Safety
/// `ptr` is a live task header for as long as the waker is used.
pub(super) unsafe fn borrowed(ptr: NonNull<Header>) -> Waker {
    // SAFETY: VTABLE's functions uphold the RawWaker contract for task
    // headers; the caller guarantees liveness.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

/// # Safety
/// `data` is a task header pointer on which the waker holds a reference.
unsafe fn raw(data: *const ()) -> RawTask {
    // SAFETY: wakers are only built from non-null header pointers.
    unsafe { RawTask::from_raw(NonNull::new_unchecked(data as *mut Header)) }
}

/// # Safety
/// Called only through `VTABLE` by `Waker`, with `data` a live task header
/// on which this waker holds (or, for `wake_by_ref`, borrows) a reference.
unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds (or borrows) a reference, which
    // keeps the header alive; the increment is the clone's own reference.
    unsafe { raw(data).header() }.state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

/// # Safety
/// Called only through `VTABLE` by `Waker`, with `data` a live task header
/// on which this waker holds (or, for `wake_by_ref`, borrows) a reference.
unsafe fn wake(data: *const ()) {
    // SAFETY: this waker owns a reference, which this call consumes.
    let task = unsafe { raw(data) };
    // SAFETY: the waker's reference keeps the header alive for the call.
    match unsafe { task.header() }.state.transition_to_notified_by_val() {
        TransitionToNotified::Submit => {
            // SAFETY: the transition made a new reference for the Notified;
            // the waker's own keeps the cell alive across `schedule`, then
            // is given up (the waker is consumed by this call).
            unsafe {
                task.schedule();
                task.drop_reference();
            }
        }
        // SAFETY: the waker held the last reference.
        TransitionToNotified::Dealloc => unsafe { task.dealloc() },
        TransitionToNotified::DoNothing => {}
    }
}

/// # Safety
/// Called only through `VTABLE` by `Waker`, with `data` a live task header
/// on which this waker holds (or, for `wake_by_ref`, borrows) a reference.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the borrowed waker keeps the task alive.
    let task = unsafe { raw(data) };
    // SAFETY: the borrowed waker's owner keeps the header alive.
    match unsafe { task.header() }.state.transition_to_notified_by_ref() {
        // SAFETY: the transition made a new reference for the Notified.
        TransitionToNotified::Submit => unsafe { task.schedule() },
        TransitionToNotified::Dealloc => unreachable!("wake_by_ref never drops a reference"),
        TransitionToNotified::DoNothing => {}
    }
}

/// # Safety
/// Called only through `VTABLE` by `Waker`, with `data` a live task header
/// on which this waker holds (or, for `wake_by_ref`, borrows) a reference.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: this waker owns a reference, given up here; the waker is
    // gone after this call, so it is never used again.
    unsafe { raw(data).drop_reference() };
}
