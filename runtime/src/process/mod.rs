//! `weft::process`: child processes whose pipes and exit are awaited on the
//! worker's reactor, in Tokio's shapes (Unix only).
//!
//! [`Command`] wraps `std::process::Command`; [`Command::spawn`] starts the
//! child and returns a [`Child`] whose piped [`stdin`](Child::stdin),
//! [`stdout`](Child::stdout) and [`stderr`](Child::stderr) are
//! non-blocking pipes registered with the current worker's reactor, like
//! sockets, implementing `futures_io::AsyncWrite` / `AsyncRead`.
//!
//! **Waiting for the exit takes no thread.** On Linux 5.3 and later each
//! child gets a pidfd (`pidfd_open`), registered for readability with the
//! worker's reactor; once it turns readable the child is reaped with a
//! non-blocking `waitpid`. Where no pidfd can be had (an older kernel, a
//! sandbox that refuses the call, another Unix), [`Child::wait`] retries a
//! non-blocking `waitpid` on a weft timer, from 1 ms doubling up to 100 ms
//! between tries: it notices the exit up to that much later. No SIGCHLD
//! handler is installed.
//!
//! **No zombies.** A [`Child`] dropped before its exit status was collected
//! is not waited for (its process keeps running, unless
//! [`Command::kill_on_drop`] was set: then it is sent SIGKILL). It goes to
//! a process-wide orphan queue, which is reaped without blocking on every
//! spawn and every completed wait, and by a background task on a weft
//! timer (backoff from 5 ms up to 1 s) for as long as the queue is not
//! empty. That task belongs to the runtime the child was dropped in; if
//! that runtime shuts down first, the queue is reaped once more then, and
//! anything still running is reaped at the next spawn or wait in the
//! process.
//!
//! Spawning outside a weft runtime is an error, found before any process
//! starts; a missing program is `ErrorKind::NotFound`, as with std.
//!
//! ```
//! use weft::process::Command;
//!
//! # weft::runtime::Runtime::new().unwrap().block_on(async {
//! let output = Command::new("echo").arg("hello").output().await?;
//! assert!(output.status.success());
//! assert_eq!(output.stdout, b"hello\n");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod child;
mod exit;
mod orphan;
mod pipe;

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command as StdCommand, ExitStatus, Output, Stdio};

use crate::runtime::context;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};

const NO_RUNTIME: &str = "there is no weft runtime on this thread: processes must be spawned \
     inside a weft runtime, in a task or in `Runtime::block_on`";

/// A process builder: `std::process::Command` whose [`spawn`](Command::spawn)
/// returns a weft [`Child`], plus [`kill_on_drop`](Command::kill_on_drop).
///
/// ```
/// use std::process::Stdio;
/// use weft::process::Command;
///
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let status = Command::new("sh")
///     .args(["-c", "exit $CODE"])
///     .env("CODE", "3")
///     .stdout(Stdio::null())
///     .status()
///     .await?;
/// assert_eq!(status.code(), Some(3));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Command {
    std: StdCommand,
    kill_on_drop: bool,
    /// Whether stdin, stdout, stderr were set through this wrapper, so
    /// [`output`](Command::output) keeps them.
    stdio_set: [bool; 3],
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no
    /// slash), with no arguments, the parent's environment and working
    /// directory, and inherited stdio (except for
    /// [`output`](Command::output)).
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(StdCommand::new(program))
    }

    /// Adds one argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Clears the child's environment (variables set afterwards still
    /// apply).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Sets the child's stdin (`Stdio::piped()` gives [`Child::stdin`]).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self.stdio_set[0] = true;
        self
    }

    /// Sets the child's stdout (`Stdio::piped()` gives [`Child::stdout`]).
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self.stdio_set[1] = true;
        self
    }

    /// Sets the child's stderr (`Stdio::piped()` gives [`Child::stderr`]).
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self.stdio_set[2] = true;
        self
    }

    /// Sets the user id the child runs as.
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.std.uid(id);
        self
    }

    /// Sets the group id the child runs as.
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.std.gid(id);
        self
    }

    /// Sets the child's `argv[0]`.
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg0(arg);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group led by the
    /// child).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// Whether a [`Child`] spawned from this command is sent SIGKILL when
    /// it is dropped before its exit was collected (default `false`). It is
    /// reaped in the background either way (see the [module docs](self)).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The [`kill_on_drop`](Command::kill_on_drop) setting.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// The wrapped `std::process::Command`.
    pub fn as_std(&self) -> &StdCommand {
        &self.std
    }

    /// The wrapped `std::process::Command`, to set what this wrapper does
    /// not (e.g. `pre_exec`). Stdio set there counts as not set for
    /// [`output`](Command::output), which pipes stdout and stderr.
    pub fn as_std_mut(&mut self) -> &mut StdCommand {
        &mut self.std
    }

    /// The wrapped `std::process::Command` (losing `kill_on_drop`).
    pub fn into_std(self) -> StdCommand {
        self.std
    }

    /// Starts the child.
    ///
    /// # Errors
    /// Outside a weft runtime (no process is started then); the OS's error
    /// if the program cannot be started (`NotFound` for a missing program,
    /// `PermissionDenied`...); if the child's pipes or exit watch cannot be
    /// registered with the reactor (the child is then killed and reaped).
    pub fn spawn(&mut self) -> io::Result<Child> {
        if context::with_current(|_| ()).is_none() {
            return Err(io::Error::other(NO_RUNTIME));
        }
        orphan::reap();
        let child = self.std.spawn()?;
        Child::new(child, self.kill_on_drop)
    }

    /// Starts the child now and returns a future of its exit status. Stdio
    /// is inherited unless set; piped streams are closed at once.
    ///
    /// The child is spawned by this call, not when the future is first
    /// polled; dropping the future drops the [`Child`] (see
    /// [`kill_on_drop`](Command::kill_on_drop)).
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send + 'static {
        child::status_of(self.spawn())
    }

    /// Starts the child now and returns a future of its exit status and
    /// everything it wrote to stdout and stderr.
    ///
    /// Stdout and stderr are piped, and stdin is null, unless set on this
    /// command before (those settings stay on the command afterwards).
    /// Spawned by this call, as in [`status`](Command::status).
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + Send + 'static {
        if !self.stdio_set[0] {
            self.stdin(Stdio::null());
        }
        if !self.stdio_set[1] {
            self.stdout(Stdio::piped());
        }
        if !self.stdio_set[2] {
            self.stderr(Stdio::piped());
        }
        child::output_of(self.spawn())
    }
}

impl From<StdCommand> for Command {
    fn from(std: StdCommand) -> Command {
        Command { std, kill_on_drop: false, stdio_set: [false; 3] }
    }
}
