//! The CPU-bound workloads of `compare`'s `cpu` rows: how well a runtime
//! keeps its tasks on time while CPU-bound jobs run beside them, and how
//! fast it gets through the jobs.
//!
//! A [`Variant`] is one way to run a CPU-bound closure from a task: weft's
//! CPU pool (`weft::task::spawn_cpu`, at its default `SCHED_IDLE` and at
//! `CpuPriority::Background`), weft's and Tokio's blocking pools
//! (`spawn_blocking`), and Tokio with a rayon pool (`ThreadPool::spawn`, the
//! result sent back through a `tokio::sync::oneshot`: how Tokio users run
//! CPU-bound work on rayon). Every pool has its default size: weft's CPU pool
//! and rayon's one thread per core, the blocking pools up to 512 threads.
//!
//! [`Variant::sample`] runs one variant on a fresh runtime of
//! [`WORKER_THREADS`] workers. [`HEARTBEATS`] tasks wake on a
//! [`HEARTBEAT_PERIOD`] grid each (staggered across the period) and record
//! how late they woke, a task's view of how long the workers were away,
//! through three phases ([`Phases`]):
//! - quiet: no jobs, the runtime's own timer lateness, for reference;
//! - steady: a task submits one job every [`JOB_INTERVAL`] (a job takes
//!   about 9 ms, so the offered load is under half of the cores) and
//!   finally awaits them all;
//! - batch: a task submits [`BATCH_JOBS`] jobs at once and awaits them all;
//!   jobs per second = jobs / time from the first submission to the last
//!   result.
//!
//! A job is FNV-1a over [`JOB_BYTES`] of a shared [`BUFFER_BYTES`] buffer
//! (job `k` hashes half `k % 2`), one multiply per byte in a dependent chain,
//! so it is bound by the core rather than by memory; its result is checked
//! against the hash computed when the buffer was made.

use std::future::Future;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::timers::percentile;
use crate::{Rt, Tokio, Weft, WeftCpuBackground, WORKER_THREADS};

/// Heartbeat tasks per sample.
pub const HEARTBEATS: usize = 40;
/// Each heartbeat's period.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_millis(2);
/// The shared input of the jobs (two job inputs, so that consecutive jobs
/// do not hash the same bytes).
pub const BUFFER_BYTES: usize = 32 << 20;
/// Bytes one job hashes: half the buffer, 16 MiB as in the `cpu_offload`
/// example (about 19 ms here), so that in the steady phase (a job every
/// 12 ms) two jobs often overlap.
pub const JOB_BYTES: usize = BUFFER_BYTES / 2;
/// Time between two submissions in the steady phase.
pub const JOB_INTERVAL: Duration = Duration::from_millis(12);
/// Jobs submitted at once in the batch phase of a full sample.
pub const BATCH_JOBS: usize = 32;

/// How long the phases of a sample last.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    /// The quiet phase (heartbeats only).
    pub quiet: Duration,
    /// How long the steady phase submits jobs (then its jobs are awaited).
    pub steady: Duration,
    /// Jobs in the batch phase.
    pub batch_jobs: usize,
}

impl Phases {
    /// The phases of a measured sample.
    pub const FULL: Phases = Phases {
        quiet: Duration::from_millis(200),
        steady: Duration::from_secs(1),
        batch_jobs: BATCH_JOBS,
    };
    /// Short phases, for a warm-up or a test.
    pub const SHORT: Phases = Phases {
        quiet: Duration::from_millis(20),
        steady: Duration::from_millis(60),
        batch_jobs: 4,
    };
}

/// One way to run a CPU-bound closure from a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `weft::task::spawn_cpu`, the CPU pool at its default `SCHED_IDLE`.
    SpawnCpu,
    /// `weft::task::spawn_cpu` with `CpuPriority::Background` (`SCHED_BATCH`,
    /// nice 19).
    SpawnCpuBackground,
    /// `weft::task::spawn_blocking`.
    WeftBlocking,
    /// `tokio::task::spawn_blocking`.
    TokioBlocking,
    /// Tokio with a rayon pool: `ThreadPool::spawn` and a
    /// `tokio::sync::oneshot` back.
    TokioRayon,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 5] = [
        Variant::SpawnCpu,
        Variant::SpawnCpuBackground,
        Variant::WeftBlocking,
        Variant::TokioBlocking,
        Variant::TokioRayon,
    ];

    /// The variant's name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Variant::SpawnCpu => "weft spawn_cpu (Idle)",
            Variant::SpawnCpuBackground => "weft spawn_cpu (Background)",
            Variant::WeftBlocking => "weft spawn_blocking",
            Variant::TokioBlocking => "Tokio spawn_blocking",
            Variant::TokioRayon => "Tokio + rayon",
        }
    }

    /// One sample of this variant on a fresh runtime (and, for
    /// [`Variant::TokioRayon`], a fresh rayon pool).
    pub fn sample(self, phases: Phases) -> Sample {
        // Made (and its pages touched) before any runtime exists.
        input();
        match self {
            Variant::SpawnCpu => run(&Weft::with_workers(WORKER_THREADS), phases, spawn_cpu),
            Variant::SpawnCpuBackground => {
                run(&WeftCpuBackground::with_workers(WORKER_THREADS), phases, spawn_cpu)
            }
            Variant::WeftBlocking => {
                run(&Weft::with_workers(WORKER_THREADS), phases, spawn_blocking::<Weft>)
            }
            Variant::TokioBlocking => {
                run(&Tokio::with_workers(WORKER_THREADS), phases, spawn_blocking::<Tokio>)
            }
            Variant::TokioRayon => {
                // Rayon's default size: one thread per core.
                let pool = rayon::ThreadPoolBuilder::new()
                    .thread_name(|i| format!("rayon-{i}"))
                    .build()
                    .expect("failed to build the rayon pool");
                let pool = Arc::new(pool);
                run(&Tokio::with_workers(WORKER_THREADS), phases, move |job| rayon_job(&pool, job))
            }
        }
    }
}

/// What one sample measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Heartbeat lateness p99 in the quiet phase, ms.
    pub quiet_p99_ms: f64,
    /// Heartbeat lateness p99 in the steady phase, ms.
    pub steady_p99_ms: f64,
    /// Heartbeat lateness p99 in the batch phase, ms.
    pub batch_p99_ms: f64,
    /// Batch jobs per second.
    pub jobs_per_s: f64,
}

/// FNV-1a (64-bit) of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The buffer every job reads and the hash of each half.
struct Input {
    bytes: Vec<u8>,
    hashes: [u64; BUFFER_BYTES / JOB_BYTES],
}

/// The process's one [`Input`], made on first use: pseudo-random bytes
/// (xorshift), so that no hash could be folded away.
fn input() -> &'static Input {
    static INPUT: OnceLock<Input> = OnceLock::new();
    INPUT.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let bytes: Vec<u8> = (0..BUFFER_BYTES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let mut hashes = [0; BUFFER_BYTES / JOB_BYTES];
        for (hash, half) in hashes.iter_mut().zip(bytes.chunks(JOB_BYTES)) {
            *hash = fnv1a(half);
        }
        Input { bytes, hashes }
    })
}

/// The time one job takes on the calling thread with nothing else of this
/// process running, ms (median of 5).
pub fn job_alone_ms() -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|k| {
            let start = Instant::now();
            Job(k).check(Job(k).run());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Job `k`: hashes half `k % 2` of the buffer.
#[derive(Clone, Copy, Debug)]
struct Job(usize);

impl Job {
    fn half(self) -> usize {
        self.0 % (BUFFER_BYTES / JOB_BYTES)
    }

    fn run(self) -> u64 {
        let start = self.half() * JOB_BYTES;
        fnv1a(&input().bytes[start..start + JOB_BYTES])
    }

    /// Panics unless `hash` is what this job computes.
    fn check(self, hash: u64) {
        assert_eq!(hash, input().hashes[self.half()], "CPU job {} returned a wrong hash", self.0);
    }
}

/// `job` on weft's CPU pool (the caller's runtime).
fn spawn_cpu(job: Job) -> impl Future<Output = u64> + Send + 'static {
    let handle = weft::task::spawn_cpu(move || job.run());
    async move { handle.await.expect("spawn_cpu job failed") }
}

/// `job` on the blocking pool of the caller's `R` runtime.
fn spawn_blocking<R: Rt>(job: Job) -> impl Future<Output = u64> + Send + 'static {
    let handle = R::spawn_blocking(move || job.run());
    async move { handle.await.expect("spawn_blocking job failed") }
}

/// `job` on `pool`, the result sent back through a oneshot channel.
fn rayon_job(pool: &rayon::ThreadPool, job: Job) -> impl Future<Output = u64> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        // The receiver only goes away if the sample panicked.
        let _ = tx.send(job.run());
    });
    async move { rx.await.expect("rayon job dropped its result") }
}

// The phases, as the heartbeats see them.
/// Pools warming: not recorded.
const WARM: u8 = 0;
/// The first recorded phase; `STEADY` and `BATCH` follow.
const QUIET: u8 = 1;
const STEADY: u8 = 2;
const BATCH: u8 = 3;
/// The heartbeats stop.
const DONE: u8 = 4;

/// Runs the heartbeats and the three phases on `rt`. `submit` starts a job
/// when called (from a task on `rt`) and returns a future of its result.
fn run<R, S, F>(rt: &R, phases: Phases, submit: S) -> Sample
where
    R: Rt,
    S: Fn(Job) -> F + Send + 'static,
    F: Future<Output = u64> + Send + 'static,
{
    let phase = Arc::new(AtomicU8::new(WARM));
    let start = Instant::now();
    let beats: Vec<_> = (0..HEARTBEATS)
        .map(|i| {
            let first = start + HEARTBEAT_PERIOD * i as u32 / HEARTBEATS as u32;
            rt.spawn(heartbeat::<R>(first, phase.clone()))
        })
        .collect();
    let driver = rt.spawn(drive::<R, S, F>(phases, submit, phase));
    rt.block_on(async move {
        let batch = driver.await.expect("CPU workload task failed");
        let mut lateness: [Vec<u64>; 3] = Default::default();
        for beat in beats {
            let one = beat.await.expect("heartbeat task failed");
            for (all, one) in lateness.iter_mut().zip(one) {
                all.extend(one);
            }
        }
        let [quiet, steady, batch_late] =
            lateness.map(|mut ns| percentile(&mut ns, 99.0).map_or(f64::NAN, |ns| ns as f64 / 1e6));
        Sample {
            quiet_p99_ms: quiet,
            steady_p99_ms: steady,
            batch_p99_ms: batch_late,
            jobs_per_s: phases.batch_jobs as f64 / batch.as_secs_f64(),
        }
    })
}

/// A heartbeat: sleeps to each point of a [`HEARTBEAT_PERIOD`] grid from
/// `first` and records, in the phase it woke in, how late it woke (ns).
/// Missed points are not skipped: after a long wait it wakes at once for
/// each, so a wait of `t` counts `t / period` times, as it would for a task
/// that must do something every period.
async fn heartbeat<R: Rt>(first: Instant, phase: Arc<AtomicU8>) -> [Vec<u64>; 3] {
    let mut lateness: [Vec<u64>; 3] = Default::default();
    let mut deadline = first;
    loop {
        R::sleep_until(deadline).await;
        let late = deadline.elapsed().as_nanos() as u64;
        // Relaxed: the phase only says where to file the sample; the
        // samples themselves go back through the join handle.
        match phase.load(Relaxed) {
            WARM => {}
            DONE => return lateness,
            p => lateness[usize::from(p - QUIET)].push(late),
        }
        deadline += HEARTBEAT_PERIOD;
    }
}

/// The job side: warms the pool, then runs the phases, setting `phase` for
/// the heartbeats. Returns the batch phase's time.
async fn drive<R, S, F>(phases: Phases, submit: S, phase: Arc<AtomicU8>) -> Duration
where
    R: Rt,
    S: Fn(Job) -> F,
    F: Future<Output = u64>,
{
    // One job per worker at once, so that every pool has started threads
    // before the phases.
    let warm: Vec<_> = (0..WORKER_THREADS).map(|k| (Job(k), submit(Job(k)))).collect();
    for (job, result) in warm {
        job.check(result.await);
    }
    // Relaxed, here and below: see `heartbeat`.
    phase.store(QUIET, Relaxed);
    R::sleep(phases.quiet).await;

    phase.store(STEADY, Relaxed);
    let start = Instant::now();
    let mut next = start;
    let mut pending = Vec::new();
    while next < start + phases.steady {
        R::sleep_until(next).await;
        let job = Job(pending.len());
        pending.push((job, submit(job)));
        next += JOB_INTERVAL;
    }
    for (job, result) in pending {
        job.check(result.await);
    }

    phase.store(BATCH, Relaxed);
    let start = Instant::now();
    let batch: Vec<_> = (0..phases.batch_jobs).map(|k| (Job(k), submit(Job(k)))).collect();
    for (job, result) in batch {
        job.check(result.await);
    }
    let elapsed = start.elapsed();
    phase.store(DONE, Relaxed);
    elapsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_variant_completes() {
        for variant in Variant::ALL {
            let s = variant.sample(Phases::SHORT);
            for p99 in [s.quiet_p99_ms, s.steady_p99_ms, s.batch_p99_ms] {
                assert!(p99.is_finite() && p99 >= 0.0, "{variant:?}: p99 {p99}");
            }
            assert!(s.jobs_per_s.is_finite() && s.jobs_per_s > 0.0, "{variant:?}: {s:?}");
        }
    }

    /// The policy (field 41) and nice value (field 19) of the calling
    /// thread, from `/proc/thread-self/stat`.
    #[cfg(target_os = "linux")]
    fn policy_and_nice() -> (u32, i32) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields from 3 on follow the command name's closing parenthesis.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        (fields[41 - 3].parse().unwrap(), fields[19 - 3].parse().unwrap())
    }

    /// The two `spawn_cpu` variants run their jobs where they say.
    #[cfg(target_os = "linux")]
    #[test]
    fn spawn_cpu_variants_run_at_their_priority() {
        const SCHED_BATCH: u32 = 3;
        const SCHED_IDLE: u32 = 5;
        fn on<R: Rt>() -> (u32, i32) {
            let rt = R::with_workers(1);
            rt.block_on(async { weft::task::spawn_cpu(policy_and_nice).await.unwrap() })
        }
        assert_eq!(on::<Weft>().0, SCHED_IDLE);
        assert_eq!(on::<WeftCpuBackground>(), (SCHED_BATCH, 19));
    }
}
