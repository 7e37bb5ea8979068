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
//!   the same way for the requests it entered: the kernel ties a request
//!   to the thread whose `io_uring_enter` consumed it, not to the one that
//!   queued it (an owner may queue and hand the core over before its next
//!   flush; a continuation is entered by whoever owns the ring then), so
//!   the ring records the entering thread per SQE at each enter.
//!   Dropping the ring waits a short while for stragglers and leaks what
//!   is still in flight rather than free memory the kernel may write; the
//!   futures of those operations end with an error.
//! - Whatever a locked step frees that may block (the last reference to
//!   a file, an abandoned open's new descriptor) is closed after the
//!   ring's lock is released, with the wakers.
//!
//! Memory the kernel uses lives in the operation's [`slot::Slot`] (see
//! there for the ownership rules).

pub(crate) mod ops;
pub(crate) mod slot;

use std::collections::{HashMap, VecDeque};
use std::fs::File as StdFile;
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
    /// Keys of the SQEs in the submission queue that no enter consumed
    /// yet, oldest first (the kernel consumes them in order).
    unentered: VecDeque<u64>,
    /// For each key whose latest SQE the kernel took and whose CQE is not
    /// reaped: the thread that entered it. The kernel ties a request to
    /// the thread whose `io_uring_enter` consumed it (and cancels it if
    /// that thread exits), which is not always the thread that called
    /// [`Ring::submit`] (an owner that queued and handed the core away
    /// before the next flush; a short write's continuation).
    entered: HashMap<u64, ThreadId>,
    /// What completed with the lock held, finished once it is released.
    later: Later,
}

/// Work a locked ring operation leaves for after the unlock: wakers (a
/// waker may submit again) and descriptors to close (close(2) can block,
/// on NFS or FUSE, and must not hold every poller of the ring up).
#[derive(Default)]
struct Later {
    wakers: Vec<Waker>,
    /// Files whose last reference was an operation's, to close.
    files: Vec<StdFile>,
    /// Abandoned operations' resources with their results (an open's new
    /// descriptor is closed by `Res::orphaned`).
    orphans: Vec<(Res, i32)>,
}

impl Later {
    fn append(&mut self, other: &mut Later) {
        self.wakers.append(&mut other.wakers);
        self.files.append(&mut other.files);
        self.orphans.append(&mut other.orphans);
    }

    /// Runs outside the ring's lock: closes first, then wakes.
    fn run(self) {
        drop(self.files);
        for (res, result) in self.orphans {
            res.orphaned(result);
        }
        for waker in self.wakers {
            // Any waker: a panic must not unwind into the worker loop.
            crate::unwind::contain(|| waker.wake());
        }
    }
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
                unentered: VecDeque::new(),
                entered: HashMap::new(),
                later: Later::default(),
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
        let entry =
            res.entry(op).ok_or_else(|| io::Error::other("weft: malformed ring operation"))?;
        let slot = Slot::new(res);
        let (refused, later) = {
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
            (refused, std::mem::take(&mut inner.later))
        };
        later.run();
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
        let later = {
            let mut inner = self.inner.lock();
            inner.flush_or_panic();
            self.publish(&mut inner);
            std::mem::take(&mut inner.later)
        };
        later.run();
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
        let later = {
            let mut inner = self.inner.lock();
            let reaped = inner.reap();
            // Relaxed: statistics.
            self.completed.fetch_add(reaped, Relaxed);
            if owner {
                inner.flush_or_panic();
            }
            self.publish(&mut inner);
            std::mem::take(&mut inner.later)
        };
        later.run();
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
        let later = {
            let mut inner = self.inner.lock();
            // SeqCst: shutdown only; under the lock, see `submit`.
            self.closed.store(true, SeqCst);
            inner.cancel_backlog();
            self.publish(&mut inner);
            std::mem::take(&mut inner.later)
        };
        later.run();
    }

    /// Before a thread that entered SQEs into this ring exits (the kernel
    /// would cancel its requests): waits until none of the requests it
    /// entered is in flight, or the shutdown's deadline passes.
    /// `deadline` is read again on every turn (`None`: no bound, as a
    /// plain drop of the runtime waits for blocking jobs; a thread that
    /// began waiting before the shutdown sees its deadline once set).
    /// `owner`: the ring's owner at shutdown, which closes the ring,
    /// cancels the optional operations and keeps submitting and reaping
    /// meanwhile, and waits for everything; otherwise a thread that gave
    /// its core away, which waits for what it entered only while the new
    /// owner carries on. What is left at the deadline stays in the table
    /// (dropping the ring leaks it).
    pub(crate) fn drain(&self, owner: bool, deadline: impl Fn() -> Option<Instant>) {
        let me = std::thread::current().id();
        if owner {
            self.close();
            let later = {
                let mut inner = self.inner.lock();
                inner.cancel_optional();
                inner.flush_or_panic();
                self.publish(&mut inner);
                std::mem::take(&mut inner.later)
            };
            later.run();
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
            let wait = match deadline() {
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
            self.unentered.push_back(entry.get_user_data());
            self.in_kernel += 1;
        }
    }

    /// [`Inner::flush`] for the owner, which cannot go on without its
    /// ring (the kernel refused it something it never refuses).
    fn flush_or_panic(&mut self) {
        if let Err(e) = self.flush() {
            panic!("weft: submitting to the worker's io_uring failed: {e}");
        }
    }

    /// Gives the kernel what fits: the owner's only (see the module doc).
    /// Records this thread as the one that entered what the kernel
    /// consumed (see `entered`). Fails only on an errno the kernel has no
    /// business returning (a bug, or the ring is broken).
    fn flush(&mut self) -> io::Result<()> {
        let me = std::thread::current().id();
        loop {
            self.fill();
            if self.uring.submission().is_empty() {
                return Ok(());
            }
            match self.uring.submit() {
                Ok(0) => return Ok(()),
                Ok(consumed) => {
                    for key in self.unentered.drain(..consumed.min(self.unentered.len())) {
                        if key != CANCEL_KEY {
                            self.entered.insert(key, me);
                        }
                    }
                    if self.backlog.is_empty() || self.in_kernel >= self.cq_capacity {
                        return Ok(());
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
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Completes the slots of the CQEs waiting; returns how many
    /// operations ended. Drains the kernel's overflow list too (a CQE it
    /// could not post waits there until an enter with GETEVENTS).
    /// The wakers, the files whose last reference the operations held and
    /// the abandoned operations' resources go to `later`, for after the
    /// unlock.
    fn reap(&mut self) -> u64 {
        let mut ended = 0;
        let mut again = Vec::new();
        let mut later = Later::default();
        loop {
            let mut seen = 0;
            for cqe in self.uring.completion() {
                seen += 1;
                let key = cqe.user_data();
                if key == CANCEL_KEY {
                    continue;
                }
                // This SQE is no longer with the kernel (a continuation is
                // entered anew, by whoever flushes it).
                self.entered.remove(&key);
                let Some(slot) = self.inflight.get(key) else { continue };
                let files = &mut later.files;
                let step = |res: &mut Res, result| {
                    let step = res.step(result);
                    if step.is_ok() {
                        files.extend(res.release_file());
                    }
                    step
                };
                let orphans = &mut later.orphans;
                let orphan = |res, result| orphans.push((res, result));
                match slot.complete(cqe.result(), step, orphan) {
                    Completed::Again(entry) => again.push(entry.user_data(key)),
                    Completed::Done(waker) => {
                        // The kernel is done with this slot's memory: the
                        // ring lets go of it (slot rule 1).
                        self.inflight.complete(key);
                        ended += 1;
                        later.wakers.extend(waker);
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
        self.later.append(&mut later);
        ended
    }

    /// Operations not reaped: all of them (`None`), or the requests with
    /// the kernel that `thread` entered (those its exit would cancel).
    fn pending_for(&self, thread: Option<ThreadId>) -> usize {
        match thread {
            None => self.inflight.len(),
            Some(thread) => self.entered.values().filter(|&&by| by == thread).count(),
        }
    }

    /// Ends the optional operations the kernel never got, with ECANCELED
    /// (their memory was never lent); what they leave goes to `later`.
    fn cancel_backlog(&mut self) {
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
                let later = &mut self.later;
                let files = &mut later.files;
                let step = |res: &mut Res, result| {
                    files.extend(res.release_file());
                    Ok::<i32, ()>(result)
                };
                let orphans = &mut later.orphans;
                let orphan = |res, result| orphans.push((res, result));
                if let Completed::Done(waker) = slot.complete(-libc::ECANCELED, step, orphan) {
                    later.wakers.extend(waker);
                }
            }
        }
    }

    /// Queues an ASYNC_CANCEL for every operation with the kernel but the
    /// writes, syncs and closes (see [`Op::must_finish`]).
    fn cancel_optional(&mut self) {
        self.cancel_backlog();
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
    /// the slots left rather than free memory the kernel may still write,
    /// and tells their futures the runtime gave up on them.
    ///
    /// The dropping thread, whichever it is, submits what the owner left
    /// queued (writes whose `Ok` a `File` may have reported, their
    /// continuations, the cancellations): queued, they would never run.
    /// The kernel ties those requests to this thread, whose exit would
    /// cancel them, but this thread waits for them here, and once this
    /// returns the ring itself is torn down, which ends whatever is left
    /// whoever entered it: the thread adds no loss of its own.
    fn drop(&mut self) {
        let deadline = Instant::now() + DROP_WAIT;
        self.inner.get_mut().cancel_optional();
        let mut can_submit = true;
        loop {
            // Never panic here (a panic in a drop during unwinding
            // aborts): a kernel that refuses the enter cannot be asked
            // anything more, and what it does not have is leaked below.
            if can_submit && self.inner.get_mut().flush().is_err() {
                can_submit = false;
            }
            // Nobody else reads the eventfd any more: reset it, so the
            // wait below sleeps until the next completion.
            self.reap(true, false);
            if self.inner.get_mut().inflight.len() == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let inner = self.inner.get_mut();
                inner.entered.clear();
                for slot in inner.inflight.take_all() {
                    // Whoever awaits it learns the operation is lost; the
                    // slot itself (and the memory the kernel may still
                    // use) is never freed.
                    inner.later.wakers.extend(slot.lose());
                    std::mem::forget(slot);
                }
                break;
            }
            self.wait_eventfd((deadline - now).min(Duration::from_millis(50)));
        }
        std::mem::take(&mut self.inner.get_mut().later).run();
    }
}

/// Awaits one ring operation: its result (the CQE's `res`, a negative
/// errno on failure) and the resources back. Dropped early, it leaves the
/// operation to finish; the slot frees the resources on completion.
pub(crate) struct OpFuture {
    slot: Arc<Slot<Res>>,
}

impl Future for OpFuture {
    /// The CQE's `res` and the resources; an error if the runtime shut
    /// down and gave up on the operation still in flight (its resources
    /// stay with the kernel, leaked).
    type Output = io::Result<(i32, Res)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<(i32, Res)>> {
        self.slot.poll(cx).map(|done| {
            done.ok_or_else(|| {
                io::Error::other("weft: the runtime shut down with the operation in flight")
            })
        })
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
