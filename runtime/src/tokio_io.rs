//! `tokio::io::{AsyncRead, AsyncWrite}` for weft's streams, their halves
//! and [`File`] (feature `tokio-io`), so that crates written against
//! Tokio's I/O traits (tokio-util's codecs, hyper-util's `TokioIo`,
//! tokio-rustls...) run on weft's own reactor. Only the traits come from
//! Tokio: nothing here starts or needs a Tokio runtime.
//!
//! Every method leads to the code behind the futures-io impls. Writes,
//! flush and shutdown call those impls directly (shutdown is their
//! `poll_close`: the write side is shut down). Socket reads go through the
//! same readiness loop as `poll_read`, but read(2) straight into the
//! `ReadBuf`'s unfilled part, so a fresh (uninitialised) buffer is never
//! zeroed first. A [`File`] hands out bytes that the blocking pool already
//! read into weft's own buffer; those are copied into the caller's
//! initialised slice, as the futures-io impl does.
//!
//! Unix only, like the raw read(2) the socket reads rely on.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::fs::File;
use crate::net::{tcp, SplitStream, TcpStream};
use crate::net::{unix, UnixStream};

/// One read from a connected stream into `buf`'s unfilled part.
fn poll_read_stream<S: SplitStream>(
    stream: &S,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>>
where
    S::Source: std::os::fd::AsRawFd,
{
    // SAFETY: `unfilled_mut` requires that no initialised byte be
    // de-initialised through the slice; read(2) only ever writes bytes.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = ready!(stream.poll_evented().poll_read_uninit(cx, unfilled))?;
    // SAFETY: `poll_read_uninit` returned `n`: read(2) wrote the first `n`
    // bytes of the unfilled part, so they are initialised.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// `tokio::io::AsyncRead` for a stream type or read half; `$stream`
/// borrows the stream it reads from.
macro_rules! tokio_read {
    ($ty:ty, |$this:ident| $stream:expr) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                poll_read_stream($stream, cx, buf)
            }
        }
    };
}

/// `tokio::io::AsyncWrite` through the type's futures-io impl; `vectored`
/// says whether that impl writes several buffers in one call.
macro_rules! tokio_write {
    ($ty:ty, vectored = $vectored:expr) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                $vectored
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_flush(self, cx)
            }

            /// Shuts down the write side (futures-io's `poll_close`).
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_close(self, cx)
            }
        }
    };
}

tokio_read!(TcpStream, |this| &*this);
tokio_read!(tcp::ReadHalf<'_>, |this| this.stream());
tokio_read!(tcp::OwnedReadHalf, |this| this.stream());
tokio_write!(TcpStream, vectored = true);
tokio_write!(tcp::WriteHalf<'_>, vectored = true);
tokio_write!(tcp::OwnedWriteHalf, vectored = true);

tokio_read!(UnixStream, |this| &*this);
tokio_read!(unix::ReadHalf<'_>, |this| this.stream());
tokio_read!(unix::OwnedReadHalf, |this| this.stream());
tokio_write!(UnixStream, vectored = true);
tokio_write!(unix::WriteHalf<'_>, vectored = true);
tokio_write!(unix::OwnedWriteHalf, vectored = true);

impl AsyncRead for File {
    /// Copies bytes that the blocking pool read into weft's buffer. The
    /// copy needs an initialised destination: `ReadBuf` zeroes its unfilled
    /// part the first time only (it remembers what it initialised).
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(futures_io::AsyncRead::poll_read(self, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

// A file writes one buffer at a time (the default vectored write takes the
// first non-empty one).
tokio_write!(File, vectored = false);
