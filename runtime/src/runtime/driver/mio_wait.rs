//! The production wait: `mio::Poll` plus a `mio::Waker`.

use std::io;
use std::time::Duration;

use parking_lot::Mutex;

/// Token of the waker's registration; sources use slab keys, never this.
const WAKE_TOKEN: mio::Token = mio::Token(usize::MAX);

pub(super) struct Wait {
    /// Held while polling: the owner parks in it; a sibling serving a
    /// stale driver only `try_lock`s it.
    poll: Mutex<mio::Poll>,
    waker: mio::Waker,
}

impl Wait {
    pub(super) fn new() -> io::Result<(Wait, mio::Events, mio::Registry)> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        let wait = Wait { poll: Mutex::new(poll), waker };
        Ok((wait, mio::Events::with_capacity(1024), registry))
    }

    /// Polls, sleeping up to `timeout`, unless `proceed` (checked with the
    /// poll lock held) says not to.
    pub(super) fn wait(
        &self,
        events: &mut mio::Events,
        timeout: Option<Duration>,
        proceed: impl FnOnce() -> bool,
    ) {
        let mut poll = self.poll.lock();
        events.clear();
        if proceed() {
            poll_into(&mut poll, events, timeout);
        }
    }

    /// Polls without sleeping if nobody else is polling; true if it did.
    pub(super) fn try_poll_now(&self, events: &mut mio::Events) -> bool {
        let Some(mut poll) = self.poll.try_lock() else { return false };
        events.clear();
        poll_into(&mut poll, events, Some(Duration::ZERO));
        true
    }

    pub(super) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            panic!("weft: waking a worker failed: {e}");
        }
    }
}

fn poll_into(poll: &mut mio::Poll, events: &mut mio::Events, timeout: Option<Duration>) {
    match poll.poll(events, timeout) {
        Ok(()) => {}
        // A signal interrupted the wait: the caller re-checks anyway.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => events.clear(),
        Err(e) => panic!("weft: polling the worker's driver failed: {e}"),
    }
}
