//! Stall detection: a poll running past the threshold is reported once,
//! while it runs, naming the task and where it was spawned; short polls
//! never are; the stalled worker's queued work is rescued.

mod common;

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{with_timeout, LONG};
use weft::runtime::{Builder, Runtime, StallReport};

type Reports = Arc<Mutex<Vec<StallReport>>>;

/// A stall is wall-clock time in one poll, so a worker thread the OS does
/// not run for a while stalls too. These tests run one at a time, so that
/// their CPU-heavy workers (a million polls, a busy loop) do not take the
/// 2 cores from each other's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn recording(builder: &mut Builder, threshold: Duration) -> (Runtime, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let rt = builder
        .stall_threshold(Some(threshold))
        .on_stall(move |report| sink.lock().unwrap().push(report.clone()))
        .build()
        .expect("a runtime with stall detection");
    (rt, reports)
}

fn multi(workers: usize) -> Builder {
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(workers);
    builder
}

#[test]
fn a_blocking_task_is_reported_once_with_its_spawn_location_while_it_blocks() {
    let _serial = one_at_a_time();
    with_timeout("one stall report", 20, || {
        let threshold = Duration::from_millis(100);
        let (rt, reports) = recording(&mut multi(2), threshold);
        let (id, spawned_at, reported_while_blocked) = rt.block_on(async {
            let blocking = Arc::new(AtomicBool::new(true));
            let flag = blocking.clone();
            let spawned_at = Location::caller();
            let task = weft::spawn(async move {
                thread::sleep(Duration::from_millis(300));
                flag.store(false, SeqCst);
            });
            let id = task.id();
            // The report comes while the poll still runs.
            let reports = reports.clone();
            let watcher = thread::spawn(move || {
                common::wait_until(LONG, || !reports.lock().unwrap().is_empty());
                blocking.load(SeqCst)
            });
            task.await.unwrap();
            (id, spawned_at, watcher.join().unwrap())
        });
        assert!(reported_while_blocked, "the report must come while the task still blocks");
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "exactly one report per stalled poll: {reports:?}");
        let report = &reports[0];
        assert_eq!(report.task_id(), id);
        assert_eq!(report.spawned_at().file(), spawned_at.file());
        assert_eq!(report.spawned_at().line(), spawned_at.line() + 1, "the spawn call's line");
        assert!(report.worker() < 2);
        assert!(
            report.elapsed() >= threshold
                && report.elapsed() <= threshold + Duration::from_millis(100),
            "elapsed {:?} must be between the threshold and the threshold plus 100 ms",
            report.elapsed()
        );
        let text = report.to_string();
        for needle in ["weft", &id.to_string(), spawned_at.file(), "spawn_blocking"] {
            assert!(text.contains(needle), "the paragraph names {needle:?}: {text}");
        }
        assert_eq!(rt.metrics().stall_count(), 1);
    });
}

#[test]
fn two_workers_blocked_at_once_give_two_reports() {
    let _serial = one_at_a_time();
    with_timeout("two stall reports", 20, || {
        let (rt, reports) = recording(&mut multi(2), Duration::from_millis(100));
        let ids = rt.block_on(async {
            let both = Arc::new(std::sync::Barrier::new(2));
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let both = both.clone();
                    weft::spawn(async move {
                        // Both workers are stuck at the same time.
                        both.wait();
                        thread::sleep(Duration::from_millis(300));
                    })
                })
                .collect();
            let ids: Vec<_> = tasks.iter().map(|t| t.id()).collect();
            for task in tasks {
                task.await.unwrap();
            }
            ids
        });
        let reports = reports.lock().unwrap();
        let mut reported: Vec<_> = reports.iter().map(|r| r.task_id()).collect();
        reported.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(reported, expected, "one report per blocked task");
        let mut workers: Vec<_> = reports.iter().map(|r| r.worker()).collect();
        workers.sort();
        assert_eq!(workers, vec![0, 1]);
        assert_eq!(rt.metrics().stall_count(), 2);
    });
}

#[test]
fn a_million_short_polls_are_never_reported() {
    let _serial = one_at_a_time();
    with_timeout("short polls", 60, || {
        let (rt, reports) = recording(&mut multi(2), Duration::from_millis(20));
        let polls = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let polls = polls.clone();
                    weft::spawn(async move {
                        for _ in 0..250_000 {
                            polls.fetch_add(1, SeqCst);
                            weft::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert_eq!(polls.load(SeqCst), 1_000_000);
        let reports = reports.lock().unwrap();
        assert!(reports.is_empty(), "{reports:?}");
        assert_eq!(rt.metrics().stall_count(), 0);
    });
}

#[test]
fn no_threshold_means_no_reports() {
    let _serial = one_at_a_time();
    with_timeout("detection off", 20, || {
        let reports: Reports = Arc::default();
        let sink = reports.clone();
        let rt = multi(1)
            .stall_threshold(None)
            .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
            .build()
            .unwrap();
        rt.block_on(async {
            weft::spawn(async { thread::sleep(Duration::from_millis(250)) }).await.unwrap();
        });
        assert!(reports.lock().unwrap().is_empty());
        assert_eq!(rt.metrics().stall_count(), 0);
    });
}

#[test]
fn the_current_thread_flavor_reports() {
    let _serial = one_at_a_time();
    with_timeout("current-thread stall", 20, || {
        let (rt, reports) =
            recording(&mut Builder::new_current_thread(), Duration::from_millis(100));
        let id = rt.block_on(async {
            let task = weft::spawn(async { thread::sleep(Duration::from_millis(300)) });
            let id = task.id();
            task.await.unwrap();
            id
        });
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].task_id(), id);
        assert_eq!(reports[0].worker(), 0);
        assert_eq!(rt.metrics().stall_count(), 1);
    });
}

#[test]
fn a_zero_threshold_is_refused_by_name() {
    let _serial = one_at_a_time();
    let err = multi(1).stall_threshold(Some(Duration::ZERO)).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("stall_threshold"), "{err}");
}

#[test]
fn block_in_place_is_not_a_stall() {
    let _serial = one_at_a_time();
    with_timeout("block_in_place", 20, || {
        let (rt, reports) = recording(&mut multi(2), Duration::from_millis(50));
        rt.block_on(async {
            weft::spawn(async {
                weft::task::block_in_place(|| thread::sleep(Duration::from_millis(250)));
            })
            .await
            .unwrap();
        });
        let reports = reports.lock().unwrap();
        assert!(reports.is_empty(), "{reports:?}");
    });
}

#[test]
fn a_panicking_hook_does_not_stop_the_monitor() {
    let _serial = one_at_a_time();
    with_timeout("panicking on_stall", 20, || {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let rt = multi(1)
            .stall_threshold(Some(Duration::from_millis(50)))
            .on_stall(move |_| {
                counted.fetch_add(1, SeqCst);
                panic!("a hook that panics");
            })
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..2 {
                weft::spawn(async { thread::sleep(Duration::from_millis(200)) }).await.unwrap();
            }
        });
        assert_eq!(calls.load(SeqCst), 2, "the monitor went on after the first hook panicked");
        assert_eq!(rt.metrics().stall_count(), 2);
    });
}

/// Every worker is busy (one blocked, one running a task that never
/// parks), so no watcher exists: the monitor must still move the blocked
/// worker's queued task to the busy one.
#[test]
fn queued_work_of_a_stalled_worker_runs_while_every_other_worker_is_busy() {
    let _serial = one_at_a_time();
    with_timeout("rescue without a watcher", 30, || {
        let rt = multi(2)
            .stall_threshold(Some(Duration::from_millis(100)))
            .on_stall(|_| {})
            .build()
            .unwrap();
        let ran_while_blocked = rt.block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            let busy_stop = stop.clone();
            // Keeps its worker busy: always runnable, never parks. It
            // also gives its core up to the OS once per turn: under
            // valgrind, which runs one thread at a time and favours the one
            // that just ran, a bare spinner starved the monitor thread
            // until the blocked task was done.
            let busy = weft::spawn(async move {
                while !busy_stop.load(SeqCst) {
                    thread::yield_now();
                    weft::task::yield_now().await;
                }
            });
            let blocked = Arc::new(AtomicBool::new(true));
            let still_blocked = blocked.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let stuck = weft::spawn(async move {
                // Spawned from this worker: it waits in this worker's queue
                // (detached: it reports through the channel).
                drop(weft::spawn(async move {
                    tx.send(still_blocked.load(SeqCst)).unwrap();
                }));
                thread::sleep(Duration::from_millis(1500));
                blocked.store(false, SeqCst);
            });
            stuck.await.unwrap();
            stop.store(true, SeqCst);
            busy.await.unwrap();
            rx.recv_timeout(LONG).unwrap()
        });
        assert!(ran_while_blocked, "the queued task waited for the blocked worker");
    });
}

/// With stack sampling built, the report carries the stuck thread's
/// stack, which names the blocking call.
#[cfg(all(feature = "stall-backtrace", target_os = "linux"))]
#[test]
fn the_report_names_the_blocking_function() {
    let _serial = one_at_a_time();
    with_timeout("stall backtrace", 30, || {
        let (rt, reports) = recording(&mut multi(2), Duration::from_millis(100));
        rt.block_on(async {
            weft::spawn(async { thread::sleep(Duration::from_millis(400)) }).await.unwrap();
        });
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        let backtrace = reports[0].backtrace().expect("a sampled stack");
        assert!(backtrace.contains("sleep"), "the stack names the sleep: {backtrace}");
        assert!(reports[0].to_string().contains(backtrace), "the paragraph includes the stack");
    });
}

/// On the current-thread flavor the future given to `block_on` runs on the
/// runtime's only worker: blocking in it stalls every task, and is named
/// by the `block_on` call.
#[test]
fn a_blocking_block_on_future_is_reported_on_the_current_thread_flavor() {
    let _serial = one_at_a_time();
    with_timeout("block_on stall", 20, || {
        let (rt, reports) =
            recording(&mut Builder::new_current_thread(), Duration::from_millis(100));
        let called_at = Location::caller();
        rt.block_on(async { thread::sleep(Duration::from_millis(300)) });
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].spawned_at().file(), called_at.file());
        assert_eq!(reports[0].spawned_at().line(), called_at.line() + 1, "the block_on call");
        // It stalls nothing any more: a later, short block_on leaves no
        // poll published (the slot is cleared), so nothing more is reported
        // however long the core then waits in its slot.
        rt.block_on(async {});
        thread::sleep(Duration::from_millis(300));
        assert_eq!(rt.metrics().stall_count(), 1);
    });
}

/// Context switches of this process's `weft-stall` threads so far.
fn monitor_wakeups() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "weft-stall" {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                total += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

/// Stall rule 4: with nothing that can stall, the monitor sleeps instead
/// of ticking (100 wake-ups a second at the default threshold): on an idle
/// multi-thread runtime (every worker parked) and on a current-thread
/// runtime between `block_on`s.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_runtime_lets_the_monitor_sleep() {
    let _serial = one_at_a_time();
    with_timeout("idle monitor", 20, || {
        for rt in [multi(2).build().unwrap(), Builder::new_current_thread().build().unwrap()] {
            rt.block_on(async { weft::spawn(async {}).await.unwrap() });
            // Let the workers park and the monitor see it.
            thread::sleep(Duration::from_millis(200));
            let before = monitor_wakeups();
            thread::sleep(Duration::from_millis(500));
            let woke = monitor_wakeups() - before;
            assert!(
                woke <= 5,
                "the monitor woke {woke} times in 500 ms on an idle runtime ({rt:?})"
            );
        }
    });
}

/// Idle rule 6 on the current-thread flavor: the monitor sleeps while the
/// core waits in its slot, and the `block_on` that takes the core wakes it,
/// so a stall in that `block_on` is still reported.
#[test]
fn a_block_on_after_an_idle_while_is_still_watched() {
    let _serial = one_at_a_time();
    with_timeout("block_on after idle", 20, || {
        let (rt, reports) =
            recording(&mut Builder::new_current_thread(), Duration::from_millis(100));
        // Long enough for the monitor to fall asleep on the bell.
        thread::sleep(Duration::from_millis(200));
        rt.block_on(async { thread::sleep(Duration::from_millis(300)) });
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
    });
}
