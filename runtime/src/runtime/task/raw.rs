//! Handles to a task cell: the untyped [`RawTask`] and the typed,
//! reference-owning [`Task`] (owned-list entry) and [`Notified`] (run-queue
//! entry).

use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::ptr::NonNull;
use std::task::Waker;

use weft_util::Id;

use super::cell::{Cell, Header, Vtable};
use super::harness;
use super::Schedule;
use crate::trace::SpawnMeta;

/// An untyped pointer to a task cell. Owns nothing by itself: it is `Copy`
/// so queues and lists can store it, and therefore every method that reads
/// through it or hands a reference on is `unsafe`, its contract being that
/// the caller holds a reference that keeps the cell alive (and, where
/// said, gives that reference up).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a RawTask is only an address; everything reached through it is
// either the atomic state word or a part of the cell that the state word
// hands to one thread at a time. The future and output are `Send` for
// every task made by `new_task`/`new_task_with` (their bounds); a task made by `new_local_task` (a
// LocalSet's) has its future polled and dropped only on its LocalSet's
// thread, which that function's contract puts on its caller, and its
// output reaches only a `JoinHandle<T>` that is itself `Send` only when
// `T` is.
unsafe impl Send for RawTask {}
// SAFETY: `&RawTask` gives no more than a copy of the address (see Send).
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task for `future` scheduled on `scheduler`, giving it a
    /// fresh [`Id`]; `meta` is where it was spawned (and, with the
    /// `tracing` feature, what its span records).
    ///
    /// # Safety
    /// Unless `T` and `T::Output` are both `Send`, the caller keeps
    /// [`new_local_task`](super::new_local_task)'s contract: nothing else
    /// keeps a `!Send` future off other threads (the core has no `Send`
    /// bounds of its own).
    pub(super) unsafe fn new<T, S>(future: T, scheduler: S, meta: SpawnMeta) -> RawTask
    where
        T: Future + 'static,
        T::Output: 'static,
        S: Schedule,
    {
        let vtable = harness::vtable::<T, S>();
        RawTask { ptr: Cell::allocate(future, scheduler, vtable, Id::next(), meta) }
    }

    /// # Safety
    /// `ptr` points to a live task header.
    pub(super) unsafe fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(super) fn header_ptr(self) -> NonNull<Header> {
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

    /// # Safety
    /// The caller holds a reference to the task for as long as it uses the
    /// returned borrow.
    pub(super) unsafe fn header<'a>(self) -> &'a Header {
        // SAFETY: the caller's reference keeps the cell, and so its header,
        // alive for 'a.
        unsafe { self.ptr.as_ref() }
    }

    /// # Safety
    /// The caller holds a reference to the task (for the vtable read).
    unsafe fn vtable(self) -> &'static Vtable {
        // SAFETY: the caller's reference keeps the header alive.
        unsafe { self.header() }.vtable
    }

    /// # Safety
    /// The caller gives up the reference of a `Notified`.
    unsafe fn poll(self) {
        // SAFETY: the Notified's reference keeps the cell alive for the
        // vtable read and is handed to the entry.
        unsafe { (self.vtable().poll)(self.ptr) }
    }

    /// # Safety
    /// The caller gives up one reference that a wake or abort transition
    /// made to stand for NOTIFIED (it becomes a `Notified`), and holds
    /// another reference of its own until this returns: the queued task may
    /// be run and released by another thread before the scheduler returns.
    pub(super) unsafe fn schedule(self) {
        // SAFETY: the caller's own reference keeps the cell alive for the
        // call; the NOTIFIED reference is handed over.
        unsafe { (self.vtable().schedule)(self.ptr) }
    }

    /// # Safety
    /// The caller dropped the last reference (nothing else can reach the
    /// cell).
    pub(super) unsafe fn dealloc(self) {
        // SAFETY: the cell is still allocated (only this call frees it).
        unsafe { (self.vtable().dealloc)(self.ptr) }
    }

    /// # Safety
    /// `dst` is a `*mut Poll<Result<T, JoinError>>` of the task's `T`, and
    /// the caller is the JoinHandle (whose reference keeps the cell alive).
    pub(super) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: the handle's reference keeps the cell alive; `dst` is
        // the caller's to vouch for.
        unsafe { (self.vtable().try_read_output)(self.ptr, dst, waker) }
    }

    /// # Safety
    /// Called once, by the JoinHandle's drop, which gives up its reference.
    pub(super) unsafe fn drop_join_handle(self) {
        // SAFETY: the handle's reference keeps the cell alive and is handed
        // to the entry.
        unsafe { (self.vtable().drop_join_handle)(self.ptr) }
    }

    /// Aborts the task: it is cancelled at its next poll boundary.
    ///
    /// # Safety
    /// The caller holds a reference to the task for the whole call (it is
    /// not given up: a `Notified`, if needed, gets a new one).
    pub(super) unsafe fn remote_abort(self) {
        // SAFETY: the caller's reference keeps the header alive.
        if unsafe { self.header() }.state.transition_to_notified_and_cancel() {
            // SAFETY: the transition made a reference for this Notified.
            unsafe { self.schedule() }
        }
    }

    /// Drops one reference, freeing the cell if it was the last.
    ///
    /// # Safety
    /// The caller owns one reference and gives it up: it must not use this
    /// `RawTask` (or any copy of it that stood for the same reference)
    /// again.
    pub(super) unsafe fn drop_reference(self) {
        // SAFETY: the caller's reference keeps the header alive until the
        // decrement.
        if unsafe { self.header() }.state.ref_dec() {
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

// SAFETY: a Task only reaches the header from other threads (the state
// word, immutable fields, the owned key under its shard's lock); the stage
// it may reach through `shutdown` or a poll is handed to one thread at a
// time by the state word, and is `Send` for `new_task`'s tasks, while
// `new_local_task`'s caller keeps every poll and shutdown of a local task
// on its owner thread (see RawTask's Send).
unsafe impl<S> Send for Task<S> {}
// SAFETY: `&Task` only reads the header (atomic state word, immutable
// vtable, owned key under its shard's lock).
unsafe impl<S> Sync for Task<S> {}
// SAFETY: a Notified is a Task reference plus NOTIFIED; see Task's Send.
unsafe impl<S> Send for Notified<S> {}
// SAFETY: `&Notified` gives no access beyond `&Task`'s (see Task's Sync).
unsafe impl<S> Sync for Notified<S> {}

impl<S: 'static> Task<S> {
    /// # Safety
    /// The caller gives this Task one reference of `raw`, whose scheduler
    /// type is `S`.
    pub(super) unsafe fn from_raw(raw: RawTask) -> Task<S> {
        Task { raw, _scheduler: PhantomData }
    }

    pub(super) fn raw(&self) -> RawTask {
        self.raw
    }

    /// Gives up ownership of the reference without dropping it.
    pub(super) fn into_raw(self) -> RawTask {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The task's header; this `Task`'s reference keeps it alive.
    pub(super) fn header(&self) -> &Header {
        // SAFETY: a Task owns a reference, so the cell outlives `&self`.
        unsafe { self.raw.header() }
    }

    /// Shuts the task down, consuming this reference (runtime shutdown).
    pub(crate) fn shutdown(self) {
        let vtable = self.header().vtable;
        let raw = self.into_raw();
        // SAFETY: `raw` is a live Cell of the vtable's own type, and this
        // Task's reference (the owned list's) is handed to the entry.
        unsafe { (vtable.shutdown)(raw.header_ptr()) }
    }
}

impl<S: 'static> Drop for Task<S> {
    fn drop(&mut self) {
        // SAFETY: this Task owns one reference and is never used again.
        unsafe { self.raw.drop_reference() }
    }
}

impl<S: 'static> Notified<S> {
    /// # Safety
    /// The caller gives this Notified one reference of `raw`, whose
    /// scheduler type is `S`, and that reference stands for the task's
    /// NOTIFIED flag (a transition set it for this queue entry).
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified<S> {
        // SAFETY: the caller hands over one reference of a task whose
        // scheduler type is `S`, which is what `Task::from_raw` needs.
        Notified(unsafe { Task::from_raw(raw) })
    }

    /// The task this entry refers to.
    #[cfg(loom)]
    pub(crate) fn raw(&self) -> RawTask {
        self.0.raw()
    }

    /// The task's id.
    #[cfg_attr(not(test), allow(dead_code))] // for the scheduler's stall reports (next)
    pub(crate) fn id(&self) -> Id {
        self.0.header().id
    }

    /// Where the task was spawned (the user's call site).
    #[cfg_attr(not(test), allow(dead_code))] // for the scheduler's stall reports (next)
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        self.0.header().spawned_at
    }

    /// Stamps the task as made runnable at `nanos` (of its scheduler's
    /// clock), before this entry is queued.
    pub(crate) fn set_scheduled_at(&self, nanos: u64) {
        // Relaxed: the queue that hands this entry to its poller orders the
        // stamp before the read (see `Header::scheduled_at`).
        self.0.header().scheduled_at.store(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    /// When the task was last stamped by [`Notified::set_scheduled_at`].
    pub(crate) fn scheduled_at(&self) -> u64 {
        // Relaxed: the pop that handed this entry over ordered the stamp
        // before this read (see `Header::scheduled_at`).
        self.0.header().scheduled_at.load(std::sync::atomic::Ordering::Relaxed)
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

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::runtime::task::{new_task, Notified, Schedule, Task, Unqueued};

    /// A scheduler for a task run by hand: nothing re-schedules it.
    struct ByHand;

    impl Schedule for ByHand {
        fn schedule(&self, task: Notified<Self>) -> Unqueued<Self> {
            Unqueued::of(vec![task])
        }

        fn release(&self, _task: &Task<Self>) -> Option<Task<Self>> {
            None
        }
    }

    /// What the scheduler reads from a queue entry is what the user's
    /// handle says, and where `new_task` was called.
    #[test]
    fn a_queue_entry_knows_its_task_id_and_spawn_location() {
        let (task, notified, join) = new_task(async { 1 }, ByHand);
        let line = line!() - 1;
        assert_eq!(notified.id(), join.id());
        let at = notified.spawned_at();
        assert_eq!((at.file(), at.line()), (file!(), line));
        let (other_task, other, other_join) = new_task(async { 2 }, ByHand);
        assert_ne!(other.id(), notified.id());
        notified.run();
        other.run();
        drop((task, join, other_task, other_join));
    }
}
