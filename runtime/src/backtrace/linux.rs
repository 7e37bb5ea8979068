//! Stack sampling on Linux with glibc: the signal handler, the slot it
//! writes, and the capture that asks for it. The rules are numbered in
//! [`super`]'s doc.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void, CStr};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use std::{fmt, mem, thread};

use super::{Frames, MAX_FRAMES};

/// The signal is `SIGRTMIN() + SIGNAL_OFFSET` (see the module doc).
const SIGNAL_OFFSET: c_int = 7;

/// The oldest glibc whose `_dl_find_object` lets libgcc_s find unwind
/// tables without a lock.
const MIN_GLIBC: (u32, u32) = (2, 35);

/// The most frames the walk passes over looking for the interrupted one:
/// the handler's own (the walk, the handler, the signal trampoline) are a
/// handful.
const MAX_SKIPPED: usize = 16;

// The slot's states (rules 2 to 4).
const IDLE: u8 = 0;
const REQUESTED: u8 = 1;
const WRITING: u8 = 2;
const DONE: u8 = 3;

/// One registered thread's sampling state, shared by the thread (and its
/// handler) and the monitor.
struct Slot {
    /// The kernel's id of the registered thread, for `tgkill`.
    tid: libc::pid_t,
    /// `IDLE`, `REQUESTED`, `WRITING` or `DONE`.
    state: AtomicU8,
    /// Cleared when the thread's last [`StackSampler`] drops (rule 6).
    registered: AtomicBool,
    /// The thread's live [`StackSampler`]s; touched by that thread only.
    samplers: AtomicUsize,
    /// Held by the one capture under way (rule 1).
    capturing: AtomicBool,
    /// Written by the handler in `WRITING`, read by a capture in `DONE`.
    buffer: UnsafeCell<Buffer>,
}

// SAFETY: every field but `buffer` is atomic or immutable; `buffer` is
// written only by the handler while the state is `WRITING` and read only by
// the capture holding `capturing` while it is `DONE` (rules 3 and 4), so
// the two never touch it at once.
unsafe impl Sync for Slot {}

struct Buffer {
    len: usize,
    ips: [usize; MAX_FRAMES],
}

impl Buffer {
    const fn new() -> Buffer {
        Buffer { len: 0, ips: [0; MAX_FRAMES] }
    }
}

thread_local! {
    /// This thread's slot, for the handler: a pointer from
    /// `Arc::into_raw`, whose reference count it owns while set (rule 5).
    /// Constant-initialised and without a destructor, so reading it is a
    /// plain thread-local load, fit for a signal handler, in an executable
    /// or a library loaded at start. (In a library loaded with `dlopen`, a
    /// thread's first access may allocate its thread-local block: a
    /// registered thread has made that access, but a stray signal to
    /// another thread would make it in the handler.)
    static CURRENT: AtomicPtr<Slot> = const { AtomicPtr::new(ptr::null_mut()) };
}

/// Registers the current thread for stack sampling until dropped (on this
/// thread: it is not `Send`). A worker creates one when it starts and hands
/// [`StackSampler::target`] to the monitor. Registering a thread that is
/// already registered shares its slot; the thread stays registered until
/// the last of them drops.
pub(crate) struct StackSampler {
    slot: Arc<Slot>,
    /// Dropping deregisters *this* thread: it must happen here.
    _not_send: PhantomData<*const ()>,
}

impl StackSampler {
    /// Registers the calling thread.
    pub(crate) fn register() -> StackSampler {
        // Relaxed, here and for every access to `CURRENT`: only this thread
        // and a handler interrupting it touch it, and a handler sees this
        // thread's own earlier stores; the compiler fences keep the compiler
        // from moving the slot's set-up past the publication, or its release
        // before the retraction (a compiler fence is C++'s
        // `atomic_signal_fence`).
        let current = CURRENT.with(|current| current.load(Ordering::Relaxed));
        let slot = if current.is_null() {
            let slot = Arc::new(Slot {
                tid: gettid(),
                state: AtomicU8::new(IDLE),
                registered: AtomicBool::new(true),
                samplers: AtomicUsize::new(0),
                capturing: AtomicBool::new(false),
                buffer: UnsafeCell::new(Buffer::new()),
            });
            let raw = Arc::into_raw(slot.clone()).cast_mut();
            compiler_fence(Ordering::SeqCst);
            CURRENT.with(|current| current.store(raw, Ordering::Relaxed));
            slot
        } else {
            // SAFETY: `current` came from `Arc::into_raw`, and the
            // thread-local still owns that reference (it is cleared only
            // when the last sampler on this thread drops, and one is alive
            // since the pointer is set): the count is above zero.
            unsafe {
                Arc::increment_strong_count(current);
                Arc::from_raw(current)
            }
        };
        // Relaxed: only this thread counts its samplers.
        slot.samplers.fetch_add(1, Ordering::Relaxed);
        StackSampler { slot, _not_send: PhantomData }
    }

    /// The monitor's handle on this thread.
    pub(crate) fn target(&self) -> ThreadTarget {
        ThreadTarget { slot: self.slot.clone() }
    }
}

impl Drop for StackSampler {
    fn drop(&mut self) {
        // Relaxed: only this thread counts its samplers.
        if self.slot.samplers.fetch_sub(1, Ordering::Relaxed) != 1 {
            return;
        }
        // Relaxed: see `register`.
        let raw = CURRENT.with(|current| current.swap(ptr::null_mut(), Ordering::Relaxed));
        debug_assert!(!raw.is_null(), "a live sampler's slot was not published");
        compiler_fence(Ordering::SeqCst);
        // Release, with the capture's acquire: more than enough, as the flag
        // carries nothing with it but its own news (rule 6).
        self.slot.registered.store(false, Ordering::Release);
        // SAFETY: `raw` is the pointer the outermost `register` made with
        // `Arc::into_raw` and published; it is no longer published, and no
        // handler is running (a handler runs on this thread, to completion,
        // before this code goes on), so nothing uses it once we take its
        // reference back.
        drop(unsafe { Arc::from_raw(raw) });
    }
}

impl fmt::Debug for StackSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackSampler").field("tid", &self.slot.tid).finish()
    }
}

/// The monitor's handle on a registered thread: what [`capture`] signals.
/// Cheap to clone; it may outlive the thread (captures then return `None`).
#[derive(Clone)]
pub(crate) struct ThreadTarget {
    slot: Arc<Slot>,
}

impl fmt::Debug for ThreadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadTarget").field("tid", &self.slot.tid).finish()
    }
}

/// Samples `target`'s stack: signals the thread and waits at most about
/// `timeout` for its handler. `None` if the handler could not be installed
/// (see the module doc), the thread has deregistered, another capture of
/// it is under way, or the handler did not finish in time (the thread
/// blocks the signal, or was not scheduled).
pub(crate) fn capture(target: &ThreadTarget, timeout: Duration) -> Option<Frames> {
    let slot = &*target.slot;
    // Acquire: see `StackSampler::drop`.
    if !slot.registered.load(Ordering::Acquire) {
        return None;
    }
    let signal = signal()?;
    let _capturing = Capturing::hold(slot)?;
    // Rule 2. Relaxed: nobody reads what the late handler wrote, and the
    // next handler to write runs on the same thread as it did.
    let _ = slot.state.compare_exchange(DONE, IDLE, Ordering::Relaxed, Ordering::Relaxed);
    // AcqRel: the release makes this capture's earlier reads of the buffer
    // (and the previous capture's, through `take`'s release) happen before
    // the handler's writes, which begin with an acquire of this value.
    if slot.state.compare_exchange(IDLE, REQUESTED, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // `WRITING`: a late handler still running (rule 4).
        return None;
    }
    // SAFETY: `tgkill` takes plain integers; at worst the id is stale and
    // the call fails with ESRCH or reaches another thread of this process,
    // whose handler finds nothing asked of it (rule 6).
    let sent = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), slot.tid, signal) } == 0;
    let deadline = Instant::now() + timeout;
    let mut round = 0u32;
    loop {
        // Acquire: pairs with the handler's release of `DONE`.
        if slot.state.load(Ordering::Acquire) == DONE {
            return Some(take(slot));
        }
        // Acquire: see above.
        if !sent || !slot.registered.load(Ordering::Acquire) || Instant::now() >= deadline {
            // Giving up (rule 4). Relaxed on success: giving up publishes
            // nothing. Acquire on failure: a `DONE` is read as above.
            return match slot.state.compare_exchange(
                REQUESTED,
                IDLE,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                Ok(_) => None,
                Err(DONE) => Some(take(slot)),
                // `WRITING`: the buffer is the handler's until its `DONE`,
                // which the next capture clears (rule 2).
                Err(_) => None,
            };
        }
        back_off(round);
        round = round.saturating_add(1);
    }
}

/// Copies the frames out of a slot in `DONE` and frees it for the next
/// capture.
fn take(slot: &Slot) -> Frames {
    // SAFETY: the state is `DONE`, read with acquire ordering, so the
    // handler's writes happened before; no handler writes again until a
    // capture sets `REQUESTED`, and only this one, holding `capturing`, may.
    let buffer = unsafe { &*slot.buffer.get() };
    let frames = Frames { ips: buffer.ips[..buffer.len.min(MAX_FRAMES)].to_vec() };
    // Release: the reads above happen before the next handler's writes.
    slot.state.store(IDLE, Ordering::Release);
    frames
}

/// Waits a little, longer each round: a signalled thread that is running
/// or asleep answers in microseconds, one waiting for a core much later.
fn back_off(round: u32) {
    if round < 64 {
        std::hint::spin_loop();
    } else if round < 128 {
        thread::yield_now();
    } else {
        thread::sleep(Duration::from_micros(100));
    }
}

/// The slot's `capturing` flag, held for one capture (rule 1).
struct Capturing<'a>(&'a Slot);

impl<'a> Capturing<'a> {
    fn hold(slot: &'a Slot) -> Option<Capturing<'a>> {
        // Acquire: the previous capture's use of the slot happened before.
        slot.capturing
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Capturing(slot))
    }
}

impl Drop for Capturing<'_> {
    fn drop(&mut self) {
        // Release: pairs with the next capture's acquire.
        self.0.capturing.store(false, Ordering::Release);
    }
}

/// The signal, once the handler is installed and while it still is ours.
pub(super) fn signal() -> Option<c_int> {
    static SIGNAL: OnceLock<Option<c_int>> = OnceLock::new();
    let signal = (*SIGNAL.get_or_init(|| {
        let signal = libc::SIGRTMIN() + SIGNAL_OFFSET;
        let usable = glibc_version().is_some_and(|version| version >= MIN_GLIBC)
            && signal <= libc::SIGRTMAX();
        (usable && install(signal)).then_some(signal)
    }))?;
    (handler_of(signal)? == handler_address()).then_some(signal)
}

/// The handler now installed for `signal`, `None` if it cannot be read.
fn handler_of(signal: c_int) -> Option<libc::sighandler_t> {
    // SAFETY: an all-zero `sigaction` is a valid value of this plain C
    // struct (integers, a signal set and a pointer).
    let mut current: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null new action makes `sigaction` only read the current one
    // into `current`, which is valid for writes.
    let read = unsafe { libc::sigaction(signal, ptr::null(), &mut current) };
    (read == 0).then_some(current.sa_sigaction)
}

/// Installs [`on_signal`] for `signal` if nothing handles or ignores it
/// yet; `false` if something does (we refuse rather than chain) or the
/// call fails.
pub(super) fn install(signal: c_int) -> bool {
    if handler_of(signal) != Some(libc::SIG_DFL) {
        return false;
    }
    // Set up the unwinder's lazy state outside any handler (module doc).
    walk(&mut Buffer::new(), 0);
    // SAFETY: as in `handler_of`.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    action.sa_sigaction = handler_address();
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: as in `handler_of`.
    let mut previous: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: `sa_mask` is a valid signal set to initialise (no other
    // signal is blocked while the handler runs; its own is, as always
    // without SA_NODEFER); `on_signal` has the three-argument signature
    // SA_SIGINFO calls; `previous` is valid for writes.
    let installed = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, &mut previous) == 0
    };
    if installed && previous.sa_sigaction != libc::SIG_DFL {
        // Someone installed a handler since we looked: put theirs back.
        // SAFETY: `previous` is the action `sigaction` just returned.
        unsafe { libc::sigaction(signal, &previous, ptr::null_mut()) };
        return false;
    }
    installed
}

/// The running glibc's version, `(major, minor)`.
fn glibc_version() -> Option<(u32, u32)> {
    // SAFETY: `gnu_get_libc_version` returns a pointer to a static
    // NUL-terminated string.
    let version = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
    parse_version(version.to_str().ok()?)
}

pub(super) fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
    Some((major, minor))
}

fn gettid() -> libc::pid_t {
    // SAFETY: `gettid` takes no arguments and cannot fail; the raw system
    // call needs no glibc 2.30 symbol.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid as libc::pid_t
}

/// [`on_signal`] as `sigaction` takes and returns it.
fn handler_address() -> libc::sighandler_t {
    on_signal as *const () as libc::sighandler_t
}

/// The signal handler: samples this thread's stack if a capture asked for
/// it (rule 3). Allocates nothing, takes no lock.
extern "C" fn on_signal(_signal: c_int, _info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: `__errno_location` returns this thread's errno, valid for the
    // thread's life; the walk may change it, and the interrupted code must
    // find it as it left it.
    let errno = unsafe { *libc::__errno_location() };
    // Relaxed: see `StackSampler::register`. `try_with` on a thread-local
    // without a destructor never fails, but a handler must not panic.
    let slot = CURRENT.try_with(|current| current.load(Ordering::Relaxed)).unwrap_or(ptr::null_mut());
    if !slot.is_null() {
        // SAFETY: a published slot holds the reference the thread-local
        // owns, retracted only by this thread, which this handler has
        // interrupted (rule 5).
        let slot = unsafe { &*slot };
        // Acquire: pairs with the capture's release of `REQUESTED`, so the
        // capture's reads of the buffer happened before our writes.
        if slot
            .state
            .compare_exchange(REQUESTED, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: the kernel hands an SA_SIGINFO handler the
            // interrupted context as a `ucontext_t`.
            let pc = unsafe { interrupted_pc(context.cast()) };
            // SAFETY: in `WRITING` the buffer is the handler's alone (rule 3).
            walk(unsafe { &mut *slot.buffer.get() }, pc);
            // Release: pairs with the capture's acquire of `DONE`.
            slot.state.store(DONE, Ordering::Release);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The program counter of the interrupted code.
///
/// # Safety
///
/// `context` is the context an SA_SIGINFO handler was given.
unsafe fn interrupted_pc(context: *const libc::ucontext_t) -> usize {
    // SAFETY: the caller passes a valid `ucontext_t`.
    let mcontext = unsafe { &(*context).uc_mcontext };
    #[cfg(target_arch = "x86_64")]
    let pc = mcontext.gregs[libc::REG_RIP as usize] as usize;
    #[cfg(target_arch = "aarch64")]
    let pc = mcontext.pc as usize;
    pc
}

/// Walks this thread's stack into `buffer`, from the interrupted
/// instruction `pc` outwards, leaving out the frames above it (the walk's,
/// the handler's, the signal trampoline). If the unwinder never reaches
/// `pc` (it cannot get through the trampoline), the buffer holds `pc`
/// alone. No allocation, no lock, no panic.
fn walk(buffer: &mut Buffer, pc: usize) {
    buffer.len = 0;
    let mut found = false;
    let mut skipped = 0;
    // SAFETY: the unwinder is libgcc_s's `_Unwind_Backtrace`, which keeps a
    // walk's state in its own frames: a walk beside another (on another
    // thread, or one this handler interrupted) shares only the register
    // table initialised once, before the handler was installed (`install`).
    // The callback neither panics nor unwinds.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let ip = frame.ip() as usize;
            if ip == 0 {
                // The outermost frame (the thread's start) returns nowhere.
                return false;
            }
            if !found {
                if ip != pc {
                    skipped += 1;
                    return skipped < MAX_SKIPPED;
                }
                found = true;
            }
            match buffer.ips.get_mut(buffer.len) {
                Some(entry) => {
                    *entry = ip;
                    buffer.len += 1;
                    buffer.len < MAX_FRAMES
                }
                None => false,
            }
        });
    }
    if !found {
        buffer.ips[0] = pc;
        buffer.len = 1;
    }
}
