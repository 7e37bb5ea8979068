//! `task_local!`: a value that follows its task across polls and workers,
//! and is visible nowhere else.

mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{both_flavors, with_timeout, Flavor};
use futures_channel::oneshot;
use weft::task::{yield_now, TaskLocalFuture};

weft::task_local! {
    static ID: usize;
    /// Doc comments and visibility pass through.
    pub(crate) static NAME: String;
}

both_flavors!(each_task_sees_its_own_value_across_yields, multi_thread = [1, 2, 4]);
fn each_task_sees_its_own_value_across_yields(flavor: Flavor) {
    const TASKS: usize = 200;
    with_timeout("own_value", 60, move || {
        let rt = flavor.build();
        let checks = Arc::new(AtomicUsize::new(0));
        let joins: Vec<_> = (0..TASKS)
            .map(|i| {
                let checks = checks.clone();
                rt.spawn(ID.scope(i, async move {
                    for _ in 0..20 {
                        // Each yield lets other tasks (with other values)
                        // run on this worker, and a steal may move this one.
                        yield_now().await;
                        assert_eq!(ID.get(), i);
                        checks.fetch_add(1, Ordering::Relaxed);
                    }
                    ID.get()
                }))
            })
            .collect();
        rt.block_on(async {
            for (i, join) in joins.into_iter().enumerate() {
                assert_eq!(join.await.unwrap(), i);
            }
        });
        assert_eq!(checks.load(Ordering::Relaxed), TASKS * 20);
    });
}

// While a scoped task waits, the worker runs an unscoped one: it must not
// see the waiting task's value (the value is lent for one poll only).
both_flavors!(a_waiting_scope_is_invisible_to_other_tasks);
fn a_waiting_scope_is_invisible_to_other_tasks(flavor: Flavor) {
    with_timeout("invisible", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let (tx, rx) = oneshot::channel::<()>();
            let scoped = weft::spawn(ID.scope(7, async move {
                rx.await.unwrap();
                ID.get()
            }));
            let unscoped = weft::spawn(async {
                yield_now().await;
                ID.try_with(|v| *v)
            });
            assert!(unscoped.await.unwrap().is_err(), "an unscoped task saw a value");
            assert!(ID.try_with(|_| ()).is_err(), "block_on's future saw a value");
            tx.send(()).unwrap();
            assert_eq!(scoped.await.unwrap(), 7);
        });
    });
}

#[weft::test]
async fn scopes_nest_and_restore_the_outer_value() {
    let inner_outer = ID
        .scope(1, async {
            let inner = ID.scope(2, async {
                yield_now().await;
                ID.get()
            });
            let inner = inner.await;
            (inner, ID.get())
        })
        .await;
    assert_eq!(inner_outer, (2, 1));
    assert!(ID.try_with(|_| ()).is_err());
    assert!(ID.try_get().is_err());
    assert_eq!(ID.scope(4, async { ID.try_get() }).await, Ok(4));
    let both = NAME.scope("n".to_string(), ID.scope(3, async { (NAME.get(), ID.get()) })).await;
    assert_eq!(both, ("n".to_string(), 3));
}

/// Reads `ID` in its destructor.
struct ReadsIdOnDrop(Arc<AtomicUsize>);

impl Drop for ReadsIdOnDrop {
    fn drop(&mut self) {
        let seen = ID.try_with(|v| *v).unwrap_or(usize::MAX);
        self.0.store(seen, Ordering::SeqCst);
    }
}

// A future dropped unfinished (an abort, a dropped scope) is dropped inside
// its scope: its destructors see the value, as its polls did.
both_flavors!(a_cancelled_scope_drops_its_future_inside_the_scope);
fn a_cancelled_scope_drops_its_future_inside_the_scope(flavor: Flavor) {
    with_timeout("drop_in_scope", 30, move || {
        let rt = flavor.build();
        let seen = Arc::new(AtomicUsize::new(0));
        let probe = ReadsIdOnDrop(seen.clone());
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let task = rt.spawn(ID.scope(42, async move {
            let _probe = probe;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        }));
        rt.block_on(async {
            started_rx.await.unwrap();
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        });
        assert_eq!(seen.load(Ordering::SeqCst), 42);

        // Dropped before its first poll, and after it completed.
        let seen = Arc::new(AtomicUsize::new(0));
        drop(ID.scope(5, {
            let probe = ReadsIdOnDrop(seen.clone());
            async move {
                let _probe = probe;
            }
        }));
        assert_eq!(seen.load(Ordering::SeqCst), 5);
        let seen = Arc::new(AtomicUsize::new(0));
        let probe = ReadsIdOnDrop(seen.clone());
        rt.block_on(ID.scope(6, async move { drop(probe) }));
        assert_eq!(seen.load(Ordering::SeqCst), 6);
    });
}

#[test]
fn a_panicking_poll_or_closure_leaves_the_key_unset() {
    let caught = panic::catch_unwind(|| ID.sync_scope(9, || panic!("boom")));
    assert!(caught.is_err());
    assert!(ID.try_with(|_| ()).is_err(), "the panic left the value set");

    let rt = weft::runtime::Builder::new_current_thread().build().unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(ID.scope(10, async {
            yield_now().await;
            panic!("boom in a poll");
        }))
    }));
    assert!(caught.is_err());
    assert!(ID.try_with(|_| ()).is_err(), "the panic left the value set");
    // The key still works afterwards.
    assert_eq!(ID.sync_scope(11, || ID.get()), 11);
}

#[test]
fn sync_scope_shares_the_key_with_scope() {
    let rt = weft::runtime::Builder::new_current_thread().build().unwrap();
    let got = ID.sync_scope(1, || {
        let outer = ID.get();
        // A scope inside a sync scope shadows it for its polls only.
        let inner = rt.block_on(ID.scope(2, async { ID.get() }));
        (outer, inner, ID.get())
    });
    assert_eq!(got, (1, 2, 1));
    let with_nested = NAME.sync_scope("a".into(), || NAME.with(|a| NAME.with(|b| a.clone() + b)));
    assert_eq!(with_nested, "aa");
}

#[test]
#[should_panic(expected = "cannot access a task-local value without setting it first")]
fn with_outside_a_scope_panics_clearly() {
    ID.with(|_| ());
}

#[test]
#[should_panic(expected = "while the task-local value is borrowed")]
fn a_scope_inside_with_on_the_same_key_panics_clearly() {
    ID.sync_scope(1, || ID.with(|_| ID.sync_scope(2, || ())));
}

#[weft::test]
async fn take_value_gives_the_value_back() {
    let mut fut: std::pin::Pin<Box<TaskLocalFuture<String, _>>> =
        Box::pin(NAME.scope("taken".to_string(), async { NAME.try_with(|n| n.clone()) }));
    assert_eq!(fut.as_mut().take_value().as_deref(), Some("taken"));
    assert_eq!(fut.as_mut().take_value(), None);
    // Polled without its value, the inner future sees the key unset.
    assert!(fut.await.is_err());
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_completion_panics() {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = Box::pin(ID.scope(1, async {}));
    assert!(fut.as_mut().poll(&mut cx).is_ready());
    let _ = fut.as_mut().poll(&mut cx);
}
