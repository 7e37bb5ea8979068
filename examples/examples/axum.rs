//! An axum application on weft: `weft::hyper::serve` in place of
//! `axum::serve`.
//!
//! axum's routing, extractors and JSON are runtime-agnostic; only
//! `axum::serve` needs Tokio (axum's `tokio` feature, off here). An
//! `axum::Router` is a cloneable tower service, which is what
//! `weft::hyper::serve(listener, router)` takes: it serves HTTP/1.1 and
//! HTTP/2 on weft's sockets, timer and tasks, and stops gracefully when its
//! signal fires.
//!
//! The app: a small key-value store and a hit counter, shared by every
//! request (an `Arc` in the router's state), with JSON in and out.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /` | a greeting |
//! | `GET /kv?prefix=P` | every entry (whose key starts with `P`), as a JSON object |
//! | `GET /kv/{key}` | one value, or 404 |
//! | `PUT /kv/{key}` | stores the JSON body, answers `{"key", "previous"}` |
//! | `POST /hits` | adds one to the counter, answers `{"hits": n}` |
//! | `GET /whoami` | the client's address |
//!
//! The client address comes from `weft::hyper::serve_with`, which makes a
//! router per connection (here: the shared one plus an `Extension` holding
//! the peer's address), as axum's `into_make_service_with_connect_info`.
//!
//! By default it serves on a free port of 127.0.0.1, checks every route
//! with hyper-util's pooled client (over weft `TcpStream`s, through
//! `weft::hyper::Connector`), shuts the server down gracefully and exits 0:
//!
//! ```text
//! cargo run -p weft-examples --example axum
//! ```
//!
//! or serves until Ctrl-C (then shuts down gracefully):
//!
//! ```text
//! cargo run -p weft-examples --example axum -- --serve 127.0.0.1:3000
//! curl -X PUT -H 'content-type: application/json' -d '{"lang":"rust"}' http://127.0.0.1:3000/kv/a
//! curl http://127.0.0.1:3000/kv
//! ```

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use serde::Deserialize;
use serde_json::{json, Value};
use weft::hyper::{Connector, WeftExecutor, WeftTimer};
use weft::net::TcpListener;
use weft::runtime::Runtime;

/// What every handler shares: cloned into each request (two `Arc`s).
#[derive(Clone, Default)]
struct AppState {
    store: Arc<Mutex<BTreeMap<String, Value>>>,
    hits: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct ListQuery {
    prefix: Option<String>,
}

async fn hello() -> &'static str {
    "hello from axum on weft"
}

async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Json<Value> {
    let prefix = query.prefix.unwrap_or_default();
    let store = state.store.lock().unwrap();
    let entries = store
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Json(Value::Object(entries))
}

async fn get_key(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    state.store.lock().unwrap().get(&key).cloned().map(Json).ok_or(StatusCode::NOT_FOUND)
}

async fn put_key(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Json(value): Json<Value>,
) -> Json<Value> {
    let previous = state.store.lock().unwrap().insert(key.clone(), value);
    Json(json!({ "key": key, "previous": previous }))
}

async fn hit(State(state): State<AppState>) -> Json<Value> {
    // Relaxed: the counter orders nothing else; each request only needs
    // its own increment to be counted once.
    let hits = state.hits.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({ "hits": hits }))
}

async fn whoami(Extension(peer): Extension<SocketAddr>) -> String {
    peer.to_string()
}

fn app() -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/kv", get(list))
        .route("/kv/{key}", get(get_key).put(put_key))
        .route("/hits", post(hit))
        .route("/whoami", get(whoami))
        .with_state(AppState::default())
}

type HttpClient = Client<Connector, Full<Bytes>>;

/// Sends one request and returns its status and body (parsed as JSON when
/// it is JSON, else as a string).
async fn call(
    client: &HttpClient,
    method: Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = Request::builder().method(method).uri(url);
    let body = match body {
        Some(value) => {
            req = req.header("content-type", "application/json");
            Full::new(Bytes::from(value.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let res = client.request(req.body(body).unwrap()).await.expect("request");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("response body").to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// The app for each connection: the shared router plus the client's
/// address (the state inside stays shared: the router holds `Arc`s).
fn app_per_connection() -> impl FnMut(SocketAddr) -> Router + Send + 'static {
    let app = app();
    move |peer| app.clone().layer(Extension(peer))
}

/// Every route, checked through hyper-util's pooled client.
async fn check(addr: SocketAddr) {
    let client: HttpClient = Client::builder(WeftExecutor::new())
        .timer(WeftTimer::new())
        .pool_timer(WeftTimer::new())
        .build(Connector::new());
    let url = |path: &str| format!("http://{addr}{path}");

    assert_eq!(
        call(&client, Method::GET, url("/"), None).await,
        (200, json!("hello from axum on weft"))
    );
    assert_eq!(call(&client, Method::GET, url("/kv/lang"), None).await.0, 404);

    let put = call(&client, Method::PUT, url("/kv/lang"), Some(json!({ "name": "rust" }))).await;
    assert_eq!(put, (200, json!({ "key": "lang", "previous": null })));
    let put = call(&client, Method::PUT, url("/kv/lang"), Some(json!({ "name": "Rust" }))).await;
    assert_eq!(put, (200, json!({ "key": "lang", "previous": { "name": "rust" } })));
    call(&client, Method::PUT, url("/kv/runtime"), Some(json!("weft"))).await;

    let got = call(&client, Method::GET, url("/kv/lang"), None).await;
    assert_eq!(got, (200, json!({ "name": "Rust" })));
    let all = call(&client, Method::GET, url("/kv"), None).await;
    assert_eq!(all, (200, json!({ "lang": { "name": "Rust" }, "runtime": "weft" })));
    let some = call(&client, Method::GET, url("/kv?prefix=run"), None).await;
    assert_eq!(some, (200, json!({ "runtime": "weft" })));

    let (status, me) = call(&client, Method::GET, url("/whoami"), None).await;
    assert_eq!(status, 200);
    let me: SocketAddr = me.as_str().expect("an address").parse().expect("an address");
    assert!(me.ip().is_loopback());

    // Concurrent requests: the shared counter counts each exactly once.
    let hits: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let url = url("/hits");
            weft::spawn(async move { call(&client, Method::POST, url, None).await })
        })
        .collect();
    let mut seen = Vec::new();
    for hit in hits {
        let (status, body) = hit.await.expect("request task");
        assert_eq!(status, 200);
        seen.push(body["hits"].as_u64().expect("a count"));
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());

    // A malformed JSON body is axum's 4xx, not a crash.
    let req = Request::put(url("/kv/bad"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{not json")))
        .unwrap();
    assert!(client.request(req).await.expect("request").status().is_client_error());
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = Runtime::new()?;

    if let [flag, addr] = &args[..] {
        if flag == "--serve" {
            return rt.block_on(async move {
                let listener = TcpListener::bind(addr.as_str()).await?;
                println!(
                    "axum on weft: serving on http://{} (Ctrl-C stops)",
                    listener.local_addr()?
                );
                weft::hyper::serve_with(listener, app_per_connection())
                    .with_graceful_shutdown(async {
                        let _ = weft::signal::ctrl_c().await;
                    })
                    .await
            });
        }
    }
    if !args.is_empty() {
        eprintln!("usage: axum [--serve ADDR]");
        std::process::exit(2);
    }

    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = futures_channel::oneshot::channel::<()>();
        let server = weft::spawn(
            weft::hyper::serve_with(listener, app_per_connection())
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        println!("axum on weft: serving on http://{addr}");

        check(addr).await;
        println!("axum on weft: every route answered as expected");

        let _ = stop.send(());
        server.await.expect("server task")?;
        println!("axum on weft: shut down gracefully");
        Ok(())
    })
}
