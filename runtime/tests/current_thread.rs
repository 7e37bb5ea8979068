//! The current-thread flavor: tasks, timers and I/O run on the thread
//! inside `block_on`; other threads spawn through the handle.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{current_thread, expect_panic, with_timeout, DropCounter};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::Handle;

#[test]
fn every_task_runs_on_the_block_on_thread() {
    with_timeout("tasks on the block_on thread", 30, || {
        let rt = current_thread();
        assert_eq!(rt.metrics().num_workers(), 1);
        let me = thread::current().id();
        let seen = rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..200u32 {
                tasks.push(weft::spawn(async move {
                    // A task that spawns and yields, so LIFO, deque and
                    // injector paths all run.
                    let inner = weft::spawn(async move { (i, thread::current().id()) });
                    weft::task::yield_now().await;
                    let (j, inner_thread) = inner.await.unwrap();
                    assert_eq!(i, j);
                    (thread::current().id(), inner_thread)
                }));
            }
            let mut seen = Vec::new();
            for task in tasks {
                seen.push(task.await.unwrap());
            }
            seen
        });
        assert_eq!(seen.len(), 200);
        for (outer, inner) in seen {
            assert_eq!(outer, me, "a task ran off the block_on thread");
            assert_eq!(inner, me, "a nested task ran off the block_on thread");
        }
    });
}

#[test]
fn spawns_from_other_threads_run_inside_block_on() {
    with_timeout("remote spawns", 30, || {
        let rt = current_thread();
        let handle = rt.handle().clone();
        let ran_on = Arc::new(Mutex::new(Vec::new()));
        let me = thread::current().id();
        let total = rt.block_on(async {
            let spawners: Vec<_> = (0..4)
                .map(|_| {
                    let handle = handle.clone();
                    let ran_on = ran_on.clone();
                    thread::spawn(move || {
                        (0..250u64)
                            .map(|i| {
                                let ran_on = ran_on.clone();
                                handle.spawn(async move {
                                    ran_on.lock().unwrap().push(thread::current().id());
                                    i
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut total = 0;
            for spawner in spawners {
                // The spawner threads are plain threads; joining them
                // blocks this thread only briefly (they never wait on us).
                for task in spawner.join().unwrap() {
                    total += task.await.unwrap();
                }
            }
            total
        });
        assert_eq!(total, 4 * (0..250u64).sum::<u64>());
        let ran_on = ran_on.lock().unwrap();
        assert_eq!(ran_on.len(), 1000);
        assert!(ran_on.iter().all(|id| *id == me));
    });
}

#[test]
fn tasks_spawned_between_block_ons_run_in_the_next_one() {
    with_timeout("tasks wait for block_on", 30, || {
        let rt = current_thread();
        let count = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let count = count.clone();
                rt.spawn(async move {
                    count.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        // No thread runs the runtime: nothing has run yet.
        thread::sleep(Duration::from_millis(50));
        assert_eq!(count.load(Ordering::SeqCst), 0);
        rt.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert_eq!(count.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn timers_fire_inside_block_on_and_never_early() {
    with_timeout("timers", 30, || {
        let rt = current_thread();
        rt.block_on(async {
            let start = Instant::now();
            let sleeps: Vec<_> = (1..=50u64)
                .map(|ms| {
                    weft::spawn(async move {
                        let begin = Instant::now();
                        weft::time::sleep(Duration::from_millis(ms)).await;
                        assert!(begin.elapsed() >= Duration::from_millis(ms), "woke early");
                    })
                })
                .collect();
            for sleep in sleeps {
                sleep.await.unwrap();
            }
            assert!(start.elapsed() >= Duration::from_millis(50));
            let late = weft::time::timeout(Duration::from_millis(10), std::future::pending::<()>());
            assert!(late.await.is_err());
        });
    });
}

#[test]
fn tcp_echo_on_one_thread() {
    with_timeout("tcp echo", 30, || {
        let rt = current_thread();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = weft::spawn(async move {
                for _ in 0..20 {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    weft::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        loop {
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                break;
                            }
                            stream.write_all(&buf[..n]).await.unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..20u8)
                .map(|c| {
                    weft::spawn(async move {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        let message = vec![c; 10_000];
                        let mut back = vec![0u8; message.len()];
                        let (mut r, mut w) = stream.split();
                        let (wrote, read) =
                            futures_util::join!(w.write_all(&message), r.read_exact(&mut back));
                        wrote.unwrap();
                        read.unwrap();
                        assert_eq!(back, message);
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
            server.await.unwrap();
        });
    });
}

#[test]
fn spawn_blocking_uses_the_pool_and_block_in_place_is_refused() {
    with_timeout("blocking", 30, || {
        let rt = current_thread();
        let me = thread::current().id();
        let other = rt.block_on(async {
            weft::task::spawn_blocking(|| thread::current().id()).await.unwrap()
        });
        assert_ne!(other, me, "spawn_blocking ran on the block_on thread");
        let message = expect_panic(AssertUnwindSafe(|| {
            rt.block_on(async { weft::task::block_in_place(|| 1) })
        }));
        assert!(message.contains("current-thread"), "unexpected message: {message}");
        // The runtime still works after the refused call.
        assert_eq!(rt.block_on(async { weft::spawn(async { 7 }).await.unwrap() }), 7);
    });
}

#[test]
fn block_on_inside_a_task_panics_and_the_runtime_keeps_working() {
    with_timeout("nested block_on", 30, || {
        let rt = current_thread();
        let handle = rt.handle().clone();
        let result =
            rt.block_on(
                async move { weft::spawn(async move { handle.block_on(async { 1 }) }).await },
            );
        let err = result.expect_err("nested block_on must panic");
        assert!(err.is_panic());
        let message = common::panic_message(&*err.into_panic());
        assert!(message.contains("block_on"), "unexpected message: {message}");
        assert_eq!(rt.block_on(async { 2 }), 2);
    });
}

#[test]
fn two_threads_in_block_on_share_the_runtime() {
    with_timeout("two block_on callers", 30, || {
        let rt = current_thread();
        let handle = rt.handle().clone();
        let other = thread::spawn(move || {
            handle.block_on(async {
                let mut sum = 0u64;
                for i in 0..100u64 {
                    sum += weft::spawn(async move {
                        weft::time::sleep(Duration::from_millis(1)).await;
                        i
                    })
                    .await
                    .unwrap();
                }
                sum
            })
        });
        let mine = rt.block_on(async {
            let mut sum = 0u64;
            for i in 0..100u64 {
                sum += weft::spawn(async move {
                    weft::task::yield_now().await;
                    i
                })
                .await
                .unwrap();
            }
            weft::time::sleep(Duration::from_millis(20)).await;
            sum
        });
        assert_eq!(mine, 4950);
        // The other caller finishes on its own, taking the core once this
        // block_on returned it (or running alongside before that).
        assert_eq!(other.join().unwrap(), 4950);
    });
}

#[test]
fn drop_cancels_every_task_exactly_once() {
    with_timeout("drop", 30, || {
        let rt = current_thread();
        let drops = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            for _ in 0..1000 {
                let guard = DropCounter(drops.clone());
                weft::spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                });
            }
            // Let them all start and park.
            weft::task::yield_now().await;
        });
        for _ in 0..1000 {
            let guard = DropCounter(drops.clone());
            // Never polled: queued in the injector when the runtime drops.
            rt.spawn(async move {
                let _guard = guard;
            });
        }
        drop(rt);
        assert_eq!(drops.load(Ordering::SeqCst), 2000);
    });
}

#[test]
fn shutdown_while_another_thread_is_in_block_on() {
    with_timeout("shutdown racing block_on", 30, || {
        let rt = current_thread();
        let handle = rt.handle().clone();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let waiter = thread::spawn(move || {
            handle.block_on(async move {
                let task = weft::spawn(std::future::pending::<()>());
                started_tx.send(()).unwrap();
                task.await
            })
        });
        started_rx.recv().unwrap();
        rt.shutdown_timeout(Duration::from_secs(10));
        let result = waiter.join().unwrap();
        assert!(result.expect_err("the task was dropped at shutdown").is_cancelled());
    });
}

#[test]
fn handle_current_inside_block_on() {
    with_timeout("handle", 10, || {
        let rt = current_thread();
        let workers = rt.block_on(async { Handle::current().metrics().num_workers() });
        assert_eq!(workers, 1);
    });
}

#[test]
fn a_panicking_block_on_future_leaves_the_runtime_usable() {
    with_timeout("panicking main future", 30, || {
        let rt = current_thread();
        let message = expect_panic(AssertUnwindSafe(|| {
            rt.block_on(async {
                // Tasks queued when the main future panics stay queued.
                weft::spawn(async {});
                panic!("main future failed");
            })
        }));
        assert!(message.contains("main future failed"));
        let value = rt.block_on(async { weft::spawn(async { 5 }).await.unwrap() });
        assert_eq!(value, 5);
    });
}

#[test]
fn a_timer_awaited_past_shutdown_panics_instead_of_hanging() {
    with_timeout("timer after shutdown", 30, || {
        let rt = current_thread();
        let (holder, sleeper) = (rt.handle().clone(), rt.handle().clone());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        // One thread holds the core in block_on...
        let core_holder = thread::spawn(move || {
            holder.block_on(async move {
                let task = weft::spawn(std::future::pending::<()>());
                started_tx.send(()).unwrap();
                let _ = task.await;
            })
        });
        started_rx.recv().unwrap();
        // ...while another waits on a timer without it.
        let (registered_tx, registered_rx) = std::sync::mpsc::channel();
        let waiter = thread::spawn(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                sleeper.block_on(async move {
                    let sleep = weft::time::sleep(Duration::from_secs(3600));
                    let mut sleep = std::pin::pin!(sleep);
                    // Poll once so the timer is in the wheel, then report.
                    let _ = futures_util::poll!(sleep.as_mut());
                    registered_tx.send(()).unwrap();
                    sleep.await;
                })
            }))
        });
        registered_rx.recv().unwrap();
        drop(rt);
        core_holder.join().unwrap();
        let err = waiter.join().unwrap().expect_err("the sleep cannot complete");
        let message = common::panic_message(&*err);
        assert!(message.contains("shut down"), "unexpected message: {message}");
    });
}
