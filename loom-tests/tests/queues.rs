//! Loom models of the scheduler's queue and idle protocols, on real tasks
//! (`TestScheduler`) and the real `Idle`, `LifoSlot` and queue code.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::{IdleModel, LifoModel, LocalQueueModel, TestScheduler};

/// Spawns `n` counting tasks and takes their queue entries out.
fn counting_tasks(
    n: usize,
) -> (Arc<TestScheduler>, Arc<AtomicUsize>, Vec<weft::__loom::QueuedTask>) {
    let sched = TestScheduler::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let runs = runs.clone();
        drop(TestScheduler::spawn(&sched, async move {
            runs.fetch_add(1, SeqCst);
        }));
        tasks.push(sched.take_queued().expect("spawned task is queued"));
    }
    (sched, runs, tasks)
}

/// A thief's `steal_batch_and_pop` racing the owner's `pop`: every task
/// runs exactly once (none lost, none run twice).
#[test]
fn steal_racing_pop_runs_each_task_once() {
    loom::model(|| {
        let (sched, runs, tasks) = counting_tasks(3);
        let owner = LocalQueueModel::new();
        for task in tasks {
            owner.push(task);
        }
        let stealer = owner.stealer();
        let thief = thread::spawn(move || {
            let mine = LocalQueueModel::new();
            if let Some(task) = stealer.steal_batch_and_pop(&mine) {
                task.run();
            }
            while let Some(task) = mine.pop() {
                task.run();
            }
        });
        while let Some(task) = owner.pop() {
            task.run();
        }
        thief.join().unwrap();
        assert_eq!(runs.load(SeqCst), 3, "each task runs exactly once");
        assert_eq!(sched.alive(), 0);
    });
}

/// The LIFO slot taken by a thief (the watcher) while its owner, back
/// from a long poll, takes it too: exactly one of them gets the task, and
/// a task displaced by a later put is not lost either.
#[test]
fn lifo_slot_taken_by_a_thief_while_the_owner_returns() {
    loom::model(|| {
        let (sched, runs, mut tasks) = counting_tasks(2);
        let slot = Arc::new(LifoModel::new());
        assert!(slot.put(tasks.remove(0)).is_none());
        let second = tasks.remove(0);

        let s = slot.clone();
        let thief = thread::spawn(move || {
            if let Some(task) = s.take() {
                task.run();
            }
        });
        // The owner comes back: puts a new task (displacing the old one if
        // the thief has not taken it) and drains the slot.
        if let Some(displaced) = slot.put(second) {
            displaced.run();
        }
        if let Some(task) = slot.take() {
            task.run();
        }
        thief.join().unwrap();
        assert_eq!(runs.load(SeqCst), 2, "each task runs exactly once");
        assert_eq!(sched.alive(), 0);
    });
}

/// The searching-worker count returns to zero: two workers search (at most
/// half may), find nothing or something, wake whom the protocol says, and
/// park; once all is quiet, no worker is counted as searching.
#[test]
fn searching_count_returns_to_zero() {
    loom::model(|| {
        let idle = Arc::new(IdleModel::new(2));
        let work = Arc::new(AtomicBool::new(true));
        let handles: Vec<_> = (0..2)
            .map(|index| {
                let (idle, work) = (idle.clone(), work.clone());
                thread::spawn(move || {
                    let mut searching = idle.to_searching();
                    if searching && work.swap(false, SeqCst) {
                        // Found work: the last searcher wakes another.
                        searching = false;
                        if idle.from_searching() {
                            if let Some(woken) = idle.worker_to_notify() {
                                // That worker looks, finds nothing, parks.
                                idle.to_parked(woken, true);
                            }
                        }
                    }
                    idle.to_parked(index, searching);
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(idle.searching(), 0, "a searcher was left counted");
        assert_eq!(idle.unparked(), 0, "every worker parked");
    });
}

/// The heart of "no lost wakeup": a push from outside racing a worker that
/// announces itself parked. Either the worker's re-check after announcing
/// sees the work, or the pusher's check sees the parked worker and wakes it.
#[test]
fn push_racing_park_is_never_lost() {
    loom::model(|| {
        let idle = Arc::new(IdleModel::new(1));
        let queue = Arc::new(AtomicBool::new(false));
        let (i2, q2) = (idle.clone(), queue.clone());
        let pusher = thread::spawn(move || {
            q2.store(true, SeqCst);
            i2.worker_to_notify().is_some()
        });
        // The worker: nothing seen, goes searching, gives up, parks, then
        // re-checks the queue as the worker loop does.
        let searching = idle.to_searching();
        idle.to_parked(0, searching);
        let saw_work = queue.load(SeqCst);
        if saw_work {
            idle.unpark_by_id(0);
        }
        let woken = pusher.join().unwrap();
        assert!(saw_work || woken, "the task was pushed but nobody will run it");
    });
}

/// A LIFO-only push racing the watcher giving up its role: either the
/// pusher sees no watcher and wakes a parked worker, or the watcher's
/// re-check after giving up sees the task; it is never left in the slot of
/// a worker nobody watches.
#[test]
fn lifo_push_racing_the_watcher_giving_up_is_seen() {
    loom::model(|| {
        let (_sched, _runs, mut tasks) = counting_tasks(1);
        // Worker 0 is parked and watching; worker 1 runs and pushes.
        let idle = Arc::new(IdleModel::new(2));
        idle.to_parked(0, false);
        assert!(idle.try_become_watcher());
        let slot = Arc::new(LifoModel::new());

        let (i2, s2) = (idle.clone(), slot.clone());
        let task = tasks.remove(0);
        let pusher = thread::spawn(move || {
            assert!(s2.put(task).is_none());
            i2.worker_to_notify_for_watch().is_some()
        });
        idle.stop_watching();
        let saw_task = slot.is_occupied();
        let woken = pusher.join().unwrap();
        assert!(saw_task || woken, "a LIFO task left with nobody watching or woken");
        if let Some(task) = slot.take() {
            task.run();
        }
    });
}
