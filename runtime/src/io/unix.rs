//! [`AsyncFd`]: any pollable file descriptor on a worker's reactor, with
//! Tokio's readiness guards.
//!
//! The descriptor is registered like a socket's (`Shared::register_io`,
//! readiness in the driver's `ScheduledIo`), so a task stolen to another
//! worker while it waits is still woken.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::task::{Context, Poll};

use mio::unix::SourceFd;

use super::{Interest, Ready};
use crate::runtime::context;
use crate::runtime::driver::scheduled_io::{Direction, ReadyEvent};
use crate::runtime::driver::Registration;

const NO_RUNTIME: &str = "there is no weft runtime on this thread: an AsyncFd must be created \
     inside a weft runtime, in a task or in `Runtime::block_on`";

/// A file descriptor (owned by `T`) registered with a weft reactor, to
/// wait until it is readable or writable.
///
/// `AsyncFd` does no I/O itself: wait with [`readable`](AsyncFd::readable)
/// or [`writable`](AsyncFd::writable) (or [`ready`](AsyncFd::ready)), then
/// do the non-blocking operation through the returned guard's
/// [`try_io`](AsyncFdReadyGuard::try_io), which clears the cached readiness
/// when the operation returns `WouldBlock`, so the next wait really waits.
/// The descriptor must be in non-blocking mode, and the OS must be able to
/// poll it (epoll refuses regular files and directories: `new` returns that
/// error).
///
/// Readiness is edge-triggered underneath and cached here: after a wait
/// returned, every later wait returns at once until the readiness is
/// cleared ([`AsyncFdReadyGuard::clear_ready`], or `try_io` on
/// `WouldBlock`). Clearing only after `WouldBlock` never loses a wake-up.
///
/// Dropping the `AsyncFd` (or [`into_inner`](AsyncFd::into_inner))
/// deregisters the descriptor first; `AsyncFd` never closes it itself:
/// dropping `T` does, if `T` owns it.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use weft::io::unix::AsyncFd;
///
/// let (mut tx, rx) = UnixStream::pair()?;
/// rx.set_nonblocking(true)?;
/// let rx = AsyncFd::new(rx)?;
/// tx.write_all(b"ping")?;
///
/// let mut buf = [0; 16];
/// let n = loop {
///     let mut guard = rx.readable().await?;
///     match guard.try_io(|fd| fd.get_ref().read(&mut buf)) {
///         Ok(result) => break result?,
///         Err(_would_block) => continue, // readiness cleared: wait again
///     }
/// };
/// assert_eq!(&buf[..n], b"ping");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct AsyncFd<T: AsRawFd> {
    registration: Registration,
    /// `None` only inside `into_inner`, after it took the value out.
    inner: Option<T>,
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner`'s descriptor for reading and writing with the
    /// current runtime's reactor.
    ///
    /// Fails with the OS's error if the descriptor cannot be polled (`EPERM`
    /// for a regular file), or with an error naming the runtime outside
    /// one; `inner` is dropped in both cases.
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        AsyncFd::with_interest(inner, Interest::READABLE | Interest::WRITABLE)
    }

    /// Registers `inner`'s descriptor for `interest` only (waits for the
    /// other side never end).
    pub fn with_interest(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        let fd = inner.as_raw_fd();
        let registration = context::with_current(|runtime| {
            runtime.register_io(&mut SourceFd(&fd), interest.to_mio())
        })
        .unwrap_or_else(|| Err(io::Error::other(NO_RUNTIME)))?;
        Ok(AsyncFd { registration, inner: Some(inner) })
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("the value is present until into_inner")
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("the value is present until into_inner")
    }

    /// Deregisters the descriptor and gives the value back, still open.
    pub fn into_inner(mut self) -> T {
        let inner = self.inner.take().expect("the value is present until into_inner");
        self.deregister(&inner);
        inner
    }

    fn deregister(&self, inner: &T) {
        // An error means epoll has already forgotten the descriptor (it was
        // closed behind our back); the slab entry goes either way.
        let _ = self.registration.deregister(&mut SourceFd(&inner.as_raw_fd()));
    }

    fn poll_event(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.registration.poll_ready(cx, direction)
    }

    /// Polls for read readiness: `Ready` with a guard once the descriptor
    /// is readable (or its read side closed).
    pub fn poll_read_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>> {
        self.poll_event(cx, Direction::Read)
            .map_ok(|event| AsyncFdReadyGuard { async_fd: self, event: Some(event) })
    }

    /// Polls for write readiness, like
    /// [`poll_read_ready`](AsyncFd::poll_read_ready).
    pub fn poll_write_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>> {
        self.poll_event(cx, Direction::Write)
            .map_ok(|event| AsyncFdReadyGuard { async_fd: self, event: Some(event) })
    }

    /// [`poll_read_ready`](AsyncFd::poll_read_ready) with a guard that
    /// gives `&mut` access.
    pub fn poll_read_ready_mut<'a>(
        &'a mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyMutGuard<'a, T>>> {
        let event = std::task::ready!(self.poll_event(cx, Direction::Read))?;
        Poll::Ready(Ok(AsyncFdReadyMutGuard { async_fd: self, event: Some(event) }))
    }

    /// [`poll_write_ready`](AsyncFd::poll_write_ready) with a guard that
    /// gives `&mut` access.
    pub fn poll_write_ready_mut<'a>(
        &'a mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyMutGuard<'a, T>>> {
        let event = std::task::ready!(self.poll_event(cx, Direction::Write))?;
        Poll::Ready(Ok(AsyncFdReadyMutGuard { async_fd: self, event: Some(event) }))
    }

    /// Waits until the descriptor is ready for `interest` (either side, if
    /// both); the guard's [`ready`](AsyncFdReadyGuard::ready) says which.
    /// Errors only once the runtime has shut down.
    pub async fn ready(&self, interest: Interest) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        let event = poll_fn(|cx| self.poll_event(cx, interest.direction())).await?;
        Ok(AsyncFdReadyGuard { async_fd: self, event: Some(event) })
    }

    /// [`ready`](AsyncFd::ready) with a guard that gives `&mut` access.
    pub async fn ready_mut(
        &mut self,
        interest: Interest,
    ) -> io::Result<AsyncFdReadyMutGuard<'_, T>> {
        let event = poll_fn(|cx| self.poll_event(cx, interest.direction())).await?;
        Ok(AsyncFdReadyMutGuard { async_fd: self, event: Some(event) })
    }

    /// Waits until the descriptor is readable (or its read side closed).
    pub async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.ready(Interest::READABLE).await
    }

    /// [`readable`](AsyncFd::readable) with a guard that gives `&mut`
    /// access.
    pub async fn readable_mut(&mut self) -> io::Result<AsyncFdReadyMutGuard<'_, T>> {
        self.ready_mut(Interest::READABLE).await
    }

    /// Waits until the descriptor is writable (or its write side closed).
    pub async fn writable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.ready(Interest::WRITABLE).await
    }

    /// [`writable`](AsyncFd::writable) with a guard that gives `&mut`
    /// access.
    pub async fn writable_mut(&mut self) -> io::Result<AsyncFdReadyMutGuard<'_, T>> {
        self.ready_mut(Interest::WRITABLE).await
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.deregister(&inner);
        }
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd").field("inner", &self.inner).finish()
    }
}

/// Clears `event` (all of it, or only `matching`) from `async_fd`'s cached
/// readiness, leaving `event` with what was not cleared.
fn clear<T: AsRawFd>(async_fd: &AsyncFd<T>, event: &mut Option<ReadyEvent>, matching: Ready) {
    if let Some(observed) = *event {
        async_fd.registration.clear_readiness(observed.only(matching.to_driver()));
        let left = observed.ready().difference(matching.to_driver());
        *event = (!left.is_empty()).then(|| observed.only(left));
    }
}

/// Every readiness bit (`clear_ready` clears whatever was observed).
fn all() -> Ready {
    Ready::READABLE | Ready::WRITABLE | Ready::READ_CLOSED | Ready::WRITE_CLOSED | Ready::ERROR
}

/// The readiness an [`AsyncFd`] wait observed; see
/// [`clear_ready`](AsyncFdReadyGuard::clear_ready) and
/// [`try_io`](AsyncFdReadyGuard::try_io). Dropping it keeps the readiness
/// cached.
#[must_use = "the readiness is cached until cleared: use try_io or clear_ready"]
pub struct AsyncFdReadyGuard<'a, T: AsRawFd> {
    async_fd: &'a AsyncFd<T>,
    /// `None` once cleared.
    event: Option<ReadyEvent>,
}

impl<'a, T: AsRawFd> AsyncFdReadyGuard<'a, T> {
    /// Forgets the observed readiness, so the next wait waits for a new
    /// event. Call it after an operation returned `WouldBlock`; an event
    /// that arrived since the wait returned is kept.
    pub fn clear_ready(&mut self) {
        clear(self.async_fd, &mut self.event, all());
    }

    /// Forgets only the observed readiness in `ready` (for a guard from
    /// [`AsyncFd::ready`] with both interests, when one side blocked).
    /// Closed states stay: they are final.
    pub fn clear_ready_matching(&mut self, ready: Ready) {
        clear(self.async_fd, &mut self.event, ready);
    }

    /// Keeps the readiness cached (what dropping the guard does too).
    pub fn retain_ready(&mut self) {}

    /// What the wait found the descriptor ready for (less what was
    /// cleared since).
    pub fn ready(&self) -> Ready {
        self.event.map_or(Ready::EMPTY, |event| Ready::from_driver(event.ready()))
    }

    /// Runs the non-blocking `f`; if it returns `WouldBlock`, clears the
    /// readiness and returns `Err(TryIoError)` (wait again), else its
    /// result.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&'a AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match f(self.async_fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            result => Ok(result),
        }
    }

    /// The [`AsyncFd`] waited on.
    pub fn get_ref(&self) -> &'a AsyncFd<T> {
        self.async_fd
    }

    /// The value inside the [`AsyncFd`].
    pub fn get_inner(&self) -> &'a T {
        self.async_fd.get_ref()
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFdReadyGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyGuard")
            .field("async_fd", self.async_fd)
            .field("ready", &self.ready())
            .finish()
    }
}

/// [`AsyncFdReadyGuard`] for the `_mut` waits: the same, with `&mut`
/// access to the [`AsyncFd`] and its value.
#[must_use = "the readiness is cached until cleared: use try_io or clear_ready"]
pub struct AsyncFdReadyMutGuard<'a, T: AsRawFd> {
    async_fd: &'a mut AsyncFd<T>,
    /// `None` once cleared.
    event: Option<ReadyEvent>,
}

impl<T: AsRawFd> AsyncFdReadyMutGuard<'_, T> {
    /// Forgets the observed readiness; see
    /// [`AsyncFdReadyGuard::clear_ready`].
    pub fn clear_ready(&mut self) {
        clear(self.async_fd, &mut self.event, all());
    }

    /// Forgets only the observed readiness in `ready`; see
    /// [`AsyncFdReadyGuard::clear_ready_matching`].
    pub fn clear_ready_matching(&mut self, ready: Ready) {
        clear(self.async_fd, &mut self.event, ready);
    }

    /// Keeps the readiness cached (what dropping the guard does too).
    pub fn retain_ready(&mut self) {}

    /// What the wait found the descriptor ready for (less what was
    /// cleared since).
    pub fn ready(&self) -> Ready {
        self.event.map_or(Ready::EMPTY, |event| Ready::from_driver(event.ready()))
    }

    /// Runs the non-blocking `f` with `&mut` access; if it returns
    /// `WouldBlock`, clears the readiness and returns `Err(TryIoError)`,
    /// else its result.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&mut AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match f(self.async_fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            result => Ok(result),
        }
    }

    /// The [`AsyncFd`] waited on.
    pub fn get_ref(&self) -> &AsyncFd<T> {
        self.async_fd
    }

    /// The [`AsyncFd`] waited on, mutably.
    pub fn get_mut(&mut self) -> &mut AsyncFd<T> {
        self.async_fd
    }

    /// The value inside the [`AsyncFd`].
    pub fn get_inner(&self) -> &T {
        self.async_fd.get_ref()
    }

    /// The value inside the [`AsyncFd`], mutably.
    pub fn get_inner_mut(&mut self) -> &mut T {
        self.async_fd.get_mut()
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFdReadyMutGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyMutGuard")
            .field("async_fd", &*self.async_fd)
            .field("ready", &self.ready())
            .finish()
    }
}

/// The operation in a guard's `try_io` returned `WouldBlock`; the
/// readiness was cleared, so waiting again waits for a new event.
#[derive(Debug)]
pub struct TryIoError(());

impl fmt::Display for TryIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block; the readiness was cleared")
    }
}

impl std::error::Error for TryIoError {}
