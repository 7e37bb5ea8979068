//! Cooperative budget: each task poll may perform a bounded number of
//! resource operations (I/O readiness, timers, joins). When the budget is
//! spent, those resources report `Pending` and wake the task, so one
//! always-ready task cannot starve the others on its worker.
//!
//! The same thread-local also says which task this thread is polling (its
//! [`Id`], for `weft::task::id`): both are set around every poll and
//! restored after it, so keeping them in one thread-local makes that one
//! thread-local access per poll, not two.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Context, Poll};

use weft_util::Id;

use crate::loom::thread_local_const;

/// Operations one task poll may perform before resources make it yield.
const BUDGET: u8 = 128;

/// What this thread is polling.
struct PollScope {
    /// The budget left; `None`: unconstrained (outside a task poll).
    budget: Cell<Option<u8>>,
    /// The task being polled (or whose future is being dropped) on this
    /// thread; `None` outside any task, and while `block_on` polls its
    /// own future, which is not a task.
    task: Cell<Option<Id>>,
}

thread_local_const! {
    static CURRENT: PollScope = PollScope { budget: Cell::new(None), task: Cell::new(None) };
}

/// Puts back the budget and the task a scope replaced, on return or
/// unwind.
struct Restore {
    budget: Option<u8>,
    task: Option<Id>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // `try_with`: this may run as the thread's locals are torn down.
        let _ = CURRENT.try_with(|scope| {
            scope.budget.set(self.budget);
            scope.task.set(self.task);
        });
    }
}

/// Runs `f` with a fresh budget and `task` as the current task, restoring
/// both afterwards even if `f` panics.
#[inline]
fn scoped<R>(task: Option<Id>, f: impl FnOnce() -> R) -> R {
    let _restore = CURRENT.with(|scope| Restore {
        budget: scope.budget.replace(Some(BUDGET)),
        task: scope.task.replace(task),
    });
    f()
}

/// Runs `f` (one poll of `block_on`'s own future) with a fresh budget and
/// no current task: that future is not a task, even when `block_on` is
/// called from inside one. Restores both afterwards, even if `f` panics.
pub(super) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    scoped(None, f)
}

/// Runs `f` (one poll of task `id`) with a fresh budget and `id` as the
/// current task, restoring both afterwards even if `f` panics.
pub(super) fn with_task_budget<R>(id: Id, f: impl FnOnce() -> R) -> R {
    scoped(Some(id), f)
}

/// Runs `f` (the drop of task `id`'s future) with `id` as the current
/// task and the budget as it is, restoring the task afterwards even if `f`
/// panics.
pub(super) fn with_task_id<R>(id: Id, f: impl FnOnce() -> R) -> R {
    let _restore = CURRENT
        .with(|scope| Restore { budget: scope.budget.get(), task: scope.task.replace(Some(id)) });
    f()
}

/// The task this thread is polling, if any (see [`PollScope::task`]).
pub(crate) fn current_task() -> Option<Id> {
    // `try_with`: asked from a thread-local's destructor, there is no task.
    CURRENT.try_with(|scope| scope.task.get()).ok().flatten()
}

/// The budget left to the current poll, `None` when unconstrained.
#[cfg(all(test, not(loom)))]
fn remaining() -> Option<u8> {
    CURRENT.with(|scope| scope.budget.get())
}

/// Spends one unit of budget, or wakes the task and returns `Pending` when
/// none is left. Resources call this before doing work; if the operation
/// then turns out not to be ready, dropping the returned guard without
/// [`RestoreOnPending::made_progress`] refunds the unit.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    CURRENT.with(|scope| match scope.budget.get() {
        None => Poll::Ready(RestoreOnPending(None)),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            scope.budget.set(Some(n - 1));
            Poll::Ready(RestoreOnPending(Some(n)))
        }
    })
}

/// Refunds a unit of budget on drop unless progress was made.
pub(crate) struct RestoreOnPending(Option<u8>);

impl RestoreOnPending {
    /// The operation succeeded: keep the unit spent.
    pub(crate) fn made_progress(mut self) {
        self.0 = None;
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        if let Some(before) = self.0 {
            CURRENT.with(|scope| scope.budget.set(Some(before)));
        }
    }
}

/// Spends one unit of the task's cooperative budget, yielding to the
/// scheduler first if the budget (128 operations per poll) is exhausted.
///
/// Use it in CPU-bound loops that never otherwise wait:
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let mut sum = 0u64;
/// for i in 0..10_000u64 {
///     weft::task::consume_budget().await;
///     sum += i;
/// }
/// # assert_eq!(sum, 49_995_000);
/// # });
/// ```
pub async fn consume_budget() {
    poll_fn(|cx| {
        let restore = std::task::ready!(poll_proceed(cx));
        restore.made_progress();
        Poll::Ready(())
    })
    .await
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn budget_is_spent_and_refunded() {
        assert_eq!(remaining(), None);
        with_budget(|| {
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            let Poll::Ready(guard) = poll_proceed(&mut cx) else { panic!("fresh budget") };
            assert_eq!(remaining(), Some(BUDGET - 1));
            drop(guard);
            assert_eq!(remaining(), Some(BUDGET), "no progress: refunded");
            for _ in 0..BUDGET {
                let Poll::Ready(guard) = poll_proceed(&mut cx) else { panic!("budget left") };
                guard.made_progress();
            }
            assert!(poll_proceed(&mut cx).is_pending(), "exhausted");
        });
        assert_eq!(remaining(), None, "restored after the poll");
    }

    #[test]
    fn the_current_task_nests_and_is_restored_on_unwind() {
        let (outer, inner) = (Id::next(), Id::next());
        assert_eq!(current_task(), None);
        with_task_budget(outer, || {
            assert_eq!(current_task(), Some(outer));
            // `block_on`'s own future inside a task is not that task.
            with_budget(|| assert_eq!(current_task(), None));
            assert_eq!(current_task(), Some(outer));
            let spent = remaining();
            let unwound = std::panic::catch_unwind(|| {
                with_task_id(inner, || {
                    assert_eq!(current_task(), Some(inner));
                    assert_eq!(remaining(), spent, "a drop scope keeps the budget");
                    panic!("the future's destructor panics")
                })
            });
            assert!(unwound.is_err());
            assert_eq!(current_task(), Some(outer), "restored by the unwind");
        });
        assert_eq!(current_task(), None);
    }
}
