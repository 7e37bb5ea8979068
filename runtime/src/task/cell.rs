//! The memory layout of a task: one heap allocation holding the header,
//! the future or its output, and the join waker.
//!
//! ```text
//! Cell<T, S> (repr C)
//! ├── Header   state word, vtable, owned-list slot    (untyped; pointers
//! │                                                   to a task point here)
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
use std::ptr::NonNull;
use std::task::Waker;

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
pub(crate) struct Vtable {
    /// Polls the task (the caller gives the reference of a `Notified`).
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Hands a `Notified` (whose reference the caller owns) to the task's
    /// scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the cell; called once, by whoever dropped the last reference.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (a `Poll<Result<T, JoinError>>`) if the
    /// task is complete, else registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The `JoinHandle` is dropped (drops its reference).
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Shutdown: cancel the task if idle (consumes the owned-list reference).
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
}

/// The untyped first part of every task.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// Key of this task in its owned-list shard. Written and read only with
    /// that shard's lock held, so `Relaxed` accesses are enough.
    pub(crate) owned_key: AtomicUsize,
}

/// What the core holds over the task's life.
pub(crate) enum Stage<T: Future> {
    Running(T),
    Finished(Result<T::Output, JoinError>),
    Consumed,
}

/// The typed middle part.
#[repr(C)]
pub(crate) struct Core<T: Future, S> {
    pub(crate) scheduler: S,
    pub(crate) stage: UnsafeCell<Stage<T>>,
}

/// The join waker.
#[repr(C)]
pub(crate) struct Trailer {
    pub(crate) waker: UnsafeCell<Option<Waker>>,
}

/// The whole allocation.
#[repr(C)]
pub(crate) struct Cell<T: Future, S> {
    pub(crate) header: Header,
    pub(crate) core: Core<T, S>,
    pub(crate) trailer: Trailer,
    /// The task's span, entered around each poll (see `crate::trace`).
    /// Only with the `tracing` feature: without it the cell has no such
    /// field and keeps its size.
    #[cfg(feature = "tracing")]
    pub(crate) span: trace::TaskSpan,
}

impl<T: Future, S> Cell<T, S> {
    /// Allocates a task in its initial state (see `State::new`); `meta`
    /// (zero-sized without the `tracing` feature) becomes its span.
    pub(crate) fn allocate(
        future: T,
        scheduler: S,
        vtable: &'static Vtable,
        meta: trace::SpawnMeta,
    ) -> NonNull<Header> {
        #[cfg(not(feature = "tracing"))]
        let _ = meta;
        let cell = Box::new(Cell {
            header: Header { state: State::new(), vtable, owned_key: AtomicUsize::new(usize::MAX) },
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
    /// Replaces the stage, returning the old one. The slot holds the new
    /// stage before the old one is dropped by the caller, so a panicking
    /// destructor can never cause a second drop of the same value.
    ///
    /// # Safety
    /// The caller has exclusive access to the stage (see the module docs).
    pub(crate) unsafe fn replace_stage(&self, stage: Stage<T>) -> Stage<T> {
        // SAFETY: exclusive access is the caller's contract.
        self.stage.with_mut(|ptr| unsafe { std::ptr::replace(ptr, stage) })
    }

    /// Takes the output out of a finished task.
    ///
    /// # Safety
    /// Only the `JoinHandle`, after observing COMPLETE with join interest.
    pub(crate) unsafe fn take_output(&self) -> Result<T::Output, JoinError> {
        // SAFETY: forwarded from the caller's contract.
        match unsafe { self.replace_stage(Stage::Consumed) } {
            Stage::Finished(output) => output,
            _ => panic!("JoinHandle polled after it returned the task's output"),
        }
    }
}

impl Trailer {
    /// # Safety
    /// The caller owns the waker slot (see the module docs).
    pub(crate) unsafe fn set_waker(&self, waker: Option<Waker>) {
        // SAFETY: the caller owns the slot.
        self.waker.with_mut(|ptr| unsafe { *ptr = waker });
    }

    /// # Safety
    /// JOIN_WAKER is set (no one writes the slot), so shared reads are fine.
    pub(crate) unsafe fn will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: see above.
        self.waker.with(|ptr| unsafe { (*ptr).as_ref().is_some_and(|w| w.will_wake(waker)) })
    }

    /// # Safety
    /// Called by the completer while JOIN_WAKER is set.
    pub(crate) unsafe fn wake_join(&self) {
        // SAFETY: see above; the slot holds a waker while JOIN_WAKER is set.
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
    use crate::scheduler::Shared;

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
}
