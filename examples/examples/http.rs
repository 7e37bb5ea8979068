//! HTTP/1.1 hello world: hyper 1.x running on weft.
//!
//! It shows the three pieces of `weft::hyper` (crate feature `hyper`) that
//! hyper needs from a runtime: `WeftIo` wraps a weft `TcpStream` as hyper's
//! `Read`/`Write`, `WeftTimer` gives hyper its timers (here the header read
//! timeout), and `WeftExecutor` spawns tasks (here each server connection).
//! The server answers every request with `hello, world`; the client is
//! hyper's own HTTP/1.1 client (`client::conn::http1`), its connection
//! future spawned as a weft task.
//!
//! By default the program starts the server on a free port of 127.0.0.1,
//! runs a bounded load against it (16 keep-alive connections at once, each
//! sending 500 requests one after the other and checking every status and
//! body), prints the requests per second and stops. Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example http
//! cargo run --release -p weft-examples --example http -- --connections 64 --requests 2000
//! ```
//!
//! or serve until the process is killed (Ctrl-C) and use another client:
//!
//! ```text
//! cargo run --release -p weft-examples --example http -- --serve 127.0.0.1:8080
//! curl http://127.0.0.1:8080/      # in another terminal
//! ```

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::process::exit;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::rt::Executor;
use hyper::{Request, Response, StatusCode};
use weft::hyper::{WeftExecutor, WeftIo, WeftTimer};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::Runtime;

const HELLO: &[u8] = b"hello, world";

/// The load run never takes longer than this; past it the program fails.
const LOAD_LIMIT: Duration = Duration::from_secs(120);

struct Options {
    serve: Option<SocketAddr>,
    connections: usize,
    requests: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: http [--connections N] [--requests N]   run the built-in load and exit\n       \
         http --serve ADDR                          serve until killed"
    );
    exit(2)
}

fn parse_args() -> Options {
    let mut options = Options { serve: None, connections: 16, requests: 500 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--serve" => options.serve = Some(value.parse().unwrap_or_else(|_| usage())),
            "--connections" => options.connections = value.parse().unwrap_or_else(|_| usage()),
            "--requests" => options.requests = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if options.connections == 0 || options.requests == 0 {
        usage();
    }
    options
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(HELLO))))
}

/// Accepts connections forever, serving each one in its own task.
async fn serve(listener: TcpListener) {
    let executor = WeftExecutor::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or a connection reset before accept:
                // pause briefly rather than spin (see the `echo` example).
                eprintln!("accept failed: {e}");
                weft::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        executor.execute(async move {
            let result = hyper::server::conn::http1::Builder::new()
                .timer(WeftTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(WeftIo::new(stream), hyper::service::service_fn(hello))
                .await;
            if let Err(e) = result {
                if !e.is_incomplete_message() && !e.is_timeout() {
                    eprintln!("connection error: {e}");
                }
            }
        });
    }
}

/// One client connection: `requests` GETs in a row, each checked.
async fn client(
    addr: SocketAddr,
    requests: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(WeftIo::new(stream)).await?;
    weft::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("client connection error: {e}");
        }
    });
    for _ in 0..requests {
        sender.ready().await?;
        let req = Request::get("/").header("host", "localhost").body(Empty::<Bytes>::new())?;
        let res = sender.send_request(req).await?;
        if res.status() != StatusCode::OK {
            return Err(format!("status {}", res.status()).into());
        }
        let body = res.into_body().collect().await?.to_bytes();
        if &body[..] != HELLO {
            return Err(format!("unexpected body {body:?}").into());
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let options = parse_args();
    let rt = Runtime::new()?;

    if let Some(addr) = options.serve {
        return rt.block_on(async move {
            let listener = TcpListener::bind(addr).await?;
            println!("serving hello world on http://{}/ (Ctrl-C stops)", listener.local_addr()?);
            serve(listener).await;
            Ok(())
        });
    }

    let workers = rt.metrics().num_workers();
    let (elapsed, total) = rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        weft::spawn(serve(listener));
        println!(
            "server on http://{addr}/; {} connections x {} requests, {workers} workers",
            options.connections, options.requests
        );

        let start = Instant::now();
        let load = async {
            let clients: Vec<_> = (0..options.connections)
                .map(|_| weft::spawn(client(addr, options.requests)))
                .collect();
            for task in clients {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(io::Error::other(format!("client failed: {e}"))),
                    Err(e) => return Err(io::Error::other(format!("client task failed: {e}"))),
                }
            }
            Ok(())
        };
        match weft::time::timeout(LOAD_LIMIT, load).await {
            Ok(result) => result?,
            Err(_) => return Err(io::Error::other("load did not finish within 120 s")),
        }
        Ok::<_, io::Error>((start.elapsed(), options.connections * options.requests))
    })?;

    println!(
        "{total} requests in {:.3} s: {:.0} requests/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
