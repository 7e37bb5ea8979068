//! Shared benchmark code for comparing weft with Tokio.
//!
//! Every workload is written once, generically over the [`Rt`] trait, and run
//! on both runtimes: by the `compare` binary (alternating rounds, markdown
//! table) and by the criterion benches `scheduler`, `timers` and `blocking`.
//!
//! The runtimes are reached only through [`Rt`]; channels come from
//! `futures-channel` and `std::sync::mpsc`, never from a runtime, so both sides
//! run exactly the same code apart from the scheduler (and, for the timer
//! workloads in [`timers`], each runtime's own `sleep`; for the blocking-pool
//! workloads in [`blocking`], each runtime's own `spawn_blocking`; for the
//! networking workloads in [`net`], each runtime's own TCP sockets, read
//! through `futures_util`'s `AsyncReadExt`/`AsyncWriteExt` on weft and
//! Tokio's `tokio::io` extension traits on Tokio; for the HTTP workload in
//! [`http`], hyper 1.x over each runtime's sockets, through
//! `weft::hyper::WeftIo` and hyper-util's `TokioIo`). [`chart`] draws the
//! `compare` ratios as an SVG bar chart.
//!
//! Runtimes are multi-threaded ([`Rt::with_workers`]) or current-thread
//! ([`Rt::current_thread`]); [`Flavor`] picks one.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub mod alloc;
pub mod blocking;
pub mod chart;
pub mod http;
pub mod net;
pub mod report;
pub mod timers;
pub mod workloads;

pub use workloads::Workload;

/// Worker threads used for both runtimes (the benchmark machines have 2 cores).
pub const WORKER_THREADS: usize = 2;

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

/// The weft runtime under test, and its flavor (weft has no public flavor
/// query).
pub struct Weft(weft::runtime::Runtime, Flavor);

impl Rt for Weft {
    const NAME: &'static str = "weft";
    type JoinError = weft::task::JoinError;
    type JoinHandle<T: Send + 'static> = weft::task::JoinHandle<T>;

    fn with_workers(workers: usize) -> Self {
        let rt = weft::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("failed to build the weft runtime");
        assert_eq!(rt.metrics().num_workers(), workers, "weft worker count");
        Weft(rt, Flavor::MultiThread)
    }

    fn current_thread() -> Self {
        let rt = weft::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("failed to build the weft current-thread runtime");
        Weft(rt, Flavor::CurrentThread)
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
        weft::spawn(fut)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        weft::task::yield_now()
    }

    type Sleep = weft::time::Sleep;

    fn sleep(duration: Duration) -> Self::Sleep {
        weft::time::sleep(duration)
    }

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        weft::time::sleep_until(weft::time::Instant::from_std(deadline))
    }

    fn spawn_blocking<F, T>(f: F) -> Self::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        weft::task::spawn_blocking(f)
    }

    type TcpListener = weft::net::TcpListener;
    type TcpStream = weft::net::TcpStream;

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpListener>> + Send {
        weft::net::TcpListener::bind(addr)
    }

    fn local_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::TcpListener) -> io::Result<Self::TcpStream> {
        listener.accept().await.map(|(stream, _)| stream)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send {
        weft::net::TcpStream::connect(addr)
    }

    fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    fn read<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        futures_util::AsyncReadExt::read(stream, buf)
    }

    fn read_exact<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        futures_util::AsyncReadExt::read_exact(stream, buf)
    }

    fn write_all<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        futures_util::AsyncWriteExt::write_all(stream, buf)
    }
}

/// The Tokio runtime, the baseline (multi-threaded or current-thread).
pub struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    const NAME: &'static str = "tokio";
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: Send + 'static> = tokio::task::JoinHandle<T>;

    fn with_workers(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("failed to build the Tokio runtime");
        assert_eq!(rt.metrics().num_workers(), workers, "Tokio worker count");
        Tokio(rt)
    }

    fn current_thread() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("failed to build the Tokio current-thread runtime");
        Tokio(rt)
    }

    fn flavor(&self) -> Flavor {
        match self.0.handle().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => Flavor::CurrentThread,
            _ => Flavor::MultiThread,
        }
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
        tokio::spawn(fut)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    type Sleep = tokio::time::Sleep;

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }

    fn spawn_blocking<F, T>(f: F) -> Self::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        tokio::task::spawn_blocking(f)
    }

    type TcpListener = tokio::net::TcpListener;
    type TcpStream = tokio::net::TcpStream;

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpListener>> + Send {
        tokio::net::TcpListener::bind(addr)
    }

    fn local_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::TcpListener) -> io::Result<Self::TcpStream> {
        listener.accept().await.map(|(stream, _)| stream)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send {
        tokio::net::TcpStream::connect(addr)
    }

    fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    fn read<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        tokio::io::AsyncReadExt::read(stream, buf)
    }

    async fn read_exact(stream: &mut Self::TcpStream, buf: &mut [u8]) -> io::Result<()> {
        tokio::io::AsyncReadExt::read_exact(stream, buf).await.map(drop)
    }

    fn write_all<'a>(
        stream: &'a mut Self::TcpStream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        tokio::io::AsyncWriteExt::write_all(stream, buf)
    }
}
