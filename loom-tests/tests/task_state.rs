//! Loom models of the task state word, on real weft tasks driven by
//! `weft::__loom::TestScheduler` (whose queue asserts that a task is never
//! queued twice).
#![cfg(loom)]

use std::future::{poll_fn, Future};
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use weft::__loom::TestScheduler;

/// Counts drops of the value it guards.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A future that parks its waker in `slot` and completes once `flag` is set.
fn wait_for_flag(
    slot: Arc<Mutex<Option<Waker>>>,
    flag: Arc<AtomicBool>,
) -> impl Future<Output = ()> + Send + 'static {
    poll_fn(move |cx: &mut Context<'_>| {
        if flag.load(SeqCst) {
            return Poll::Ready(());
        }
        *slot.lock().unwrap() = Some(cx.waker().clone());
        if flag.load(SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    })
}

/// A wake that races the task's poll is never lost and re-queues the task
/// exactly once (after the poll, via NOTIFIED), never while it is queued.
#[test]
fn wake_during_poll_reschedules_once() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let join = TestScheduler::spawn(&sched, wait_for_flag(slot.clone(), flag.clone()));
        // First poll registers the waker.
        assert!(sched.run_one());

        let waker = slot.lock().unwrap().clone().expect("waker registered");
        // Queue the task again so that the next poll races the wake below.
        waker.wake_by_ref();
        let waking = thread::spawn(move || {
            flag.store(true, SeqCst);
            waker.wake();
        });
        // The poll races the flag and the wake.
        sched.run_all();
        waking.join().unwrap();
        sched.run_all();
        assert!(join.is_finished(), "the wake was lost");
        drop(join);
        drop(slot);
        assert_eq!(Arc::strong_count(&sched), 1, "task cell not freed");
    });
}

/// Two concurrent wakes of an idle task schedule it once.
#[test]
fn two_concurrent_wakes_schedule_once() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let join = TestScheduler::spawn(&sched, wait_for_flag(slot.clone(), flag.clone()));
        assert!(sched.run_one());
        flag.store(true, SeqCst);
        let waker = slot.lock().unwrap().take().expect("waker registered");
        let other = waker.clone();
        let a = thread::spawn(move || waker.wake());
        let b = thread::spawn(move || other.wake_by_ref());
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(sched.times_scheduled(), 2, "spawn + exactly one re-schedule");
        sched.run_all();
        assert!(join.is_finished());
    });
}

/// Waking a completed task does nothing, and the last waker dropped on any
/// thread frees the cell exactly once.
#[test]
fn wake_after_completion_is_noop_and_frees_once() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(true));
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(drops.clone());
        let slot2 = slot.clone();
        let join = TestScheduler::spawn(&sched, async move {
            let _guard = guard;
            // Leave a waker clone behind, then finish.
            poll_fn(|cx| {
                *slot2.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            wait_for_flag(slot2.clone(), flag).await;
        });
        sched.run_all();
        assert!(join.is_finished());
        assert_eq!(drops.load(SeqCst), 1, "future dropped once at completion");
        let waker = slot.lock().unwrap().take().expect("waker left behind");
        let clone = waker.clone();
        let a = thread::spawn(move || waker.wake());
        let b = thread::spawn(move || drop(clone));
        drop(join);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(sched.queued(), 0, "a completed task was re-queued");
        assert_eq!(Arc::strong_count(&sched), 1, "task cell not freed");
    });
}

/// Abort racing completion: the JoinHandle yields the output or a
/// cancellation (never both, never neither), and the future is dropped
/// exactly once.
#[test]
fn abort_racing_completion() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(drops.clone());
        let join = TestScheduler::spawn(&sched, async move {
            let _guard = guard;
            7u32
        });
        let abort = join.abort_handle();
        let aborter = thread::spawn(move || abort.abort());
        sched.run_all();
        aborter.join().unwrap();
        sched.run_all();
        assert!(join.is_finished());
        let result = loom::future::block_on(join);
        match result {
            Ok(v) => assert_eq!(v, 7),
            Err(e) => assert!(e.is_cancelled()),
        }
        assert_eq!(drops.load(SeqCst), 1, "future dropped exactly once");
    });
}

/// Output with a drop counter.
struct Output(#[allow(dead_code)] DropCount);

/// Dropping the JoinHandle while the task completes drops the output
/// exactly once, on whichever side ends last.
#[test]
fn join_handle_drop_racing_completion() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let join = TestScheduler::spawn(&sched, async move { Output(DropCount(d)) });
        let dropper = thread::spawn(move || drop(join));
        sched.run_all();
        dropper.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "output dropped exactly once");
        assert_eq!(Arc::strong_count(&sched), 1, "task cell not freed");
    });
}

/// A JoinHandle polled on another thread while the task completes is
/// always woken (its waker registration never misses the completion).
#[test]
fn join_waker_registration_racing_completion() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let join = TestScheduler::spawn(&sched, {
            let (slot, flag) = (slot.clone(), flag.clone());
            async move {
                wait_for_flag(slot, flag).await;
                5u8
            }
        });
        assert!(sched.run_one());
        let joiner = thread::spawn(move || loom::future::block_on(join).unwrap());
        flag.store(true, SeqCst);
        if let Some(waker) = slot.lock().unwrap().take() {
            waker.wake();
        }
        sched.run_all();
        assert_eq!(joiner.join().unwrap(), 5);
    });
}

/// Shutdown racing a wake from another thread: the task is cancelled
/// exactly once, its future dropped once, and nothing stays queued or
/// allocated.
#[test]
fn shutdown_racing_wake() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(drops.clone());
        let fut = wait_for_flag(slot.clone(), flag.clone());
        let join = TestScheduler::spawn(&sched, async move {
            let _guard = guard;
            fut.await
        });
        assert!(sched.run_one());
        let waker = slot.lock().unwrap().take().expect("waker registered");
        let waking = thread::spawn(move || waker.wake());
        sched.shutdown();
        waking.join().unwrap();
        sched.shutdown();
        assert_eq!(drops.load(SeqCst), 1, "future dropped exactly once");
        assert_eq!(sched.alive(), 0);
        let err = loom::future::block_on(join).unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(Arc::strong_count(&sched), 1, "task cell not freed");
    });
}

/// Shutdown racing a wake by value of a detached task (no JoinHandle):
/// the wake may come after shutdown closed the queue, so the scheduler
/// hands the `Notified` back and the wake path drops it after `schedule`
/// returns; whichever of the shutdown and the waker lets go last frees the
/// cell, exactly once.
#[test]
fn shutdown_racing_wake_of_a_detached_task() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(drops.clone());
        let fut = wait_for_flag(slot.clone(), flag.clone());
        drop(TestScheduler::spawn(&sched, async move {
            let _guard = guard;
            fut.await
        }));
        assert!(sched.run_one());
        let waker = slot.lock().unwrap().take().expect("waker registered");
        let waking = thread::spawn(move || waker.wake());
        sched.shutdown();
        waking.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "future dropped exactly once");
        assert_eq!(sched.alive(), 0);
        assert_eq!(sched.queued(), 0);
        assert_eq!(Arc::strong_count(&sched), 1, "task cell leaked");
    });
}

/// Waker clones dropped on several threads while the task completes: the
/// cell is freed exactly once, by whichever drop is last (the scheduler's
/// `Arc` count returns to one: no leak; a double free would corrupt it).
#[test]
fn waker_clones_dropped_on_several_threads() {
    loom::model(|| {
        let sched = TestScheduler::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let join = TestScheduler::spawn(&sched, wait_for_flag(slot.clone(), flag.clone()));
        assert!(sched.run_one());
        let waker = slot.lock().unwrap().take().expect("waker registered");
        let clone = waker.clone();
        let a = thread::spawn(move || drop(waker));
        let b = thread::spawn(move || drop(clone));
        flag.store(true, SeqCst);
        drop(join);
        // The task is idle with no waker left: shutdown cancels it.
        sched.shutdown();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(Arc::strong_count(&sched), 1, "task cell leaked or freed twice");
    });
}
