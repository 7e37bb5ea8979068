//! The halves a [`TcpStream`] splits into: [`ReadHalf`]/[`WriteHalf`]
//! (borrowed, see [`TcpStream::split`]) and
//! [`OwnedReadHalf`]/[`OwnedWriteHalf`] (see [`TcpStream::into_split`]).
//! They are the generic halves shared with `UnixStream`, plus `peek`.

use std::error::Error;
use std::fmt;
use std::io;

use crate::net::split::SplitStream;
use crate::net::{split, split_owned, PollEvented, TcpStream};

/// The read half of a [`TcpStream`], borrowed by [`TcpStream::split`].
pub type ReadHalf<'a> = split::ReadHalf<'a, TcpStream>;

/// The write half of a [`TcpStream`], borrowed by [`TcpStream::split`].
/// Closing it (`poll_close`) shuts down the stream's write side.
pub type WriteHalf<'a> = split::WriteHalf<'a, TcpStream>;

/// The read half of a [`TcpStream`], made by [`TcpStream::into_split`].
pub type OwnedReadHalf = split_owned::OwnedReadHalf<TcpStream>;

/// The write half of a [`TcpStream`], made by [`TcpStream::into_split`].
///
/// Dropping it shuts down the stream's write side, so the peer reads
/// end-of-file, unless it was `forget`-ed or already closed. Closing it
/// (`poll_close`) does the same at once.
pub type OwnedWriteHalf = split_owned::OwnedWriteHalf<TcpStream>;

/// `reunite` (on [`OwnedReadHalf`] or [`OwnedWriteHalf`]) was given halves
/// of two different streams; both are handed back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(split_owned::REUNITE_ERROR)
    }
}

impl Error for ReuniteError {}

impl SplitStream for TcpStream {
    type Source = mio::net::TcpStream;
    type ReuniteError = ReuniteError;

    fn poll_evented(&self) -> &PollEvented<mio::net::TcpStream> {
        &self.io
    }

    fn reunite_error(read: OwnedReadHalf, write: OwnedWriteHalf) -> ReuniteError {
        ReuniteError(read, write)
    }
}

impl ReadHalf<'_> {
    /// Peeks at incoming data; see [`TcpStream::peek`].
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream().peek(buf).await
    }
}

impl OwnedReadHalf {
    /// Peeks at incoming data; see [`TcpStream::peek`].
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream().peek(buf).await
    }
}
