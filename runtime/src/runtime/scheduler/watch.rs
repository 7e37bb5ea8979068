//! The LIFO slot and the watcher: what a worker stuck in one long poll
//! would hold hostage, and who rescues it.
//!
//! The rules:
//!
//! 1. **What a stuck worker holds.** A task in its LIFO slot (ordinary
//!    stealers take only from deques: the slot is the owner's, for
//!    message-passing locality), due timers in its wheel, and events of
//!    its driver's I/O sources.
//! 2. **One watcher.** At most one parked worker holds the watcher role
//!    ([`Idle::try_become_watcher`](super::Idle::try_become_watcher)),
//!    and only while some sibling is unparked. It parks for at most
//!    [`Shared::WATCH_INTERVAL`], so someone wakes in time. Every parked
//!    worker, on every wake, fires siblings' stale timers
//!    (`TimeShared::serve_stale`) and polls their stale drivers with a
//!    zero timeout (`Driver::serve`, never while another thread polls
//!    them); only the watcher takes the LIFO task of a sibling stuck in
//!    one poll ([`WorkerContext::rescue_stuck_lifo`]), and, with stall
//!    detection on, the stall monitor (rule 8).
//! 3. **No wake while the role is held.** A LIFO-only push, or a new
//!    timer on its owner's thread, wakes nobody when a watcher exists
//!    ([`Shared::notify_for_watch`]), so message passing and timers on a
//!    busy worker cost no syscalls. (A timer added from another thread
//!    also unparks its owner: rule 7.)
//! 4. **The invariant.** A worker that polls a task while holding
//!    something of rule 1 has a watcher, or one on its way. It asks before
//!    the poll ([`WorkerContext::settle_watch`]); the ask wakes nobody only
//!    when the role is held, when nobody is parked, or when a worker
//!    searches (the last searcher either parks, taking the role if anyone
//!    is unparked, or finds work and wakes another: idle rule 3).
//! 5. **Asks are put off to the next poll** ([`DeferredWatch`]) when the
//!    worker dispatches its own wake-ups or registers a timer or source on
//!    its own thread ([`defer_own_watch`]); every way back to work from a
//!    park sets the ask too (the worker's `park`, on its single exit), and
//!    parking drops it (a parked worker serves its own wheel and driver).
//! 6. **The role is handed on, never dropped silently.** A watcher that
//!    leaves to run a task asks for a new one; one that gives the role up
//!    because everyone is parked re-reads the idle state
//!    ([`Idle::stop_watching`](super::Idle::stop_watching)).
//! 7. **From another thread**, a new timer unparks its wheel's owner and a
//!    new source is left to it, and either asks for a watcher only if the
//!    owner is not parked ([`Shared::timer_lowered`],
//!    [`Shared::source_added`]): a parked owner serves them, and if it goes
//!    back to work it asks itself (rule 5), seeing what was added.
//! 8. **The stall monitor rescues too, parked workers or not.** The
//!    watcher exists only while someone is parked; for when every other
//!    worker is busy too, the stall monitor (its own thread, `runtime::stall`)
//!    does rule 2's work for a worker stuck in one poll for over a monitor
//!    tick ([`Shared::rescue_stalled`]): it fires the worker's due timers,
//!    polls its driver, and moves its LIFO task and queued tasks to the
//!    injector, which busy workers check every `global_queue_interval`
//!    ticks. (Only while stall detection is on: `stall_threshold(None)`
//!    leaves rule 2 alone.)
//!
//! Accepted gap: a timer or source registered by the very poll that then
//! blocks its worker (see [`DeferredWatch`]).
//!
//! Checked by the loom models in `loom-tests/tests/watch.rs`.

use std::time::Duration;

use super::{Core, Notified, Shared, WorkerContext, WorkerMetrics};
#[cfg(not(loom))]
use crate::loom::deque::Steal;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::loom::sync::Arc;
use crate::runtime::context;
use crate::runtime::driver::Driver;
use crate::runtime::time::NO_DEADLINE;
use crate::trace;

/// A watch notification a worker put off (see `Shared::notify_for_watch`).
///
/// A worker that runs what its own park woke, registers a timer for the
/// task it polls, or goes back to work after parking need not wake a
/// sibling to watch it right away: if it parks next it serves its timers
/// itself, and the task it polls next is the one it woke. It settles the
/// request before it polls any task (`WorkerContext::settle_watch`), the
/// point where it may get stuck while holding something only a watcher
/// could serve; parking drops it. Without this, a task sleeping in a loop
/// on an otherwise idle runtime woke a parked sibling for every timer.
///
/// Accepted gap: a timer registered (or an I/O source added) by the very
/// poll that then blocks the worker. If a watcher exists anyway (another
/// worker is busy) or the task puts something in the LIFO slot (that
/// notifies at once), the timer is served; otherwise it fires only when
/// the poll returns. That costs nothing when the timer's waker is the
/// blocked task's own, the usual case, since that task cannot run before
/// its poll returns. It delays others when the waker wakes someone else:
/// a shared future (`futures::future::Shared`) whose other waiters run
/// elsewhere, a combinator that stores another task's waker, or a `Sleep`
/// polled once and then handed to a plain thread or to a task that is
/// already running elsewhere. Blocking inside a poll is outside the
/// contract (`block_in_place` is for that); the watcher limits the damage
/// for what a worker held before the poll began.
#[derive(Debug, Default)]
pub(crate) struct DeferredWatch {
    /// The worker's core is in the thread context only to receive the
    /// wake-ups of its own park or driver poll.
    dispatching: bool,
    /// A notification was put off.
    wanted: bool,
}

impl DeferredWatch {
    /// A LIFO-only push on this core: true if its watch notification is put
    /// off (the worker is dispatching its own wake-ups and runs the task
    /// itself next); false if the caller must notify now (a task pushed it
    /// and may keep this worker stuck with the pushed task behind it).
    pub(super) fn defer_lifo_push(&mut self) -> bool {
        self.wanted |= self.dispatching;
        self.dispatching
    }

    /// Puts an ask off to the next poll (rule 5).
    pub(super) fn want(&mut self) {
        self.wanted = true;
    }

    /// The worker parks: it serves its own wheel and driver, and its LIFO
    /// slot is empty, so there is nothing to ask a watcher for.
    pub(super) fn drop_on_park(&mut self) {
        self.wanted = false;
    }

    /// The worker's core sits in the thread context only to receive the
    /// wake-ups of its own park or driver poll (`true`), or no longer
    /// (`false`).
    pub(super) fn set_dispatching(&mut self, dispatching: bool) {
        self.dispatching = dispatching;
    }
}

/// `worker` got something only a watcher could serve if it got stuck (its
/// earliest timer moved earlier, or an I/O source was registered with its
/// driver) on this thread. If this thread runs `worker` (holding its core),
/// puts the watch notification off (see [`DeferredWatch`]) and returns true.
fn defer_own_watch(shared: &Shared, worker: usize) -> bool {
    context::with_worker(|cx| match cx {
        Some(cx) if std::ptr::eq(Arc::as_ptr(&cx.shared), shared) && cx.index == worker => {
            match cx.core.try_borrow_mut().as_deref_mut() {
                Ok(Some(core)) => {
                    core.watch.want();
                    true
                }
                _ => false,
            }
        }
        _ => false,
    })
}

impl Shared {
    /// Something only a watcher would rescue if this worker got stuck (a
    /// LIFO-only push, a timer on a busy worker): wake a parked worker to
    /// become the watcher unless one exists (see idle.rs).
    pub(super) fn notify_for_watch(&self) {
        if let Some(index) = self.idle.worker_to_notify_for_watch() {
            self.wake_watcher(index);
        }
    }

    fn wake_watcher(&self, index: usize) {
        trace::wake_worker_for_watch(index);
        self.remotes[index].driver.unpark();
    }

    /// `worker`'s earliest deadline moved earlier: make sure someone looks
    /// in time. On the owner's own thread, a watcher once the owner polls
    /// another task (put off, see `DeferredWatch`). From another thread,
    /// the owner, which may be parked with a later timeout; and a watcher
    /// in case the owner is stuck, unless it is parked: a parked owner
    /// fires the timer itself, and if it goes back to work instead it asks
    /// for a watcher before its next poll (the worker's `park`). That ask
    /// sees this timer: it reads the wheel after leaving the idle list,
    /// and the ask here read the list, under its lock, after the timer was
    /// published.
    pub(crate) fn timer_lowered(&self, worker: usize) {
        if defer_own_watch(self, worker) {
            return;
        }
        self.remotes[worker].driver.unpark();
        self.watch_unless_parked(worker);
    }

    /// An I/O source was registered with `worker`'s driver: as for a timer
    /// (see [`Shared::timer_lowered`]), on the worker's own thread the ask
    /// for a watcher is put off to its next poll; from anywhere else a
    /// watcher is asked for unless the owner is parked (a parked owner
    /// waits in its own poll, which delivers the source's events; if it
    /// goes back to work, its ask before the next poll sees the source: the
    /// count was raised under the sources lock before the ask here took the
    /// idle list's lock, which the owner takes to leave the list).
    #[cfg(not(loom))]
    pub(super) fn source_added(&self, worker: usize) {
        if defer_own_watch(self, worker) {
            return;
        }
        self.watch_unless_parked(worker);
    }

    /// Asks for a watcher unless `worker` is parked (see
    /// [`Idle::worker_to_notify_for_watch_of`](super::Idle::worker_to_notify_for_watch_of)).
    fn watch_unless_parked(&self, worker: usize) {
        if let Some(index) = self.idle.worker_to_notify_for_watch_of(worker) {
            self.wake_watcher(index);
        }
    }

    /// The watcher's park interval: how long a task may sit in the LIFO
    /// slot of a worker stuck in one poll before a sibling takes it.
    pub(super) const WATCH_INTERVAL: Duration = Duration::from_millis(1);
}

impl Shared {
    /// Rule 2's service of a sibling `worker` that may be stuck in one poll
    /// (also rule 8's, from the stall monitor): fires its wheel's due timers
    /// if the owner has not advanced it for over a tick, and polls its
    /// driver with zero timeout through `server`'s events buffer if it has
    /// sources and has not been polled for over a tick (never while another
    /// thread polls it). The wakers go to `wakers`, for the caller to wake.
    pub(super) fn serve_stale_worker(
        &self,
        worker: usize,
        now: u64,
        server: Option<&mut Driver>,
        wakers: &mut Vec<std::task::Waker>,
    ) {
        let remote = &self.remotes[worker];
        remote.time.serve_stale(now, wakers);
        let Some(server) = server else { return };
        // Relaxed: `io_polled` is a staleness hint; the poll lock (try_lock
        // in `serve`) is what keeps polls exclusive.
        if remote.driver.has_sources()
            && remote.io_polled.load(Relaxed) + 1 < now
            && server.serve(&remote.driver)
        {
            remote.io_polled.store(now, Relaxed);
        }
    }

    /// Rule 8: `worker` is stuck in one poll and maybe nobody is parked to
    /// watch it. Fires its due timers and polls its driver (zero timeout;
    /// with `server`'s events buffer) here, then moves its LIFO task and
    /// queued tasks to the injector, so busy siblings take them.
    #[cfg(not(loom))]
    pub(crate) fn rescue_stalled(&self, worker: usize, server: Option<&mut Driver>) {
        let remote = &self.remotes[worker];
        let mut wakers = Vec::new();
        self.serve_stale_worker(worker, self.clock.now_tick(), server, &mut wakers);
        for waker in wakers {
            // User wakers: a panic must not end the monitor.
            crate::unwind::contain(|| waker.wake());
        }
        let mut moved = Vec::new();
        if let Some(task) = remote.lifo.take() {
            moved.push(task);
        }
        loop {
            match remote.stealer.steal() {
                Steal::Success(task) => moved.push(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        for task in moved {
            // The caller holds its own `Arc<Shared>` (not one inside a task
            // cell), so dropping what shutdown handed back is fine here.
            drop(self.push_remote(task));
        }
    }
}

impl WorkerContext {
    /// Before polling a task, which may keep this worker stuck: sends the
    /// watch notification it put off, if it holds something only a watcher
    /// could serve meanwhile (a task in its LIFO slot, timers, I/O sources).
    /// Nothing in the wheel or driver yet: a timer or source the poll adds
    /// is the accepted gap of [`DeferredWatch`].
    pub(super) fn settle_watch(&self, core: &mut Core) {
        if !std::mem::take(&mut core.watch.wanted) {
            return;
        }
        let me = &self.shared.remotes[self.index];
        if me.lifo.is_occupied()
            || me.time.next_deadline() != NO_DEADLINE
            || me.driver.has_sources()
        {
            self.shared.notify_for_watch();
        }
    }

    /// The watcher's look: a sibling whose LIFO slot is occupied, whose
    /// poll count has not moved since the last look, and which has not
    /// advanced its timer wheel for over a tick is stuck in one poll; take
    /// its LIFO task. (The last test spares most siblings just woken from
    /// a long park with a task in their slot; not all: I/O wake-ups are
    /// delivered before the waking worker records its wheel's advance, so
    /// in that short window it can still look stuck and lose the task to
    /// the watcher, which is harmless: the task just runs on the watcher.)
    pub(super) fn rescue_stuck_lifo(&self, core: &mut Core) -> Option<Notified> {
        let now = self.shared.clock.now_tick();
        for (i, remote) in self.shared.remotes.iter().enumerate() {
            if i == self.index {
                continue;
            }
            let polls = WorkerMetrics::read(&remote.metrics.polls);
            let stuck = polls == core.seen_polls[i] && remote.time.owner_stuck(now);
            core.seen_polls[i] = polls;
            if stuck && remote.lifo.is_occupied() {
                if let Some(task) = remote.lifo.take() {
                    trace::lifo_rescue(self.index, i);
                    WorkerMetrics::bump(&self.shared.worker_metrics(self.index).steals, 1);
                    return Some(task);
                }
            }
        }
        None
    }
}
