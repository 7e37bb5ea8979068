//! A loom model of the part of crossbeam-deque 0.8.8 that weft uses, with
//! crossbeam's own atomic orderings and fences, so the idle and shutdown
//! models see the queues order exactly as much as the shipped ones do, no
//! more (a mutex would hand every queue operation acquire/release edges
//! that crossbeam does not give) and no less.
//!
//! Indices are loom atomics and every task slot is a loom `UnsafeCell`, so
//! loom also reports a slot read that is not ordered after its write.
//!
//! # What is reproduced (crossbeam-deque 0.8.8, `src/deque.rs`)
//!
//! Chase–Lev deque (`Worker`, `Stealer`), per function:
//! - `Worker::push`: `back` Relaxed, `front` Acquire; slot write;
//!   `fence(Release)`; `back` store Relaxed.
//! - `Worker::pop` (FIFO flavor): `back`, `front` Relaxed; `front.fetch_add`
//!   SeqCst; on overshoot `front` restored with a Relaxed store.
//! - `Worker::len`, `Worker::is_empty`: `back` Relaxed, `front` SeqCst.
//! - `Worker::reserve` (called by the batch steals): the same two loads,
//!   only when the batch is non-empty.
//! - `Stealer::len`, `Stealer::is_empty`: `front` Acquire, `fence(SeqCst)`,
//!   `back` Acquire.
//! - `Stealer::steal_batch_with_limit_and_pop` (FIFO into FIFO, limit
//!   `MAX_BATCH`): `front` Acquire; `fence(SeqCst)` (crossbeam gets it from
//!   `epoch::pin()`, or issues it itself when already pinned); `back`
//!   Acquire; speculative slot reads and writes into the destination; CAS on
//!   `front` SeqCst/Relaxed (failure: `Retry`, copies forgotten);
//!   `fence(Release)`; destination `back` store Relaxed.
//!
//! Injector (`Injector`), per function:
//! - `push`: `tail.index`/`tail.block` Acquire; CAS (weak) on `tail.index`
//!   SeqCst/Acquire; at a block end the next block is installed with three
//!   Release stores (`tail.block`, `tail.index`, `block.next`); slot write;
//!   `state.fetch_or(WRITE)` Release.
//! - `steal`, `steal_batch_with_limit_and_pop` (limit `MAX_BATCH + 1`):
//!   `head.index`/`head.block` Acquire; only while `HAS_NEXT` is clear,
//!   `fence(SeqCst)` then `tail.index` Relaxed (the emptiness check); CAS
//!   (weak) on `head.index` SeqCst/Acquire; block hand-over with
//!   `next` Acquire (`wait_next`), `next.next` Relaxed, Release stores of
//!   `head.block`/`head.index`; per slot `state` Acquire until `WRITE`
//!   (`wait_write`); `fetch_or(READ)` AcqRel; block destruction with
//!   `state` Acquire + `fetch_or(DESTROY)` AcqRel (`Block::destroy`); the
//!   batch goes into the worker as in the deque (`fence(Release)`, `back`
//!   Relaxed).
//! - `is_empty`: `head.index`, `tail.index` SeqCst. `len`: crossbeam's
//!   retry loop on three SeqCst loads.
//!
//! # What is simplified, and why no ordering gets stronger
//!
//! - The deque's buffer has a fixed capacity ([`WORKER_CAP`]) and never
//!   resizes; a push past it panics. Crossbeam's resize swaps the buffer
//!   pointer (Release) and thieves re-load it (Acquire): without a resize
//!   those loads only ever read the initial pointer, which synchronises with
//!   nothing, so dropping them removes no edge that exists at run time. The
//!   `fence(SeqCst)` stands for `epoch::pin()`'s fence (on x86 crossbeam
//!   issues it as a SeqCst CAS on the thread's epoch word, a full barrier
//!   in hardware; elsewhere it is this very fence). The rest of the
//!   epoch GC's atomics (pin/unpin, collection) are left out: they give
//!   incidental edges crossbeam does not promise, so leaving them out can
//!   only make the model weaker, never stronger.
//! - The injector's blocks hold [`BLOCK_CAP`] slots (crossbeam: 63), so
//!   block hand-over and the `HAS_NEXT` path that skips the SeqCst fence
//!   are reached by small models. The protocol is the same for any lap
//!   size; only batch sizes differ.
//! - Waits (crossbeam's `Backoff::snooze`) are `loom::hint::spin_loop`, so
//!   loom runs another thread instead of spinning. Loom's weak CAS never
//!   fails spuriously; that only removes some `Retry` results (the callers
//!   loop on `Retry`).
//! - Only the API weft uses: FIFO workers, `Stealer::steal_batch_and_pop`,
//!   `Injector::{push, steal, steal_batch_and_pop, is_empty, len}`.
//!
//! Loom itself treats SeqCst loads, stores and RMWs as AcqRel (only
//! `fence(SeqCst)` is modelled fully; see loom's README), so where weft
//! relies on a store-buffer pairing it must use fences, as `idle.rs` does.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;

use crossbeam_deque::Steal;
use loom::cell::UnsafeCell;
use loom::hint::spin_loop;
use loom::sync::atomic::{
    fence, AtomicPtr, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};
use loom::sync::Arc;

/// Slots of a worker's ring (crossbeam starts at 64 and grows).
const WORKER_CAP: usize = 16;
/// Most tasks a batch steal moves (crossbeam's `MAX_BATCH`).
const MAX_BATCH: usize = 32;

/// Signed distance from `f` to `b`, as crossbeam's `i64` indices give it.
fn distance(b: usize, f: usize) -> isize {
    b.wrapping_sub(f) as isize
}

/// The shared state of one deque: two indices and a ring of slots.
struct Ring<T> {
    front: AtomicUsize,
    back: AtomicUsize,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: slots are handed between threads only through the index
// protocol (a slot in `[front, back)` belongs to whoever moves `front`
// past it); `T: Send` lets the value itself cross threads.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: shared access only reads or writes slots under the same index
// protocol, which loom checks on every slot access.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    fn new() -> Ring<T> {
        Ring {
            front: AtomicUsize::new(0),
            back: AtomicUsize::new(0),
            slots: (0..WORKER_CAP).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect(),
        }
    }

    fn slot(&self, index: usize) -> &UnsafeCell<MaybeUninit<T>> {
        &self.slots[index % WORKER_CAP]
    }

    /// Stores `value` at `index` (a slot outside `[front, back)`).
    fn write(&self, index: usize, value: MaybeUninit<T>) {
        // SAFETY: the pointer is the slot's own; callers only write slots at
        // or past `back`, which no other thread reads until `back` moves
        // (loom's cell tracking reports any unordered access).
        self.slot(index).with_mut(|p| unsafe { p.write(value) });
    }

    /// A bitwise copy of the slot at `index`; the caller owns the value
    /// only once it has claimed the index (the CAS on `front`).
    fn read(&self, index: usize) -> MaybeUninit<T> {
        // SAFETY: the pointer is the slot's own and a `MaybeUninit` may be
        // copied whatever it holds; ownership is decided by the caller.
        self.slot(index).with(|p| unsafe { p.read() })
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let f = self.front.with_mut(|f| *f);
        let b = self.back.with_mut(|b| *b);
        let mut i = f;
        while i != b {
            // SAFETY: `[front, back)` holds initialised values nobody
            // claimed, and `&mut self` means no thread accesses them now.
            self.slot(i).with_mut(|p| unsafe { (*p).assume_init_drop() });
            i = i.wrapping_add(1);
        }
    }
}

/// The owner's end of a FIFO deque (`crossbeam_deque::Worker`).
pub struct Worker<T> {
    ring: Arc<Ring<T>>,
    /// Like crossbeam's: `Send` but not `Sync` (one owner thread).
    _owner: PhantomData<*mut ()>,
}

// SAFETY: moving the owner end to another thread moves the only pusher;
// the values it may hold are `Send`.
unsafe impl<T: Send> Send for Worker<T> {}

/// A thief's end of a [`Worker`]'s deque (`crossbeam_deque::Stealer`).
pub struct Stealer<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Worker<T> {
    /// An empty FIFO deque.
    pub fn new_fifo() -> Worker<T> {
        Worker { ring: Arc::new(Ring::new()), _owner: PhantomData }
    }

    /// A thief's handle on this deque.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer { ring: self.ring.clone() }
    }

    /// Owner: appends `task` at the back.
    pub fn push(&self, task: T) {
        // Relaxed: only the owner stores `back`.
        let b = self.ring.back.load(Relaxed);
        // Acquire: crossbeam's; orders thieves' reads of old slots before a
        // reuse of their slot.
        let f = self.ring.front.load(Acquire);
        assert!(
            distance(b, f) < WORKER_CAP as isize,
            "deque model full: more than {WORKER_CAP} tasks queued (raise WORKER_CAP)"
        );
        self.ring.write(b, MaybeUninit::new(task));
        fence(Release);
        // Relaxed: the Release fence above publishes the slot (crossbeam's).
        self.ring.back.store(b.wrapping_add(1), Relaxed);
    }

    /// Owner: takes the task at the front (FIFO flavor).
    pub fn pop(&self) -> Option<T> {
        // Relaxed (both): crossbeam's; the SeqCst fetch_add below decides.
        let b = self.ring.back.load(Relaxed);
        let f = self.ring.front.load(Relaxed);
        if distance(b, f) <= 0 {
            return None;
        }
        let f = self.ring.front.fetch_add(1, SeqCst);
        if distance(b, f.wrapping_add(1)) < 0 {
            // Thieves took the rest meanwhile. Relaxed: crossbeam's.
            self.ring.front.store(f, Relaxed);
            return None;
        }
        // SAFETY: the fetch_add claimed index `f`, which the owner itself
        // wrote below `b`.
        Some(unsafe { self.ring.read(f).assume_init() })
    }

    /// Tasks in the deque.
    pub fn len(&self) -> usize {
        // Relaxed: only the owner stores `back`; `front` SeqCst (crossbeam's).
        let b = self.ring.back.load(Relaxed);
        let f = self.ring.front.load(SeqCst);
        distance(b, f).max(0) as usize
    }

    /// True when the deque holds no task.
    pub fn is_empty(&self) -> bool {
        // Relaxed: only the owner stores `back`; `front` SeqCst (crossbeam's).
        let b = self.ring.back.load(Relaxed);
        let f = self.ring.front.load(SeqCst);
        distance(b, f) <= 0
    }

    /// Room for `extra` more tasks (crossbeam would grow the buffer here).
    fn reserve(&self, extra: usize) {
        if extra > 0 {
            // Relaxed: only the owner stores `back`; `front` SeqCst (crossbeam's).
            let b = self.ring.back.load(Relaxed);
            let f = self.ring.front.load(SeqCst);
            let len = distance(b, f).max(0) as usize;
            assert!(
                WORKER_CAP - len >= extra,
                "deque model full: a batch of {extra} does not fit (raise WORKER_CAP)"
            );
        }
    }

    /// Publishes `count` tasks already written at `[b, b + count)`.
    fn publish(&self, b: usize, count: usize) {
        fence(Release);
        // Relaxed: the Release fence above publishes the slots (crossbeam's).
        self.ring.back.store(b.wrapping_add(count), Relaxed);
    }
}

impl<T> Stealer<T> {
    /// Tasks in the deque (a snapshot).
    pub fn len(&self) -> usize {
        let (f, b) = self.indices();
        distance(b, f).max(0) as usize
    }

    /// True when the deque holds no task (a snapshot).
    pub fn is_empty(&self) -> bool {
        let (f, b) = self.indices();
        distance(b, f) <= 0
    }

    /// `front` then `back`, as crossbeam's `Stealer::{len, is_empty}` read
    /// them.
    fn indices(&self) -> (usize, usize) {
        // Acquire (both) around a SeqCst fence: crossbeam's.
        let f = self.ring.front.load(Acquire);
        fence(SeqCst);
        let b = self.ring.back.load(Acquire);
        (f, b)
    }

    /// Takes the front task and moves about half of the rest (at most
    /// `MAX_BATCH - 1`) to `dest`.
    pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        if Arc::ptr_eq(&self.ring, &dest.ring) {
            return dest.pop().map_or(Steal::Empty, Steal::Success);
        }
        // Acquire: crossbeam's (pairs with other thieves' CAS).
        let f = self.ring.front.load(Acquire);
        // Crossbeam's `epoch::pin()` (or its explicit fence when already
        // pinned) sits between the two loads.
        fence(SeqCst);
        // Acquire: pairs with the owner's Release fence before `back`.
        let b = self.ring.back.load(Acquire);
        let len = distance(b, f);
        if len <= 0 {
            return Steal::Empty;
        }
        let batch = ((len as usize - 1) / 2).min(MAX_BATCH - 1);
        dest.reserve(batch);
        // Relaxed: `dest` is this thread's own deque.
        let dest_b = dest.ring.back.load(Relaxed);
        let first = self.ring.read(f);
        for i in 0..batch {
            dest.ring.write(dest_b.wrapping_add(i), self.ring.read(f.wrapping_add(i + 1)));
        }
        // Relaxed on failure: nothing read is kept.
        if self.ring.front.compare_exchange(f, f.wrapping_add(batch + 1), SeqCst, Relaxed).is_err()
        {
            return Steal::Retry;
        }
        dest.publish(dest_b, batch);
        // SAFETY: the CAS claimed `[f, f + batch]`, written before the
        // `back` this thread read.
        Steal::Success(unsafe { first.assume_init() })
    }
}

/// Slot state bit: the task is written.
const WRITE: usize = 1;
/// Slot state bit: the task is read.
const READ: usize = 2;
/// Slot state bit: the block's destruction waits for this slot's reader.
const DESTROY: usize = 4;
/// Indices per block, one of which is the "block end" (crossbeam: 64).
const LAP: usize = 4;
/// Slots per block.
const BLOCK_CAP: usize = LAP - 1;
/// Low index bits used as flags.
const SHIFT: usize = 1;
/// Flag in the head index: the head's block is not the tail's.
const HAS_NEXT: usize = 1;
/// Most tasks an injector batch steal takes (crossbeam's `MAX_BATCH + 1`).
const INJECTOR_BATCH: usize = MAX_BATCH + 1;

/// One task slot of a block.
struct Slot<T> {
    task: UnsafeCell<MaybeUninit<T>>,
    state: AtomicUsize,
}

impl<T> Slot<T> {
    /// Waits until the pusher that claimed this slot has written it.
    fn wait_write(&self) {
        // Acquire: pairs with the pusher's Release `fetch_or(WRITE)`.
        while self.state.load(Acquire) & WRITE == 0 {
            spin_loop();
        }
    }
}

/// A block of the injector's linked list.
struct Block<T> {
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    fn new() -> Box<Block<T>> {
        Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            slots: std::array::from_fn(|_| Slot {
                task: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicUsize::new(0),
            }),
        })
    }

    /// Waits until the pusher that filled this block links the next one.
    fn wait_next(&self) -> *mut Block<T> {
        loop {
            // Acquire: pairs with the Release store of `next`.
            let next = self.next.load(Acquire);
            if !next.is_null() {
                return next;
            }
            spin_loop();
        }
    }

    /// Frees `this` unless a reader of one of its first `count` slots is
    /// still busy; that reader then frees it (it sees `DESTROY`).
    ///
    /// # Safety
    ///
    /// `this` is a block every slot of which was claimed by a reader, and
    /// the caller read its slots `count..` already.
    unsafe fn destroy(this: *mut Block<T>, count: usize) {
        for i in (0..count).rev() {
            // SAFETY: the block is alive: slot `i`'s reader has not set
            // READ yet or we are the one freeing it.
            let slot = unsafe { &(*this).slots[i] };
            // Acquire / AcqRel: crossbeam's; a reader still busy takes over.
            if slot.state.load(Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, AcqRel) & READ == 0
            {
                return;
            }
        }
        // SAFETY: every slot's reader is done and the head moved past the
        // block, so nobody else holds a reference to it.
        drop(unsafe { Box::from_raw(this) });
    }
}

/// A position (head or tail) in the injector.
struct Position<T> {
    /// Index: slot number `<< SHIFT`, with `HAS_NEXT` in the head's.
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

/// The shared FIFO queue (`crossbeam_deque::Injector`).
pub struct Injector<T> {
    head: Position<T>,
    tail: Position<T>,
    _owns: PhantomData<T>,
}

// SAFETY: tasks move between threads only through the slot protocol;
// `T: Send` lets them.
unsafe impl<T: Send> Send for Injector<T> {}
// SAFETY: shared access goes through the index CASes and slot state bits
// (every slot access is checked by loom's cell tracking).
unsafe impl<T: Send> Sync for Injector<T> {}

/// Offset of `index` in its block (`BLOCK_CAP` is the block end).
fn offset_of(index: usize) -> usize {
    (index >> SHIFT) % LAP
}

impl<T> Default for Injector<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Injector<T> {
    /// An empty injector with one block.
    pub fn new() -> Injector<T> {
        let block = Box::into_raw(Block::new());
        Injector {
            head: Position { index: AtomicUsize::new(0), block: AtomicPtr::new(block) },
            tail: Position { index: AtomicUsize::new(0), block: AtomicPtr::new(block) },
            _owns: PhantomData,
        }
    }

    /// Appends `task`.
    pub fn push(&self, task: T) {
        // Acquire (both): crossbeam's; the block pointer is read under the
        // index that named it.
        let mut tail = self.tail.index.load(Acquire);
        let mut block = self.tail.block.load(Acquire);
        let mut next_block = None;
        loop {
            let offset = offset_of(tail);
            if offset == BLOCK_CAP {
                // Another pusher is installing the next block. Acquire: as
                // the first loads.
                spin_loop();
                tail = self.tail.index.load(Acquire);
                block = self.tail.block.load(Acquire);
                continue;
            }
            if offset + 1 == BLOCK_CAP && next_block.is_none() {
                next_block = Some(Block::new());
            }
            let new_tail = tail + (1 << SHIFT);
            // Acquire on failure: crossbeam's (the retry reads the new block).
            match self.tail.index.compare_exchange_weak(tail, new_tail, SeqCst, Acquire) {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        let next = Box::into_raw(next_block.take().expect("allocated above"));
                        // Release (all three): publish the new block.
                        self.tail.block.store(next, Release);
                        self.tail.index.store(new_tail.wrapping_add(1 << SHIFT), Release);
                        // SAFETY: `block` is the tail block this CAS claimed a
                        // slot of; it is freed only after that slot is read.
                        unsafe { (*block).next.store(next, Release) };
                    }
                    // SAFETY: `block` holds slot `offset`, which the CAS
                    // claimed; a block is freed only after all its slots
                    // are read, and this one is not even written yet.
                    let slot = unsafe { &(*block).slots[offset] };
                    // SAFETY: the slot's own pointer; its reader waits for
                    // WRITE before reading.
                    slot.task.with_mut(|p| unsafe { p.write(MaybeUninit::new(task)) });
                    // Release: publishes the task to the reader's Acquire.
                    slot.state.fetch_or(WRITE, Release);
                    return;
                }
                Err(current) => {
                    tail = current;
                    // Acquire: as the first load.
                    block = self.tail.block.load(Acquire);
                }
            }
        }
    }

    /// Loads the head, waiting while it sits on a block end.
    fn load_head(&self) -> (usize, *mut Block<T>, usize) {
        loop {
            // Acquire (both): crossbeam's.
            let head = self.head.index.load(Acquire);
            let block = self.head.block.load(Acquire);
            let offset = offset_of(head);
            if offset != BLOCK_CAP {
                return (head, block, offset);
            }
            spin_loop();
        }
    }

    /// Moves the head to the next block after the reader of `block`'s last
    /// slot claimed it.
    ///
    /// # Safety
    ///
    /// The caller's head CAS claimed `block`'s last slot (so the block
    /// lives until the caller frees it).
    unsafe fn advance_head_block(&self, block: *mut Block<T>, new_head: usize) {
        // SAFETY: the caller keeps `block` alive (claimed last slot).
        let next = unsafe { (*block).wait_next() };
        let mut next_index = (new_head & !HAS_NEXT).wrapping_add(1 << SHIFT);
        // Relaxed: crossbeam's; a stale null only skips the HAS_NEXT
        // shortcut (the next steal then takes the fenced path).
        // SAFETY: `next` is linked and not yet reachable from the head, so
        // nobody frees it.
        if !unsafe { (*next).next.load(Relaxed) }.is_null() {
            next_index |= HAS_NEXT;
        }
        // Release (both): publish the new head block.
        self.head.block.store(next, Release);
        self.head.index.store(next_index, Release);
    }

    /// Takes the task at the head.
    pub fn steal(&self) -> Steal<T> {
        let (head, block, offset) = self.load_head();
        let mut new_head = head + (1 << SHIFT);
        if new_head & HAS_NEXT == 0 {
            fence(SeqCst);
            // Relaxed: crossbeam's (ordered by the fence above).
            let tail = self.tail.index.load(Relaxed);
            if head >> SHIFT == tail >> SHIFT {
                return Steal::Empty;
            }
            if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                new_head |= HAS_NEXT;
            }
        }
        // Acquire on failure: crossbeam's.
        if self.head.index.compare_exchange_weak(head, new_head, SeqCst, Acquire).is_err() {
            return Steal::Retry;
        }
        if offset + 1 == BLOCK_CAP {
            // SAFETY: the CAS claimed the block's last slot.
            unsafe { self.advance_head_block(block, new_head) };
        }
        // SAFETY: the CAS claimed slot `offset`, so the block lives until
        // this thread sets READ on it (or frees it).
        let slot = unsafe { &(*block).slots[offset] };
        slot.wait_write();
        // SAFETY: WRITE is set (Acquire), so the task is initialised and
        // its write happens before this read; the claim makes it ours.
        let task = slot.task.with(|p| unsafe { p.read().assume_init() });
        // AcqRel: crossbeam's (hands the block to a waiting destroyer).
        if offset + 1 == BLOCK_CAP || slot.state.fetch_or(READ, AcqRel) & DESTROY != 0 {
            // SAFETY: slots `offset..` are read; see `Block::destroy`.
            unsafe { Block::destroy(block, offset) };
        }
        Steal::Success(task)
    }

    /// Takes the head task and moves about half of the rest of its block
    /// (at most `INJECTOR_BATCH - 1`) to `dest`.
    pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        let (head, block, offset) = self.load_head();
        let mut new_head = head;
        let advance;
        if new_head & HAS_NEXT == 0 {
            fence(SeqCst);
            // Relaxed: crossbeam's (ordered by the fence above).
            let tail = self.tail.index.load(Relaxed);
            if head >> SHIFT == tail >> SHIFT {
                return Steal::Empty;
            }
            if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                new_head |= HAS_NEXT;
                advance = (BLOCK_CAP - offset).min(INJECTOR_BATCH);
            } else {
                let len = (tail - head) >> SHIFT;
                advance = len.div_ceil(2).min(INJECTOR_BATCH);
            }
        } else {
            advance = (BLOCK_CAP - offset).min(INJECTOR_BATCH);
        }
        new_head += advance << SHIFT;
        let new_offset = offset + advance;
        // Acquire on failure: crossbeam's.
        if self.head.index.compare_exchange_weak(head, new_head, SeqCst, Acquire).is_err() {
            return Steal::Retry;
        }
        let batch = advance - 1;
        dest.reserve(batch);
        // Relaxed: `dest` is this thread's own deque.
        let dest_b = dest.ring.back.load(Relaxed);
        if new_offset == BLOCK_CAP {
            // SAFETY: the CAS claimed the block's last slot.
            unsafe { self.advance_head_block(block, new_head) };
        }
        let read = |i: usize| {
            // SAFETY: the CAS claimed slots `offset..new_offset`, so the
            // block lives until this thread sets READ on them (or frees it).
            let slot = unsafe { &(*block).slots[i] };
            slot.wait_write();
            // SAFETY: WRITE is set (Acquire), so the slot holds a task whose
            // write happens before this copy; the claim makes it ours.
            slot.task.with(|p| unsafe { p.read() })
        };
        let first = read(offset);
        for i in 0..batch {
            dest.ring.write(dest_b.wrapping_add(i), read(offset + i + 1));
        }
        dest.publish(dest_b, batch);
        if new_offset == BLOCK_CAP {
            // SAFETY: slots `offset..` are read; see `Block::destroy`.
            unsafe { Block::destroy(block, offset) };
        } else {
            for i in offset..new_offset {
                // SAFETY: as for `read`.
                let slot = unsafe { &(*block).slots[i] };
                // AcqRel: crossbeam's (hands the block to a waiting destroyer).
                if slot.state.fetch_or(READ, AcqRel) & DESTROY != 0 {
                    // SAFETY: slots `offset..` are read; see `Block::destroy`.
                    unsafe { Block::destroy(block, offset) };
                    break;
                }
            }
        }
        // SAFETY: read from a written slot this thread claimed.
        Steal::Success(unsafe { first.assume_init() })
    }

    /// True when the injector holds no task (a snapshot).
    pub fn is_empty(&self) -> bool {
        // SeqCst (both): crossbeam's.
        let head = self.head.index.load(SeqCst);
        let tail = self.tail.index.load(SeqCst);
        head >> SHIFT == tail >> SHIFT
    }

    /// Tasks in the injector (a snapshot).
    pub fn len(&self) -> usize {
        loop {
            // SeqCst (all three): crossbeam's; the tail re-read makes the
            // pair consistent.
            let mut tail = self.tail.index.load(SeqCst);
            let mut head = self.head.index.load(SeqCst);
            if self.tail.index.load(SeqCst) != tail {
                continue;
            }
            tail &= !((1 << SHIFT) - 1);
            head &= !((1 << SHIFT) - 1);
            // An index on a block end counts as the next block's start.
            if (tail >> SHIFT) & (LAP - 1) == LAP - 1 {
                tail = tail.wrapping_add(1 << SHIFT);
            }
            if (head >> SHIFT) & (LAP - 1) == LAP - 1 {
                head = head.wrapping_add(1 << SHIFT);
            }
            // Shift both so the head lies in lap 0, then drop the block ends
            // between them.
            let lap = (head >> SHIFT) / LAP;
            tail = tail.wrapping_sub((lap * LAP) << SHIFT) >> SHIFT;
            head = head.wrapping_sub((lap * LAP) << SHIFT) >> SHIFT;
            return tail - head - tail / LAP;
        }
    }
}

impl<T> Drop for Injector<T> {
    fn drop(&mut self) {
        let mut head = self.head.index.with_mut(|i| *i) & !((1 << SHIFT) - 1);
        let tail = self.tail.index.with_mut(|i| *i) & !((1 << SHIFT) - 1);
        let mut block = self.head.block.with_mut(|b| *b);
        while head != tail {
            let offset = offset_of(head);
            if offset < BLOCK_CAP {
                // SAFETY: `block` is the live block holding `head` (blocks
                // are freed only once the head has left them).
                let slot = unsafe { &(*block).slots[offset] };
                // SAFETY: with `&mut self` every push has finished, so the
                // slots from head to tail hold written tasks nobody claimed.
                slot.task.with_mut(|p| unsafe { (*p).assume_init_drop() });
            } else {
                // Relaxed: `&mut self`, no other thread is left.
                // SAFETY: `block` is live, and at its end the pusher of its
                // last slot has linked the next one (every push finished).
                let next = unsafe { (*block).next.load(Relaxed) };
                // SAFETY: its slots are all read or dropped above, and the
                // head leaves it now: nothing else points to it.
                drop(unsafe { Box::from_raw(block) });
                block = next;
            }
            head = head.wrapping_add(1 << SHIFT);
        }
        // SAFETY: the last block, reachable from nowhere else now.
        drop(unsafe { Box::from_raw(block) });
    }
}
