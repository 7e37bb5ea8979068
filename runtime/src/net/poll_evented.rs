//! [`PollEvented`]: a mio source registered with a worker's driver, the
//! building block of every socket type.

use std::io;
use std::task::{Context, Poll};

use mio::event::Source;

use crate::runtime::context;
use crate::runtime::driver::scheduled_io::Direction;
use crate::runtime::driver::Registration;

const NO_RUNTIME: &str = "there is no weft runtime on this thread: sockets must be created \
     inside a weft runtime, in a task, in `Runtime::block_on` or while a `Runtime::enter` guard \
     lives";

/// An error naming the missing runtime unless this thread is in one: for
/// sockets that check before a system call with effects (`connect`).
pub(super) fn require_runtime() -> io::Result<()> {
    context::with_current(|_| ()).ok_or_else(|| io::Error::other(NO_RUNTIME))
}

/// A non-blocking mio source plus its registration. Dropping it
/// deregisters the source before closing it, so no registration or file
/// descriptor leaks. (Public only inside a private module, so the crate
/// private stream traits may name it.)
pub struct PollEvented<E: Source> {
    io: Option<E>,
    registration: Registration,
}

impl<E: Source> PollEvented<E> {
    /// Registers `io` for both directions with the current worker's driver.
    pub(super) fn new(io: E) -> io::Result<Self> {
        Self::new_with_interest(io, mio::Interest::READABLE | mio::Interest::WRITABLE)
    }

    /// Registers `io` for `interest` only.
    pub(crate) fn new_with_interest(mut io: E, interest: mio::Interest) -> io::Result<Self> {
        let registration = context::with_current(|runtime| runtime.register_io(&mut io, interest))
            .unwrap_or_else(|| Err(io::Error::other(NO_RUNTIME)))?;
        Ok(PollEvented { io: Some(io), registration })
    }

    /// The source.
    pub(crate) fn io(&self) -> &E {
        self.io.as_ref().expect("the source is present until into_inner")
    }

    /// Deregisters and returns the source (for `into_std`).
    pub(crate) fn into_inner(mut self) -> io::Result<E> {
        let mut io = self.io.take().expect("the source is present until into_inner");
        self.registration.deregister(&mut io)?;
        Ok(io)
    }

    /// Waits for readiness in `direction`, then runs `op`; on `WouldBlock`
    /// clears the readiness and waits again.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.io();
        self.registration.poll_io(cx, direction, || op(io))
    }

    /// [`PollEvented::poll_io`] for stream reads and writes of `requested`
    /// bytes (see `Registration::poll_stream_io`).
    pub(super) fn poll_stream_io(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        requested: usize,
        mut op: impl FnMut(&E) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let io = self.io();
        self.registration.poll_stream_io(cx, direction, requested, || op(io))
    }

    /// Runs `op` now if the source looks ready, else `WouldBlock`.
    pub(super) fn try_io<R>(
        &self,
        direction: Direction,
        op: impl FnOnce(&E) -> io::Result<R>,
    ) -> io::Result<R> {
        let io = self.io();
        self.registration.try_io(direction, || op(io))
    }

    /// Waits until the source is ready in `direction`.
    pub(super) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<io::Result<()>> {
        self.registration.poll_ready(cx, direction).map_ok(|_| ())
    }

    /// Waits until the source is ready in `direction`.
    pub(super) async fn ready(&self, direction: Direction) -> io::Result<()> {
        self.registration.ready(direction).await
    }

    /// Waits until the source is ready for `interest`; says for what (the
    /// readiness stays cached until an operation returns `WouldBlock`).
    pub(super) async fn ready_for(
        &self,
        interest: crate::io::Interest,
    ) -> io::Result<crate::io::Ready> {
        let direction = interest.direction();
        let event = std::future::poll_fn(|cx| self.registration.poll_ready(cx, direction)).await?;
        Ok(crate::io::Ready::from_driver(event.ready()))
    }
}

impl<E: Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            // Errors here mean the fd is already gone from epoll; closing
            // it (dropping `io`) is all that is left to do.
            let _ = self.registration.deregister(&mut io);
        }
    }
}

impl<E: Source + std::fmt::Debug> std::fmt::Debug for PollEvented<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}
