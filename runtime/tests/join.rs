//! `JoinHandle`, `JoinError` and `AbortHandle`: output, panics, aborts.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{both_flavors, panic_message, wait_until_async, with_timeout, DropFlag, Flavor, LONG};
use futures_channel::oneshot;
use weft::task::{yield_now, JoinError};

both_flavors!(join_handle_returns_the_output);
fn join_handle_returns_the_output(flavor: Flavor) {
    with_timeout("output", 30, move || {
        let rt = flavor.build();
        assert_eq!(rt.block_on(rt.spawn(async { 42u64 })).unwrap(), 42);
        let v = rt.block_on(rt.spawn(async { vec![1, 2, 3] })).unwrap();
        assert_eq!(v, vec![1, 2, 3]);
        // A task awaiting another task's handle.
        let inner = rt.spawn(async { String::from("inner") });
        let outer = rt.spawn(async move { inner.await.unwrap() + "+outer" });
        assert_eq!(rt.block_on(outer).unwrap(), "inner+outer");
    });
}

both_flavors!(panicking_task_gives_a_panic_join_error_and_runtime_keeps_working);
fn panicking_task_gives_a_panic_join_error_and_runtime_keeps_working(flavor: Flavor) {
    with_timeout("panic", 30, move || {
        let rt = flavor.build();
        for round in 0..3 {
            let err: JoinError = rt
                .block_on(rt.spawn(async move {
                    if round < 100 {
                        panic!("task boom {round}");
                    }
                    5u32
                }))
                .expect_err("a panicking task must give Err");
            assert!(err.is_panic(), "round {round}: {err:?}");
            assert!(!err.is_cancelled(), "round {round}: {err:?}");
            assert!(!err.to_string().is_empty());
            let payload = err.into_panic();
            assert_eq!(panic_message(&*payload), format!("task boom {round}"));

            // A literal message is a `&'static str` payload.
            let err = rt
                .block_on(rt.spawn(async {
                    panic!("plain boom");
                }))
                .expect_err("a panicking task must give Err");
            let payload = err.try_into_panic().expect("is a panic");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"plain boom"));

            // The runtime is still fine: every worker keeps running tasks.
            let joins: Vec<_> = (0..100u32).map(|i| rt.spawn(async move { i })).collect();
            let sum: u32 = rt.block_on(async move {
                let mut sum = 0;
                for join in joins {
                    sum += join.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, 4950);
        }
    });
}

both_flavors!(panic_in_a_task_awaited_by_another_task);
fn panic_in_a_task_awaited_by_another_task(flavor: Flavor) {
    with_timeout("panic_nested", 30, move || {
        let rt = flavor.build();
        let msg = rt
            .block_on(rt.spawn(async {
                let err = weft::spawn(async {
                    panic!("nested boom");
                })
                .await
                .unwrap_err();
                assert!(err.is_panic());
                panic_message(&*err.into_panic())
            }))
            .unwrap();
        assert_eq!(msg, "nested boom");
    });
}

both_flavors!(abort_of_a_pending_task_cancels_and_drops_its_future_first);
fn abort_of_a_pending_task_cancels_and_drops_its_future_first(flavor: Flavor) {
    with_timeout("abort_pending", 30, move || {
        let rt = flavor.build();
        for _ in 0..50 {
            let dropped = Arc::new(AtomicBool::new(false));
            let (started_tx, started_rx) = oneshot::channel::<()>();
            let flag = DropFlag(dropped.clone());
            let join = rt.spawn(async move {
                let _flag = flag;
                started_tx.send(()).unwrap();
                pending::<()>().await;
                7u32
            });
            rt.block_on(async {
                started_rx.await.expect("task never started");
                assert!(!join.is_finished());
                assert!(!dropped.load(Ordering::SeqCst));
                join.abort();
                let err = join.await.expect_err("aborted task must give Err");
                // Checked right after the await: the future is already gone.
                assert!(
                    dropped.load(Ordering::SeqCst),
                    "JoinHandle resolved before the aborted future was dropped"
                );
                assert!(err.is_cancelled(), "{err:?}");
                assert!(!err.is_panic(), "{err:?}");
                assert!(err.try_into_panic().is_err());
            });
        }
    });
}

both_flavors!(abort_right_after_spawn_cancels);
fn abort_right_after_spawn_cancels(flavor: Flavor) {
    with_timeout("abort_immediately", 30, move || {
        let rt = flavor.build();
        for _ in 0..200 {
            let dropped = Arc::new(AtomicBool::new(false));
            let flag = DropFlag(dropped.clone());
            let join = rt.spawn(async move {
                let _flag = flag;
                pending::<()>().await;
            });
            join.abort();
            let err = rt.block_on(join).expect_err("aborted task must give Err");
            assert!(err.is_cancelled());
            assert!(dropped.load(Ordering::SeqCst), "future not dropped");
        }
    });
}

both_flavors!(abort_of_a_running_task_cancels_at_its_next_yield);
fn abort_of_a_running_task_cancels_at_its_next_yield(flavor: Flavor) {
    with_timeout("abort_running", 30, move || {
        let rt = flavor.build();
        let dropped = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let (flag, running2) = (DropFlag(dropped.clone()), running.clone());
        let join = rt.spawn(async move {
            let _flag = flag;
            loop {
                running2.store(true, Ordering::SeqCst);
                yield_now().await;
            }
        });
        let abort = join.abort_handle();
        // Inside block_on, where a current-thread runtime runs the task.
        let err = rt.block_on(async move {
            assert!(wait_until_async(LONG, || running.load(Ordering::SeqCst)).await);
            // Abort from a foreign thread while the task keeps running.
            thread::spawn(move || abort.abort()).join().unwrap();
            join.await.expect_err("aborted task must give Err")
        });
        assert!(err.is_cancelled());
        assert!(dropped.load(Ordering::SeqCst));
    });
}

both_flavors!(abort_after_completion_does_nothing);
fn abort_after_completion_does_nothing(flavor: Flavor) {
    with_timeout("abort_after_done", 30, move || {
        let rt = flavor.build();
        let join = rt.spawn(async { 99u32 });
        assert!(
            rt.block_on(wait_until_async(LONG, || join.is_finished())),
            "is_finished never became true"
        );
        join.abort();
        join.abort_handle().abort();
        assert_eq!(rt.block_on(join).unwrap(), 99);
    });
}

both_flavors!(is_finished_tracks_completion);
fn is_finished_tracks_completion(flavor: Flavor) {
    with_timeout("is_finished", 30, move || {
        let rt = flavor.build();
        let (tx, rx) = oneshot::channel::<u8>();
        let join = rt.spawn(async move { rx.await.unwrap() });
        let abort = join.abort_handle();
        thread::sleep(Duration::from_millis(20));
        assert!(!join.is_finished());
        assert!(!abort.is_finished());
        tx.send(3).unwrap();
        assert!(rt.block_on(wait_until_async(LONG, || join.is_finished())));
        assert!(abort.is_finished());
        assert_eq!(rt.block_on(join).unwrap(), 3);
    });
}

both_flavors!(abort_handle_outlives_and_clones);
fn abort_handle_outlives_and_clones(flavor: Flavor) {
    with_timeout("abort_handle", 30, move || {
        let rt = flavor.build();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let join = rt.spawn(async move {
            let _flag = flag;
            pending::<()>().await;
        });
        let abort = join.abort_handle();
        let abort2 = abort.clone();
        // Detach the task: the abort handle still reaches it.
        drop(join);
        assert!(!abort.is_finished());
        abort2.abort();
        assert!(rt.block_on(wait_until_async(LONG, || dropped.load(Ordering::SeqCst))));
        assert!(rt.block_on(wait_until_async(LONG, || abort.is_finished())));
        // Aborting again, and dropping the handles, is harmless.
        abort.abort();
        drop(abort);
        drop(abort2);
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    });
}

both_flavors!(abort_from_another_task);
fn abort_from_another_task(flavor: Flavor) {
    with_timeout("abort_from_task", 30, move || {
        let rt = flavor.build();
        let victim = rt.spawn(pending::<()>());
        let abort = victim.abort_handle();
        rt.block_on(rt.spawn(async move { abort.abort() })).unwrap();
        assert!(rt.block_on(victim).unwrap_err().is_cancelled());
    });
}

both_flavors!(join_error_formats, multi_thread = [1]);
fn join_error_formats(flavor: Flavor) {
    with_timeout("join_error_fmt", 30, move || {
        let rt = flavor.build();
        let cancelled = rt.spawn(pending::<()>());
        cancelled.abort();
        let cancelled = rt.block_on(cancelled).unwrap_err();
        let panicked = rt
            .block_on(rt.spawn(async {
                panic!("fmt boom");
            }))
            .unwrap_err();
        for err in [cancelled, panicked] {
            assert!(!format!("{err}").is_empty());
            assert!(!format!("{err:?}").is_empty());
            let as_error: &dyn std::error::Error = &err;
            assert!(!as_error.to_string().is_empty());
        }
    });
}

// The output of a task whose JoinHandle is gone is dropped exactly once.
both_flavors!(dropped_output_of_a_detached_task);
fn dropped_output_of_a_detached_task(flavor: Flavor) {
    with_timeout("detached_output", 30, move || {
        let rt = flavor.build();
        let flags: Vec<_> = (0..100).map(|_| Arc::new(AtomicBool::new(false))).collect();
        for flag in &flags {
            let out = DropFlag(flag.clone());
            drop(rt.spawn(async move { out }));
        }
        assert!(
            rt.block_on(wait_until_async(LONG, || flags.iter().all(|f| f.load(Ordering::SeqCst))))
        );
    });
}
