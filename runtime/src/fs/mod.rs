//! Filesystem access: the free functions of [`std::fs`], directory
//! listings ([`read_dir()`]) and an async [`File`], every call run on the
//! runtime's blocking pool.
//!
//! # Why the blocking pool
//!
//! Operating systems offer no portable asynchronous file I/O: a regular
//! file is always "ready" to epoll/kqueue, and a read or write on it blocks
//! the calling thread until the disk (or the network filesystem) answers.
//! So every function here hands the standard library's blocking call to
//! [`spawn_blocking`](crate::task::spawn_blocking) and awaits it; the worker
//! threads keep running other tasks meanwhile. Each call costs a trip
//! through the pool: prefer few large operations (whole-file [`read()`] and
//! [`write()`], big buffers) over many small ones.
//!
//! Paths and contents are copied into owned values before they go to the
//! pool. Like [`spawn_blocking`](crate::task::spawn_blocking), these
//! functions panic when polled outside a weft runtime. If the runtime shuts
//! down before the pool ran a free function's operation, the operation is
//! cancelled and returns an [`io::Error`] saying so (never a panic). A
//! [`File`]'s operations are not cancelled once started (below); after the
//! shutdown, a `File` operation returns that error at once.
//!
//! # io_uring on Linux
//!
//! On Linux, where the kernel allows it (and `WEFT_IO_URING=0` is not
//! set), a call made by a task on a worker thread goes to that worker's
//! io_uring instead of the pool: no thread blocks on it. The worker hands
//! its queued operations to the kernel between tasks and when it parks,
//! so **never block a worker waiting for a `weft::fs` future** (e.g.
//! `futures::executor::block_on(weft::fs::read(p))` inside a task): the
//! worker never gets to submit the operation, and the task hangs (the
//! stall monitor reports it). To wait synchronously, call [`std::fs`]
//! inside [`spawn_blocking`](crate::task::spawn_blocking) instead.
//!
//! # Ordering of a `File`'s operations
//!
//! A [`File`] runs one operation at a time, in the order they were issued.
//! A write copies the caller's bytes (up to 2 MiB) into the file's buffer,
//! starts writing them on the pool and returns at once; the file's next
//! operation, of any kind (a read included), first waits for it. The error
//! of such a background write is returned by the next write, flush, seek,
//! [`sync_all`](File::sync_all), [`sync_data`](File::sync_data),
//! [`set_len`](File::set_len) or [`metadata`](File::metadata) (a read in
//! between keeps it for them): call `flush` (or `sync_all`) before dropping
//! a file to see it. Dropping a `File` with a write in flight lets the
//! write finish on the pool.
//!
//! The runtime's shutdown does not cancel a `File`'s operations: they run
//! as *mandatory* jobs of the blocking pool, which still runs the queued
//! ones when it shuts down. So a write that returned `Ok` reaches the file
//! even if the runtime is dropped right after: dropping the runtime waits
//! for it (`shutdown_timeout` may return first, the write then finishing on
//! a pool thread). Once the runtime has shut down, the pool refuses new
//! jobs, and the `File` operation that would start one (a write included)
//! returns the error instead.
//!
//! An operation given up on (its future dropped, in a `select` say) still
//! runs. If it fails, a write's or a sync's error is reported as above; a
//! seek's by the file's next operation, a read included (which would read
//! at the old position otherwise); a read's or `metadata`'s is dropped, as
//! those change nothing and a later read meets the error again.
//!
//! `File` implements `futures_io::AsyncRead`, `AsyncWrite` and `AsyncSeek`;
//! use it with `futures_util::{AsyncReadExt, AsyncWriteExt, AsyncSeekExt}`.
//!
//! ```
//! # weft::runtime::Runtime::new().unwrap().block_on(async {
//! use futures_util::{AsyncReadExt, AsyncWriteExt};
//! use weft::fs::{self, File};
//!
//! let dir = std::env::temp_dir().join(format!("weft-fs-doc-module-{}", std::process::id()));
//! fs::create_dir_all(&dir).await?;
//!
//! let mut file = File::create(dir.join("log.txt")).await?;
//! file.write_all(b"first line\n").await?;
//! file.write_all(b"second line\n").await?;
//! file.flush().await?; // waits for the writes and reports their errors
//!
//! let mut text = String::new();
//! File::open(dir.join("log.txt")).await?.read_to_string(&mut text).await?;
//! assert_eq!(text, "first line\nsecond line\n");
//! # fs::remove_dir_all(&dir).await?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod buf;
mod file;
mod links;
mod open_options;
mod ops;
mod read_dir;
#[cfg(all(target_os = "linux", not(loom)))]
mod uring;

use std::io;

pub use file::File;
#[cfg(unix)]
pub use links::symlink;
pub use links::{canonicalize, hard_link, read_link, symlink_metadata};
pub use open_options::OpenOptions;
pub use ops::{
    copy, create_dir, create_dir_all, metadata, read, read_to_string, remove_dir, remove_dir_all,
    remove_file, rename, set_permissions, try_exists, write,
};
pub use read_dir::{read_dir, DirEntry, ReadDir};

use crate::task::JoinError;

/// Runs the blocking filesystem call `f` on the current runtime's blocking
/// pool and returns its result.
///
/// # Panics
/// Outside a weft runtime (from `spawn_blocking`).
async fn asyncify<F, T>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match crate::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) => Err(join_error(err)),
    }
}

/// The error for a filesystem operation the blocking pool cancelled or
/// refused because the runtime shut down.
fn shut_down_error() -> io::Error {
    io::Error::other(
        "the filesystem operation was cancelled before it ran: the runtime's blocking pool is \
         shut down",
    )
}

/// The error for a filesystem operation whose pool job did not complete:
/// cancelled (the runtime shut down before the pool ran it) or panicked.
fn join_error(err: JoinError) -> io::Error {
    if err.is_cancelled() {
        shut_down_error()
    } else {
        io::Error::other(format!("the filesystem operation failed on the blocking pool: {err}"))
    }
}
