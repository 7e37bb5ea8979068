#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration and doc tests, then
# the loom models (with bounded preemptions, in their own target dir so the
# `--cfg loom` build does not invalidate the normal one).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
# weft::fs on the blocking-pool fallback (the run above takes the workers'
# io_uring rings wherever the kernel allows them).
WEFT_IO_URING=0 cargo test -p weft --test fs --test fs_dir --test fs_uring
cargo test -p weft --features hyper --test hyper
cargo test -p weft --features hyper-client --test hyper_serve
cargo test -p weft --features tokio-io --test tokio_io
cargo test -p weft --features tracing --test tracing
# Stall reports' stack sampling (a signal handler walking the stack) is
# built only with its feature.
cargo test -p weft --features stall-backtrace --lib stall
cargo test -p weft --features stall-backtrace --test stall

# The ecosystem examples check themselves (a client against their own
# server) and exit 0; a hang fails through the timeout.
timeout 300 cargo run -q -p weft-examples --example axum
timeout 300 cargo run -q -p weft-examples --example websocket

# One model at a time: `scheduler::spawn_and_local_spawn_with_two_workers`
# once failed with loom's "is the model fully deterministic?" while other
# models ran beside it in the same process (alone it passes), so some
# process-wide state leaks between concurrent models.
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
    cargo test -p weft-loom-tests --release --target-dir target/loom -- --test-threads=1
