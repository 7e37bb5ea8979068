//! Timers owned by a worker blocked in a long synchronous call still fire on
//! time: an idle sibling fires the due timers of the stuck worker's wheel.
//!
//! Kept in its own test binary so no spinning test of another file shares the
//! machine's cores with its one timed assertion.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{watcher_only_runtime, with_timeout, LONG};
use futures_util::poll;
use weft::time::{sleep, Instant};

const SLEEPS_MS: [u64; 5] = [30, 42, 55, 67, 80];

/// One round: task T creates and first-polls the sleeps (so they register
/// in the wheel of T's worker W), hands each to a waiter task, then blocks
/// W for 300 ms. Returns (requested ms, lateness of the waiter's wake-up).
fn blocked_owner_round(rt: &weft::runtime::Runtime) -> Vec<(u64, Option<Duration>)> {
    let (done_tx, done_rx) = mpsc::channel::<(u64, Instant, Instant)>();
    let (blocked_tx, blocked_rx) = mpsc::channel::<()>();
    drop(rt.spawn(async move {
        let mut sleeps = Vec::new();
        for ms in SLEEPS_MS {
            let mut s = sleep(Duration::from_millis(ms));
            // First poll here, on W: the timer lands in W's wheel.
            assert!(poll!(&mut s).is_pending(), "a {ms} ms sleep was due at once");
            sleeps.push((ms, s));
        }
        for (ms, s) in sleeps {
            let done = done_tx.clone();
            drop(weft::spawn(async move {
                let deadline = s.deadline();
                s.await;
                let completed = Instant::now();
                done.send((ms, deadline, completed)).unwrap();
            }));
        }
        blocked_tx.send(()).unwrap();
        // A long synchronous call that blocks W past every deadline.
        thread::sleep(Duration::from_millis(300));
    }));
    blocked_rx.recv_timeout(LONG).expect("task T never ran");
    let mut results: Vec<_> = (0..SLEEPS_MS.len())
        .map(|_| {
            let (ms, deadline, completed) = done_rx
                .recv_timeout(LONG)
                .expect("a sleep owned by the blocked worker never fired");
            (ms, completed.checked_duration_since(deadline))
        })
        .collect();
    results.sort_by_key(|r| r.0);
    results
}

// Multi-thread only: an idle sibling firing a blocked worker's timers.
#[test]
fn timers_of_a_blocked_worker_fire_on_time() {
    // The timed assertion: with 2 workers, each sleep in the wheel of a
    // worker blocked for 300 ms completes within 20 ms after its deadline
    // (and never before it).
    let rounds = with_timeout("time_blocked", 60, || {
        let rt = watcher_only_runtime(2);
        let mut rounds = Vec::new();
        for round in 0..3 {
            // Let both workers go idle (and W finish its blocking call).
            thread::sleep(Duration::from_millis(400));
            rounds.push((round, blocked_owner_round(&rt)));
        }
        assert_eq!(rt.metrics().num_timers(), 0);
        rounds
    });
    eprintln!("(round, [(sleep ms, completion - deadline)]): {rounds:?}");
    for (round, results) in rounds {
        for (ms, late) in results {
            let late = late.unwrap_or_else(|| {
                panic!("round {round}: the {ms} ms sleep completed before its deadline")
            });
            assert!(
                late < Duration::from_millis(20),
                "round {round}: the {ms} ms sleep completed {late:?} after its deadline \
                 while its worker was blocked"
            );
        }
    }
}
