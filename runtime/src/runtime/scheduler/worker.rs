//! The worker loop: find a task, poll it, repeat; park when there is none.
//!
//! Order of looking for work (see docs/DESIGN.md): every
//! `global_queue_interval` ticks the injector first (so remote spawns are
//! not starved by a busy local queue), else the LIFO slot, the local deque,
//! a batch from the injector, then siblings' deques from a random start.
//! Every `event_interval` ticks the driver is polled without blocking.

use std::cell::RefCell;
use std::panic::Location;
use std::time::Duration;

use super::current_thread::MainWake;
use super::{Core, Notified, Shared, WorkerMetrics};
use crate::loom::deque::Steal;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::loom::sync::Arc;
use crate::runtime::context;
use crate::runtime::time::NO_DEADLINE;
use crate::trace;
use weft_util::Id;

/// Polls of LIFO-slot tasks in a row before the slot's task goes to the
/// back of the deque, so two tasks waking each other cannot starve the rest.
const MAX_LIFO_POLLS: usize = 3;

/// A worker thread's context, reachable through the thread-local so that
/// wakes on this thread are scheduled locally.
pub(crate) struct WorkerContext {
    pub(crate) shared: Arc<Shared>,
    pub(super) index: usize,
    /// The core while a task is polled or the worker parks; `None` while
    /// the loop itself holds it.
    pub(crate) core: RefCell<Option<Box<Core>>>,
}

/// On a current-thread runtime, the future given to `block_on`, which the
/// worker loop polls between tasks whenever it was woken. Its presence is
/// the one thing that makes a loop the current-thread flavor's.
pub(super) struct MainFuture<'a> {
    /// Its waker's state: whether it was woken since the last poll.
    pub(super) wake: &'a MainWake,
    /// Polls it once; true once it completed.
    pub(super) poll: &'a mut dyn FnMut() -> bool,
    /// Not a task, but it stalls the runtime like one: the stall monitor
    /// names it by this id and by the `block_on` call.
    pub(super) id: Id,
    pub(super) called_at: &'static Location<'static>,
}

/// True if the current-thread `block_on` future waits to be polled.
fn main_woken(main: Option<&MainWake>) -> bool {
    main.is_some_and(MainWake::is_woken)
}

/// Body of worker thread `index`; see [`run_core`].
pub(crate) fn run_worker(shared: Arc<Shared>, index: usize) {
    let core = shared.take_core(index);
    run_core(shared, core);
}

/// Runs a worker core on this thread until shutdown, then shuts down the
/// owned tasks and drains the core's queues here. Returns early, without
/// shutting anything down, if a task handed the core to another thread
/// (`block_in_place`): that thread carries on with it.
pub(crate) fn run_core(shared: Arc<Shared>, core: Box<Core>) {
    // While this thread runs the core, the stall monitor samples its stack.
    let _sampled = shared.sample_worker_thread(core.index);
    let cx = WorkerContext::new(shared.clone(), core.index);
    let _enter = context::enter(shared.clone());
    let index = core.index;
    context::set_worker(&cx, || match cx.run(core, None) {
        Some(core) => {
            shared.shutdown_core(&core);
            // The tasks are gone (their abandoned reads and opens with
            // them): before this thread exits, its ring's writes, syncs and
            // closes finish (the kernel would cancel them with the thread).
            // The core is still held, so no other thread owns the ring.
            shared.drain_uring(index, true);
            drop(core);
            shared.core_finished();
        }
        // The core went to another thread (`block_in_place`), which owns
        // the ring now: wait for what this thread submitted.
        None => shared.drain_uring(index, false),
    });
}

impl WorkerContext {
    pub(super) fn new(shared: Arc<Shared>, index: usize) -> WorkerContext {
        WorkerContext { shared, index, core: RefCell::new(None) }
    }

    fn metrics(&self) -> &WorkerMetrics {
        self.shared.worker_metrics(self.index)
    }

    /// The loop. Returns the core at shutdown, `None` if a task gave the
    /// core away (`block_in_place`). With `main` (the current-thread
    /// flavor's `block_on`), it also polls the main future whenever that
    /// was woken, and returns the core once a poll says it completed.
    pub(super) fn run(
        &self,
        mut core: Box<Core>,
        mut main: Option<MainFuture<'_>>,
    ) -> Option<Box<Core>> {
        let config = &self.shared.config;
        while !self.shared.is_shutdown() {
            if let Some(main) = main.as_mut() {
                // The plain load first: this runs before every task, and
                // the swap is a locked instruction even when nothing woke
                // the main future (the common case between its wakes). A
                // stale `false` only delays its poll: the loop asks again
                // before the next task, and `park` checks again before and
                // after announcing itself, where the waker's driver unpark
                // ends any wait (see `MainWake::wake_by_ref`). `take_woken`
                // is still the Acquire read that decides the poll.
                if main.wake.is_woken() && main.wake.take_woken() {
                    // In the context, so spawns and wakes from the main
                    // future go to this worker's queues.
                    *self.core.borrow_mut() = Some(core);
                    let done = match self.shared.watched_poll_slot(self.index) {
                        Some(slot) => {
                            slot.begin(main.id.as_u64(), main.called_at);
                            // Cleared even if the main future panics (the
                            // panic leaves `block_on`; no poll is in
                            // progress after it).
                            slot.end_after(|| (main.poll)())
                        }
                        None => (main.poll)(),
                    };
                    core = self.core.borrow_mut().take()?;
                    if done {
                        return Some(core);
                    }
                }
            }
            core.tick = core.tick.wrapping_add(1);
            if core.tick % config.event_interval == 0 {
                // Serve the driver even while busy (I/O and timers land here).
                core = self.park_driver(core, Some(Duration::ZERO), false);
            }
            if let Some(task) = self.next_task(&mut core) {
                core = self.run_task(core, task)?;
                continue;
            }
            if let Some(task) = self.steal_work(&mut core) {
                core = self.run_task(core, task)?;
                continue;
            }
            let (back, rescued) = self.park(core, main.as_ref().map(|main| main.wake));
            core = back;
            if let Some(task) = rescued {
                core = self.run_task(core, task)?;
            }
        }
        Some(core)
    }

    /// Local work, with the periodic injector-first check for fairness.
    fn next_task(&self, core: &mut Core) -> Option<Notified> {
        if core.tick % self.shared.config.global_queue_interval == 0 {
            if let Some(task) = self.pop_injector(core) {
                return Some(task);
            }
        }
        self.shared.remotes[self.index]
            .lifo
            .take()
            .or_else(|| core.local.pop())
            .or_else(|| self.pop_injector(core))
    }

    /// One task from the injector plus a batch moved to the local deque;
    /// if a batch came along, a parked sibling may help with it.
    fn pop_injector(&self, core: &mut Core) -> Option<Notified> {
        loop {
            match self.shared.injector.steal_batch_and_pop(&core.local) {
                Steal::Success(task) => {
                    if !core.local.is_empty() {
                        self.shared.notify_parked();
                    }
                    return Some(task);
                }
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Steals half of a sibling's deque (or a batch of the injector), as a
    /// searching worker; at most half the workers search at once.
    fn steal_work(&self, core: &mut Core) -> Option<Notified> {
        if !core.is_searching {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            core.is_searching = true;
        }
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        core.rand ^= core.rand << 13;
        core.rand ^= core.rand >> 17;
        core.rand ^= core.rand << 5;
        let start = core.rand as usize % n;
        loop {
            let mut retry = false;
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                let before = core.local.len();
                match remotes[victim].stealer.steal_batch_and_pop(&core.local) {
                    Steal::Success(task) => {
                        let stolen = 1 + core.local.len().saturating_sub(before);
                        trace::steal(self.index, victim, stolen);
                        WorkerMetrics::bump(&self.metrics().steals, stolen as u64);
                        return Some(task);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            match self.shared.injector.steal_batch_and_pop(&core.local) {
                Steal::Success(task) => return Some(task),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            if !retry {
                return None;
            }
        }
    }

    /// Polls `task`, then up to [`MAX_LIFO_POLLS`] tasks it woke into the
    /// LIFO slot.
    fn run_task(&self, mut core: Box<Core>, task: Notified) -> Option<Box<Core>> {
        if core.is_searching {
            core.is_searching = false;
            if self.shared.idle.transition_worker_from_searching() {
                // The last searcher found work: there may be more, so
                // wake another worker to keep looking.
                self.shared.notify_parked();
            }
        }
        core = self.poll(core, task)?;
        let lifo = &self.shared.remotes[self.index].lifo;
        for polls in 0.. {
            let Some(task) = lifo.take() else { break };
            if polls == MAX_LIFO_POLLS {
                core.local.push(task);
                self.shared.notify_parked();
                break;
            }
            core = self.poll(core, task)?;
        }
        Some(core)
    }

    /// One poll, with the core in the thread context so the task's wakes
    /// reach this worker's queues. `None`: the task gave the core away.
    fn poll(&self, mut core: Box<Core>, task: Notified) -> Option<Box<Core>> {
        self.settle_watch(&mut core);
        WorkerMetrics::bump(&self.metrics().polls, 1);
        // For the stall monitor (stall rule 1), unless detection is off;
        // the histograms, unless none is enabled.
        let (slot, timings) = self.shared.poll_watchers(self.index);
        if let Some(slot) = slot {
            slot.begin(task.id().as_u64(), task.spawned_at());
        }
        let started = timings.map(|timings| timings.poll_starts(&self.shared.clock, &task));
        *self.core.borrow_mut() = Some(core);
        task.run();
        let core = self.core.borrow_mut().take();
        // Without the core, `block_in_place` gave this worker away and
        // cleared the slot: the replacement thread owns it now.
        if core.is_some() {
            if let Some(slot) = slot {
                slot.end();
            }
            if let (Some(timings), Some(started)) = (timings, started) {
                timings.poll_ended(started);
            }
        }
        core
    }

    /// Parks until there may be work. Returns a task when, as the watcher,
    /// it rescued one from the LIFO slot of a worker stuck in a long poll.
    fn park(&self, mut core: Box<Core>, main: Option<&MainWake>) -> (Box<Core>, Option<Notified>) {
        let shared = &self.shared;
        let idle = &shared.idle;
        if shared.remotes[self.index].lifo.is_occupied()
            || !core.local.is_empty()
            || main_woken(main)
        {
            return (core, None);
        }
        // A parked worker serves its own timers and driver, and its LIFO
        // slot is empty: nothing for a watcher.
        core.watch.drop_on_park();
        let was_searching = std::mem::replace(&mut core.is_searching, false);
        let last_searcher = idle.transition_worker_to_parked(self.index, was_searching);

        // Re-check after announcing: a push that read the idle state before
        // our announcement did not wake anyone (see idle.rs).
        let recheck =
            shared.has_stealable_work(self.index) || shared.is_shutdown() || main_woken(main);
        let (mut core, rescued) = if recheck {
            if self.leave_parked(&mut core) && last_searcher {
                // The last searcher found work: pushes meanwhile woke
                // nobody, counting on it, so it wakes another (idle.rs).
                // Unlisted by a notifier instead, it counts as searching,
                // and `run_task` applies the same rule.
                shared.notify_parked();
            }
            (core, None)
        } else {
            let (core, rescued, watching) = self.park_loop(core, main);
            if watching {
                // The one place the role is given up on the way out, so
                // no return path can leave the flag set with no watcher
                // behind it (while set, LIFO pushes and timers wake
                // nobody).
                idle.stop_watching();
                if !shared.is_shutdown() {
                    // Off to work, perhaps beside a stuck sibling: hand
                    // the role on, whatever this worker holds itself.
                    shared.notify_for_watch();
                }
            }
            (core, rescued)
        };
        // Back to work, on every path: before its next poll this worker
        // asks for a watcher if it holds something only a watcher could
        // serve (`settle_watch`). Its timers and sources wait in its own
        // wheel and driver, which no parked sibling looks at unless it
        // watches.
        core.watch.want();
        (core, rescued)
    }

    /// [`Self::park`]'s loop, from the announcement on: parks until this
    /// worker should run, taking or dropping the watcher role on the way.
    /// Returns whether it still holds the role (the caller gives it up).
    fn park_loop(
        &self,
        mut core: Box<Core>,
        main: Option<&MainWake>,
    ) -> (Box<Core>, Option<Notified>, bool) {
        let shared = &self.shared;
        let idle = &shared.idle;
        let mut watching = false;
        loop {
            if !watching && idle.any_unparked() && idle.try_become_watcher() {
                watching = true;
                for (i, remote) in shared.remotes.iter().enumerate() {
                    core.seen_polls[i] = WorkerMetrics::read(&remote.metrics.polls);
                }
            }
            let timeout = self.park_timeout(watching);
            let (back, timeout) = self.auto_advance(core, timeout, main);
            core = back;
            WorkerMetrics::bump(&self.metrics().parks, 1);
            trace::park(self.index, timeout, watching);
            let hooks = &shared.config.park_hooks;
            weft_util::unwind::run_hook("weft", "on_thread_park", hooks.park.as_ref());
            core = self.park_driver(core, timeout, true);
            weft_util::unwind::run_hook("weft", "on_thread_unpark", hooks.unpark.as_ref());
            trace::unpark(self.index);

            if shared.is_shutdown() || self.transition_from_parked(&mut core) {
                return (core, None, watching);
            }
            if main_woken(main) {
                // Still listed as parked (a current-thread runtime has no
                // sibling to watch): leave the idle set and go poll it.
                self.leave_parked(&mut core);
                return (core, None, watching);
            }
            if !watching {
                continue;
            }
            if let Some(task) = self.rescue_stuck_lifo(&mut core) {
                self.leave_parked(&mut core);
                return (core, Some(task), watching);
            }
            if !idle.any_unparked() {
                // Everyone is parked: nobody to watch. Give the role up;
                // the loop top re-reads the idle state after this (pairs
                // with `notify_for_watch` of a worker that went back to
                // work after our read: if it still saw the role held, that
                // re-read sees it unparked and the role is taken again).
                idle.stop_watching();
                watching = false;
            }
        }
    }

    /// Leaves the idle set on the way back to work: the step every way out
    /// of a park takes, except the shutdown exit (nothing runs after it)
    /// and `transition_from_parked` when it already saw that a notifier
    /// unlisted it. Still listed as parked, the worker takes itself off
    /// and is not a searcher; already taken off by a notifier, it was
    /// counted as searching then (idle.rs), and searches. Returns whether
    /// it was still listed.
    fn leave_parked(&self, core: &mut Core) -> bool {
        let listed = self.shared.idle.unpark_worker_by_id(self.index);
        core.is_searching = !listed;
        listed
    }

    /// How long to park: until this worker's earliest timer; at most the
    /// watch interval while watching; forever if it has no timers.
    ///
    /// Siblings' timers are not this worker's business unless it watches:
    /// a parked sibling fires its own timers at its own timeout, and only
    /// an unparked one can be stuck. An unparked worker holding timers has
    /// a watcher, or one on its way (idle.rs), before it polls anything
    /// (`settle_watch`, asked for by every way back to work from `park`),
    /// and a watcher that leaves hands the role on. So an owner's
    /// timers wake no sibling while the owner parks between them, and
    /// when it is stuck only the watcher acts. (Except for what the stuck
    /// poll itself registered: see [`DeferredWatch`](super::DeferredWatch).)
    fn park_timeout(&self, watching: bool) -> Option<Duration> {
        let shared = &self.shared;
        let own = shared.remotes[self.index].time.next_deadline();
        // A paused clock moves only by `advance` or `auto_advance`, which
        // both make sure the worker looks: no real time to wait for.
        let timers =
            (own != NO_DEADLINE && !shared.clock.is_paused()).then(|| shared.clock.until(own));
        match (timers, watching) {
            (Some(t), true) => Some(t.min(Shared::WATCH_INTERVAL)),
            (None, true) => Some(Shared::WATCH_INTERVAL),
            (t, false) => t,
        }
    }

    /// A paused clock (current-thread only; see `time::clock`), timers
    /// pending and nothing else to run: instead of waiting for a time that
    /// would never come, polls the driver once without waiting (I/O
    /// readiness first, as in Tokio) and, if that made nothing runnable,
    /// moves the clock to the earliest timer. Returns the timeout to park
    /// with: zero once the clock is there (that park fires the timer).
    fn auto_advance(
        &self,
        core: Box<Core>,
        timeout: Option<Duration>,
        main: Option<&MainWake>,
    ) -> (Box<Core>, Option<Duration>) {
        let shared = &self.shared;
        let me = &shared.remotes[self.index];
        if me.time.next_deadline() == NO_DEADLINE || !shared.clock.can_auto_advance() {
            return (core, timeout);
        }
        let core = self.park_driver(core, Some(Duration::ZERO), true);
        // Work that arrived: a task woken or spawned (here, or remotely,
        // which unlists this worker), the main future woken, shutdown.
        let woke = me.lifo.is_occupied()
            || !core.local.is_empty()
            || main_woken(main)
            || !shared.idle.is_parked(self.index)
            || shared.is_shutdown();
        if woke {
            return (core, Some(Duration::ZERO));
        }
        // Re-read: the poll may have fired or removed timers.
        let next = me.time.next_deadline();
        if next != NO_DEADLINE && shared.clock.auto_advance_to(next) {
            return (core, Some(Duration::ZERO));
        }
        (core, timeout)
    }

    /// Waits in the driver, then fires due timers: this worker's, and with
    /// `serve_siblings` those of siblings too busy to fire their own. The
    /// core sits in the thread context meanwhile, so the wakes land in this
    /// worker's queues.
    fn park_driver(
        &self,
        mut core: Box<Core>,
        timeout: Option<Duration>,
        serve_siblings: bool,
    ) -> Box<Core> {
        let mut driver = core.driver.take().expect("the core owns its driver");
        let mut wakers = std::mem::take(&mut core.timer_wakers);
        core.watch.set_dispatching(true);
        *self.core.borrow_mut() = Some(core);

        driver.park(timeout);
        let shared = &self.shared;
        let now = shared.clock.now_tick();
        let me = &shared.remotes[self.index];
        // Relaxed: a staleness hint for siblings.
        me.io_polled.store(now, Relaxed);
        me.time.advance(now, &mut wakers);
        if serve_siblings {
            // Siblings stuck in a long poll: fire their due timers and poll
            // their drivers (zero timeout, never while another thread
            // polls them) once they have not been polled for over a tick.
            for i in (0..shared.remotes.len()).filter(|&i| i != self.index) {
                shared.serve_stale_worker(i, now, Some(&mut driver), &mut wakers);
            }
        }
        for waker in wakers.drain(..) {
            // Timer wakers are user code (any waker a `Sleep` was polled
            // with): a panic must not unwind out of the worker loop, which
            // would strand the core and hang shutdown.
            crate::unwind::contain(|| waker.wake());
        }

        let mut core =
            self.core.borrow_mut().take().expect("the worker core is back after parking");
        core.watch.set_dispatching(false);
        core.driver = Some(driver);
        core.timer_wakers = wakers;
        core
    }

    /// After a wake-up: true if this worker should go back to work.
    fn transition_from_parked(&self, core: &mut Core) -> bool {
        let idle = &self.shared.idle;
        if self.shared.remotes[self.index].lifo.is_occupied() || !core.local.is_empty() {
            // Work arrived on this thread (a driver wake).
            self.leave_parked(core);
            return true;
        }
        if idle.is_parked(self.index) {
            return false;
        }
        // A notifier unlisted us and counted us as searching.
        core.is_searching = true;
        true
    }
}
