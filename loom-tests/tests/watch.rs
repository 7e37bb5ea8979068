//! Loom models of the watcher protocol (`runtime::scheduler::watch`, `idle`): a
//! worker that polls a task while holding something only a watcher could
//! serve (a LIFO task, timers, I/O sources) has a watcher, or one on its
//! way. Each model drives the real `Idle` through `IdleModel` the way the
//! worker loop does, and asserts that outcome; a `should_panic` companion
//! leaves out the step under test and shows the model catches the hole.
//!
//! "Woken" means unlisted by a notifier (counted unparked and searching):
//! that worker runs its park loop once more and, finding nothing, parks
//! again and takes the role while anyone is unparked.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::{IdleModel, TimerWheel};

/// Worker 0 (W) back to work after its re-check: which of the worker
/// loop's steps to model.
#[derive(Clone, Copy)]
struct Steps {
    /// `settle_watch` before the poll (asked for by every way back to work
    /// from `park`).
    settle: bool,
    /// `park`: the last searcher whose re-check finds work wakes another.
    last_searcher_wakes: bool,
}

/// W's way from "found nothing" to polling the task B it holds beside a
/// timer: search over, announce itself parked, re-check the injector; if
/// B is there, leave the idle list and poll it. Meanwhile a thread pushes
/// B and asks whom to wake. Worker 1 (S) is parked and not watching (it
/// gave the role up when both were idle). Whoever runs B, the task runs;
/// if W runs it, S must be woken (nobody else would fire W's timer).
fn back_from_the_recheck(steps: Steps) {
    loom::model(move || {
        let idle = Arc::new(IdleModel::new(2));
        idle.to_parked(1, false);
        assert!(idle.to_searching());
        let injector = Arc::new(AtomicBool::new(false));

        let (i2, q2) = (idle.clone(), injector.clone());
        let pusher = thread::spawn(move || {
            q2.store(true, SeqCst);
            i2.worker_to_notify()
        });

        let last_searcher = idle.to_parked(0, true);
        let saw_task = injector.load(SeqCst);
        let mut w_runs_b = false;
        let mut w_searching = false;
        if saw_task {
            let listed = idle.unpark_by_id(0);
            w_searching = !listed;
            if listed && last_searcher && steps.last_searcher_wakes {
                idle.worker_to_notify();
            }
            w_runs_b = true;
        }
        let pusher_woke = pusher.join().unwrap();
        if !saw_task && pusher_woke == Some(0) {
            // W slept, and the push woke it, counted as searching.
            w_searching = true;
            w_runs_b = true;
        }
        assert!(saw_task || pusher_woke.is_some(), "B was pushed but nobody will run it");
        if w_runs_b {
            // `run_task`: a searcher that found work stops searching (the
            // last one wakes another), then `poll` settles the watch.
            if w_searching && idle.from_searching() {
                idle.worker_to_notify();
            }
            if steps.settle {
                idle.worker_to_notify_for_watch();
            }
            assert!(
                idle.watching() || !idle.is_parked(1),
                "W polls B holding a timer, and no watcher exists or was woken"
            );
        }
    });
}

/// The worker loop as it is: both steps.
#[test]
fn a_worker_back_from_its_recheck_has_a_watcher() {
    back_from_the_recheck(Steps { settle: true, last_searcher_wakes: true });
}

/// The settle alone keeps the invariant (the last-searcher wake is there
/// for the idle protocol's fan-out, not for the watcher).
#[test]
fn the_settle_alone_gives_a_worker_back_from_its_recheck_a_watcher() {
    back_from_the_recheck(Steps { settle: true, last_searcher_wakes: false });
}

/// Without either, the re-check path leaves W polling with nobody woken.
#[test]
#[should_panic(expected = "no watcher exists or was woken")]
fn without_the_settle_a_worker_back_from_its_recheck_can_go_unwatched() {
    back_from_the_recheck(Steps { settle: false, last_searcher_wakes: false });
}

/// The watcher S (1) wakes, sees nobody unparked and gives the role up,
/// while W (0), parked too, goes back to work holding a LIFO task: it
/// leaves the idle list, then asks for a watcher. Either W's ask sees the
/// role free and wakes S, or S's re-read after giving up (with
/// `reread`) sees W unparked and takes the role again.
fn give_up_racing_a_worker_back_to_work(reread: bool) {
    loom::model(move || {
        let idle = Arc::new(IdleModel::new(2));
        idle.to_parked(1, false);
        assert!(idle.try_become_watcher());
        idle.to_parked(0, false);

        let i2 = idle.clone();
        let worker = thread::spawn(move || {
            assert!(i2.unpark_by_id(0));
            i2.worker_to_notify_for_watch()
        });

        // S's park loop: the look at the bottom, then the loop top.
        let mut watching = true;
        if !idle.any_unparked() {
            idle.stop_watching();
            watching = false;
        }
        if !watching && reread && idle.any_unparked() && idle.try_become_watcher() {
            watching = true;
        }
        let woken = worker.join().unwrap();
        assert!(watching || woken == Some(1), "W polls with no watcher and nobody woken");
        assert_eq!(watching, idle.watching());
    });
}

#[test]
fn a_watcher_giving_up_takes_the_role_again_or_is_woken() {
    give_up_racing_a_worker_back_to_work(true);
}

/// Without the re-read at the loop top, W's ask can see the role still
/// held while S gives it up having missed W.
#[test]
#[should_panic(expected = "no watcher and nobody woken")]
fn a_watcher_giving_up_without_a_reread_can_leave_nobody_watching() {
    give_up_racing_a_worker_back_to_work(false);
}

/// The watcher X (0) leaves to run a task (rescued, or its own) while W
/// (1), running, puts a task in its LIFO slot and asks for a watcher; P
/// (2) is parked. X gives the role up and, with `hand_off`, asks for a
/// watcher itself. Either way W's LIFO task ends up watched: the role is
/// held, or P was woken to take it.
fn watcher_leaving_racing_a_lifo_push(hand_off: bool) {
    loom::model(move || {
        let idle = Arc::new(IdleModel::new(3));
        idle.to_parked(2, false);
        idle.to_parked(0, false);
        assert!(idle.try_become_watcher());

        let i2 = idle.clone();
        let pusher = thread::spawn(move || i2.worker_to_notify_for_watch());

        // X's way out of `park`: back in the unparked count, then the one
        // place the role is given up.
        assert!(idle.unpark_by_id(0));
        idle.stop_watching();
        if hand_off {
            idle.worker_to_notify_for_watch();
        }
        pusher.join().unwrap();
        assert!(
            idle.watching() || !idle.is_parked(2),
            "a LIFO task on a running worker with no watcher and nobody woken"
        );
    });
}

#[test]
fn a_watcher_leaving_hands_the_role_on() {
    watcher_leaving_racing_a_lifo_push(true);
}

/// Without the hand-off, W's ask can see the role still held by X.
#[test]
#[should_panic(expected = "no watcher and nobody woken")]
fn a_watcher_leaving_without_a_hand_off_can_leave_nobody_watching() {
    watcher_leaving_racing_a_lifo_push(false);
}

/// A waker that does nothing (the models only look at the wheel).
struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: StdArc<Self>) {}
}

/// A timer registered off the workers (`Shared::timer_lowered`) in the
/// wheel of worker 0 (O), parked, while O goes back to work; worker 1 (S)
/// is parked. The registrar asks for a watcher only if O is not listed as
/// parked; O asks before its next poll if its wheel holds a timer. O then
/// holds the timer, so one of them must wake S: `is_parked` reads the
/// list after the timer is published, O reads the wheel after leaving the
/// list, and both go through the list's lock. (`publish_first: false`
/// reads the list first, the order that would break it.)
fn timer_lowered_racing_its_parked_owner(publish_first: bool) {
    loom::model(move || {
        let idle = Arc::new(IdleModel::new(2));
        idle.to_parked(1, false);
        idle.to_parked(0, false);
        let wheel = Arc::new(TimerWheel::new());

        let (i2, w2) = (idle.clone(), wheel.clone());
        let registrar = thread::spawn(move || {
            let waker = Waker::from(StdArc::new(NoopWaker));
            if publish_first {
                // What `Shared::timer_lowered` does.
                w2.register(5, &waker);
                i2.worker_to_notify_for_watch_of(0);
            } else {
                let parked = i2.is_parked(0);
                w2.register(5, &waker);
                if !parked {
                    i2.worker_to_notify_for_watch();
                }
            }
        });

        // O's way back to work, then `settle_watch` before its poll.
        assert!(idle.unpark_by_id(0));
        if wheel.has_pending_timer() {
            idle.worker_to_notify_for_watch();
        }
        registrar.join().unwrap();
        assert!(
            idle.watching() || !idle.is_parked(1),
            "a timer in a running worker's wheel with no watcher and nobody woken"
        );
    });
}

#[test]
fn a_timer_lowered_for_a_parked_owner_is_watched_once_it_runs() {
    timer_lowered_racing_its_parked_owner(true);
}

#[test]
#[should_panic(expected = "nobody woken")]
fn a_timer_lowered_reading_the_idle_list_first_can_go_unwatched() {
    timer_lowered_racing_its_parked_owner(false);
}
