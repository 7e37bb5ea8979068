//! The HTTP workload: `http_hello`, hyper 1.x serving a hello-world
//! response over keep-alive HTTP/1.1 connections, loaded by hyper's own
//! client (`hyper::client::conn::http1`) in the same runtime.
//!
//! Server and client are the same code on both runtimes; only the sockets
//! (through [`Rt`]) and the adapter from a runtime's `TcpStream` to
//! `hyper::rt::{Read, Write}` ([`HyperRt::hyper_io`]: weft's `WeftIo`,
//! hyper-util's `TokioIo`) differ. Neither side gives hyper a timer, so
//! hyper's default 30 s header-read timeout is off on both and no timer is
//! armed per request.

use std::convert::Infallible;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::net::{connected, run_in_task};
use crate::{Rt, Tokio, Weft};

/// Connections in [`http_hello`].
pub const HTTP_CONNS: usize = 64;
/// Requests each [`http_hello`] connection sends, one after the other.
pub const HTTP_REQS: usize = 500;
/// The response body.
pub const HELLO: &[u8] = b"Hello, World!";

/// A runtime that hyper can run on: [`Rt`] plus the adapter from its TCP
/// stream to hyper's IO traits.
pub trait HyperRt: Rt {
    /// The runtime's `TcpStream` wrapped for hyper.
    type HyperIo: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static;

    /// Wraps `stream` for hyper.
    fn hyper_io(stream: Self::TcpStream) -> Self::HyperIo;
}

impl HyperRt for Tokio {
    type HyperIo = hyper_util::rt::TokioIo<tokio::net::TcpStream>;

    fn hyper_io(stream: Self::TcpStream) -> Self::HyperIo {
        hyper_util::rt::TokioIo::new(stream)
    }
}

impl HyperRt for Weft {
    type HyperIo = weft::hyper::WeftIo<weft::net::TcpStream>;

    fn hyper_io(stream: Self::TcpStream) -> Self::HyperIo {
        weft::hyper::WeftIo::new(stream)
    }
}

/// The service: `Hello, World!` for every request.
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(HELLO))))
}

/// Serves HTTP/1.1 on `stream` until the client closes it.
async fn serve<R: HyperRt>(stream: R::TcpStream) -> hyper::Result<()> {
    hyper::server::conn::http1::Builder::new()
        .serve_connection(R::hyper_io(stream), hyper::service::service_fn(hello))
        .await
}

/// Sends `reqs` GET requests over one keep-alive connection, each response
/// read in full (and checked) before the next request; then closes.
pub(crate) async fn load<R: HyperRt>(stream: R::TcpStream, reqs: usize) -> io::Result<()> {
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(R::hyper_io(stream))
            .await
            .map_err(io::Error::other)?;
    let conn = R::spawn_inner(conn);
    for _ in 0..reqs {
        sender.ready().await.map_err(io::Error::other)?;
        let req = Request::builder()
            .uri("/")
            .header(hyper::header::HOST, "127.0.0.1")
            .body(Empty::new())
            .map_err(io::Error::other)?;
        let resp = sender.send_request(req).await.map_err(io::Error::other)?;
        if resp.status() != hyper::StatusCode::OK {
            return Err(io::Error::other(format!("status {}", resp.status())));
        }
        let body = resp.into_body().collect().await.map_err(io::Error::other)?.to_bytes();
        if body != HELLO {
            return Err(io::Error::other("unexpected response body"));
        }
    }
    // Dropping the sender ends the connection task, which closes the socket.
    drop(sender);
    conn.await.expect("client connection task panicked").map_err(io::Error::other)
}

/// `http_hello`: a task on a worker binds a listener; an accept task
/// accepts `conns` connections, spawning a hyper HTTP/1.1 server task for
/// each; the driver task connects `conns` clients (`TCP_NODELAY` on both
/// ends) and spawns one load task per client, which does hyper's client
/// handshake (spawning its connection task) and sends `reqs` requests one
/// after the other, reading each response before the next.
///
/// Returns the time from spawning the load tasks to the last one done:
/// handshakes and requests, with TCP connection setup untimed.
pub fn http_hello<R: HyperRt>(rt: &R, conns: usize, reqs: usize) -> Duration {
    let result = run_in_task(rt, async move {
        let (clients, servers) = connected::<R, _, _>(conns, serve::<R>).await?;

        let start = Instant::now();
        let handles: Vec<_> =
            clients.into_iter().map(|stream| R::spawn_inner(load::<R>(stream, reqs))).collect();
        for handle in handles {
            handle.await.expect("load task panicked")?;
        }
        let elapsed = start.elapsed();

        for handle in servers {
            handle.await.expect("server task panicked").map_err(io::Error::other)?;
        }
        io::Result::Ok(elapsed)
    });
    result.expect("http_hello failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_hello_completes_on_both_runtimes() {
        fn check<R: HyperRt>() {
            let rt = R::with_workers(2);
            assert!(http_hello(&rt, 4, 20) > Duration::ZERO);
        }
        check::<Weft>();
        check::<Tokio>();
    }
}
