//! Instrumentation behind the `tracing` cargo feature: a span per task and
//! events for the scheduler's parks, wake-ups, steals and hand-offs.
//!
//! Everything the rest of the crate calls is here, in two versions with the
//! same API: with the feature, the real `tracing` calls; without it, empty
//! `#[inline(always)]` functions and zero-sized types, so a build without the
//! feature links nothing from `tracing`, the task cell has no span field and
//! the worker loop has no extra code. The one part in both builds is
//! [`SpawnMeta`]'s spawn location (see below).
//!
//! # Spans
//!
//! Each task gets one span, created when it is spawned (so its parent is
//! the span current on the spawning thread) and entered around every poll
//! of the task and around the drop of its future:
//!
//! | name | target | level | fields |
//! |---|---|---|---|
//! | `weft.task` | `weft::task` | TRACE | `kind`, `loc.file`, `loc.line`, `loc.col` |
//!
//! `kind` is `"task"` (`spawn`, `Handle::spawn`, `Runtime::spawn`,
//! `JoinSet::spawn`), `"blocking"` (`spawn_blocking`) or `"block_on"` (the
//! future given to `block_on`; its span is entered whenever that future is
//! polled). `loc.*` is where the spawn was called: every public spawn entry
//! point is `#[track_caller]`, and so is the internal path down to the
//! capture.
//!
//! # The spawn location, with or without the feature
//!
//! [`SpawnMeta`] carries the spawn location always (the task header keeps
//! it, for diagnostics such as stall reports), so the `#[track_caller]`
//! chain from the public spawn functions down to [`SpawnMeta::task`] does
//! not depend on the feature. Only the `kind` and the span are the
//! feature's.
//!
//! # Events
//!
//! All with target `weft::scheduler`; the event's name is given first:
//!
//! | name | level | fields | when |
//! |---|---|---|---|
//! | `weft.park` | TRACE | `worker`, `timeout` (`Option<Duration>`), `watching` | a worker found no work and waits in its driver |
//! | `weft.unpark` | TRACE | `worker` | a parked worker's driver wait returned |
//! | `weft.wake_worker` | TRACE | `worker`, `reason` (`"work"`, `"watch"`) | a spawn or wake unparks a parked worker |
//! | `weft.steal` | TRACE | `worker`, `victim`, `count` | a searching worker stole tasks from a sibling's deque |
//! | `weft.lifo_rescue` | DEBUG | `worker`, `victim` | the watcher took the LIFO task of a sibling stuck in one poll |
//! | `weft.block_in_place` | DEBUG | `worker` | `block_in_place` hands the worker's core to a pool thread |
//! | `weft.block_in_place.done` | DEBUG | `worker`, `core_back` | the closure returned; `core_back`: the core had not been picked up and stays here |

use std::panic::Location;

/// What a task was spawned as and where: captured at the spawn call. The
/// location goes into the task's header; with the `tracing` feature, the
/// kind and location also become the task's span when its cell is
/// allocated.
#[derive(Clone, Copy, Debug)]
pub(super) struct SpawnMeta {
    /// `"task"`, `"blocking"` or `"block_on"` (the span's `kind` field).
    #[cfg(feature = "tracing")]
    kind: &'static str,
    location: &'static Location<'static>,
}

impl SpawnMeta {
    /// A task spawned at the call site (the first caller up the stack that
    /// is not `#[track_caller]`).
    #[track_caller]
    #[inline]
    pub(super) fn task() -> SpawnMeta {
        SpawnMeta {
            #[cfg(feature = "tracing")]
            kind: "task",
            location: Location::caller(),
        }
    }

    /// A `spawn_blocking` job spawned at the call site (as [`Self::task`]).
    #[track_caller]
    #[inline]
    pub(super) fn blocking() -> SpawnMeta {
        SpawnMeta {
            #[cfg(feature = "tracing")]
            kind: "blocking",
            location: Location::caller(),
        }
    }

    /// A `spawn_cpu` job spawned at the call site (as [`Self::task`]).
    #[track_caller]
    #[inline]
    pub(super) fn cpu() -> SpawnMeta {
        SpawnMeta {
            #[cfg(feature = "tracing")]
            kind: "cpu",
            location: Location::caller(),
        }
    }

    /// Where the task was spawned.
    #[inline]
    pub(super) fn location(self) -> &'static Location<'static> {
        self.location
    }
}

#[cfg(feature = "tracing")]
mod imp {
    use std::future::Future;
    use std::panic::Location;
    use std::time::Duration;

    use tracing::Instrument;

    use super::SpawnMeta;

    /// The target of the scheduler's events.
    macro_rules! sched {
        ($level:ident, $name:literal, $($fields:tt)*) => {
            tracing::$level!(name: $name, target: "weft::scheduler", $($fields)*)
        };
    }

    impl SpawnMeta {
        /// The span of the task: `weft.task` with its kind and location.
        pub(crate) fn span(self) -> TaskSpan {
            let loc = self.location;
            tracing::trace_span!(
                target: "weft::task",
                "weft.task",
                kind = self.kind,
                loc.file = loc.file(),
                loc.line = loc.line(),
                loc.col = loc.column(),
            )
        }
    }

    /// A task's span, stored in its cell.
    pub(crate) type TaskSpan = tracing::Span;

    /// The guard of an entered task span.
    pub(crate) type Entered<'a> = tracing::span::Entered<'a>;

    /// Enters `span` until the guard drops.
    #[inline]
    pub(crate) fn enter(span: &TaskSpan) -> Entered<'_> {
        span.enter()
    }

    /// `future`, with a `weft.task` span of kind `block_on` entered around
    /// each of its polls.
    #[track_caller]
    pub(crate) fn block_on<F: Future>(future: F) -> impl Future<Output = F::Output> {
        let meta = SpawnMeta { kind: "block_on", location: Location::caller() };
        future.instrument(meta.span())
    }

    /// Worker `worker` parks in its driver.
    #[inline]
    pub(crate) fn park(worker: usize, timeout: Option<Duration>, watching: bool) {
        sched!(trace, "weft.park", worker, timeout = ?timeout, watching);
    }

    /// Worker `worker`'s driver wait returned.
    #[inline]
    pub(crate) fn unpark(worker: usize) {
        sched!(trace, "weft.unpark", worker);
    }

    /// A parked worker is woken because a task is runnable.
    #[inline]
    pub(crate) fn wake_worker_for_work(worker: usize) {
        sched!(trace, "weft.wake_worker", worker, reason = "work");
    }

    /// A parked worker is woken to become the watcher.
    #[inline]
    pub(crate) fn wake_worker_for_watch(worker: usize) {
        sched!(trace, "weft.wake_worker", worker, reason = "watch");
    }

    /// `worker` stole `count` tasks from `victim`'s deque.
    #[inline]
    pub(crate) fn steal(worker: usize, victim: usize, count: usize) {
        sched!(trace, "weft.steal", worker, victim, count);
    }

    /// The watcher `worker` took the LIFO task of `victim`, stuck in a poll.
    #[inline]
    pub(crate) fn lifo_rescue(worker: usize, victim: usize) {
        sched!(debug, "weft.lifo_rescue", worker, victim);
    }

    /// `block_in_place` on `worker` hands its core to a pool thread.
    #[inline]
    pub(crate) fn block_in_place(worker: usize) {
        sched!(debug, "weft.block_in_place", worker);
    }

    /// `block_in_place`'s closure returned; `core_back`: the core came back.
    #[inline]
    pub(crate) fn block_in_place_done(worker: usize, core_back: bool) {
        sched!(debug, "weft.block_in_place.done", worker, core_back);
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use std::future::Future;
    use std::marker::PhantomData;
    use std::time::Duration;

    /// Without the feature: a guard that does nothing (zero-sized).
    pub(crate) struct Entered<'a>(PhantomData<&'a ()>);

    impl Entered<'_> {
        /// The do-nothing guard.
        #[inline(always)]
        pub(crate) fn none() -> Self {
            Entered(PhantomData)
        }
    }

    /// The future itself.
    #[inline(always)]
    pub(crate) fn block_on<F: Future>(future: F) -> F {
        future
    }

    /// Nothing.
    #[inline(always)]
    pub(crate) fn park(_worker: usize, _timeout: Option<Duration>, _watching: bool) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn unpark(_worker: usize) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn wake_worker_for_work(_worker: usize) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn wake_worker_for_watch(_worker: usize) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn steal(_worker: usize, _victim: usize, _count: usize) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn lifo_rescue(_worker: usize, _victim: usize) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn block_in_place(_worker: usize) {}

    /// Nothing.
    #[inline(always)]
    pub(crate) fn block_in_place_done(_worker: usize, _core_back: bool) {}
}

pub(crate) use imp::*;
