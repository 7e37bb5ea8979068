//! Unix signals: [`signal`] creates a [`Signal`] listener for a
//! [`SignalKind`], a named signal or any signal number.
//!
//! # How it works
//!
//! Each listener owns a connected pair of Unix stream sockets. The read end
//! is registered, for reading only, with a worker's reactor, like any weft
//! socket. The write end belongs to an *action* registered with
//! [`signal_hook_registry`] (the registry that `signal-hook`, Tokio and
//! others share, so they coexist in one process). When the signal arrives,
//! the process-wide handler runs the action, which writes one byte into the
//! write end with a non-blocking `send(2)` and ignores any error: a full
//! socket buffer means a wake-up is pending already, so deliveries that the
//! listener has not consumed yet coalesce. The listener's
//! [`recv`](Signal::recv) waits for the read end to become readable,
//! drains every byte and reports one wake-up.
//!
//! Dropping the listener unregisters the action first, then closes the
//! read end. The write end lives inside the action, and the registry drops
//! an unregistered action (closing the write end) only once no handler can
//! be running it; so the handler never writes to a closed descriptor, or to
//! a descriptor number that meanwhile belongs to another file.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::task::{Context, Poll};

use signal_hook_registry::SigId;

use crate::net::PollEvented;
use crate::runtime::driver::scheduled_io::Direction;

/// `send(2)` flags of the signal handler's write: never block (the write
/// end is non-blocking too), and on Linux and Android never raise
/// `SIGPIPE`. (The read end outlives every write, see the module docs, so
/// `EPIPE` cannot happen; the flag is belt and braces.)
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// A signal, by number: one of the named constructors or any number with
/// [`from_raw`](SignalKind::from_raw).
///
/// ```
/// use weft::signal::unix::SignalKind;
///
/// assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR2), SignalKind::user_defined2());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// The signal numbered `signum` (e.g. `libc::SIGRTMIN() + 1`). Whether
    /// it exists and may be handled is checked by [`signal`].
    pub const fn from_raw(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// This signal's number.
    pub const fn as_raw_value(&self) -> libc::c_int {
        self.0
    }

    /// `SIGALRM`: a timer set with `alarm(2)` expired.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// `SIGCHLD`: a child process stopped or exited.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGHUP`: the terminal hung up; daemons often take it as "reload
    /// the configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGINT`: interrupt from the terminal (Ctrl-C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGPIPE`: a write to a pipe or socket whose reader is gone.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// `SIGQUIT`: quit from the terminal (Ctrl-\\).
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGTERM`: a polite request to terminate (`kill`'s default).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGUSR1`: for the application's own use.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`: for the application's own use.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGWINCH`: the terminal window changed size.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }

    /// The signal's usual name, if it is one of the named ones or another
    /// well-known one.
    fn name(&self) -> Option<&'static str> {
        Some(match self.0 {
            libc::SIGALRM => "SIGALRM",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGKILL => "SIGKILL",
            libc::SIGSTOP => "SIGSTOP",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGSEGV => "SIGSEGV",
            _ => return None,
        })
    }
}

impl From<libc::c_int> for SignalKind {
    fn from(signum: libc::c_int) -> SignalKind {
        SignalKind::from_raw(signum)
    }
}

impl From<SignalKind> for libc::c_int {
    fn from(kind: SignalKind) -> libc::c_int {
        kind.as_raw_value()
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "SignalKind({name})"),
            None => write!(f, "SignalKind({})", self.0),
        }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "signal {}", self.0),
        }
    }
}

/// Starts listening for `kind`.
///
/// Deliveries from this call on wake the returned [`Signal`]; several
/// listeners for one signal are all woken. The first listener for a signal
/// replaces its default action for the rest of the process's life, even
/// after the listener is dropped (see the [module docs](super)).
///
/// # Errors
/// - `InvalidInput` for a signal that cannot be handled: `SIGKILL` and
///   `SIGSTOP` (the OS does not allow it), `SIGILL`, `SIGFPE` and
///   `SIGSEGV` (a handler that returns would resume the faulting
///   instruction), and numbers that are not signals (0, negative);
/// - an error that names the runtime if called outside a weft runtime
///   (the listener waits on a runtime's reactor);
/// - the OS's error if creating the socket pair or installing the handler
///   fails (e.g. `EINVAL` for a number past the last signal).
///
/// ```
/// use weft::signal::unix::{signal, SignalKind};
///
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let mut hangups = signal(SignalKind::hangup())?;
/// // SAFETY: raise(3) only sends a signal, here one that has a listener.
/// unsafe { libc::raise(libc::SIGHUP) };
/// assert_eq!(hangups.recv().await, Some(()));
///
/// // Signals the OS does not let a program handle are refused.
/// let err = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signum = kind.as_raw_value();
    if signum <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{kind} is not a signal number"),
        ));
    }
    if signal_hook_registry::FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{kind} cannot be listened for: SIGKILL and SIGSTOP cannot be caught, and \
                 SIGILL, SIGFPE and SIGSEGV report faults a handler cannot recover from"
            ),
        ));
    }

    let (read, write) = StdUnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    // Registered with the reactor before the handler is installed: outside
    // a runtime this fails, and the signal's default action stays.
    let receiver = PollEvented::new_with_interest(
        mio::net::UnixStream::from_std(read),
        mio::Interest::READABLE,
    )?;

    // The action owns the write end: the registry drops it (closing the
    // descriptor) only after it is unregistered and no handler is running
    // it any more, so the descriptor it writes to is always its own.
    let action = move || {
        let byte = 1u8;
        // SAFETY: send(2) is async-signal-safe (POSIX signal-safety(7));
        // `write` is owned by this closure, so its descriptor is open for
        // as long as the closure can run; the buffer is one byte on the
        // stack. The flags make it non-blocking, and errors are ignored:
        // EAGAIN means a wake-up is already pending (coalescing), nothing
        // else can be done about the others inside a handler. Nothing
        // here allocates, locks or panics.
        unsafe {
            libc::send(
                write.as_raw_fd(),
                (&byte as *const u8).cast::<libc::c_void>(),
                1,
                SEND_FLAGS,
            );
        }
    };
    // SAFETY: `register`'s contract is that the action is async-signal-safe
    // and never panics: it only calls send(2) on a descriptor it owns (see
    // above) and reads a field of its own captured value; it touches no
    // lock, allocator, thread-local or unsynchronised global. The signal is
    // not one of `FORBIDDEN` (checked above), so `register` cannot panic.
    let id = unsafe { signal_hook_registry::register(signum, action) }.map_err(|e| {
        io::Error::new(e.kind(), format!("installing a handler for {kind} failed: {e}"))
    })?;
    Ok(Signal { kind, id, receiver })
}

/// A listener for one Unix signal, created by [`signal`].
///
/// [`recv`](Signal::recv) completes once per wake-up: when the signal was
/// delivered one or more times since the previous `recv` completed (or
/// since the listener was created), it completes once; deliveries that
/// came meanwhile are not counted separately. Dropping the listener stops
/// listening (the signal's default action does not come back, see the
/// [module docs](super)).
///
/// The listener waits on the reactor of the runtime it was created in, and
/// may be moved to any task of that runtime.
///
/// ```no_run
/// use weft::signal::unix::{signal, SignalKind};
///
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// // Reload on every SIGHUP, e.g. `kill -HUP <pid>`.
/// let mut hangups = signal(SignalKind::hangup())?;
/// while hangups.recv().await.is_some() {
///     println!("SIGHUP: reloading the configuration");
/// }
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct Signal {
    kind: SignalKind,
    /// The registered action (it owns the socket pair's write end).
    id: SigId,
    /// The socket pair's read end, registered for reading.
    receiver: PollEvented<mio::net::UnixStream>,
}

impl Signal {
    /// The signal this listener receives.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits for the next delivery of the signal: `Some(())` once the
    /// signal came (several deliveries since the last call count as one),
    /// `None` if no more can be received because the runtime this listener
    /// waits on has shut down.
    ///
    /// Cancel safe: dropping the future loses no delivery; the next call
    /// sees it.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery, like [`recv`](Signal::recv):
    /// `Poll::Ready(Some(()))` if the signal came since the last time this
    /// returned `Ready`, else `Pending` (waking `cx`'s waker when it comes),
    /// or `Ready(None)` once the runtime has shut down.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.receiver
            .poll_io(cx, Direction::Read, |mut stream| {
                // Drain everything: all pending deliveries make one wake-up.
                let mut buf = [0u8; 64];
                let mut drained = 0;
                loop {
                    match stream.read(&mut buf) {
                        // The write end closes only after unregistering,
                        // which happens in `drop`: not while `self` lives.
                        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(n) => drained += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock && drained > 0 => {
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    }
                }
            })
            .map(|result| result.ok())
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // Unregister before `receiver` (the read end) is dropped, so a
        // delivery from now on finds no action writing into a socket whose
        // reader is gone. The registry frees the action, closing the write
        // end, once no handler is running it.
        signal_hook_registry::unregister(self.id);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish_non_exhaustive()
    }
}
