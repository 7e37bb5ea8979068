//! Readiness-based I/O: [`Interest`] (what to wait for), [`Ready`] (what
//! a source turned out to be ready for) and, on Unix,
//! [`unix::AsyncFd`], which puts any file descriptor that the OS can poll
//! (a pipe, an eventfd, a timerfd, a socket weft has no type for) on a
//! worker's reactor, the same way weft's sockets are.
//!
//! Readiness follows Tokio's rules: once observed it stays cached (every
//! later wait returns at once) until the user clears it, normally after an
//! operation returned `WouldBlock`. An event that arrives between that
//! operation and the clear is kept, so clearing never loses a wake-up.
//!
//! With the `tokio-io` feature, weft's streams (and their halves) and
//! [`fs::File`](crate::fs::File) also implement Tokio's
//! `tokio::io::{AsyncRead, AsyncWrite}` (only the traits: no Tokio runtime
//! is involved), for crates written against them: tokio-util's codecs,
//! hyper-util's `TokioIo`, tokio-rustls (the impls are in the crate's
//! `tokio_io` module, beside the types' own modules).

use std::fmt;
use std::ops::BitOr;

use crate::runtime::driver::scheduled_io::{self, Direction};

#[cfg(unix)]
pub mod unix;

/// The readiness a source is registered for, or that a wait is for.
///
/// ```
/// use weft::io::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert_eq!(Interest::READABLE.add(Interest::WRITABLE), both);
/// assert!(!Interest::WRITABLE.is_readable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Interest(mio::Interest);

impl Interest {
    /// Interest in reading (or in the read side being closed).
    pub const READABLE: Interest = Interest(mio::Interest::READABLE);
    /// Interest in writing (or in the write side being closed).
    pub const WRITABLE: Interest = Interest(mio::Interest::WRITABLE);

    /// Both `self` and `other`.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0.add(other.0))
    }

    /// Whether this includes [`Interest::READABLE`].
    pub const fn is_readable(self) -> bool {
        self.0.is_readable()
    }

    /// Whether this includes [`Interest::WRITABLE`].
    pub const fn is_writable(self) -> bool {
        self.0.is_writable()
    }

    /// The interest to register with mio.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn to_mio(self) -> mio::Interest {
        self.0
    }

    /// The side(s) a wait for this interest watches. Only READABLE and
    /// WRITABLE can be built, so one of them is always set.
    pub(crate) fn direction(self) -> Direction {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => Direction::Either,
            (false, true) => Direction::Write,
            _ => Direction::Read,
        }
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (false, true) => f.write_str("WRITABLE"),
            _ => f.write_str("READABLE"),
        }
    }
}

/// What a source was found ready for.
///
/// A closed side counts as ready for that side (the next operation reports
/// the end-of-file or the error), so [`is_readable`](Ready::is_readable)
/// includes [`READ_CLOSED`](Ready::READ_CLOSED) and
/// [`is_writable`](Ready::is_writable) includes
/// [`WRITE_CLOSED`](Ready::WRITE_CLOSED).
///
/// ```
/// use weft::io::Ready;
///
/// let ready = Ready::READABLE | Ready::WRITE_CLOSED;
/// assert!(ready.is_readable() && ready.is_writable() && ready.is_write_closed());
/// assert!(!ready.is_read_closed());
/// assert!(Ready::EMPTY.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ready(scheduled_io::Ready);

impl Ready {
    /// Ready for nothing.
    pub const EMPTY: Ready = Ready(scheduled_io::Ready::EMPTY);
    /// Ready for reading.
    pub const READABLE: Ready = Ready(scheduled_io::Ready::READABLE);
    /// Ready for writing.
    pub const WRITABLE: Ready = Ready(scheduled_io::Ready::WRITABLE);
    /// The read side is closed (the peer hung up: end-of-file).
    pub const READ_CLOSED: Ready = Ready(scheduled_io::Ready::READ_CLOSED);
    /// The write side is closed (writing would fail).
    pub const WRITE_CLOSED: Ready = Ready(scheduled_io::Ready::WRITE_CLOSED);
    /// The source reported an error condition (the next operation, or
    /// `SO_ERROR` for a socket, says which).
    pub const ERROR: Ready = Ready(scheduled_io::Ready::ERROR);

    pub(crate) fn from_driver(ready: scheduled_io::Ready) -> Ready {
        Ready(ready)
    }

    pub(crate) fn to_driver(self) -> scheduled_io::Ready {
        self.0
    }

    fn contains(self, other: Ready) -> bool {
        !self.0.intersection(other.0).is_empty()
    }

    /// Whether no readiness is set.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }

    /// Whether the source is readable or its read side closed.
    pub fn is_readable(self) -> bool {
        self.contains(Ready::READABLE | Ready::READ_CLOSED)
    }

    /// Whether the source is writable or its write side closed.
    pub fn is_writable(self) -> bool {
        self.contains(Ready::WRITABLE | Ready::WRITE_CLOSED)
    }

    /// Whether the read side is closed.
    pub fn is_read_closed(self) -> bool {
        self.contains(Ready::READ_CLOSED)
    }

    /// Whether the write side is closed.
    pub fn is_write_closed(self) -> bool {
        self.contains(Ready::WRITE_CLOSED)
    }

    /// Whether an error condition was reported.
    pub fn is_error(self) -> bool {
        self.contains(Ready::ERROR)
    }
}

impl BitOr for Ready {
    type Output = Ready;

    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("is_readable", &self.contains(Ready::READABLE))
            .field("is_writable", &self.contains(Ready::WRITABLE))
            .field("is_read_closed", &self.is_read_closed())
            .field("is_write_closed", &self.is_write_closed())
            .field("is_error", &self.is_error())
            .finish()
    }
}
