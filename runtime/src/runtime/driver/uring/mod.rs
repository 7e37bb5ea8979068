//! A worker's io_uring: file operations that complete without a thread.
//!
//! The contract with the rest of the driver (`driver/mod.rs`):
//!
//! - [`Ring::new`] sets up the ring, probes which opcodes the kernel has,
//!   and makes an eventfd the kernel signals on every completion; the
//!   driver registers that eventfd with its `mio::Poll`, so a parked
//!   worker sleeps in one place for sockets, timers and files.
//! - **Only the ring's owner submits.** io_uring cancels a thread's
//!   pending requests when that thread exits, so a write handed to the
//!   kernel by a thread that then exits may be lost after its `Ok`. The
//!   owner is the thread running the ring's worker core in its loop
//!   (`Shared::uring_here` hands the ring to nobody else; every other
//!   caller takes the blocking pool). [`Ring::submit`] queues the SQE in
//!   user space and the owner's next [`Ring::flush`] (every park and
//!   every between-tasks poll) gives the kernel everything queued at once.
//! - **At most the completion queue's size of SQEs are with the kernel**, so the
//!   completion queue never overflows; the rest wait in the ring's
//!   backlog until completions make room. Should the kernel still report
//!   an overflow, [`Ring::reap`] enters the kernel to flush it.
//! - [`Ring::reap`], after every poll of the driver (by its owner or a
//!   sibling serving it), completes the slots and wakes their wakers on
//!   the polling thread; a task stolen meanwhile is woken wherever it is.
//!   A sibling only queues continuations (the rest of a short write); the
//!   owner submits them.
//! - [`Ring::close`] at shutdown refuses new operations; the owner, before
//!   its thread exits, runs [`Ring::drain`]: it cancels the operations
//!   whose outcome nobody needs (reads, opens...) and waits for the rest
//!   (writes, syncs and closes run to their end), up to the shutdown's
//!   deadline. A thread that gave its core away (`block_in_place`) waits
//!   the same way for what it submitted. Dropping the ring waits a short
//!   while for stragglers and leaks what is still in flight rather than
//!   free memory the kernel may write.
//!
//! Memory the kernel uses lives in the operation's [`slot::Slot`] (see
//! there for the ownership rules).

pub(crate) mod ops;
pub(crate) mod slot;

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use io_uring::{squeue, IoUring, Probe};
use parking_lot::Mutex;

pub(crate) use ops::{Op, Res, CURRENT_POSITION};
use slot::{Completed, Inflight, Slot};

/// Submission queue entries per ring; the kernel sizes the completion
/// queue at twice that, and that many SQEs at most are with
/// the kernel at once (more wait in the ring's backlog), so every
/// completion has room.
const ENTRIES: u32 = 256;

/// `user_data` of the cancellations sent at shutdown (slab keys are far
/// below it).
const CANCEL_KEY: u64 = u64::MAX;

/// How long dropping a ring waits for operations still in flight (the
/// workers already waited for theirs, up to the shutdown's deadline)
/// before it leaks them.
const DROP_WAIT: Duration = Duration::from_secs(1);

/// One worker's ring.
pub(crate) struct Ring {
    inner: Mutex<Inner>,
    eventfd: OwnedFd,
    /// The opcodes the kernel supports (bit `n` for opcode `n`).
    supported: [u64; 4],
    /// SQEs queued (backlog and submission queue) and not yet given to the
    /// kernel, as of the last locked update (read without the lock to skip
    /// flushes with nothing to do).
    unsubmitted: AtomicUsize,
    /// Shut down: new operations are refused.
    closed: AtomicBool,
    submitted: AtomicU64,
    completed: AtomicU64,
}

struct Inner {
    uring: IoUring,
    inflight: Inflight<Res>,
    /// SQEs waiting for room with the kernel (`in_kernel` < `cq_capacity`).
    backlog: VecDeque<squeue::Entry>,
    /// SQEs pushed to the submission queue whose CQE was not reaped.
    in_kernel: usize,
    cq_capacity: usize,
    /// Wakers of operations completed with the lock held, woken once it
    /// is released (a waker may submit again).
    deferred: Vec<Waker>,
}

impl Ring {
    /// A ring whose completions signal a fresh eventfd (see
    /// [`Ring::eventfd`]). Fails where io_uring is unavailable (ENOSYS),
    /// forbidden (EPERM, the `io_uring_disabled` sysctl) or out of
    /// resources: the caller falls back to the blocking pool.
    pub(crate) fn new() -> io::Result<Ring> {
        let uring = IoUring::new(ENTRIES)?;
        let mut probe = Probe::new();
        // A kernel without IORING_REGISTER_PROBE (before 5.6) has none of
        // the path opcodes either: an empty probe sends everything to the
        // pool, which such an old kernel deserves.
        let mut supported = [0u64; 4];
        if uring.submitter().register_probe(&mut probe).is_ok() {
            for code in 0..=255u8 {
                if probe.is_supported(code) {
                    supported[usize::from(code / 64)] |= 1 << (code % 64);
                }
            }
        }
        // SAFETY: eventfd(2) with valid flags has no memory arguments; its
        // result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        uring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        let cq_capacity = uring.params().cq_entries() as usize;
        Ok(Ring {
            inner: Mutex::new(Inner {
                uring,
                inflight: Inflight::new(),
                backlog: VecDeque::new(),
                in_kernel: 0,
                cq_capacity,
                deferred: Vec::new(),
            }),
            eventfd,
            supported,
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

    /// Whether the kernel can do `op` on a ring (else it takes the pool).
    pub(crate) fn supports(&self, op: Op) -> bool {
        let code = op.opcode();
        self.supported[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }

    /// Queues `op` with the memory it lends the kernel, for the owner's
    /// next flush. Only the ring's owner calls this (see the module doc).
    ///
    /// # Errors
    /// The ring is shut down, or `res` lacks what `op` needs.
    pub(crate) fn submit(&self, op: Op, mut res: Res) -> io::Result<OpFuture> {
        res.submitter = Some(std::thread::current().id());
        let entry =
            res.entry(op).ok_or_else(|| io::Error::other("weft: malformed ring operation"))?;
        let slot = Slot::new(res);
        let (refused, deferred) = {
            let mut inner = self.inner.lock();
            // Under the lock, which `close` takes after setting the flag:
            // an operation either lands before the shutdown's cancellations
            // or is refused. SeqCst: shutdown only, off the hot path.
            let refused = self.closed.load(SeqCst);
            if !refused {
                let key = inner.inflight.insert(slot.clone());
                // The entry points into the slot's resources (heap memory
                // of its buffer and paths, and a descriptor the slot's file
                // clone keeps open), which stay put and alive until the CQE
                // for `key` is reaped: the slot is in `inflight` under `key`
                // until then (slot rule 1) and its resources are not
                // touched while in flight (slot rule 2).
                inner.backlog.push_back(entry.user_data(key));
                self.publish(&mut inner);
            }
            (refused, std::mem::take(&mut inner.deferred))
        };
        wake_all(deferred);
        if refused {
            return Err(shut_down_error());
        }
        // Relaxed: statistics.
        self.submitted.fetch_add(1, Relaxed);
        Ok(OpFuture { slot })
    }

    /// Gives the queued SQEs to the kernel (one `io_uring_enter`, more if
    /// the backlog refills the submission queue). The owner's only.
    pub(crate) fn flush(&self) {
        // Relaxed: a stale zero only delays the SQEs to the next flush;
        // the owner's own submissions are seen by its own thread, and a
        // sibling's queued continuation unparks the owner after its store.
        if self.unsubmitted.load(Relaxed) == 0 {
            return;
        }
        let deferred = {
            let mut inner = self.inner.lock();
            inner.flush();
            self.publish(&mut inner);
            std::mem::take(&mut inner.deferred)
        };
        wake_all(deferred);
    }

    /// Whether SQEs wait for the owner's flush (a sibling's reap queued a
    /// continuation: it unparks the owner).
    pub(crate) fn has_unsubmitted(&self) -> bool {
        // Relaxed: read right after this thread's own locked store.
        self.unsubmitted.load(Relaxed) > 0
    }

    fn publish(&self, inner: &mut Inner) {
        let queued = inner.backlog.len() + inner.uring.submission().len();
        // Relaxed: a hint for `flush`; the lock orders the queues.
        self.unsubmitted.store(queued, Relaxed);
    }

    /// Takes the completions in, completing their slots, and wakes their
    /// wakers on this thread. `signalled`: the eventfd fired, so its count
    /// is reset first (a completion posted after that fires it again).
    /// `owner`: the caller is the ring's owner, which then submits what
    /// the completions let through (continuations, the backlog).
    pub(crate) fn reap(&self, signalled: bool, owner: bool) {
        if signalled {
            self.clear_eventfd();
        }
        let wakers = {
            let mut inner = self.inner.lock();
            let mut wakers = std::mem::take(&mut inner.deferred);
            let reaped = inner.reap(&mut wakers);
            // Relaxed: statistics.
            self.completed.fetch_add(reaped, Relaxed);
            if owner {
                inner.flush();
            }
            self.publish(&mut inner);
            wakers.append(&mut inner.deferred);
            wakers
        };
        wake_all(wakers);
    }

    fn clear_eventfd(&self) {
        let mut count = [0u8; 8];
        // SAFETY: reads 8 bytes into a local 8-byte array; the descriptor
        // is our own non-blocking eventfd.
        let _ = unsafe { libc::read(self.eventfd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
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

    /// The runtime shuts down: refuses new operations, and ends at once
    /// the optional ones the kernel never got. Callable from any thread:
    /// it submits nothing (the owner's [`Ring::drain`] cancels the rest).
    pub(crate) fn close(&self) {
        let wakers = {
            let mut inner = self.inner.lock();
            // SeqCst: shutdown only; under the lock, see `submit`.
            self.closed.store(true, SeqCst);
            let mut wakers = std::mem::take(&mut inner.deferred);
            inner.cancel_backlog(&mut wakers);
            self.publish(&mut inner);
            wakers
        };
        wake_all(wakers);
    }

    /// Before a thread that submitted to this ring exits (the kernel would
    /// cancel its requests): waits until none of its operations is in
    /// flight, or `deadline` passes (`None`: no bound, as a plain drop of
    /// the runtime waits for blocking jobs). `owner`: the ring's owner at
    /// shutdown, which closes the ring, cancels the optional operations
    /// and keeps submitting and reaping meanwhile; otherwise a thread that
    /// gave its core away, which waits for its own operations only while
    /// the new owner carries on. What is left at the deadline stays in the
    /// table (dropping the ring leaks it).
    pub(crate) fn drain(&self, owner: bool, deadline: Option<Instant>) {
        let me = std::thread::current().id();
        if owner {
            self.close();
            let mut inner = self.inner.lock();
            inner.cancel_optional();
            inner.flush();
            self.publish(&mut inner);
        }
        loop {
            if owner {
                self.flush();
            }
            // The owner, out of its loop, is the eventfd's only reader now;
            // another thread leaves it to the owner's poll and sleeps.
            self.reap(owner, owner);
            if self.inner.lock().pending_for(if owner { None } else { Some(me) }) == 0 {
                return;
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => (deadline - now).min(Duration::from_millis(50)),
                None => Duration::from_millis(50),
            };
            if owner {
                self.wait_eventfd(wait);
            } else {
                std::thread::sleep(wait.min(Duration::from_millis(5)));
            }
        }
    }

    /// Sleeps until a completion signals the eventfd or `wait` passes (for
    /// the eventfd's only reader: a count left set returns at once).
    fn wait_eventfd(&self, wait: Duration) {
        let mut fds =
            libc::pollfd { fd: self.eventfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = wait.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: one valid pollfd on the stack for the call's duration.
        let _ = unsafe { libc::poll(&mut fds, 1, ms) };
    }
}

impl Inner {
    /// Moves backlog SQEs into the submission queue while the kernel has
    /// room for their completions.
    fn fill(&mut self) {
        while self.in_kernel < self.cq_capacity {
            let Some(entry) = self.backlog.pop_front() else { return };
            // SAFETY: every backlog entry is a cancellation (no memory) or
            // points into the resources of a slot in `inflight` under its
            // key, kept there until that key's last CQE is reaped (slot
            // rules 1 and 2): valid for as long as the kernel holds it.
            if unsafe { self.uring.submission().push(&entry) }.is_err() {
                self.backlog.push_front(entry);
                return;
            }
            self.in_kernel += 1;
        }
    }

    /// Gives the kernel what fits: the owner's only (see the module doc).
    fn flush(&mut self) {
        loop {
            self.fill();
            if self.uring.submission().is_empty() {
                return;
            }
            match self.uring.submit() {
                Ok(0) => return,
                Ok(_) => {
                    if self.backlog.is_empty() || self.in_kernel >= self.cq_capacity {
                        return;
                    }
                }
                // The kernel is short of memory (EAGAIN), a completion
                // queue full regardless (EBUSY), or a signal (EINTR): the
                // SQEs stay queued for the next flush (`unsubmitted` says
                // so), after the next reap.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)
                    ) =>
                {
                    return
                }
                Err(e) => panic!("weft: submitting to the worker's io_uring failed: {e}"),
            }
        }
    }

    /// Completes the slots of the CQEs waiting; returns how many
    /// operations ended. Drains the kernel's overflow list too (a CQE it
    /// could not post waits there until an enter with GETEVENTS).
    fn reap(&mut self, wakers: &mut Vec<Waker>) -> u64 {
        let mut ended = 0;
        let mut again = Vec::new();
        loop {
            let mut seen = 0;
            for cqe in self.uring.completion() {
                seen += 1;
                let key = cqe.user_data();
                if key == CANCEL_KEY {
                    continue;
                }
                let Some(slot) = self.inflight.get(key) else { continue };
                let step = |res: &mut Res, result| res.step(result);
                match slot.complete(cqe.result(), step, Res::orphaned) {
                    Completed::Again(entry) => again.push(entry.user_data(key)),
                    Completed::Done(waker) => {
                        // The kernel is done with this slot's memory: the
                        // ring lets go of it (slot rule 1).
                        self.inflight.complete(key);
                        ended += 1;
                        wakers.extend(waker);
                    }
                }
            }
            self.in_kernel -= seen.min(self.in_kernel);
            if self.uring.submission().cq_overflow() {
                // Completions the queue had no room for: the kernel posts
                // them on an enter with GETEVENTS. Submits nothing (any
                // thread may reap, only the owner submits).
                // SAFETY: no SQE is submitted and no argument is passed.
                let flushed = unsafe {
                    self.uring.submitter().enter::<libc::sigset_t>(
                        0,
                        0,
                        IORING_ENTER_GETEVENTS,
                        None,
                    )
                };
                if flushed.is_ok() {
                    continue;
                }
            }
            if seen == 0 {
                break;
            }
        }
        // A continuation of a write still in `inflight` under its key: its
        // buffer stays in the slot until that key's last CQE is reaped.
        self.backlog.extend(again);
        ended
    }

    /// Operations not reaped: all of them (`None`), or those `thread`
    /// submitted.
    fn pending_for(&self, thread: Option<ThreadId>) -> usize {
        match thread {
            None => self.inflight.len(),
            Some(thread) => self
                .inflight
                .keys()
                .into_iter()
                .filter(|&key| {
                    self.inflight.get(key).is_some_and(|slot| {
                        slot.with_in_flight(|res| res.submitter == Some(thread)).unwrap_or(false)
                    })
                })
                .count(),
        }
    }

    /// Ends the optional operations the kernel never got, with ECANCELED
    /// (their memory was never lent).
    fn cancel_backlog(&mut self, wakers: &mut Vec<Waker>) {
        let backlog = std::mem::take(&mut self.backlog);
        for entry in backlog {
            let key = entry.get_user_data();
            let optional = key != CANCEL_KEY
                && self.inflight.get(key).is_some_and(|slot| {
                    slot.with_in_flight(|res| res.op.is_some_and(|op| !op.must_finish()))
                        .unwrap_or(false)
                });
            if !optional {
                self.backlog.push_back(entry);
                continue;
            }
            if let Some(slot) = self.inflight.complete(key) {
                let step = |_: &mut Res, result| Ok::<i32, ()>(result);
                if let Completed::Done(waker) = slot.complete(-libc::ECANCELED, step, Res::orphaned)
                {
                    wakers.extend(waker);
                }
            }
        }
    }

    /// Queues an ASYNC_CANCEL for every operation with the kernel but the
    /// writes, syncs and closes (see [`Op::must_finish`]).
    fn cancel_optional(&mut self) {
        let mut wakers = Vec::new();
        self.cancel_backlog(&mut wakers);
        self.deferred.append(&mut wakers);
        for key in self.inflight.keys() {
            let optional = self.inflight.get(key).is_some_and(|slot| {
                slot.with_in_flight(|res| res.op.is_some_and(|op| !op.must_finish()))
                    .unwrap_or(false)
            });
            if optional {
                let cancel = io_uring::opcode::AsyncCancel::new(key).build().user_data(CANCEL_KEY);
                self.backlog.push_back(cancel);
            }
        }
    }
}

/// `IORING_ENTER_GETEVENTS` (the io-uring crate keeps its flags private).
const IORING_ENTER_GETEVENTS: u32 = 1;

impl Drop for Ring {
    /// Runs after the workers drained their rings (see [`Ring::drain`]):
    /// waits a short while for what is still in flight (a ring whose owner
    /// never ran, a straggler past the shutdown's deadline), then leaks
    /// the slots left rather than free memory the kernel may still write.
    fn drop(&mut self) {
        let deadline = Instant::now() + DROP_WAIT;
        {
            let inner = self.inner.get_mut();
            inner.cancel_optional();
        }
        loop {
            self.inner.get_mut().flush();
            // Nobody else reads the eventfd any more: reset it, so the
            // wait below sleeps until the next completion.
            self.reap(true, false);
            if self.inner.get_mut().inflight.len() == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                for slot in self.inner.get_mut().inflight.take_all() {
                    // The kernel may still use the slot's memory.
                    std::mem::forget(slot);
                }
                break;
            }
            self.wait_eventfd((deadline - now).min(Duration::from_millis(50)));
        }
        let wakers = std::mem::take(&mut self.inner.get_mut().deferred);
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
        // No-op once the result was taken; an open that completed but
        // was not taken closes its new descriptor.
        self.slot.abandon(Res::orphaned);
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
