//! Unix domain sockets: [`UnixListener`], [`UnixStream`] (and the halves
//! it splits into), [`UnixDatagram`].

mod datagram;
mod listener;
mod split;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
/// The address of a Unix socket: a path, abstract, or unnamed (the
/// standard library's type).
pub use std::os::unix::net::SocketAddr;
pub use stream::UnixStream;
