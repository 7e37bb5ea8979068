//! [`JoinError`]: why a task produced no output. One type for weft's tasks
//! and weft-blocking's jobs, defined in `weft_util`; the task core names it
//! through this module.

/// What awaiting a [`JoinHandle`](crate::task::JoinHandle) gives instead of
/// the output when the task panicked or was cancelled.
///
/// ```
/// let rt = weft::runtime::Runtime::new().unwrap();
/// let err = rt.block_on(async { weft::spawn(async { panic!("boom") }).await }).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub use weft_util::JoinError;
