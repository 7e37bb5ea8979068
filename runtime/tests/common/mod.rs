//! Helpers shared by the integration tests.
//!
//! Every test that could hang if the runtime misbehaves runs its body through
//! [`with_timeout`], so a bug shows up as a failed test with a clear message
//! instead of a stuck `cargo test`.

#![allow(dead_code)]

use std::any::Any;
use std::future::Future;
use std::panic;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use weft::runtime::{Builder, Runtime};

/// The generous bound used for "this must finish" waits.
pub const LONG: Duration = Duration::from_secs(20);

/// Builds a multi-thread runtime with `workers` worker threads.
pub fn runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("building a runtime with valid settings must succeed")
}

/// Runs `f` on a fresh thread and waits for it at most `secs` seconds.
///
/// A panic inside `f` is re-raised on the test thread; running past the limit
/// fails the test (the stuck thread is left behind, the test binary still
/// exits when every test is done).
pub fn with_timeout<T, F>(what: &str, secs: u64, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let body = thread::Builder::new()
        .name(format!("test-body-{what}"))
        .spawn(move || {
            let value = f();
            let _ = tx.send(value);
        })
        .expect("spawn test body thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => {
            let _ = body.join();
            value
        }
        Err(RecvTimeoutError::Disconnected) => match body.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the body thread always sends before it returns"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {secs} s (the runtime hangs)")
        }
    }
}

/// Polls `cond` every millisecond until it holds or `limit` passes; returns
/// whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Runs `f`, which must panic, and returns the panic message.
pub fn expect_panic<R>(f: impl FnOnce() -> R + panic::UnwindSafe) -> String {
    match panic::catch_unwind(f) {
        Ok(_) => panic!("expected a panic, but the call returned normally"),
        Err(payload) => panic_message(&*payload),
    }
}

/// Counts how many times values holding it were dropped.
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sets its flag when dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on the calling thread, with no runtime involved, for at most
/// `limit`; `None` if it is still pending then.
///
/// Used where the runtime's own `block_on` must not be trusted (after
/// shutdown, or when the runtime may be half torn down).
pub fn std_block_on<F: Future>(fut: F, limit: Duration) -> Option<F::Output> {
    let deadline = Instant::now() + limit;
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::park_timeout((deadline - now).min(Duration::from_millis(10)));
    }
}

/// Polls `fut` exactly once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    std::pin::Pin::new(fut).poll(&mut cx)
}
