//! The Tokio side: the `http` example's server (hyper 1.x hello world,
//! one task per connection, a 10 s header-read timeout) written against
//! Tokio through hyper-util's `TokioIo`, `TokioExecutor` and `TokioTimer`.
//! The harness runs it as a child process: this binary with the hidden
//! `--serve-tokio ADDR WORKERS` arguments.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::Executor;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

/// The body the `http` example answers with.
const HELLO: &[u8] = b"hello, world";

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(HELLO))))
}

/// Serves on `addr` with `workers` worker threads until the process is
/// killed.
pub(crate) fn serve(addr: SocketAddr, workers: usize) -> io::Result<()> {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let executor = TokioExecutor::new();
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // As in the example: out of descriptors or a reset
                    // before accept; pause rather than spin.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            executor.execute(async move {
                let result = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await;
                if let Err(e) = result {
                    if !e.is_incomplete_message() && !e.is_timeout() {
                        eprintln!("connection error: {e}");
                    }
                }
            });
        }
    })
}
