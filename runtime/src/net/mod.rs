//! Networking: TCP, UDP and Unix sockets on the per-worker reactors.
//!
//! Every socket wraps a non-blocking mio source in a [`PollEvented`],
//! registered with the driver of the worker that created it (round robin
//! from `block_on`). Readiness lives in a shared `ScheduledIo`, so a task
//! stolen to another worker is still woken; and a worker stuck in a long
//! poll has its driver served by an idle sibling.
//!
//! Errors are the OS's `io::Error`s (connection refused, address in use,
//! too many open files...): weft never retries them itself.

mod poll_evented;

pub(crate) use poll_evented::PollEvented;
