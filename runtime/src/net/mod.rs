//! Networking: TCP, UDP and Unix sockets on the per-worker reactors.
//!
//! Every socket wraps a non-blocking mio source in a `PollEvented`,
//! registered with the driver of the worker that created it (round robin
//! from `block_on`). Readiness lives in a shared `ScheduledIo`, so a task
//! stolen to another worker is still woken; and a worker stuck in a long
//! poll has its driver served by an idle sibling.
//!
//! Errors are the OS's `io::Error`s (connection refused, address in use,
//! too many open files...): weft never retries them itself. Creating a
//! socket outside a weft runtime is an error too.
//!
//! Streams implement `futures_io::AsyncRead` and `AsyncWrite`; use them
//! with `futures_util::{AsyncReadExt, AsyncWriteExt}` (its `io` feature),
//! or without any extension trait through `readable()` + `try_read()` and
//! `writable()` + `try_write()`. One task at a time should wait in each
//! direction of a socket: a socket keeps one reader and one writer waker.
//!
//! `bind`, `connect` and `send_to` take any [`ToSocketAddrs`]: literal
//! addresses are parsed in place, host names are resolved on the blocking
//! pool; [`lookup_host`] does only the resolving. [`TcpSocket`] sets the
//! options that must come before a TCP socket binds, listens or connects.

mod addr;
mod poll_evented;
mod split;
mod split_owned;
mod stream_io;
pub mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub(super) use poll_evented::PollEvented;
#[cfg(any(feature = "tokio-io", all(feature = "hyper", unix)))]
pub(crate) use split::SplitStream;
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};
