//! The stuck thread's stack, sampled from the stall monitor.
//!
//! A worker registers itself when it starts ([`StackSampler::register`],
//! held by the worker thread) and hands the monitor a [`ThreadTarget`].
//! When the monitor sees that worker inside one poll for too long it calls
//! [`capture`]: it signals that thread, whose handler walks the thread's own
//! stack into a buffer allocated at registration, waits a bounded time for
//! the handler to say it is done, and copies the return addresses out.
//! [`Frames::symbolize`] turns them into function names and `file:line`s,
//! on the monitor's thread, where allocating and locking are allowed.
//!
//! # Off by default: the `stall-backtrace` feature
//!
//! Without the feature, under loom, and anywhere but Linux with glibc on
//! x86_64 or aarch64, nothing is installed and [`capture`] returns `None`.
//! The feature is off by default because no stack walk from a signal handler
//! is async-signal-safe by any standard's promise, and the signal itself
//! changes what the application sees. The options, weighed:
//!
//! - **The DWARF unwinder** (`_Unwind_Backtrace` in libgcc_s, reached
//!   through `backtrace::trace_unsynchronized`), which this module uses: it
//!   names every frame that has unwind tables, glibc's included. It is safe
//!   enough on current systems only by implementation: libgcc_s since GCC 12
//!   finds a PC's unwind table with glibc's `_dl_find_object` (glibc 2.35+,
//!   documented async-signal-safe and lock-free). It takes a lock of its
//!   own only once some code has registered frames at run time with
//!   `__register_frame` (a JIT compiler): then a handler interrupting a
//!   thread that holds that lock (GCC 12's libgcc_s; GCC 13's is lock-free)
//!   deadlocks it. Older libgcc_s calls `dl_iterate_phdr`, which takes the
//!   loader's lock and updates a cache that the interrupted thread may be
//!   updating too (inside `dlopen`, or inside a panic's unwind): a deadlock
//!   or a corrupted cache. glibc's version is checked at run time (older:
//!   refused); libgcc_s's cannot be, but the distributions that ship glibc
//!   2.35+ ship a GCC 12+ libgcc_s (this machine's, Debian 12's, imports
//!   `_dl_find_object` and no longer `dl_iterate_phdr`). The walk
//!   also trusts the unwind tables at an arbitrary instruction: code without
//!   tables ends the walk, but wrong tables (hand-written assembly, some
//!   JITs) send the unwinder through a bad pointer, and a fault in the
//!   handler kills the process.
//! - **Frame pointers** would make the walk a bounded loop of loads inside
//!   the thread's stack, safe by construction. Rust's standard library ships
//!   with them (`std::thread::sleep` starts with `push rbp; mov rbp, rsp`),
//!   but weft and the application have them only when built with
//!   `-C force-frame-pointers=yes`, and glibc on most distributions is built
//!   without: a walk from inside `clock_nanosleep` goes from glibc straight
//!   to the caller of `std::thread::sleep`, losing the frame a stall report
//!   exists to show.
//! - **glibc's `backtrace()`** is the same libgcc_s unwinder, loaded with
//!   `dlopen` on its first call: no better.
//!
//! The signal: the handler claims one real-time signal for the whole
//! process, and a system call the worker is blocked in when it lands may
//! fail with `EINTR` despite `SA_RESTART` (`nanosleep`, `poll`,
//! `epoll_wait`, `select`, socket calls with a timeout are never
//! restarted). `std::thread::sleep` sleeps on for the time left, and weft's
//! driver retries its wait; a task calling such a system call itself may
//! not.
//!
//! # The signal
//!
//! `SIGRTMIN() + 7`. A real-time signal has no meaning of its own, unlike
//! `SIGURG` (out-of-band data on a socket with an owner; Go's preemption
//! signal) or `SIGPROF` (profilers); glibc's `SIGRTMIN()` is already past
//! the ones its threads library reserves, and valgrind keeps `SIGRTMAX()`.
//! The handler is installed once, on the first capture, with
//! `SA_SIGINFO | SA_RESTART`, and only if the signal's disposition is still
//! the default: when the application, a library or `weft::signal` already
//! handles or ignores it, we refuse rather than chain (and every capture
//! returns `None`). Each capture checks that the handler is still ours
//! before sending, so a handler installed later never receives our signal.
//! The signal goes to one thread, by its kernel thread id (`tgkill`): a
//! `pthread_t` of a thread that has exited and been joined may not be used
//! at all, while a stale thread id is at worst another thread of this
//! process, whose handler finds nothing asked of it (rule 6).
//!
//! Known limit: the handler runs on the interrupted thread's own stack
//! (no `SA_ONSTACK`: std's alternate stack is for its stack-overflow
//! handler), and the unwinder needs a few KiB of it; a thread sampled while
//! within that of its guard page (deep recursion, a tiny
//! `thread_stack_size`) would overflow in the handler and abort. One more
//! reason the feature is opt-in.
//!
//! # The handshake
//!
//! Each registered thread has a `Slot`: its thread id, a buffer for
//! [`MAX_FRAMES`] addresses, and a state word, `IDLE`, `REQUESTED`,
//! `WRITING` or `DONE`. The rules:
//!
//! 1. One capture per target at a time: [`capture`] holds the slot's
//!    `capturing` flag from start to end, and returns `None` at once if
//!    another capture holds it.
//! 2. Only a capture moves `IDLE` to `REQUESTED`, before sending the
//!    signal; a `DONE` left by a handler that came after its capture gave up
//!    is moved back to `IDLE` first, unread.
//! 3. Only the handler, on the sampled thread, moves `REQUESTED` to
//!    `WRITING`, and it writes the buffer only after that; then `DONE`. A
//!    handler that finds any other state returns at once: its capture gave
//!    up, or the signal was not ours. A late handler that finds the
//!    `REQUESTED` of a newer capture serves that one: the sample is still
//!    taken after it was asked for.
//! 4. The capture reads the buffer only in `DONE`, then moves it to `IDLE`.
//!    Giving up (the time is out, or the thread deregistered) is moving
//!    `REQUESTED` back to `IDLE`; if the handler has already moved it to
//!    `WRITING`, the buffer is the handler's, the capture returns `None`,
//!    and rule 2 cleans up after it.
//! 5. The handler finds its slot through a thread-local pointer set at
//!    registration. The thread clears it before giving up its reference to
//!    the slot; a handler runs on the thread it interrupts, so it finds
//!    either null or a live slot.
//! 6. A capture sends nothing to a thread that has deregistered. If the
//!    thread deregisters after the check, the signal finds no slot (rule 5)
//!    or, if its id has already been reused by a new thread of this
//!    process, that thread's own slot, not `REQUESTED` (rule 3).
//!
//! The handler itself allocates nothing and takes no lock: an atomic
//! compare-and-swap, the walk into the preallocated buffer, a store; it
//! saves and restores `errno`. Before the handler is installed, one walk is
//! made outside any handler, so the unwinder's lazily initialised state
//! (libgcc's register-size table, libgcc_s's lazily bound call to
//! `_dl_find_object`) is never set up inside one.

// No monitor runs under loom, so nothing samples there.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

use std::time::Duration;

/// The most return addresses one capture keeps.
#[allow(dead_code)] // unused where sampling is not built
const MAX_FRAMES: usize = 64;

/// How long [`capture`] waits for the handler by default.
pub(super) const CAPTURE_TIMEOUT: Duration = Duration::from_millis(50);

/// A thread's stack as sampled: the interrupted instruction first, then the
/// return addresses of its callers, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Frames {
    ips: Vec<usize>,
}

impl Frames {
    /// The addresses, innermost first (for the sampler's tests).
    #[cfg(test)]
    #[allow(dead_code)] // only the tests with sampling built use it
    fn ips(&self) -> &[usize] {
        &self.ips
    }

    /// One line per function (inlined ones too), each followed by its
    /// `file:line` where the debug information knows it, like
    /// `std::backtrace::Backtrace`'s. Loads and parses debug information on
    /// the first call: slow, and for the monitor thread only.
    pub(super) fn symbolize(&self) -> String {
        let mut out = String::new();
        for (index, &ip) in self.ips.iter().enumerate() {
            describe(&mut out, index, ip);
        }
        out
    }
}

// Stack sampling is built where every piece of it is: the feature, Linux
// with glibc (`_dl_find_object`, `tgkill`, `ucontext_t`'s program
// counter), and a real program rather than a loom model.
macro_rules! if_sampling {
    ($($item:item)*) => {$(
        #[cfg(all(
            feature = "stall-backtrace",
            target_os = "linux",
            target_env = "gnu",
            any(target_arch = "x86_64", target_arch = "aarch64"),
            not(loom)
        ))]
        $item
    )*};
}

macro_rules! if_not_sampling {
    ($($item:item)*) => {$(
        #[cfg(not(all(
            feature = "stall-backtrace",
            target_os = "linux",
            target_env = "gnu",
            any(target_arch = "x86_64", target_arch = "aarch64"),
            not(loom)
        )))]
        $item
    )*};
}

if_sampling! {
    mod linux;

    pub(crate) use linux::{capture, StackSampler, ThreadTarget};

    #[cfg(test)]
    mod tests;

    fn describe(out: &mut String, index: usize, ip: usize) {
        use std::fmt::Write as _;

        // `backtrace::resolve` looks up `ip - 1`, the call instruction of a
        // return address; the first address is the interrupted instruction
        // itself, so it is handed over one byte on.
        let lookup = if index == 0 { ip.wrapping_add(1) } else { ip };
        let mut named = false;
        // Writing to a `String` cannot fail.
        backtrace::resolve(lookup as *mut std::ffi::c_void, |symbol| {
            let label = if named { String::new() } else { format!("{index}:") };
            match symbol.name() {
                Some(name) => _ = writeln!(out, "{label:>4} {name:#}"),
                None => _ = writeln!(out, "{label:>4} <unknown> ({ip:#x})"),
            }
            if let (Some(file), Some(line)) = (symbol.filename(), symbol.lineno()) {
                _ = writeln!(out, "             at {}:{line}", file.display());
            }
            named = true;
        });
        if !named {
            _ = writeln!(out, "{:>4} <unknown> ({ip:#x})", format!("{index}:"));
        }
    }
}

if_not_sampling! {
    pub(crate) use unsupported::{capture, StackSampler, ThreadTarget};

    /// Never called: without sampling no [`Frames`] exist.
    fn describe(out: &mut String, index: usize, ip: usize) {
        out.push_str(&format!("{:>4} {ip:#x}\n", format!("{index}:")));
    }

    /// Where stack sampling is not built: the same items, capturing nothing.
    mod unsupported {
        use std::marker::PhantomData;
        use std::time::Duration;

        use super::Frames;

        /// A registration that records nothing (stack sampling is not built).
        #[derive(Debug)]
        pub(crate) struct StackSampler {
            _not_send: PhantomData<*const ()>,
        }

        impl StackSampler {
            /// Registers nothing.
            pub(crate) fn register() -> StackSampler {
                StackSampler { _not_send: PhantomData }
            }

            /// A target that is never captured.
            pub(crate) fn target(&self) -> ThreadTarget {
                ThreadTarget(())
            }
        }

        /// A target that is never captured (stack sampling is not built).
        #[derive(Clone, Debug)]
        pub(crate) struct ThreadTarget(());

        /// Always `None`: stack sampling is not built.
        pub(crate) fn capture(_target: &ThreadTarget, _timeout: Duration) -> Option<Frames> {
            None
        }
    }
}
