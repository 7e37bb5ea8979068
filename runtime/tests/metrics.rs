//! `RuntimeMetrics`: counts that add up. Counters may be updated just after a
//! task's JoinHandle is woken, so the checks wait (with a bound) for them.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{both_flavors, runtime, wait_until, wait_until_async, with_timeout, Flavor, LONG};
use weft::runtime::RuntimeMetrics;

fn total_polls(m: &RuntimeMetrics) -> u64 {
    (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum()
}

// A current-thread runtime has one worker: the thread inside block_on.
both_flavors!(num_workers_matches_the_builder, multi_thread = [1, 2, 3]);
fn num_workers_matches_the_builder(flavor: Flavor) {
    with_timeout("num_workers", 30, move || {
        let rt = flavor.build();
        let workers = match flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread(workers) => workers,
        };
        assert_eq!(rt.metrics().num_workers(), workers);
        assert_eq!(rt.handle().metrics().num_workers(), workers);
        let in_block_on = rt.block_on(async { weft::runtime::Handle::current().metrics() });
        assert_eq!(in_block_on.num_workers(), workers);
    });
}

both_flavors!(poll_counts_cover_every_spawned_task);
fn poll_counts_cover_every_spawned_task(flavor: Flavor) {
    const TASKS: u64 = 2_000;
    with_timeout("poll_counts", 30, move || {
        let rt = flavor.build();
        let before = total_polls(&rt.metrics());
        let joins: Vec<_> = (0..TASKS).map(|i| rt.spawn(async move { i })).collect();
        rt.block_on(async move {
            for j in joins {
                j.await.unwrap();
            }
        });
        let metrics = rt.metrics();
        assert!(
            rt.block_on(wait_until_async(LONG, || total_polls(&metrics) - before >= TASKS)),
            "per-worker poll counts sum to {} for {TASKS} tasks",
            total_polls(&metrics) - before
        );
        // A fresh snapshot agrees.
        assert!(total_polls(&rt.metrics()) - before >= TASKS);
    });
}

both_flavors!(num_alive_tasks_returns_to_zero);
fn num_alive_tasks_returns_to_zero(flavor: Flavor) {
    with_timeout("alive_tasks", 30, move || {
        let rt = flavor.build();
        assert_eq!(rt.metrics().num_alive_tasks(), 0);
        let pending_tasks: Vec<_> = (0..10).map(|_| rt.spawn(pending::<()>())).collect();
        assert_eq!(rt.metrics().num_alive_tasks(), 10);
        let joins: Vec<_> = (0..500u32).map(|i| rt.spawn(async move { i })).collect();
        rt.block_on(async move {
            for j in joins {
                j.await.unwrap();
            }
        });
        let metrics = rt.handle().metrics();
        assert!(
            rt.block_on(wait_until_async(LONG, || metrics.num_alive_tasks() == 10)),
            "{} tasks alive with 10 pending",
            metrics.num_alive_tasks()
        );
        for t in &pending_tasks {
            t.abort();
        }
        rt.block_on(async move {
            for t in pending_tasks {
                assert!(t.await.unwrap_err().is_cancelled());
            }
        });
        assert!(
            rt.block_on(wait_until_async(LONG, || metrics.num_alive_tasks() == 0)),
            "{} tasks alive after every task was joined",
            metrics.num_alive_tasks()
        );
    });
}

both_flavors!(queue_depths_are_readable_and_drain);
fn queue_depths_are_readable_and_drain(flavor: Flavor) {
    with_timeout("queue_depths", 30, move || {
        let rt = flavor.build();
        let metrics = rt.metrics();
        for w in 0..metrics.num_workers() {
            let _depth: usize = metrics.worker_local_queue_depth(w);
            let _steals: u64 = metrics.worker_steal_count(w);
            let _parks: u64 = metrics.worker_park_count(w);
        }
        let _injected: usize = metrics.injector_depth();
        let joins: Vec<_> = (0..1000u32).map(|i| rt.spawn(async move { i })).collect();
        if flavor.is_current_thread() {
            // Nothing runs them before block_on: they all wait in the injector.
            assert_eq!(rt.metrics().injector_depth(), 1000);
            assert_eq!(rt.metrics().global_queue_depth(), 1000, "Tokio's name, the same count");
            assert_eq!(rt.metrics().worker_local_queue_depth(0), 0);
        }
        rt.block_on(async move {
            for j in joins {
                j.await.unwrap();
            }
        });
        let idle = |m: &RuntimeMetrics| {
            m.injector_depth() == 0
                && m.global_queue_depth() == 0
                && (0..m.num_workers()).all(|w| m.worker_local_queue_depth(w) == 0)
        };
        assert!(
            rt.block_on(wait_until_async(LONG, || idle(&rt.metrics()))),
            "queues not empty on an idle runtime"
        );
    });
}

// On current-thread, the thread inside block_on parks while it waits.
both_flavors!(idle_workers_park);
fn idle_workers_park(flavor: Flavor) {
    with_timeout("park_counts", 30, move || {
        let rt = flavor.build();
        rt.block_on(rt.spawn(async {})).unwrap();
        let parks = |m: &RuntimeMetrics| -> u64 {
            (0..m.num_workers()).map(|w| m.worker_park_count(w)).sum()
        };
        assert!(
            rt.block_on(wait_until_async(LONG, || parks(&rt.metrics()) > 0)),
            "no worker ever parked on an idle runtime"
        );
    });
}

// Multi-thread only: stealing between workers.
#[test]
fn work_is_stolen_from_a_blocked_worker() {
    with_timeout("steal_counts", 30, || {
        let rt = runtime(2);
        let metrics = rt.metrics();
        let steals = |m: &RuntimeMetrics| -> u64 {
            (0..m.num_workers()).map(|w| m.worker_steal_count(w)).sum()
        };
        let before = steals(&metrics);
        let all_ran = Arc::new(AtomicBool::new(false));
        let flag = all_ran.clone();
        rt.block_on(rt.spawn(async move {
            // Children land in this worker's queue, then the worker blocks:
            // the other worker has to steal them.
            let children: Vec<_> = (0..64).map(|i| weft::spawn(async move { i })).collect();
            // Block (without yielding) until they are done, within a
            // generous bound.
            let children_done = wait_until(LONG, || children.iter().all(|c| c.is_finished()));
            flag.store(children_done, Ordering::SeqCst);
            for c in children {
                c.await.unwrap();
            }
        }))
        .unwrap();
        assert!(
            all_ran.load(Ordering::SeqCst),
            "children of a blocked worker were not run by its sibling"
        );
        assert!(wait_until(LONG, || steals(&rt.metrics()) > before), "no steal counted");
    });
}

both_flavors!(a_joined_task_is_no_longer_counted_alive);
fn a_joined_task_is_no_longer_counted_alive(flavor: Flavor) {
    with_timeout("joined not alive", 30, move || {
        let rt = flavor.build();
        for i in 0..200u32 {
            let value = rt.block_on(rt.spawn(async move { i })).unwrap();
            assert_eq!(value, i);
            // The task left the owned list before its JoinHandle was woken.
            assert_eq!(rt.metrics().num_alive_tasks(), 0, "round {i}");
        }
    });
}

/// The poll-time histogram: off unless enabled; when enabled, each poll is
/// counted once in the bucket of its duration, and the buckets tile
/// [0, ∞) in doubling steps from 1 µs.
#[test]
fn poll_time_histogram_counts_each_poll_in_its_bucket() {
    with_timeout("poll-time histogram", 20, || {
        let off = runtime(1);
        assert!(off.metrics().worker_poll_time_histogram(0).is_none(), "off by default");

        let rt = weft::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_poll_time_histogram()
            .build()
            .unwrap();
        rt.block_on(async {
            // One poll of about 3 ms, then 100 short ones.
            weft::spawn(async { std::thread::sleep(std::time::Duration::from_millis(3)) })
                .await
                .unwrap();
            for _ in 0..100 {
                weft::spawn(async {}).await.unwrap();
            }
        });
        let metrics = rt.metrics();
        // Polls are counted once they return: shut down to see them all.
        drop(rt);
        let h = metrics.worker_poll_time_histogram(0).unwrap();
        assert_eq!(h.num_buckets(), 22);
        let mut end = std::time::Duration::ZERO;
        for (i, (range, _)) in h.buckets().enumerate() {
            assert_eq!(range.start, end, "bucket {i} starts where the last ended");
            end = range.end;
        }
        assert_eq!(end, std::time::Duration::MAX);
        assert_eq!(
            h.bucket_range(1),
            std::time::Duration::from_micros(1)..std::time::Duration::from_micros(2)
        );
        let total: u64 = h.buckets().map(|(_, count)| count).sum();
        assert_eq!(total, metrics.worker_poll_count(0), "every poll counted once");
        let long: u64 = h
            .buckets()
            .filter(|(range, _)| range.end > std::time::Duration::from_millis(2))
            .map(|(_, count)| count)
            .sum();
        assert!(long >= 1, "the 3 ms poll is in a bucket reaching past 2 ms: {h:?}");
    });
}

/// A runtime of `flavor` with the schedule-latency histogram on.
fn latency_runtime(flavor: Flavor) -> weft::runtime::Runtime {
    flavor
        .builder()
        .enable_schedule_latency_histogram()
        .build()
        .expect("building a runtime with valid settings must succeed")
}

both_flavors!(schedule_latency_histogram_is_off_unless_enabled);
fn schedule_latency_histogram_is_off_unless_enabled(flavor: Flavor) {
    with_timeout("schedule latency off", 20, move || {
        let off = flavor.build();
        let poll_times_only = flavor.builder().enable_poll_time_histogram().build().unwrap();
        for rt in [&off, &poll_times_only] {
            rt.block_on(rt.spawn(async {})).unwrap();
            for w in 0..flavor.workers() {
                assert!(rt.metrics().worker_schedule_latency_histogram(w).is_none());
            }
        }
        assert!(poll_times_only.metrics().worker_poll_time_histogram(0).is_some());
        let on = latency_runtime(flavor);
        assert!(on.metrics().worker_poll_time_histogram(0).is_none(), "enables only itself");
        assert!(on.metrics().worker_schedule_latency_histogram(0).is_some());
    });
}

// Every poll of a task follows a schedule (spawn, wake or yield), and
// the worker that polls it counts the wait once, just before the poll:
// each worker's histogram counts exactly its polls.
both_flavors!(schedule_latency_counts_each_poll_once, multi_thread = [1, 3]);
fn schedule_latency_counts_each_poll_once(flavor: Flavor) {
    const TASKS: u64 = 500;
    with_timeout("schedule latency counts", 30, move || {
        let rt = latency_runtime(flavor);
        let metrics = rt.metrics();
        rt.block_on(async {
            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            // Woken from another task.
            let woken = weft::spawn(async move { rx.await.unwrap() });
            let joins: Vec<_> = (0..TASKS)
                .map(|i| {
                    weft::spawn(async move {
                        // Re-scheduled by its own wake.
                        weft::task::yield_now().await;
                        i
                    })
                })
                .collect();
            weft::spawn(async move { tx.send(()).unwrap() }).await.unwrap();
            for j in joins {
                j.await.unwrap();
            }
            woken.await.unwrap();
        });
        // Shut down so every worker is done counting.
        drop(rt);
        let mut total = 0;
        for w in 0..flavor.workers() {
            let h = metrics.worker_schedule_latency_histogram(w).unwrap();
            assert_eq!(h.total(), metrics.worker_poll_count(w), "worker {w}: {h:?}");
            total += h.total();
        }
        // Two polls per yielding task, one or two for the woken one (it
        // may find the message on its first), one for the sender.
        assert!(total >= 2 * TASKS + 2, "{total} polls of {TASKS} yielding tasks and 2 more");
    });
}

// A task woken while the only worker is busy waits at least as long as
// the busy poll, and is counted in a bucket that says so.
both_flavors!(a_task_woken_behind_a_busy_poll_waits_for_it, multi_thread = [1]);
fn a_task_woken_behind_a_busy_poll_waits_for_it(flavor: Flavor) {
    const BUSY: std::time::Duration = std::time::Duration::from_millis(20);
    with_timeout("schedule latency of a woken task", 30, move || {
        // No stall monitor: the woken task is polled by the busy worker
        // itself, never rescued by another thread.
        let rt = flavor
            .builder()
            .enable_schedule_latency_histogram()
            .stall_threshold(None)
            .build()
            .unwrap();
        let metrics = rt.metrics();
        rt.block_on(async {
            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            let waiting = Arc::new(AtomicBool::new(false));
            let flag = waiting.clone();
            let woken = weft::spawn(async move {
                flag.store(true, Ordering::SeqCst);
                rx.await.unwrap();
            });
            // Its first poll ended (the one worker ran it to its await)
            // before the busy task below can start.
            assert!(wait_until_async(LONG, || waiting.load(Ordering::SeqCst)).await);
            weft::spawn(async move {
                tx.send(()).unwrap();
                std::thread::sleep(BUSY);
            })
            .await
            .unwrap();
            woken.await.unwrap();
        });
        drop(rt);
        let h = metrics.worker_schedule_latency_histogram(0).unwrap();
        let slow: u64 = h
            .buckets()
            .filter(|(range, _)| range.start >= std::time::Duration::from_millis(8))
            .map(|(_, count)| count)
            .sum();
        assert!(slow >= 1, "no wait of {BUSY:?} or more counted: {h:?}");
        assert_eq!(h.percentile(1.0).map(|bound| bound > BUSY), Some(true), "{h:?}");
    });
}
