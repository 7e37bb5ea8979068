//! [`ThreadName`]: how a builder names the threads it starts, a fixed name
//! or a function called for each thread (Tokio's `thread_name_fn`).

use std::fmt;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// A fixed thread name, or a function that makes one per thread.
#[derive(Clone)]
pub enum ThreadName {
    /// Every thread gets this name (checked for NUL bytes when the builder
    /// builds).
    Fixed(String),
    /// Called once per thread, on the thread that starts it.
    Made(Arc<dyn Fn() -> String + Send + Sync + 'static>),
}

impl ThreadName {
    /// The name for the next thread. A made name that holds a NUL byte (the
    /// OS cannot take it; std would panic) or whose function panics gives
    /// way to `fallback`, with a line on stderr: a thread must still start,
    /// or the work promised to it would be stranded.
    pub fn next(&self, owner: &str, fallback: &str) -> String {
        match self {
            ThreadName::Fixed(name) => name.clone(),
            ThreadName::Made(make) => {
                let made = panic::catch_unwind(AssertUnwindSafe(|| make()));
                let problem = match made {
                    Ok(name) if !name.contains('\0') => return name,
                    Ok(_) => "returned a name with a NUL byte".to_owned(),
                    Err(payload) => {
                        let text = crate::unwind::message(&*payload).to_owned();
                        crate::unwind::dispose(payload);
                        format!("panicked ({text})")
                    }
                };
                // Not `eprintln!`: it panics when stderr is gone.
                let _ = writeln!(
                    io::stderr(),
                    "{owner}: the `thread_name_fn` function {problem}; the thread is named \
                     '{fallback}' instead"
                );
                fallback.to_owned()
            }
        }
    }

    /// The fixed name, if there is one (for validation).
    pub fn fixed(&self) -> Option<&str> {
        match self {
            ThreadName::Fixed(name) => Some(name),
            ThreadName::Made(_) => None,
        }
    }
}

impl fmt::Debug for ThreadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadName::Fixed(name) => fmt::Debug::fmt(name, f),
            ThreadName::Made(_) => f.write_str("<thread_name_fn>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_made_name_falls_back() {
        assert_eq!(ThreadName::Fixed("a".into()).next("t", "fb"), "a");
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let made = ThreadName::Made(Arc::new(move || {
            format!("w-{}", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        }));
        assert_eq!((made.next("t", "fb"), made.next("t", "fb")), ("w-0".into(), "w-1".into()));
        assert_eq!(ThreadName::Made(Arc::new(|| "a\0b".into())).next("t", "fb"), "fb");
        assert_eq!(ThreadName::Made(Arc::new(|| panic!("no name"))).next("t", "fb"), "fb");
    }
}
