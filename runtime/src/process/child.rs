//! [`Child`]: a spawned process, its pipes, and the wait for its exit.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::process::{Child as StdChild, ExitStatus, Output};
use std::task::{Context, Poll};

use futures_io::AsyncRead;

use super::exit::ExitWatch;
use super::orphan;
use super::pipe::{ChildStderr, ChildStdin, ChildStdout};

/// A child process spawned by [`Command::spawn`](super::Command::spawn).
///
/// Its exit is awaited with [`wait`](Child::wait) without blocking a
/// thread (see the [module docs](super)). Dropping a `Child` does not wait
/// for the process; it keeps running unless
/// [`kill_on_drop`](super::Command::kill_on_drop) was set, and weft reaps
/// it in the background once it exits, so no zombie is left.
pub struct Child {
    /// The child's stdin, if it was [piped](std::process::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was [piped](std::process::Stdio::piped).
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was [piped](std::process::Stdio::piped).
    pub stderr: Option<ChildStderr>,
    /// `None` only once dropped (handed to the orphan queue).
    inner: Option<StdChild>,
    /// Whether the exit status was collected (the process is reaped).
    reaped: bool,
    watch: ExitWatch,
    kill_on_drop: bool,
}

impl Child {
    /// Wraps a freshly spawned child: its pipes and its exit watch are
    /// registered with the current worker's reactor. If that fails, the
    /// child is killed (and reaped later) and the error returned.
    pub(super) fn new(mut child: StdChild, kill_on_drop: bool) -> io::Result<Child> {
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let parts = (|| {
            io::Result::Ok((
                stdin.map(ChildStdin::new).transpose()?,
                stdout.map(ChildStdout::new).transpose()?,
                stderr.map(ChildStderr::new).transpose()?,
                ExitWatch::new(child.id())?,
            ))
        })();
        match parts {
            Ok((stdin, stdout, stderr, watch)) => Ok(Child {
                stdin,
                stdout,
                stderr,
                inner: Some(child),
                reaped: false,
                watch,
                kill_on_drop,
            }),
            Err(e) => {
                // Nobody could wait for it: do not leave it running.
                let _ = child.kill();
                orphan::adopt(child);
                Err(e)
            }
        }
    }

    fn inner(&mut self) -> &mut StdChild {
        self.inner.as_mut().expect("the std child is present until drop")
    }

    /// The OS process id, or `None` once the exit status was collected
    /// (the id may then belong to another process).
    pub fn id(&self) -> Option<u32> {
        match &self.inner {
            Some(child) if !self.reaped => Some(child.id()),
            _ => None,
        }
    }

    /// Notes a collected status; also reaps any orphans that exited.
    fn reaped(&mut self, status: io::Result<ExitStatus>) -> io::Result<ExitStatus> {
        if status.is_ok() {
            self.reaped = true;
            orphan::reap();
        }
        status
    }

    /// Polls for the child's exit, like [`wait`](Child::wait) without
    /// closing stdin.
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let child = self.inner.as_mut().expect("the std child is present until drop");
        let status = std::task::ready!(self.watch.poll_exit(cx, child));
        Poll::Ready(self.reaped(status))
    }

    /// Waits for the child to exit and returns its status; once it has, the
    /// same status is returned by every later call.
    ///
    /// Closes the child's stdin first (if piped and still held here), so a
    /// child reading its input to the end does not wait forever.
    ///
    /// Cancel safe: dropping the future loses nothing; the child keeps
    /// running and can be waited again.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Returns the exit status if the child has exited, `None` if it is
    /// still running; never waits.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self.inner().try_wait()? {
            Some(status) => self.reaped(Ok(status)).map(Some),
            None => Ok(None),
        }
    }

    /// Sends SIGKILL to the child without waiting for it to exit (see
    /// [`kill`](Child::kill) for the wait). Succeeds too if the child has
    /// already exited.
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.inner().kill()
    }

    /// Kills the child (SIGKILL) and waits for it to exit, so it is reaped
    /// when this returns.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Waits for the child to exit while reading all of its stdout and
    /// stderr (those that are piped and still held here), and returns the
    /// status and what was read. Stdin is closed first, as in
    /// [`wait`](Child::wait).
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let mut stdout_pipe = self.stdout.take();
        let mut stderr_pipe = self.stderr.take();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        // Both at once: a child blocked writing to a full stderr pipe would
        // never close its stdout.
        poll_fn(|cx| {
            let out = read_to_end(cx, &mut stdout_pipe, &mut stdout)?;
            let err = read_to_end(cx, &mut stderr_pipe, &mut stderr)?;
            if out.is_ready() && err.is_ready() {
                Poll::Ready(io::Result::Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output { status, stdout, stderr })
    }
}

/// Reads `pipe` into `buf` until end of file, then drops the pipe (`None`
/// is an already finished pipe).
fn read_to_end<R: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    pipe: &mut Option<R>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    let Some(reader) = pipe else { return Poll::Ready(Ok(())) };
    let mut chunk = [0u8; 8192];
    loop {
        match Pin::new(&mut *reader).poll_read(cx, &mut chunk) {
            Poll::Ready(Ok(0)) => {
                *pipe = None;
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut child) = self.inner.take() else { return };
        if self.reaped {
            return;
        }
        if self.kill_on_drop {
            let _ = child.kill();
        }
        orphan::adopt(child);
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

/// The exit status of a spawned child, nothing piped read or written (see
/// [`Command::status`](super::Command::status)).
pub(super) async fn status_of(child: io::Result<Child>) -> io::Result<ExitStatus> {
    let mut child = child?;
    child.stdin = None;
    child.stdout = None;
    child.stderr = None;
    child.wait().await
}

/// Output of a spawned child (see [`Command::output`](super::Command::output)).
pub(super) async fn output_of(child: io::Result<Child>) -> io::Result<Output> {
    child?.wait_with_output().await
}
