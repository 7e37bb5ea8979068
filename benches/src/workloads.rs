//! The scheduler workloads, after Tokio's `benches/rt_multi_threaded.rs`.
//!
//! Each workload runs generically on any [`Rt`], of either [`Flavor`].
//! [`Workload::run`] does its untimed setup, times `iters` iterations and
//! tears down untimed, returning the timed total; that is the shape of
//! criterion's `iter_custom` and is also what the `compare` binary divides
//! by `iters`.
//!
//! Tasks report completion to the thread running the workload through a
//! [`done_channel`]: on a multi-threaded runtime that thread blocks on a
//! `std` channel while the workers run the tasks (the original code path);
//! on a current-thread runtime nothing runs unless some thread is inside
//! `block_on`, so it waits inside [`Rt::block_on`] instead, and that thread
//! runs the tasks meanwhile.
//!
//! Every count is bounded, every wait has a timeout, and the background tasks
//! of [`Workload::SpawnManyRemoteBusy`] stop on a flag (or a deadline) before
//! `run` returns.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use futures_util::future::{self, Either};
use futures_util::task::AtomicWaker;

use crate::{Flavor, Rt};

/// Tasks spawned per iteration by the `spawn_many_*` workloads.
pub const NUM_SPAWN: usize = 10_000;
/// Tasks in `yield_many`.
pub const YIELD_TASKS: usize = 200;
/// Yields per task in `yield_many`.
pub const NUM_YIELD: usize = 1_000;
/// Ping-pong pairs per iteration of `ping_pong`.
pub const NUM_PINGS: usize = 1_000;
/// Length of the spawn chain in `chained_spawn`.
pub const CHAIN_LEN: usize = 1_000;
/// Busy tasks per worker in `spawn_many_remote_busy`.
const BUSY_PER_WORKER: usize = 2;
/// CPU time a busy task burns between yields (as in Tokio's bench).
const STALL: Duration = Duration::from_micros(10);
/// Busy tasks stop by themselves after this long even if never told to.
const BUSY_DEADLINE: Duration = Duration::from_secs(120);
/// Longest wait for a completion signal before the workload is declared hung.
pub const DONE_TIMEOUT: Duration = Duration::from_secs(60);

/// One scheduler workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A task on a worker spawns [`NUM_SPAWN`] tasks that each decrement a
    /// counter; the last one signals completion.
    SpawnManyLocal,
    /// The thread outside the runtime spawns [`NUM_SPAWN`] empty tasks through
    /// the handle, then awaits all join handles in `block_on`.
    SpawnManyRemoteIdle,
    /// As [`Workload::SpawnManyRemoteIdle`], while every worker is kept busy
    /// by tasks that stall and yield in a loop until a stop flag is set.
    SpawnManyRemoteBusy,
    /// [`YIELD_TASKS`] tasks each yield [`NUM_YIELD`] times.
    YieldMany,
    /// [`NUM_PINGS`] spawned pairs of tasks each exchange two oneshot
    /// messages; the last pair signals completion.
    PingPong,
    /// A chain of [`CHAIN_LEN`] tasks, each spawning the next.
    ChainedSpawn,
    /// Another thread spawns [`NUM_SPAWN`] tasks through the handle, each
    /// decrementing a counter (the last one signals completion), while the
    /// thread running the workload waits: on a current-thread runtime it
    /// waits in `block_on`, running the tasks as they arrive.
    SpawnManyRemoteThread,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 6] = [
        Workload::SpawnManyLocal,
        Workload::SpawnManyRemoteIdle,
        Workload::SpawnManyRemoteBusy,
        Workload::YieldMany,
        Workload::PingPong,
        Workload::ChainedSpawn,
    ];

    /// The workloads of the current-thread rows, in table order: those
    /// that make sense on one thread ([`Workload::SpawnManyRemoteBusy`]
    /// would only interleave its busy tasks with the spawns on the one
    /// thread).
    pub const CURRENT_THREAD: [Workload; 6] = [
        Workload::SpawnManyLocal,
        Workload::SpawnManyRemoteIdle,
        Workload::SpawnManyRemoteThread,
        Workload::YieldMany,
        Workload::PingPong,
        Workload::ChainedSpawn,
    ];

    /// The workload's name, as in Tokio's bench.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SpawnManyLocal => "spawn_many_local",
            Workload::SpawnManyRemoteIdle => "spawn_many_remote_idle",
            Workload::SpawnManyRemoteBusy => "spawn_many_remote_busy",
            Workload::YieldMany => "yield_many",
            Workload::PingPong => "ping_pong",
            Workload::ChainedSpawn => "chained_spawn",
            Workload::SpawnManyRemoteThread => "spawn_many_remote_thread",
        }
    }

    /// The workload's name on a current-thread runtime, where "idle" means
    /// that no thread is in `block_on` while the tasks are spawned.
    pub fn current_thread_name(self) -> &'static str {
        match self {
            Workload::SpawnManyRemoteIdle => "spawn_many_remote_queued",
            other => other.name(),
        }
    }

    /// Iterations per timed sample in the `compare` binary, chosen so a
    /// sample lasts roughly 50-100 ms on a 2-core machine.
    pub fn iters_per_sample(self) -> u64 {
        match self {
            Workload::SpawnManyLocal | Workload::SpawnManyRemoteIdle => 16,
            Workload::SpawnManyRemoteThread => 16,
            Workload::SpawnManyRemoteBusy => 16,
            Workload::YieldMany => 12,
            Workload::PingPong => 80,
            Workload::ChainedSpawn => 200,
        }
    }

    /// Runs `iters` iterations on `rt` and returns the time they took,
    /// excluding setup and teardown.
    pub fn run<R: Rt>(self, rt: &R, iters: u64) -> Duration {
        match self {
            Workload::SpawnManyLocal => spawn_many_local(rt, iters),
            Workload::SpawnManyRemoteIdle => spawn_many_remote(rt, iters),
            Workload::SpawnManyRemoteBusy => spawn_many_remote_busy(rt, iters),
            Workload::YieldMany => yield_many(rt, iters),
            Workload::PingPong => ping_pong(rt, iters),
            Workload::ChainedSpawn => chained_spawn(rt, iters),
            Workload::SpawnManyRemoteThread => spawn_many_remote_thread(rt, iters),
        }
    }
}

/// Creates a channel for completion signals from tasks of `rt` to the
/// thread running the workload, holding up to `bound` signals. A send
/// beyond that blocks, and on a current-thread runtime would block the only
/// thread that could drain it: `bound` must cover the signals of one wait.
pub fn done_channel<R: Rt>(rt: &R, bound: usize) -> (DoneTx, DoneRx) {
    let (tx, rx) = mpsc::sync_channel(bound);
    let waker = match rt.flavor() {
        Flavor::MultiThread => None,
        Flavor::CurrentThread => Some(Arc::new(AtomicWaker::new())),
    };
    (DoneTx { tx, waker: waker.clone() }, DoneRx { rx, waker })
}

/// The sending half of a [`done_channel`], for the tasks.
#[derive(Clone, Debug)]
pub struct DoneTx {
    tx: SyncSender<()>,
    /// The waker of the `block_on` future waiting for the signals, on a
    /// current-thread runtime.
    waker: Option<Arc<AtomicWaker>>,
}

impl DoneTx {
    /// Sends one completion signal.
    pub fn send(&self) {
        self.tx.send(()).expect("done receiver dropped");
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }
}

/// The receiving half of a [`done_channel`], for the thread running the
/// workload.
#[derive(Debug)]
pub struct DoneRx {
    rx: Receiver<()>,
    waker: Option<Arc<AtomicWaker>>,
}

impl DoneRx {
    /// Waits for `n` completion signals from tasks of `rt` (the runtime the
    /// channel was made for), panicking if one takes longer than
    /// [`DONE_TIMEOUT`] (a hung runtime must not hang the benchmark).
    ///
    /// Multi-thread: blocks on the channel while the workers run the tasks.
    /// Current-thread: waits inside `rt.block_on`, so this thread runs them.
    pub fn wait<R: Rt>(&self, rt: &R, n: usize) {
        let Some(waker) = &self.waker else {
            for _ in 0..n {
                self.rx
                    .recv_timeout(DONE_TIMEOUT)
                    .expect("workload did not signal completion in time");
            }
            return;
        };
        let mut received = 0;
        let signals = poll_fn(|cx| {
            while received < n {
                match self.rx.try_recv() {
                    Ok(()) => received += 1,
                    Err(TryRecvError::Disconnected) => panic!("every done sender dropped"),
                    Err(TryRecvError::Empty) => {
                        waker.register(cx.waker());
                        // A signal sent before the registration woke no one:
                        // look once more now that a send will wake us.
                        match self.rx.try_recv() {
                            Ok(()) => received += 1,
                            Err(TryRecvError::Empty) => return Poll::Pending,
                            Err(TryRecvError::Disconnected) => {
                                panic!("every done sender dropped")
                            }
                        }
                    }
                }
            }
            Poll::Ready(())
        });
        let finished = rt.block_on(async {
            let timeout = pin!(R::sleep(DONE_TIMEOUT));
            matches!(future::select(pin!(signals), timeout).await, Either::Left(_))
        });
        assert!(finished, "workload did not signal completion in time");
    }
}

fn spawn_many_local<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (tx, rx) = done_channel(rt, 1);
    let rem = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..iters {
        rem.store(NUM_SPAWN, Relaxed);
        let (tx, rem) = (tx.clone(), rem.clone());
        drop(rt.spawn(async move {
            for _ in 0..NUM_SPAWN {
                let (tx, rem) = (tx.clone(), rem.clone());
                drop(R::spawn_inner(async move {
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        tx.send();
                    }
                }));
            }
        }));
        rx.wait(rt, 1);
    }
    start.elapsed()
}

fn spawn_many_remote<R: Rt>(rt: &R, iters: u64) -> Duration {
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..NUM_SPAWN {
            handles.push(rt.spawn(async {}));
        }
        rt.block_on(async {
            for handle in handles.drain(..) {
                handle.await.expect("empty task failed");
            }
        });
    }
    start.elapsed()
}

/// Burns [`STALL`] of CPU time without blocking the runtime for long.
fn stall() {
    let start = Instant::now();
    while start.elapsed() < STALL {
        std::thread::yield_now();
    }
}

fn spawn_many_remote_busy<R: Rt>(rt: &R, iters: u64) -> Duration {
    let running = Arc::new(AtomicBool::new(true));
    let deadline = Instant::now() + BUSY_DEADLINE;
    let busy: Vec<_> = (0..BUSY_PER_WORKER * crate::WORKER_THREADS)
        .map(|_| {
            let running = running.clone();
            rt.spawn(async move {
                // Bounded: stops on the flag, or at the deadline at the latest.
                while running.load(Relaxed) && Instant::now() < deadline {
                    R::yield_now().await;
                    stall();
                }
            })
        })
        .collect();

    let elapsed = spawn_many_remote(rt, iters);

    running.store(false, Relaxed);
    rt.block_on(async {
        for handle in busy {
            handle.await.expect("busy task failed");
        }
    });
    elapsed
}

fn yield_many<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (tx, rx) = done_channel(rt, YIELD_TASKS);
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..YIELD_TASKS {
            let tx = tx.clone();
            drop(rt.spawn(async move {
                for _ in 0..NUM_YIELD {
                    R::yield_now().await;
                }
                tx.send();
            }));
        }
        rx.wait(rt, YIELD_TASKS);
    }
    start.elapsed()
}

fn ping_pong<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (done_tx, done_rx) = done_channel(rt, 1);
    let rem = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..iters {
        rem.store(NUM_PINGS, Relaxed);
        let (done_tx, rem) = (done_tx.clone(), rem.clone());
        drop(rt.spawn(async move {
            for _ in 0..NUM_PINGS {
                let (done_tx, rem) = (done_tx.clone(), rem.clone());
                drop(R::spawn_inner(async move {
                    let (tx1, rx1) = oneshot::channel::<()>();
                    let (tx2, rx2) = oneshot::channel::<()>();
                    drop(R::spawn_inner(async move {
                        rx1.await.expect("ping sender dropped");
                        tx2.send(()).expect("pong receiver dropped");
                    }));
                    tx1.send(()).expect("ping receiver dropped");
                    rx2.await.expect("pong sender dropped");
                    if rem.fetch_sub(1, Relaxed) == 1 {
                        done_tx.send();
                    }
                }));
            }
        }));
        done_rx.wait(rt, 1);
    }
    start.elapsed()
}

/// Spawns the next link of the chain, or signals completion at its end.
fn chain<R: Rt>(done_tx: DoneTx, n: usize) {
    if n == 0 {
        done_tx.send();
    } else {
        drop(R::spawn_inner(async move { chain::<R>(done_tx, n - 1) }));
    }
}

fn chained_spawn<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (done_tx, done_rx) = done_channel(rt, 1);
    let start = Instant::now();
    for _ in 0..iters {
        let done_tx = done_tx.clone();
        drop(rt.spawn(async move { chain::<R>(done_tx, CHAIN_LEN) }));
        done_rx.wait(rt, 1);
    }
    start.elapsed()
}

/// See [`Workload::SpawnManyRemoteThread`]. One spawner thread per run,
/// started untimed; each iteration hands it a start signal and waits for
/// the last task's completion signal (so the timed part includes waking
/// the spawner, a few µs per iteration of milliseconds).
fn spawn_many_remote_thread<R: Rt + Sync>(rt: &R, iters: u64) -> Duration {
    let (done_tx, done_rx) = done_channel(rt, 1);
    let rem = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = mpsc::sync_channel::<()>(1);
    std::thread::scope(|scope| {
        let spawner_rem = rem.clone();
        scope.spawn(move || {
            // Ends when `go_tx` is dropped.
            for () in go_rx {
                for _ in 0..NUM_SPAWN {
                    let (done_tx, rem) = (done_tx.clone(), spawner_rem.clone());
                    drop(rt.spawn(async move {
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            done_tx.send();
                        }
                    }));
                }
            }
        });
        let start = Instant::now();
        for _ in 0..iters {
            rem.store(NUM_SPAWN, Relaxed);
            go_tx.send(()).expect("spawner thread exited");
            done_rx.wait(rt, 1);
        }
        let elapsed = start.elapsed();
        drop(go_tx);
        elapsed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tokio, Weft};

    /// Every workload completes on both flavors of both runtimes, and the
    /// current-thread rows wait inside `block_on` (nothing else would run
    /// their tasks).
    #[test]
    fn workloads_complete_on_both_flavors() {
        fn check<R: Rt>() {
            let rt: R = Flavor::CurrentThread.build();
            assert_eq!(rt.flavor(), Flavor::CurrentThread);
            for workload in Workload::CURRENT_THREAD {
                assert!(workload.run(&rt, 2) > Duration::ZERO, "{workload:?}");
            }
            assert!(crate::timers::timers_cancel(&rt, 1) > Duration::ZERO);
            assert!(crate::net::tcp_echo(&rt, 4, 50) > Duration::ZERO);
            drop(rt);
            let rt: R = Flavor::MultiThread.build();
            assert_eq!(rt.flavor(), Flavor::MultiThread);
            assert!(Workload::SpawnManyRemoteThread.run(&rt, 2) > Duration::ZERO);
        }
        check::<Weft>();
        check::<Tokio>();
    }
}
