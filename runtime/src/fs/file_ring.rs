//! A [`File`]'s operations on the worker's io_uring: reads and writes at
//! the descriptor's own position (the kernel advances it, as read(2) and
//! write(2) do, so seeks, `into_std` and the read-ahead bookkeeping work
//! as on the pool), `fsync`/`fdatasync`, and seeks inline (lseek does no
//! I/O). The buffer lives in the ring operation's slot while in flight;
//! a `File` dropped meanwhile leaves the operation to finish (a write
//! included, resubmitted by the reaper if short).

use std::future::Future;
use std::io::{self, Seek, SeekFrom};
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use std::fs::File as StdFile;

use super::{seek_back, Buf, File, Job, Kind, Op, State};
use crate::fs::shut_down_error;
use crate::fs::uring::write_outcome;
use crate::runtime::driver::uring::{self, OpFuture, Res, CURRENT_POSITION};
use crate::runtime::Handle;

/// A `File`'s ring operation, or the result of one done inline.
pub(super) enum RingJob {
    /// In flight; a sync keeps the file's buffer here (the kernel does not
    /// use it).
    Op { fut: OpFuture, buf: Option<Buf> },
    /// Done already (a seek, or a write whose seek back failed).
    Done(Option<Box<(Op, Buf)>>),
}

impl RingJob {
    pub(super) fn done(op: Op, buf: Buf) -> RingJob {
        RingJob::Done(Some(Box::new((op, buf))))
    }

    /// The operation's result and the file's buffer, once complete.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>, kind: Kind) -> Poll<(Op, Buf)> {
        let (fut, buf) = match self {
            RingJob::Done(done) => {
                return Poll::Ready(*done.take().expect("a finished job is collected once"))
            }
            RingJob::Op { fut, buf } => (fut, buf),
        };
        let (code, res) = match ready!(Pin::new(fut).poll(cx)) {
            Ok(done) => done,
            // The runtime shut down and gave up on the operation in flight.
            Err(err) => {
                return Poll::Ready(match kind {
                    Kind::Read => (Op::Read(Err(err)), Buf::new()),
                    Kind::Write => (Op::Write(Err(err)), Buf::new()),
                    _ => (Op::Sync(Err(err)), buf.take().unwrap_or_default()),
                })
            }
        };
        Poll::Ready(match kind {
            Kind::Read => match uring::result(code) {
                Ok(n) => (Op::Read(Ok(n as usize)), Buf::from_read(res.buf)),
                Err(err) => (Op::Read(Err(err)), Buf::new()),
            },
            Kind::Write => {
                let mut res = res;
                let data = mem::take(&mut res.buf);
                let outcome = write_outcome(uring::result(code).map(|n| (n, res)), data.len());
                (Op::Write(outcome), Buf::recycle(data))
            }
            _ => (Op::Sync(uring::result(code).map(drop)), buf.take().unwrap_or_default()),
        })
    }
}

/// [`File::start_ring`]: `None` where this thread may not submit to a
/// ring (off the workers, a worker without one) or for an operation the
/// ring does not do: the pool runs it.
pub(super) fn start(
    file: &mut File,
    rt: &Handle,
    kind: Kind,
    arg: usize,
) -> Option<io::Result<()>> {
    let ring = rt.shared.uring_here()?;
    let op = match kind {
        Kind::Read => {
            uring::Op::Read { offset: CURRENT_POSITION, len: arg.min(u32::MAX as usize) as u32 }
        }
        Kind::Write => uring::Op::Write { offset: CURRENT_POSITION },
        Kind::Sync { ring_fsync: Some(data_only) } => uring::Op::Fsync { data_only },
        _ => return None,
    };
    if !ring.supports(op) {
        return None;
    }
    let State::Idle(buf) = &mut file.state else {
        unreachable!("a File starts an operation only when idle")
    };
    let mut buf = mem::take(buf);
    let mut res = Res { file: Some(file.std.clone()), ..Res::default() };
    let mut kept = None;
    match kind {
        Kind::Read => res.buf = buf.take_data(),
        Kind::Write => {
            // Write where the caller is: back over the read-ahead (`arg`
            // bytes, already dropped from the buffer by `poll_write`).
            if let Err(err) = seek_back(&file.std, arg) {
                // As the pool's job: the write fails, reported later.
                let job = RingJob::done(Op::Write(Err(err)), Buf::new());
                file.state = State::Busy(kind, Job::Ring(job));
                return Some(Ok(()));
            }
            res.buf = buf.take_data();
        }
        _ => kept = Some(buf),
    }
    match ring.submit(op, res) {
        Ok(fut) => {
            file.state = State::Busy(kind, Job::Ring(RingJob::Op { fut, buf: kept }));
            Some(Ok(()))
        }
        Err(err) => {
            if kind == Kind::Write && arg > 0 {
                // Refused (shut down): undo the seek back, which
                // `poll_write` does itself on this error.
                let _ = (&*file.std).seek(SeekFrom::Current(arg as i64));
            }
            file.state = State::Idle(kept.unwrap_or_default());
            Some(Err(err))
        }
    }
}

/// A seek, inline (lseek does no I/O): its result is collected as a
/// finished job's. `None` without rings; the shutdown error once the
/// ring is closed, as the pool would refuse the job.
pub(super) fn seek(
    file: &mut File,
    rt: &Handle,
    pos: SeekFrom,
    job: impl FnOnce(&StdFile, &mut Buf) -> Op,
) -> Option<io::Result<()>> {
    let ring = rt.shared.uring_here()?;
    if ring.is_closed() {
        return Some(Err(shut_down_error()));
    }
    let State::Idle(buf) = &mut file.state else {
        unreachable!("a File starts an operation only when idle")
    };
    let mut buf = mem::take(buf);
    let op = job(&file.std, &mut buf);
    file.state = State::Busy(Kind::Seek(pos), Job::Ring(RingJob::done(op, buf)));
    Some(Ok(()))
}
