//! `weft::fs` on the workers' io_uring rings (see
//! `runtime/driver/uring`): the operations io_uring can do, each a ring
//! operation submitted to the ring of the worker the task runs on, whose
//! completion wakes the task wherever it runs by then. [`Uring::current`]
//! is `None` on the fallback (no rings: `Builder::io_uring(false)`, the
//! kernel refused, the current-thread flavor) and off the workers (only a
//! ring's own worker submits to it), and the callers use the blocking
//! pool. An operation of a sequence (open, reads, close) that finds
//! itself where no ring may take it (the task's future moved off the
//! workers, a worker without a ring, an opcode the kernel lacks) runs on
//! the blocking pool alone.

use std::ffi::CString;
use std::fs::File as StdFile;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use crate::runtime::driver::uring::{result, Op, Res, CURRENT_POSITION};
use crate::runtime::Handle;

/// The current runtime, when it has rings.
pub(super) struct Uring(Handle);

impl Uring {
    /// The current runtime's rings, `None` on the fallback or where this
    /// thread may not submit to a ring.
    ///
    /// # Panics
    /// Outside a weft runtime (as the blocking pool's path does).
    pub(super) fn current() -> Option<Uring> {
        let handle = Handle::current();
        handle.shared.uring_here()?;
        Some(Uring(handle))
    }

    /// Runs `op` on this worker's ring, or on the blocking pool where no
    /// ring may take it (see the module doc).
    async fn run(&self, op: Op, res: Res) -> io::Result<(u32, Res)> {
        let (res_code, res) = match self.0.shared.uring_here().filter(|ring| ring.supports(op)) {
            Some(ring) => ring.submit(op, res)?.await?,
            None => {
                let mut res = res;
                super::asyncify(move || Ok((res.run_blocking(op), res))).await?
            }
        };
        result(res_code).map(|n| (n, res))
    }

    /// `openat(path, flags, mode)`, as an open standard library file.
    pub(super) async fn open(&self, path: &Path, flags: i32, mode: u32) -> io::Result<StdFile> {
        let res = Res { path: Some(c_path(path)?), ..Res::default() };
        let (fd, _) = self.run(Op::Open { flags, mode }, res).await?;
        // SAFETY: the kernel just opened `fd` for us; nobody else owns it.
        Ok(unsafe { StdFile::from_raw_fd(fd as i32) })
    }

    /// Closes `fd` on the ring without waiting (its error, like a dropped
    /// `std::fs::File`'s, is not reported); closes it here where no ring
    /// may take it or the ring is shut down.
    fn close(&self, fd: OwnedFd) {
        let op = Op::Close { fd: fd.as_raw_fd() };
        let Some(ring) = self.0.shared.uring_here().filter(|ring| ring.supports(op)) else {
            return drop(fd);
        };
        let raw = fd.into_raw_fd();
        match ring.submit(op, Res::default()) {
            // The operation goes on without its future (never cancelled:
            // shutdown lets closes finish).
            Ok(close) => drop(close),
            // SAFETY: `raw` came from an `OwnedFd` and the ring refused to
            // close it: we still own it.
            Err(_) => drop(unsafe { OwnedFd::from_raw_fd(raw) }),
        }
    }

    /// `fs::read`: open, read until end of file, close.
    pub(super) async fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = Arc::new(self.open(path, libc::O_RDONLY, 0).await?);
        let mut data = Vec::new();
        let mut chunk = 16 * 1024;
        let outcome = loop {
            let res = Res { file: Some(file.clone()), ..Res::default() };
            let len = chunk as u32;
            // At the descriptor's position (ours alone): works on pipes
            // and other unseekable files too, as read(2) does.
            match self.run(Op::Read { offset: CURRENT_POSITION, len }, res).await {
                Ok((0, _)) => break Ok(()),
                Ok((_, res)) => {
                    data.extend_from_slice(&res.buf);
                    // Big files: fewer, larger reads (up to 2 MiB).
                    chunk = (chunk * 2).min(2 * 1024 * 1024);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        // Not ours alone only if the runtime gave up on a read in flight
        // at its end (the clone stays leaked with the read's memory).
        if let Ok(file) = Arc::try_unwrap(file) {
            self.close(file.into());
        }
        outcome.map(|()| data)
    }

    /// `fs::write`: create or truncate, write everything, close.
    pub(super) async fn write_file(&self, path: &Path, contents: Vec<u8>) -> io::Result<()> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        let file = Arc::new(self.open(path, flags, 0o666).await?);
        let len = contents.len();
        let outcome = if len == 0 {
            Ok(())
        } else {
            let res = Res { file: Some(file.clone()), buf: contents, ..Res::default() };
            write_outcome(self.run(Op::Write { offset: CURRENT_POSITION }, res).await, len)
        };
        // As in `read_file`: a write the runtime gave up on keeps its clone.
        if let Ok(file) = Arc::try_unwrap(file) {
            self.close(file.into());
        }
        outcome
    }

    /// `rename(from, to)`.
    pub(super) async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let res = Res { path: Some(c_path(from)?), path2: Some(c_path(to)?), ..Res::default() };
        self.run(Op::Rename, res).await.map(drop)
    }

    /// `unlink(path)`, or `rmdir(path)` with `dir`.
    pub(super) async fn unlink(&self, path: &Path, dir: bool) -> io::Result<()> {
        let res = Res { path: Some(c_path(path)?), ..Res::default() };
        self.run(Op::Unlink { dir }, res).await.map(drop)
    }

    /// `mkdir(path, 0o777)` (less the umask, as `std::fs::create_dir`).
    pub(super) async fn mkdir(&self, path: &Path) -> io::Result<()> {
        let res = Res { path: Some(c_path(path)?), ..Res::default() };
        self.run(Op::MkDir { mode: 0o777 }, res).await.map(drop)
    }
}

/// A whole-buffer write's outcome: short only if the kernel stopped
/// writing (as `write_all`'s `WriteZero`).
pub(super) fn write_outcome(outcome: io::Result<(u32, Res)>, len: usize) -> io::Result<()> {
    let (_, res) = outcome?;
    if res.done < len {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer"));
    }
    Ok(())
}

/// A path as the kernel takes it.
fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "file name contained an unexpected NUL byte")
    })
}
