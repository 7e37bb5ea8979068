//! A worker blocked in a long synchronous call must not hold the task it just
//! woke (which sits in its LIFO slot) hostage: an idle sibling takes it.
//!
//! Kept in its own test binary so no spinning test of another file shares the
//! machine's cores with its one timed assertion.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{watcher_only_runtime, with_timeout, LONG};
use futures_channel::oneshot;

/// How long B waited from its wake to its first poll, while the task that
/// woke it blocked its worker for 500 ms. `spawn_b`: B is spawned by A;
/// otherwise B already waits on a channel and A sends on it.
fn blocked_worker_delay(rt: &weft::runtime::Runtime, spawn_b: bool) -> Duration {
    let (report_tx, report_rx) = mpsc::channel::<Instant>();
    let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
    if spawn_b {
        drop(rt.spawn(async move {
            let report = report_tx;
            let t0 = Instant::now();
            drop(weft::spawn(async move {
                report.send(Instant::now()).unwrap();
            }));
            woke_tx.send(t0).unwrap();
            // A long synchronous call that blocks this worker.
            thread::sleep(Duration::from_millis(500));
        }));
    } else {
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let (tx, rx) = oneshot::channel::<()>();
        drop(rt.spawn(async move {
            ready_tx.send(()).unwrap();
            rx.await.unwrap();
            report_tx.send(Instant::now()).unwrap();
        }));
        ready_rx.recv_timeout(LONG).expect("B never started");
        // Let B reach its await and its worker go idle.
        thread::sleep(Duration::from_millis(50));
        drop(rt.spawn(async move {
            let t0 = Instant::now();
            // Wakes B from inside A's poll, on A's worker.
            tx.send(()).unwrap();
            woke_tx.send(t0).unwrap();
            thread::sleep(Duration::from_millis(500));
        }));
    }
    let t0 = woke_rx.recv_timeout(LONG).expect("A never ran");
    let t1 = report_rx.recv_timeout(LONG).expect("B never ran after A woke it");
    t1.saturating_duration_since(t0)
}

// Multi-thread only: an idle sibling rescuing a blocked worker's LIFO task.
#[test]
fn blocked_worker_does_not_hold_a_woken_task_hostage() {
    // The single timed assertion of the suite: with 2 workers, a task woken
    // (or spawned) by a task that then blocks its worker for 500 ms must run
    // on the other worker within 200 ms.
    let delays = with_timeout("blocked_worker", 60, || {
        let rt = watcher_only_runtime(2);
        let mut delays = Vec::new();
        for round in 0..3 {
            for spawn_b in [true, false] {
                // Let both workers go idle between rounds.
                thread::sleep(Duration::from_millis(600));
                let delay = blocked_worker_delay(&rt, spawn_b);
                delays.push((round, spawn_b, delay));
            }
        }
        delays
    });
    eprintln!("(round, B spawned by A, delay): {delays:?}");
    for (round, spawn_b, delay) in delays {
        let how = if spawn_b { "spawned by A" } else { "woken by A" };
        assert!(
            delay < Duration::from_millis(200),
            "round {round}: B {how} waited {delay:?} while A blocked its worker"
        );
    }
}
