//! Shutdown: every task's future is dropped exactly once, nothing is polled
//! afterwards, and shutdown never hangs on busy or pending tasks.

mod common;

use std::future::{pending, poll_fn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use common::{poll_once, runtime, wait_until, with_timeout, DropCounter, DropFlag, LONG};
use weft::task::yield_now;

const TASKS: usize = 10_000;

/// Spawns `TASKS` never-completing tasks, each holding a drop counter; with
/// `wait_polled` waits until every one has been polled once (so they sit idle,
/// in no queue, when the runtime goes away).
fn spawn_pending(rt: &weft::runtime::Runtime, wait_polled: bool) -> Arc<AtomicUsize> {
    let dropped = Arc::new(AtomicUsize::new(0));
    let polled = Arc::new(AtomicUsize::new(0));
    for _ in 0..TASKS {
        let counter = DropCounter(dropped.clone());
        let polled = polled.clone();
        drop(rt.spawn(async move {
            let _counter = counter;
            polled.fetch_add(1, Ordering::SeqCst);
            pending::<()>().await;
        }));
    }
    if wait_polled {
        assert!(
            wait_until(LONG, || polled.load(Ordering::SeqCst) == TASKS),
            "only {} of {TASKS} tasks were polled",
            polled.load(Ordering::SeqCst)
        );
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "a pending future was dropped early");
    dropped
}

#[test]
fn dropping_the_runtime_drops_10k_idle_pending_tasks() {
    let dropped = with_timeout("drop_10k_idle", 60, || {
        let rt = runtime(2);
        let dropped = spawn_pending(&rt, true);
        drop(rt);
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(dropped, TASKS);
}

#[test]
fn dropping_the_runtime_drops_10k_queued_tasks() {
    // Dropped right after spawning: most tasks are still queued, some may be
    // running; each future is dropped exactly once all the same.
    let dropped = with_timeout("drop_10k_queued", 60, || {
        let rt = runtime(2);
        let dropped = spawn_pending(&rt, false);
        drop(rt);
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(dropped, TASKS);
}

#[test]
fn shutdown_timeout_drops_10k_pending_tasks() {
    for wait_polled in [true, false] {
        let dropped = with_timeout("shutdown_timeout_10k", 60, move || {
            let rt = runtime(2);
            let dropped = spawn_pending(&rt, wait_polled);
            rt.shutdown_timeout(Duration::from_secs(5));
            dropped.load(Ordering::SeqCst)
        });
        assert_eq!(dropped, TASKS, "wait_polled = {wait_polled}");
    }
}

#[test]
fn shutdown_does_not_wait_for_busy_tasks() {
    // Tasks that never stop yielding are dropped at their next yield.
    for workers in [1, 2] {
        let dropped = with_timeout("shutdown_busy", 30, move || {
            let rt = runtime(workers);
            let dropped = Arc::new(AtomicUsize::new(0));
            let running = Arc::new(AtomicUsize::new(0));
            for _ in 0..4 {
                let counter = DropCounter(dropped.clone());
                let running = running.clone();
                drop(rt.spawn(async move {
                    let _counter = counter;
                    running.fetch_add(1, Ordering::SeqCst);
                    loop {
                        yield_now().await;
                    }
                }));
            }
            assert!(wait_until(LONG, || running.load(Ordering::SeqCst) == 4));
            drop(rt);
            dropped.load(Ordering::SeqCst)
        });
        assert_eq!(dropped, 4, "with {workers} workers");
    }
}

#[test]
fn no_task_is_polled_after_shutdown() {
    const N: usize = 1_000;
    with_timeout("no_poll_after_shutdown", 30, || {
        let rt = runtime(2);
        let after = Arc::new(AtomicBool::new(false));
        let late_polls = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));
        let wakers: Arc<Mutex<Vec<Waker>>> = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..N {
            let (after, late_polls, polls, wakers) =
                (after.clone(), late_polls.clone(), polls.clone(), wakers.clone());
            drop(rt.spawn(poll_fn(move |cx| {
                if after.load(Ordering::SeqCst) {
                    late_polls.fetch_add(1, Ordering::SeqCst);
                }
                if polls.fetch_add(1, Ordering::SeqCst) < N {
                    // Keep a waker that outlives the runtime.
                    wakers.lock().unwrap().push(cx.waker().clone());
                }
                Poll::<()>::Pending
            })));
        }
        assert!(wait_until(LONG, || polls.load(Ordering::SeqCst) >= N));
        drop(rt);
        after.store(true, Ordering::SeqCst);
        let polls_at_shutdown = polls.load(Ordering::SeqCst);
        // Waking tasks of a runtime that is gone is harmless and polls nothing.
        let wakers = std::mem::take(&mut *wakers.lock().unwrap());
        assert_eq!(wakers.len(), N);
        for waker in &wakers {
            waker.wake_by_ref();
        }
        for waker in wakers {
            waker.wake();
        }
        thread::sleep(Duration::from_millis(100));
        assert_eq!(late_polls.load(Ordering::SeqCst), 0, "polled after shutdown");
        assert_eq!(polls.load(Ordering::SeqCst), polls_at_shutdown);
    });
}

#[test]
fn foreign_wakes_racing_shutdown() {
    with_timeout("wakes_racing_shutdown", 30, || {
        let rt = runtime(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let wakers: Arc<Mutex<Vec<Waker>>> = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..200 {
            let counter = DropCounter(dropped.clone());
            let wakers = wakers.clone();
            let mut first = true;
            drop(rt.spawn(poll_fn(move |cx| {
                let _keep = &counter;
                if first {
                    first = false;
                    wakers.lock().unwrap().push(cx.waker().clone());
                }
                Poll::<()>::Pending
            })));
        }
        assert!(wait_until(LONG, || wakers.lock().unwrap().len() >= 200));
        let stop = Arc::new(AtomicBool::new(false));
        let wakers_snapshot: Vec<Waker> = wakers.lock().unwrap().clone();
        let threads: Vec<_> = wakers_snapshot
            .chunks(50)
            .map(|chunk| {
                let chunk = chunk.to_vec();
                let stop = stop.clone();
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        for w in &chunk {
                            w.wake_by_ref();
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        drop(rt);
        assert_eq!(dropped.load(Ordering::SeqCst), 200);
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        // The wakers the tasks left behind can still be dropped safely.
        wakers.lock().unwrap().clear();
    });
}

#[test]
fn join_handle_of_a_task_dropped_by_shutdown_reports_cancelled() {
    with_timeout("join_after_shutdown", 30, || {
        let rt = runtime(2);
        let flag = Arc::new(AtomicBool::new(false));
        let f = DropFlag(flag.clone());
        let mut join = rt.spawn(async move {
            let _f = f;
            pending::<()>().await;
        });
        let mut done = rt.spawn(async { 5u32 });
        assert!(wait_until(LONG, || done.is_finished()));
        drop(rt);
        assert!(flag.load(Ordering::SeqCst), "future not dropped by shutdown");
        assert!(join.is_finished(), "task not finished after shutdown");
        match poll_once(&mut join) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled(), "{e:?}"),
            Poll::Ready(Ok(())) => panic!("a never-ending task returned Ok"),
            Poll::Pending => panic!("JoinHandle still pending after shutdown"),
        }
        // A task that finished before shutdown keeps its output.
        match poll_once(&mut done) {
            Poll::Ready(Ok(v)) => assert_eq!(v, 5),
            other => panic!("finished task's output lost at shutdown: {other:?}"),
        }
    });
}

#[test]
fn spawn_on_a_handle_after_shutdown_drops_the_future() {
    with_timeout("spawn_after_shutdown", 30, || {
        let rt = runtime(1);
        let handle = rt.handle().clone();
        drop(rt);
        let flag = Arc::new(AtomicBool::new(false));
        let f = DropFlag(flag.clone());
        let mut join = handle.spawn(async move {
            let _f = f;
            1u8
        });
        assert!(wait_until(LONG, || flag.load(Ordering::SeqCst)));
        match poll_once(&mut join) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled(), "{e:?}"),
            other => panic!("spawn after shutdown gave {other:?}"),
        }
    });
}

#[test]
fn runtime_can_be_dropped_from_a_foreign_thread() {
    with_timeout("drop_elsewhere", 30, || {
        let rt = runtime(2);
        let dropped = spawn_pending(&rt, false);
        thread::spawn(move || drop(rt)).join().unwrap();
        assert_eq!(dropped.load(Ordering::SeqCst), TASKS);
    });
}
