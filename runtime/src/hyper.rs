//! Running [hyper] 1.x on weft (cargo feature `hyper`).
//!
//! hyper 1.x is runtime-agnostic: it asks its user for three things, and
//! this module gives weft's:
//!
//! | hyper wants | weft gives | what it does |
//! |---|---|---|
//! | [`hyper::rt::Executor`] | [`WeftExecutor`] | spawns hyper's background futures (HTTP/2 streams and connections, hyper-util's pooled client) as weft tasks |
//! | [`hyper::rt::Timer`] | [`WeftTimer`] | timeouts (`header_read_timeout`, HTTP/2 keep-alive pings) on weft's timer wheels; its sleeps are [`WeftSleep`] |
//! | [`hyper::rt::Read`] + [`hyper::rt::Write`] | [`WeftIo<T>`] | wraps any `futures_io::AsyncRead + AsyncWrite + Unpin`, such as [`crate::net::TcpStream`] or [`crate::net::UnixStream`] |
//!
//! The names mirror hyper-util's `TokioExecutor`, `TokioTimer` and
//! `TokioIo`, so porting a hyper program from Tokio is a rename.
//!
//! # Example
//!
//! A hello-world HTTP/1.1 server and one client request over a weft
//! `TcpStream` (needs hyper's `http1`, `server` and `client` features and
//! `http-body-util`):
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use weft::hyper::{WeftIo, WeftTimer};
//! use weft::net::{TcpListener, TcpStream};
//!
//! async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from_static(b"hello, world"))))
//! }
//!
//! weft::runtime::Runtime::new().unwrap().block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!
//!     // The server: one task per connection.
//!     weft::spawn(async move {
//!         loop {
//!             let (stream, _) = listener.accept().await.unwrap();
//!             weft::spawn(async move {
//!                 let service = hyper::service::service_fn(hello);
//!                 let _ = hyper::server::conn::http1::Builder::new()
//!                     .timer(WeftTimer::new())
//!                     .serve_connection(WeftIo::new(stream), service)
//!                     .await;
//!             });
//!         }
//!     });
//!
//!     // The client: the connection future runs as its own task.
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, conn) =
//!         hyper::client::conn::http1::handshake(WeftIo::new(stream)).await.unwrap();
//!     weft::spawn(conn);
//!
//!     let req = Request::get("/")
//!         .header("host", "localhost")
//!         .body(http_body_util::Empty::<Bytes>::new())
//!         .unwrap();
//!     let res = sender.send_request(req).await.unwrap();
//!     assert_eq!(res.status(), 200);
//!     let body = res.into_body().collect().await.unwrap().to_bytes();
//!     assert_eq!(&body[..], b"hello, world");
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::hyper::rt::{Executor, ReadBufCursor};
use futures_io::{AsyncRead, AsyncWrite};

use crate::runtime::Handle;
use crate::time::{Instant, Sleep};

/// Largest part of hyper's read buffer that one read zero-fills and offers
/// to the stream (hyper's buffer may grow to hundreds of KiB; one socket
/// read rarely returns more than this).
const MAX_READ: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// Executor
// ---------------------------------------------------------------------------

/// A [`hyper::rt::Executor`] that spawns each future as a detached weft
/// task.
///
/// [`WeftExecutor::new`] spawns on the runtime current where `execute` is
/// called (it panics if there is none, like [`crate::spawn`]);
/// [`WeftExecutor::with_handle`] always spawns on the given runtime, from
/// any thread.
///
/// ```
/// use hyper::rt::Executor;
/// use weft::hyper::WeftExecutor;
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = futures_channel::oneshot::channel();
///     WeftExecutor::new().execute(async move { tx.send(7).unwrap() });
///     assert_eq!(rx.await.unwrap(), 7);
/// });
/// ```
#[derive(Clone, Default)]
pub struct WeftExecutor {
    handle: Option<Handle>,
}

impl WeftExecutor {
    /// An executor that spawns on the weft runtime current at each
    /// `execute` call.
    pub fn new() -> WeftExecutor {
        WeftExecutor { handle: None }
    }

    /// An executor that spawns on the runtime of `handle`, whatever thread
    /// `execute` is called from.
    pub fn with_handle(handle: Handle) -> WeftExecutor {
        WeftExecutor { handle: Some(handle) }
    }
}

impl<Fut> Executor<Fut> for WeftExecutor
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// Spawns `fut` as a weft task and detaches it (its output is dropped).
    ///
    /// # Panics
    /// For an executor made by [`WeftExecutor::new`], outside a weft
    /// runtime.
    #[track_caller]
    fn execute(&self, fut: Fut) {
        match &self.handle {
            Some(handle) => drop(handle.spawn(fut)),
            None => drop(crate::spawn(fut)),
        }
    }
}

impl fmt::Debug for WeftExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeftExecutor").field("bound_to_handle", &self.handle.is_some()).finish()
    }
}

// ---------------------------------------------------------------------------
// Timer
// ---------------------------------------------------------------------------

/// A [`hyper::rt::Timer`] on weft's timer wheels.
///
/// Its sleeps are [`WeftSleep`]s. hyper creates them while it polls a
/// connection, so inside a weft task; like [`crate::time::sleep`], creating
/// one outside a weft runtime panics. `reset` moves a [`WeftSleep`]'s
/// deadline in place (no new timer, no allocation), as hyper-util's
/// `TokioTimer` does.
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// use weft::hyper::WeftTimer;
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     let timer = WeftTimer::new();
///     let start = std::time::Instant::now();
///     let mut sleep = timer.sleep(Duration::from_secs(3600));
///     timer.reset(&mut sleep, std::time::Instant::now() + Duration::from_millis(5));
///     sleep.await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct WeftTimer {
    _private: (),
}

impl WeftTimer {
    /// A timer on the current weft runtime's wheels.
    pub fn new() -> WeftTimer {
        WeftTimer { _private: () }
    }
}

impl ::hyper::rt::Timer for WeftTimer {
    /// # Panics
    /// Outside a weft runtime.
    #[track_caller]
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(WeftSleep { inner: crate::time::sleep(duration) })
    }

    /// # Panics
    /// Outside a weft runtime.
    #[track_caller]
    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(WeftSleep { inner: crate::time::sleep_until(Instant::from_std(deadline)) })
    }

    fn reset(
        &self,
        sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>,
        new_deadline: std::time::Instant,
    ) {
        match sleep.as_mut().downcast_mut_pin::<WeftSleep>() {
            Some(weft_sleep) => weft_sleep.reset(new_deadline),
            // Not one of ours (another timer's sleep): replace it.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The [`hyper::rt::Sleep`] of [`WeftTimer`]: a [`crate::time::Sleep`].
pub struct WeftSleep {
    inner: Sleep,
}

impl WeftSleep {
    /// Moves the deadline (re-arming a completed sleep); see
    /// [`Sleep::reset`].
    pub fn reset(self: Pin<&mut Self>, deadline: std::time::Instant) {
        Pin::new(&mut self.get_mut().inner).reset(Instant::from_std(deadline));
    }

    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> std::time::Instant {
        self.inner.deadline().into_std()
    }
}

impl Future for WeftSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl ::hyper::rt::Sleep for WeftSleep {}

impl fmt::Debug for WeftSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeftSleep").field("inner", &self.inner).finish()
    }
}

// ---------------------------------------------------------------------------
// I/O
// ---------------------------------------------------------------------------

/// Adapts a `futures_io` stream (weft's [`crate::net::TcpStream`],
/// [`crate::net::UnixStream`], or any `AsyncRead + AsyncWrite + Unpin`) to
/// hyper's [`hyper::rt::Read`] and [`hyper::rt::Write`].
///
/// - Reads zero-fill the part of hyper's buffer they offer (at most 64 KiB)
///   and hand it to `poll_read` as an ordinary `&mut [u8]`, so no
///   uninitialised memory ever reaches the stream.
/// - Vectored writes go to `poll_write_vectored` (weft's sockets do real
///   `writev`), and [`WeftIo::new`] tells hyper so; for a stream whose
///   vectored write only writes the first buffer (futures-io's default),
///   use [`WeftIo::with_write_vectored`]`(io, false)` and hyper flattens its
///   buffers instead.
/// - `poll_shutdown` is `poll_close` (for a socket: shut down writing, the
///   peer reads end-of-file).
///
/// It also implements `futures_io::AsyncRead + AsyncWrite` itself, by
/// forwarding, so a stream hyper hands back after an upgrade can still be
/// used as a plain stream.
#[derive(Debug)]
pub struct WeftIo<T> {
    inner: T,
    write_vectored: bool,
}

impl<T> WeftIo<T> {
    /// Wraps `inner`, telling hyper that its vectored writes are real.
    pub fn new(inner: T) -> WeftIo<T> {
        WeftIo { inner, write_vectored: true }
    }

    /// Wraps `inner`, saying whether its `poll_write_vectored` writes more
    /// than the first buffer (`false`: hyper flattens into one buffer).
    pub fn with_write_vectored(inner: T, write_vectored: bool) -> WeftIo<T> {
        WeftIo { inner, write_vectored }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> ::hyper::rt::Read for WeftIo<T>
where
    T: AsyncRead + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let len = buf.remaining().min(MAX_READ);
        // Safe: zero-fills whatever of the first `len` unfilled bytes was
        // not initialised yet, and marks them initialised in `buf`.
        let dst = buf.initialize_unfilled_to(len);
        let n = match Pin::new(&mut self.get_mut().inner).poll_read(cx, dst) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        if n > len {
            // `AsyncRead` is a safe trait: a broken implementation must not
            // make us claim bytes beyond the initialised slice.
            return Poll::Ready(Err(io::Error::other(
                "AsyncRead::poll_read returned more bytes than the buffer holds",
            )));
        }
        // SAFETY: `advance(n)` requires the `n` bytes after the filled part
        // to be initialised. `initialize_unfilled_to(len)` initialised the
        // first `len` unfilled bytes (and recorded them as initialised in
        // the buffer), and nothing has moved the filled cursor since;
        // `n <= len` was checked just above. (The reader wrote real data
        // into the first `n` of them; even if it had not, they are zeros,
        // never uninitialised memory.)
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<T> ::hyper::rt::Write for WeftIo<T>
where
    T: AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// `poll_close`: for a socket, shuts down the write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.write_vectored
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WeftIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read_vectored(cx, bufs)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WeftIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
