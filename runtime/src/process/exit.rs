//! How a child's exit is noticed without a thread: a pidfd registered with
//! the worker's reactor (Linux 5.3 and later), else a non-blocking wait
//! retried on a weft timer with backoff.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::process::{Child as StdChild, ExitStatus};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::net::PollEvented;
use crate::runtime::driver::scheduled_io::Direction;
use crate::time::{sleep, Sleep};

/// The first and the longest pause between two non-blocking waits when no
/// pidfd is available.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

/// A process file descriptor: readable once the process has exited.
#[derive(Debug)]
pub(super) struct PidFd(OwnedFd);

impl Source for PidFd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

/// Opens a pidfd for `pid`, a child of this process not reaped yet.
#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> io::Result<PidFd> {
    use std::os::fd::FromRawFd;

    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open(2) takes a pid and a flags word by value and
    // touches no memory of ours; flags 0 is valid (the new descriptor is
    // close-on-exec, so no other child inherits it).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = std::os::fd::RawFd::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: the call above returned a new, open descriptor that nothing
    // else owns; `OwnedFd` becomes its only owner and closes it once.
    Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[cfg(not(target_os = "linux"))]
fn pidfd_open(_pid: u32) -> io::Result<PidFd> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// What a `Child` waits on for its exit.
#[derive(Debug)]
pub(super) enum ExitWatch {
    /// The child's pidfd, registered for readability.
    Pidfd(PollEvented<PidFd>),
    /// No pidfd (older kernel, or a sandbox refusing the call): retry a
    /// non-blocking wait after `pause`, doubling it up to `LONGEST_PAUSE`.
    Backoff { timer: Option<Pin<Box<Sleep>>>, pause: Duration },
}

impl ExitWatch {
    /// Watches the exit of `pid` (a child not reaped yet) through the
    /// current worker's reactor, or by polling when no pidfd can be had.
    /// Fails only if the pidfd cannot be registered with the reactor.
    pub(super) fn new(pid: u32) -> io::Result<ExitWatch> {
        match pidfd_open(pid) {
            Ok(fd) => Ok(ExitWatch::Pidfd(PollEvented::new_with_interest(fd, Interest::READABLE)?)),
            Err(_) => Ok(ExitWatch::backoff()),
        }
    }

    /// The polling watch, for when no pidfd can be had.
    pub(super) fn backoff() -> ExitWatch {
        ExitWatch::Backoff { timer: None, pause: FIRST_PAUSE }
    }

    /// Reaps `child` once it has exited, waiting on the pidfd or the timer
    /// meanwhile.
    pub(super) fn poll_exit(
        &mut self,
        cx: &mut Context<'_>,
        child: &mut StdChild,
    ) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = child.try_wait()? {
            return Poll::Ready(Ok(status));
        }
        match self {
            // The pidfd turns readable when the child becomes a zombie, so
            // the non-blocking wait after that finds its status.
            ExitWatch::Pidfd(pidfd) => pidfd.poll_io(cx, Direction::Read, |_| {
                child.try_wait()?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
            }),
            ExitWatch::Backoff { timer, pause } => loop {
                let sleeping = timer.get_or_insert_with(|| Box::pin(sleep(*pause)));
                ready!(sleeping.as_mut().poll(cx));
                *timer = None;
                *pause = (*pause * 2).min(LONGEST_PAUSE);
                if let Some(status) = child.try_wait()? {
                    return Poll::Ready(Ok(status));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use super::ExitWatch;

    /// The fallback without a pidfd still sees the exit, by polling.
    #[test]
    fn backoff_sees_the_exit() {
        let rt = crate::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut child = Command::new("sh").args(["-c", "sleep 0.05; exit 4"]).spawn().unwrap();
            let mut watch = ExitWatch::backoff();
            let status = poll_fn(|cx| watch.poll_exit(cx, &mut child)).await.unwrap();
            assert_eq!(status.code(), Some(4));

            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            let mut watch = ExitWatch::backoff();
            child.kill().unwrap();
            let status = poll_fn(|cx| watch.poll_exit(cx, &mut child)).await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL));
        });
    }
}
