//! `weft::hyper::serve` (feature `hyper`): a tower service over HTTP/1.1
//! and HTTP/2, and its graceful shutdown; `weft::hyper::Connector` (feature
//! `hyper-client`) under hyper-util's pooled client.
//!
//! Run with `cargo test -p weft --features hyper-client --test hyper_serve`
//! (`--features hyper` leaves out the client test). Every test is bounded
//! by `weft::time::timeout`, so a lost wake-up fails instead of hanging.

#![cfg(feature = "hyper")]

mod common;

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::{both_flavors, Flavor};
use futures_channel::{mpsc, oneshot};
use futures_util::future::{FutureExt, Shared};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use weft::hyper::{WeftExecutor, WeftIo, WeftTimer};
use weft::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(60);

fn run<F: Future<Output = ()>>(flavor: Flavor, test: F) {
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, test).await.expect("test timed out");
    });
}

/// A cloneable tower service, as `axum::Router` is:
/// - `/version`: the request's HTTP version, as `Debug` prints it;
/// - `/slow`: reports on `started`, then answers once `release` fires;
/// - `/peer`: the client address it was made for (`serve_with`), or `none`;
/// - anything else: the path back.
#[derive(Clone)]
struct App {
    started: mpsc::UnboundedSender<()>,
    release: Shared<oneshot::Receiver<()>>,
    peer: Option<SocketAddr>,
}

impl tower_service::Service<Request<Incoming>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let app = self.clone();
        Box::pin(async move {
            let body = match req.uri().path() {
                "/version" => format!("{:?}", req.version()),
                "/peer" => app.peer.map_or("none".to_string(), |peer| peer.to_string()),
                "/slow" => {
                    let _ = app.started.unbounded_send(());
                    let _ = app.release.await;
                    "slow done".to_string()
                }
                path => path.to_string(),
            };
            Ok(Response::new(Full::new(Bytes::from(body))))
        })
    }
}

struct Server {
    addr: SocketAddr,
    started: mpsc::UnboundedReceiver<()>,
    release: oneshot::Sender<()>,
    stop: oneshot::Sender<()>,
    done: Arc<AtomicBool>,
    task: weft::task::JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (started_tx, started) = mpsc::unbounded();
    let (release, release_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let app = App { started: started_tx, release: release_rx.shared(), peer: None };
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let serving = weft::hyper::serve(listener, app).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    let task = weft::spawn(async move {
        let result = serving.await;
        flag.store(true, Ordering::SeqCst);
        result
    });
    Server { addr, started, release, stop, done, task }
}

async fn http1(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(WeftIo::new(stream)).await.unwrap();
    weft::spawn(async move {
        let _ = conn.await;
    });
    sender
}

async fn body_of(res: Response<Incoming>) -> String {
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header("host", "localhost").body(Empty::<Bytes>::new()).unwrap()
}

both_flavors!(serves_http1_keep_alive);

/// Several requests over one HTTP/1.1 connection, and over a second one.
fn serves_http1_keep_alive(flavor: Flavor) {
    run(flavor, async {
        let server = start().await;
        for _ in 0..2 {
            let mut sender = http1(server.addr).await;
            for i in 0..5 {
                // HTTP/1.1 takes one request at a time: wait until the
                // connection has finished the previous exchange.
                sender.ready().await.unwrap();
                let res = sender.send_request(get(&format!("/item/{i}"))).await.unwrap();
                assert_eq!(body_of(res).await, format!("/item/{i}"));
            }
            sender.ready().await.unwrap();
            let res = sender.send_request(get("/version")).await.unwrap();
            assert_eq!(body_of(res).await, "HTTP/1.1");
        }
        server.stop.send(()).unwrap();
        server.task.await.unwrap().unwrap();
    });
}

both_flavors!(serve_with_makes_a_service_per_connection);

/// `serve_with` calls its closure with each connection's peer address.
fn serve_with_makes_a_service_per_connection(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (started, _) = mpsc::unbounded();
        let (_release, release) = oneshot::channel();
        let app = App { started, release: release.shared(), peer: None };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = weft::spawn(
            weft::hyper::serve_with(listener, move |peer| App { peer: Some(peer), ..app.clone() })
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        for _ in 0..2 {
            let stream = TcpStream::connect(addr).await.unwrap();
            let local = stream.local_addr().unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(WeftIo::new(stream)).await.unwrap();
            weft::spawn(conn);
            let res = sender.send_request(get("/peer")).await.unwrap();
            assert_eq!(body_of(res).await, local.to_string());
        }
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
}

both_flavors!(serves_http2_prior_knowledge);

/// An HTTP/2 client (prior knowledge, no upgrade) gets HTTP/2, with
/// concurrent streams on one connection.
fn serves_http2_prior_knowledge(flavor: Flavor) {
    run(flavor, async {
        let server = start().await;
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http2::Builder::new(WeftExecutor::new())
            .timer(WeftTimer::new())
            .handshake(WeftIo::new(stream))
            .await
            .unwrap();
        weft::spawn(async move {
            let _ = conn.await;
        });
        let url = |path: &str| format!("http://{}{path}", server.addr);
        let requests: Vec<_> = (0..8)
            .map(|i| {
                let mut sender = sender.clone();
                let req =
                    Request::get(url(&format!("/stream/{i}"))).body(Empty::<Bytes>::new()).unwrap();
                weft::spawn(async move { body_of(sender.send_request(req).await.unwrap()).await })
            })
            .collect();
        for (i, request) in requests.into_iter().enumerate() {
            assert_eq!(request.await.unwrap(), format!("/stream/{i}"));
        }
        let mut sender = sender;
        let req = Request::get(url("/version")).body(Empty::<Bytes>::new()).unwrap();
        assert_eq!(body_of(sender.send_request(req).await.unwrap()).await, "HTTP/2.0");
        server.stop.send(()).unwrap();
        server.task.await.unwrap().unwrap();
    });
}

both_flavors!(graceful_shutdown_waits_for_in_flight_request);

/// After the signal: new connections are refused, the in-flight request
/// still completes, and only then does `serve` return.
fn graceful_shutdown_waits_for_in_flight_request(flavor: Flavor) {
    run(flavor, async {
        let mut server = start().await;
        let mut sender = http1(server.addr).await;
        let slow =
            weft::spawn(
                async move { body_of(sender.send_request(get("/slow")).await.unwrap()).await },
            );
        server.started.next().await.expect("the slow handler starts");

        server.stop.send(()).unwrap();
        // The server loop sees the signal on its next turn and closes the
        // listener; until then a connect may still land in the backlog (and
        // be reset when the listener closes).
        loop {
            match TcpStream::connect(server.addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) => panic!("connect after the signal: {e}"),
                Ok(_) => {}
            }
            weft::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!server.done.load(Ordering::SeqCst), "serve returned with a request in flight");

        server.release.send(()).unwrap();
        assert_eq!(slow.await.unwrap(), "slow done");
        server.task.await.unwrap().unwrap();
        assert!(server.done.load(Ordering::SeqCst));
    });
}

both_flavors!(graceful_shutdown_with_idle_connections_returns);

/// Idle keep-alive connections (HTTP/1.1 and HTTP/2) do not hold the
/// shutdown up: they are closed.
fn graceful_shutdown_with_idle_connections_returns(flavor: Flavor) {
    run(flavor, async {
        let server = start().await;
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(WeftIo::new(stream)).await.unwrap();
        let h1_conn = weft::spawn(conn);
        let res = sender.send_request(get("/a")).await.unwrap();
        assert_eq!(body_of(res).await, "/a");
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let (mut h2, conn) = hyper::client::conn::http2::Builder::new(WeftExecutor::new())
            .timer(WeftTimer::new())
            .handshake(WeftIo::new(stream))
            .await
            .unwrap();
        let h2_conn = weft::spawn(conn);
        let req =
            Request::get(format!("http://{}/b", server.addr)).body(Empty::<Bytes>::new()).unwrap();
        assert_eq!(body_of(h2.send_request(req).await.unwrap()).await, "/b");

        server.stop.send(()).unwrap();
        server.task.await.unwrap().unwrap();
        // Both clients see their connection end.
        h1_conn.await.unwrap().unwrap();
        h2_conn.await.unwrap().unwrap();
    });
}

#[cfg(feature = "hyper-client")]
mod client {
    use std::sync::atomic::AtomicUsize;

    use hyper_util::client::legacy::Client;
    use weft::hyper::Connector;

    use super::*;

    both_flavors!(pooled_client_reuses_one_connection);

    /// Requests through hyper-util's pooled client, eight at once and then
    /// one by one, all go over one HTTP/2 connection: the server accepts
    /// once. (An HTTP/1.1 connection returns to the pool only after its
    /// connection task has seen the end of the response, so a request
    /// right after another may open a second connection: not a property to
    /// assert.)
    fn pooled_client_reuses_one_connection(flavor: Flavor) {
        run(flavor, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accepts = Arc::new(AtomicUsize::new(0));
            let counter = accepts.clone();
            weft::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    weft::spawn(async move {
                        let echo_path = hyper::service::service_fn(|req: Request<Incoming>| {
                            let path = req.uri().path().to_string();
                            async move {
                                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(path))))
                            }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(WeftExecutor::new())
                            .serve_connection(WeftIo::new(stream), echo_path)
                            .await;
                    });
                }
            });

            let client: Client<Connector, Empty<Bytes>> = Client::builder(WeftExecutor::new())
                .timer(WeftTimer::new())
                .pool_timer(WeftTimer::new())
                .http2_only(true)
                .build(Connector::new());
            // "localhost" goes through `lookup_host`.
            let url = move |i: usize| format!("http://localhost:{}/req/{i}", addr.port());
            let concurrent: Vec<_> = (0..8)
                .map(|i| {
                    let client = client.clone();
                    let url = url(i).parse().unwrap();
                    weft::spawn(async move { body_of(client.get(url).await.unwrap()).await })
                })
                .collect();
            for (i, request) in concurrent.into_iter().enumerate() {
                assert_eq!(request.await.unwrap(), format!("/req/{i}"));
            }
            for i in 8..12 {
                let res = client.get(url(i).parse().unwrap()).await.unwrap();
                assert_eq!(body_of(res).await, format!("/req/{i}"));
            }
            assert_eq!(accepts.load(Ordering::SeqCst), 1);

            let err = client.get("https://localhost/".parse().unwrap()).await.unwrap_err();
            assert!(err.is_connect(), "{err:?}");
        });
    }
}

// A socket that is not listening cannot become a server by waiting: the
// accept error (EINVAL) is returned instead of retried forever.
both_flavors!(an_unusable_listener_is_an_error);
fn an_unusable_listener_is_an_error(flavor: Flavor) {
    use std::os::fd::FromRawFd;
    run(flavor, async {
        // SAFETY: plain socket(2) with constant arguments; its result is
        // checked before use.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a socket this test just opened and owns; the
        // listener takes it over (and closes it).
        let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        let listener = TcpListener::from_std(std_listener).unwrap();
        let app = App {
            started: mpsc::unbounded().0,
            release: oneshot::channel().1.shared(),
            peer: None,
        };
        let err = weft::hyper::serve(listener, app).into_future().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    });
}

// The HTTP/1.1 header-read timeout: a client that sends part of a request
// head and stops is disconnected after it; with `None` (as axum::serve) it
// is not.
both_flavors!(header_read_timeout_closes_a_slow_client_unless_off);
fn header_read_timeout_closes_a_slow_client_unless_off(flavor: Flavor) {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    run(flavor, async {
        for timeout in [Some(Duration::from_millis(200)), None] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = App {
                started: mpsc::unbounded().0,
                release: oneshot::channel().1.shared(),
                peer: None,
            };
            let server = weft::spawn(
                weft::hyper::serve(listener, app).header_read_timeout(timeout).into_future(),
            );
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            let mut buf = [0u8; 64];
            // Long enough for valgrind when the server should close; when it
            // should not, one second shows it did not.
            let wait = Duration::from_secs(if timeout.is_some() { 20 } else { 1 });
            let read = weft::time::timeout(wait, client.read(&mut buf)).await;
            match timeout {
                // Closed (EOF, or a reset) within the bound.
                Some(_) => assert!(
                    matches!(read, Ok(Ok(0)) | Ok(Err(_))),
                    "a slow client was not disconnected: {read:?}"
                ),
                None => assert!(read.is_err(), "with no timeout the connection stays: {read:?}"),
            }
            server.abort();
        }
    });
}
