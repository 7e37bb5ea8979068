//! The runtimes under test, behind one trait: [`Rt`] is the small surface
//! of an async runtime that the workloads use, [`Weft`] and [`Tokio`] its
//! two implementations (plus [`WeftNoStall`], weft with stall detection
//! off, for the `compare` rows that price detection, and
//! [`WeftCpuBackground`], weft with its CPU pool at `Background` priority,
//! for the `cpu` rows), and [`Flavor`] picks
//! multi-threaded or current-thread.
//!
//! The two runtimes spell most of that surface the same way
//! (`spawn`, `task::yield_now`, `time::sleep_until`, `net::TcpListener`...),
//! so the adapters are written once, by `adapter!`; what differs (the
//! names, the extension traits that read and write a stream, and any
//! builder setting beyond the defaults) is passed in.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::WORKER_THREADS;

/// Which kind of runtime a workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Multi-threaded, [`WORKER_THREADS`] workers ([`Rt::with_workers`]).
    MultiThread,
    /// Current-thread: tasks run only on the thread inside [`Rt::block_on`]
    /// ([`Rt::current_thread`]).
    CurrentThread,
}

impl Flavor {
    /// Builds a fresh `R` runtime of this flavor.
    pub fn build<R: Rt>(self) -> R {
        match self {
            Flavor::MultiThread => R::with_workers(WORKER_THREADS),
            Flavor::CurrentThread => R::current_thread(),
        }
    }
}

/// The small surface of an async runtime that the workloads need.
///
/// `spawn` is called from outside the runtime (the thread that owns it);
/// [`Rt::spawn_inner`] is an associated function so that code running inside a
/// task can spawn without holding a reference to the runtime, the way
/// `tokio::spawn` / `weft::spawn` are used.
pub trait Rt: Sized + Sync + 'static {
    /// Name printed in tables and used as the criterion function id.
    const NAME: &'static str;

    /// Error type a join handle resolves to when the task did not complete.
    type JoinError: fmt::Debug;

    /// Handle to a spawned task; dropping it detaches the task.
    type JoinHandle<T: Send + 'static>: Future<Output = Result<T, Self::JoinError>>
        + Send
        + Unpin
        + 'static;

    /// Builds a multi-threaded runtime with `workers` worker threads and all
    /// drivers enabled.
    fn with_workers(workers: usize) -> Self;

    /// Builds a current-thread runtime with all drivers enabled: every task
    /// runs on the thread inside [`Rt::block_on`], and only while one is.
    fn current_thread() -> Self;

    /// The flavor this runtime was built with. Workloads that wait for
    /// their tasks from outside the runtime must do it inside
    /// [`Rt::block_on`] on a [`Flavor::CurrentThread`] runtime.
    fn flavor(&self) -> Flavor;

    /// Runs `fut` to completion on the current thread: a non-worker thread
    /// on a multi-threaded runtime; on a current-thread one, the thread
    /// that also runs the tasks meanwhile.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;

    /// Spawns `fut` on this runtime through its handle, from any thread.
    fn spawn<F>(&self, fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns `fut` on the runtime the caller is running in.
    ///
    /// # Panics
    ///
    /// Panics when called outside the runtime's context.
    fn spawn_inner<F>(fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Yields once back to the scheduler.
    fn yield_now() -> impl Future<Output = ()> + Send;

    /// The runtime's sleep future (`weft::time::Sleep`, `tokio::time::Sleep`);
    /// named so that the timer benches can report its `size_of`.
    type Sleep: Future<Output = ()> + Send + 'static;

    /// The runtime's `sleep(duration)`.
    ///
    /// # Panics
    ///
    /// Panics when called outside the runtime's context.
    fn sleep(duration: Duration) -> Self::Sleep;

    /// The runtime's `sleep_until`, with the deadline given as a
    /// `std::time::Instant` (both runtimes' `Instant`s wrap one), so that
    /// lateness is measured against the exact deadline the timer got.
    ///
    /// # Panics
    ///
    /// Panics when called outside the runtime's context.
    fn sleep_until(deadline: Instant) -> Self::Sleep;

    /// Runs the blocking closure `f` on the blocking pool of the runtime the
    /// caller is running in (`weft::task::spawn_blocking`,
    /// `tokio::task::spawn_blocking`).
    ///
    /// # Panics
    ///
    /// Panics when called outside the runtime's context.
    fn spawn_blocking<F, T>(f: F) -> Self::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// The runtime's TCP listener.
    type TcpListener: Send + Sync + 'static;

    /// The runtime's TCP stream.
    type TcpStream: Send + 'static;

    /// Binds a listener to `addr`.
    ///
    /// Fails outside the runtime's context.
    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpListener>> + Send;

    /// The address `listener` is bound to.
    fn local_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr>;

    /// Accepts one connection (the peer's address is dropped).
    fn accept(
        listener: &Self::TcpListener,
    ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send + '_;

    /// Connects to `addr`.
    ///
    /// Fails outside the runtime's context.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Sets `TCP_NODELAY` on `stream`.
    fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()>;

    /// Reads into `buf` once (`Ok(0)` at end-of-file).
    fn read<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;

    /// Fills `buf` exactly.
    fn read_exact<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;

    /// Writes all of `buf`.
    fn write_all<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

/// Defines `$adapter`, a runtime of crate `$krate` and its [`Flavor`], and
/// implements [`Rt`] for it. `$shown` is the runtime's name in panic
/// messages; `read`, `read_exact` and `write_all` name the functions that do
/// those on `$krate::net::TcpStream` (each runtime has its own extension
/// traits; `read_exact` must resolve to `io::Result<()>`). The optional
/// `configure` names a `fn(&mut $krate::runtime::Builder)` applied to both
/// flavors' builders after the defaults.
macro_rules! adapter {
    (
        $(#[$doc:meta])*
        $adapter:ident: $krate:ident, NAME = $name:literal, shown as $shown:literal,
        read = $read:path, read_exact = $read_exact:path, write_all = $write_all:path
        $(, configure = $configure:path)? $(,)?
    ) => {
        $(#[$doc])*
        pub struct $adapter(pub(crate) $krate::runtime::Runtime, Flavor);

        impl Rt for $adapter {
            const NAME: &'static str = $name;
            type JoinError = $krate::task::JoinError;
            type JoinHandle<T: Send + 'static> = $krate::task::JoinHandle<T>;

            fn with_workers(workers: usize) -> Self {
                let mut builder = $krate::runtime::Builder::new_multi_thread();
                builder.worker_threads(workers).enable_all();
                $($configure(&mut builder);)?
                let rt = builder.build().expect(concat!("failed to build the ", $shown, " runtime"));
                assert_eq!(rt.metrics().num_workers(), workers, concat!($shown, " worker count"));
                $adapter(rt, Flavor::MultiThread)
            }

            fn current_thread() -> Self {
                let mut builder = $krate::runtime::Builder::new_current_thread();
                builder.enable_all();
                $($configure(&mut builder);)?
                let rt = builder
                    .build()
                    .expect(concat!("failed to build the ", $shown, " current-thread runtime"));
                $adapter(rt, Flavor::CurrentThread)
            }

            fn flavor(&self) -> Flavor {
                self.1
            }

            fn block_on<F: Future>(&self, fut: F) -> F::Output {
                self.0.block_on(fut)
            }

            fn spawn<F>(&self, fut: F) -> Self::JoinHandle<F::Output>
            where
                F: Future + Send + 'static,
                F::Output: Send + 'static,
            {
                self.0.handle().spawn(fut)
            }

            fn spawn_inner<F>(fut: F) -> Self::JoinHandle<F::Output>
            where
                F: Future + Send + 'static,
                F::Output: Send + 'static,
            {
                $krate::spawn(fut)
            }

            fn yield_now() -> impl Future<Output = ()> + Send {
                $krate::task::yield_now()
            }

            type Sleep = $krate::time::Sleep;

            fn sleep(duration: Duration) -> Self::Sleep {
                $krate::time::sleep(duration)
            }

            fn sleep_until(deadline: Instant) -> Self::Sleep {
                $krate::time::sleep_until($krate::time::Instant::from_std(deadline))
            }

            fn spawn_blocking<F, T>(f: F) -> Self::JoinHandle<T>
            where
                F: FnOnce() -> T + Send + 'static,
                T: Send + 'static,
            {
                $krate::task::spawn_blocking(f)
            }

            type TcpListener = $krate::net::TcpListener;
            type TcpStream = $krate::net::TcpStream;

            fn bind(
                addr: SocketAddr,
            ) -> impl Future<Output = io::Result<Self::TcpListener>> + Send {
                $krate::net::TcpListener::bind(addr)
            }

            fn local_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr> {
                listener.local_addr()
            }

            async fn accept(listener: &Self::TcpListener) -> io::Result<Self::TcpStream> {
                listener.accept().await.map(|(stream, _)| stream)
            }

            fn connect(
                addr: SocketAddr,
            ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send {
                $krate::net::TcpStream::connect(addr)
            }

            fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()> {
                stream.set_nodelay(true)
            }

            fn read<'a>(
                stream: &'a mut Self::TcpStream,
                buf: &'a mut [u8],
            ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
                $read(stream, buf)
            }

            fn read_exact<'a>(
                stream: &'a mut Self::TcpStream,
                buf: &'a mut [u8],
            ) -> impl Future<Output = io::Result<()>> + Send + 'a {
                $read_exact(stream, buf)
            }

            fn write_all<'a>(
                stream: &'a mut Self::TcpStream,
                buf: &'a [u8],
            ) -> impl Future<Output = io::Result<()>> + Send + 'a {
                $write_all(stream, buf)
            }
        }
    };
}

adapter! {
    /// The weft runtime under test, and the flavor it was built with.
    Weft: weft, NAME = "weft", shown as "weft",
    read = futures_util::AsyncReadExt::read,
    read_exact = futures_util::AsyncReadExt::read_exact,
    write_all = futures_util::AsyncWriteExt::write_all,
}

adapter! {
    /// weft with stall detection off (`Builder::stall_threshold(None)`):
    /// no monitor thread. Against [`Weft`] (detection on, the default) it
    /// prices the detection.
    WeftNoStall: weft, NAME = "weft (stall detection off)", shown as "weft (stall detection off)",
    read = futures_util::AsyncReadExt::read,
    read_exact = futures_util::AsyncReadExt::read_exact,
    write_all = futures_util::AsyncWriteExt::write_all,
    configure = stall_detection_off,
}

/// The one setting of [`WeftNoStall`].
fn stall_detection_off(builder: &mut weft::runtime::Builder) {
    builder.stall_threshold(None);
}

adapter! {
    /// weft with its CPU pool at `CpuPriority::Background` (`SCHED_BATCH`,
    /// nice 19) instead of the default `Idle` (`SCHED_IDLE`): the `cpu`
    /// rows compare the two.
    WeftCpuBackground: weft, NAME = "weft (CPU pool Background)",
    shown as "weft (CPU pool Background)",
    read = futures_util::AsyncReadExt::read,
    read_exact = futures_util::AsyncReadExt::read_exact,
    write_all = futures_util::AsyncWriteExt::write_all,
    configure = cpu_pool_background,
}

/// The one setting of [`WeftCpuBackground`].
fn cpu_pool_background(builder: &mut weft::runtime::Builder) {
    builder.cpu_priority(weft::runtime::CpuPriority::Background);
}

adapter! {
    /// The Tokio runtime, the baseline, and the flavor it was built with.
    Tokio: tokio, NAME = "tokio", shown as "Tokio",
    read = tokio::io::AsyncReadExt::read,
    read_exact = tokio_read_exact,
    write_all = tokio::io::AsyncWriteExt::write_all,
}

/// Tokio's `read_exact`, which returns the length it filled (always
/// `buf.len()`), as the `io::Result<()>` that [`Rt::read_exact`] returns.
async fn tokio_read_exact(stream: &mut tokio::net::TcpStream, buf: &mut [u8]) -> io::Result<()> {
    tokio::io::AsyncReadExt::read_exact(stream, buf).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A poll that blocks past the default threshold: one stall on
    /// [`Weft`], none on [`WeftNoStall`] of either flavor (its `configure`
    /// reaches both builders).
    #[test]
    fn weft_no_stall_has_detection_off() {
        fn stalls<R: Rt>(rt: &R, metrics: impl Fn(&R) -> u64) -> u64 {
            rt.block_on(async {
                R::spawn_inner(async { std::thread::sleep(Duration::from_millis(250)) })
                    .await
                    .unwrap()
            });
            metrics(rt)
        }
        let count = |rt: &Weft| rt.0.metrics().stall_count();
        let count_off = |rt: &WeftNoStall| rt.0.metrics().stall_count();
        assert_eq!(stalls(&Weft::with_workers(1), count), 1);
        assert_eq!(stalls(&WeftNoStall::with_workers(1), count_off), 0);
        assert_eq!(stalls(&WeftNoStall::current_thread(), count_off), 0);
    }
}
