//! Loom models of weft-blocking's pool: the real pool code on loom's
//! atomics, locks and threads, with a mutex model of the job queue.
//!
//! Loom has no clock: in a pool from `pool_with_expiring_keep_alive` an idle
//! thread's keep-alive expires the instant it finds the queue empty, so the
//! models explore every point at which the last idle thread can time out;
//! in a pool from `pool_without_keep_alive` idle threads never time out.
//!
//! Mandatory jobs (`try_spawn_mandatory`) are never cancelled: the models
//! at the end check that one queued at shutdown runs exactly once, on a
//! pool thread or (no thread left) on the thread calling `shutdown`, and
//! that one racing with shutdown runs exactly once or is refused.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use weft_blocking::__loom::{
    bounded_pool_with_expiring_keep_alive, bounded_pool_without_keep_alive,
    pool_with_expiring_keep_alive, pool_without_keep_alive,
};

/// Counts how many times it is dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A job submitted while the pool's only thread, idle, is timing out still
/// runs: either the job is promised to the idle thread first (which then
/// may not exit and runs it) or the thread exits first (and the submitter
/// starts a new one). Its Task resolves `Ok`, awaited as a future.
#[test]
fn job_submitted_as_last_idle_thread_times_out_still_runs() {
    loom::model(|| {
        let pool = pool_with_expiring_keep_alive(1);
        // Start the thread; once it has run this job it goes idle and its
        // keep-alive expires, racing with the next submission.
        assert_eq!(pool.spawn(|| 1).wait().unwrap(), 1);
        let task = pool.spawn(|| 2);
        assert_eq!(loom::future::block_on(task).unwrap(), 2);
        assert!(pool.shutdown(Duration::from_secs(10)));
        assert_eq!(pool.metrics().threads_alive, 0);
    });
}

/// The same race with two threads that may both be idle and timing out
/// while a third job arrives: however many exit, the job runs.
#[test]
fn job_submitted_as_two_idle_threads_time_out_still_runs() {
    loom::model(|| {
        let pool = pool_with_expiring_keep_alive(2);
        let (a, b) = (pool.spawn(|| 1), pool.spawn(|| 2));
        assert_eq!(a.wait().unwrap() + b.wait().unwrap(), 3);
        assert_eq!(pool.spawn(|| 3).wait().unwrap(), 3);
        // No shutdown: the threads exit on their own (keep-alive), which
        // keeps this model small.
    });
}

/// With every thread busy (`max_threads(1)`) a second job waits in the
/// queue and the busy thread runs it next, even though it would time out
/// the instant it finds the queue empty: both Tasks resolve `Ok`.
#[test]
fn queued_job_runs_when_the_busy_thread_finishes() {
    loom::model(|| {
        let pool = pool_with_expiring_keep_alive(1);
        let first = pool.spawn(|| 1);
        let second = pool.spawn(|| 2);
        assert_eq!(second.wait().unwrap(), 2);
        assert_eq!(first.wait().unwrap(), 1);
        assert!(pool.shutdown(Duration::from_secs(10)));
    });
}

/// Shutdown racing a submission to an idle thread: the job runs or is
/// cancelled, its closure is dropped exactly once, its Task resolves either
/// way (never hangs), and shutdown still sees every thread exit.
#[test]
fn shutdown_racing_submit_to_idle_thread() {
    loom::model(|| shutdown_racing_submit(true));
}

/// Shutdown racing a submission that starts the pool's first thread: the
/// same guarantees.
#[test]
fn shutdown_racing_submit_that_starts_a_thread() {
    loom::model(|| shutdown_racing_submit(false));
}

fn shutdown_racing_submit(warm: bool) {
    let pool = pool_without_keep_alive(1);
    if warm {
        pool.spawn(|| ()).wait().unwrap();
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let submitter = {
        let (pool, drops, ran) = (pool.clone(), drops.clone(), ran.clone());
        loom::thread::spawn(move || {
            let counter = DropCounter(drops);
            let task = pool.spawn(move || {
                let _counter = counter;
                ran.fetch_add(1, SeqCst);
            });
            task.wait()
        })
    };
    assert!(pool.shutdown(Duration::from_secs(10)));
    let result = submitter.join().unwrap();
    assert_eq!(drops.load(SeqCst), 1, "the closure is dropped exactly once");
    match result {
        Ok(()) => assert_eq!(ran.load(SeqCst), 1),
        Err(err) => {
            assert!(err.is_cancelled());
            assert_eq!(ran.load(SeqCst), 0);
        }
    }
    assert_eq!(pool.metrics().threads_alive, 0);
}

/// A mandatory job queued when shutdown starts runs exactly once, and an
/// ordinary one queued with it runs or is cancelled, each closure dropped
/// once. With an expiring keep-alive the pool's only thread may exit while
/// `shutdown` has the mandatory job out of the queue (it cancels ordinary
/// jobs and puts mandatory ones back): `shutdown` then runs it itself.
#[test]
fn mandatory_job_queued_at_shutdown_runs_when_threads_time_out() {
    loom::model(|| mandatory_job_queued_at_shutdown(true));
}

/// The same with a thread that never times out: it may still be running
/// the ordinary job when shutdown starts, and runs the mandatory one after.
#[test]
fn mandatory_job_queued_at_shutdown_runs_after_the_busy_thread() {
    loom::model(|| mandatory_job_queued_at_shutdown(false));
}

fn mandatory_job_queued_at_shutdown(expiring: bool) {
    let pool = if expiring { pool_with_expiring_keep_alive(1) } else { pool_without_keep_alive(1) };
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let ordinary = {
        let (counter, ran) = (DropCounter(drops.clone()), ran.clone());
        pool.spawn(move || {
            let _counter = counter;
            ran.fetch_add(1, SeqCst);
        })
    };
    let mandatory = {
        let (counter, ran) = (DropCounter(drops.clone()), ran.clone());
        pool.try_spawn_mandatory(move || {
            let _counter = counter;
            ran.fetch_add(10, SeqCst);
        })
        .expect("accepted before shutdown")
    };
    // A shutdown that does not wait (so its final drain, once every thread
    // has exited, cannot rescue a stranded job): the mandatory job still
    // runs. A job left in the queue with no thread to take it would hang
    // this wait, which loom reports.
    pool.shutdown(Duration::ZERO);
    mandatory.wait().expect("a mandatory job is never cancelled");
    assert!(pool.shutdown(Duration::from_secs(10)));
    assert_eq!(drops.load(SeqCst), 2, "each closure dropped exactly once");
    match ordinary.wait() {
        Ok(()) => assert_eq!(ran.load(SeqCst), 11),
        Err(err) => {
            assert!(err.is_cancelled());
            assert_eq!(ran.load(SeqCst), 10);
        }
    }
    assert_eq!(pool.metrics().threads_alive, 0);
}

/// Shutdown racing a mandatory submission to an idle thread: the job runs
/// exactly once (and its Task resolves `Ok`), or `try_spawn_mandatory`
/// refuses it and the closure is dropped unrun; never cancelled, never
/// lost, and shutdown still sees every thread exit.
#[test]
fn shutdown_racing_mandatory_submit_to_idle_thread() {
    loom::model(|| shutdown_racing_mandatory_submit(true));
}

/// The same with a submission that starts the pool's first thread.
#[test]
fn shutdown_racing_mandatory_submit_that_starts_a_thread() {
    loom::model(|| shutdown_racing_mandatory_submit(false));
}

fn shutdown_racing_mandatory_submit(warm: bool) {
    let pool = pool_without_keep_alive(1);
    if warm {
        pool.spawn(|| ()).wait().unwrap();
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let submitter = {
        let (pool, drops, ran) = (pool.clone(), drops.clone(), ran.clone());
        loom::thread::spawn(move || {
            let counter = DropCounter(drops);
            let task = pool.try_spawn_mandatory(move || {
                let _counter = counter;
                ran.fetch_add(1, SeqCst);
            });
            // Waits for the job wherever it runs: a hang is a lost job.
            task.map(|task| task.wait())
        })
    };
    // Not waiting: the submitter's wait alone must see its job run.
    pool.shutdown(Duration::ZERO);
    let result = submitter.join().unwrap();
    assert!(pool.shutdown(Duration::from_secs(10)));
    assert_eq!(drops.load(SeqCst), 1, "the closure is dropped exactly once");
    match result {
        Ok(joined) => {
            joined.expect("an accepted mandatory job is never cancelled");
            assert_eq!(ran.load(SeqCst), 1);
        }
        Err(_refused) => assert_eq!(ran.load(SeqCst), 0),
    }
    assert_eq!(pool.metrics().threads_alive, 0);
}

/// A mandatory submission racing shutdown while the pool's only thread may
/// time out: if the submitter finds no thread alive after the flag, it
/// runs the job itself. Exactly once or refused, as above.
#[test]
fn shutdown_racing_mandatory_submit_as_the_thread_times_out() {
    loom::model(|| {
        let pool = pool_with_expiring_keep_alive(1);
        pool.spawn(|| ()).wait().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (pool, ran) = (pool.clone(), ran.clone());
            loom::thread::spawn(move || {
                pool.try_spawn_mandatory(move || {
                    ran.fetch_add(1, SeqCst);
                })
                .map(|task| task.wait())
            })
        };
        pool.shutdown(Duration::ZERO);
        let result = submitter.join().unwrap();
        assert!(pool.shutdown(Duration::from_secs(10)));
        match result {
            Ok(joined) => {
                joined.expect("an accepted mandatory job is never cancelled");
                assert_eq!(ran.load(SeqCst), 1);
            }
            Err(_refused) => assert_eq!(ran.load(SeqCst), 0),
        }
    });
}

/// A pool of one thread and no queue places (`queue_capacity(0)`): at most
/// one job in flight through `try_reserve`. Two submitters race: the first
/// place is always granted, each admitted job sees itself alone in flight,
/// and every place comes back before its Task resolves, so a reservation
/// after both waits succeeds.
#[test]
fn bounded_pool_admits_at_most_its_limit() {
    loom::model(|| {
        let pool = bounded_pool_with_expiring_keep_alive(1, 0);
        let submit = |pool: &weft_blocking::Pool, value: usize| {
            let probe = pool.clone();
            let permit = pool.try_reserve().ok()?;
            let task = permit.spawn(move || {
                assert_eq!(probe.metrics().jobs_in_flight, 1, "over the limit");
                value
            });
            Some(task.wait().unwrap())
        };
        let other = {
            let pool = pool.clone();
            loom::thread::spawn(move || submit(&pool, 2))
        };
        let mine = submit(&pool, 1);
        let theirs = other.join().unwrap();
        assert!(mine.is_some() || theirs.is_some(), "one place was free");
        assert_eq!(pool.metrics().jobs_in_flight, 0);
        let again = pool.try_reserve().expect("both places given back");
        assert_eq!(again.spawn(|| 3).wait().unwrap(), 3);
    });
}

/// Shutdown racing a reserved job on a bounded pool: whether the job runs
/// or is cancelled, its closure is dropped once and its place comes back;
/// a permit dropped unused gives its place back too.
#[test]
fn bounded_pool_gives_places_back_at_shutdown() {
    loom::model(|| {
        let pool = bounded_pool_without_keep_alive(1, 1);
        let drops = Arc::new(AtomicUsize::new(0));
        let unused = pool.try_reserve().unwrap();
        let submitter = {
            let (pool, drops) = (pool.clone(), drops.clone());
            loom::thread::spawn(move || {
                let counter = DropCounter(drops);
                let permit = pool.try_reserve().ok()?;
                Some(permit.spawn(move || drop(counter)).wait())
            })
        };
        drop(unused);
        assert!(pool.shutdown(Duration::from_secs(10)));
        let result = submitter.join().unwrap();
        if let Some(joined) = result {
            // Ran, or cancelled unrun: the closure is gone either way.
            assert!(joined.is_ok() || joined.unwrap_err().is_cancelled());
            assert_eq!(drops.load(SeqCst), 1);
        }
        assert_eq!(pool.metrics().jobs_in_flight, 0);
    });
}

/// A reserved job racing shutdown, cancelled or run: its place is back by
/// the time its Task resolves, on the cancel path too (the job's closure,
/// and with it the place, is dropped before the Task resolves).
#[test]
fn a_cancelled_job_gives_its_place_back_before_its_task_resolves() {
    loom::model(|| {
        let pool = bounded_pool_without_keep_alive(1, 0);
        let submitter = {
            let pool = pool.clone();
            loom::thread::spawn(move || {
                let permit = pool.try_reserve().ok()?;
                let result = permit.spawn(|| ()).wait();
                assert_eq!(pool.metrics().jobs_in_flight, 0, "resolved before its place was back");
                Some(result)
            })
        };
        pool.shutdown(Duration::ZERO);
        if let Some(result) = submitter.join().unwrap() {
            assert!(result.is_ok() || result.unwrap_err().is_cancelled());
        }
        assert!(pool.shutdown(Duration::from_secs(10)));
    });
}
