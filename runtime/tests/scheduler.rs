//! Scheduling behaviour: fairness under always-ready tasks and the coop
//! budget. (A worker blocked in a synchronous call: `blocked_worker.rs`.)

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{both_flavors, wait_until_async, with_timeout, Flavor, LONG};
use futures_channel::mpsc as chan;
use futures_util::StreamExt;
use weft::runtime::Handle;
use weft::task::{consume_budget, yield_now};
use weft::time::timeout;

/// Spawns `n` tasks from a foreign thread (so they go through the
/// injector), each sending one message; returns the receiver.
fn spawn_from_outside(handle: &Handle, n: usize) -> chan::UnboundedReceiver<usize> {
    let (tx, rx) = chan::unbounded::<usize>();
    let handle = handle.clone();
    thread::spawn(move || {
        for i in 0..n {
            let tx = tx.clone();
            drop(handle.spawn(async move { tx.unbounded_send(i).unwrap() }));
        }
    })
    .join()
    .unwrap();
    rx
}

/// Waits (inside the runtime, where a current-thread runtime runs its
/// tasks) for `n` messages, failing with `what` if one takes too long.
async fn receive(rx: &mut chan::UnboundedReceiver<usize>, n: usize, what: &str) {
    for _ in 0..n {
        let message = timeout(LONG, rx.next()).await.unwrap_or_else(|_| panic!("{what}"));
        message.expect("every sender dropped before sending");
    }
}

/// While forever-yielding tasks occupy every worker (one per worker), tasks
/// spawned from outside and from inside the yielders still complete.
fn yielders_do_not_starve_others(flavor: Flavor) {
    let workers = flavor.workers();
    with_timeout("yield_fairness", 60, move || {
        let rt = flavor.build();
        let stop = Arc::new(AtomicBool::new(false));
        let yields = Arc::new(AtomicUsize::new(0));
        let (child_tx, mut child_rx) = chan::unbounded::<usize>();
        let yielders: Vec<_> = (0..workers)
            .map(|w| {
                let (stop, yields, child_tx) = (stop.clone(), yields.clone(), child_tx.clone());
                rt.spawn(async move {
                    let mut n = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        if n == 10 {
                            // A child spawned from inside the yielder.
                            let tx = child_tx.clone();
                            drop(weft::spawn(async move { tx.unbounded_send(w).unwrap() }));
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
        rt.block_on(async {
            // Wait until the yielders are really spinning.
            let spinning =
                wait_until_async(LONG, || yields.load(Ordering::Relaxed) >= 100 * workers);
            assert!(spinning.await, "yielders never ran");
            // Tasks from outside, while the yielders keep yielding.
            let mut rx = spawn_from_outside(rt.handle(), 100);
            receive(&mut rx, 100, "a task starved behind forever-yielding tasks").await;
            let what = "a child spawned by a yielder starved behind it";
            for _ in 0..workers {
                let child =
                    timeout(LONG, child_rx.next()).await.unwrap_or_else(|_| panic!("{what}"));
                child.expect("the yielders dropped their sender");
            }
        });
        assert!(!stop.load(Ordering::SeqCst), "the yielders were still running");
        stop.store(true, Ordering::SeqCst);
        for y in yielders {
            assert!(rt.block_on(y).unwrap() > 10);
        }
    });
}

both_flavors!(forever_yielding_task_does_not_starve_others_on_one_worker, multi_thread = [1]);
fn forever_yielding_task_does_not_starve_others_on_one_worker(flavor: Flavor) {
    yielders_do_not_starve_others(flavor);
}

// Multi-thread only: two workers (current-thread has one, covered above).
#[test]
fn forever_yielding_tasks_do_not_starve_others_on_two_workers() {
    yielders_do_not_starve_others(Flavor::MultiThread(2));
}

// Two tasks that keep waking each other (each wake lands in the LIFO slot)
// must not keep the rest of the queue waiting.
both_flavors!(ping_pong_pair_does_not_starve_others_on_one_worker, multi_thread = [1]);
fn ping_pong_pair_does_not_starve_others_on_one_worker(flavor: Flavor) {
    with_timeout("lifo_ping_pong", 60, move || {
        let rt = flavor.build();
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
        rt.block_on(async {
            weft::time::sleep(Duration::from_millis(20)).await;
            let mut rx = spawn_from_outside(rt.handle(), 50);
            receive(&mut rx, 50, "a task starved behind a ping-pong pair").await;
        });
        stop.store(true, Ordering::SeqCst);
        assert!(rt.block_on(a).unwrap() > 0);
        rt.block_on(b).unwrap();
    });
}

both_flavors!(injected_tasks_run_while_the_local_queue_never_empties, multi_thread = [1]);
fn injected_tasks_run_while_the_local_queue_never_empties(flavor: Flavor) {
    with_timeout("global_queue_interval", 60, move || {
        let rt = flavor.builder().global_queue_interval(7).event_interval(11).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // Keeps the worker's local queue busy with freshly spawned tasks.
        let busy = rt.spawn(async move {
            while !s.load(Ordering::SeqCst) {
                drop(weft::spawn(async { yield_now().await }));
                yield_now().await;
            }
        });
        rt.block_on(async {
            weft::time::sleep(Duration::from_millis(20)).await;
            let mut rx = spawn_from_outside(rt.handle(), 50);
            receive(&mut rx, 50, "an injected task starved behind local work").await;
        });
        stop.store(true, Ordering::SeqCst);
        rt.block_on(busy).unwrap();
    });
}

both_flavors!(consume_budget_lets_another_task_run_on_one_worker, multi_thread = [1]);
fn consume_budget_lets_another_task_run_on_one_worker(flavor: Flavor) {
    let (seen_at_start, seen_at_end) = with_timeout("consume_budget", 30, move || {
        let rt = flavor.build();
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
