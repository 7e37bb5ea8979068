//! What happens to a task cell: poll, complete, cancel, read the output,
//! drop the JoinHandle, free.
//!
//! [`Harness`] is the one typed view of a cell reached through a raw
//! pointer. It is built in exactly one place, [`Harness::from_raw`], by the
//! vtable entries at the bottom of this file (the vtable was made for this
//! `T` and `S`, so the cast is right by construction). Holding a `Harness`
//! is the proof that the cell is live and of this type (its builder holds a
//! reference across the call), and a method that gives up that reference
//! takes the `Harness` by value, so it cannot be used again once the
//! reference may have freed the cell.
//!
//! Who may touch which part of the cell is decided by the state word
//! (`state.rs`). Two proofs make its grants visible in the types: a
//! [`Running`] is made only right after a transition that gave this thread
//! RUNNING (and with it the stage), and every step that touches the stage
//! needs one; a [`LastRef`] is made only when the state word said the
//! caller's reference was the last, and `dealloc` needs one. The
//! JoinHandle-side steps, which the state word grants to the handle, are
//! `unsafe fn`s whose contract is "called by the JoinHandle".

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use weft_util::Id;

use super::cell::{Cell, Core, Header, Trailer, Vtable};
use super::error::JoinError;
use super::raw::{Notified, RawTask, Task};
use super::state::{Snapshot, State, TransitionToIdle, TransitionToRunning};
use super::{waker, Schedule};
use crate::runtime::coop;
use crate::unwind;

/// A typed handle on one live task cell (see the module docs).
pub(super) struct Harness<T: Future, S: 'static> {
    cell: NonNull<Cell<T, S>>,
}

/// Proof that this thread holds the task's RUNNING bit, and so the stage.
/// Not `Clone`; consumed by `complete`, which gives RUNNING up.
struct Running {
    _private: (),
}

impl Running {
    /// # Safety
    /// A state transition has just given RUNNING to this thread:
    /// `transition_to_running` returned Success or Cancelled,
    /// `transition_to_idle` returned Cancelled (RUNNING kept), or
    /// `transition_to_shutdown` returned true.
    unsafe fn granted() -> Running {
        Running { _private: () }
    }
}

/// Proof that the caller's reference was the task's last one.
struct LastRef {
    _private: (),
}

impl LastRef {
    /// # Safety
    /// The state word just said the caller dropped the last reference
    /// (`ref_dec` or `transition_to_terminal` returned true, or a
    /// transition returned its `Dealloc` outcome).
    unsafe fn dropped() -> LastRef {
        LastRef { _private: () }
    }
}

impl<T, S> Harness<T, S>
where
    T: Future + 'static,
    T::Output: 'static,
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

    fn id(&self) -> Id {
        self.cell().header.id
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
        let running = match self.state().transition_to_running() {
            // SAFETY: transition_to_running gave this thread RUNNING.
            TransitionToRunning::Success => unsafe { Running::granted() },
            TransitionToRunning::Cancelled => {
                // SAFETY: transition_to_running gave this thread RUNNING
                // (to cancel rather than poll).
                return self.cancel_and_complete(unsafe { Running::granted() });
            }
            TransitionToRunning::Failed => return,
            // SAFETY: the Notified's reference was the last one.
            TransitionToRunning::Dealloc => return self.dealloc(unsafe { LastRef::dropped() }),
        };

        if self.poll_future(&running).is_ready() {
            return self.complete(running);
        }

        match self.state().transition_to_idle() {
            TransitionToIdle::Ok => {}
            TransitionToIdle::OkNotified => {
                // Woken during its own poll: the task yields to the back of
                // the queue rather than jumping ahead of others.
                // SAFETY: transition_to_idle made a reference for this
                // Notified and set NOTIFIED for it.
                let notified = unsafe { Notified::from_raw(self.raw()) };
                let unqueued = self.core().scheduler.yield_now(notified);
                // The borrow of the scheduler has ended; the poll's own
                // reference still keeps this cell alive meanwhile.
                drop(unqueued);
                self.drop_reference();
            }
            // SAFETY: the poll's reference was the last one.
            TransitionToIdle::OkDealloc => self.dealloc(unsafe { LastRef::dropped() }),
            TransitionToIdle::Cancelled => {
                // SAFETY: transition_to_idle kept RUNNING for this thread.
                self.cancel_and_complete(unsafe { Running::granted() })
            }
        }
    }

    /// Hands the task to its scheduler as a `Notified`, made of one
    /// reference the caller gives up. The caller holds another reference
    /// across the call (the one that built this Harness): the queued one
    /// may be run to completion and dropped by another worker before the
    /// scheduler returns, and the scheduler runs with `&self` borrowed from
    /// inside this cell.
    fn schedule(&self) {
        // SAFETY: the caller gives up a reference that a wake or abort
        // transition made to stand for NOTIFIED (see `RawTask::schedule`).
        let notified = unsafe { Notified::from_raw(self.raw()) };
        let unqueued = self.core().scheduler.schedule(notified);
        // Only now, with no borrow into the cell left, may the queue
        // references the scheduler handed back be dropped.
        drop(unqueued);
    }

    /// Runtime shutdown of one task, consuming the owned list's reference.
    fn shutdown(self) {
        if self.state().transition_to_shutdown() {
            // SAFETY: transition_to_shutdown took RUNNING for this thread.
            self.cancel_and_complete(unsafe { Running::granted() });
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
        // SAFETY: the caller is the JoinHandle.
        if unsafe { self.can_read_output(waker) } {
            // SAFETY: COMPLETE observed with join interest (the handle is
            // the caller): the stage is the handle's alone.
            let output = unsafe { self.core().take_output() };
            // SAFETY: `dst` points to a writable `Poll` of exactly this type,
            // which is what this function requires of its caller.
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
            // SAFETY: ref_dec said that was the last reference.
            self.dealloc(unsafe { LastRef::dropped() });
        }
    }

    /// Frees the cell. Called once, by whoever dropped the last reference.
    /// A join waker still in the slot (left by a joiner whose wake
    /// panicked) is dropped first, contained, so its destructor cannot
    /// unwind out of here.
    fn dealloc(self, _last: LastRef) {
        // SAFETY: the last reference is gone (`_last`), so this thread is
        // the only one that can reach the slot.
        let waker = unsafe { self.trailer().replace_waker(None) };
        unwind::contain(move || drop(waker));
        // SAFETY: the cell was made by `Box::leak` in `Cell::allocate` and
        // its last reference is gone (`_last`), so nothing else can reach
        // it. The Box drops the cell where it lies on the heap, so whatever
        // the stage holds is dropped in place, never moved.
        drop(unsafe { Box::from_raw(self.cell.as_ptr()) });
    }

    // ---- steps -----------------------------------------------------------

    /// Polls the future in place under a fresh coop budget, with the task's
    /// id as this thread's current task and its span entered, catching
    /// panics. When the future is done (output or panic), drops it in place
    /// and stores the result.
    fn poll_future(&self, running: &Running) -> Poll<()> {
        // A borrowed waker: it does not own a reference, so it must never
        // be dropped (ManuallyDrop) nor outlive this poll; the poll's own
        // reference keeps the task alive meanwhile. Wakers the future clones
        // from it take references of their own.
        // SAFETY: the poll's reference keeps the header live for as long as
        // `waker` is used (this function).
        let waker = ManuallyDrop::new(unsafe { waker::borrowed(self.header_ptr()) });
        let mut cx = Context::from_waker(&waker);
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            // The span guard borrows the cell; it ends with this closure.
            let _span = self.cell().enter_span();
            // SAFETY: `running` proves this thread holds RUNNING, so the
            // stage is ours, and it holds the future: a task loses its
            // future only in `finish`, which is followed by `complete`.
            coop::with_task_budget(self.id(), || unsafe { self.core().poll(&mut cx) })
        }));
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(JoinError::panic(self.id(), payload)),
        };
        self.finish(running, output);
        Poll::Ready(())
    }

    /// Drops the future in place and stores `output`; a panic from the
    /// future's destructor replaces the output with that panic. The
    /// future's destructor runs as part of the task: its id is this
    /// thread's current task meanwhile, as during a poll.
    fn finish(&self, _running: &Running, output: Result<T::Output, JoinError>) {
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
            let _span = self.cell().enter_span();
            // SAFETY: `_running` proves RUNNING, so the stage is ours.
            coop::with_task_id(self.id(), || unsafe { self.core().drop_future_or_output() })
        }));
        let output = match dropped {
            Ok(()) => output,
            Err(payload) => {
                // The output it replaces is user data (a value, or an
                // earlier panic's payload): its destructor may panic too.
                unwind::contain(move || drop(output));
                Err(JoinError::panic(self.id(), payload))
            }
        };
        // SAFETY: `_running` proves RUNNING; drop_future_or_output left
        // `Consumed`, on return and on unwind alike.
        unsafe { self.core().store_output(output) };
    }

    /// Cancels the task (drops the future in place, stores a cancelled
    /// JoinError) and completes it, giving up RUNNING and the reference
    /// that came with it.
    fn cancel_and_complete(self, running: Running) {
        self.finish(&running, Err(JoinError::cancelled(self.id())));
        self.complete(running);
    }

    /// The output is stored: publish COMPLETE, wake the joiner (or drop the
    /// output if nobody joins), leave the owned list and drop the
    /// references of the poll and of the list.
    ///
    /// Called right after `finish`, with RUNNING (`running`, given up
    /// here) and one reference (the poll's or the shutdown's).
    fn complete(self, _running: Running) {
        // Gives up RUNNING: `_running` is not used past this point.
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
        // SAFETY: `snapshot` is what this thread's transition_to_complete
        // returned.
        unwind::contain(|| unsafe { self.notify_joiner(snapshot) });
        if self.state().transition_to_terminal(count) {
            // SAFETY: transition_to_terminal said those were the last.
            self.dealloc(unsafe { LastRef::dropped() });
        }
    }

    /// After COMPLETE: drop the output nobody will read, or wake the
    /// JoinHandle and hand the waker slot back to it. A panicking wake is
    /// contained on its own, so the slot is always handed back.
    ///
    /// # Safety
    /// `snapshot` is the state this thread's `transition_to_complete`
    /// returned (it says which of the output and the slot are ours).
    unsafe fn notify_joiner(&self, snapshot: Snapshot) {
        if !snapshot.is_join_interested() {
            // SAFETY: COMPLETE without join interest: the handle is gone,
            // so the completer is the only one to touch the output.
            unsafe { self.core().drop_future_or_output() };
        } else if snapshot.is_join_waker_set() {
            // SAFETY: JOIN_WAKER set at COMPLETE: the completer owns the
            // slot until it clears the bit.
            unwind::contain(|| unsafe { self.trailer().wake_join() });
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
    ///
    /// # Safety
    /// Called by the task's JoinHandle (which owns the waker slot while
    /// JOIN_WAKER is clear, and the stage once COMPLETE).
    unsafe fn can_read_output(&self, waker: &Waker) -> bool {
        let snapshot = self.state().load();
        if snapshot.is_complete() {
            return true;
        }
        let stored = if !snapshot.is_join_waker_set() {
            // SAFETY: the caller is the JoinHandle and JOIN_WAKER is clear
            // (just loaded), so the slot is the handle's.
            unsafe { self.set_join_waker(waker.clone()) }
        } else {
            // SAFETY: JOIN_WAKER set: nobody writes the slot, reads are fine.
            if unsafe { self.trailer().will_wake(waker) } {
                return false;
            }
            // SAFETY: the caller is the JoinHandle, and a successful unset
            // gave the slot back to it.
            self.state()
                .unset_join_waker()
                .and_then(|_| unsafe { self.set_join_waker(waker.clone()) })
        };
        match stored {
            Ok(_) => false,
            Err(snapshot) => {
                debug_assert!(snapshot.is_complete());
                true
            }
        }
    }

    /// Stores the handle's waker and sets JOIN_WAKER.
    ///
    /// # Safety
    /// Called by the task's JoinHandle while JOIN_WAKER is clear (so the
    /// slot is the handle's).
    unsafe fn set_join_waker(&self, waker: Waker) -> Result<Snapshot, Snapshot> {
        // SAFETY: JOIN_WAKER is clear and the caller is the JoinHandle
        // (this function's contract), so the slot is the handle's.
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
    T: Future + 'static,
    T::Output: 'static,
    S: Schedule,
{
    &Vtable {
        poll: Entry::<T, S>::poll,
        schedule: Entry::<T, S>::schedule,
        dealloc: Entry::<T, S>::dealloc,
        try_read_output: Entry::<T, S>::try_read_output,
        drop_join_handle: Entry::<T, S>::drop_join_handle,
        shutdown: Entry::<T, S>::shutdown,
    }
}

/// Namespace of the vtable entries of one task type.
struct Entry<T, S>(std::marker::PhantomData<(T, S)>);

impl<T, S> Entry<T, S>
where
    T: Future + 'static,
    T::Output: 'static,
    S: Schedule,
{
    /// # Safety
    /// `ptr`: a live `Cell<T, S>`; the caller gives up a `Notified`'s
    /// reference.
    unsafe fn poll(ptr: NonNull<Header>) {
        // SAFETY: a live Cell<T, S>; the Notified's reference goes to `poll`.
        unsafe { Harness::<T, S>::from_raw(ptr) }.poll()
    }

    /// # Safety
    /// `ptr`: a live `Cell<T, S>`; the caller gives up a reference that a
    /// wake or abort transition made to stand for NOTIFIED, and holds
    /// another one of its own until this returns.
    unsafe fn schedule(ptr: NonNull<Header>) {
        // SAFETY: a live Cell<T, S>, kept alive across the call by the
        // caller's own reference; the NOTIFIED reference goes to `schedule`.
        unsafe { Harness::<T, S>::from_raw(ptr) }.schedule()
    }

    /// # Safety
    /// `ptr`: a `Cell<T, S>` whose last reference the caller dropped.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: a Cell<T, S> whose last reference the caller dropped: the
        // caller's contract is exactly LastRef's.
        unsafe { Harness::<T, S>::from_raw(ptr).dealloc(LastRef::dropped()) }
    }

    /// # Safety
    /// `ptr`: a live `Cell<T, S>`; called by its JoinHandle; `dst` points
    /// to a `Poll<Result<T::Output, JoinError>>`.
    unsafe fn try_read_output(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
        // SAFETY: a live Cell<T, S>, kept alive by the JoinHandle's
        // reference; `dst` has the output type and the caller is the
        // JoinHandle.
        unsafe { Harness::<T, S>::from_raw(ptr).try_read_output(dst.cast(), waker) }
    }

    /// # Safety
    /// `ptr`: a live `Cell<T, S>`; called once, by its JoinHandle's drop.
    unsafe fn drop_join_handle(ptr: NonNull<Header>) {
        // SAFETY: a live Cell<T, S>; the handle's reference goes to the
        // method.
        unsafe { Harness::<T, S>::from_raw(ptr) }.drop_join_handle()
    }

    /// # Safety
    /// `ptr`: a live `Cell<T, S>`; the caller gives up the owned list's
    /// reference.
    unsafe fn shutdown(ptr: NonNull<Header>) {
        // SAFETY: a live Cell<T, S>; the list's reference goes to `shutdown`.
        unsafe { Harness::<T, S>::from_raw(ptr) }.shutdown()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::VecDeque;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex, Weak};
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

    use crate::runtime::task::{new_task, Notified, Schedule, Task, Unqueued};

    /// A scheduler whose `schedule` lets "another worker" run the queued
    /// task to completion before it returns, and notes whether the cell
    /// it was called through (which holds an `Arc<Stealing>`) was freed
    /// meanwhile.
    struct Stealing {
        queue: Mutex<VecDeque<Notified<Arc<Stealing>>>>,
        me: Mutex<Option<Weak<Stealing>>>,
        freed_during_schedule: AtomicUsize,
    }

    impl Schedule for Arc<Stealing> {
        fn schedule(&self, task: Notified<Self>) -> Unqueued<Self> {
            // `this` is the Stealing allocation (kept alive by the test),
            // reached before the cell holding `*self` could go away.
            let this: &Stealing = self;
            let me = this.me.lock().unwrap().clone().unwrap();
            let before = Weak::strong_count(&me);
            this.queue.lock().unwrap().push_back(task);
            std::thread::scope(|s| {
                s.spawn(|| this.queue.lock().unwrap().pop_front().unwrap().run());
            });
            if Weak::strong_count(&me) < before {
                this.freed_during_schedule.fetch_add(1, SeqCst);
            }
            Unqueued::none()
        }

        fn release(&self, _task: &Task<Self>) -> Option<Task<Self>> {
            None
        }
    }

    /// Pending once (leaving its waker in the slot), then ready.
    struct PendingOnce(Arc<Mutex<Option<Waker>>>, bool);

    impl Future for PendingOnce {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.1 {
                return Poll::Ready(());
            }
            self.1 = true;
            *self.0.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// A wake by value must keep a reference of its own across
    /// `Schedule::schedule`: the queued task may be run, completed and
    /// released by another worker before the scheduler returns, and the
    /// scheduler runs with `&self` borrowed from inside the cell.
    #[test]
    fn a_wake_by_value_keeps_the_cell_alive_while_scheduling() {
        let sched = Arc::new(Stealing {
            queue: Mutex::new(VecDeque::new()),
            me: Mutex::new(None),
            freed_during_schedule: AtomicUsize::new(0),
        });
        *sched.me.lock().unwrap() = Some(Arc::downgrade(&sched));
        let slot = Arc::new(Mutex::new(None));
        let (task, notified, join) = new_task(PendingOnce(slot.clone(), false), sched.clone());
        drop((task, join));
        notified.run();
        let waker = slot.lock().unwrap().take().expect("the first poll left its waker");
        waker.wake();
        assert_eq!(
            sched.freed_during_schedule.load(SeqCst),
            0,
            "the cell was freed while Schedule::schedule(&self) still borrowed it"
        );
        assert_eq!(Arc::strong_count(&sched), 1, "the cell is freed once the wake returns");
    }

    static WOKEN: AtomicBool = AtomicBool::new(false);

    /// A waker whose wake_by_ref and drop both panic.
    fn hostile_waker() -> Waker {
        static VTABLE: RawWakerVTable = RawWakerVTable::new(
            |data| RawWaker::new(data, &VTABLE),
            |_| panic!("wake panics"),
            |_| {
                WOKEN.store(true, SeqCst);
                panic!("wake_by_ref panics")
            },
            |_| panic!("the waker's drop panics"),
        );
        // SAFETY: the vtable ignores the null data pointer; clone returns an
        // equal waker, as the RawWaker contract asks.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    /// A join waker whose wake panics must still be handed back (JOIN_WAKER
    /// cleared), so the JoinHandle's drop disposes of it, contained. It
    /// used to stay in the slot until the cell's free, whose drop let the
    /// waker's panic out of `JoinHandle::drop` (or into a worker).
    #[test]
    fn a_join_waker_whose_wake_panics_is_handed_back_and_contained() {
        let rt = crate::runtime::Runtime::new().unwrap();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let mut join = rt.spawn_blocking(move || gate.recv().unwrap());
        let waker = std::mem::ManuallyDrop::new(hostile_waker());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut join).poll(&mut cx).is_pending());
        go.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !(WOKEN.load(SeqCst) && join.is_finished()) {
            assert!(std::time::Instant::now() < deadline, "the task did not complete");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Let the completer finish its step after the wake (generous).
        std::thread::sleep(std::time::Duration::from_millis(200));
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(join)));
        assert!(dropped.is_ok(), "the join waker's panic unwound out of JoinHandle::drop");
    }
}
