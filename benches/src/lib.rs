//! Shared benchmark code for comparing weft with Tokio.
//!
//! Every workload is written once, generically over the [`Rt`] trait, and run
//! on both runtimes: by the `compare` binary (alternating rounds, markdown
//! table) and by the criterion benches `scheduler`, `timers` and `blocking`.
//!
//! The runtimes are reached only through [`Rt`]; channels come from
//! `futures-channel` and `std::sync::mpsc`, never from a runtime, so both sides
//! run exactly the same code apart from the scheduler (and, for the timer
//! workloads in [`timers`], each runtime's own `sleep`; for the blocking-pool
//! workloads in [`blocking`], each runtime's own `spawn_blocking`; for the
//! networking workloads in [`net`], each runtime's own TCP sockets, read
//! through `futures_util`'s `AsyncReadExt`/`AsyncWriteExt` on weft and
//! Tokio's `tokio::io` extension traits on Tokio; for the HTTP workload in
//! [`http`], hyper 1.x over each runtime's sockets, through
//! `weft::hyper::WeftIo` and hyper-util's `TokioIo`; for the axum workload
//! in [`axum`], one axum `Router` under `weft::hyper::serve` and
//! `axum::serve`; for the CPU-bound
//! workloads in [`cpu`], weft's CPU pool and each runtime's blocking pool,
//! and a rayon pool beside Tokio). [`chart`] draws the
//! `compare` ratios as an SVG bar chart; [`groups`] sets up the criterion
//! benches' groups.
//!
//! Runtimes are multi-threaded ([`Rt::with_workers`]) or current-thread
//! ([`Rt::current_thread`]); [`Flavor`] picks one. The adapters are
//! written once, in the `rt` module, and differ only where the runtimes do
//! ([`WeftNoStall`] is weft with stall detection off, [`WeftCpuBackground`]
//! weft with its CPU pool at `Background` priority).

pub mod alloc;
pub mod axum;
pub mod blocking;
pub mod chart;
pub mod cpu;
pub mod fs;
pub mod groups;
pub mod http;
pub mod net;
pub mod report;
mod rt;
pub mod timers;
pub mod workloads;

pub use rt::{Flavor, Rt, Tokio, Weft, WeftCpuBackground, WeftNoStall};
pub use workloads::Workload;

/// Worker threads used for both runtimes (the benchmark machines have 2 cores).
pub const WORKER_THREADS: usize = 2;
