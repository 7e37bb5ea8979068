//! Loom models of weft's concurrent protocols.
//!
//! The models live in `tests/` and only build with `--cfg loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-loom-tests --release
//! ```
//!
//! Under that flag, weft's `loom` switch module swaps every atomic, lock,
//! `Arc`, `UnsafeCell`, thread and run queue for loom's, and
//! `weft::__loom` exposes the internals the models drive.
