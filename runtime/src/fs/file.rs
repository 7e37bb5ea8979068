//! [`File`]: an open file whose operations run, one at a time and in
//! order, on the blocking pool.
//!
//! The file is *idle*, holding its [`Buf`], or *busy* with one pool job
//! that owns the buffer and hands it back with its result. A read starts a
//! job reading into the buffer and copies out of it when the job is done;
//! a write copies the caller's bytes into the buffer, starts the job and
//! returns at once. Every operation first waits for the job in flight, so
//! operations reach the OS in the order they were issued. The result of a
//! job whose caller is gone (a write's, always) is *absorbed*: a write's,
//! sync's or seek's error is kept in `pending_error` and returned by the
//! next operation that can report it (anything but a read for a write's or
//! a sync's; anything for a seek's, see [`Pending`]); a read's or
//! metadata's error is dropped (see [`File::absorb`]).
//!
//! Every job is a *mandatory* pool job (`spawn_mandatory_blocking`): the
//! runtime's shutdown does not cancel it once started, so a write that
//! returned `Ok` is never lost. One kind for all jobs keeps the rule simple
//! (an operation the file started always runs); it costs little, as a file
//! has at most one job in flight. Order needs nothing more: a file starts
//! its next job only after the previous one finished. After shutdown the
//! pool refuses new jobs, and the operation that would have started one
//! returns the error at once.

use std::fmt;
use std::fs::{File as StdFile, Metadata};
use std::future::{poll_fn, Future};
use std::io::{self, Seek, SeekFrom};
use std::mem;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};

use super::buf::{Buf, MAX_BUF_SIZE};
use super::{asyncify, join_error, shut_down_error, OpenOptions};
use crate::runtime::blocking::spawn_mandatory_blocking;
use crate::runtime::Handle;
use crate::task::JoinHandle;

#[cfg(all(target_os = "linux", not(loom)))]
#[path = "file_ring.rs"]
mod ring_job;

/// An open file on the filesystem, read and written through the runtime's
/// blocking pool.
///
/// Open one with [`File::open`], [`File::create`] or [`OpenOptions`]; read,
/// write and seek it with `futures_util::{AsyncReadExt, AsyncWriteExt,
/// AsyncSeekExt}`. One operation runs at a time, in the order issued (see
/// the [module docs](super#ordering-of-a-files-operations)):
///
/// - a **write** returns as soon as the bytes (up to 2 MiB per call) are
///   copied into the file's buffer; the write itself runs in the
///   background, and its error comes back from the next write, flush, seek,
///   sync, `set_len` or `metadata`. Call [`flush`] (or [`sync_all`]) to wait
///   for the writes and learn their outcome; dropping a `File` (or the
///   runtime) lets a write in flight finish, but its error is then lost;
/// - a **read** reads at most as many bytes as asked (and at most 2 MiB)
///   in one pool job, after the operations before it;
/// - a **seek** accounts for bytes read ahead and not yet handed out. A
///   seek given up on before it finished (its future dropped) still runs;
///   if it fails, the file's next operation, a read included, returns its
///   error instead of working at the old position.
///
/// Methods that take `&mut self` ([`metadata`], [`set_len`], [`sync_all`],
/// [`sync_data`]) are ordered after the writes before them.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::io::SeekFrom;
/// use futures_util::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use weft::fs::File;
///
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-file-{}", std::process::id()));
/// let mut file = File::options().read(true).write(true).create(true).open(&path).await?;
/// file.write_all(b"hello, world").await?;
/// file.seek(SeekFrom::Start(7)).await?; // waits for the write first
/// let mut word = String::new();
/// file.read_to_string(&mut word).await?;
/// assert_eq!(word, "world");
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// [`flush`]: futures_io::AsyncWrite::poll_flush
/// [`sync_all`]: File::sync_all
/// [`sync_data`]: File::sync_data
/// [`metadata`]: File::metadata
/// [`set_len`]: File::set_len
pub struct File {
    /// Shared with the job in flight, which drops its clone before its
    /// JoinHandle completes.
    std: Arc<StdFile>,
    state: State,
    /// The error of a job whose caller is gone, for the next operation
    /// that can report it.
    pending_error: Option<Pending>,
    max_buf_size: usize,
}

/// An error kept for a later operation.
struct Pending {
    err: io::Error,
    /// Whether a read must report it too. A failed seek left the position
    /// where it was, not where its caller asked: a read going on would read
    /// the wrong bytes. A write's or a sync's error does not concern a read,
    /// which keeps it for the next operation that can report it.
    for_reads: bool,
}

enum State {
    Idle(Buf),
    Busy(Kind, Job),
}

/// The operation in flight: a pool job, or (see `ring_job`) a ring
/// operation or an inline one's result.
enum Job {
    Pool(JoinHandle<(Op, Buf)>),
    #[cfg(all(target_os = "linux", not(loom)))]
    Ring(ring_job::RingJob),
}

/// What the job in flight does (a seek with its requested target, so a
/// re-polled `poll_seek` knows the job is its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Seek(SeekFrom),
    /// `sync_all`/`sync_data` (`ring_fsync: Some(data_only)`, which the
    /// ring can do) or `set_len` (`None`, pool only).
    Sync {
        ring_fsync: Option<bool>,
    },
    Metadata,
}

/// A finished job's result.
enum Op {
    Read(io::Result<usize>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
    /// `sync_all`, `sync_data`, `set_len`.
    Sync(io::Result<()>),
    Metadata(io::Result<Metadata>),
}

impl Kind {
    /// The result of a job of this kind that did not complete.
    fn failed(self, err: io::Error) -> Op {
        match self {
            Kind::Read => Op::Read(Err(err)),
            Kind::Write => Op::Write(Err(err)),
            Kind::Seek(_) => Op::Seek(Err(err)),
            Kind::Sync { .. } => Op::Sync(Err(err)),
            Kind::Metadata => Op::Metadata(Err(err)),
        }
    }
}

impl File {
    /// Opens the file at `path` for reading; the async version of
    /// [`std::fs::File::open`].
    ///
    /// # Errors
    /// Those of [`std::fs::File::open`] (for instance
    /// [`io::ErrorKind::NotFound`]), or an error if the runtime shut down
    /// before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncReadExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-open-{}", std::process::id()));
    /// weft::fs::write(&path, "contents").await?;
    /// let mut file = weft::fs::File::open(&path).await?;
    /// let mut text = String::new();
    /// file.read_to_string(&mut text).await?;
    /// assert_eq!(text, "contents");
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(ring) = super::uring::Uring::current() {
            return ring.open(&path, libc::O_RDONLY, 0).await.map(File::from_std);
        }
        asyncify(move || StdFile::open(path)).await.map(File::from_std)
    }

    /// Opens the file at `path` for writing, creating it if needed and
    /// truncating it otherwise; the async version of
    /// [`std::fs::File::create`].
    ///
    /// # Errors
    /// Those of [`std::fs::File::create`], or an error if the runtime shut
    /// down before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-create-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(b"new file").await?;
    /// file.flush().await?;
    /// assert_eq!(weft::fs::read(&path).await?, b"new file");
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(ring) = super::uring::Uring::current() {
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
            return ring.open(&path, flags, 0o666).await.map(File::from_std);
        }
        asyncify(move || StdFile::create(path)).await.map(File::from_std)
    }

    /// Creates a new file at `path` for reading and writing, failing if it
    /// exists; the async version of [`std::fs::File::create_new`].
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] if `path` exists, the other errors of
    /// [`std::fs::File::create_new`], or an error if the runtime shut down
    /// before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-new-{}", std::process::id()));
    /// # let _ = weft::fs::remove_file(&path).await;
    /// let file = weft::fs::File::create_new(&path).await?;
    /// let err = weft::fs::File::create_new(&path).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    /// # drop(file);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        #[cfg(all(target_os = "linux", not(loom)))]
        if let Some(ring) = super::uring::Uring::current() {
            let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
            return ring.open(&path, flags, 0o666).await.map(File::from_std);
        }
        asyncify(move || StdFile::create_new(path)).await.map(File::from_std)
    }

    /// A new [`OpenOptions`], to choose how a file is opened; same as
    /// [`OpenOptions::new`].
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-options-{}", std::process::id()));
    /// let file = weft::fs::File::options().append(true).create(true).open(&path).await?;
    /// # drop(file);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open standard library file. Needs no runtime (operations
    /// on the file do).
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-fromstd-{}", std::process::id()));
    /// let std_file = std::fs::File::create(&path)?;
    /// let mut file = weft::fs::File::from_std(std_file);
    /// assert_eq!(file.metadata().await?.len(), 0);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn from_std(std: StdFile) -> File {
        File {
            std: Arc::new(std),
            state: State::Idle(Buf::new()),
            pending_error: None,
            max_buf_size: MAX_BUF_SIZE,
        }
    }

    /// Waits for the operation in flight, then returns the standard library
    /// file, positioned where this file's reader was (bytes read ahead are
    /// given back to the OS position).
    ///
    /// An error of a background write not yet reported is dropped: flush
    /// first to see it.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::io::Seek;
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-intostd-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(b"12345").await?; // still in flight
    /// let mut std_file = file.into_std().await; // waits for it
    /// assert_eq!(std_file.stream_position()?, 5);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn into_std(mut self) -> StdFile {
        if let Some(op) = poll_fn(|cx| self.poll_complete(cx)).await {
            self.absorb(op);
        }
        self.into_std_now().unwrap_or_else(|_| unreachable!("an idle File's job dropped its clone"))
    }

    /// Returns the standard library file at once if no operation is in
    /// flight (one that has just finished is collected), or gives the
    /// `File` back. Like [`into_std`](File::into_std), it positions the
    /// file where this file's reader was and drops an unreported error of
    /// a background write.
    ///
    /// # Errors
    /// The `File` itself, while an operation is still running on the pool.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-tryintostd-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(b"data").await?;
    /// file.flush().await?; // nothing in flight now
    /// let std_file = file.try_into_std().expect("idle");
    /// assert_eq!(std_file.metadata()?.len(), 4);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn try_into_std(mut self) -> Result<StdFile, File> {
        if let State::Busy(..) = self.state {
            let mut cx = Context::from_waker(Waker::noop());
            match self.poll_complete(&mut cx) {
                Poll::Ready(Some(op)) => self.absorb(op),
                Poll::Ready(None) => {}
                Poll::Pending => return Err(self),
            }
        }
        self.into_std_now()
    }

    /// The idle file's standard library file, its position moved back over
    /// the bytes read ahead (best effort: `lseek` back over bytes just read
    /// does not fail in practice). `Err(self)` while a job is in flight.
    fn into_std_now(mut self) -> Result<StdFile, File> {
        let State::Idle(buf) = &mut self.state else { return Err(self) };
        // lseek only moves the descriptor's offset (no I/O): fine inline.
        let _ = seek_back(&self.std, buf.unread());
        buf.discard_unread();
        let File { std, state, pending_error, max_buf_size } = self;
        // An idle file's jobs have all dropped their clones.
        Arc::try_unwrap(std).map_err(|std| File { std, state, pending_error, max_buf_size })
    }

    /// The file's metadata (size, permissions, times), after the writes
    /// issued before it; the async version of
    /// [`std::fs::File::metadata`].
    ///
    /// # Errors
    /// The error of an earlier background write, those of
    /// [`std::fs::File::metadata`], or an error if the runtime shut down
    /// before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-fmeta-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(&[0; 300]).await?;
    /// assert_eq!(file.metadata().await?.len(), 300); // ordered after the write
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn metadata(&mut self) -> io::Result<Metadata> {
        match self.run(Kind::Metadata, |std, _| Op::Metadata(std.metadata())).await? {
            Op::Metadata(result) => result,
            _ => unreachable!("a metadata job gives metadata"),
        }
    }

    /// Truncates or extends (with zeros) the file to `size` bytes, after
    /// the writes issued before it; the async version of
    /// [`std::fs::File::set_len`]. The position is unchanged; bytes read
    /// ahead are dropped (they may be gone).
    ///
    /// # Errors
    /// The error of an earlier background write, those of
    /// [`std::fs::File::set_len`] (for instance a file not open for
    /// writing), or an error if the runtime shut down before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-setlen-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(b"0123456789").await?;
    /// file.set_len(4).await?;
    /// assert_eq!(weft::fs::read(&path).await?, b"0123");
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.run_sync(None, move |std, buf| {
            seek_back(std, buf.unread())?;
            buf.discard_unread();
            std.set_len(size)
        })
        .await
    }

    /// Waits for the writes issued before it (reporting their error), then
    /// flushes the file's data and metadata to the device (`fsync`); the
    /// async version of [`std::fs::File::sync_all`].
    ///
    /// # Errors
    /// The error of an earlier background write, those of
    /// [`std::fs::File::sync_all`], or an error if the runtime shut down
    /// before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-syncall-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(b"durable").await?;
    /// file.sync_all().await?; // written and on the device
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.run_sync(Some(false), |std, _| std.sync_all()).await
    }

    /// Like [`sync_all`](File::sync_all) but may skip metadata that is not
    /// needed to read the data back (`fdatasync`); the async version of
    /// [`std::fs::File::sync_data`].
    ///
    /// # Errors
    /// The error of an earlier background write, those of
    /// [`std::fs::File::sync_data`], or an error if the runtime shut down
    /// before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-syncdata-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.write_all(b"data").await?;
    /// file.sync_data().await?;
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.run_sync(Some(true), |std, _| std.sync_data()).await
    }

    /// Sets the largest number of bytes one read or write moves through the
    /// pool (default and sensible maximum 2 MiB; at least 1). Larger
    /// chunks mean fewer pool trips for large transfers, and more memory
    /// held by the file's buffer.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-maxbuf-{}", std::process::id()));
    /// let mut file = weft::fs::File::create(&path).await?;
    /// file.set_max_buf_size(4);
    /// assert_eq!(file.write(b"0123456789").await?, 4); // one chunk per write
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_max_buf_size(&mut self, max_buf_size: usize) {
        self.max_buf_size = max_buf_size.max(1);
    }

    /// Starts `job` on the pool with the file's buffer, as a mandatory job
    /// (see the module docs). The file is idle; `rt` was found before the
    /// caller touched the buffer, so a missing runtime panics with the file
    /// unchanged.
    ///
    /// # Errors
    /// The runtime is shut down and its pool refused the job: the job never
    /// runs, and the file stays idle with an empty buffer (bytes read ahead
    /// are given back to the OS position, so `into_std` still positions the
    /// file right).
    fn start<J>(&mut self, rt: &Handle, kind: Kind, job: J) -> io::Result<()>
    where
        J: FnOnce(&StdFile, &mut Buf) -> Op + Send + 'static,
    {
        let State::Idle(buf) = &mut self.state else {
            unreachable!("a File starts an operation only when idle")
        };
        let mut buf = mem::take(buf);
        // How far the OS position is ahead of the caller's: the bytes read
        // ahead. A write's buffer holds bytes to write instead (`poll_write`
        // dropped the read-ahead and gives it back itself).
        let ahead = if kind == Kind::Write { 0 } else { buf.unread() };
        let std = Arc::clone(&self.std);
        let handle = spawn_mandatory_blocking(&rt.shared, move || {
            let op = job(&std, &mut buf);
            // `std` is dropped here, before the JoinHandle completes.
            (op, buf)
        });
        match handle {
            Some(handle) => {
                self.state = State::Busy(kind, Job::Pool(handle));
                Ok(())
            }
            None => {
                // The job (the buffer, the clone of `std`) is dropped. lseek
                // only moves the descriptor's offset (no I/O): fine inline.
                let _ = seek_back(&self.std, ahead);
                Err(shut_down_error())
            }
        }
    }

    /// Starts the operation on the current worker's io_uring, if the
    /// runtime has rings and the ring can do `kind` (a read of `arg` bytes,
    /// a write of the buffer after moving back over `arg` bytes read ahead,
    /// a `sync_all`/`sync_data`); `None` otherwise, for the pool. The
    /// errors are `start`'s.
    fn start_ring(&mut self, rt: &Handle, kind: Kind, arg: usize) -> Option<io::Result<()>> {
        #[cfg(all(target_os = "linux", not(loom)))]
        return ring_job::start(self, rt, kind, arg);
        #[cfg(not(all(target_os = "linux", not(loom))))]
        {
            let _ = (rt, kind, arg);
            None
        }
    }

    /// Waits for the job in flight and makes the file idle again; returns
    /// the job's result, `None` if the file was idle. A job that panicked
    /// or was cancelled gives its kind's error (and a fresh buffer).
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Option<Op>> {
        let State::Busy(kind, job) = &mut self.state else { return Poll::Ready(None) };
        let (op, buf) = match job {
            Job::Pool(handle) => match ready!(Pin::new(handle).poll(cx)) {
                Ok(done) => done,
                Err(err) => (kind.failed(join_error(err)), Buf::new()),
            },
            #[cfg(all(target_os = "linux", not(loom)))]
            Job::Ring(job) => ready!(job.poll(cx, *kind)),
        };
        self.state = State::Idle(buf);
        Poll::Ready(Some(op))
    }

    /// Takes in the result of a job whose caller is gone. A write's or a
    /// sync's error is kept for the next operation but a read; a seek's for
    /// the next operation, a read included (see [`Pending`]). Data a read
    /// brought stays in the buffer; other results are dropped.
    ///
    /// A read's or metadata's error is dropped: such a job changed nothing
    /// (no byte was consumed, the position did not move) and nobody waits
    /// for its result, so later operations are unaffected, and a later read
    /// meets the error again if its cause persists. Reporting it from an
    /// unrelated write would fail that write without trying it.
    fn absorb(&mut self, op: Op) {
        let (err, for_reads) = match op {
            Op::Write(Err(err)) | Op::Sync(Err(err)) => (err, false),
            Op::Seek(Err(err)) => (err, true),
            _ => return,
        };
        // Writes, syncs and seeks start only when no error is pending, and
        // only one job runs at a time, so this is empty; if not, the first
        // error wins.
        self.pending_error.get_or_insert(Pending { err, for_reads });
    }

    /// The pending error an operation must report before it starts: any,
    /// or for a read only one that concerns reads.
    fn take_pending_error(&mut self, read: bool) -> Option<io::Error> {
        match &self.pending_error {
            Some(pending) if !read || pending.for_reads => {
                self.pending_error.take().map(|pending| pending.err)
            }
            _ => None,
        }
    }

    /// Waits for the job in flight, then returns the error a background
    /// job left, if any: what every operation but a read does first.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(op) = ready!(self.poll_complete(cx)) {
            self.absorb(op);
        }
        Poll::Ready(self.take_pending_error(false).map_or(Ok(()), Err))
    }

    /// Runs `job` as the file's next operation and waits for its result.
    /// Dropped midway, the job still finishes and its error is absorbed.
    async fn run<J>(&mut self, kind: Kind, job: J) -> io::Result<Op>
    where
        J: FnOnce(&StdFile, &mut Buf) -> Op + Send + 'static,
    {
        poll_fn(|cx| self.poll_settle(cx)).await?;
        let rt = Handle::current();
        if let Some(started) = self.start_ring(&rt, kind, 0) {
            started?;
        } else {
            self.start(&rt, kind, job)?;
        }
        Ok(poll_fn(|cx| self.poll_complete(cx)).await.expect("the job just started is in flight"))
    }

    /// [`run`](File::run) for the jobs without a value (`Kind::Sync`);
    /// `fsync` (`Some(data_only)`) goes on the ring where there is one.
    async fn run_sync<J>(&mut self, fsync: Option<bool>, job: J) -> io::Result<()>
    where
        J: FnOnce(&StdFile, &mut Buf) -> io::Result<()> + Send + 'static,
    {
        match self
            .run(Kind::Sync { ring_fsync: fsync }, move |std, buf| Op::Sync(job(std, buf)))
            .await?
        {
            Op::Sync(result) => result,
            _ => unreachable!("a sync job gives a unit result"),
        }
    }
}

/// Moves `file`'s OS position back over `unread` bytes read ahead.
fn seek_back(mut file: &StdFile, unread: usize) -> io::Result<()> {
    if unread > 0 {
        // `unread` is at most one buffer (a few MiB): no overflow.
        file.seek(SeekFrom::Current(-(unread as i64)))?;
    }
    Ok(())
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            // A seek given up on failed: do not read at the old position.
            if let Some(err) = me.take_pending_error(true) {
                return Poll::Ready(Err(err));
            }
            match &mut me.state {
                State::Idle(buf) if buf.unread() > 0 => return Poll::Ready(Ok(buf.copy_to(dst))),
                State::Idle(_) => {
                    let rt = Handle::current();
                    let len = dst.len().min(me.max_buf_size);
                    match me.start_ring(&rt, Kind::Read, len) {
                        Some(started) => started?,
                        None => me.start(&rt, Kind::Read, move |std, buf| {
                            Op::Read(buf.read_from(std, len))
                        })?,
                    }
                }
                State::Busy(..) => match ready!(me.poll_complete(cx)) {
                    // End of file.
                    Some(Op::Read(Ok(0))) => return Poll::Ready(Ok(0)),
                    // The bytes are in the buffer: copied out on the next turn.
                    Some(Op::Read(Ok(_))) => {}
                    Some(Op::Read(Err(err))) => return Poll::Ready(Err(err)),
                    Some(op) => me.absorb(op),
                    None => {}
                },
            }
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        loop {
            if let Some(err) = me.take_pending_error(false) {
                return Poll::Ready(Err(err));
            }
            match &mut me.state {
                State::Busy(..) => {
                    if let Some(op) = ready!(me.poll_complete(cx)) {
                        me.absorb(op);
                    }
                }
                State::Idle(_) if src.is_empty() => return Poll::Ready(Ok(0)),
                State::Idle(buf) => {
                    let rt = Handle::current();
                    // Write where the caller is, not where the read-ahead is.
                    let back = buf.discard_unread();
                    let n = buf.copy_from(src, me.max_buf_size);
                    // The ring writes at the descriptor's position, so the
                    // read-ahead goes back first (`start_ring` undoes it if
                    // the ring refuses).
                    let started = match me.start_ring(&rt, Kind::Write, back) {
                        Some(started) => started,
                        None => me.start(&rt, Kind::Write, move |std, buf| {
                            let result = seek_back(std, back).and_then(|()| buf.write_to(std));
                            buf.discard_unread(); // empty even if the seek failed
                            Op::Write(result)
                        }),
                    };
                    if let Err(err) = started {
                        // Refused (shut down): nothing was written. Give the
                        // read-ahead back as the job would have (lseek only).
                        let _ = seek_back(&me.std, back);
                        return Poll::Ready(Err(err));
                    }
                    return Poll::Ready(Ok(n));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let me = self.get_mut();
        loop {
            match &mut me.state {
                // The seek this caller started (and was told Pending about).
                State::Busy(Kind::Seek(started), _) if *started == pos => {
                    match ready!(me.poll_complete(cx)) {
                        Some(Op::Seek(result)) => return Poll::Ready(result),
                        _ => unreachable!("a seek job gives a position"),
                    }
                }
                State::Busy(..) => {
                    if let Some(op) = ready!(me.poll_complete(cx)) {
                        me.absorb(op);
                    }
                }
                State::Idle(buf) => {
                    // Any pending error (`take_pending_error(false)`, with
                    // `buf` borrowed).
                    if let Some(pending) = me.pending_error.take() {
                        return Poll::Ready(Err(pending.err));
                    }
                    let rt = Handle::current();
                    // The OS position is ahead of the caller's by the bytes
                    // read ahead: a relative seek starts from the caller's.
                    let target = match pos {
                        SeekFrom::Current(offset) => {
                            match offset.checked_sub(buf.unread() as i64) {
                                Some(offset) => SeekFrom::Current(offset),
                                None => return Poll::Ready(Err(seek_overflow())),
                            }
                        }
                        absolute => absolute,
                    };
                    let job = move |mut std: &StdFile, buf: &mut Buf| {
                        let result = std.seek(target);
                        if result.is_ok() {
                            buf.discard_unread();
                        }
                        Op::Seek(result)
                    };
                    // With rings, lseek (no I/O, it only moves the offset)
                    // runs inline rather than on the pool.
                    #[cfg(all(target_os = "linux", not(loom)))]
                    if let Some(started) = ring_job::seek(me, &rt, pos, job) {
                        started?;
                        continue;
                    }
                    me.start(&rt, Kind::Seek(pos), job)?;
                }
            }
        }
    }
}

fn seek_overflow() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "invalid seek to a negative or overflowing position",
    )
}

impl From<StdFile> for File {
    fn from(std: StdFile) -> File {
        File::from_std(std)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("std", &self.std)
            .field("busy", &matches!(self.state, State::Busy(..)))
            .finish()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.std.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for File {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.std.as_fd()
    }
}
