//! The stall-detection rows (`stall on/off: ...`): weft with detection on
//! against off.

use super::*;

/// The workloads of the `stall` rows: the per-poll hot paths, where the
/// work stall detection adds to each poll would show.
pub(super) const STALL_WORKLOADS: [Workload; 4] =
    [Workload::SpawnManyLocal, Workload::YieldMany, Workload::PingPong, Workload::ChainedSpawn];

/// The stall-detection rows (`stall on/off: ...`): weft with detection on
/// ([`Weft`], the default builder) in the rows' `weft` column, off
/// ([`WeftNoStall`]) in their `tokio` column.
pub(super) struct StallRows {
    /// One per [`STALL_WORKLOADS`] entry, in that order.
    pub(super) sched: Vec<Row>,
}

impl StallRows {
    pub(super) fn new() -> StallRows {
        StallRows {
            sched: STALL_WORKLOADS
                .iter()
                .map(|w| Row::new(format!("stall on/off: {}", w.name())))
                .collect(),
        }
    }

    /// One sample of each workload with detection on and off, `on_first`
    /// or not.
    pub(super) fn sample(&mut self, on_first: bool, dog: &Watchdog) {
        const MT: Flavor = Flavor::MultiThread;
        for (&workload, row) in STALL_WORKLOADS.iter().zip(&mut self.sched) {
            if on_first {
                row.weft.push(sample::<Weft>(workload, MT, dog));
                row.tokio.push(sample::<WeftNoStall>(workload, MT, dog));
            } else {
                row.tokio.push(sample::<WeftNoStall>(workload, MT, dog));
                row.weft.push(sample::<Weft>(workload, MT, dog));
            }
        }
    }

    /// The rows, with `bytes/task` on and off measured now.
    pub(super) fn into_rows(self, dog: &Watchdog) -> Vec<Row> {
        let mut bytes = Row::new("stall on/off: bytes/task");
        for rep in 0..ALLOC_REPS {
            let (on, off) = if rep % 2 == 0 {
                (alloc_sample::<Weft>(dog), alloc_sample::<WeftNoStall>(dog))
            } else {
                let off = alloc_sample::<WeftNoStall>(dog);
                (alloc_sample::<Weft>(dog), off)
            };
            bytes.weft.extend(on.map(|p| p.bytes));
            bytes.tokio.extend(off.map(|p| p.bytes));
        }
        let mut rows = self.sched;
        rows.push(bytes);
        rows
    }
}
