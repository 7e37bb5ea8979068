//! A counting global allocator and the bytes-per-task measurement.
//!
//! A binary opts in with
//! `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;`;
//! without that the counters stay at zero and [`per_task`] returns `None`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use crate::Rt;

// Ordering: the counters are independent monotonic tallies; no other memory is
// published through them, so `Relaxed` increments suffice (read-modify-write
// operations on one atomic never lose updates, whatever the ordering). A
// reader sees every increment made before a point it has synchronized with:
// the measurement reads the counters after joining every spawned task, and
// the join (the runtime's own release/acquire hand-off of the task's output)
// orders the workers' allocations before the read. Allocations that race with
// the snapshot are background noise either way.
static BYTES: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// A [`System`] wrapper that counts allocation calls and bytes requested
/// (`alloc`, `alloc_zeroed` and `realloc`) and bytes freed (`dealloc`, and
/// the old block of a `realloc`), so that both the bytes allocated and the
/// bytes live over a window can be read.
pub struct CountingAlloc;

fn record(size: usize) {
    BYTES.fetch_add(size as u64, Relaxed);
    CALLS.fetch_add(1, Relaxed);
}

fn record_free(size: usize) {
    FREED.fetch_add(size as u64, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_free(layout.size());
        // SAFETY: forwarded unchanged; `ptr` came from `System` via this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // On failure the old block stays allocated: nothing changed.
            record(new_size);
            record_free(layout.size());
        }
        new
    }
}

/// Allocation totals since process start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Bytes requested.
    pub bytes: u64,
    /// Allocation calls.
    pub calls: u64,
    /// Bytes freed.
    pub freed: u64,
}

impl Snapshot {
    /// Reads the counters now.
    pub fn now() -> Self {
        Snapshot {
            bytes: BYTES.load(Relaxed),
            calls: CALLS.load(Relaxed),
            freed: FREED.load(Relaxed),
        }
    }

    /// Bytes live (allocated and not freed) at this snapshot, since process
    /// start; the difference of two is the growth of the heap in between.
    pub fn live(&self) -> i64 {
        self.bytes as i64 - self.freed as i64
    }
}

/// Whether [`CountingAlloc`] is the global allocator of this process.
pub fn is_counting() -> bool {
    let before = Snapshot::now();
    drop(std::hint::black_box(Box::new(0u64)));
    Snapshot::now().calls > before.calls
}

/// Allocation cost of one spawned task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerTask {
    /// Bytes allocated per task.
    pub bytes: f64,
    /// Allocation calls per task.
    pub allocs: f64,
}

/// Spawns `n` empty tasks from inside the runtime and awaits them all.
fn spawn_and_join<R: Rt>(rt: &R, handles: &mut Vec<R::JoinHandle<()>>, n: usize) {
    rt.block_on(async {
        for _ in 0..n {
            handles.push(R::spawn_inner(async {}));
        }
        for handle in handles.drain(..) {
            handle.await.expect("empty task failed");
        }
    });
}

/// Spawns `n` tasks that all stay alive until every one is spawned, then
/// joins them: the runtime's tables of live tasks reach their size for `n`
/// tasks alive at once, whatever the timing.
fn spawn_and_join_all_alive<R: Rt>(rt: &R, n: usize) {
    use futures_util::FutureExt;
    rt.block_on(async {
        let (open, gate) = futures_channel::oneshot::channel::<()>();
        let gate = gate.shared();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let gate = gate.clone();
                R::spawn_inner(async move {
                    let _ = gate.await;
                })
            })
            .collect();
        open.send(()).expect("the tasks hold the gate");
        for handle in handles {
            handle.await.expect("gated task failed");
        }
    });
}

/// Measures bytes and allocation calls per trivial spawned task on `rt`:
/// a warm-up round first, with all `n` tasks alive at once (the tables of
/// live tasks, such as weft's owned-task slabs, keep their largest size, and
/// how many tasks are alive at once in an ungated round depends on thread
/// timing: a warm-up that happened to keep fewer alive than the measured
/// round let slab doublings land in the measurement), then one round of
/// `async {}` tasks to warm the queues and the handle vector; the third
/// round, spawning and joining `n` `async {}` tasks, is counted.
///
/// Returns `None` unless [`CountingAlloc`] is the global allocator.
pub fn per_task<R: Rt>(rt: &R, n: usize) -> Option<PerTask> {
    if !is_counting() || n == 0 {
        return None;
    }
    spawn_and_join_all_alive(rt, n);
    let mut handles = Vec::with_capacity(n);
    spawn_and_join(rt, &mut handles, n);
    let before = Snapshot::now();
    spawn_and_join(rt, &mut handles, n);
    let after = Snapshot::now();
    Some(PerTask {
        bytes: (after.bytes - before.bytes) as f64 / n as f64,
        allocs: (after.calls - before.calls) as f64 / n as f64,
    })
}
