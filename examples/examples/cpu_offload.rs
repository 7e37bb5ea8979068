//! CPU offload: why CPU-heavy work belongs on the blocking pool.
//!
//! A timer-driven service runs on a 2-worker runtime: 40 "heartbeat" tasks
//! each wake every 2 ms and record how late their timer fired (the service's
//! response latency). Meanwhile a load generator submits CPU-heavy jobs
//! (hashing a 16 MiB buffer, about 10 ms each here) for one second:
//!
//! 1. inline: each job is a task on the workers, so it occupies a worker
//!    for its whole duration and the heartbeats queue up behind it;
//! 2. offloaded: each job goes through `weft::task::spawn_blocking`, so the
//!    workers stay free to serve the heartbeats.
//!
//! The program prints the heartbeat latency (p50, p99, max) of both runs
//! side by side, next to a baseline run without load (the timer resolution
//! is 1 ms, so about 1 ms of lateness is the floor), and how many hash jobs
//! each run finished.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example cpu_offload
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft::runtime::Builder;
use weft::time::{sleep, sleep_until, Instant};

/// Heartbeat tasks of the service.
const HEARTBEATS: usize = 40;
/// Period of each heartbeat.
const PERIOD: Duration = Duration::from_millis(2);
/// How long the load generator runs.
const LOAD_FOR: Duration = Duration::from_secs(1);
/// Gap between two CPU jobs.
const JOB_EVERY: Duration = Duration::from_millis(12);
/// Bytes hashed by one CPU job.
const JOB_BYTES: usize = 16 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    NoLoad,
    Inline,
    Offloaded,
}

struct Report {
    latencies: Vec<Duration>,
    jobs: usize,
}

fn main() {
    let rt = Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let buffer: Arc<Vec<u8>> = Arc::new((0..JOB_BYTES).map(|i| (i * 31 % 251) as u8).collect());
    println!(
        "{HEARTBEATS} heartbeat tasks every {PERIOD:?} on 2 workers, while CPU jobs \
         (FNV-1a over {} MiB) arrive every {JOB_EVERY:?} for {LOAD_FOR:?}\n",
        JOB_BYTES >> 20
    );
    let runs = [
        rt.block_on(run(Mode::NoLoad, buffer.clone())),
        rt.block_on(run(Mode::Inline, buffer.clone())),
        rt.block_on(run(Mode::Offloaded, buffer)),
    ];

    println!("heartbeat lateness  {:>12} {:>12} {:>15}", "no load", "inline", "spawn_blocking");
    for (label, q) in [("p50", 0.50), ("p99", 0.99), ("max", 1.0)] {
        let [a, b, c] = runs.each_ref().map(|r| fmt(percentile(&r.latencies, q)));
        println!("  {label:<17} {a:>12} {b:>12} {c:>15}");
    }
    let [a, b, c] = runs.each_ref().map(|r| r.latencies.len());
    println!("  {:<17} {a:>12} {b:>12} {c:>15}", "heartbeats");
    let [a, b, c] = runs.each_ref().map(|r| r.jobs);
    println!("  {:<17} {a:>12} {b:>12} {c:>15}", "CPU jobs done");
    let m = rt.metrics();
    println!(
        "\nblocking pool: {} threads alive, {} jobs completed",
        m.blocking_threads(),
        m.blocking_jobs_completed()
    );
}

/// One run: the service and the load side by side, then the figures.
async fn run(mode: Mode, buffer: Arc<Vec<u8>>) -> Report {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + LOAD_FOR;
    let beats: Vec<_> = (0..HEARTBEATS)
        .map(|i| {
            let latencies = latencies.clone();
            weft::spawn(async move {
                // Stagger the heartbeats over one period.
                sleep(PERIOD * i as u32 / HEARTBEATS as u32).await;
                let mut local = Vec::new();
                let mut deadline = Instant::now() + PERIOD;
                while deadline < end {
                    sleep_until(deadline).await;
                    local.push(Instant::now() - deadline);
                    deadline += PERIOD;
                }
                latencies.lock().unwrap().extend(local);
            })
        })
        .collect();

    let mut jobs = Vec::new();
    let mut next = Instant::now();
    while mode != Mode::NoLoad && next < end {
        let buffer = buffer.clone();
        jobs.push(match mode {
            Mode::Inline | Mode::NoLoad => weft::spawn(async move { fnv1a(&buffer) }),
            Mode::Offloaded => weft::task::spawn_blocking(move || fnv1a(&buffer)),
        });
        next += JOB_EVERY;
        sleep_until(next).await;
    }
    for beat in beats {
        beat.await.expect("heartbeat task");
    }
    let mut done = 0;
    for job in jobs {
        job.await.expect("hash job");
        done += 1;
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    Report { latencies, jobs: done }
}

/// FNV-1a over the buffer: plain CPU work that never yields.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
