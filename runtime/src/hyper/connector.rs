//! [`Connector`]: plain-TCP connections for hyper-util's pooled client
//! (cargo feature `hyper-client`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use tower_service::Service;

use super::WeftIo;
use crate::net::TcpStream;

/// A tower [`Service`] of [`Uri`] that opens a plain TCP connection to the
/// URI's host and port on weft (the host is resolved with
/// [`crate::net::lookup_host`], on the blocking pool), for
/// hyper-util's `client::legacy::Client`: the counterpart of hyper-util's
/// `HttpConnector`.
///
/// - Only `http` URIs (or no scheme): there is no TLS here; an `https` URI
///   fails with [`io::ErrorKind::Unsupported`]. The port defaults to 80.
/// - The resolved addresses are tried in order; the first that connects
///   wins, else the last error is returned.
/// - Connections have `TCP_NODELAY` set (as `HttpConnector::set_nodelay`).
///
/// ```
/// use std::convert::Infallible;
///
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use weft::hyper::{Connector, WeftExecutor, WeftIo, WeftTimer};
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     // A one-connection HTTP/1.1 server.
///     let listener = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let url = format!("http://{}/", listener.local_addr().unwrap());
///     weft::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         let hello = hyper::service::service_fn(|_req| async {
///             Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
///         });
///         let _ = hyper::server::conn::http1::Builder::new()
///             .serve_connection(WeftIo::new(stream), hello)
///             .await;
///     });
///
///     let client: Client<Connector, Empty<Bytes>> = Client::builder(WeftExecutor::new())
///         .timer(WeftTimer::new())
///         .pool_timer(WeftTimer::new())
///         .build(Connector::new());
///     let res = client.get(url.parse().unwrap()).await.unwrap();
///     assert_eq!(res.status(), 200);
///     assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hi");
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Connector {
    _private: (),
}

impl Connector {
    /// A connector on the current weft runtime.
    pub fn new() -> Connector {
        Connector { _private: () }
    }
}

/// The future of [`Connector::call`].
pub type Connecting = Pin<Box<dyn Future<Output = io::Result<WeftIo<TcpStream>>> + Send>>;

impl Service<Uri> for Connector {
    type Response = WeftIo<TcpStream>;
    type Error = io::Error;
    type Future = Connecting;

    /// Always ready: connections are independent of one another.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        Box::pin(connect(uri))
    }
}

async fn connect(uri: Uri) -> io::Result<WeftIo<TcpStream>> {
    match uri.scheme_str() {
        None | Some("http") => {}
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("weft::hyper::Connector speaks plain TCP only, not {other:?}"),
            ))
        }
    }
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URI without a host"))?;
    // An IPv6 literal comes bracketed in a URI ("[::1]"), not in a lookup.
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = uri.port_u16().unwrap_or(80);

    let mut last_error = None;
    for addr in crate::net::lookup_host((host.to_owned(), port)).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Requests go out as soon as they are written; a failure
                // only costs latency.
                let _ = stream.set_nodelay(true);
                return Ok(WeftIo::new(stream));
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("no address found for {host:?}"))
    }))
}

/// What hyper-util's pool needs to know about a connection: nothing
/// beyond the defaults (not proxied, no ALPN; HTTP/2 is chosen by the
/// client builder's `http2_only`).
impl Connection for WeftIo<TcpStream> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
