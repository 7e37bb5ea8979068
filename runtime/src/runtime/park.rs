//! `block_on`'s executor: poll the future on the calling thread, sleeping
//! on a condvar between wakes.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use crate::loom::sync::{Condvar, Mutex};
use crate::runtime::coop;

/// Parks a thread blocked in `block_on` until [`ThreadParker::unpark`]
/// (an unpark before the park is not lost).
pub(super) struct ThreadParker {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl ThreadParker {
    pub(super) fn new() -> ThreadParker {
        ThreadParker { notified: Mutex::new(false), condvar: Condvar::new() }
    }

    pub(super) fn park(&self) {
        let mut notified = self.notified.lock();
        while !*notified {
            self.condvar.wait(&mut notified);
        }
        *notified = false;
    }

    pub(super) fn unpark(&self) {
        *self.notified.lock() = true;
        self.condvar.notify_one();
    }
}

impl Wake for ThreadParker {
    fn wake(self: StdArc<Self>) {
        self.unpark();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.unpark();
    }
}

/// Runs `future` to completion on this thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let parker = StdArc::new(ThreadParker::new());
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = coop::with_budget(|| future.as_mut().poll(&mut cx)) {
            return output;
        }
        parker.park();
    }
}
