//! Hello, weft: a first look at the multi-thread runtime and its metrics.
//!
//! The program builds a multi-thread runtime, spawns a few thousand tasks
//! across its workers (some yield to the scheduler a few times, some spawn
//! children and await them), waits for all of them, checks the result and
//! prints, per worker, how many tasks it polled, how many times it stole work
//! from a sibling and how many times it parked for lack of work.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example hello
//! ```

use std::time::Instant;

use weft::runtime::{Builder, RuntimeMetrics};
use weft::task::{yield_now, JoinHandle};

/// How many top-level tasks the program spawns.
const TASKS: u64 = 4_000;
/// How many children each spawning task starts.
const CHILDREN: u64 = 4;

/// A task that does a little work, yielding to the scheduler in between.
async fn yielding(id: u64) -> u64 {
    let mut acc = 0;
    for step in 0..(id % 4) {
        acc += step;
        yield_now().await;
    }
    acc + id
}

/// A task that spawns children on whichever worker runs it and sums their
/// results; idle workers steal some of them.
async fn parent(id: u64) -> u64 {
    let children: Vec<JoinHandle<u64>> =
        (0..CHILDREN).map(|c| weft::spawn(async move { id * CHILDREN + c })).collect();
    let mut sum = 0;
    for child in children {
        sum += child.await.expect("child task failed");
    }
    sum
}

/// What all tasks together must return.
fn expected_total() -> u64 {
    (0..TASKS)
        .map(|id| {
            if id % 2 == 0 {
                (0..id % 4).sum::<u64>() + id
            } else {
                (0..CHILDREN).map(|c| id * CHILDREN + c).sum()
            }
        })
        .sum()
}

/// Prints one row per worker and a totals row.
fn print_metrics(metrics: &RuntimeMetrics) {
    println!(
        "{:>8} {:>10} {:>8} {:>8} {:>12}",
        "worker", "polls", "steals", "parks", "local queue"
    );
    let (mut polls, mut steals, mut parks, mut queued) = (0, 0, 0, 0);
    for w in 0..metrics.num_workers() {
        let (p, s, k, q) = (
            metrics.worker_poll_count(w),
            metrics.worker_steal_count(w),
            metrics.worker_park_count(w),
            metrics.worker_local_queue_depth(w),
        );
        println!("{w:>8} {p:>10} {s:>8} {k:>8} {q:>12}");
        polls += p;
        steals += s;
        parks += k;
        queued += q;
    }
    println!("{:>8} {polls:>10} {steals:>8} {parks:>8} {queued:>12}", "total");
    println!(
        "alive tasks: {}, injector depth: {}",
        metrics.num_alive_tasks(),
        metrics.injector_depth()
    );
}

fn main() -> std::io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let rt =
        Builder::new_multi_thread().worker_threads(workers).thread_name("hello-worker").build()?;

    let start = Instant::now();
    let total = rt.block_on(async {
        // Even ids yield a few times; odd ids spawn children.
        let handles: Vec<JoinHandle<u64>> = (0..TASKS)
            .map(|id| if id % 2 == 0 { weft::spawn(yielding(id)) } else { weft::spawn(parent(id)) })
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.expect("task failed");
        }
        total
    });
    let elapsed = start.elapsed();

    assert_eq!(total, expected_total(), "tasks returned a wrong total");
    println!(
        "{} tasks ({} top-level, {} children) on {workers} workers: total {total} in {elapsed:?}",
        TASKS + TASKS / 2 * CHILDREN,
        TASKS,
        TASKS / 2 * CHILDREN,
    );
    println!();
    print_metrics(&rt.metrics());
    Ok(())
}
