//! The owned-task list: every live task of a runtime, so that shutdown can
//! find and drop the idle ones (those waiting on a waker, in no queue).
//!
//! Sharded by the task's address to keep spawns and completions on
//! different workers off one lock. Each shard is a slab; a task remembers
//! its key in its header (`owned_key`), read and written only under the
//! shard lock. A shard, once closed, refuses new tasks: a spawn that races
//! shutdown either lands before the close (and is drained) or sees the
//! close (and is shut down by the spawner).

use crossbeam_utils::CachePadded;
use slab::Slab;

use super::raw::{RawTask, Task};
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::loom::sync::Mutex;

/// No key: the task is not (or no longer) in a list.
const NO_KEY: usize = usize::MAX;

pub(crate) struct OwnedTasks<S: 'static> {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    _scheduler: std::marker::PhantomData<S>,
}

struct Shard {
    tasks: Slab<RawTask>,
    closed: bool,
}

impl<S: 'static> OwnedTasks<S> {
    /// A list with at least `min_shards` shards (rounded up to a power of
    /// two).
    pub(crate) fn new(min_shards: usize) -> Self {
        // Under loom the shard is picked by address, which differs between
        // executions; one shard keeps the model deterministic.
        let n = if cfg!(loom) { 1 } else { min_shards.max(1).next_power_of_two() };
        let shards = (0..n)
            .map(|_| CachePadded::new(Mutex::new(Shard { tasks: Slab::new(), closed: false })))
            .collect();
        OwnedTasks { shards, _scheduler: std::marker::PhantomData }
    }

    fn shard_of(&self, raw: RawTask) -> &Mutex<Shard> {
        // Fibonacci hashing of the cell address spreads neighbouring
        // allocations over the shards.
        let addr = raw.header_ptr().as_ptr() as usize as u64;
        let hash = (addr >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = (hash >> 32) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }

    /// Adds a new task, taking the list's reference. If the list is closed,
    /// the task is shut down at once and `false` is returned.
    pub(crate) fn bind(&self, task: Task<S>) -> bool {
        let raw = task.raw();
        let mut shard = self.shard_of(raw).lock();
        if shard.closed {
            drop(shard);
            task.shutdown();
            return false;
        }
        let key = shard.tasks.vacant_key();
        // Relaxed: owned_key is only accessed under this shard's lock.
        task.header().owned_key.store(key, Relaxed);
        shard.tasks.insert(task.into_raw());
        true
    }

    /// Removes a completed task, returning the list's reference, or `None`
    /// if shutdown already took it out.
    pub(crate) fn remove(&self, task: &Task<S>) -> Option<Task<S>> {
        let raw = task.raw();
        let mut shard = self.shard_of(raw).lock();
        // Relaxed: owned_key is only accessed under this shard's lock.
        let key = task.header().owned_key.load(Relaxed);
        if key == NO_KEY || shard.tasks.get(key) != Some(&raw) {
            return None;
        }
        shard.tasks.remove(key);
        task.header().owned_key.store(NO_KEY, Relaxed);
        // SAFETY: the slab held the list's reference, now handed back.
        Some(unsafe { Task::from_raw(raw) })
    }

    /// Closes every shard and shuts down every task still listed. Tasks
    /// are dropped outside the shard lock: a future's destructor may spawn
    /// or drop other tasks.
    pub(crate) fn close_and_shutdown_all(&self, start: usize) {
        let n = self.shards.len();
        for i in 0..n {
            let taken: Vec<RawTask> = {
                let mut shard = self.shards[(start + i) & (n - 1)].lock();
                shard.closed = true;
                shard
                    .tasks
                    .drain()
                    // SAFETY: the slab holds the list's reference to each
                    // task, which keeps its header alive.
                    .inspect(|raw| unsafe { raw.header() }.owned_key.store(NO_KEY, Relaxed))
                    .collect()
            };
            for raw in taken {
                // SAFETY: the slab held the list's reference for each task.
                unsafe { Task::<S>::from_raw(raw) }.shutdown();
            }
        }
    }

    /// True once every shard is closed and empty.
    pub(crate) fn is_closed_and_empty(&self) -> bool {
        self.shards.iter().all(|s| {
            let shard = s.lock();
            shard.closed && shard.tasks.is_empty()
        })
    }

    /// Number of tasks in the list (alive and not completed).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().tasks.len()).sum()
    }
}
