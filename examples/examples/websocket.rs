//! WebSockets on weft with async-tungstenite: an echo + broadcast chat
//! room, reachable two ways.
//!
//! - Plain TCP: async-tungstenite speaks `futures_io`, which weft's
//!   `TcpStream` implements, so `accept_async(stream)` is all it takes.
//! - Upgraded from HTTP: a tower service under `weft::hyper::serve`
//!   answers `GET /ws` with `101 Switching Protocols`; `hyper::upgrade::on`
//!   then yields the connection, which speaks hyper's I/O traits, and
//!   `weft::hyper::FuturesIo` turns it back into a `futures_io` stream for
//!   async-tungstenite. (An axum app would do the same in a handler.)
//!
//! Both kinds of client join one room: each text message comes back to its
//! sender as `echo: ...` and goes to everyone else as `#ID: ...`.
//!
//! The program starts both servers on free ports of 127.0.0.1, connects
//! one client each way, checks the welcome, echo and broadcast messages,
//! closes the clients, waits for the room to empty, shuts the HTTP server
//! down gracefully and exits 0:
//!
//! ```text
//! cargo run -p weft-examples --example websocket
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::io::{AsyncRead, AsyncWrite};
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use weft::hyper::FuturesIo;
use weft::net::{TcpListener, TcpStream};
use weft::runtime::Runtime;

/// Everyone connected, by id: the sending side of each session's outbox.
#[derive(Default)]
struct Room {
    next_id: AtomicUsize,
    members: Mutex<HashMap<usize, mpsc::UnboundedSender<Message>>>,
}

impl Room {
    fn join(&self, outbox: mpsc::UnboundedSender<Message>) -> usize {
        // Relaxed: the id only has to be unique; the map's lock orders the
        // membership itself.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.members.lock().unwrap().insert(id, outbox);
        id
    }

    fn leave(&self, id: usize) {
        self.members.lock().unwrap().remove(&id);
    }

    fn broadcast(&self, from: usize, text: &str) {
        for (id, outbox) in self.members.lock().unwrap().iter() {
            if *id != from {
                // A member that is leaving has closed its outbox; skip it.
                let _ = outbox.unbounded_send(Message::text(format!("#{from}: {text}")));
            }
        }
    }

    fn len(&self) -> usize {
        self.members.lock().unwrap().len()
    }
}

/// One client's session, whichever way it connected: a writer task drains
/// its outbox into the socket while this loop reads.
async fn session<S>(room: Arc<Room>, ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, mut receiver) = ws.split();
    let (outbox, mut queued) = mpsc::unbounded();
    let id = room.join(outbox.clone());
    let _ = outbox.unbounded_send(Message::text(format!("welcome, you are #{id}")));
    let writer = weft::spawn(async move {
        while let Some(message) = queued.next().await {
            if sender.send(message).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = receiver.next().await {
        match message {
            Message::Text(text) => {
                let _ = outbox.unbounded_send(Message::text(format!("echo: {}", text.as_str())));
                room.broadcast(id, text.as_str());
            }
            Message::Close(_) => break,
            // Pings are answered by tungstenite itself; binary is ignored.
            _ => {}
        }
    }
    room.leave(id);
    // The room's copy is gone; dropping ours ends the writer.
    drop(outbox);
    let _ = writer.await;
}

/// The plain-TCP server: a WebSocket handshake on each accepted stream.
async fn serve_tcp(listener: TcpListener, room: Arc<Room>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let room = room.clone();
        weft::spawn(async move {
            if let Ok(ws) = async_tungstenite::accept_async(stream).await {
                session(room, ws).await;
            }
        });
    }
}

/// The HTTP side: `GET /ws` with the WebSocket headers upgrades; anything
/// else is a 404 (or a 400 for a `/ws` that is not a WebSocket request).
#[derive(Clone)]
struct Upgrader {
    room: Arc<Room>,
}

type Reply = Response<Full<Bytes>>;

impl tower_service::Service<Request<Incoming>> for Upgrader {
    type Response = Reply;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let reply = if req.uri().path() != "/ws" {
            status(StatusCode::NOT_FOUND)
        } else {
            upgrade(&mut req, self.room.clone())
        };
        Box::pin(std::future::ready(Ok(reply)))
    }
}

fn status(code: StatusCode) -> Reply {
    let mut res = Response::new(Full::new(Bytes::from(code.to_string())));
    *res.status_mut() = code;
    res
}

fn upgrade(req: &mut Request<Incoming>, room: Arc<Room>) -> Reply {
    let headers = req.headers();
    let wants_websocket =
        headers.get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let (true, Some(key)) = (wants_websocket, headers.get(SEC_WEBSOCKET_KEY)) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let accept = derive_accept_key(key.as_bytes());
    // Resolves once hyper has sent the 101 below and hands the connection
    // over.
    let on_upgrade = hyper::upgrade::on(req);
    weft::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        // hyper's Read/Write -> futures-io, for async-tungstenite.
        let ws =
            WebSocketStream::from_raw_socket(FuturesIo::new(upgraded), Role::Server, None).await;
        session(room, ws).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, accept)
        .body(Full::new(Bytes::new()))
        .expect("a valid 101 response")
}

type Client = WebSocketStream<TcpStream>;

async fn connect(url: &str, addr: std::net::SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (ws, _response) = async_tungstenite::client_async(url, stream).await.expect("handshake");
    ws
}

async fn next_text(client: &mut Client) -> String {
    match client.next().await {
        Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Returns the id the room gave this client.
async fn welcome(client: &mut Client) -> String {
    let text = next_text(client).await;
    let id = text.strip_prefix("welcome, you are ").expect("a welcome");
    id.to_owned()
}

fn main() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        let room = Arc::new(Room::default());

        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let tcp_addr = tcp.local_addr()?;
        weft::spawn(serve_tcp(tcp, room.clone()));

        let http = TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http.local_addr()?;
        let (stop, stopped) = futures_channel::oneshot::channel::<()>();
        let server = weft::spawn(
            weft::hyper::serve(http, Upgrader { room: room.clone() })
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        println!("websocket: ws://{tcp_addr}/ (plain TCP), ws://{http_addr}/ws (HTTP upgrade)");

        // Each waits for its welcome, so both are in the room before anyone
        // speaks.
        let mut plain = connect(&format!("ws://{tcp_addr}/"), tcp_addr).await;
        let plain_id = welcome(&mut plain).await;
        let mut upgraded = connect(&format!("ws://{http_addr}/ws"), http_addr).await;
        let upgraded_id = welcome(&mut upgraded).await;

        plain.send(Message::text("hi from plain TCP")).await.expect("send");
        assert_eq!(next_text(&mut plain).await, "echo: hi from plain TCP");
        assert_eq!(next_text(&mut upgraded).await, format!("{plain_id}: hi from plain TCP"));

        upgraded.send(Message::text("hi from hyper")).await.expect("send");
        assert_eq!(next_text(&mut upgraded).await, "echo: hi from hyper");
        assert_eq!(next_text(&mut plain).await, format!("{upgraded_id}: hi from hyper"));
        println!("websocket: echo and broadcast work both ways");

        plain.close(None).await.expect("close");
        upgraded.close(None).await.expect("close");
        // The sessions notice the close frames and leave the room.
        let mut waited = Duration::ZERO;
        while room.len() > 0 {
            assert!(waited < Duration::from_secs(30), "the room never emptied");
            weft::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }

        let _ = stop.send(());
        server.await.expect("server task")?;
        println!("websocket: room empty, HTTP server shut down gracefully");
        Ok(())
    })
}
