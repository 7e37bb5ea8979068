//! Loom models of what the stall monitor shares with the workers: the
//! idle set's bell (idle rule 6). The monitor sleeps only while every
//! worker is parked, and the first worker to unpark wakes it; a monitor
//! that slept through an unparked worker would miss that worker's stalls.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::{IdleModel, PollSlotModel};

/// Both workers park; then worker 0 wakes on its own (a driver event)
/// while the monitor, which saw nothing in progress, goes to sleep. The
/// monitor must not stay asleep with worker 0 unparked: it returns, and
/// the model ends (a lost ring is a deadlock loom reports).
#[test]
fn an_unpark_racing_the_monitor_going_to_sleep_wakes_it() {
    loom::model(|| {
        let idle = Arc::new(IdleModel::new(2));
        assert!(!idle.to_parked(0, false));
        assert!(!idle.to_parked(1, false));
        let worker = {
            let idle = idle.clone();
            thread::spawn(move || {
                assert!(idle.unpark_by_id(0));
            })
        };
        // Returns once some worker is unparked; with nobody to ring, an
        // unpark it missed would leave it asleep forever.
        idle.monitor_sleep(|| false);
        assert!(idle.unparked() >= 1, "the monitor woke with a worker unparked");
        worker.join().unwrap();
    });
}

/// A notifier unparks a parked worker for new work (`worker_to_notify`)
/// while the monitor goes to sleep: the same ring, on the other unpark
/// path.
#[test]
fn a_notified_worker_wakes_the_sleeping_monitor() {
    loom::model(|| {
        let idle = Arc::new(IdleModel::new(1));
        assert!(!idle.to_parked(0, false));
        let pusher = {
            let idle = idle.clone();
            thread::spawn(move || {
                assert_eq!(idle.worker_to_notify(), Some(0));
            })
        };
        idle.monitor_sleep(|| false);
        assert_eq!(idle.unparked(), 1);
        pusher.join().unwrap();
    });
}

/// Shutdown: the runtime sets its flag and rings; a monitor asleep over an
/// all-parked runtime returns.
#[test]
fn shutdown_rings_the_monitor_out_of_its_sleep() {
    loom::model(|| {
        let idle = Arc::new(IdleModel::new(1));
        assert!(!idle.to_parked(0, false));
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = {
            let (idle, stop) = (idle.clone(), stop.clone());
            thread::spawn(move || {
                stop.store(true, SeqCst);
                idle.ring_monitor();
            })
        };
        idle.monitor_sleep(|| stop.load(SeqCst));
        assert!(stop.load(SeqCst));
        runtime.join().unwrap();
    });
}

/// The monitor reads a worker's published poll while the worker moves
/// from one poll to the next: whatever id it sees comes with that poll's
/// own spawn location, never another poll's (the release/acquire pairing
/// in `PollSlot`), and between polls it sees none.
#[test]
fn a_published_poll_is_read_with_its_own_location() {
    loom::model(|| {
        let first = std::panic::Location::caller();
        let second = std::panic::Location::caller();
        let slot = Arc::new(PollSlotModel::new());
        let worker = {
            let slot = slot.clone();
            thread::spawn(move || {
                slot.begin(1, first);
                slot.end();
                slot.begin(2, second);
                slot.end();
            })
        };
        for _ in 0..2 {
            match slot.read() {
                None => {}
                Some((1, at)) => {
                    assert!(std::ptr::eq(at, first), "poll 1 read with poll 2's location")
                }
                Some((2, at)) => {
                    assert!(std::ptr::eq(at, second), "poll 2 read with poll 1's location")
                }
                Some(other) => panic!("an id nobody published: {other:?}"),
            }
        }
        worker.join().unwrap();
        assert!(slot.read().is_none(), "no poll in progress after the last end");
    });
}
