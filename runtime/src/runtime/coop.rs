//! Cooperative budget: each task poll may perform a bounded number of
//! resource operations (I/O readiness, timers, joins). When the budget is
//! spent, those resources report `Pending` and wake the task, so one
//! always-ready task cannot starve the others on its worker.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Context, Poll};

use crate::loom::thread_local_const;

/// Operations one task poll may perform before resources make it yield.
const BUDGET: u8 = 128;

thread_local_const! {
    /// `None`: unconstrained (outside a task poll).
    static CURRENT: Cell<Option<u8>> = Cell::new(None);
}

/// Runs `f` (one poll) with a fresh budget, restoring the previous budget
/// afterwards even if `f` panics.
pub(super) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u8>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = CURRENT.try_with(|c| c.set(prev));
        }
    }
    let prev = CURRENT.with(|c| c.replace(Some(BUDGET)));
    let _reset = Reset(prev);
    f()
}

/// The budget left to the current poll, `None` when unconstrained.
#[cfg(all(test, not(loom)))]
fn remaining() -> Option<u8> {
    CURRENT.with(Cell::get)
}

/// Spends one unit of budget, or wakes the task and returns `Pending` when
/// none is left. Resources call this before doing work; if the operation
/// then turns out not to be ready, dropping the returned guard without
/// [`RestoreOnPending::made_progress`] refunds the unit.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    CURRENT.with(|cell| match cell.get() {
        None => Poll::Ready(RestoreOnPending(None)),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            cell.set(Some(n - 1));
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
            CURRENT.with(|c| c.set(Some(before)));
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
}
