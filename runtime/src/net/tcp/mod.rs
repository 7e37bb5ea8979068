//! TCP: [`TcpListener`], [`TcpStream`], [`TcpSocket`] (to set options
//! before either exists) and the halves a stream splits into.

mod listener;
mod socket;
mod split;
mod stream;

pub use listener::TcpListener;
pub use socket::TcpSocket;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
