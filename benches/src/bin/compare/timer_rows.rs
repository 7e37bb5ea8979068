//! The timer rows: `timers_fire`, `timers_fire_light`, `timers_cancel` and
//! memory per pending timer.

use super::*;

/// Timed `timers_fire` runs per sample (after one warm-up run).
pub(super) const FIRE_RUNS: u64 = 3;
/// Timed `timers_fire_light` runs per sample: more, since the light runs are
/// short and their lateness depends on the sub-millisecond phase at which a
/// worker happens to wake, which varies from run to run.
pub(super) const FIRE_LIGHT_RUNS: u64 = 10;
/// Timed `timers_cancel` iterations per sample (after one warm-up iteration).
pub(super) const CANCEL_ITERS: u64 = 3;

/// One `timers_fire` sample of `timers` sleeps on a fresh `R` runtime: a
/// warm-up run, then `runs` timed runs. Returns the mean µs per run and the
/// p50 and p99 lateness (µs) over all the timed runs' sleeps.
pub(super) fn fire_sample<R: Rt>(timers: usize, runs: u64, dog: &Watchdog) -> (f64, f64, f64) {
    dog.starting(format!("timers_fire ({timers}) on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    timers::timers_fire(&rt, 0, timers);
    let mut total = Duration::ZERO;
    let mut lateness = Vec::with_capacity(timers * runs as usize);
    for run in 1..=runs {
        let result = timers::timers_fire(&rt, run, timers);
        total += result.elapsed;
        lateness.extend(result.lateness_ns);
    }
    drop(rt);
    let us = |ns: Option<u64>| ns.map_or(f64::NAN, |ns| ns as f64 / 1e3);
    let p50 = us(timers::percentile(&mut lateness, 50.0));
    let p99 = us(timers::percentile(&mut lateness, 99.0));
    (total.as_secs_f64() * 1e6 / runs as f64, p50, p99)
}

/// One `timers_cancel` sample on a fresh `R` runtime of `flavor`: ns per
/// sleep over [`CANCEL_ITERS`] iterations, after one warm-up iteration.
pub(super) fn cancel_sample<R: Rt>(flavor: Flavor, dog: &Watchdog) -> f64 {
    dog.starting(format!("timers_cancel ({flavor:?}) on {}", R::NAME));
    let rt: R = flavor.build();
    timers::timers_cancel(&rt, 1);
    let elapsed = timers::timers_cancel(&rt, CANCEL_ITERS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (CANCEL_ITERS as f64 * CANCEL_SLEEPS as f64)
}

/// Memory per pending timer on a fresh `R` runtime.
pub(super) fn timer_memory_sample<R: Rt>(dog: &Watchdog) -> Option<timers::TimerMemory> {
    dog.starting(format!("timer memory on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    timers::timer_memory(&rt, MEM_TIMERS)
}

/// The timer rows, filled round by round.
pub(super) struct TimerRows {
    pub(super) fire: Row,
    pub(super) p50: Row,
    pub(super) p99: Row,
    pub(super) light_p50: Row,
    pub(super) light_p99: Row,
    pub(super) cancel: Row,
}

impl TimerRows {
    pub(super) fn new() -> TimerRows {
        TimerRows {
            fire: Row::new("timers_fire (µs/run)"),
            p50: Row::new("timers_fire lateness p50 (µs)"),
            p99: Row::new("timers_fire lateness p99 (µs)"),
            light_p50: Row::new("timers_fire_light lateness p50 (µs)"),
            light_p99: Row::new("timers_fire_light lateness p99 (µs)"),
            cancel: Row::new("timers_cancel (ns/sleep)"),
        }
    }

    /// One sample of each timer workload on each runtime, `weft_first` or not.
    pub(super) fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        let both = |timers: usize, runs: u64| {
            if weft_first {
                let w = fire_sample::<Weft>(timers, runs, dog);
                (w, fire_sample::<Tokio>(timers, runs, dog))
            } else {
                let t = fire_sample::<Tokio>(timers, runs, dog);
                (fire_sample::<Weft>(timers, runs, dog), t)
            }
        };
        let (w, t) = both(FIRE_TIMERS, FIRE_RUNS);
        let (lw, lt) = both(FIRE_LIGHT_TIMERS, FIRE_LIGHT_RUNS);
        for (row, wv, tv) in [
            (&mut self.fire, w.0, t.0),
            (&mut self.p50, w.1, t.1),
            (&mut self.p99, w.2, t.2),
            (&mut self.light_p50, lw.1, lt.1),
            (&mut self.light_p99, lw.2, lt.2),
        ] {
            row.weft.push(wv);
            row.tokio.push(tv);
        }
        if weft_first {
            self.cancel.weft.push(cancel_sample::<Weft>(Flavor::MultiThread, dog));
            self.cancel.tokio.push(cancel_sample::<Tokio>(Flavor::MultiThread, dog));
        } else {
            self.cancel.tokio.push(cancel_sample::<Tokio>(Flavor::MultiThread, dog));
            self.cancel.weft.push(cancel_sample::<Weft>(Flavor::MultiThread, dog));
        }
    }

    pub(super) fn into_rows(self) -> [Row; 6] {
        [self.fire, self.p50, self.p99, self.light_p50, self.light_p99, self.cancel]
    }
}

/// Rows for memory per pending timer, plus each runtime's `size_of::<Sleep>()`.
pub(super) fn timer_memory_rows(dog: &Watchdog) -> (Vec<Row>, Option<usize>, Option<usize>) {
    let mut bytes = Row::new("bytes/pending timer, warm (heap + size_of Sleep)");
    let mut heap = Row::new("heap bytes/pending timer, warm (runtime only)");
    let mut allocs = Row::new("allocs/pending timer, warm (incl. the Box)");
    let mut live = Row::new("heap growth/pending timer, fresh rt (incl. Box)");
    let (mut weft_size, mut tokio_size) = (None, None);
    for rep in 0..ALLOC_REPS {
        let (w, t) = if rep % 2 == 0 {
            (timer_memory_sample::<Weft>(dog), timer_memory_sample::<Tokio>(dog))
        } else {
            let t = timer_memory_sample::<Tokio>(dog);
            (timer_memory_sample::<Weft>(dog), t)
        };
        for (mem, is_weft) in [(w, true), (t, false)] {
            let Some(m) = mem else { continue };
            let pick = |row: &mut Row, v: f64| {
                if is_weft {
                    row.weft.push(v)
                } else {
                    row.tokio.push(v)
                }
            };
            pick(&mut bytes, m.bytes);
            pick(&mut heap, m.bytes - m.sleep_size as f64);
            pick(&mut allocs, m.allocs);
            pick(&mut live, m.live_first);
            *(if is_weft { &mut weft_size } else { &mut tokio_size }) = Some(m.sleep_size);
        }
    }
    (vec![bytes, heap, allocs, live], weft_size, tokio_size)
}
