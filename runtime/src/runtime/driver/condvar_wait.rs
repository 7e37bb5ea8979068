//! The loom wait: a flag and a condvar (loom cannot run mio), with the same
//! "poll lock" discipline as the mio wait so models see who polls when.

use std::time::Duration;

use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};

pub(super) struct Wait {
    woken: Mutex<bool>,
    condvar: Condvar,
    /// Stands for the mio poll lock: set while someone "polls".
    polling: AtomicBool,
}

impl Wait {
    pub(super) fn new() -> std::io::Result<(Wait, (), ())> {
        let wait = Wait {
            woken: Mutex::new(false),
            condvar: Condvar::new(),
            polling: AtomicBool::new(false),
        };
        Ok((wait, (), ()))
    }

    fn enter_poll(&self) -> bool {
        self.polling.compare_exchange(false, true, SeqCst, SeqCst).is_ok()
    }

    fn exit_poll(&self) {
        self.polling.store(false, SeqCst);
    }

    pub(super) fn wait(
        &self,
        _events: &mut (),
        timeout: Option<Duration>,
        proceed: impl FnOnce() -> bool,
    ) {
        // The owner's "lock": spin-yield until a serving sibling is done.
        while !self.enter_poll() {
            loom::thread::yield_now();
        }
        if proceed() && timeout != Some(Duration::ZERO) {
            // Loom has no clock: a timed wait is untimed here, so models
            // must end every park with an unpark (shutdown unparks all).
            let mut woken = self.woken.lock();
            while !*woken {
                self.condvar.wait(&mut woken);
            }
            *woken = false;
        }
        self.exit_poll();
    }

    pub(super) fn try_poll_now(&self, _events: &mut ()) -> bool {
        if !self.enter_poll() {
            return false;
        }
        // A zero-timeout poll consumes a pending wake-up, as an eventfd
        // read would: this is what the owner's re-check guards against.
        *self.woken.lock() = false;
        self.exit_poll();
        true
    }

    pub(super) fn wake(&self) {
        *self.woken.lock() = true;
        self.condvar.notify_one();
    }
}
