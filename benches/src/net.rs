//! The networking workloads: `tcp_echo` (small messages echoed over many
//! connections) and `idle_conns` (memory held per idle connection).
//!
//! Both ends of every connection live in the runtime under test, on
//! 127.0.0.1 only: the listener is bound to port 0, the clients connect to
//! the port it got. Sockets, reads and writes go through [`Rt`] (weft's
//! `weft::net` with `futures_util`'s extension traits, Tokio's `tokio::net`
//! with `tokio::io`'s).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::poll;

use crate::alloc::{self, Snapshot};
use crate::Rt;

/// Connections in [`tcp_echo`].
pub const ECHO_CONNS: usize = 64;
/// Messages each [`tcp_echo`] client sends (and reads back).
pub const ECHO_MSGS: usize = 1_000;
/// Size of a [`tcp_echo`] message, in bytes.
pub const ECHO_MSG_SIZE: usize = 64;
/// Connections [`idle_conns`] aims for; [`idle_conns_target`] lowers it to
/// what the open-file limit allows (each connection is two descriptors).
pub const IDLE_CONNS: usize = 10_000;
/// Descriptors kept free for everything else when sizing [`idle_conns`]
/// (listener, epoll and event fds, stdio, the test harness...).
const FD_SPARE: u64 = 512;
/// Longest wait for the idle readers to register before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn localhost() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Runs `fut` in a task on a worker of `rt` (not in `block_on`, so sockets
/// are created and polled the way a server's are) and returns its output.
pub(crate) fn run_in_task<R: Rt, T: Send + 'static>(
    rt: &R,
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(rt.spawn(fut)).expect("networking driver task panicked")
}

/// Binds a listener on 127.0.0.1 and opens `conns` connections to it,
/// `TCP_NODELAY` at both ends: an accept task spawns `serve(stream)` for
/// each server end while the calling task connects the clients. Returns
/// the client ends and the serving tasks, once every connection is
/// accepted. Called inside a task of the runtime under test.
pub(crate) async fn connected<R, S, F>(
    conns: usize,
    serve: S,
) -> io::Result<(Vec<R::TcpStream>, Vec<R::JoinHandle<F::Output>>)>
where
    R: Rt,
    S: Fn(R::TcpStream) -> F + Send + 'static,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let listener = R::bind(localhost()).await?;
    let addr = R::local_addr(&listener)?;
    let acceptor = R::spawn_inner(async move {
        let mut served = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = R::accept(&listener).await?;
            R::set_nodelay(&stream)?;
            served.push(R::spawn_inner(serve(stream)));
        }
        io::Result::Ok(served)
    });
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let stream = R::connect(addr).await?;
        R::set_nodelay(&stream)?;
        clients.push(stream);
    }
    let served = acceptor.await.expect("accept task panicked")?;
    Ok((clients, served))
}

/// Echoes everything it reads until end-of-file.
async fn echo<R: Rt>(mut stream: R::TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = R::read(&mut stream, &mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        R::write_all(&mut stream, &buf[..n]).await?;
    }
}

/// Writes `msgs` messages of [`ECHO_MSG_SIZE`] bytes one at a time, reading
/// each back (and checking it) before sending the next; then closes.
async fn echo_client<R: Rt>(mut stream: R::TcpStream, msgs: usize) -> io::Result<()> {
    let mut msg = [0xA5u8; ECHO_MSG_SIZE];
    let mut back = [0u8; ECHO_MSG_SIZE];
    for i in 0..msgs {
        msg[0] = i as u8;
        R::write_all(&mut stream, &msg).await?;
        R::read_exact(&mut stream, &mut back).await?;
        if back != msg {
            return Err(io::Error::other("echo returned different bytes"));
        }
    }
    Ok(())
}

/// `tcp_echo`: a task on a worker binds a listener; an accept task accepts
/// `conns` connections, spawning an echo task for each; the driver task
/// connects `conns` clients (all with `TCP_NODELAY`, both ends), then
/// spawns one task per client that sends `msgs` messages of
/// [`ECHO_MSG_SIZE`] bytes, each read back before the next is sent.
///
/// Returns the time from spawning the client tasks to the last one done:
/// the message exchange only (connection setup and teardown untimed).
pub fn tcp_echo<R: Rt>(rt: &R, conns: usize, msgs: usize) -> Duration {
    let result = run_in_task(rt, async move {
        let (clients, echoes) = connected::<R, _, _>(conns, echo::<R>).await?;

        let start = Instant::now();
        let handles: Vec<_> = clients
            .into_iter()
            .map(|stream| R::spawn_inner(echo_client::<R>(stream, msgs)))
            .collect();
        for handle in handles {
            handle.await.expect("echo client panicked")?;
        }
        let elapsed = start.elapsed();

        // The clients dropped their streams: every echo task sees EOF.
        for handle in echoes {
            handle.await.expect("echo task panicked")?;
        }
        io::Result::Ok(elapsed)
    });
    result.expect("tcp_echo failed")
}

/// Memory held per idle connection, from [`idle_conns`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdleConns {
    /// Connections opened.
    pub conns: usize,
    /// Growth of the resident set (`/proc/self/statm`) per connection.
    pub rss_per_conn: f64,
    /// Growth of the live heap (allocated − freed) per connection; `None`
    /// unless [`alloc::CountingAlloc`] is the global allocator.
    pub heap_per_conn: Option<f64>,
}

/// Reads once from `stream`: polls the read once (so it has registered
/// for readiness), counts itself in `ready`, then waits (an idle
/// connection: nothing is ever sent).
async fn idle_reader<R: Rt>(mut stream: R::TcpStream, ready: Arc<AtomicUsize>) {
    let mut buf = [0u8; 64];
    let mut read = pin!(R::read(&mut stream, &mut buf));
    let first = poll!(read.as_mut());
    // Release: pairs with the Acquire load of the thread that waits for
    // every reader (it only needs the count; nothing else is published).
    ready.fetch_add(1, Release);
    if first.is_pending() {
        let _ = read.await;
    }
}

/// `idle_conns`: on `rt` (a fresh runtime, which nothing else uses), a task
/// on a worker binds a listener and opens `n` connections to it one after
/// the other (connect, then accept), spawning for each end a task that
/// waits in a read. Once every reader has registered, measures the growth
/// of the resident set and of the live heap since before the listener was
/// bound, per connection (two sockets and two tasks).
///
/// The connections stay open: the caller drops the runtime (which drops
/// the tasks and closes the sockets) when done.
///
/// # Panics
///
/// If a socket call fails (e.g. "too many open files": see
/// [`weft_dev_support::raise_fd_limit`] and [`idle_conns_target`]).
pub fn idle_conns<R: Rt>(rt: &R, n: usize) -> IdleConns {
    let ready = Arc::new(AtomicUsize::new(0));
    let rss_before = weft_dev_support::rss_bytes().expect("cannot read /proc/self/statm");
    let heap_before = Snapshot::now();

    let readers = ready.clone();
    let result = run_in_task(rt, async move {
        let listener = R::bind(localhost()).await?;
        let addr = R::local_addr(&listener)?;
        for _ in 0..n {
            let client = R::connect(addr).await?;
            let server = R::accept(&listener).await?;
            for stream in [client, server] {
                drop(R::spawn_inner(idle_reader::<R>(stream, readers.clone())));
            }
        }
        io::Result::Ok(())
    });
    result.expect("idle_conns could not open its connections");

    let deadline = Instant::now() + READY_TIMEOUT;
    while ready.load(Acquire) < 2 * n {
        assert!(Instant::now() < deadline, "idle readers did not all register in time");
        std::thread::sleep(Duration::from_millis(1));
    }

    let rss_after = weft_dev_support::rss_bytes().expect("cannot read /proc/self/statm");
    let heap_after = Snapshot::now();
    let per_conn = |bytes: i64| bytes as f64 / n.max(1) as f64;
    IdleConns {
        conns: n,
        rss_per_conn: per_conn(rss_after as i64 - rss_before as i64),
        heap_per_conn: alloc::is_counting()
            .then(|| per_conn(heap_after.live() - heap_before.live())),
    }
}

/// Connections [`idle_conns`] can open under an open-file limit of
/// `fd_limit`: [`IDLE_CONNS`], or fewer (a whole thousand) so that its two
/// descriptors per connection leave some to spare.
pub fn idle_conns_target(fd_limit: u64) -> usize {
    let fit = fd_limit.saturating_sub(FD_SPARE) / 2;
    if fit >= IDLE_CONNS as u64 {
        IDLE_CONNS
    } else {
        (fit / 1_000 * 1_000).max(fit.min(1_000)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tokio, Weft};

    #[test]
    fn targets_fit_the_limit() {
        assert_eq!(idle_conns_target(1_000_000), IDLE_CONNS);
        assert_eq!(idle_conns_target(20_000), 9_000);
        assert_eq!(idle_conns_target(1_024), 256);
        assert_eq!(idle_conns_target(100), 0);
    }

    #[test]
    fn workloads_complete_on_both_runtimes() {
        fn check<R: Rt>() {
            let rt = R::with_workers(2);
            assert!(tcp_echo(&rt, 4, 50) > Duration::ZERO);
            drop(rt);
            let rt = R::with_workers(2);
            let idle = idle_conns(&rt, 50);
            assert_eq!(idle.conns, 50);
            assert!(idle.heap_per_conn.is_none(), "the test binary does not count allocations");
        }
        check::<Weft>();
        check::<Tokio>();
    }
}
