//! The loom wait: a flag and a condvar (loom cannot run mio).

use std::io;
use std::time::Duration;

use super::WaitSource;
use crate::loom::sync::{Condvar, Mutex};

pub(super) struct Wait {
    woken: Mutex<bool>,
    condvar: Condvar,
}

impl WaitSource for Wait {
    type Events = ();

    fn new() -> io::Result<(Self, ())> {
        Ok((Wait { woken: Mutex::new(false), condvar: Condvar::new() }, ()))
    }

    fn wait(&self, _events: &mut (), timeout: Option<Duration>) {
        let mut woken = self.woken.lock();
        if timeout == Some(Duration::ZERO) {
            return;
        }
        // Loom has no clock: a timed wait is untimed here, so models must
        // end every park with an unpark (shutdown unparks everyone).
        while !*woken {
            self.condvar.wait(&mut woken);
        }
        *woken = false;
    }

    fn wake(&self) {
        *self.woken.lock() = true;
        self.condvar.notify_one();
    }
}
