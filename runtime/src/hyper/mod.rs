//! Running [hyper] 1.x on weft (cargo feature `hyper`).
//!
//! hyper 1.x is runtime-agnostic: it asks its user for three things, and
//! this module gives weft's:
//!
//! | hyper wants | weft gives | what it does |
//! |---|---|---|
//! | [`hyper::rt::Executor`] | [`WeftExecutor`] | spawns hyper's background futures (HTTP/2 streams and connections, hyper-util's pooled client) as weft tasks |
//! | [`hyper::rt::Timer`] | [`WeftTimer`] | timeouts (`header_read_timeout`, HTTP/2 keep-alive pings) on weft's timer wheels; its sleeps are [`WeftSleep`] |
//! | [`hyper::rt::Read`] + [`hyper::rt::Write`] | [`WeftIo<T>`] | wraps any `futures_io::AsyncRead + AsyncWrite + Unpin + 'static`, such as [`crate::net::TcpStream`] or [`crate::net::UnixStream`] (whose reads go straight into hyper's buffer, never zeroed) |
//!
//! and, on top of them:
//!
//! | what | weft gives | the Tokio-side counterpart |
//! |---|---|---|
//! | a server loop for a tower service (an axum `Router`), HTTP/1.1 + HTTP/2, graceful shutdown | [`serve()`] | `axum::serve` |
//! | the same with a service made per connection from the peer's address | [`serve_with`] | `into_make_service_with_connect_info` |
//! | hyper's I/O traits back to `futures_io` (an upgraded connection for async-tungstenite) | [`FuturesIo<T>`] | `TokioIo` the other way |
//! | plain-TCP connections for hyper-util's pooled `client::legacy::Client` (feature `hyper-client`) | `Connector` | `HttpConnector` |
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

#[cfg(feature = "hyper-client")]
mod connector;
mod executor;
mod futures_io;
mod io;
mod serve;
mod timer;

#[cfg(feature = "hyper-client")]
pub use connector::{Connecting, Connector};
pub use executor::WeftExecutor;
pub use futures_io::FuturesIo;
pub use io::WeftIo;
pub use serve::{serve, serve_with, MakeService, PerConnection, Serve};
pub use timer::{WeftSleep, WeftTimer};
