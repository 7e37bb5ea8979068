//! The scheduler workloads, after Tokio's `benches/rt_multi_threaded.rs`.
//!
//! Each workload runs generically on any [`Rt`]. [`Workload::run`] does its
//! untimed setup, times `iters` iterations and tears down untimed, returning
//! the timed total; that is the shape of criterion's `iter_custom` and is
//! also what the `compare` binary divides by `iters`.
//!
//! Every count is bounded, every wait has a timeout, and the background tasks
//! of [`Workload::SpawnManyRemoteBusy`] stop on a flag (or a deadline) before
//! `run` returns.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use crate::Rt;

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
const DONE_TIMEOUT: Duration = Duration::from_secs(60);

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

    /// The workload's name, as in Tokio's bench.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SpawnManyLocal => "spawn_many_local",
            Workload::SpawnManyRemoteIdle => "spawn_many_remote_idle",
            Workload::SpawnManyRemoteBusy => "spawn_many_remote_busy",
            Workload::YieldMany => "yield_many",
            Workload::PingPong => "ping_pong",
            Workload::ChainedSpawn => "chained_spawn",
        }
    }

    /// Iterations per timed sample in the `compare` binary, chosen so a
    /// sample lasts roughly 50-100 ms on a 2-core machine.
    pub fn iters_per_sample(self) -> u64 {
        match self {
            Workload::SpawnManyLocal | Workload::SpawnManyRemoteIdle => 16,
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
        }
    }
}

/// Waits for `n` completion signals, panicking if one takes longer than
/// [`DONE_TIMEOUT`] (a hung runtime must not hang the benchmark).
fn wait_done(rx: &Receiver<()>, n: usize) {
    for _ in 0..n {
        rx.recv_timeout(DONE_TIMEOUT).expect("workload did not signal completion in time");
    }
}

fn spawn_many_local<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (tx, rx) = mpsc::sync_channel(1);
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
                        tx.send(()).expect("done receiver dropped");
                    }
                }));
            }
        }));
        wait_done(&rx, 1);
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
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..YIELD_TASKS {
            let tx = tx.clone();
            drop(rt.spawn(async move {
                for _ in 0..NUM_YIELD {
                    R::yield_now().await;
                }
                tx.send(()).expect("done receiver dropped");
            }));
        }
        wait_done(&rx, YIELD_TASKS);
    }
    start.elapsed()
}

fn ping_pong<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (done_tx, done_rx) = mpsc::sync_channel(1);
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
                        done_tx.send(()).expect("done receiver dropped");
                    }
                }));
            }
        }));
        wait_done(&done_rx, 1);
    }
    start.elapsed()
}

/// Spawns the next link of the chain, or signals completion at its end.
fn chain<R: Rt>(done_tx: SyncSender<()>, n: usize) {
    if n == 0 {
        done_tx.send(()).expect("done receiver dropped");
    } else {
        drop(R::spawn_inner(async move { chain::<R>(done_tx, n - 1) }));
    }
}

fn chained_spawn<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let start = Instant::now();
    for _ in 0..iters {
        let done_tx = done_tx.clone();
        drop(rt.spawn(async move { chain::<R>(done_tx, CHAIN_LEN) }));
        wait_done(&done_rx, 1);
    }
    start.elapsed()
}
