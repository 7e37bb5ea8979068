//! Feature `tokio-io`: crates written against `tokio::io::{AsyncRead,
//! AsyncWrite}` on weft's streams, halves and files, with no Tokio runtime
//! anywhere (weft drives everything): tokio-util's `Framed` line codec,
//! `tokio::io::copy_bidirectional` through a proxy, hyper over
//! hyper-util's `TokioIo`, and a file written and read back.
//!
//! Run with `cargo test -p weft --features tokio-io --test tokio_io`.
//! Every test is bounded by `weft::time::timeout`.

#![cfg(feature = "tokio-io")]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::{both_flavors, Flavor, TempDir, XorShift};
use futures_util::future::join;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};
use weft::net::{TcpListener, TcpStream, UnixStream};

const LIMIT: Duration = Duration::from_secs(60);

/// A line protocol through `Framed<TcpStream, LinesCodec>` on both ends:
/// the server answers each line upper-cased, then "bye" at end of stream.
fn framed_lines(flavor: Flavor) {
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = weft::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut lines = Framed::new(stream, LinesCodec::new());
                let mut seen = 0;
                while let Some(line) = lines.next().await {
                    lines.send(line.unwrap().to_uppercase()).await.unwrap();
                    seen += 1;
                }
                lines.send("bye").await.unwrap();
                seen
            });

            let stream = TcpStream::connect(addr).await.unwrap();
            let mut lines = Framed::new(stream, LinesCodec::new());
            for i in 0..100 {
                lines.send(format!("line {i}")).await.unwrap();
                assert_eq!(lines.next().await.unwrap().unwrap(), format!("LINE {i}"));
            }
            // Shutting down the write side (tokio's `poll_shutdown`) is
            // what ends the server's stream of lines.
            SinkExt::<String>::close(&mut lines).await.unwrap();
            assert_eq!(lines.next().await.unwrap().unwrap(), "bye");
            assert!(lines.next().await.is_none(), "the server closed after bye");
            assert_eq!(server.await.unwrap(), 100);
        })
        .await
        .expect("the line protocol finished in time");
    });
}
both_flavors!(framed_lines);

/// A TCP client, a proxy running `copy_bidirectional` between the accepted
/// TCP stream and a Unix stream, and an echo server on the Unix stream's
/// other end (`tokio::io::copy` between its owned halves). The client
/// writes and reads at once through its borrowed halves.
fn copy_bidirectional_proxy(flavor: Flavor) {
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, async {
            let payload = XorShift::new(18).bytes(512 * 1024);
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (mut to_echo, echo_end) = UnixStream::pair().unwrap();

            let echo = weft::spawn(async move {
                let (mut read, mut write) = echo_end.into_split();
                let n = tokio::io::copy(&mut read, &mut write).await.unwrap();
                write.shutdown().await.unwrap();
                n
            });
            let proxy = weft::spawn(async move {
                let (mut client, _) = listener.accept().await.unwrap();
                tokio::io::copy_bidirectional(&mut client, &mut to_echo).await.unwrap()
            });

            let mut stream = TcpStream::connect(addr).await.unwrap();
            let (mut read, mut write) = TcpStream::split(&mut stream);
            let sending = async {
                write.write_all(&payload).await.unwrap();
                write.shutdown().await.unwrap();
            };
            let mut echoed = Vec::new();
            let receiving = read.read_to_end(&mut echoed);
            let ((), received) = join(sending, receiving).await;
            assert_eq!(received.unwrap(), payload.len());
            assert!(echoed == payload, "the echo came back intact");

            let len = payload.len() as u64;
            assert_eq!(proxy.await.unwrap(), (len, len), "bytes each way through the proxy");
            assert_eq!(echo.await.unwrap(), len);
        })
        .await
        .expect("the proxied echo finished in time");
    });
}
both_flavors!(copy_bidirectional_proxy);

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("hello, {}", req.uri().path().trim_start_matches('/'));
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// hyper's server and client, each on a weft `TcpStream` wrapped in
/// hyper-util's `TokioIo` (so through the tokio traits, not weft's own
/// `WeftIo`), serve one request.
fn hyper_over_tokio_io(flavor: Flavor) {
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = weft::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await
            });

            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
            let client_conn = weft::spawn(conn);
            let req = Request::get("/weft").body(http_body_util::Empty::<Bytes>::new()).unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), hyper::StatusCode::OK);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"hello, weft");

            // Dropping the sender ends the client connection, and with it
            // the server's.
            drop(sender);
            client_conn.await.unwrap().unwrap();
            server.await.unwrap().unwrap();
        })
        .await
        .expect("the request was served in time");
    });
}
both_flavors!(hyper_over_tokio_io);

/// `fs::File` through the tokio traits: written with `write_all` (several
/// writes, a flush and a shutdown), read back with `read_to_end`.
fn file_round_trip(flavor: Flavor) {
    let dir = TempDir::new("tokio-io-file");
    let path = dir.path("data");
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, async {
            let data = XorShift::new(7).bytes(300 * 1024);
            let mut file = weft::fs::File::create(&path).await.unwrap();
            for chunk in data.chunks(64 * 1024) {
                file.write_all(chunk).await.unwrap();
            }
            file.flush().await.unwrap();
            file.shutdown().await.unwrap();
            drop(file);

            let mut file = weft::fs::File::open(&path).await.unwrap();
            let mut back = Vec::new();
            assert_eq!(file.read_to_end(&mut back).await.unwrap(), data.len());
            assert!(back == data, "the file reads back what was written");
        })
        .await
        .expect("the file round trip finished in time");
    });
}
both_flavors!(file_round_trip);
