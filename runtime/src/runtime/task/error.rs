//! [`JoinError`]: why a task produced no output.

use std::any::Any;
use std::fmt;

/// The payload of a caught panic.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// A task did not run to completion: it was cancelled (aborted, or the
/// runtime shut down) or it panicked.
///
/// ```
/// let rt = weft::runtime::Runtime::new().unwrap();
/// let err = rt.block_on(async { weft::spawn(async { panic!("boom") }).await }).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(SyncPayload),
}

/// A panic payload made `Sync` by allowing access only through `&mut` or
/// by value, so `JoinError` can be `Sync` like other error types.
struct SyncPayload(Payload);

// SAFETY: through a shared reference the payload is only downcast to
// `&'static str` or `String` (both Sync) by `panic_message`; any other
// access is by value (`into_panic`), so no non-Sync data is shared.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError { repr: Repr::Cancelled }
    }

    pub(crate) fn panic(payload: Payload) -> JoinError {
        JoinError { repr: Repr::Panic(SyncPayload(payload)) }
    }

    /// True if the task was cancelled (aborted or runtime shut down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload; panics if the task was cancelled instead.
    /// Use `std::panic::resume_unwind` to propagate it.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().expect("`JoinError` is a cancellation, not a panic")
    }

    /// The panic payload, or the error back if it is a cancellation.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(SyncPayload(payload)) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<&str> {
        let Repr::Panic(SyncPayload(payload)) = &self.repr else { return None };
        // Reading through `&` is fine for &str/String: both are Sync; any
        // other payload type is not touched.
        payload
            .downcast_ref::<&'static str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "task panicked with message {msg:?}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({msg:?})"),
            (Repr::Panic(_), None) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err.to_string())
    }
}
