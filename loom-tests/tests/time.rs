//! Loom models of the timer wheel's cross-thread protocol: the real
//! `TimeShared` (wheel behind its lock, published deadline hints) driven
//! with an explicit clock through `weft::__loom::TimerWheel`.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use weft::__loom::TimerWheel;

/// A waker that counts its wakes.
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (StdArc<CountingWaker>, Waker) {
    let inner = StdArc::new(CountingWaker { wakes: AtomicUsize::new(0) });
    (inner.clone(), Waker::from(inner))
}

/// A timer cancelled (its `Sleep` dropped) on one thread while a worker
/// fires it on another is woken at most once, removed exactly once (the
/// slab would panic on a second removal), and its waker is not leaked.
#[test]
fn cancel_racing_fire() {
    loom::model(|| {
        let wheel = loom::sync::Arc::new(TimerWheel::new());
        let (count, waker) = counting_waker();
        let (key, fired) = wheel.register(5, &waker);
        assert!(!fired);
        drop(waker);

        let w = wheel.clone();
        let canceller = thread::spawn(move || w.remove(key));
        let woken = wheel.advance(10);
        canceller.join().unwrap();

        assert!(woken <= 1);
        assert!(count.wakes.load(SeqCst) <= 1, "woken more than once");
        assert!(wheel.is_empty(), "entry not freed");
        assert_eq!(StdArc::strong_count(&count), 1, "waker leaked");
    });
}

/// The owner and a sibling serving a stale wheel advance it at once: every
/// due timer is woken exactly once.
#[test]
fn two_advancers_wake_once() {
    loom::model(|| {
        let wheel = loom::sync::Arc::new(TimerWheel::new());
        let (count, waker) = counting_waker();
        let (a, _) = wheel.register(3, &waker);
        let (b, _) = wheel.register(7, &waker);

        // The owner last advanced at tick 0: at 8 the wheel is stale.
        let w = wheel.clone();
        let sibling = thread::spawn(move || w.serve_stale(8));
        wheel.advance(8);
        sibling.join().unwrap();

        assert_eq!(count.wakes.load(SeqCst), 2, "each timer woken exactly once");
        assert!(wheel.poll(a, &waker) && wheel.poll(b, &waker));
        wheel.remove(a);
        wheel.remove(b);
        assert!(wheel.is_empty());
    });
}

/// A reset to a later deadline racing the firing of the old one never
/// loses the new deadline: whatever the order, once the clock passes the
/// new deadline the timer has fired, and its task was woken (at the old
/// deadline, after which it re-registers its waker as `Sleep::poll` does,
/// or at the new one).
#[test]
fn reset_racing_fire_keeps_the_new_deadline() {
    loom::model(|| {
        let wheel = loom::sync::Arc::new(TimerWheel::new());
        let (count, waker) = counting_waker();
        let (key, _) = wheel.register(5, &waker);

        let w = wheel.clone();
        let resetter = thread::spawn(move || w.reset(key, 20));
        wheel.advance(10);
        resetter.join().unwrap();

        // The task, if woken by the old deadline, polls once more.
        let fired_early = wheel.poll(key, &waker);
        assert!(!fired_early, "the reset happened (joined): the timer is armed for 20");
        wheel.advance(19);
        assert!(!wheel.poll(key, &waker), "fired before the new deadline");
        wheel.advance(20);
        assert!(wheel.poll(key, &waker), "the new deadline was lost");
        assert!(count.wakes.load(SeqCst) >= 1);
        wheel.remove(key);
    });
}

/// A reset to a deadline that is already due wakes the waiting task
/// exactly once, by the next advance at the latest (the owner's next park
/// or driver poll), even while another thread advances the wheel.
#[test]
fn reset_into_the_past_wakes() {
    loom::model(|| {
        let wheel = loom::sync::Arc::new(TimerWheel::new());
        let (count, waker) = counting_waker();
        let (key, _) = wheel.register(50, &waker);
        wheel.advance(10);

        let w = wheel.clone();
        let advancer = thread::spawn(move || w.advance(12));
        wheel.reset(key, 4);
        advancer.join().unwrap();
        // The owner's next park or driver poll.
        wheel.advance(12);

        assert_eq!(count.wakes.load(SeqCst), 1, "woken exactly once");
        assert!(wheel.poll(key, &waker));
        wheel.remove(key);
    });
}

/// A `Sleep`'s first poll (registration) racing runtime shutdown (set the
/// flag, then wake every timer's waiter): either the poll reports the
/// shutdown or the shutdown wakes its waker. Otherwise the task waits
/// forever on a wheel nobody advances any more.
#[test]
fn first_poll_racing_shutdown() {
    loom::model(|| {
        let wheel = loom::sync::Arc::new(TimerWheel::new());
        let (count, waker) = counting_waker();

        let w = wheel.clone();
        let shutdown = thread::spawn(move || w.shut_down());
        let registered = wheel.register_unless_shut_down(5, &waker);
        shutdown.join().unwrap();

        if let Some(key) = registered {
            assert_eq!(
                count.wakes.load(SeqCst),
                1,
                "registered after the shutdown woke every timer, and not told of the shutdown"
            );
            wheel.remove(key);
        }
    });
}
