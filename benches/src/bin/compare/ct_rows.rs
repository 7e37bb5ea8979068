//! The current-thread rows (`ct: ...`).

use super::net_rows::echo_sample;
use super::timer_rows::cancel_sample;
use super::*;

/// The current-thread rows (`ct: ...`), measured round by round.
pub(super) struct CurrentThreadRows {
    /// One per [`Workload::CURRENT_THREAD`] entry, in that order.
    pub(super) sched: Vec<Row>,
    pub(super) cancel: Row,
    pub(super) echo: Row,
}

impl CurrentThreadRows {
    pub(super) fn new() -> CurrentThreadRows {
        CurrentThreadRows {
            sched: Workload::CURRENT_THREAD
                .iter()
                .map(|w| Row::new(format!("ct: {}", w.current_thread_name())))
                .collect(),
            cancel: Row::new("ct: timers_cancel (ns/sleep)"),
            echo: Row::new(format!(
                "ct: tcp_echo ({ECHO_CONNS} conns × {ECHO_MSGS} msgs of {ECHO_MSG_SIZE} B; ns/msg)"
            )),
        }
    }

    /// One sample of each current-thread workload on each runtime,
    /// `weft_first` or not.
    pub(super) fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        fn both(weft_first: bool, row: &mut Row, weft: impl Fn() -> f64, tokio: impl Fn() -> f64) {
            if weft_first {
                row.weft.push(weft());
                row.tokio.push(tokio());
            } else {
                row.tokio.push(tokio());
                row.weft.push(weft());
            }
        }
        const CT: Flavor = Flavor::CurrentThread;
        for (&workload, row) in Workload::CURRENT_THREAD.iter().zip(&mut self.sched) {
            both(
                weft_first,
                row,
                || sample::<Weft>(workload, CT, dog),
                || sample::<Tokio>(workload, CT, dog),
            );
        }
        both(
            weft_first,
            &mut self.cancel,
            || cancel_sample::<Weft>(CT, dog),
            || cancel_sample::<Tokio>(CT, dog),
        );
        both(
            weft_first,
            &mut self.echo,
            || echo_sample::<Weft>(CT, dog),
            || echo_sample::<Tokio>(CT, dog),
        );
    }

    pub(super) fn into_rows(self) -> impl Iterator<Item = Row> {
        self.sched.into_iter().chain([self.cancel, self.echo])
    }
}
