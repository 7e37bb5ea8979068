//! hyper 1.x on weft (feature `hyper`): an HTTP/1.1 server and hyper's
//! client, both on weft sockets through `WeftIo`, with `WeftTimer` and
//! `WeftExecutor`.
//!
//! Run with `cargo test -p weft --features hyper --test hyper`. Every test
//! is bounded by `weft::time::timeout`, so a lost wake-up fails instead of
//! hanging.

#![cfg(feature = "hyper")]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::{both_flavors, Flavor};
use futures_channel::oneshot;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::rt::{Executor, Timer};
use hyper::{Method, Request, Response, StatusCode};
use weft::hyper::{WeftExecutor, WeftIo, WeftTimer};
use weft::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(60);
const HELLO: &[u8] = b"hello, world";
const BIG: usize = 1 << 20;

fn big_body() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// `/` says hello, `/echo` returns the request body, `/big` sends 1 MiB,
/// anything else is a 404.
async fn service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from_static(HELLO))),
        (&Method::POST, "/echo") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Response::new(Full::new(body))
        }
        (&Method::GET, "/big") => Response::new(Full::new(Bytes::from(big_body()))),
        _ => {
            let mut res = Response::new(Full::new(Bytes::from_static(b"not found")));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        }
    };
    Ok(res)
}

/// Starts the server on 127.0.0.1:0; returns its address and a counter of
/// accepted connections.
async fn start_server(header_read_timeout: Option<Duration>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let executor = WeftExecutor::new();
    weft::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            stream.set_nodelay(true).unwrap();
            // Run each connection through the executor, as hyper-util does.
            executor.execute(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(WeftTimer::new()).header_read_timeout(header_read_timeout);
                let _ = builder
                    .serve_connection(WeftIo::new(stream), hyper::service::service_fn(service))
                    .await;
            });
        }
    });
    (addr, accepted)
}

type Sender<B> = hyper::client::conn::http1::SendRequest<B>;

async fn connect<B>(addr: SocketAddr) -> Sender<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(WeftIo::new(stream)).await.unwrap();
    weft::spawn(async move {
        let _ = conn.await;
    });
    sender
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header("host", "localhost").body(Empty::new()).unwrap()
}

fn run<F: std::future::Future<Output = ()>>(flavor: Flavor, test: F) {
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, test).await.expect("test timed out");
    });
}

both_flavors!(many_requests_over_keep_alive_connections);
/// 300 GETs over 6 keep-alive connections, all 6 in flight at once, each
/// status and body checked; the server sees exactly 6 connections.
fn many_requests_over_keep_alive_connections(flavor: Flavor) {
    const CONNECTIONS: usize = 6;
    const PER_CONNECTION: usize = 50;
    run(flavor, async {
        let (addr, accepted) = start_server(None).await;
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                weft::spawn(async move {
                    let mut sender = connect::<Empty<Bytes>>(addr).await;
                    for i in 0..PER_CONNECTION {
                        sender.ready().await.unwrap();
                        // Every tenth request misses, to check statuses too.
                        let path = if (c + i) % 10 == 9 { "/missing" } else { "/" };
                        let res = sender.send_request(get(path)).await.unwrap();
                        let status = res.status();
                        let body = res.into_body().collect().await.unwrap().to_bytes();
                        if path == "/" {
                            assert_eq!(status, StatusCode::OK);
                            assert_eq!(&body[..], HELLO);
                        } else {
                            assert_eq!(status, StatusCode::NOT_FOUND);
                            assert_eq!(&body[..], b"not found");
                        }
                    }
                    PER_CONNECTION
                })
            })
            .collect();
        let mut done = 0;
        for client in clients {
            done += client.await.unwrap();
        }
        assert_eq!(done, CONNECTIONS * PER_CONNECTION);
        assert_eq!(accepted.load(Ordering::SeqCst), CONNECTIONS);
    });
}

both_flavors!(bodies_round_trip);
/// Request bodies of many sizes come back intact, and a 1 MiB response
/// (vectored writes, reads larger than hyper's first buffer) arrives whole.
fn bodies_round_trip(flavor: Flavor) {
    run(flavor, async {
        let (addr, _) = start_server(None).await;
        let mut sender = connect::<Full<Bytes>>(addr).await;
        for size in [0usize, 1, 100, 8 * 1024, 64 * 1024 + 7, 300 * 1024] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
            let req = Request::post("/echo")
                .header("host", "localhost")
                .body(Full::new(Bytes::from(payload.clone())))
                .unwrap();
            sender.ready().await.unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), size);
            assert!(body[..] == payload[..], "echoed body of {size} bytes differs");
        }
        let mut sender = connect::<Empty<Bytes>>(addr).await;
        for _ in 0..3 {
            sender.ready().await.unwrap();
            let res = sender.send_request(get("/big")).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert!(body[..] == big_body()[..], "1 MiB body differs");
        }
    });
}

both_flavors!(header_read_timeout_closes_idle_connection);
/// `WeftTimer` drives hyper's header read timeout: a client that connects
/// and sends nothing is disconnected, long before the test's limit.
fn header_read_timeout_closes_idle_connection(flavor: Flavor) {
    run(flavor, async {
        let (addr, _) = start_server(Some(Duration::from_millis(200))).await;
        let start = std::time::Instant::now();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::new();
        // hyper may answer 408 before it closes; either way we read EOF.
        let _ = stream.read_to_end(&mut buf).await;
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(190), "closed too early: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "closed too late: {elapsed:?}");

        // A connection that does send a request within the timeout is served.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("hello, world"), "{text}");
    });
}

both_flavors!(timer_sleep_and_reset);
/// `WeftTimer::reset` moves a sleep in place, both earlier and later, and
/// re-arms one that has completed.
fn timer_sleep_and_reset(flavor: Flavor) {
    run(flavor, async {
        let timer = WeftTimer::new();
        let start = std::time::Instant::now();
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        timer.reset(&mut sleep, std::time::Instant::now() + Duration::from_millis(20));
        sleep.as_mut().await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(30));

        let again = std::time::Instant::now();
        timer.reset(&mut sleep, again + Duration::from_millis(10));
        sleep.as_mut().await;
        assert!(again.elapsed() >= Duration::from_millis(10));

        let mut until = timer.sleep_until(std::time::Instant::now() + Duration::from_millis(5));
        (&mut until).await;
    });
}

// `WeftExecutor::with_handle` spawns onto its runtime from a thread
// outside it (the result is awaited in `block_on`, where a current-thread
// runtime runs the task).
both_flavors!(executor_with_handle_spawns_from_outside);
fn executor_with_handle_spawns_from_outside(flavor: Flavor) {
    let rt = flavor.build();
    let executor = WeftExecutor::with_handle(rt.handle().clone());
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || executor.execute(async move { tx.send(42).unwrap() }))
        .join()
        .unwrap();
    let got = rt.block_on(async { weft::time::timeout(LIMIT, rx).await });
    assert_eq!(got.expect("the spawned task never ran").unwrap(), 42);
}

/// A `futures_io` stream that is not one of weft's own types, so `WeftIo`
/// takes its generic read path (a zero-filled buffer) for it.
struct Forward<S>(S);

impl<S: futures_io::AsyncRead + Unpin> futures_io::AsyncRead for Forward<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: futures_io::AsyncWrite + Unpin> futures_io::AsyncWrite for Forward<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Serves `service` on `server` and sends `/` and `/big` from `client`
/// (keep-alive, three rounds), checking both bodies.
async fn serve_and_check<S>(server: S, client: S)
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    weft::spawn(async move {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(
                WeftIo::with_write_vectored(server, false),
                hyper::service::service_fn(service),
            )
            .await;
    });
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(WeftIo::new(client))
            .await
            .unwrap();
    weft::spawn(async move {
        let _ = conn.await;
    });
    for _ in 0..3 {
        sender.ready().await.unwrap();
        let res = sender.send_request(get("/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(&res.into_body().collect().await.unwrap().to_bytes()[..], HELLO);
        sender.ready().await.unwrap();
        let res = sender.send_request(get("/big")).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body[..] == big_body()[..], "1 MiB body differs");
    }
}

both_flavors!(unix_stream_and_foreign_stream_serve_http);
/// `WeftIo` reads weft's `UnixStream` straight into hyper's buffer, and a
/// stream type of its own (generic path, zero-filled buffer) still works.
fn unix_stream_and_foreign_stream_serve_http(flavor: Flavor) {
    run(flavor, async {
        let (server, client) = weft::net::UnixStream::pair().unwrap();
        serve_and_check(server, client).await;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        serve_and_check(Forward(server), Forward(client)).await;
    });
}

both_flavors!(shutdown_after_peer_reset_succeeds);
/// A client that resets its connection (zero linger, then close) leaves the
/// server's socket unconnected; closing it then is not an error, through
/// the stream's own `close` or `WeftIo::poll_shutdown` (what hyper calls
/// when a connection ends).
fn shutdown_after_peer_reset_succeeds(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for via_hyper in [false, true] {
            let socket = weft::net::TcpSocket::new_v4().unwrap();
            socket.set_linger(Some(Duration::ZERO)).unwrap();
            let client = socket.connect(addr).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            drop(client);
            // The reset has arrived once a read fails (or returns
            // end-of-file; the client sent nothing).
            let mut buf = [0u8; 16];
            if let Ok(n) = server.read(&mut buf).await {
                assert_eq!(n, 0, "the client sent nothing");
            }
            if via_hyper {
                let mut io = WeftIo::new(server);
                std::future::poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut io), cx))
                    .await
                    .expect("shutdown after the peer's reset");
            } else {
                server.close().await.expect("close after the peer's reset");
            }
        }
    });
}
