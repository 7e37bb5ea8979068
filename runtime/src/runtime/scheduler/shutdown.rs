//! Shutdown: how a runtime stops, and why nothing is leaked or polled
//! after it.
//!
//! The rules, in the order a shutdown goes through them:
//!
//! 1. **Flag first.** [`Shared::close`] sets the shutdown flag (SeqCst),
//!    closes every driver's registrations (a new socket fails at once) and
//!    unparks every worker. A worker checks the flag once per turn of its
//!    loop, so after close it finishes at most the turn it is in: the task
//!    it picked and the few LIFO tasks that task woke.
//! 2. **Each core shuts down on the thread that holds it**
//!    ([`Shared::shutdown_core`]). Each closes the owned-task list and
//!    cancels every task in it, dropping each future on this runtime
//!    thread with [`context::dropping_tasks`] marked (a `block_on` from a
//!    destructor then panics instead of hanging). Cores that get there
//!    together share the work: the list is sharded, each core starts at its
//!    own shard, and a shard is emptied under its lock, so each task is
//!    cancelled once. Then the core drops the queue references in its LIFO
//!    slot and deque. A closed list refuses new tasks (`OwnedTasks::bind`
//!    cancels them at once), so from here on no task is polled again and
//!    every future is dropped exactly once.
//! 3. **A core nobody runs is shut down by whoever finds it**
//!    ([`Shared::abandon_core`]): a `block_in_place` hand-off the pool
//!    refused, or a current-thread core waiting in its slot. (A core whose
//!    thread never started is only counted out; rule 5 shuts it down.) For the slot, its lock decides:
//!    [`Shared::return_core`] reads the flag under it, and
//!    `Runtime::shutdown` takes the core under it after setting the flag,
//!    so exactly one of them shuts the core down.
//! 4. **The injector has no closed bit; the pusher checks instead.**
//!    crossbeam's `Injector` cannot be closed, so a remote push may land
//!    after the final drain. Every push re-reads the flag after pushing
//!    ([`Shared::take_back_after_shutdown`]) and, if set, takes everything
//!    back out for its caller to drop. Either the push precedes the final
//!    drain, or the pusher sees the flag: the close stores the flag then
//!    fences, the pusher pushes then fences (SeqCst both) then reads it.
//!    (A closed bit of our own would cost every remote push two atomic
//!    read-modify-writes on a shared line, a pushers-in-flight count that
//!    close waits on, where this costs one load; the protocol stays here.)
//! 5. **The last core out finishes** ([`Shared::core_finished`] counts
//!    down; the last runs [`Shared::finish_shutdown`]): it shuts down the
//!    cores that never ran, wakes `block_on` callers waiting for a
//!    current-thread core, empties the LIFO slots, fails every I/O wait,
//!    wakes every timer and drains the injector. After it the owned list is
//!    closed and empty.
//! 6. **The runtime waits in this order** (`Runtime::shutdown`): close;
//!    take a current-thread core from its slot; wait for the cores
//!    ([`Shared::wait_cores_finished`], up to the deadline); if they did not
//!    all finish (a worker stuck in a long poll), fail every I/O wait and
//!    wake every timer now ([`Shared::fail_waits_after_timeout`]) so nothing
//!    waits on a driver or wheel nobody serves; shut the blocking pool down
//!    with the time left; join the worker threads that finished.
//! 7. **User code cannot derail it.** Destructors, wakers and hooks run
//!    during shutdown inside `unwind::contain`, so a panic in one is
//!    reported and the core still finishes (a stranded core would hang
//!    rule 5).
//!
//! Checked by: the loom models `shutdown_racing_spawn` (rules 1, 4, 5;
//! `loom-tests/tests/scheduler.rs`), `shutdown_racing_block_on_returning_the_core`
//! and `shutdown_racing_two_block_on_callers` (rule 3; `current_thread.rs`),
//! `shutdown_racing_wake` (rule 2; `task_state.rs`); the test below (rule
//! 4's hand-back); and `runtime/tests/shutdown.rs` and `pin_probe.rs`
//! (rule 2's "exactly once", rule 6) on real runtimes.

use super::{Core, Notified, Shared, Unqueued};
use crate::loom::deque::Steal;
use crate::loom::sync::atomic::{fence, Ordering::*};
use crate::loom::sync::Condvar;
use crate::runtime::context;

impl Shared {
    /// True once [`Shared::close`] ran (rule 1).
    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `close`.
        self.shutdown.load(Acquire)
    }

    /// Starts shutdown (rule 1): no worker polls another task; each worker
    /// shuts down the owned tasks and drains its queues on its own thread.
    pub(crate) fn close(&self) {
        self.shutdown.store(true, SeqCst);
        fence(SeqCst);
        for remote in self.remotes.iter() {
            // From now on a new socket fails to register at once, even if a
            // worker stuck in a long poll delays `finish_shutdown` (which
            // fails the sources already registered) past a
            // `shutdown_timeout`.
            remote.driver.close_registrations();
            remote.driver.unpark();
        }
    }

    /// `shutdown_timeout` gave up waiting for a core (a worker stuck in a
    /// long poll): fail every I/O wait and wake every timer now rather than
    /// when that worker finishes, so a future awaiting a socket or a sleep
    /// through a `Handle` does not wait on a driver or wheel nobody serves.
    pub(crate) fn fail_waits_after_timeout(&self) {
        for remote in self.remotes.iter() {
            remote.driver.shutdown_io();
            // Timers too: nobody advances a stuck worker's wheel. Safe while
            // that worker still runs: the flag is set, and a registration
            // reads it under the wheel lock that this takes.
            remote.time.wake_all_at_shutdown();
        }
    }

    /// Rule 4, after every injector push: if the runtime is shut down, the
    /// final drain may have run before the push, so take everything back
    /// out of the injector (no queue reference is leaked) and hand it to
    /// the caller to drop (see [`Unqueued`]). The caller's SeqCst fence
    /// (in `notify_parked`) orders its push before this load.
    pub(super) fn take_back_after_shutdown(&self) -> Unqueued {
        if self.is_shutdown() {
            Unqueued::of(self.take_injector())
        } else {
            Unqueued::none()
        }
    }

    /// Takes every task reference left in the injector.
    fn take_injector(&self) -> Vec<Notified> {
        let mut taken = Vec::new();
        loop {
            match self.injector.steal() {
                Steal::Success(task) => taken.push(task),
                Steal::Retry => continue,
                Steal::Empty => return taken,
            }
        }
    }

    /// Drops every task reference left in the injector. Only for callers
    /// that hold their own `Arc<Shared>` (a worker, the runtime), never
    /// from inside a task's scheduler handle.
    fn drain_injector(&self) {
        drop(self.take_injector());
    }

    /// Shutdown of one core, on the thread that holds it: cancel every
    /// owned task (cores here at once share the shards; see rule 2), then
    /// drop the queue references the core holds.
    pub(super) fn shutdown_core(&self, core: &Core) {
        context::dropping_tasks(|| self.owned.close_and_shutdown_all(core.index));
        drop(self.remotes[core.index].lifo.take());
        while let Some(task) = core.local.pop() {
            drop(task);
        }
    }

    /// A core that no thread will run (its hand-off job was refused or
    /// cancelled by the pool at shutdown): shut it down here.
    pub(crate) fn abandon_core(&self, core: Box<Core>) {
        debug_assert!(self.is_shutdown(), "a core is only abandoned during shutdown");
        self.shutdown_core(&core);
        drop(core);
        self.core_finished();
    }

    /// A core finished its shutdown (or never ran: its thread failed to
    /// start). The last one completes the runtime's shutdown.
    pub(crate) fn core_finished(&self) {
        let mut running = self.cores_running.lock();
        *running -= 1;
        if *running == 0 {
            self.finish_shutdown();
        }
        self.cores_done.notify_all();
    }

    /// Waits until every core finished or `deadline` passes; true if all did.
    pub(crate) fn wait_cores_finished(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut running = self.cores_running.lock();
        while *running > 0 {
            match deadline {
                None => self.cores_done.wait(&mut running),
                Some(deadline) => {
                    if wait_until(&self.cores_done, &mut running, deadline) {
                        return *running == 0;
                    }
                }
            }
        }
        true
    }

    /// After all workers exited: nothing is left behind.
    fn finish_shutdown(&self) {
        // Workers that never started (thread spawn failed) still own cores.
        let (cores, waiters) = {
            let mut slots = self.cores.lock();
            // Current-thread `block_on` callers waiting for a core that will
            // not come back: wake them (they finish without it) and drop
            // their wakers, which hold an `Arc<Shared>` (a cycle otherwise).
            // Under the cores lock, no caller registers after this (it reads
            // the shutdown flag under the same lock).
            let waiters = std::mem::take(&mut *self.core_waiters.lock());
            (slots.iter_mut().filter_map(Option::take).collect::<Vec<_>>(), waiters)
        };
        for waker in waiters {
            waker.wake();
        }
        if !cores.is_empty() {
            context::dropping_tasks(|| self.owned.close_and_shutdown_all(0));
            for core in cores {
                while let Some(task) = core.local.pop() {
                    drop(task);
                }
            }
        }
        for remote in self.remotes.iter() {
            drop(remote.lifo.take());
            remote.driver.shutdown_io();
            remote.time.wake_all_at_shutdown();
        }
        self.drain_injector();
        debug_assert!(self.owned.is_closed_and_empty());
    }
}

/// Timed condvar wait; true on timeout.
#[cfg(not(loom))]
fn wait_until(
    condvar: &Condvar,
    guard: &mut crate::loom::sync::MutexGuard<'_, usize>,
    deadline: std::time::Instant,
) -> bool {
    condvar.wait_until(guard, deadline).timed_out()
}

/// Loom has no clock: the wait is untimed and never times out.
#[cfg(loom)]
fn wait_until(
    condvar: &Condvar,
    guard: &mut crate::loom::sync::MutexGuard<'_, usize>,
    _deadline: std::time::Instant,
) -> bool {
    condvar.wait(guard);
    false
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::pending;

    use super::super::{Config, Shared};
    use crate::loom::sync::Arc;
    use crate::runtime::cpu::pool::{CpuPool, CpuSettings};

    fn scheduler() -> Arc<Shared> {
        let config = Config {
            global_queue_interval: 31,
            event_interval: 61,
            io_uring: false,
            current_thread: false,
            poll_time_histogram: false,
            schedule_latency_histogram: false,
            watch_polls: false,
            start_paused: false,
            park_hooks: Default::default(),
        };
        let cpu = CpuPool::new(CpuSettings::default(), weft_blocking::Pool::builder(), None)
            .expect("valid CPU pool settings");
        Shared::new(1, config, weft_blocking::Pool::new(), cpu).expect("a driver")
    }

    /// A push that races shutdown takes the injector's references back, but
    /// must not drop them itself: `Schedule::schedule` runs with `&self`
    /// borrowed from inside a task cell, and a dropped reference may be
    /// that cell's last (freeing the cell, and possibly `Shared`, under the
    /// borrow). Seen here through the `Arc<Shared>` a task cell holds: it
    /// may only go away when the caller drops what `push_remote` returned.
    #[test]
    fn a_push_after_shutdown_hands_the_references_back() {
        let shared = scheduler();
        // Off the workers, so the first Notified waits in the injector.
        let first = Shared::spawn(&shared, pending::<()>(), crate::trace::SpawnMeta::task());
        shared.close();
        // Shutdown cancels the queued task at once (it is idle) and drops
        // the list's reference; its JoinHandle goes too, so the injector's
        // entry is the cell's last reference.
        shared.owned.close_and_shutdown_all(0);
        drop(first);
        let with_cell = Arc::strong_count(&shared);

        let (task, notified, join) = crate::runtime::task::new_task_with(
            pending::<()>(),
            shared.clone(),
            crate::trace::SpawnMeta::task(),
        );
        drop((task, join));
        let unqueued = shared.push_remote(notified);
        assert_eq!(
            Arc::strong_count(&shared),
            with_cell + 1,
            "push_remote freed a task cell itself (its Arc<Shared> went away)"
        );
        drop(unqueued);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "both cells are freed once the caller drops them"
        );
    }
}
