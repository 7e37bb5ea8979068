//! The memory layout of a task: one heap allocation holding the header,
//! the future or its output, and the join waker.
//!
//! ```text
//! Cell<T, S> (repr C)
//! ├── Header   state word, vtable, owned-list slot,   (untyped; pointers
//! │            task id, spawn location,               to a task point here)
//! │            when it was last scheduled
//! ├── Core     scheduler handle, Stage: future | output | consumed
//! ├── Trailer  the JoinHandle's waker
//! └── span     the task's `weft.task` span (feature `tracing` only)
//! ```
//!
//! Access rules: the `Stage` is touched only by the thread holding RUNNING
//! (poll, cancel, complete) or, after COMPLETE, by the `JoinHandle`
//! (take the output) or the single thread that the state word designates to
//! drop it. The trailer's waker is owned by the `JoinHandle` while
//! JOIN_WAKER is clear and by the completing thread while it is set.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use weft_util::Id;

use super::error::JoinError;
use super::state::State;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::AtomicUsize;
use crate::trace;

/// Type-erased operations of one task type, reached from the header.
///
/// # Safety
/// Every entry takes the header of a live `Cell` of the vtable's own task
/// type; each entry's doc says which reference the caller hands over.
pub(super) struct Vtable {
    /// Polls the task (the caller gives the reference of a `Notified`).
    pub(super) poll: unsafe fn(NonNull<Header>),
    /// Hands a `Notified` (whose reference the caller owns) to the task's
    /// scheduler.
    pub(super) schedule: unsafe fn(NonNull<Header>),
    /// Frees the cell; called once, by whoever dropped the last reference.
    pub(super) dealloc: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (a `Poll<Result<T, JoinError>>`) if the
    /// task is complete, else registers the waker.
    pub(super) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The `JoinHandle` is dropped (drops its reference).
    pub(super) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Shutdown: cancel the task if idle (consumes the owned-list reference).
    pub(super) shutdown: unsafe fn(NonNull<Header>),
}

/// The untyped first part of every task.
#[repr(C)]
pub(super) struct Header {
    pub(super) state: State,
    pub(super) vtable: &'static Vtable,
    /// Key of this task in its owned-list shard. Written and read only with
    /// that shard's lock held, so `Relaxed` accesses are enough.
    pub(super) owned_key: AtomicUsize,
    /// The task's id, given at spawn. Never written again, so any holder of
    /// a reference may read it from any thread.
    pub(super) id: Id,
    /// Where the task was spawned (the user's call site, through
    /// `#[track_caller]`). Immutable, like `id`.
    pub(super) spawned_at: &'static Location<'static>,
    /// When the task was last made runnable, in nanoseconds of its
    /// scheduler's clock; written only if the scheduler measures schedule
    /// latency. Only the holder of the task's one queue reference (the
    /// `Notified` that stands for NOTIFIED) writes it, before queueing
    /// that reference, and the worker that pops it reads it: the queue's
    /// push and pop order the two, so `Relaxed` accesses are enough.
    /// std's atomic even under loom: a metric that decides nothing, which
    /// the models need not explore.
    pub(super) scheduled_at: std::sync::atomic::AtomicU64,
}

/// What the core holds over the task's life.
enum Stage<T: Future> {
    Running(T),
    Finished(Result<T::Output, JoinError>),
    Consumed,
}

/// The typed middle part.
#[repr(C)]
pub(super) struct Core<T: Future, S> {
    pub(super) scheduler: S,
    stage: UnsafeCell<Stage<T>>,
}

/// The join waker.
#[repr(C)]
pub(super) struct Trailer {
    waker: UnsafeCell<Option<Waker>>,
}

/// The whole allocation.
#[repr(C)]
pub(super) struct Cell<T: Future, S> {
    pub(super) header: Header,
    pub(crate) core: Core<T, S>,
    pub(super) trailer: Trailer,
    /// The task's span, entered around each poll (see `crate::trace`).
    /// Only with the `tracing` feature: without it the cell has no such
    /// field and keeps its size.
    #[cfg(feature = "tracing")]
    pub(crate) span: trace::TaskSpan,
}

impl<T: Future, S> Cell<T, S> {
    /// Allocates task `id` in its initial state (see `State::new`); its
    /// header keeps `meta`'s spawn location, and with the `tracing`
    /// feature `meta` also becomes its span.
    pub(super) fn allocate(
        future: T,
        scheduler: S,
        vtable: &'static Vtable,
        id: Id,
        meta: trace::SpawnMeta,
    ) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable,
                owned_key: AtomicUsize::new(usize::MAX),
                id,
                spawned_at: meta.location(),
                scheduled_at: std::sync::atomic::AtomicU64::new(0),
            },
            core: Core { scheduler, stage: UnsafeCell::new(Stage::Running(future)) },
            trailer: Trailer { waker: UnsafeCell::new(None) },
            #[cfg(feature = "tracing")]
            span: meta.span(),
        });
        // `Header` is the first field of a repr(C) struct, so the cell's
        // address is the header's address.
        NonNull::from(Box::leak(cell)).cast()
    }

    /// Enters the task's span until the guard drops (feature `tracing`);
    /// without the feature, a zero-sized guard that does nothing. The guard
    /// borrows the cell: drop it before anything that may free the cell.
    #[inline(always)]
    pub(crate) fn enter_span(&self) -> trace::Entered<'_> {
        #[cfg(feature = "tracing")]
        {
            trace::enter(&self.span)
        }
        #[cfg(not(feature = "tracing"))]
        {
            trace::Entered::none()
        }
    }
}

impl<T: Future, S> Core<T, S> {
    /// Polls the future where it lives.
    ///
    /// # Safety
    /// The caller holds RUNNING, which gives it exclusive access to the
    /// stage, and the stage is `Running`.
    pub(super) unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<T::Output> {
        self.stage.with_mut(|ptr| {
            // SAFETY: RUNNING gives this thread exclusive access to the stage.
            let Stage::Running(future) = (unsafe { &mut *ptr }) else {
                unreachable!("polled a task that has no future")
            };
            // SAFETY: the future lives in the heap cell, which never moves
            // before it is freed, and it leaves its slot only by being
            // dropped there (`drop_future_or_output`, or the cell's own
            // drop in `dealloc`): no code path moves it, so it is pinned.
            unsafe { Pin::new_unchecked(future) }.poll(cx)
        })
    }

    /// Drops the future or the output where it lives and leaves the stage
    /// `Consumed`. Pin's drop guarantee holds because the value is dropped
    /// at the address it was polled at. If its destructor unwinds, a guard
    /// still writes `Consumed` over the slot as the panic passes, so the
    /// half-dropped value is never read or dropped again.
    ///
    /// # Safety
    /// The caller has exclusive access to the stage: it holds RUNNING, or
    /// the state word made it the one thread to drop a completed task's
    /// output (see the module docs).
    pub(super) unsafe fn drop_future_or_output(&self) {
        /// Writes `Consumed` into the slot when dropped, on return or unwind.
        struct SetConsumed<T: Future>(*mut Stage<T>);

        impl<T: Future> Drop for SetConsumed<T> {
            fn drop(&mut self) {
                // SAFETY: the slot's value was just dropped in place (or its
                // drop unwound after dropping what it could), so the slot
                // holds no live value: writing without dropping is the only
                // correct way to make it valid again. The caller's exclusive
                // access covers this write.
                unsafe { std::ptr::write(self.0, Stage::Consumed) }
            }
        }

        self.stage.with_mut(|ptr| {
            let _consumed = SetConsumed(ptr);
            // SAFETY: exclusive access to the slot (the caller's RUNNING or
            // completion ownership); the slot holds a valid stage, dropped
            // at its own address; `_consumed` rewrites the slot right after,
            // so this value is never dropped a second time.
            unsafe { std::ptr::drop_in_place(ptr) };
        });
    }

    /// Stores the task's output (or its error) once the future is gone.
    ///
    /// # Safety
    /// The caller holds RUNNING and has dropped the future
    /// (`drop_future_or_output`): the stage is `Consumed`.
    pub(super) unsafe fn store_output(&self, output: Result<T::Output, JoinError>) {
        self.stage.with_mut(|ptr| {
            // SAFETY: RUNNING gives exclusive access; the slot holds
            // `Consumed`, which owns nothing, so overwriting it without a
            // drop loses nothing and moves no pinned value.
            unsafe {
                assert!(matches!(*ptr, Stage::Consumed), "output stored over a live stage");
                std::ptr::write(ptr, Stage::Finished(output));
            }
        })
    }

    /// Takes the output out of a finished task. Only an output moves: a
    /// stage that still holds the future is never touched here.
    ///
    /// # Safety
    /// Only the `JoinHandle`, after observing COMPLETE with join interest
    /// (from then on the stage is the handle's alone).
    pub(super) unsafe fn take_output(&self) -> Result<T::Output, JoinError> {
        self.stage.with_mut(|ptr| {
            // SAFETY: COMPLETE with join interest gives the JoinHandle
            // exclusive access to the stage.
            let stage = unsafe { &mut *ptr };
            if !matches!(stage, Stage::Finished(_)) {
                panic!("JoinHandle polled after it returned the task's output");
            }
            // An output is never pinned, so moving it out is fine.
            match std::mem::replace(stage, Stage::Consumed) {
                Stage::Finished(output) => output,
                _ => unreachable!("checked to be Finished above"),
            }
        })
    }
}

impl Trailer {
    /// Puts `waker` in the slot and returns what was there. The caller
    /// drops the old waker after the slot is consistent again, so a waker
    /// whose destructor panics cannot leave the slot half-written.
    ///
    /// # Safety
    /// The caller owns the slot: the `JoinHandle` while JOIN_WAKER is
    /// clear, the completer while it is set (see the module docs).
    pub(super) unsafe fn replace_waker(&self, waker: Option<Waker>) -> Option<Waker> {
        // SAFETY: the caller owns the slot, so no other thread reads or
        // writes it during this swap. A `Waker` is not pinned: moving it out
        // is fine.
        self.waker.with_mut(|ptr| unsafe { std::mem::replace(&mut *ptr, waker) })
    }

    /// # Safety
    /// JOIN_WAKER is set: the slot is frozen (neither side writes it until
    /// the bit is cleared), so a shared read is race-free.
    pub(super) unsafe fn will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: JOIN_WAKER set means nobody writes the slot meanwhile.
        self.waker.with(|ptr| unsafe { (*ptr).as_ref().is_some_and(|w| w.will_wake(waker)) })
    }

    /// # Safety
    /// Called by the completer while JOIN_WAKER is set (it owns the slot).
    pub(super) unsafe fn wake_join(&self) {
        // SAFETY: JOIN_WAKER set and COMPLETE published: the completer owns
        // the slot, which holds the waker the handle stored before setting
        // the bit.
        self.waker.with(|ptr| match unsafe { &*ptr } {
            Some(waker) => waker.wake_by_ref(),
            None => panic!("JOIN_WAKER set without a waker"),
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::Ready;
    use std::mem::size_of;

    use super::{Cell, Core, Header, Trailer};
    use crate::loom::sync::Arc;
    use crate::runtime::scheduler::Shared;

    /// The smallest task of the multi-thread scheduler.
    type Small = Cell<Ready<()>, Arc<Shared>>;

    /// Without the `tracing` feature the cell is exactly header, core and
    /// trailer; with it, one `tracing::Span` more (the bytes/task figure
    /// of the benches depends on this).
    #[test]
    fn the_span_costs_bytes_only_with_the_feature() {
        let parts =
            size_of::<Header>() + size_of::<Core<Ready<()>, Arc<Shared>>>() + size_of::<Trailer>();
        #[cfg(not(feature = "tracing"))]
        let expected = parts;
        #[cfg(feature = "tracing")]
        let expected = parts + size_of::<tracing::Span>();
        eprintln!("size_of task cell (Ready<()>): {} bytes", size_of::<Small>());
        assert_eq!(size_of::<Small>(), expected);
    }

    /// The header is the state word, the vtable, the owned-list key, the
    /// id, the spawn location and the scheduled-at stamp: 48 bytes on a
    /// 64-bit target, nothing else (each task pays for every byte here).
    #[test]
    fn the_header_is_five_words_and_a_stamp() {
        assert_eq!(size_of::<Header>(), 5 * size_of::<usize>() + size_of::<u64>());
    }
}
