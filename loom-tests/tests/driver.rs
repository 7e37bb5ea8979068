//! Loom models of the reactor: the readiness protocol of `ScheduledIo`
//! (separated from mio), the driver's park protocol against a sibling
//! serving it, and the sources slab (registration against shutdown, stale
//! tokens against key reuse).
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::{DriverModel, IoReadiness};

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Readiness set by the driver racing a task's clear after `WouldBlock`
/// loses nothing: whenever data is left unread, the source still reads as
/// readable (so the task's next poll, or its waker, sees it).
#[test]
fn readiness_set_racing_clear_loses_nothing() {
    loom::model(|| {
        let io = Arc::new(IoReadiness::new());
        let data = Arc::new(AtomicBool::new(false));
        // An earlier event the task is about to act on.
        io.set_readable(0);

        let (io2, data2) = (io.clone(), data.clone());
        let driver = thread::spawn(move || {
            // New bytes arrive, then the edge-triggered event is delivered.
            data2.store(true, SeqCst);
            io2.set_readable(1);
        });

        let counter = StdArc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(event) = io.poll_readable(&mut cx) {
            // The read: takes the bytes if they are there.
            if !data.swap(false, SeqCst) {
                io.clear(event);
            }
        }
        driver.join().unwrap();

        if data.load(SeqCst) {
            assert!(io.is_readable(), "unread data but readiness was cleared: lost wakeup");
        }
    });
}

/// A task that registers its waker while the driver delivers an event is
/// either woken or sees the readiness on its poll.
#[test]
fn poll_racing_event_is_never_lost() {
    loom::model(|| {
        let io = Arc::new(IoReadiness::new());
        let io2 = io.clone();
        let driver = thread::spawn(move || io2.set_readable(1));

        let counter = StdArc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let ready_at_poll = io.poll_readable(&mut cx).is_ready();
        driver.join().unwrap();
        assert!(
            ready_at_poll || counter.0.load(SeqCst) == 1,
            "the event neither showed in the poll nor woke the task"
        );
    });
}

/// A sibling polling a stale driver racing its owner's return to park: the
/// two never poll at once (the poll lock), and a sibling poll that swallows
/// the owner's wake-up cannot make the owner sleep through an unpark (the
/// owner re-checks its state under the poll lock).
#[test]
fn sibling_serving_a_stale_driver_racing_its_owner() {
    loom::model(|| {
        let (mut owner, handle) = DriverModel::new();
        let (mut sibling, _) = DriverModel::new();
        let h2 = handle.clone();
        let serving = thread::spawn(move || {
            sibling.serve(&h2);
        });
        let h3 = handle.clone();
        let waking = thread::spawn(move || h3.unpark());
        // Must return: the unpark is never lost.
        owner.park();
        serving.join().unwrap();
        waking.join().unwrap();
    });
}

/// A socket created while the runtime shuts down: the registration either
/// lands before the shutdown's sweep (and its source is shut down with the
/// rest) or fails; it never ends up registered yet untouched by the
/// shutdown (a source whose waits would never end).
#[test]
fn registration_racing_shutdown_is_failed_or_shut_down() {
    loom::model(|| {
        let (_owner, handle) = DriverModel::new();
        let h2 = handle.clone();
        let shutdown = thread::spawn(move || h2.shutdown_io());
        let registered = handle.register_source();
        shutdown.join().unwrap();
        match registered {
            Ok(source) => {
                assert!(
                    source.is_shut_down(),
                    "a source registered before the shutdown survived it"
                )
            }
            Err(e) => assert!(e.to_string().contains("shut down"), "unexpected error: {e}"),
        }
        // After the shutdown, registering always fails.
        assert!(handle.register_source().is_err(), "registered after the shutdown");
    });
}

/// A sibling dispatches an event harvested for a source while the source's
/// owner drops it and creates another that reuses its slab key: the event
/// reaches the old source or nobody, never the new one (whose reader would
/// spin on a stale closed bit).
#[test]
fn a_stale_event_racing_key_reuse_never_reaches_the_new_source() {
    loom::model(|| {
        let (_owner, handle) = DriverModel::new();
        let old = handle.register_source().unwrap();
        let (old_token, old_key) = (old.token(), old.key());
        let h2 = handle.clone();
        let dispatching = thread::spawn(move || h2.dispatch_read_closed(old_token, 1));
        handle.deregister_source(old);
        let new = handle.register_source().unwrap();
        dispatching.join().unwrap();
        assert_eq!(new.key(), old_key, "the slab reuses the freed key");
        assert!(!new.is_readable(), "the old source's event reached the new source");
    });
}
