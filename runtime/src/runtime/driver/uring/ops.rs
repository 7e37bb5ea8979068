//! The operations weft submits to a ring, and the memory each one lends
//! the kernel ([`Res`], which lives in the operation's slot).

use std::ffi::CString;
use std::fs::File as StdFile;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

/// "At the file's position": `read`/`write` with this offset use and
/// advance the descriptor's own offset, as read(2)/write(2) do.
pub(crate) const CURRENT_POSITION: u64 = u64::MAX;

/// One operation, as the caller describes it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    /// Reads up to `len` bytes at `offset` into the slot's buffer.
    Read { offset: u64, len: u32 },
    /// Writes the whole buffer at `offset`, resubmitting the rest of a
    /// short write (from the reaper, so it finishes without a poller).
    Write { offset: u64 },
    /// `fsync` (`fdatasync` with `data_only`).
    Fsync { data_only: bool },
    /// `openat(AT_FDCWD, path, flags, mode)`; the result is the new fd.
    Open { flags: i32, mode: u32 },
    /// `close(fd)`.
    Close { fd: RawFd },
    /// `renameat(AT_FDCWD, path, AT_FDCWD, path2)`.
    Rename,
    /// `unlinkat(AT_FDCWD, path, AT_REMOVEDIR if dir)`.
    Unlink { dir: bool },
    /// `mkdirat(AT_FDCWD, path, mode)`.
    MkDir { mode: u32 },
}

impl Op {
    /// The io_uring opcode, to ask the ring's probe whether the kernel
    /// supports it (MKDIRAT needs 5.15, RENAMEAT and UNLINKAT 5.11).
    pub(crate) fn opcode(self) -> u8 {
        match self {
            Op::Read { .. } => opcode::Read::CODE,
            Op::Write { .. } => opcode::Write::CODE,
            Op::Fsync { .. } => opcode::Fsync::CODE,
            Op::Open { .. } => opcode::OpenAt::CODE,
            Op::Close { .. } => opcode::Close::CODE,
            Op::Rename => opcode::RenameAt::CODE,
            Op::Unlink { .. } => opcode::UnlinkAt::CODE,
            Op::MkDir { .. } => opcode::MkDirAt::CODE,
        }
    }

    /// Whether shutdown must let it run to its end: a write or sync whose
    /// `Ok` the caller may have seen (a `File`'s write returns before its
    /// ring write ends), and a close (cancelled, it would leak the fd).
    pub(crate) fn must_finish(self) -> bool {
        matches!(self, Op::Write { .. } | Op::Fsync { .. } | Op::Close { .. })
    }
}

/// What an operation lends the kernel until its completion: the slot owns
/// it (see `slot`), so none of it moves or drops while the kernel may use
/// it.
#[derive(Debug, Default)]
pub(crate) struct Res {
    /// A read's destination (its length is the capacity in use), or a
    /// write's bytes.
    pub(crate) buf: Vec<u8>,
    /// The path arguments.
    pub(crate) path: Option<CString>,
    pub(crate) path2: Option<CString>,
    /// Keeps the descriptor open until the completion (a read, write or
    /// sync on a `File`); let go of before the future sees the result
    /// (see [`Res::release_file`]).
    pub(crate) file: Option<Arc<StdFile>>,
    /// A write's progress: bytes of `buf` written so far.
    pub(crate) done: usize,
    /// The operation itself (a short write continues from it).
    pub(crate) op: Option<Op>,
}

impl Res {
    /// The SQE for `op`, pointing into `self`; `None` if `op` needs a
    /// resource `self` lacks (a caller bug, reported as an error).
    pub(crate) fn entry(&mut self, op: Op) -> Option<squeue::Entry> {
        let at = types::Fd(libc::AT_FDCWD);
        let entry = match op {
            Op::Read { offset, len } => {
                let fd = types::Fd(self.file.as_ref()?.as_raw_fd());
                self.buf.clear();
                self.buf.reserve_exact(len as usize);
                opcode::Read::new(fd, self.buf.as_mut_ptr(), len).offset(offset).build()
            }
            Op::Write { offset } => {
                let fd = types::Fd(self.file.as_ref()?.as_raw_fd());
                let rest = &self.buf[self.done..];
                // At most a u32 per SQE; the rest goes as a continuation.
                let len = rest.len().min(u32::MAX as usize) as u32;
                let offset =
                    if offset == CURRENT_POSITION { offset } else { offset + self.done as u64 };
                opcode::Write::new(fd, rest.as_ptr(), len).offset(offset).build()
            }
            Op::Fsync { data_only } => {
                let fd = types::Fd(self.file.as_ref()?.as_raw_fd());
                let flags = if data_only {
                    types::FsyncFlags::DATASYNC
                } else {
                    types::FsyncFlags::empty()
                };
                opcode::Fsync::new(fd).flags(flags).build()
            }
            Op::Open { flags, mode } => opcode::OpenAt::new(at, self.path.as_ref()?.as_ptr())
                .flags(flags | libc::O_CLOEXEC)
                .mode(mode)
                .build(),
            Op::Close { fd } => opcode::Close::new(types::Fd(fd)).build(),
            Op::Rename => opcode::RenameAt::new(
                at,
                self.path.as_ref()?.as_ptr(),
                at,
                self.path2.as_ref()?.as_ptr(),
            )
            .build(),
            Op::Unlink { dir } => opcode::UnlinkAt::new(at, self.path.as_ref()?.as_ptr())
                .flags(if dir { libc::AT_REMOVEDIR } else { 0 })
                .build(),
            Op::MkDir { mode } => {
                opcode::MkDirAt::new(at, self.path.as_ref()?.as_ptr()).mode(mode).build()
            }
        };
        self.op = Some(op);
        Some(entry)
    }

    /// Lets go of the file clone once the operation ended (so the `File`
    /// is the descriptor's one owner again when it sees the result).
    /// Returns the file if this was its last reference, for the caller to
    /// close where it holds no lock (close(2) can block).
    pub(crate) fn release_file(&mut self) -> Option<StdFile> {
        // `into_inner` gives the file to exactly one of the last holders
        // that race (never to none, never dropping it itself).
        self.file.take().and_then(Arc::into_inner)
    }

    /// The operation ended with `result` and nobody will take it (its
    /// future was dropped): frees what the result created. An open's new
    /// descriptor is closed here, or it would leak.
    pub(crate) fn orphaned(self, result: i32) {
        if matches!(self.op, Some(Op::Open { .. })) && result >= 0 {
            // SAFETY: the kernel opened `result` for this operation, whose
            // future is gone: nobody else owns the descriptor.
            drop(unsafe { OwnedFd::from_raw_fd(result) });
        }
    }

    /// Runs `op` here, blocking (on the blocking pool: a thread that may
    /// not submit to a ring, or an opcode the kernel lacks), with the
    /// ring's result convention: the result, or a negative errno.
    pub(crate) fn run_blocking(&mut self, op: Op) -> i32 {
        let at = libc::AT_FDCWD;
        self.op = Some(op);
        loop {
            let fd = self.file.as_ref().map_or(-1, |file| file.as_raw_fd());
            let path = self.path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            let path2 = self.path2.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            // SAFETY: every pointer is null (the call then fails with
            // EFAULT or EBADF, as a malformed ring operation would) or
            // points into `self`'s buffer and C strings, alive and
            // unmoved for the call; the lengths are the buffer's own.
            let ret: isize = unsafe {
                match op {
                    Op::Read { offset, len } => {
                        self.buf.clear();
                        self.buf.reserve_exact(len as usize);
                        let ptr = self.buf.as_mut_ptr().cast();
                        if offset == CURRENT_POSITION {
                            libc::read(fd, ptr, len as usize)
                        } else {
                            libc::pread(fd, ptr, len as usize, offset as libc::off_t)
                        }
                    }
                    Op::Write { offset } => {
                        let rest = &self.buf[self.done..];
                        let ptr = rest.as_ptr().cast();
                        if rest.is_empty() {
                            // Nothing (left) to write: ends as a write of 0.
                            0
                        } else if offset == CURRENT_POSITION {
                            libc::write(fd, ptr, rest.len())
                        } else {
                            let at = (offset + self.done as u64) as libc::off_t;
                            libc::pwrite(fd, ptr, rest.len(), at)
                        }
                    }
                    Op::Fsync { data_only: true } => libc::fdatasync(fd) as isize,
                    Op::Fsync { data_only: false } => libc::fsync(fd) as isize,
                    Op::Open { flags, mode } => {
                        libc::openat(at, path, flags | libc::O_CLOEXEC, mode) as isize
                    }
                    Op::Close { fd } => libc::close(fd) as isize,
                    Op::Rename => libc::renameat(at, path, at, path2) as isize,
                    Op::Unlink { dir } => {
                        libc::unlinkat(at, path, if dir { libc::AT_REMOVEDIR } else { 0 }) as isize
                    }
                    Op::MkDir { mode } => libc::mkdirat(at, path, mode) as isize,
                }
            };
            let result = if ret < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
                // A close is not retried: the descriptor is gone either way.
                if errno == libc::EINTR && !matches!(op, Op::Close { .. }) {
                    continue;
                }
                -errno
            } else {
                ret.min(i32::MAX as isize) as i32
            };
            match self.step(result) {
                Ok(result) => {
                    self.file = None;
                    return result;
                }
                // The rest of a short write, as the reaper resubmits it.
                Err(_) => continue,
            }
        }
    }

    /// A completion with `result` arrived: `Ok(result)` ends the operation,
    /// `Err(entry)` continues a short write. At the end a read's buffer
    /// takes the length read (the caller then releases the file clone,
    /// see [`Res::release_file`]).
    pub(crate) fn step(&mut self, result: i32) -> Result<i32, squeue::Entry> {
        match self.op {
            Some(Op::Write { offset }) if result > 0 => {
                self.done += result as usize;
                if self.done < self.buf.len() {
                    if let Some(entry) = self.entry(Op::Write { offset }) {
                        return Err(entry);
                    }
                }
            }
            Some(Op::Read { .. }) if result > 0 => {
                // SAFETY: the kernel initialised the first `result` bytes
                // of the reserved capacity (`result` is at most the `len`
                // reserved in `entry`), and its completion was reaped, so
                // it no longer writes there.
                unsafe { self.buf.set_len(result as usize) };
            }
            _ => {}
        }
        match self.op {
            // A write ends with its error, or with the total written (in
            // `done` too; short only if the kernel wrote nothing more).
            Some(Op::Write { .. }) if result >= 0 => Ok(self.done.min(i32::MAX as usize) as i32),
            _ => Ok(result),
        }
    }
}
