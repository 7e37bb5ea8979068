//! The halves a [`UnixStream`] splits into: [`ReadHalf`]/[`WriteHalf`]
//! (borrowed, see [`UnixStream::split`]) and
//! [`OwnedReadHalf`]/[`OwnedWriteHalf`] (see [`UnixStream::into_split`]).
//! They are the generic halves shared with `TcpStream`.

use std::error::Error;
use std::fmt;

use crate::net::split::SplitStream;
use crate::net::{split, split_owned, PollEvented, UnixStream};

/// The read half of a [`UnixStream`], borrowed by [`UnixStream::split`].
pub type ReadHalf<'a> = split::ReadHalf<'a, UnixStream>;

/// The write half of a [`UnixStream`], borrowed by [`UnixStream::split`].
/// Closing it (`poll_close`) shuts down the stream's write side.
pub type WriteHalf<'a> = split::WriteHalf<'a, UnixStream>;

/// The read half of a [`UnixStream`], made by [`UnixStream::into_split`].
pub type OwnedReadHalf = split_owned::OwnedReadHalf<UnixStream>;

/// The write half of a [`UnixStream`], made by [`UnixStream::into_split`].
///
/// Dropping it shuts down the stream's write side, so the peer reads
/// end-of-file, unless it was `forget`-ed or already closed. Closing it
/// (`poll_close`) does the same at once.
pub type OwnedWriteHalf = split_owned::OwnedWriteHalf<UnixStream>;

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

impl SplitStream for UnixStream {
    type Source = mio::net::UnixStream;
    type ReuniteError = ReuniteError;

    fn poll_evented(&self) -> &PollEvented<mio::net::UnixStream> {
        &self.io
    }

    fn reunite_error(read: OwnedReadHalf, write: OwnedWriteHalf) -> ReuniteError {
        ReuniteError(read, write)
    }
}
