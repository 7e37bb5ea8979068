//! Runnable examples for the `weft` async runtime.
//!
//! This crate holds no library code of its own; the programs live in
//! `examples/examples/` and are run with Cargo, for instance:
//!
//! ```text
//! cargo run --release -p weft-examples --example hello
//! ```
//!
//! - `hello`: builds a multi-thread runtime, spawns a few thousand tasks
//!   (some yield, some spawn children), awaits them all and prints each
//!   worker's poll, steal and park counts from `RuntimeMetrics`.
