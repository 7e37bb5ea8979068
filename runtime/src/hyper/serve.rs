//! [`serve`]: an HTTP server loop (HTTP/1.1 and HTTP/2) for a tower
//! service, the counterpart of `axum::serve`.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture, Pending};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ::hyper::body::{Body, Incoming};
use ::hyper::{Request, Response};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower_service::Service;

use super::{WeftExecutor, WeftIo, WeftTimer};
use crate::net::{TcpListener, TcpStream};

type BoxError = Box<dyn StdError + Send + Sync>;

/// First pause after an accept error that is about this process or machine
/// (out of file descriptors, of memory, of socket buffers).
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
/// Longest pause: the condition may last, but a server that waits longer
/// than this to try again would look dead once it has cleared.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Connection-level accept errors skipped in a row before the loop pauses
/// as for a resource error: each skip accepts again at once, so an error
/// that does not clear (a listener that is not a stream socket reports
/// `EOPNOTSUPP`, one of the "retry" errors, forever) would spin otherwise.
const MAX_SKIPPED_IN_A_ROW: u32 = 64;

/// Serves HTTP/1.1 and HTTP/2 (the version each connection speaks, found
/// from its first bytes) on `listener` with `service`, on weft's executor,
/// I/O and timer: the counterpart of `axum::serve`.
///
/// `service` is any cloneable tower [`Service`] of `Request<Incoming>`,
/// such as an `axum::Router` or a `tower::service_fn`; each connection gets
/// its own clone. Connections are weft tasks, with `TCP_NODELAY` set, and
/// may be upgraded (`hyper::upgrade::on`, for WebSockets; HTTP/2's extended
/// CONNECT is enabled too). hyper gets a [`WeftTimer`], so its HTTP/1.1
/// header-read timeout (30 s) is on: a client that opens a connection and
/// sends a request head too slowly is disconnected (`axum::serve` gives
/// hyper no timer, so has no such limit).
///
/// The returned [`Serve`] runs when awaited, and returns only on an error
/// of the listener that retrying cannot cure:
/// - connection-level accept errors (the peer reset or abandoned the
///   connection before it was accepted) are skipped, up to 64 in a row;
///   more than that in a row are treated as the next kind, so even an
///   error that never clears cannot spin the worker;
/// - any other accept error (`EMFILE`, `ENFILE`, `ENOMEM`, `ENOBUFS`...)
///   pauses accepting, 1 ms at first, doubling up to 1 s while the errors
///   go on, so a server out of file descriptors neither spins nor exits.
///   Nothing is logged;
/// - an error that says the listener itself is unusable (`EBADF`,
///   `ENOTSOCK`, `EINVAL`: not a listening socket) is returned.
///
/// [`Serve::with_graceful_shutdown`] adds a stop signal.
///
/// ```
/// use std::convert::Infallible;
/// use std::future::IntoFuture;
///
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     let listener = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     // A tower service; `hyper_util::service::TowerToHyperService` adapts
///     // it inside `serve`.
///     #[derive(Clone)]
///     struct Hello;
///     impl tower_service::Service<Request<Incoming>> for Hello {
///         type Response = Response<Full<Bytes>>;
///         type Error = Infallible;
///         type Future = std::future::Ready<Result<Self::Response, Infallible>>;
///         fn poll_ready(
///             &mut self,
///             _: &mut std::task::Context<'_>,
///         ) -> std::task::Poll<Result<(), Infallible>> {
///             std::task::Poll::Ready(Ok(()))
///         }
///         fn call(&mut self, _: Request<Incoming>) -> Self::Future {
///             std::future::ready(Ok(Response::new(Full::new(Bytes::from("hello")))))
///         }
///     }
///     let (stop, stopped) = futures_channel::oneshot::channel::<()>();
///     let server = weft::hyper::serve(listener, Hello).with_graceful_shutdown(async {
///         let _ = stopped.await;
///     });
///     // `Serve` is `IntoFuture`: awaited as it is, spawned as a future.
///     let server = weft::spawn(server.into_future());
///     stop.send(()).unwrap();
///     server.await.unwrap().unwrap();
/// });
/// ```
pub fn serve<S, B>(listener: TcpListener, service: S) -> Serve<S, Pending<()>>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Serve::new(listener, service)
}

/// [`serve()`] with a service made for each connection by `make_service`,
/// from the peer's address (the counterpart of axum's
/// `into_make_service_with_connect_info`): the way to hand handlers the
/// client's address, or per-connection state. The service is still cloned
/// per request (hyper calls services through `&self`;
/// `TowerToHyperService` clones the tower service for each call).
///
/// ```
/// # use std::convert::Infallible;
/// # use std::net::SocketAddr;
/// # use http_body_util::Full;
/// # use hyper::body::{Bytes, Incoming};
/// # use hyper::{Request, Response};
/// # #[derive(Clone)]
/// # struct App;
/// # impl App {
/// #     fn with_peer(&self, _peer: SocketAddr) -> App { App }
/// # }
/// # impl tower_service::Service<Request<Incoming>> for App {
/// #     type Response = Response<Full<Bytes>>;
/// #     type Error = Infallible;
/// #     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, _: Request<Incoming>) -> Self::Future {
/// #         std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
/// #     }
/// # }
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let app = App;
/// let server = weft::hyper::serve_with(listener, move |peer: SocketAddr| app.with_peer(peer))
///     .with_graceful_shutdown(async {});
/// server.await.unwrap();
/// # });
/// ```
pub fn serve_with<F, S, B>(
    listener: TcpListener,
    make_service: F,
) -> Serve<PerConnection<F>, Pending<()>>
where
    F: FnMut(SocketAddr) -> S + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Serve::new(listener, PerConnection(make_service))
}

/// Where [`Serve`] gets each connection's service: a cloneable service is
/// cloned ([`serve()`]), a [`PerConnection`] closure is called
/// ([`serve_with`]).
pub trait MakeService: Send + 'static {
    /// The service of one connection.
    type Service;

    /// The service for a connection from `peer`.
    fn make_service(&mut self, peer: SocketAddr) -> Self::Service;
}

impl<S> MakeService for S
where
    S: Service<Request<Incoming>> + Clone + Send + 'static,
{
    type Service = S;

    fn make_service(&mut self, _peer: SocketAddr) -> S {
        self.clone()
    }
}

/// The closure of [`serve_with`], as a [`MakeService`].
pub struct PerConnection<F>(F);

impl<F, S> MakeService for PerConnection<F>
where
    F: FnMut(SocketAddr) -> S + Send + 'static,
{
    type Service = S;

    fn make_service(&mut self, peer: SocketAddr) -> S {
        (self.0)(peer)
    }
}

impl<F> fmt::Debug for PerConnection<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PerConnection(..)")
    }
}

/// The server loop of [`serve()`] and [`serve_with`]: await it (it is
/// [`IntoFuture`]), or spawn it with `weft::spawn(serve(..).into_future())`.
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<M, F> {
    listener: TcpListener,
    make_service: M,
    signal: F,
    header_read_timeout: Option<Duration>,
}

/// hyper's own default for HTTP/1.1's header-read timeout.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl<M> Serve<M, Pending<()>> {
    /// A server with no stop signal yet and hyper's default timeouts.
    fn new(listener: TcpListener, make_service: M) -> Self {
        Serve {
            listener,
            make_service,
            signal: std::future::pending(),
            header_read_timeout: Some(HEADER_READ_TIMEOUT),
        }
    }
}

impl<M, F> Serve<M, F> {
    /// Stops the server when `signal` completes: it accepts no more
    /// connections (the listener is closed, so new ones are refused), tells
    /// each open connection to finish (HTTP/1.1: after its in-flight
    /// request, HTTP/2: a GOAWAY, then the open streams complete), waits
    /// until they all have, and returns `Ok(())`.
    ///
    /// There is no deadline on that wait, as with `axum::serve`: an HTTP/2
    /// stream or a response the client never finishes reading holds it
    /// up, and so does a WebSocket over HTTP/2 (extended CONNECT); one
    /// upgraded from HTTP/1.1 is its own task by then and is not waited
    /// for. Bound it with [`weft::time::timeout`](crate::time::timeout)
    /// around the await where that matters. Dropping the `Serve` future
    /// (the timeout firing, for one) closes the listener and tells every
    /// connection to finish as the signal does, without waiting: idle
    /// connections close, requests in flight finish on their own tasks.
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<M, G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            make_service: self.make_service,
            signal,
            header_read_timeout: self.header_read_timeout,
        }
    }

    /// How long an HTTP/1.1 client may take to send a request's head
    /// before its connection is closed (default 30 s, hyper's; the limit a
    /// slow-sending client meets). `None` turns it off, as `axum::serve`
    /// has it (it gives hyper no timer): hyper then arms no timer per
    /// request, which saves about 600 instructions a request.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_read_timeout = timeout.into();
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<M, F> fmt::Debug for Serve<M, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve").field("listener", &self.listener).finish_non_exhaustive()
    }
}

impl<M, S, B, F> IntoFuture for Serve<M, F>
where
    M: MakeService<Service = S>,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self.listener, self.make_service, self.signal, self.header_read_timeout))
    }
}

/// What one turn of the accept loop got.
enum Event {
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Stop,
}

async fn run<M, S, B, F>(
    listener: TcpListener,
    mut make_service: M,
    signal: F,
    header_read_timeout: Option<Duration>,
) -> io::Result<()>
where
    M: MakeService<Service = S>,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    let mut signal = pin!(signal);
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(WeftExecutor::new());
    builder.http1().timer(WeftTimer::new()).header_read_timeout(header_read_timeout);
    // Extended CONNECT (RFC 8441): WebSockets over HTTP/2, as axum::serve
    // enables it.
    builder.http2().timer(WeftTimer::new()).enable_connect_protocol();
    // Shared by every connection task (the builder is cloned per connection
    // otherwise; this is one reference count).
    let builder = Arc::new(builder);
    let mut backoff = FIRST_BACKOFF;
    let mut skipped_in_a_row = 0u32;

    loop {
        // The signal is polled first: once it has fired, no connection
        // accepted in the same turn slips through.
        let event = std::future::poll_fn(|cx| {
            if signal.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Stop);
            }
            listener.poll_accept(cx).map(Event::Accepted)
        })
        .await;
        let (stream, peer) = match event {
            Event::Stop => break,
            Event::Accepted(Ok(accepted)) => accepted,
            Event::Accepted(Err(e)) if is_listener_error(&e) => return Err(e),
            Event::Accepted(Err(e))
                if is_connection_error(&e) && skipped_in_a_row < MAX_SKIPPED_IN_A_ROW =>
            {
                skipped_in_a_row += 1;
                continue;
            }
            Event::Accepted(Err(_)) => {
                // Out of descriptors, memory or buffers: retrying at once
                // would fail the same way and spin; wait (but not past the
                // stop signal) and double the next wait.
                let mut pause = pin!(crate::time::sleep(backoff));
                let stopped = std::future::poll_fn(|cx| {
                    if signal.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(true);
                    }
                    pause.as_mut().poll(cx).map(|()| false)
                })
                .await;
                if stopped {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                skipped_in_a_row = 0;
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        skipped_in_a_row = 0;
        // Responses go out as soon as they are written; hyper already
        // batches its writes. A failure only costs latency.
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let builder = Arc::clone(&builder);
        let service = TowerToHyperService::new(make_service.make_service(peer));
        crate::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(WeftIo::new(stream), service);
            // A connection's error (the peer went away, a malformed
            // request) ends that connection only; hyper has answered what
            // it could.
            let _ = watcher.watch(conn).await;
        });
    }

    // Closing the listener refuses new connections while the open ones
    // finish.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Whether `e` says the listener itself is unusable (closed, not a socket,
/// not listening): no pause cures that.
fn is_listener_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOTSOCK | libc::EINVAL))
}

/// Whether `e` is about one connection that failed before it was accepted
/// (skip it and accept the next) rather than about this process or machine.
fn is_connection_error(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    ) {
        return true;
    }
    // accept(2) on Linux passes on the new socket's pending network errors;
    // its manual says to treat them like EAGAIN, i.e. try again.
    matches!(
        e.raw_os_error(),
        Some(
            libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
        )
    ) || is_enonet(e)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn is_enonet(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENONET)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn is_enonet(_: &io::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_back_off_and_connection_errors_are_skipped() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS] {
            assert!(!is_connection_error(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [libc::ECONNABORTED, libc::ECONNRESET, libc::EINTR, libc::EPROTO] {
            assert!(is_connection_error(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [libc::EBADF, libc::ENOTSOCK, libc::EINVAL] {
            let e = io::Error::from_raw_os_error(errno);
            assert!(is_listener_error(&e) && !is_connection_error(&e), "{errno}");
        }
    }
}
