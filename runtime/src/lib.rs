//! weft: a multi-threaded, work-stealing async runtime for servers.
//!
//! One worker thread per core runs tasks from work-stealing queues
//! (crossbeam-deque) and parks in its own driver (a `mio::Poll`), so
//! waiting costs no thread. See `ARCHITECTURE.md` for the module map.
//!
//! ```
//! use weft::runtime::Runtime;
//!
//! let rt = Runtime::new().unwrap();
//! rt.block_on(async {
//!     let task = weft::spawn(async { "hello from a worker" });
//!     println!("{}", task.await.unwrap());
//! });
//! ```

#![warn(missing_docs)]

mod backtrace;
#[cfg(not(loom))]
pub mod fs;
#[cfg(all(feature = "hyper", not(loom)))]
pub mod hyper;
#[cfg(not(loom))]
pub mod io;
mod loom;
#[cfg(not(loom))]
pub mod net;
#[cfg(all(unix, not(loom)))]
pub mod process;
pub mod runtime;
#[cfg(all(unix, not(loom)))]
pub mod signal;
pub mod task;
pub mod time;
// Tokio's I/O traits on weft's streams and files (feature `tokio-io`).
#[cfg(all(feature = "tokio-io", unix, not(loom)))]
mod tokio_io;
mod trace;
mod unwind;

pub use task::spawn;
#[cfg(not(loom))]
pub use weft_macros::{main, test};

/// Internals exposed to the loom models in `loom-tests/` (only with
/// `--cfg loom`; not part of the public API).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom;
