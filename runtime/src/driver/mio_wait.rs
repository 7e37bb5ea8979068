//! The production wait: `mio::Poll` plus a `mio::Waker`.

use std::io;
use std::time::Duration;

use super::WaitSource;

/// Token of the waker's registration; no I/O source uses it.
const WAKE_TOKEN: mio::Token = mio::Token(usize::MAX);

pub(super) struct Wait {
    /// Only the owner polls; the mutex costs nothing uncontended and lets
    /// a sibling serve a stale driver later (I/O issue).
    poll: parking_lot::Mutex<mio::Poll>,
    waker: mio::Waker,
}

impl WaitSource for Wait {
    type Events = mio::Events;

    fn new() -> io::Result<(Self, mio::Events)> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok((Wait { poll: parking_lot::Mutex::new(poll), waker }, mio::Events::with_capacity(256)))
    }

    fn wait(&self, events: &mut mio::Events, timeout: Option<Duration>) {
        let mut poll = self.poll.lock();
        match poll.poll(events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: the caller re-checks anyway.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("weft: polling the worker's driver failed: {e}"),
        }
        // Only the waker is registered so far; its events need no handling
        // (the eventfd is reset by mio when it fills up).
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            panic!("weft: waking a worker failed: {e}");
        }
    }
}
