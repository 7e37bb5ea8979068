//! The timer workloads: sleeps that fire, sleeps that are cancelled, and the
//! memory a pending timer holds.
//!
//! Every sleep is created and first polled inside a task on a worker thread
//! (never in the future given to `block_on`; on a current-thread runtime, in
//! a task run by the `block_on` thread), so it registers in the wheel (weft)
//! or timer shard (Tokio) the way a server's timers do. Both runtimes get the same
//! pseudo-random durations ([`XorShift`] with fixed seeds).

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::poll;

use crate::alloc::{self, Snapshot};
use crate::workloads::done_channel;
use crate::Rt;

/// Sleeps (one task each) per run of [`timers_fire`].
pub const FIRE_TIMERS: usize = 100_000;
/// Sleeps per run of the light variant of [`timers_fire`], which measures
/// timer precision with the runtime nearly idle (no spawn backlog).
pub const FIRE_LIGHT_TIMERS: usize = 1_000;
/// [`timers_fire`] durations are uniform in `1..=FIRE_MAX_MS` milliseconds.
pub const FIRE_MAX_MS: u64 = 50;
/// Tasks per iteration of [`timers_cancel`].
pub const CANCEL_TASKS: usize = 100;
/// Sleeps each [`timers_cancel`] task creates, polls once and drops.
pub const CANCEL_PER_TASK: usize = 10_000;
/// Sleeps per iteration of [`timers_cancel`].
pub const CANCEL_SLEEPS: usize = CANCEL_TASKS * CANCEL_PER_TASK;
/// [`timers_cancel`] durations are uniform in this range of milliseconds:
/// far enough that no sleep fires between its poll and its drop.
pub const CANCEL_MS: (u64, u64) = (100, 10_000);
/// Pending sleeps held at once by [`timer_memory`].
pub const MEM_TIMERS: usize = 10_000;
/// Duration of the [`timer_memory`] sleeps (they never fire).
pub const MEM_SLEEP: Duration = Duration::from_secs(10);
/// Longest wait for a run to finish before the workload is declared hung.
const DONE_TIMEOUT: Duration = Duration::from_secs(60);

/// Marsaglia's xorshift64: cheap, deterministic, good enough to spread
/// deadlines over wheel slots.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced, it is a fixed point).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 { 0x2545_F491_4F6C_DD1D } else { seed })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..=hi` (modulo bias is irrelevant here).
    pub fn in_range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Seed of run `run` (the same on both runtimes).
fn seed(run: u64) -> u64 {
    0x9E37_79B9_7F4A_7C15 ^ run.wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// Result of one [`timers_fire`] run.
#[derive(Clone, Debug)]
pub struct FireRun {
    /// From the first spawn to the last sleep's completion.
    pub elapsed: Duration,
    /// For every sleep, completion (its task resumed) minus deadline, in ns.
    pub lateness_ns: Vec<u64>,
}

struct FireState {
    lateness_ns: Box<[AtomicU64]>,
    remaining: AtomicUsize,
    done: SyncSender<()>,
}

/// `timers_fire`: a task on a worker spawns `timers` tasks ([`FIRE_TIMERS`]
/// in the main variant); each sleeps until `now + d`, `d` uniform in
/// 1..=[`FIRE_MAX_MS`] ms, and records how late it resumed. Times spawn +
/// insert + fire + wake of all of them.
pub fn timers_fire<R: Rt>(rt: &R, run: u64, timers: usize) -> FireRun {
    let mut rng = XorShift::new(seed(run));
    let durations: Vec<u64> = (0..timers).map(|_| rng.in_range(1, FIRE_MAX_MS)).collect();
    let (done, done_rx) = mpsc::sync_channel(1);
    let state = Arc::new(FireState {
        lateness_ns: (0..timers).map(|_| AtomicU64::new(u64::MAX)).collect(),
        remaining: AtomicUsize::new(timers),
        done,
    });

    let start = Instant::now();
    let spawner_state = state.clone();
    drop(rt.spawn(async move {
        for (i, ms) in durations.into_iter().enumerate() {
            let state = spawner_state.clone();
            drop(R::spawn_inner(async move {
                let deadline = Instant::now() + Duration::from_millis(ms);
                R::sleep_until(deadline).await;
                let late = Instant::now().saturating_duration_since(deadline);
                state.lateness_ns[i].store(late.as_nanos() as u64, Relaxed);
                // AcqRel: the last one sees every other task's store.
                if state.remaining.fetch_sub(1, AcqRel) == 1 {
                    state.done.send(()).expect("done receiver dropped");
                }
            }));
        }
    }));
    done_rx.recv_timeout(DONE_TIMEOUT).expect("timers_fire did not complete in time");
    let elapsed = start.elapsed();

    // The channel hand-off orders every store before these loads.
    let lateness_ns: Vec<u64> = state.lateness_ns.iter().map(|l| l.load(Relaxed)).collect();
    assert!(lateness_ns.iter().all(|&l| l != u64::MAX), "a sleep never completed");
    FireRun { elapsed, lateness_ns }
}

/// Polls `fut` once with the task's context; true if it is pending.
async fn poll_once_pending<F: Future>(fut: Pin<&mut F>) -> bool {
    poll!(fut).is_pending()
}

/// `timers_cancel`: [`CANCEL_TASKS`] tasks each create [`CANCEL_PER_TASK`]
/// sleeps (durations uniform in [`CANCEL_MS`]), poll each once (it
/// registers with the task's waker) and drop it (it deregisters), per
/// iteration. Returns the time of `iters` iterations.
///
/// A pending sleep gives its coop budget back on both runtimes, so the
/// polls never hit the budget and every sleep really registers.
///
/// Runs on either [`crate::Flavor`]: on a current-thread runtime the tasks
/// run inside the `block_on` that waits for them (see
/// [`crate::workloads::done_channel`]).
pub fn timers_cancel<R: Rt>(rt: &R, iters: u64) -> Duration {
    let (done, done_rx) = done_channel(rt, CANCEL_TASKS);
    let start = Instant::now();
    for iter in 0..iters {
        for task in 0..CANCEL_TASKS {
            let done = done.clone();
            let mut rng = XorShift::new(seed(iter * CANCEL_TASKS as u64 + task as u64));
            drop(rt.spawn(async move {
                for _ in 0..CANCEL_PER_TASK {
                    let ms = rng.in_range(CANCEL_MS.0, CANCEL_MS.1);
                    let mut sleep = pin!(R::sleep(Duration::from_millis(ms)));
                    let pending = poll_once_pending(sleep.as_mut()).await;
                    assert!(pending, "a {ms} ms sleep completed at once");
                }
                done.send();
            }));
        }
        done_rx.wait(rt, CANCEL_TASKS);
    }
    start.elapsed()
}

/// Memory held by pending timers, from [`timer_memory`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimerMemory {
    /// Bytes allocated per pending timer in a second round on the same
    /// worker (after a first round of as many timers was created and
    /// dropped), counting the `Box` each `Sleep` is pinned in, i.e.
    /// `size_of::<Sleep>()` plus whatever the runtime allocated.
    pub bytes: f64,
    /// Allocation calls per pending timer in that round (1 is the `Box`).
    pub allocs: f64,
    /// Heap growth (bytes allocated minus freed) per pending timer in the
    /// first round on a fresh runtime, `Box<Sleep>` included: what holding
    /// that many timers costs once, growth of the runtime's tables included.
    pub live_first: f64,
    /// `size_of` the runtime's `Sleep`.
    pub sleep_size: usize,
}

/// Counters around one round: `n` pending sleeps created, polled once each,
/// then dropped after the second snapshot.
async fn pending_round<R: Rt>(n: usize) -> (Snapshot, Snapshot) {
    let mut sleeps: Vec<Pin<Box<R::Sleep>>> = Vec::with_capacity(n);
    let before = Snapshot::now();
    for _ in 0..n {
        let mut sleep = Box::pin(R::sleep(MEM_SLEEP));
        assert!(poll_once_pending(sleep.as_mut()).await, "a 10 s sleep completed at once");
        sleeps.push(sleep);
    }
    let after = Snapshot::now();
    drop(sleeps);
    (before, after)
}

/// Measures memory per pending timer on a fresh runtime `rt`: one task on a
/// worker runs two rounds of `n` pending sleeps (each `Box::pin`ned so the
/// count includes the `Sleep` itself, which is where Tokio keeps its timer
/// entry). The first round gives [`TimerMemory::live_first`], the second
/// [`TimerMemory::bytes`] and [`TimerMemory::allocs`].
///
/// Returns `None` unless [`alloc::CountingAlloc`] is the global allocator.
pub fn timer_memory<R: Rt>(rt: &R, n: usize) -> Option<TimerMemory> {
    if !alloc::is_counting() || n == 0 {
        return None;
    }
    // One task, so both rounds register on the same worker's wheel/shard.
    let handle = rt.spawn(async move {
        let first = pending_round::<R>(n).await;
        let second = pending_round::<R>(n).await;
        (first, second)
    });
    let ((b1, a1), (b2, a2)) = rt.block_on(handle).expect("timer memory task failed");
    let n = n as f64;
    Some(TimerMemory {
        bytes: (a2.bytes - b2.bytes) as f64 / n,
        allocs: (a2.calls - b2.calls) as f64 / n,
        live_first: (a1.live() - b1.live()) as f64 / n,
        sleep_size: std::mem::size_of::<R::Sleep>(),
    })
}

/// The `p`-th percentile (0..=100, nearest rank) of `values`, which it sorts.
pub fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tokio, Weft};

    #[test]
    fn xorshift_range_and_percentiles() {
        let mut rng = XorShift::new(0);
        for _ in 0..10_000 {
            let v = rng.in_range(1, FIRE_MAX_MS);
            assert!((1..=FIRE_MAX_MS).contains(&v));
        }
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50));
        assert_eq!(percentile(&mut v, 99.0), Some(99));
        assert_eq!(percentile(&mut v, 100.0), Some(100));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    /// The cancel loop's single polls register every sleep: pending polls
    /// do not use up the coop budget (checked on weft, which counts its
    /// timers).
    #[test]
    fn single_polls_register_past_the_budget() {
        let rt = Weft::with_workers(2);
        let metrics = rt.0.metrics();
        let handle = rt.spawn(async move {
            let mut sleeps = Vec::new();
            for _ in 0..1_000 {
                let mut sleep = Box::pin(Weft::sleep(Duration::from_secs(10)));
                assert!(poll_once_pending(sleep.as_mut()).await);
                sleeps.push(sleep);
            }
            let registered = weft::runtime::Handle::current().metrics().num_timers();
            drop(sleeps);
            registered
        });
        assert_eq!(rt.block_on(handle).unwrap(), 1_000);
        assert_eq!(metrics.num_timers(), 0);
    }

    #[test]
    fn workloads_complete_on_both_runtimes() {
        fn check<R: Rt>() {
            let rt = R::with_workers(2);
            assert!(timers_cancel(&rt, 1) > Duration::ZERO);
            let run = timers_fire(&rt, 0, FIRE_TIMERS);
            assert_eq!(run.lateness_ns.len(), FIRE_TIMERS);
            // Never early, and not absurdly late.
            assert!(run.elapsed >= Duration::from_millis(FIRE_MAX_MS - 1));
        }
        check::<Weft>();
        check::<Tokio>();
    }
}
