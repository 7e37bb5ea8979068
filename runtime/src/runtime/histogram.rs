//! The runtime's duration histograms: [`Histogram`], the snapshot users
//! read, and `AtomicHistogram`, the live counts a runtime records into.
//! Every histogram has the same logarithmic buckets, computed here and
//! nowhere else, so snapshots of any two compare bucket by bucket.

use std::ops::Range;
use std::time::Duration;

use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Number of buckets: [0, 1 µs), then doubling from [1, 2) µs up to
/// [2^19, 2^20) µs, then ≥ 2^20 µs (about 1.05 s).
const BUCKETS: usize = 22;

/// The lower bound of bucket `i`.
fn bucket_start(i: usize) -> Duration {
    match i {
        0 => Duration::ZERO,
        _ => Duration::from_micros(1 << (i - 1)),
    }
}

/// The upper bound (exclusive) of bucket `i`: `Duration::MAX` for the last.
fn bucket_end(i: usize) -> Duration {
    if i + 1 == BUCKETS {
        Duration::MAX
    } else {
        bucket_start(i + 1)
    }
}

/// The bucket counting `elapsed`.
fn bucket_of(elapsed: Duration) -> usize {
    match elapsed.as_micros() {
        0 => 0,
        // 1 µs → bucket 1, [2, 4) µs → bucket 2, ...
        micros => (1 + micros.ilog2() as usize).min(BUCKETS - 1),
    }
}

/// Durations counted in logarithmic buckets: under 1 µs, then [1, 2) µs,
/// [2, 4) µs, … doubling up to [2^19, 2^20) µs, and a last bucket for
/// 2^20 µs (about 1.05 s) or more. A snapshot: it does not change once
/// read; read again for newer counts, and compare two reads with
/// [`since`](Self::since).
///
/// What is counted depends on where it came from: task poll times
/// ([`RuntimeMetrics::worker_poll_time_histogram`](crate::runtime::RuntimeMetrics::worker_poll_time_histogram)),
/// schedule latencies
/// ([`RuntimeMetrics::worker_schedule_latency_histogram`](crate::runtime::RuntimeMetrics::worker_schedule_latency_histogram)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
}

impl Histogram {
    /// Number of buckets.
    pub fn num_buckets(&self) -> usize {
        self.counts.len()
    }

    /// The durations bucket `i` counts; the last bucket's range ends at
    /// `Duration::MAX`.
    ///
    /// # Panics
    /// If `i` is not below [`num_buckets`](Self::num_buckets).
    pub fn bucket_range(&self, i: usize) -> Range<Duration> {
        assert!(i < self.counts.len(), "bucket {i} of {}", self.counts.len());
        bucket_start(i)..bucket_end(i)
    }

    /// Durations counted in bucket `i`.
    ///
    /// # Panics
    /// If `i` is not below [`num_buckets`](Self::num_buckets).
    pub fn bucket_count(&self, i: usize) -> u64 {
        self.counts[i]
    }

    /// Every bucket's range and count, shortest durations first.
    pub fn buckets(&self) -> impl Iterator<Item = (Range<Duration>, u64)> + '_ {
        (0..self.counts.len()).map(|i| (self.bucket_range(i), self.counts[i]))
    }

    /// Durations counted in all buckets together.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// A bound on the `q`-quantile (`q` from 0 to 1: 0.5 for the median,
    /// 0.99 for p99): the upper end of the bucket it falls in, so at least
    /// a fraction `q` of the counted durations are shorter than it. A
    /// bound, not the exact value: the quantile itself may be anywhere in
    /// that bucket (from 1 µs up, as low as half the bound).
    /// `Duration::MAX` if it falls in the last, open-ended bucket; `None`
    /// if nothing was counted.
    ///
    /// ```
    /// # fn p99(h: &weft::runtime::Histogram) {
    /// if let Some(bound) = h.percentile(0.99) {
    ///     println!("99% took less than {bound:?}");
    /// }
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `q` is not within `0.0..=1.0`.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        assert!((0.0..=1.0).contains(&q), "percentile of q = {q}, outside 0..=1");
        let total = self.total();
        if total == 0 {
            return None;
        }
        // The rank (from 1) of the q-quantile among the counted durations.
        // The cast saturates, and the float's rounding of a huge total
        // stays within `1..=total` by the clamp.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(n);
            if seen >= rank {
                return Some(bucket_end(i));
            }
        }
        unreachable!("the counts add up to the total, which is at least the rank")
    }

    /// What was counted after `earlier`, a snapshot of the same histogram
    /// read before this one: bucket by bucket, this count minus the
    /// earlier one (zero if the earlier is larger, e.g. when the two came
    /// from different histograms). For a view of a recent window, such as
    /// the p99 of the last second:
    ///
    /// ```
    /// # fn window(metrics: &weft::runtime::RuntimeMetrics) {
    /// let before = metrics.worker_poll_time_histogram(0);
    /// std::thread::sleep(std::time::Duration::from_secs(1));
    /// let after = metrics.worker_poll_time_histogram(0);
    /// if let (Some(before), Some(after)) = (before, after) {
    ///     let p99 = after.since(&before).percentile(0.99);
    /// }
    /// # }
    /// ```
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
        }
    }
}

/// The live counts of a [`Histogram`], which any thread may read while
/// they are recorded (reads are slightly stale, which is all a metric
/// needs). Counts are relaxed: nothing is ordered by them.
pub(crate) struct AtomicHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl AtomicHistogram {
    pub(crate) fn new() -> AtomicHistogram {
        AtomicHistogram { counts: std::array::from_fn(|_| AtomicU64::new(0)) }
    }

    /// Counts `elapsed`, where only one thread at a time records into this
    /// histogram (its owner, e.g. the worker holding a core): a plain load
    /// and store, no locked instruction.
    #[inline]
    pub(crate) fn record_single_writer(&self, elapsed: Duration) {
        let count = &self.counts[bucket_of(elapsed)];
        // Relaxed: a single writer loses no count; readers only need some
        // recent value.
        count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Counts `elapsed`, where any number of threads may record at once.
    #[inline]
    pub(crate) fn record(&self, elapsed: Duration) {
        // Relaxed: the add itself is atomic; readers only need some recent
        // value.
        self.counts[bucket_of(elapsed)].fetch_add(1, Relaxed);
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> Histogram {
        // Relaxed: a metric only needs some recent value of each count.
        Histogram { counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::{AtomicHistogram, Histogram};

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    fn histogram_of(durations: &[Duration]) -> Histogram {
        let live = AtomicHistogram::new();
        for &d in durations {
            live.record_single_writer(d);
        }
        live.snapshot()
    }

    #[test]
    fn buckets_tile_zero_to_max_in_doubling_steps() {
        let h = histogram_of(&[]);
        assert_eq!(h.num_buckets(), 22);
        let mut end = Duration::ZERO;
        for (i, (range, count)) in h.buckets().enumerate() {
            assert_eq!(range.start, end, "bucket {i} starts where the last ended");
            assert_eq!(count, 0);
            end = range.end;
        }
        assert_eq!(end, Duration::MAX);
        assert_eq!(h.bucket_range(0), Duration::ZERO..us(1));
        assert_eq!(h.bucket_range(3), us(4)..us(8));
        assert_eq!(h.bucket_range(21), us(1 << 20)..Duration::MAX);
    }

    #[test]
    fn each_duration_lands_in_the_bucket_whose_range_holds_it() {
        let samples = [
            Duration::ZERO,
            Duration::from_nanos(999),
            us(1),
            us(3),
            us(4),
            us(1 << 20),
            Duration::MAX,
        ];
        let h = histogram_of(&samples);
        for d in samples {
            let i = (0..h.num_buckets()).find(|&i| h.bucket_range(i).contains(&d));
            // `Duration::MAX` is outside every half-open range: it is in the last bucket.
            let i = i.unwrap_or(h.num_buckets() - 1);
            assert!(h.bucket_count(i) >= 1, "{d:?} not counted in bucket {i}: {h:?}");
        }
        assert_eq!(h.bucket_count(0), 2);
        assert_eq!(h.bucket_count(21), 2);
        assert_eq!(h.total(), samples.len() as u64);
    }

    #[test]
    fn many_writers_lose_no_count() {
        let live = AtomicHistogram::new();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let live = &live;
                s.spawn(move || {
                    for _ in 0..1000 {
                        live.record(us(t * 10));
                    }
                });
            }
        });
        assert_eq!(live.snapshot().total(), 4000);
    }

    #[test]
    fn percentile_is_the_upper_bound_of_the_quantile_s_bucket() {
        assert_eq!(histogram_of(&[]).percentile(0.5), None, "empty: no quantile");
        // 90 durations in [2, 4) µs, 9 in [64, 128) µs, 1 of ≥ 2^20 µs.
        let mut samples = vec![us(3); 90];
        samples.extend([us(100); 9]);
        samples.push(Duration::from_secs(5));
        let h = histogram_of(&samples);
        assert_eq!(h.percentile(0.0), Some(us(4)), "the shortest is below 4 µs");
        assert_eq!(h.percentile(0.5), Some(us(4)));
        assert_eq!(h.percentile(0.9), Some(us(4)), "the 90th of 100 is still in [2, 4) µs");
        assert_eq!(h.percentile(0.91), Some(us(128)));
        assert_eq!(h.percentile(0.99), Some(us(128)));
        assert_eq!(h.percentile(1.0), Some(Duration::MAX), "the last bucket has no end");
        let one = histogram_of(&[us(10)]);
        for q in [0.0, 0.3, 1.0] {
            assert_eq!(one.percentile(q), Some(us(16)));
        }
    }

    #[test]
    #[should_panic(expected = "outside 0..=1")]
    fn percentile_refuses_a_q_above_one() {
        histogram_of(&[us(1)]).percentile(99.0);
    }

    #[test]
    fn since_counts_what_came_after_the_earlier_snapshot() {
        let live = AtomicHistogram::new();
        live.record_single_writer(us(3));
        live.record_single_writer(us(1000));
        let earlier = live.snapshot();
        live.record_single_writer(us(3));
        live.record_single_writer(us(3));
        let later = live.snapshot();
        let window = later.since(&earlier);
        assert_eq!(window.total(), 2);
        assert_eq!(window.bucket_count(2), 2, "two more in [2, 4) µs");
        assert_eq!(window.percentile(1.0), Some(us(4)), "the 1 ms one is before the window");
        assert_eq!(later.since(&later).total(), 0);
        // Snapshots in the wrong order, or of another histogram: no
        // bucket goes below zero.
        let backwards = earlier.since(&later);
        assert_eq!(backwards.total(), 0);
        assert_eq!(backwards, histogram_of(&[]));
    }
}
