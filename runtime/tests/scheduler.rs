//! Scheduling behaviour: fairness under always-ready tasks and the coop
//! budget. (A worker blocked in a synchronous call: `blocked_worker.rs`.)

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{runtime, with_timeout, LONG};
use futures_channel::mpsc as chan;
use futures_util::StreamExt;
use weft::runtime::Builder;
use weft::task::{consume_budget, yield_now};

/// While `workers` forever-yielding tasks occupy every worker, tasks spawned
/// from outside and from inside the yielders still complete.
fn yielders_do_not_starve_others(workers: usize) {
    with_timeout("yield_fairness", 60, move || {
        let rt = runtime(workers);
        let stop = Arc::new(AtomicBool::new(false));
        let yields = Arc::new(AtomicUsize::new(0));
        let (child_tx, child_rx) = mpsc::channel::<usize>();
        let yielders: Vec<_> = (0..workers)
            .map(|w| {
                let (stop, yields, child_tx) = (stop.clone(), yields.clone(), child_tx.clone());
                rt.spawn(async move {
                    let mut n = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        if n == 10 {
                            // A child spawned from inside the yielder.
                            let tx = child_tx.clone();
                            drop(weft::spawn(async move { tx.send(w).unwrap() }));
                        }
                        n += 1;
                        yields.fetch_add(1, Ordering::Relaxed);
                        yield_now().await;
                    }
                    n
                })
            })
            .collect();
        drop(child_tx);
        // Wait until the yielders are really spinning.
        let deadline = Instant::now() + LONG;
        while yields.load(Ordering::Relaxed) < 100 * workers {
            assert!(Instant::now() < deadline, "yielders never ran");
            thread::sleep(Duration::from_millis(1));
        }
        // Tasks from outside, while the yielders keep yielding.
        let (tx, rx) = mpsc::channel::<usize>();
        for i in 0..100 {
            let tx = tx.clone();
            drop(rt.spawn(async move { tx.send(i).unwrap() }));
        }
        for _ in 0..100 {
            rx.recv_timeout(LONG).expect("a task starved behind forever-yielding tasks");
        }
        for _ in 0..workers {
            child_rx.recv_timeout(LONG).expect("a child spawned by a yielder starved behind it");
        }
        assert!(!stop.load(Ordering::SeqCst), "the yielders were still running");
        stop.store(true, Ordering::SeqCst);
        for y in yielders {
            assert!(rt.block_on(y).unwrap() > 10);
        }
    });
}

#[test]
fn forever_yielding_task_does_not_starve_others_on_one_worker() {
    yielders_do_not_starve_others(1);
}

#[test]
fn forever_yielding_tasks_do_not_starve_others_on_two_workers() {
    yielders_do_not_starve_others(2);
}

#[test]
fn ping_pong_pair_does_not_starve_others_on_one_worker() {
    // Two tasks that keep waking each other (each wake lands in the LIFO
    // slot) must not keep the rest of the queue waiting.
    with_timeout("lifo_ping_pong", 60, || {
        let rt = runtime(1);
        let stop = Arc::new(AtomicBool::new(false));
        let (a_tx, mut a_rx) = chan::unbounded::<()>();
        let (b_tx, mut b_rx) = chan::unbounded::<()>();
        let s = stop.clone();
        let a = rt.spawn(async move {
            let mut rounds = 0u64;
            while !s.load(Ordering::SeqCst) {
                b_tx.unbounded_send(()).unwrap();
                a_rx.next().await.unwrap();
                rounds += 1;
            }
            drop(b_tx);
            rounds
        });
        let b = rt.spawn(async move {
            while let Some(()) = b_rx.next().await {
                if a_tx.unbounded_send(()).is_err() {
                    break;
                }
            }
        });
        thread::sleep(Duration::from_millis(20));
        let (tx, rx) = mpsc::channel::<()>();
        for _ in 0..50 {
            let tx = tx.clone();
            drop(rt.spawn(async move { tx.send(()).unwrap() }));
        }
        for _ in 0..50 {
            rx.recv_timeout(LONG).expect("a task starved behind a ping-pong pair");
        }
        stop.store(true, Ordering::SeqCst);
        assert!(rt.block_on(a).unwrap() > 0);
        rt.block_on(b).unwrap();
    });
}

#[test]
fn injected_tasks_run_while_the_local_queue_never_empties() {
    with_timeout("global_queue_interval", 60, || {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .global_queue_interval(7)
            .event_interval(11)
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // Keeps the worker's local queue busy with freshly spawned tasks.
        let busy = rt.spawn(async move {
            while !s.load(Ordering::SeqCst) {
                drop(weft::spawn(async { yield_now().await }));
                yield_now().await;
            }
        });
        thread::sleep(Duration::from_millis(20));
        let (tx, rx) = mpsc::channel::<()>();
        for _ in 0..50 {
            let tx = tx.clone();
            drop(rt.spawn(async move { tx.send(()).unwrap() }));
        }
        for _ in 0..50 {
            rx.recv_timeout(LONG).expect("an injected task starved behind local work");
        }
        stop.store(true, Ordering::SeqCst);
        rt.block_on(busy).unwrap();
    });
}

#[test]
fn consume_budget_lets_another_task_run_on_one_worker() {
    let (seen_at_start, seen_at_end) = with_timeout("consume_budget", 30, || {
        let rt = runtime(1);
        let progress = Arc::new(AtomicUsize::new(0));
        let a_done = Arc::new(AtomicBool::new(false));
        rt.block_on(rt.spawn(async move {
            // B is spawned from A, on A's worker; it cannot run until A
            // gives the worker up.
            let (p, d) = (progress.clone(), a_done.clone());
            let b = weft::spawn(async move {
                while !d.load(Ordering::SeqCst) {
                    p.fetch_add(1, Ordering::SeqCst);
                    yield_now().await;
                }
            });
            let seen_at_start = progress.load(Ordering::SeqCst);
            // Only consume_budget awaits here: every 128 of them the budget
            // runs out and A has to yield.
            for _ in 0..1_000 {
                consume_budget().await;
            }
            let seen_at_end = progress.load(Ordering::SeqCst);
            a_done.store(true, Ordering::SeqCst);
            b.await.unwrap();
            (seen_at_start, seen_at_end)
        }))
        .unwrap()
    });
    assert_eq!(seen_at_start, 0, "B ran before A yielded on one worker");
    assert!(seen_at_end > 0, "B never ran while A looped over consume_budget 1000 times");
}
