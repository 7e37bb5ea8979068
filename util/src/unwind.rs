//! Containing panics from user code a thread must survive: a destructor, a
//! waker, a thread hook. Catching the panic is not enough: its payload is
//! user data too, and its destructor may panic again, outside the
//! `catch_unwind`. [`contain`] drops a payload under a second catch and
//! leaks what that one catches, since dropping it could panic yet again.

use std::any::Any;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// A thread start/stop hook, as the builders store it.
pub type Hook = Arc<dyn Fn() + Send + Sync + 'static>;

/// Runs `f`; a panic in it is caught and its payload disposed of. Returns
/// the payload's message if `f` panicked (for a report), else `None`.
pub fn contain(f: impl FnOnce()) -> Option<String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => None,
        Err(payload) => {
            let text = message(&*payload).to_owned();
            dispose(payload);
            Some(text)
        }
    }
}

/// Runs the thread hook `name` of `owner` (the crate, for the report), if
/// set. A panic in it is contained and reported on stderr, and the thread
/// carries on: a runtime worker or a pool thread that died in its hook
/// would strand the work promised to it and never be counted out, so
/// shutdown would wait for it forever.
pub fn run_hook(owner: &str, name: &str, hook: Option<&Hook>) {
    let Some(hook) = hook else { return };
    if let Some(text) = contain(|| hook()) {
        // Not `eprintln!`: it panics when stderr is gone (EPIPE), and a
        // panic here is the very thread death this function prevents.
        let _ = writeln!(
            io::stderr(),
            "{owner}: caught a panic in the `{name}` hook on thread '{}' ({text}); the thread \
             carries on",
            std::thread::current().name().unwrap_or("<unnamed>"),
        );
    }
}

/// A panic payload's message, when it is a string.
pub(crate) fn message(payload: &(dyn Any + Send)) -> &str {
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
pub(crate) fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

#[cfg(test)]
mod tests {
    use super::{contain, run_hook, Hook};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// A payload whose destructor panics (the double fault `contain` must
    /// survive), counting its drops.
    struct PanicsOnDrop(Arc<AtomicUsize>);

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
            panic!("payload destructor");
        }
    }

    #[test]
    fn contain_returns_the_message_of_a_string_panic() {
        assert_eq!(contain(|| {}), None);
        assert_eq!(contain(|| panic!("static")).as_deref(), Some("static"));
        assert_eq!(contain(|| panic!("formatted {}", 1)).as_deref(), Some("formatted 1"));
        assert_eq!(contain(|| std::panic::panic_any(3u8)).as_deref(), Some("non-string payload"));
    }

    #[test]
    fn contain_survives_a_payload_whose_destructor_panics() {
        let drops = Arc::new(AtomicUsize::new(0));
        let payload = PanicsOnDrop(drops.clone());
        let text = contain(move || std::panic::panic_any(payload));
        assert_eq!(text.as_deref(), Some("non-string payload"));
        assert_eq!(drops.load(SeqCst), 1, "the payload is dropped once, under the second catch");
    }

    #[test]
    fn run_hook_runs_the_hook_and_survives_its_panic() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let hook: Hook = Arc::new(move || {
            counted.fetch_add(1, SeqCst);
            panic!("hook");
        });
        run_hook("weft-util", "test_hook", Some(&hook));
        run_hook("weft-util", "test_hook", None);
        assert_eq!(runs.load(SeqCst), 1);
    }
}
