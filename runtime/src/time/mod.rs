//! Timers: [`sleep()`], [`timeout()`], [`interval()`].
//!
//! Each worker owns a hierarchical timing wheel (`wheel`, 1 ms ticks, 6
//! levels of 64 slots). A [`Sleep`] registers in the wheel of the worker
//! that first polls it (from `block_on`, a worker's wheel is picked round
//! robin); cancel and reset work from any thread. A worker's park timeout
//! is its earliest deadline; a worker stuck in a long poll has its due
//! timers fired by an idle sibling (the wheel and its
//! driver are runtime-internal, in `runtime::time`).
//!
//! Tests may pause a current-thread runtime's clock ([`pause`](pause()),
//! [`advance`], [`resume`], `Builder::start_paused`): then time moves only
//! when told to, or jumps to the next timer when nothing else is left to
//! run (the clock itself is in `runtime::time::clock`).
//!
//! Semantics follow Tokio's: a timer never completes before its deadline,
//! and completes within about a millisecond of it plus scheduling delay.

pub mod error;
mod instant;
mod interval;
mod pause;
mod sleep;
mod timeout;

pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use pause::{advance, pause, resume};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Timeout};
