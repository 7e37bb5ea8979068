//! The CPU-bound rows (group `cpu`, a table of their own): heartbeat
//! lateness under CPU-bound jobs and jobs per second, for each way of
//! running the jobs (see `weft_benches::cpu`).

use std::fmt::Write as _;

use weft_benches::cpu::{
    self, Phases, Sample, Variant, BATCH_JOBS, HEARTBEATS, HEARTBEAT_PERIOD, JOB_BYTES,
    JOB_INTERVAL,
};
use weft_benches::report::{fmt_value, Summary};

use super::*;

/// A measure of a [`Sample`]: its name (with which way is better) and how
/// to read it from a sample.
type Measure = (String, fn(&Sample) -> f64);

/// The measures, in table order.
fn measures() -> [Measure; 4] {
    let interval = JOB_INTERVAL.as_millis();
    [
        ("heartbeat p99, no jobs (ms; lower is better)".to_owned(), |s| s.quiet_p99_ms),
        (format!("heartbeat p99, a job every {interval} ms (ms; lower is better)"), |s| {
            s.steady_p99_ms
        }),
        (format!("heartbeat p99, batch of {BATCH_JOBS} jobs (ms; lower is better)"), |s| {
            s.batch_p99_ms
        }),
        (format!("jobs/s, batch of {BATCH_JOBS} jobs (higher is better)"), |s| s.jobs_per_s),
    ]
}

/// The baselines of the ratio columns.
const BASELINES: [Variant; 2] = [Variant::TokioBlocking, Variant::TokioRayon];

/// The `cpu` rows, filled round by round.
pub(super) struct CpuRows {
    /// Per [`Variant::ALL`] entry, its samples.
    samples: Vec<Vec<Sample>>,
    /// One job alone on the main thread, ms.
    job_alone_ms: f64,
}

impl CpuRows {
    pub(super) fn new() -> CpuRows {
        CpuRows { samples: vec![Vec::new(); Variant::ALL.len()], job_alone_ms: f64::NAN }
    }

    /// Times a job alone, then runs every variant once with short phases,
    /// unrecorded.
    pub(super) fn warm_up(&mut self, dog: &Watchdog) {
        dog.starting("cpu: one job alone".to_owned());
        self.job_alone_ms = cpu::job_alone_ms();
        for variant in Variant::ALL {
            dog.starting(format!("cpu warm-up: {}", variant.name()));
            variant.sample(Phases::SHORT);
        }
    }

    /// One sample of every variant; round `round` starts with variant
    /// `round % 5` and goes on in table order, so each variant goes first
    /// in turn.
    pub(super) fn sample(&mut self, round: usize, dog: &Watchdog) {
        let n = Variant::ALL.len();
        for i in (0..n).map(|i| (i + round) % n) {
            let variant = Variant::ALL[i];
            dog.starting(format!("cpu: {}", variant.name()));
            self.samples[i].push(variant.sample(Phases::FULL));
        }
    }

    /// The section of the report: what was measured and the table.
    pub(super) fn section(&self) -> String {
        let mut out = format!(
            "\n## CPU-bound work\n\n\
             Each sample: a fresh runtime ({WORKER_THREADS} workers, the same for every \
             row), {HEARTBEATS} heartbeat tasks each sleeping to the next point of a \
             {period} ms grid (staggered) and recording how late it woke, while a task \
             runs CPU-bound jobs through the row's pool: FNV-1a over {job_mib} MiB of a \
             shared buffer, {job_ms:.1} ms alone on this machine. Phases, after one job \
             per worker to start the pools' threads: no jobs for {quiet} ms (the timer's \
             own lateness); a job every {interval} ms for {steady} ms, then all awaited \
             (offered load {load:.0}% of the {WORKER_THREADS} cores); {BATCH_JOBS} jobs \
             submitted at once, jobs/s = {BATCH_JOBS} / time to the last result. A \
             heartbeat does not skip the grid points it missed, so a wait of t counts \
             t / {period} ms times. Rows: `weft::task::spawn_cpu` (CPU pool, one thread \
             per core, `SCHED_IDLE` by default; `Background`: `SCHED_BATCH`, nice 19), \
             `weft::task::spawn_blocking`, `tokio::task::spawn_blocking` (both up to 512 \
             threads at normal priority), and Tokio with a rayon pool of its default size \
             (one thread per core, normal priority; `ThreadPool::spawn` and a \
             `tokio::sync::oneshot` back). Every variant on its own runtime, in the same \
             process, one after the other; each round starts with the next variant. \
             Ratios: this row's median over the Tokio row's median.\n\n",
            period = HEARTBEAT_PERIOD.as_millis(),
            job_mib = JOB_BYTES >> 20,
            job_ms = self.job_alone_ms,
            quiet = Phases::FULL.quiet.as_millis(),
            interval = JOB_INTERVAL.as_millis(),
            steady = Phases::FULL.steady.as_millis(),
            load = 100.0 * self.job_alone_ms
                / JOB_INTERVAL.as_secs_f64()
                / 1e3
                / WORKER_THREADS as f64,
        );
        let names = BASELINES.map(Variant::name);
        let _ = writeln!(
            out,
            "| cpu row | median | ratio / {} | ratio / {} | min–max |",
            names[0], names[1]
        );
        out.push_str("|---|---:|---:|---:|---:|\n");
        let index = |v: Variant| Variant::ALL.iter().position(|&w| w == v).unwrap_or(0);
        for (measure, get) in measures() {
            let summaries: Vec<Option<Summary>> = self
                .samples
                .iter()
                .map(|samples| Summary::of(&samples.iter().map(get).collect::<Vec<_>>()))
                .collect();
            for (variant, summary) in Variant::ALL.iter().zip(&summaries) {
                let ratios = BASELINES.map(|base| match (summary, summaries[index(base)]) {
                    (Some(s), Some(b)) if b.median > 0.0 => format!("{:.2}", s.median / b.median),
                    _ => "n/a".to_owned(),
                });
                let (median, range) = summary.map_or_else(
                    || ("n/a".to_owned(), "n/a".to_owned()),
                    |s| (fmt_value(s.median), format!("{}–{}", fmt_value(s.min), fmt_value(s.max))),
                );
                let _ = writeln!(
                    out,
                    "| {measure}: {} | {median} | {} | {} | {range} |",
                    variant.name(),
                    ratios[0],
                    ratios[1]
                );
            }
        }
        out
    }
}
