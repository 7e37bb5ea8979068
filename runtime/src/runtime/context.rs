//! The thread-local runtime context: which runtime `spawn` and
//! `Handle::current` refer to on this thread, and, on a worker thread, the
//! worker itself (so wakes on this thread are scheduled locally).

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr;

use crate::loom::sync::Arc;
use crate::loom::thread_local_const;
use crate::runtime::scheduler::{Shared, WorkerContext};

struct Context {
    /// The runtime entered by `block_on`, a worker thread or `enter`.
    current: RefCell<Option<Arc<Shared>>>,
    /// How many [`EnterGuard`]s are live on this thread: each guard records
    /// the depth it made, so one dropped out of order is caught.
    depth: Cell<usize>,
    /// The worker running on this thread, during `set_worker`.
    worker: Cell<*const WorkerContext>,
    /// Set while this thread drops tasks' futures at shutdown.
    dropping_tasks: Cell<bool>,
}

thread_local_const! {
    static CONTEXT: Context = Context {
        current: RefCell::new(None),
        depth: Cell::new(0),
        worker: Cell::new(ptr::null()),
        dropping_tasks: Cell::new(false),
    };
}

/// Restores the previously entered runtime on drop. Guards nest: they must
/// drop in the reverse order of their creation, as scopes do.
pub(super) struct EnterGuard {
    prev: Option<Arc<Shared>>,
    /// The context's depth this guard made.
    depth: usize,
    /// A user's guard (`Runtime::enter`) checks its drop order; the
    /// runtime's own (a worker, a pool job, `block_on`) restores what it
    /// found whatever happened inside, so a caught out-of-order panic in a
    /// task cannot outlive the job or `block_on` it happened in.
    checked: bool,
    /// The guard restores this thread's context, so it must drop here.
    _not_send: PhantomData<*const ()>,
}

/// Makes `shared` the current runtime until the guard drops: the runtime's
/// own entry (a worker thread, a pool job, `block_on`).
pub(super) fn enter(shared: Arc<Shared>) -> EnterGuard {
    enter_with(shared, false)
}

/// As [`enter`], for a user's `Runtime::enter`/`Handle::enter`: dropped out
/// of order, the guard panics.
pub(super) fn enter_checked(shared: Arc<Shared>) -> EnterGuard {
    enter_with(shared, true)
}

fn enter_with(shared: Arc<Shared>, checked: bool) -> EnterGuard {
    let (prev, depth) = CONTEXT.with(|cx| {
        let depth = cx.depth.get() + 1;
        cx.depth.set(depth);
        (cx.current.replace(Some(shared)), depth)
    });
    EnterGuard { prev, depth, checked, _not_send: PhantomData }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // During thread teardown the context may be gone already.
        let _ = CONTEXT.try_with(|cx| {
            if self.checked && cx.depth.get() != self.depth {
                // Restoring `prev` now would leave a younger guard's runtime
                // current after that guard is gone, or make an older one's
                // come back later: either way a wrong runtime. While
                // unwinding, another panic would abort; the context stays
                // as it is then (the runtime's own guard around it restores
                // it).
                if !std::thread::panicking() {
                    panic!(
                        "weft `EnterGuard`s dropped out of order: the guards of \
                         `Runtime::enter` and `Handle::enter` must be dropped in the reverse \
                         order of their creation"
                    );
                }
                return;
            }
            cx.depth.set(self.depth - 1);
            *cx.current.borrow_mut() = self.prev.take();
        });
    }
}

/// Runs `f` with the current runtime, or returns `None` outside one.
pub(crate) fn with_current<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> Option<R> {
    CONTEXT.try_with(|cx| cx.current.borrow().as_ref().map(f)).ok().flatten()
}

/// Runs `f` with this thread registered as worker `worker`.
pub(super) fn set_worker<R>(worker: &WorkerContext, f: impl FnOnce() -> R) -> R {
    struct Reset(*const WorkerContext);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = CONTEXT.try_with(|cx| cx.worker.set(prev));
        }
    }
    let prev = CONTEXT.with(|cx| cx.worker.replace(worker));
    let _reset = Reset(prev);
    f()
}

/// Runs `f` with the worker running on this thread, if any.
pub(super) fn with_worker<R>(f: impl FnOnce(Option<&WorkerContext>) -> R) -> R {
    let worker = CONTEXT.try_with(|cx| cx.worker.get()).unwrap_or(ptr::null());
    // SAFETY: the pointer is set only for the extent of `set_worker`, whose
    // caller keeps the WorkerContext alive on its stack for that extent,
    // and only this thread reads it.
    f(unsafe { worker.as_ref() })
}

/// Runs `f`, which drops tasks' futures at shutdown, with this thread
/// marked as doing so (see [`is_dropping_tasks`]).
pub(super) fn dropping_tasks<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = CONTEXT.try_with(|cx| cx.dropping_tasks.set(prev));
        }
    }
    let prev = CONTEXT.try_with(|cx| cx.dropping_tasks.replace(true)).unwrap_or(false);
    let _reset = Reset(prev);
    f()
}

/// True while this thread drops tasks' futures at shutdown: a `block_on`
/// from a future's `Drop` then would wait for tasks that are being
/// dropped, or for a runtime that no longer runs anything.
pub(super) fn is_dropping_tasks() -> bool {
    CONTEXT.try_with(|cx| cx.dropping_tasks.get()).unwrap_or(false)
}

/// True on a thread that is currently a weft worker (even one whose core
/// `block_in_place` handed away).
pub(super) fn is_worker_thread() -> bool {
    with_worker(|w| w.is_some())
}

/// True on a worker thread that holds its core: blocking here would stall
/// the worker's tasks. False inside `block_in_place`, where the core has
/// moved to another thread and blocking is the point.
pub(super) fn holds_worker_core() -> bool {
    with_worker(|w| w.is_some_and(|w| w.core.try_borrow().map_or(true, |core| core.is_some())))
}
