//! Handles to a task cell: the untyped [`RawTask`] and the typed,
//! reference-owning [`Task`] (owned-list entry) and [`Notified`] (run-queue
//! entry).

use std::future::Future;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::task::Waker;

use super::cell::{Cell, Header, Vtable};
use super::harness;
use super::Schedule;
use crate::trace::SpawnMeta;

/// An untyped pointer to a task cell. Owns nothing by itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a RawTask is a pointer to a cell whose shared parts are
// synchronised by the state word; the typed wrappers bound `T: Send`.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task for `future` scheduled on `scheduler`; `meta` is
    /// what its span records (nothing without the `tracing` feature).
    pub(crate) fn new<T, S>(future: T, scheduler: S, meta: SpawnMeta) -> RawTask
    where
        T: Future + Send + 'static,
        T::Output: Send + 'static,
        S: Schedule,
    {
        RawTask { ptr: Cell::allocate(future, scheduler, vtable::<T, S>(), meta) }
    }

    /// # Safety
    /// `ptr` points to a live task header.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    /// The cell address, untyped (for atomic slots).
    pub(crate) fn as_ptr(self) -> *mut () {
        self.ptr.as_ptr().cast()
    }

    /// # Safety
    /// `ptr` came from [`RawTask::as_ptr`] of a live task.
    pub(crate) unsafe fn from_ptr(ptr: NonNull<()>) -> RawTask {
        RawTask { ptr: ptr.cast() }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a RawTask is only used while some reference keeps the
        // cell alive.
        unsafe { self.ptr.as_ref() }
    }

    fn vtable(&self) -> &'static Vtable {
        self.header().vtable
    }

    /// # Safety
    /// The caller gives up the reference of a `Notified`.
    pub(crate) unsafe fn poll(self) {
        // SAFETY: forwarded.
        unsafe { (self.vtable().poll)(self.ptr) }
    }

    /// # Safety
    /// The caller gives up one reference, which becomes a `Notified`.
    pub(crate) unsafe fn schedule(self) {
        // SAFETY: forwarded.
        unsafe { (self.vtable().schedule)(self.ptr) }
    }

    /// # Safety
    /// The last reference was dropped by the caller.
    pub(crate) unsafe fn dealloc(self) {
        // SAFETY: forwarded.
        unsafe { (self.vtable().dealloc)(self.ptr) }
    }

    /// # Safety
    /// `dst` is a `*mut Poll<Result<T, JoinError>>` of the task's `T`, and
    /// the caller is the JoinHandle.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded.
        unsafe { (self.vtable().try_read_output)(self.ptr, dst, waker) }
    }

    /// # Safety
    /// Called once, by the JoinHandle's drop.
    pub(crate) unsafe fn drop_join_handle(self) {
        // SAFETY: forwarded.
        unsafe { (self.vtable().drop_join_handle)(self.ptr) }
    }

    /// Aborts the task: it is cancelled at its next poll boundary.
    pub(crate) fn remote_abort(self) {
        if self.header().state.transition_to_notified_and_cancel() {
            // SAFETY: the transition made a reference for this Notified.
            unsafe { self.schedule() }
        }
    }

    /// Drops one reference, freeing the cell if it was the last.
    pub(crate) fn drop_reference(self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { self.dealloc() }
        }
    }
}

/// The owned-task list's reference to a task.
pub(crate) struct Task<S: 'static> {
    raw: RawTask,
    _scheduler: PhantomData<S>,
}

/// A run-queue entry: one reference plus the NOTIFIED flag it stands for.
pub(crate) struct Notified<S: 'static>(Task<S>);

// SAFETY: tasks are created only from `Send` futures and outputs; the cell's
// shared state is synchronised by the state word.
unsafe impl<S> Send for Task<S> {}
// SAFETY: as above.
unsafe impl<S> Sync for Task<S> {}
// SAFETY: as above.
unsafe impl<S> Send for Notified<S> {}
// SAFETY: as above.
unsafe impl<S> Sync for Notified<S> {}

impl<S: 'static> Task<S> {
    /// # Safety
    /// The caller gives this Task one reference of `raw`, whose scheduler
    /// type is `S`.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Task<S> {
        Task { raw, _scheduler: PhantomData }
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    /// Gives up ownership of the reference without dropping it.
    pub(crate) fn into_raw(self) -> RawTask {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// Shuts the task down, consuming this reference (runtime shutdown).
    pub(crate) fn shutdown(self) {
        let raw = self.into_raw();
        // SAFETY: the owned-list reference is handed to shutdown.
        unsafe { (raw.header().vtable.shutdown)(raw.header_ptr()) }
    }
}

impl<S: 'static> Drop for Task<S> {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl<S: 'static> Notified<S> {
    /// # Safety
    /// As [`Task::from_raw`], and the reference stands for NOTIFIED.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified<S> {
        // SAFETY: forwarded.
        Notified(unsafe { Task::from_raw(raw) })
    }

    /// The task this entry refers to.
    #[cfg(loom)]
    pub(crate) fn raw(&self) -> RawTask {
        self.0.raw()
    }

    /// Polls the task, consuming this entry.
    pub(crate) fn run(self) {
        let raw = self.0.into_raw();
        // SAFETY: the Notified's reference is handed to the poll.
        unsafe { raw.poll() }
    }

    /// Gives up ownership of the reference without dropping it.
    pub(crate) fn into_raw(self) -> RawTask {
        self.0.into_raw()
    }
}

/// The vtable of tasks with future `T` and scheduler `S`.
fn vtable<T, S>() -> &'static Vtable
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
    S: Schedule,
{
    &Vtable {
        poll: harness::poll::<T, S>,
        schedule: harness::schedule::<T, S>,
        dealloc: harness::dealloc::<T, S>,
        try_read_output: harness::try_read_output::<T, S>,
        drop_join_handle: harness::drop_join_handle::<T, S>,
        shutdown: harness::shutdown::<T, S>,
    }
}
