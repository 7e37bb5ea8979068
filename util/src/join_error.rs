//! [`JoinError`]: why a task produced no output.

use std::any::Any;
use std::fmt;
use std::io;

use crate::Id;

/// The payload of a caught panic.
type Payload = Box<dyn Any + Send + 'static>;

/// A task did not run to completion: it was cancelled or it panicked.
///
/// A runtime task (`weft::spawn`, `weft::task::spawn_blocking`) is
/// cancelled when it is aborted or the runtime shuts down first; a job on a
/// `weft_blocking::Pool` is cancelled when the pool shuts down before the
/// job starts. A panic's payload comes back with
/// [`into_panic`](Self::into_panic), to inspect it or resume the panic with
/// [`std::panic::resume_unwind`].
///
/// The error names the task it is about: [`id`](Self::id) is the task's
/// [`Id`], and `Display` includes it.
///
/// `JoinError` is `Send + Sync` and converts into an [`io::Error`], so `?`
/// works in functions returning `io::Result` or
/// `Result<_, Box<dyn Error + Send + Sync>>`.
pub struct JoinError {
    repr: Repr,
    id: Id,
}

enum Repr {
    Cancelled,
    Panic(SyncPayload),
}

/// A panic payload made `Sync` by allowing access only by value, or through
/// `&` only as far as a downcast to `&'static str` or `String`, so
/// `JoinError` can be `Sync` like other error types.
///
/// Boxed once more (a thin pointer) so that `Repr` is one word and a
/// `JoinError` with its id two, as before the id: a task cell keeps a
/// `Result<T, JoinError>` in place of its future, so every task pays for
/// this size, while the extra allocation is paid only by a panic.
struct SyncPayload(Box<Payload>);

// SAFETY: a `&SyncPayload` (from a `&JoinError` on any thread) reaches the
// payload only in `JoinError::panic_message`, which asks for its type id and
// downcasts it to `&'static str` or `String`, both `Sync`; a payload of any
// other type is not touched through `&`. Every other access takes the
// payload by value (`try_into_panic`), which needs the `JoinError` itself,
// so non-`Sync` data is never shared between threads.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    /// The error of task `id`, which was cancelled.
    ///
    /// Internal to weft and weft-blocking (they create every `JoinError`);
    /// not part of the users' API.
    #[doc(hidden)]
    pub fn cancelled(id: Id) -> JoinError {
        JoinError { repr: Repr::Cancelled, id }
    }

    /// The error of task `id`, which panicked with `payload`.
    ///
    /// Internal to weft and weft-blocking (they create every `JoinError`);
    /// not part of the users' API.
    #[doc(hidden)]
    pub fn panic(id: Id, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError { repr: Repr::Panic(SyncPayload(Box::new(payload))), id }
    }

    /// The id of the task that failed: the same [`Id`] its handle and the
    /// task itself report.
    pub fn id(&self) -> Id {
        self.id
    }

    /// True if the task was cancelled before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to inspect or to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the task was cancelled instead (see
    /// [`try_into_panic`](Self::try_into_panic)).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().expect("`JoinError` is a cancellation, not a panic")
    }

    /// The panic payload, or the error back if it is a cancellation.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(SyncPayload(payload)) => Ok(*payload),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message, if the payload is a string.
    fn panic_message(&self) -> Option<&str> {
        let Repr::Panic(SyncPayload(payload)) = &self.repr else { return None };
        // The payload itself, not one of the boxes around it (a `Box` is
        // `Any` too, and would downcast to nothing).
        let payload: &(dyn Any + Send) = &***payload;
        // Only these two downcasts through `&`: see `SyncPayload`'s `Sync`.
        payload
            .downcast_ref::<&'static str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "task {id} was cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "task {id} panicked with message {msg:?}"),
            (Repr::Panic(_), None) => write!(f, "task {id} panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "JoinError::Cancelled({id:?})"),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({id:?}, {msg:?})"),
            (Repr::Panic(_), None) => write!(f, "JoinError::Panic({id:?}, ..)"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    /// An [`io::ErrorKind::Other`] error whose source is the `JoinError`
    /// (get it back with [`io::Error::into_inner`] and a downcast).
    fn from(err: JoinError) -> io::Error {
        io::Error::other(err)
    }
}

#[cfg(test)]
mod tests {
    use super::JoinError;
    use crate::Id;
    use std::cell::Cell;
    use std::io;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn is_two_words_like_before_it_had_an_id() {
        // A task cell holds a `Result<T, JoinError>`: see `SyncPayload`.
        assert_eq!(std::mem::size_of::<JoinError>(), 2 * std::mem::size_of::<usize>());
    }

    #[test]
    fn is_send_and_sync_so_it_fits_boxed_errors() {
        assert_send_sync::<JoinError>();
        let id = Id::next();
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(JoinError::cancelled(id));
        assert_eq!(boxed.to_string(), format!("task {id} was cancelled"));
    }

    #[test]
    fn a_string_payload_is_in_the_message() {
        let id = Id::next();
        let err = JoinError::panic(id, Box::new(format!("boom {}", 42)));
        assert!(err.is_panic() && !err.is_cancelled());
        assert_eq!(err.id(), id);
        assert_eq!(err.to_string(), format!("task {id} panicked with message \"boom 42\""));
        assert_eq!(format!("{err:?}"), format!("JoinError::Panic({id:?}, \"boom 42\")"));
        let err = JoinError::panic(id, Box::new("boom"));
        assert_eq!(err.to_string(), format!("task {id} panicked with message \"boom\""));
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
    }

    #[test]
    fn a_non_sync_payload_comes_back_by_value_only() {
        // `Cell` is Send but not Sync: the error holding it is still Sync
        // because the payload is reachable through `&` only as a string.
        let id = Id::next();
        let err = JoinError::panic(id, Box::new(Cell::new(7u8)));
        assert_eq!(err.to_string(), format!("task {id} panicked"));
        assert_eq!(format!("{err:?}"), format!("JoinError::Panic({id:?}, ..)"));
        let payload = err.try_into_panic().unwrap();
        assert_eq!(payload.downcast::<Cell<u8>>().unwrap().get(), 7);
    }

    #[test]
    fn a_cancellation_is_not_a_panic() {
        let id = Id::next();
        let err = JoinError::cancelled(id);
        assert!(err.is_cancelled() && !err.is_panic());
        assert_eq!(format!("{err:?}"), format!("JoinError::Cancelled({id:?})"));
        let err = err.try_into_panic().unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.id(), id, "the error given back keeps its id");
    }

    #[test]
    fn into_io_error_keeps_the_text_and_the_join_error() {
        let id = Id::next();
        let err = io::Error::from(JoinError::cancelled(id));
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(err.to_string(), format!("task {id} was cancelled"));
        let inner = err.into_inner().unwrap().downcast::<JoinError>().unwrap();
        assert!(inner.is_cancelled() && inner.id() == id);
    }
}
