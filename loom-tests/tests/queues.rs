//! Loom models of the scheduler's queue and idle protocols, on real tasks
//! (`TestScheduler`) and the real `Idle`, `LifoSlot` and queue code.
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::{
    DequeModel, IdleModel, InjectorModel, LifoModel, LocalQueueModel, Steal, TestScheduler,
};

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

// The watcher protocol (LIFO pushes and timers on a running worker, the
// watcher giving its role up or leaving) has its models in watch.rs.

// Self-tests of the deque model (`weft/src/loom/deque_model.rs`): it keeps
// crossbeam-deque's guarantees (no task lost or taken twice) and gives no
// ordering crossbeam does not (a push is only seen across threads through
// the fences the protocols add themselves).

/// Takes everything left in `q`, retrying on `Retry`.
fn drain_injector(q: &InjectorModel<usize>, into: &DequeModel<usize>, got: &mut Vec<usize>) {
    loop {
        match q.steal_batch_and_pop(into) {
            Steal::Success(v) => got.push(v),
            Steal::Retry => continue,
            Steal::Empty => break,
        }
    }
    while let Some(v) = into.pop() {
        got.push(v);
    }
}

/// Asserts `got` holds each of `0..n` exactly once.
fn assert_each_once(mut got: Vec<usize>, n: usize) {
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "an item was lost or taken twice");
}

/// Chase–Lev's classic race: the owner pops the last element while a thief
/// steals it. Exactly one of them gets it.
#[test]
fn deque_pop_racing_steal_of_the_last_item() {
    loom::model(|| {
        let owner = DequeModel::new_fifo();
        owner.push(0usize);
        let stealer = owner.stealer();
        let thief = thread::spawn(move || {
            let mine = DequeModel::new_fifo();
            loop {
                match stealer.steal_batch_and_pop(&mine) {
                    Steal::Success(v) => return vec![v],
                    Steal::Retry => continue,
                    Steal::Empty => return Vec::new(),
                }
            }
        });
        let mut got: Vec<usize> = owner.pop().into_iter().collect();
        got.extend(thief.join().unwrap());
        assert_each_once(got, 1);
    });
}

/// The owner pushes while a thief batch-steals and the owner pops: every
/// item ends up taken exactly once, and the thief reads a slot pushed
/// meanwhile only after its write (loom checks the slot cells; this fails
/// if the push's Release fence is left out).
#[test]
fn deque_push_pop_and_batch_steal_take_each_item_once() {
    loom::model(|| {
        let owner = DequeModel::new_fifo();
        owner.push(0usize);
        let stealer = owner.stealer();
        let thief = thread::spawn(move || {
            let mine = DequeModel::new_fifo();
            let mut got = Vec::new();
            loop {
                match stealer.steal_batch_and_pop(&mine) {
                    Steal::Success(v) => got.push(v),
                    Steal::Retry => continue,
                    Steal::Empty => {}
                }
                break;
            }
            while let Some(v) = mine.pop() {
                got.push(v);
            }
            got
        });
        owner.push(1);
        owner.push(2);
        let mut got = Vec::new();
        while let Some(v) = owner.pop() {
            got.push(v);
        }
        got.extend(thief.join().unwrap());
        assert_each_once(got, 3);
    });
}

/// The store-buffer pairing the idle protocol builds on, with the fences
/// it adds: a push then a SeqCst fence then a flag read, against a flag
/// write then a SeqCst fence then `Stealer::is_empty`. One side sees the
/// other.
#[test]
fn deque_push_is_seen_through_seqcst_fences() {
    loom::model(|| {
        let owner = DequeModel::new_fifo();
        let stealer = owner.stealer();
        let parked = Arc::new(AtomicBool::new(false));
        let p = parked.clone();
        let parker = thread::spawn(move || {
            p.store(true, SeqCst);
            fence(SeqCst);
            !stealer.is_empty()
        });
        owner.push(0usize);
        fence(SeqCst);
        let saw_parked = parked.load(SeqCst);
        let saw_work = parker.join().unwrap();
        assert!(saw_parked || saw_work, "the push and the park announcement both went unseen");
    });
}

/// The model is no stronger than crossbeam: without the pusher's fence, a
/// push (a Relaxed `back` store behind a Release fence) followed by a
/// SeqCst flag read can miss the flag while `is_empty` misses the push
/// (the x86 store buffer allows it). The mutex model this replaced forbade
/// it, hiding a missing fence in the protocols.
#[test]
#[should_panic(expected = "both went unseen")]
fn deque_push_without_a_fence_can_go_unseen() {
    loom::model(|| {
        let owner = DequeModel::new_fifo();
        let stealer = owner.stealer();
        let parked = Arc::new(AtomicBool::new(false));
        let p = parked.clone();
        let parker = thread::spawn(move || {
            p.store(true, SeqCst);
            fence(SeqCst);
            !stealer.is_empty()
        });
        owner.push(0usize);
        let saw_parked = parked.load(SeqCst);
        let saw_work = parker.join().unwrap();
        assert!(saw_parked || saw_work, "the push and the park announcement both went unseen");
    });
}

/// Two pushers and a batch stealer on the injector, across a block end
/// (the model's blocks hold 3 tasks): every task is taken exactly once and
/// none is read before it is written (loom checks the slot cells).
#[test]
fn injector_pushes_and_batch_steals_take_each_task_once() {
    loom::model(|| {
        let q = Arc::new(InjectorModel::new());
        q.push(0usize);
        let q2 = q.clone();
        let pusher = thread::spawn(move || {
            q2.push(1);
            q2.push(2);
        });
        let q3 = q.clone();
        let thief = thread::spawn(move || {
            let mine = DequeModel::new_fifo();
            let mut got = Vec::new();
            loop {
                match q3.steal_batch_and_pop(&mine) {
                    Steal::Success(v) => got.push(v),
                    Steal::Retry => continue,
                    Steal::Empty => {}
                }
                break;
            }
            while let Some(v) = mine.pop() {
                got.push(v);
            }
            got
        });
        q.push(3);
        let mut got = match q.steal() {
            Steal::Success(v) => vec![v],
            _ => Vec::new(),
        };
        pusher.join().unwrap();
        got.extend(thief.join().unwrap());
        let mine = DequeModel::new_fifo();
        drain_injector(&q, &mine, &mut got);
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        assert_each_once(got, 4);
    });
}

/// The injector's half of the store-buffer pairing (`push_remote` then
/// `notify_parked`, against a parker's announcement then
/// `has_stealable_work`): with SeqCst fences on both sides, one side sees
/// the other.
#[test]
fn injector_push_is_seen_through_seqcst_fences() {
    loom::model(|| {
        let q = Arc::new(InjectorModel::new());
        let parked = Arc::new(AtomicBool::new(false));
        let (q2, p) = (q.clone(), parked.clone());
        let parker = thread::spawn(move || {
            p.store(true, SeqCst);
            fence(SeqCst);
            !q2.is_empty()
        });
        q.push(0usize);
        fence(SeqCst);
        let saw_parked = parked.load(SeqCst);
        let saw_work = parker.join().unwrap();
        assert!(saw_parked || saw_work, "the push and the park announcement both went unseen");
    });
}
