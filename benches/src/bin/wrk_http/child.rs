//! Child processes the harness starts (servers and wrk) and never leaves
//! behind: each is killed and reaped when its [`Child`] guard drops (every
//! return, `?` and unwinding panic), and each asks the kernel to kill it
//! if the harness itself dies first (`PR_SET_PDEATHSIG`), which covers the
//! exits that run no destructor (a signal, `process::exit`).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{self, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How often a bounded wait looks at the child.
const POLL: Duration = Duration::from_millis(20);

/// A running child process, killed and reaped on drop.
pub(crate) struct Child {
    inner: process::Child,
    name: String,
}

impl Child {
    /// Starts `program args...`, pinned to `cpu` with `taskset` when given.
    /// Its stdout is piped when `capture` (for wrk's report), else dropped;
    /// stderr is inherited, so a server's errors show.
    pub(crate) fn spawn(
        program: &str,
        args: &[String],
        cpu: Option<usize>,
        capture: bool,
    ) -> io::Result<Child> {
        let mut command = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args).stdin(Stdio::null()).stderr(Stdio::inherit());
        command.stdout(if capture { Stdio::piped() } else { Stdio::null() });
        let parent = process::id() as libc::pid_t;
        // SAFETY: the closure runs in the forked child before exec and calls
        // only async-signal-safe functions (prctl, getppid, _exit), touching
        // no memory shared with the parent's other threads.
        unsafe {
            command.pre_exec(move || {
                // The death signal survives exec (taskset execs the program
                // it pins, which keeps it), so the server or wrk dies with
                // the harness whatever kills the harness.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The harness died before prctl: nobody would signal us.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let name = format!("{program} {}", args.join(" "));
        Ok(Child { inner: command.spawn()?, name })
    }

    /// The exit status if the child has exited, without waiting.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Waits at most `limit` for the child to exit and returns its
    /// captured stdout; past the limit it is killed and this fails.
    pub(crate) fn wait_output(mut self, limit: Duration) -> io::Result<(ExitStatus, String)> {
        let deadline = Instant::now() + limit;
        // The output stays small (a wrk report), far under a pipe's
        // buffer, so the child never blocks writing while we poll.
        let status = loop {
            if let Some(status) = self.inner.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "`{}` still running after {limit:?}; killed",
                    self.name
                )));
            }
            thread::sleep(POLL);
        };
        let mut out = String::new();
        if let Some(mut stdout) = self.inner.stdout.take() {
            io::Read::read_to_string(&mut stdout, &mut out)?;
        }
        Ok((status, out))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Fails only if it already exited, and then `wait` reaps it.
        let _ = self.inner.kill();
        let _ = self.inner.wait();
    }
}
