//! Criterion groups for the benches in `benches/benches/`: [`Group`], the
//! group each registers its `weft` and `tokio` functions in, and [`flat`],
//! the setup shared by the `timers` and `blocking` groups, whose iterations
//! are whole runs of a workload (sampled flat, ten times).

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};

/// A criterion benchmark group timed by the wall clock.
pub type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The group `name`: flat sampling, 10 samples, a one-second warm-up,
/// `measurement` of measuring, and throughput counted as `elements` per
/// iteration.
pub fn flat<'a>(
    c: &'a mut Criterion,
    name: &str,
    measurement: Duration,
    elements: usize,
) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement)
        .throughput(Throughput::Elements(elements as u64));
    group
}
