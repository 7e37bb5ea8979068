//! Containing panics from user code the runtime must survive: a
//! destructor, a waker, a hook. Catching the panic is not enough: its
//! payload is user data too, and its destructor may panic again, outside
//! the `catch_unwind`. [`dispose`] drops a payload under a second catch and
//! leaks what that one catches, since dropping it could panic yet again.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Runs `f`; a panic in it is caught and its payload disposed of. Returns
/// the payload's message if `f` panicked (for a report), else `None`.
pub(crate) fn contain(f: impl FnOnce()) -> Option<String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => None,
        Err(payload) => {
            let text = message(&*payload).to_owned();
            dispose(payload);
            Some(text)
        }
    }
}

/// A panic payload's message, when it is a string.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "non-string payload"
    }
}

/// Drops a caught panic payload; a panic from its destructor is caught and
/// that second payload leaked (small, and only on this double fault).
fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}
