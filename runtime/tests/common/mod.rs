//! Helpers shared by the integration tests.
//!
//! Behaviour tests run on both runtime flavors (current-thread and
//! multi-thread) through [`both_flavors!`] and [`Flavor`].
//!
//! Every test that could hang if the runtime misbehaves runs its body through
//! [`with_timeout`], so a bug shows up as a failed test with a clear message
//! instead of a stuck `cargo test`.

#![allow(dead_code)]

use std::any::Any;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
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

/// Builds a multi-thread runtime with stall detection off, so that only
/// the watcher rescues what a stuck worker holds: for the tests of the
/// watcher itself, which the stall monitor's rescue would otherwise mask.
pub fn watcher_only_runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .stall_threshold(None)
        .build()
        .expect("building a runtime with valid settings must succeed")
}

/// Builds a current-thread runtime (tasks run inside `block_on`).
pub fn current_thread() -> Runtime {
    Builder::new_current_thread().build().expect("building a current-thread runtime must succeed")
}

/// A runtime flavor a behaviour test runs on; see [`both_flavors!`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `Builder::new_current_thread()`: tasks run only on a thread inside
    /// `block_on`.
    CurrentThread,
    /// `Builder::new_multi_thread()` with this many worker threads.
    MultiThread(usize),
}

impl Flavor {
    /// A builder for this flavor (with its worker count if multi-thread),
    /// for tests that set more options.
    pub fn builder(self) -> Builder {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread(),
            Flavor::MultiThread(workers) => {
                let mut builder = Builder::new_multi_thread();
                builder.worker_threads(workers);
                builder
            }
        }
    }

    /// Builds a runtime of this flavor.
    pub fn build(self) -> Runtime {
        self.builder().build().expect("building a runtime with valid settings must succeed")
    }

    /// `current-thread` or `multi-thread(N)`, for messages.
    pub fn name(self) -> String {
        match self {
            Flavor::CurrentThread => "current-thread".to_string(),
            Flavor::MultiThread(workers) => format!("multi-thread({workers})"),
        }
    }

    /// Whether this is the current-thread flavor.
    pub fn is_current_thread(self) -> bool {
        self == Flavor::CurrentThread
    }

    /// How many workers its runtime has (`RuntimeMetrics::num_workers`):
    /// 1 for current-thread.
    pub fn workers(self) -> usize {
        match self {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread(workers) => workers,
        }
    }
}

/// Runs a test body on both flavors, as two `#[test]`s that fail (and run
/// in parallel) separately. Next to a `fn name(flavor: Flavor)`:
///
/// ```ignore
/// both_flavors!(name); // name::current_thread, name::multi_thread (2 workers)
/// both_flavors!(name, multi_thread = [1, 2, 4]); // multi_thread runs each in turn
/// fn name(flavor: Flavor) { let rt = flavor.build(); /* ... */ }
/// ```
#[allow(unused_macros)] // not every test binary uses it
macro_rules! both_flavors {
    ($name:ident) => {
        $crate::common::both_flavors!($name, multi_thread = [2]);
    };
    ($name:ident, multi_thread = [$($workers:expr),+ $(,)?]) => {
        mod $name {
            #[test]
            fn current_thread() {
                super::$name($crate::common::Flavor::CurrentThread);
            }

            #[test]
            fn multi_thread() {
                $(super::$name($crate::common::Flavor::MultiThread($workers));)+
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_flavors;

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

/// Like [`wait_until`], for use inside the runtime (in `block_on` or a
/// task): sleeps on a weft timer between checks, so a current-thread
/// runtime keeps running its tasks meanwhile. No sleep of its own is
/// registered when `cond` runs.
pub async fn wait_until_async(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        weft::time::sleep(Duration::from_millis(1)).await;
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

/// xorshift64: a small deterministic generator for sizes and payloads.
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (any value, zero included).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Random bytes, 1 to `max` of them.
    pub fn random_bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.range(1, max);
        self.bytes(len)
    }
}

/// FNV-1a over `data`.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Whether this host can bind TCP on `::1`.
pub fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Runs `f` outside any runtime: it must give an error or panic, and either
/// must mention the runtime (never hang, never succeed).
pub fn expect_no_runtime_failure<T>(what: &str, f: impl FnOnce() -> Option<io::Result<T>>) {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Err(payload) => {
            let msg = panic_message(&*payload);
            assert!(msg.contains("runtime"), "{what}: panic does not mention the runtime: {msg:?}");
        }
        Ok(None) => panic!("{what}: still pending outside a runtime (it should fail)"),
        Ok(Some(Ok(_))) => panic!("{what}: succeeded outside a runtime"),
        Ok(Some(Err(e))) => {
            assert!(e.to_string().contains("runtime"), "{what}: error does not mention it: {e}")
        }
    }
}

/// A fresh directory under the system temp dir for one test, removed on
/// drop. Its name holds the test binary, the process and a counter, so
/// tests running at once never share one.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A new empty directory named after `name`.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let crate_name = env!("CARGO_CRATE_NAME");
        let dir = std::env::temp_dir()
            .join(format!("weft-{crate_name}-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        TempDir(dir)
    }

    /// `file` inside the directory.
    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
