//! The child's standard streams as weft streams: each pipe end is made
//! non-blocking and registered with the current worker's reactor, like a
//! socket.

use std::io::{self, Read, Write};
use std::pin::Pin;
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
