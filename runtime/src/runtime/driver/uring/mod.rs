//! A worker's io_uring: file operations that complete without a thread.
//!
//! The contract with the rest of the driver (`driver/mod.rs`):
//!
//! - [`Ring::new`] sets up the ring and an eventfd the kernel signals on
//!   every completion; the driver registers that eventfd with its
//!   `mio::Poll`, so a parked worker sleeps in one place for sockets,
//!   timers and files.
//! - [`Ring::submit`] queues an SQE. From the ring's own worker the SQE
//!   waits for the worker's next [`Ring::flush`] (one `io_uring_enter` for
//!   everything queued since: the driver flushes on every park and every
//!   between-tasks poll); from any other thread it is submitted at once,
//!   since the owner may sleep.
//! - [`Ring::reap`], after every poll of the driver (by its owner or a
//!   sibling serving it), completes the slots and wakes their wakers on
//!   the polling thread; a task stolen meanwhile is woken wherever it is.
//! - [`Ring::close`] at shutdown refuses new operations and cancels those
//!   whose outcome nobody needs (reads, opens...); writes and syncs run to
//!   their end, as a `File`'s write that returned `Ok` must. Dropping the
//!   ring waits for every completion before any slot is freed.
//!
//! Memory the kernel uses lives in the operation's [`slot::Slot`] (see
//! there for the ownership rules).

pub(crate) mod ops;
pub(crate) mod slot;

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use io_uring::{squeue, IoUring};
use parking_lot::Mutex;

pub(crate) use ops::{Op, Res, CURRENT_POSITION};
use slot::{Completed, Inflight, Slot};

/// Submission queue entries per ring (the completion queue has twice as
/// many); a full queue is submitted early, so this only bounds batching.
const ENTRIES: u32 = 256;

/// `user_data` of the cancellations sent at shutdown (slab keys are far
/// below it).
const CANCEL_KEY: u64 = u64::MAX;

/// One worker's ring.
pub(crate) struct Ring {
    inner: Mutex<Inner>,
    eventfd: OwnedFd,
    /// SQEs queued and not yet given to the kernel (read without the lock
    /// to skip flushes with nothing to do).
    unsubmitted: AtomicUsize,
    /// Shut down: new operations are refused.
    closed: AtomicBool,
    submitted: AtomicU64,
    completed: AtomicU64,
}

struct Inner {
    uring: IoUring,
    inflight: Inflight<Res>,
    /// Wakers of operations completed while pushing into a full queue,
    /// woken once the lock is released (a waker may submit again).
    deferred: Vec<Waker>,
}

impl Ring {
    /// A ring whose completions signal a fresh eventfd (see
    /// [`Ring::eventfd`]). Fails where io_uring is unavailable (ENOSYS),
    /// forbidden (EPERM, the `io_uring_disabled` sysctl) or out of
    /// resources: the caller falls back to the blocking pool.
    pub(crate) fn new() -> io::Result<Ring> {
        let uring = IoUring::new(ENTRIES)?;
        // SAFETY: eventfd(2) with valid flags has no memory arguments; its
        // result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        uring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        Ok(Ring {
            inner: Mutex::new(Inner { uring, inflight: Inflight::new(), deferred: Vec::new() }),
            eventfd,
            unsubmitted: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            submitted: AtomicU64::new(0),
            completed: AtomicU64::new(0),
        })
    }

    /// The eventfd signalled on every completion, for the driver's poll.
    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Queues `op` with the memory it lends the kernel; `now` submits it at
    /// once (a caller off the ring's worker), otherwise it waits for the
    /// worker's next flush.
    ///
    /// # Errors
    /// The ring is shut down, or `res` lacks what `op` needs.
    pub(crate) fn submit(&self, op: Op, mut res: Res, now: bool) -> io::Result<OpFuture> {
        let entry =
            res.entry(op).ok_or_else(|| io::Error::other("weft: malformed ring operation"))?;
        let slot = Slot::new(res);
        let deferred = {
            let mut inner = self.inner.lock();
            // Under the lock, which `close` takes after setting the flag:
            // an operation either lands before the shutdown's cancellations
            // or is refused. SeqCst: shutdown only, off the hot path.
            if self.closed.load(SeqCst) {
                return Err(shut_down_error());
            }
            let key = inner.inflight.insert(slot.clone());
            // SAFETY: the entry points into the slot's resources (heap
            // memory of its buffer and paths, and a descriptor the slot's
            // file clone keeps open), which stay put and alive until the
            // CQE for `key` is reaped: the slot is in `inflight` under
            // `key` until then (slot rule 1) and its resources are not
            // touched while in flight (slot rule 2).
            unsafe { inner.push(&entry.user_data(key)) };
            // Relaxed: the counter is a hint to skip empty flushes; the
            // lock orders the queue itself.
            self.unsubmitted.fetch_add(1, Relaxed);
            if now {
                self.flush_locked(&mut inner);
            }
            std::mem::take(&mut inner.deferred)
        };
        wake_all(deferred);
        // Relaxed: statistics.
        self.submitted.fetch_add(1, Relaxed);
        Ok(OpFuture { slot })
    }

    /// Gives the queued SQEs to the kernel (one `io_uring_enter`).
    pub(crate) fn flush(&self) {
        // Relaxed: a stale zero only delays the SQEs to the next flush,
        // and the owner's own submissions are seen by its own thread.
        if self.unsubmitted.load(Relaxed) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        self.flush_locked(&mut inner);
    }

    fn flush_locked(&self, inner: &mut Inner) {
        match inner.uring.submit() {
            Ok(_) => {
                // Relaxed: see `submit`.
                self.unsubmitted.store(0, Relaxed);
            }
            // The completion queue is full (EBUSY) or the kernel is short
            // of memory (EAGAIN), or a signal (EINTR): the SQEs stay queued
            // for the next flush, after the next reap made room.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)) => {}
            Err(e) => panic!("weft: submitting to the worker's io_uring failed: {e}"),
        }
    }

    /// Takes the completions in, completing their slots, and wakes their
    /// wakers on this thread. `signalled`: the eventfd fired, so its count
    /// is reset first (a completion posted after that fires it again).
    pub(crate) fn reap(&self, signalled: bool) {
        if signalled {
            let mut count = [0u8; 8];
            // SAFETY: reads 8 bytes into a local 8-byte array; the
            // descriptor is our own non-blocking eventfd.
            let _ = unsafe {
                libc::read(self.eventfd.as_raw_fd(), count.as_mut_ptr().cast(), count.len())
            };
        }
        let wakers = {
            let mut inner = self.inner.lock();
            let mut wakers = std::mem::take(&mut inner.deferred);
            let reaped = inner.reap(&mut wakers);
            // Relaxed: statistics.
            self.completed.fetch_add(reaped, Relaxed);
            if inner.has_queued() {
                // Continuations (the rest of short writes) go at once.
                self.flush_locked(&mut inner);
            }
            wakers.append(&mut inner.deferred);
            wakers
        };
        wake_all(wakers);
    }

    /// Whether the runtime shut down (new operations are refused).
    pub(crate) fn is_closed(&self) -> bool {
        // SeqCst: shutdown only.
        self.closed.load(SeqCst)
    }

    /// Operations whose completion has not been reaped.
    pub(crate) fn in_flight(&self) -> usize {
        self.inner.lock().inflight.len()
    }

    /// Ring operations submitted and completed so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        // Relaxed: statistics.
        (self.submitted.load(Relaxed), self.completed.load(Relaxed))
    }

    /// The runtime shuts down: refuses new operations, and cancels those
    /// nobody needs the outcome of (a write or a sync runs to its end).
    /// Does not wait: dropping the ring does.
    pub(crate) fn close(&self) {
        let mut inner = self.inner.lock();
        // SeqCst: shutdown only; under the lock, see `submit`.
        if self.closed.swap(true, SeqCst) {
            return;
        }
        inner.cancel_optional();
        self.flush_locked(&mut inner);
    }
}

impl Inner {
    /// Pushes one SQE, submitting the queue first if it is full.
    ///
    /// # Safety
    /// Whatever `entry` points to stays valid until its CQE is reaped.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: passed on from the caller.
            if unsafe { self.uring.submission().push(entry) }.is_ok() {
                return;
            }
            // Full: hand the queue to the kernel and retry (EBUSY while
            // the completion queue is full: reap to make room; the wakers
            // wait for the lock's release).
            if self.uring.submit().is_err() {
                let mut wakers = std::mem::take(&mut self.deferred);
                self.reap(&mut wakers);
                self.deferred = wakers;
            }
        }
    }

    fn has_queued(&mut self) -> bool {
        !self.uring.submission().is_empty()
    }

    /// Completes the slots of the CQEs waiting; returns how many
    /// operations ended.
    fn reap(&mut self, wakers: &mut Vec<Waker>) -> u64 {
        let mut ended = 0;
        let mut again = Vec::new();
        for cqe in self.uring.completion() {
            let key = cqe.user_data();
            if key == CANCEL_KEY {
                continue;
            }
            let Some(slot) = self.inflight.get(key) else { continue };
            match slot.complete(cqe.result(), |res, result| res.step(result)) {
                Completed::Again(entry) => again.push(entry.user_data(key)),
                Completed::Done(waker) => {
                    // The kernel is done with this slot's memory: the ring
                    // lets go of it (slot rule 1).
                    self.inflight.complete(key);
                    ended += 1;
                    wakers.extend(waker);
                }
            }
        }
        for entry in again {
            // SAFETY: a continuation of a write still in `inflight` under
            // its key: its buffer stays in the slot until that key's last
            // CQE is reaped.
            unsafe { self.push(&entry) };
        }
        ended
    }

    /// Queues an ASYNC_CANCEL for every in-flight operation but the
    /// writes and syncs.
    fn cancel_optional(&mut self) {
        for key in self.inflight.keys() {
            let optional = self.inflight.get(key).is_some_and(|slot| {
                slot.with_in_flight(|res| {
                    !matches!(res.op, Some(Op::Write { .. } | Op::Fsync { .. }))
                })
                .unwrap_or(false)
            });
            if optional {
                let cancel = io_uring::opcode::AsyncCancel::new(key).build().user_data(CANCEL_KEY);
                // SAFETY: a cancellation points at no memory.
                unsafe { self.push(&cancel) };
            }
        }
    }
}

impl Drop for Ring {
    /// Waits for every operation's completion before the slots (and so
    /// their buffers) can be freed; the kernel may write into them until
    /// then.
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        inner.cancel_optional();
        let mut wakers = Vec::new();
        while inner.inflight.len() > 0 {
            match inner.uring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(_) => {
                    // The kernel cannot be asked any more: whether it still
                    // uses the memory is unknown, so leak it rather than
                    // free it under the kernel.
                    for slot in inner.inflight.take_all() {
                        std::mem::forget(slot);
                    }
                    break;
                }
            }
            inner.reap(&mut wakers);
        }
        wakers.append(&mut inner.deferred);
        wake_all(wakers);
    }
}

/// Wakes completed operations' tasks, outside the ring's lock.
fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        // Any waker: a panic must not unwind into the worker loop.
        crate::unwind::contain(|| waker.wake());
    }
}

/// Awaits one ring operation: its result (the CQE's `res`, a negative
/// errno on failure) and the resources back. Dropped early, it leaves the
/// operation to finish; the slot frees the resources on completion.
pub(crate) struct OpFuture {
    slot: Arc<Slot<Res>>,
}

impl Future for OpFuture {
    type Output = (i32, Res);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(i32, Res)> {
        self.slot.poll(cx)
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        // No-op once the result was taken.
        self.slot.abandon();
    }
}

/// A ring result as an `io::Result` (negative values are errnos).
pub(crate) fn result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

fn shut_down_error() -> io::Error {
    io::Error::other(
        "the filesystem operation was cancelled before it ran: the runtime is shut down",
    )
}
