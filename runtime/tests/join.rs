//! `JoinHandle`, `JoinError` and `AbortHandle`: output, panics, aborts.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{panic_message, runtime, wait_until, with_timeout, DropFlag, LONG};
use futures_channel::oneshot;
use weft::task::{yield_now, JoinError};

#[test]
fn join_handle_returns_the_output() {
    with_timeout("output", 30, || {
        let rt = runtime(2);
        assert_eq!(rt.block_on(rt.spawn(async { 42u64 })).unwrap(), 42);
        let v = rt.block_on(rt.spawn(async { vec![1, 2, 3] })).unwrap();
        assert_eq!(v, vec![1, 2, 3]);
        // A task awaiting another task's handle.
        let inner = rt.spawn(async { String::from("inner") });
        let outer = rt.spawn(async move { inner.await.unwrap() + "+outer" });
        assert_eq!(rt.block_on(outer).unwrap(), "inner+outer");
    });
}

#[test]
fn panicking_task_gives_a_panic_join_error_and_runtime_keeps_working() {
    with_timeout("panic", 30, || {
        let rt = runtime(2);
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

#[test]
fn panic_in_a_task_awaited_by_another_task() {
    with_timeout("panic_nested", 30, || {
        let rt = runtime(2);
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

#[test]
fn abort_of_a_pending_task_cancels_and_drops_its_future_first() {
    with_timeout("abort_pending", 30, || {
        let rt = runtime(2);
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

#[test]
fn abort_right_after_spawn_cancels() {
    with_timeout("abort_immediately", 30, || {
        let rt = runtime(2);
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

#[test]
fn abort_of_a_running_task_cancels_at_its_next_yield() {
    with_timeout("abort_running", 30, || {
        let rt = runtime(2);
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
        assert!(wait_until(LONG, || running.load(Ordering::SeqCst)));
        let abort = join.abort_handle();
        // Abort from a foreign thread while the task keeps running.
        thread::spawn(move || abort.abort()).join().unwrap();
        let err = rt.block_on(join).expect_err("aborted task must give Err");
        assert!(err.is_cancelled());
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn abort_after_completion_does_nothing() {
    with_timeout("abort_after_done", 30, || {
        let rt = runtime(2);
        let join = rt.spawn(async { 99u32 });
        assert!(wait_until(LONG, || join.is_finished()), "is_finished never became true");
        join.abort();
        join.abort_handle().abort();
        assert_eq!(rt.block_on(join).unwrap(), 99);
    });
}

#[test]
fn is_finished_tracks_completion() {
    with_timeout("is_finished", 30, || {
        let rt = runtime(2);
        let (tx, rx) = oneshot::channel::<u8>();
        let join = rt.spawn(async move { rx.await.unwrap() });
        let abort = join.abort_handle();
        thread::sleep(Duration::from_millis(20));
        assert!(!join.is_finished());
        assert!(!abort.is_finished());
        tx.send(3).unwrap();
        assert!(wait_until(LONG, || join.is_finished()));
        assert!(abort.is_finished());
        assert_eq!(rt.block_on(join).unwrap(), 3);
    });
}

#[test]
fn abort_handle_outlives_and_clones() {
    with_timeout("abort_handle", 30, || {
        let rt = runtime(2);
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
        assert!(wait_until(LONG, || dropped.load(Ordering::SeqCst)));
        assert!(wait_until(LONG, || abort.is_finished()));
        // Aborting again, and dropping the handles, is harmless.
        abort.abort();
        drop(abort);
        drop(abort2);
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    });
}

#[test]
fn abort_from_another_task() {
    with_timeout("abort_from_task", 30, || {
        let rt = runtime(2);
        let victim = rt.spawn(pending::<()>());
        let abort = victim.abort_handle();
        rt.block_on(rt.spawn(async move { abort.abort() })).unwrap();
        assert!(rt.block_on(victim).unwrap_err().is_cancelled());
    });
}

#[test]
fn join_error_formats() {
    with_timeout("join_error_fmt", 30, || {
        let rt = runtime(1);
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

#[test]
fn dropped_output_of_a_detached_task() {
    // The output of a task whose JoinHandle is gone is dropped exactly once.
    with_timeout("detached_output", 30, || {
        let rt = runtime(2);
        let flags: Vec<_> = (0..100).map(|_| Arc::new(AtomicBool::new(false))).collect();
        for flag in &flags {
            let out = DropFlag(flag.clone());
            drop(rt.spawn(async move { out }));
        }
        assert!(wait_until(LONG, || flags.iter().all(|f| f.load(Ordering::SeqCst))));
    });
}
