//! The axum workload: `axum_hello`, one axum `Router` (one route answering
//! `Hello, World!`) served by each runtime's server loop, loaded by hyper's
//! own HTTP/1.1 client in the same runtime.
//!
//! The router, the handler and the client ([`crate::http`]'s load task)
//! are the same code on both runtimes; the server loops differ, which is
//! what the row compares: `weft::hyper::serve` on weft, `axum::serve` on
//! Tokio (both hyper-util's `auto::Builder`, one task per connection,
//! `TCP_NODELAY`, graceful shutdown armed). One difference in defaults is
//! kept as each side ships it: `weft::hyper::serve` gives hyper a timer, so
//! hyper's 30 s header-read timeout is armed for each request, while
//! `axum::serve` gives none.

use std::future::IntoFuture;
use std::io;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use futures_channel::oneshot;

use crate::http::{load, HyperRt, HELLO};
use crate::net::{localhost, run_in_task};
use crate::{Tokio, Weft};

/// A runtime with an axum server loop.
pub trait AxumRt: HyperRt {
    /// Spawns the server loop for `router` on `listener` (from inside the
    /// runtime), stopping gracefully when `stop` fires or is dropped.
    fn spawn_server(
        listener: Self::TcpListener,
        router: Router,
        stop: oneshot::Receiver<()>,
    ) -> Self::JoinHandle<io::Result<()>>;
}

impl AxumRt for Weft {
    fn spawn_server(
        listener: weft::net::TcpListener,
        router: Router,
        stop: oneshot::Receiver<()>,
    ) -> Self::JoinHandle<io::Result<()>> {
        let server = weft::hyper::serve(listener, router).with_graceful_shutdown(async {
            let _ = stop.await;
        });
        weft::spawn(server.into_future())
    }
}

impl AxumRt for Tokio {
    fn spawn_server(
        listener: tokio::net::TcpListener,
        router: Router,
        stop: oneshot::Receiver<()>,
    ) -> Self::JoinHandle<io::Result<()>> {
        use axum::serve::ListenerExt;
        // axum 0.8 leaves `TCP_NODELAY` to the listener; weft's loop sets it.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stop.await;
        });
        tokio::spawn(server.into_future())
    }
}

/// The app: `GET /` answers `Hello, World!`.
fn router() -> Router {
    Router::new().route("/", get(|| async { HELLO }))
}

/// `axum_hello`: a task on a worker binds a listener and spawns the
/// runtime's server loop for the `router()`; it connects `conns` clients
/// (`TCP_NODELAY`), spawns one load task per client (hyper's client
/// handshake, then `reqs` keep-alive requests one after the other, each
/// response read and checked), and finally stops the server gracefully.
///
/// Returns the time from spawning the load tasks to the last one done
/// (TCP connection setup untimed; the server accepts while the clients
/// connect, before the clock starts).
pub fn axum_hello<R: AxumRt>(rt: &R, conns: usize, reqs: usize) -> Duration {
    let result = run_in_task(rt, async move {
        let listener = R::bind(localhost()).await?;
        let addr = R::local_addr(&listener)?;
        let (stop, stopped) = oneshot::channel();
        let server = R::spawn_server(listener, router(), stopped);

        let mut clients = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = R::connect(addr).await?;
            R::set_nodelay(&stream)?;
            clients.push(stream);
        }

        let start = Instant::now();
        let handles: Vec<_> =
            clients.into_iter().map(|stream| R::spawn_inner(load::<R>(stream, reqs))).collect();
        for handle in handles {
            handle.await.expect("load task panicked")?;
        }
        let elapsed = start.elapsed();

        let _ = stop.send(());
        server.await.expect("server task panicked")?;
        io::Result::Ok(elapsed)
    });
    result.expect("axum_hello failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axum_hello_completes_on_both_runtimes() {
        fn check<R: AxumRt>() {
            let rt = R::with_workers(2);
            assert!(axum_hello(&rt, 4, 20) > Duration::ZERO);
        }
        check::<Weft>();
        check::<Tokio>();
    }
}
