//! Shutdown: every task's future is dropped exactly once, nothing is polled
//! afterwards, and shutdown never hangs on busy or pending tasks.

mod common;

use std::future::{pending, poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use common::{
    both_flavors, poll_once, wait_until, wait_until_async, with_timeout, DropCounter, DropFlag,
    Flavor, LONG,
};
use weft::task::yield_now;

const TASKS: usize = 10_000;

/// Spawns `TASKS` never-completing tasks, each holding a drop counter; with
/// `wait_polled` waits (in `block_on`, where a current-thread runtime runs
/// them) until every one has been polled once (so they sit idle, in no
/// queue, when the runtime goes away).
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
            rt.block_on(wait_until_async(LONG, || polled.load(Ordering::SeqCst) == TASKS)),
            "only {} of {TASKS} tasks were polled",
            polled.load(Ordering::SeqCst)
        );
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "a pending future was dropped early");
    dropped
}

both_flavors!(dropping_the_runtime_drops_10k_idle_pending_tasks);
fn dropping_the_runtime_drops_10k_idle_pending_tasks(flavor: Flavor) {
    let dropped = with_timeout("drop_10k_idle", 60, move || {
        let rt = flavor.build();
        let dropped = spawn_pending(&rt, true);
        drop(rt);
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(dropped, TASKS);
}

// Dropped right after spawning: most tasks are still queued, some may be
// running; each future is dropped exactly once all the same.
both_flavors!(dropping_the_runtime_drops_10k_queued_tasks);
fn dropping_the_runtime_drops_10k_queued_tasks(flavor: Flavor) {
    let dropped = with_timeout("drop_10k_queued", 60, move || {
        let rt = flavor.build();
        let dropped = spawn_pending(&rt, false);
        drop(rt);
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(dropped, TASKS);
}

both_flavors!(shutdown_timeout_drops_10k_pending_tasks);
fn shutdown_timeout_drops_10k_pending_tasks(flavor: Flavor) {
    for wait_polled in [true, false] {
        let dropped = with_timeout("shutdown_timeout_10k", 60, move || {
            let rt = flavor.build();
            let dropped = spawn_pending(&rt, wait_polled);
            rt.shutdown_timeout(Duration::from_secs(5));
            dropped.load(Ordering::SeqCst)
        });
        assert_eq!(dropped, TASKS, "wait_polled = {wait_polled}");
    }
}

// Tasks that never stop yielding are dropped at their next yield. A thread
// waits in `block_on` for one of them meanwhile: on current-thread it is the
// thread that runs them, so they are busy when the runtime drops.
both_flavors!(shutdown_does_not_wait_for_busy_tasks, multi_thread = [1, 2]);
fn shutdown_does_not_wait_for_busy_tasks(flavor: Flavor) {
    let (dropped, waited) = with_timeout("shutdown_busy", 30, move || {
        let rt = flavor.build();
        let dropped = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let mut joins: Vec<_> = (0..4)
            .map(|_| {
                let counter = DropCounter(dropped.clone());
                let running = running.clone();
                rt.spawn(async move {
                    let _counter = counter;
                    running.fetch_add(1, Ordering::SeqCst);
                    loop {
                        yield_now().await;
                    }
                })
            })
            .collect();
        let first = joins.remove(0);
        drop(joins);
        let handle = rt.handle().clone();
        let waiter = thread::spawn(move || handle.block_on(first));
        assert!(wait_until(LONG, || running.load(Ordering::SeqCst) == 4));
        drop(rt);
        let dropped = dropped.load(Ordering::SeqCst);
        (dropped, waiter.join().expect("the block_on thread panicked"))
    });
    assert_eq!(dropped, 4, "on {}", flavor.name());
    let err = waited.expect_err("a never-ending task returned Ok");
    assert!(err.is_cancelled(), "{err:?}");
}

both_flavors!(no_task_is_polled_after_shutdown);
fn no_task_is_polled_after_shutdown(flavor: Flavor) {
    const N: usize = 1_000;
    with_timeout("no_poll_after_shutdown", 30, move || {
        let rt = flavor.build();
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
        assert!(rt.block_on(wait_until_async(LONG, || polls.load(Ordering::SeqCst) >= N)));
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

// A thread waits in `block_on` for one of the tasks: on current-thread it is
// the thread that polls them while the wakes race the shutdown.
both_flavors!(foreign_wakes_racing_shutdown);
fn foreign_wakes_racing_shutdown(flavor: Flavor) {
    with_timeout("wakes_racing_shutdown", 30, move || {
        let rt = flavor.build();
        let dropped = Arc::new(AtomicUsize::new(0));
        let wakers: Arc<Mutex<Vec<Waker>>> = Arc::new(Mutex::new(Vec::new()));
        let mut joins: Vec<_> = (0..200)
            .map(|_| {
                let counter = DropCounter(dropped.clone());
                let wakers = wakers.clone();
                let mut first = true;
                rt.spawn(poll_fn(move |cx| {
                    let _keep = &counter;
                    if first {
                        first = false;
                        wakers.lock().unwrap().push(cx.waker().clone());
                    }
                    Poll::<()>::Pending
                }))
            })
            .collect();
        let first = joins.remove(0);
        drop(joins);
        let handle = rt.handle().clone();
        let waiter = thread::spawn(move || handle.block_on(first));
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
                        // Still racing the shutdown, but a spinner gives
                        // its core up once per pass: under valgrind, which
                        // runs one thread at a time and favours the one
                        // that just ran, four bare spinners starved the
                        // dropping thread past the test's 30 s limit.
                        thread::yield_now();
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
        let waited = waiter.join().expect("the block_on thread panicked");
        assert!(waited.expect_err("a never-ending task returned Ok").is_cancelled());
        // The wakers the tasks left behind can still be dropped safely.
        wakers.lock().unwrap().clear();
    });
}

both_flavors!(join_handle_of_a_task_dropped_by_shutdown_reports_cancelled);
fn join_handle_of_a_task_dropped_by_shutdown_reports_cancelled(flavor: Flavor) {
    with_timeout("join_after_shutdown", 30, move || {
        let rt = flavor.build();
        let flag = Arc::new(AtomicBool::new(false));
        let f = DropFlag(flag.clone());
        let mut join = rt.spawn(async move {
            let _f = f;
            pending::<()>().await;
        });
        let mut done = rt.spawn(async { 5u32 });
        assert!(rt.block_on(wait_until_async(LONG, || done.is_finished())));
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

both_flavors!(spawn_on_a_handle_after_shutdown_drops_the_future, multi_thread = [1]);
fn spawn_on_a_handle_after_shutdown_drops_the_future(flavor: Flavor) {
    with_timeout("spawn_after_shutdown", 30, move || {
        let rt = flavor.build();
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

both_flavors!(runtime_can_be_dropped_from_a_foreign_thread);
fn runtime_can_be_dropped_from_a_foreign_thread(flavor: Flavor) {
    with_timeout("drop_elsewhere", 30, move || {
        let rt = flavor.build();
        let dropped = spawn_pending(&rt, false);
        thread::spawn(move || drop(rt)).join().unwrap();
        assert_eq!(dropped.load(Ordering::SeqCst), TASKS);
    });
}

both_flavors!(block_on_in_a_task_drop_during_shutdown_panics_instead_of_hanging);
fn block_on_in_a_task_drop_during_shutdown_panics_instead_of_hanging(flavor: Flavor) {
    with_timeout("block_on in Drop at shutdown", 30, move || {
        /// Blocks on a oneshot whose sender lives in another task (maybe
        /// not dropped yet) when dropped.
        struct BlockOnDrop(Option<(weft::runtime::Handle, futures_channel::oneshot::Receiver<()>)>);
        impl Drop for BlockOnDrop {
            fn drop(&mut self) {
                if let Some((handle, rx)) = self.0.take() {
                    let _ = handle.block_on(rx);
                }
            }
        }
        let rt = flavor.build();
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let guard = BlockOnDrop(Some((rt.handle().clone(), rx)));
        let holder = rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let sender = rt.spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        // Let both start (on current-thread they run inside this block_on).
        rt.block_on(async { weft::time::sleep(Duration::from_millis(20)).await });
        // The guard's block_on panics (caught: the task's JoinError), so
        // the drop returns instead of waiting forever.
        drop(rt);
        let holder = common::std_block_on(holder, LONG).expect("the JoinHandle resolves");
        let err = holder.expect_err("the task was dropped at shutdown");
        assert!(err.is_panic(), "the Drop's block_on panicked: {err:?}");
        let message = common::panic_message(&*err.into_panic());
        assert!(message.contains("shutdown"), "unexpected message: {message}");
        drop(sender);
    });
}

both_flavors!(a_block_on_waiting_on_a_timer_panics_when_the_runtime_drops);
fn a_block_on_waiting_on_a_timer_panics_when_the_runtime_drops(flavor: Flavor) {
    with_timeout("block_on timer past shutdown", 30, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        let (registered_tx, registered_rx) = std::sync::mpsc::channel();
        // On current-thread this thread runs the runtime (holds the core);
        // on multi-thread it only waits. Either way the wheel stops with
        // the runtime, and the sleep must not wait for it forever.
        let waiter = thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handle.block_on(async move {
                    let mut sleep = std::pin::pin!(weft::time::sleep(Duration::from_secs(3600)));
                    let _ = futures_util::poll!(sleep.as_mut());
                    registered_tx.send(()).unwrap();
                    sleep.await;
                })
            }))
        });
        registered_rx.recv().unwrap();
        drop(rt);
        let err = waiter.join().unwrap().expect_err("the sleep cannot complete");
        let message = common::panic_message(&*err);
        assert!(message.contains("shut down"), "unexpected message: {message}");
    });
}

/// A `Sleep` polled with a waker whose `wake` panics (any waker a
/// combinator hands it is user code): when the timer fires on a worker,
/// the panic must stay there. It used to unwind out of the worker loop,
/// stranding the core, so dropping the runtime hung.
#[test]
fn a_timer_waker_that_panics_does_not_kill_a_worker() {
    common::with_timeout("panicking timer waker", 60, || {
        let rt = common::runtime(2);
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        drop(rt.spawn(async move {
            let mut sleep = Box::pin(weft::time::sleep(Duration::from_millis(20)));
            {
                let waker = Waker::from(Arc::new(PanicsOnWake(f)));
                let mut cx = std::task::Context::from_waker(&waker);
                assert!(sleep.as_mut().poll(&mut cx).is_pending());
            }
            // Keep the sleep registered while the timer fires.
            weft::time::sleep(Duration::from_millis(200)).await;
            drop(sleep);
        }));
        assert!(common::wait_until(common::LONG, || fired.load(Ordering::SeqCst)));
        // Every worker still runs tasks, and the drop returns.
        for _ in 0..8 {
            assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
        }
        drop(rt);
    });
}

struct PanicsOnWake(Arc<AtomicBool>);

impl std::task::Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
        panic!("a timer's waker panicked");
    }
}

/// `shutdown_timeout` returns while a worker is stuck in a long poll, so
/// the shutdown's last step (which wakes every timer) has not run: a sleep
/// waited on outside the runtime must still be woken (to see the shutdown)
/// instead of waiting on wheels nobody advances.
#[test]
fn a_sleep_after_a_shutdown_timeout_with_a_stuck_worker_is_woken() {
    common::with_timeout("sleep across shutdown_timeout", 60, || {
        let rt = common::runtime(2);
        let handle = rt.handle().clone();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let (entered, is_stuck) = std::sync::mpsc::channel::<()>();
        // Blocks its worker until released (only a test does this).
        drop(rt.spawn(async move {
            entered.send(()).unwrap();
            let _ = stuck.recv();
        }));
        is_stuck.recv().unwrap();
        let woken = Arc::new(AtomicBool::new(false));
        let w = woken.clone();
        // Two sleeps made off the workers, one in each worker's wheel, each
        // polled once with a waker that only records the wake.
        let sleeps = handle.block_on(async move {
            let waker = Waker::from(Arc::new(RecordsWake(w)));
            let mut cx = std::task::Context::from_waker(&waker);
            let mut sleeps = [
                Box::pin(weft::time::sleep(Duration::from_secs(3600))),
                Box::pin(weft::time::sleep(Duration::from_secs(3600))),
            ];
            for sleep in &mut sleeps {
                assert!(sleep.as_mut().poll(&mut cx).is_pending());
            }
            sleeps
        });
        rt.shutdown_timeout(Duration::from_millis(200));
        assert!(
            common::wait_until(common::LONG, || woken.load(Ordering::SeqCst)),
            "a sleep registered before shutdown_timeout was never woken"
        );
        drop(sleeps);
        release.send(()).unwrap();
    });
}

struct RecordsWake(Arc<AtomicBool>);

impl std::task::Wake for RecordsWake {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

both_flavors!(shutdown_background_does_not_wait_for_running_jobs, multi_thread = [1]);
fn shutdown_background_does_not_wait_for_running_jobs(flavor: Flavor) {
    with_timeout("shutdown_background", 30, move || {
        let rt = flavor.builder().max_blocking_threads(1).cpu_threads(1).build().unwrap();
        let (release_blocking, blocking_gate) = std::sync::mpsc::channel::<()>();
        let (release_cpu, cpu_gate) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let started_cpu = started_tx.clone();
        let blocking = rt.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            blocking_gate.recv().unwrap();
        });
        let cpu = rt.spawn_cpu(move || {
            started_cpu.send(()).unwrap();
            cpu_gate.recv().unwrap();
        });
        for _ in 0..2 {
            started.recv_timeout(LONG).expect("both jobs start");
        }
        // The only blocking thread is busy: this one queues.
        let queued = rt.spawn_blocking(|| ());
        let task_dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(task_dropped.clone());
        drop(rt.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await
        }));
        // Both jobs wait for a release that only comes after this returns.
        rt.shutdown_background();
        assert!(wait_until(LONG, || task_dropped.load(Ordering::SeqCst)), "tasks are cancelled");
        let queued = common::std_block_on(queued, LONG).expect("a queued job resolves");
        assert!(queued.unwrap_err().is_cancelled(), "queued jobs are cancelled");
        assert!(!blocking.is_finished() && !cpu.is_finished(), "running jobs are left behind");
        release_blocking.send(()).unwrap();
        release_cpu.send(()).unwrap();
        // Left behind, they still finish on their own.
        assert!(common::std_block_on(blocking, LONG).expect("blocking job finishes").is_ok());
        assert!(common::std_block_on(cpu, LONG).expect("cpu job finishes").is_ok());
    });
}

both_flavors!(shutdown_background_inside_a_task_does_not_panic);
fn shutdown_background_inside_a_task_does_not_panic(flavor: Flavor) {
    with_timeout("shutdown_background_in_task", 30, move || {
        let rt = flavor.build();
        let other = common::runtime(1);
        let other_handle = other.handle().clone();
        // Dropping a runtime on a worker thread panics (it would wait for
        // threads); shutting it down in the background does not wait.
        rt.block_on(rt.spawn(async move { other.shutdown_background() }))
            .expect("shutdown_background inside a task must not panic");
        // It did shut down: a new task there is cancelled at once.
        let late = common::std_block_on(other_handle.spawn(async { 1 }), LONG);
        assert!(late.expect("resolves at once").unwrap_err().is_cancelled());
    });
}
