//! The I/O half of a worker's driver: mio's side of the registered
//! sources (registration with the OS, event dispatch) and
//! [`Registration`], the handle a socket keeps on its source. The slab of
//! sources itself, and its shutdown protocol, is in `sources`.
//!
//! A token is a slab key plus a generation (see `sources`), so an event
//! meant for a deregistered source never reaches the one reusing its key.

use std::io;
use std::task::{Context, Poll};

use mio::event::Source;

use super::scheduled_io::{Direction, Ready, ReadyEvent, ScheduledIo};
use super::sources::Sources;
use super::DriverHandle;
use crate::loom::sync::Arc;
use crate::runtime::coop;

/// The mio side of one driver's sources.
pub(super) struct IoRegistry {
    registry: mio::Registry,
}

impl IoRegistry {
    pub(super) fn new(registry: mio::Registry) -> IoRegistry {
        IoRegistry { registry }
    }

    fn register(
        &self,
        sources: &Sources,
        source: &mut impl Source,
        interest: mio::Interest,
    ) -> io::Result<(usize, Arc<ScheduledIo>)> {
        sources.register(|token| self.registry.register(source, mio::Token(token), interest))
    }

    fn deregister(
        &self,
        sources: &Sources,
        token: usize,
        source: &mut impl Source,
    ) -> io::Result<()> {
        let result = self.registry.deregister(source);
        sources.remove(token);
        result
    }
}

/// Delivers a batch of mio events of dispatch round `tick` to `sources`.
pub(super) fn dispatch(
    sources: &Sources,
    events: &mio::Events,
    tick: usize,
    scratch: &mut Vec<(Arc<ScheduledIo>, Ready)>,
) {
    sources.dispatch(events.iter().map(|e| (e.token().0, ready_of(e))), tick, scratch);
}

fn ready_of(event: &mio::event::Event) -> Ready {
    let mut ready = Ready::EMPTY;
    if event.is_readable() {
        ready = ready | Ready::READABLE;
    }
    if event.is_writable() {
        ready = ready | Ready::WRITABLE;
    }
    if event.is_read_closed() {
        ready = ready | Ready::READ_CLOSED;
    }
    if event.is_write_closed() {
        ready = ready | Ready::WRITE_CLOSED;
    }
    if event.is_error() {
        ready = ready | Ready::ERROR;
    }
    ready
}

fn shut_down_error() -> io::Error {
    io::Error::other("the weft runtime this socket belongs to has shut down")
}

/// A source's registration with one worker's driver. The owner must call
/// [`Registration::deregister`] with the source before dropping it.
pub(crate) struct Registration {
    driver: DriverHandle,
    token: usize,
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// Registers `source` with `driver` (the scheduler picks which worker's:
    /// see `Shared::register_io`).
    pub(crate) fn new(
        driver: &DriverHandle,
        source: &mut impl Source,
        interest: mio::Interest,
    ) -> io::Result<Registration> {
        let shared = &driver.shared;
        let (token, io) = shared.io.register(&shared.sources, source, interest)?;
        Ok(Registration { driver: driver.clone(), token, io })
    }

    /// Removes `source` from its driver.
    pub(crate) fn deregister(&self, source: &mut impl Source) -> io::Result<()> {
        let shared = &self.driver.shared;
        shared.io.deregister(&shared.sources, self.token, source)
    }

    /// Waits until the source is ready in `direction`. Spends one unit of
    /// the task's coop budget when ready, so an always-ready socket still
    /// yields to its neighbours.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        let restore = std::task::ready!(coop::poll_proceed(cx));
        match self.io.poll_readiness(cx, direction) {
            Poll::Ready(Ok(event)) => {
                restore.made_progress();
                Poll::Ready(Ok(event))
            }
            Poll::Ready(Err(_)) => Poll::Ready(Err(shut_down_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Forgets readiness observed by `event` (after `WouldBlock`), unless
    /// a newer event arrived since.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event);
    }

    /// Runs the non-blocking `op` once the source is ready in `direction`,
    /// clearing readiness and waiting again on `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = std::task::ready!(self.poll_ready(cx, direction))?;
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                result => return Poll::Ready(result),
            }
        }
    }

    /// Like [`Registration::poll_io`] for a stream read or write of
    /// `requested` bytes: a partial transfer (`0 < n < requested`) also
    /// clears the readiness it used, since the socket buffer is drained (or
    /// full) and the next call would only return `WouldBlock`; the tick
    /// check keeps any event that arrived meanwhile.
    pub(crate) fn poll_stream_io(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        requested: usize,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let event = std::task::ready!(self.poll_ready(cx, direction))?;
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                Ok(n) if n > 0 && n < requested => {
                    self.clear_readiness(event);
                    return Poll::Ready(Ok(n));
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Runs `op` if the source looks ready in `direction`, without waiting:
    /// `WouldBlock` (after clearing readiness) if it is not.
    pub(crate) fn try_io<R>(
        &self,
        direction: Direction,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        // Only a look: registering a waker here could replace the one of a
        // task waiting in `readable()`/`writable()`.
        let event = match self.io.ready_now(direction) {
            Ok(Some(event)) => event,
            Ok(None) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(_) => return Err(shut_down_error()),
        };
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_readiness(event);
                Err(e)
            }
            result => result,
        }
    }

    /// Waits until the source is ready in `direction` (for `readable()` /
    /// `writable()`).
    pub(crate) async fn ready(&self, direction: Direction) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_ready(cx, direction)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::runtime::driver::sources::key_of;

    /// Polls `poll` until an event for `token` arrives (bounded); returns
    /// the whole batch it came in.
    fn harvest(poll: &mut mio::Poll, token: usize) -> mio::Events {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = mio::Events::with_capacity(64);
        loop {
            poll.poll(&mut events, Some(Duration::from_millis(100))).expect("poll");
            if events.iter().any(|e| e.token().0 == token) {
                return events;
            }
            assert!(Instant::now() < deadline, "no event for the source within 20 s");
        }
    }

    /// A batch harvested for a source, dispatched after that source was
    /// deregistered and its slab key reused: the new source must not get
    /// the old one's readiness (here read-closed, which `clear_readiness`
    /// never clears: the new socket's reader would spin).
    #[test]
    fn a_stale_event_never_reaches_the_source_that_reuses_its_key() {
        let mut poll = mio::Poll::new().unwrap();
        let registry = IoRegistry::new(poll.registry().try_clone().unwrap());
        let sources = Sources::new();

        // The old source: a connection whose peer hangs up.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let mut old = mio::net::TcpStream::from_std(accepted);
        let (old_token, _old_io) =
            registry.register(&sources, &mut old, mio::Interest::READABLE).unwrap();
        peer.write_all(b"bye").unwrap();
        drop(peer);
        let events = harvest(&mut poll, old_token);

        // Deregistered before its events are dispatched; a new source takes
        // the freed slab key.
        registry.deregister(&sources, old_token, &mut old).unwrap();
        drop(old);
        let mut new = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (new_token, new_io) =
            registry.register(&sources, &mut new, mio::Interest::READABLE).unwrap();
        assert_eq!(key_of(old_token), key_of(new_token), "the slab reuses the freed key");

        let mut scratch = Vec::new();
        dispatch(&sources, &events, 1, &mut scratch);
        let stale = new_io.ready_now(Direction::Read).ok().flatten();
        assert!(
            stale.is_none(),
            "the old source's event (token {old_token}) reached the new source (token \
             {new_token}): {stale:?}"
        );

        // The new source's own events still arrive.
        sources.dispatch([(new_token, Ready::READABLE)].into_iter(), 2, &mut scratch);
        assert!(matches!(new_io.ready_now(Direction::Read), Ok(Some(_))));
        registry.deregister(&sources, new_token, &mut new).unwrap();
    }
}
