//! The child's standard streams as weft streams: each pipe end is made
//! non-blocking and registered with the current worker's reactor, like a
//! socket. Each can be handed back out as a plain file descriptor
//! (`into_owned_fd`, or `Stdio` for another child): deregistered first, and
//! in blocking mode again, as a process that inherits it expects.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use mio::unix::pipe::{Receiver, Sender};

use crate::net::PollEvented;
use crate::runtime::driver::scheduled_io::Direction;

/// The child's standard input, a pipe written with `futures_io::AsyncWrite`
/// (e.g. through `futures_util::AsyncWriteExt`).
///
/// The child sees end of input once this is dropped or closed
/// (`AsyncWrite::poll_close`); writes after closing fail with
/// `NotConnected`.
#[derive(Debug)]
pub struct ChildStdin {
    /// `None` once closed.
    inner: Option<PollEvented<Sender>>,
}

/// The child's standard output, a pipe read with `futures_io::AsyncRead`
/// (e.g. through `futures_util::AsyncReadExt`); a read of 0 bytes means the
/// child (and every process it shared the pipe with) closed it.
#[derive(Debug)]
pub struct ChildStdout {
    inner: PollEvented<Receiver>,
}

/// The child's standard error, a pipe read with `futures_io::AsyncRead`,
/// like [`ChildStdout`].
#[derive(Debug)]
pub struct ChildStderr {
    inner: PollEvented<Receiver>,
}

impl ChildStdin {
    pub(super) fn new(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let sender = Sender::from(stdin);
        sender.set_nonblocking(true)?;
        let inner = PollEvented::new_with_interest(sender, mio::Interest::WRITABLE)?;
        Ok(ChildStdin { inner: Some(inner) })
    }

    fn open(&self) -> io::Result<&PollEvented<Sender>> {
        self.inner.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the child's stdin is closed")
        })
    }
}

impl ChildStdout {
    pub(super) fn new(stdout: std::process::ChildStdout) -> io::Result<ChildStdout> {
        Ok(ChildStdout { inner: register_reader(Receiver::from(stdout))? })
    }
}

impl ChildStderr {
    pub(super) fn new(stderr: std::process::ChildStderr) -> io::Result<ChildStderr> {
        Ok(ChildStderr { inner: register_reader(Receiver::from(stderr))? })
    }
}

impl ChildStdin {
    /// The pipe's write end as a plain file descriptor: deregistered from
    /// the reactor and in blocking mode, e.g. for a synchronous writer.
    ///
    /// # Errors
    /// `NotConnected` if it was closed (`AsyncWrite::poll_close`); the
    /// error of deregistering it, or of making it blocking (the pipe is
    /// closed then).
    pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
        let pipe = self.inner.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the child's stdin is closed")
        })?;
        let sender = pipe.into_inner()?;
        sender.set_nonblocking(false)?;
        Ok(sender.into())
    }
}

impl ChildStdout {
    /// The pipe's read end as a plain file descriptor: deregistered from
    /// the reactor and in blocking mode, e.g. for another process's stdin
    /// (or through `Stdio::try_from`).
    ///
    /// # Errors
    /// The error of deregistering it, or of making it blocking (the pipe is
    /// closed then).
    pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
        into_blocking_fd(self.inner)
    }
}

impl ChildStderr {
    /// The pipe's read end as a plain file descriptor; see
    /// [`ChildStdout::into_owned_fd`].
    ///
    /// # Errors
    /// As [`ChildStdout::into_owned_fd`].
    pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
        into_blocking_fd(self.inner)
    }
}

/// Deregisters the read end, then makes it blocking: a process that
/// inherits it (or a synchronous reader) expects a blocking read, and its
/// registration must not outlive our handle on it (the reactor would
/// report events of a file it no longer tracks).
fn into_blocking_fd(pipe: PollEvented<Receiver>) -> io::Result<OwnedFd> {
    let receiver = pipe.into_inner()?;
    receiver.set_nonblocking(false)?;
    Ok(receiver.into())
}

impl AsRawFd for ChildStdin {
    /// # Panics
    /// If the pipe was closed (`AsyncWrite::poll_close`): it has no file
    /// descriptor any more.
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl AsFd for ChildStdin {
    /// # Panics
    /// If the pipe was closed (`AsyncWrite::poll_close`): it has no file
    /// descriptor any more.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Some(pipe) => pipe.io().as_fd(),
            None => panic!("the child's stdin was closed: it has no file descriptor"),
        }
    }
}

impl AsRawFd for ChildStdout {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.io().as_raw_fd()
    }
}

impl AsFd for ChildStdout {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.io().as_fd()
    }
}

impl AsRawFd for ChildStderr {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.io().as_raw_fd()
    }
}

impl AsFd for ChildStderr {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.io().as_fd()
    }
}

/// Another child's stdin, stdout or stderr (see
/// [`ChildStdin::into_owned_fd`]).
impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    fn try_from(stdin: ChildStdin) -> io::Result<Stdio> {
        stdin.into_owned_fd().map(Stdio::from)
    }
}

/// Another child's stdin, so one child's output feeds the next:
///
/// ```
/// use std::process::Stdio;
/// use weft::process::Command;
///
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let mut first = Command::new("echo").arg("piped").stdout(Stdio::piped()).spawn()?;
/// let stdout: Stdio = first.stdout.take().unwrap().try_into()?;
/// let output = Command::new("tr").arg("a-z").arg("A-Z").stdin(stdout).output().await?;
/// assert_eq!(output.stdout, b"PIPED\n");
/// assert!(first.wait().await?.success());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
impl TryFrom<ChildStdout> for Stdio {
    type Error = io::Error;

    fn try_from(stdout: ChildStdout) -> io::Result<Stdio> {
        stdout.into_owned_fd().map(Stdio::from)
    }
}

/// Another child's stdin, stdout or stderr (see
/// [`ChildStdout::into_owned_fd`]).
impl TryFrom<ChildStderr> for Stdio {
    type Error = io::Error;

    fn try_from(stderr: ChildStderr) -> io::Result<Stdio> {
        stderr.into_owned_fd().map(Stdio::from)
    }
}

fn register_reader(receiver: Receiver) -> io::Result<PollEvented<Receiver>> {
    receiver.set_nonblocking(true)?;
    PollEvented::new_with_interest(receiver, mio::Interest::READABLE)
}

fn poll_read_pipe(
    pipe: &PollEvented<Receiver>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    pipe.poll_io(cx, Direction::Read, |mut receiver| receiver.read(buf))
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let pipe = self.open()?;
        pipe.poll_io(cx, Direction::Write, |mut sender| sender.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let pipe = self.open()?;
        pipe.poll_io(cx, Direction::Write, |mut sender| sender.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A pipe has no user-space buffer: every written byte is in the
        // kernel already.
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Deregisters and closes the write end: the child reads end of input.
        self.inner = None;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read_pipe(&self.inner, cx, buf)
    }
}

impl AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read_pipe(&self.inner, cx, buf)
    }
}
