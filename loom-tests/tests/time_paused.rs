//! Loom models of the paused clock (`runtime/src/runtime/time/clock.rs`)
//! with the real wheel (`TimeShared`), through `weft::__loom::PausedTimer`:
//! `weft::time::advance` racing a `sleep` made on another thread (a
//! `Handle` used from a foreign thread, a blocking-pool thread), and the
//! paused time read from another thread.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::PausedTimer;

/// A waker that counts its wakes and records the clock's tick at the
/// latest one.
struct Recording {
    timer: Arc<PausedTimer>,
    wakes: AtomicUsize,
    woken_at: AtomicU64,
}

impl Wake for Recording {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.woken_at.store(self.timer.now_tick(), SeqCst);
        self.wakes.fetch_add(1, SeqCst);
    }
}

fn recording(timer: &Arc<PausedTimer>) -> (StdArc<Recording>, Waker) {
    let inner = StdArc::new(Recording {
        timer: timer.clone(),
        wakes: AtomicUsize::new(0),
        woken_at: AtomicU64::new(0),
    });
    (inner.clone(), Waker::from(inner))
}

/// `advance(10 ms)` on the worker races `sleep(10 ms)` registered from
/// another thread, which may read the clock before or after the advance
/// and register before or after the fire. Whatever the order, once the
/// clock has passed the deadline the timer has fired exactly once (woken,
/// or seen due at registration), and never at a tick before its deadline.
#[test]
fn advance_racing_a_foreign_registration() {
    loom::model(|| {
        let timer = Arc::new(PausedTimer::new());
        let (record, waker) = recording(&timer);

        let t = timer.clone();
        let foreign = thread::spawn(move || t.sleep(10, &waker));
        timer.advance(10);
        let (key, tick, due_at_once) = foreign.join().unwrap();

        assert!(tick == 10 || tick == 20, "the deadline is 10 ms after a clock reading");
        // Whichever deadline it got, advance past it (the test's next
        // `advance`, or auto-advance).
        timer.advance(10);
        let wakes = record.wakes.load(SeqCst);
        assert_eq!(wakes + usize::from(due_at_once), 1, "fired exactly once");
        if wakes == 1 {
            assert!(record.woken_at.load(SeqCst) >= tick, "fired before its deadline");
        }
        let waker = Waker::noop();
        assert!(timer.poll(key, waker));
        timer.remove(key);
    });
}

/// The paused time read on another thread while the worker advances it
/// never goes back and is always a time the clock was set to.
#[test]
fn paused_time_read_elsewhere_is_monotonic() {
    loom::model(|| {
        let timer = Arc::new(PausedTimer::new());
        let t = timer.clone();
        let reader = thread::spawn(move || (t.now_tick(), t.now_tick()));
        timer.advance(5);
        timer.advance(5);
        let (first, second) = reader.join().unwrap();
        assert!(first <= second, "time went back: {first} then {second}");
        assert!([0, 5, 10].contains(&first) && [0, 5, 10].contains(&second));
        assert_eq!(timer.now_tick(), 10);
    });
}
