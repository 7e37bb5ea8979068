//! Directory listings: [`read_dir`], the [`ReadDir`] it returns and its
//! [`DirEntry`]s, read from the OS in batches on the blocking pool.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::{asyncify, join_error};
use crate::task::JoinHandle;

/// How many entries one pool job reads: a trip through the pool per entry
/// would cost far more than reading the entry, while an unbounded batch
/// would hold a huge directory in memory before the caller sees any of it.
const BATCH: usize = 32;

/// Opens the directory `path` for listing its entries; the async version of
/// [`std::fs::read_dir`]. Call [`ReadDir::next_entry`] for each entry.
///
/// The entries come in no particular order and without `.` and `..`. The
/// same pool job that opens the directory reads its first entries.
///
/// # Errors
/// Those of [`std::fs::read_dir`]: [`io::ErrorKind::NotFound`] for a
/// missing path, an error (such as [`io::ErrorKind::NotADirectory`]) for a
/// file...; or an error if the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-readdir-{}", std::process::id()));
/// weft::fs::create_dir_all(dir.join("sub")).await?;
/// weft::fs::write(dir.join("file"), "x").await?;
///
/// let mut names = Vec::new();
/// let mut entries = weft::fs::read_dir(&dir).await?;
/// while let Some(entry) = entries.next_entry().await? {
///     names.push((entry.file_name(), entry.file_type().await?.is_dir()));
/// }
/// names.sort();
/// assert_eq!(names, [("file".into(), false), ("sub".into(), true)]);
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let first = asyncify(move || std::fs::read_dir(path).map(next_batch)).await?;
    Ok(ReadDir { state: State::Idle(first) })
}

/// The entries of a directory, from [`read_dir`]; the async counterpart of
/// [`std::fs::ReadDir`].
///
/// It reads the entries from the OS 32 at a time, in one blocking-pool job
/// per batch, and hands them out one by one. Dropping it closes the
/// directory (if a batch is being read then, the pool job finishes that
/// batch and closes it), once no [`DirEntry`] it handed out is alive: as
/// with std's, an entry keeps the directory open on Linux.
pub struct ReadDir {
    state: State,
}

enum State {
    /// Between batches: the entries read but not handed out yet.
    Idle(Batch),
    /// A pool job is reading the next batch.
    Reading(JoinHandle<Batch>),
}

/// Entries read by one pool job, and the open directory unless it has no
/// more.
struct Batch {
    entries: VecDeque<io::Result<DirEntry>>,
    rest: Option<std::fs::ReadDir>,
}

/// Reads up to [`BATCH`] entries of `dir`; runs on the pool.
fn next_batch(mut dir: std::fs::ReadDir) -> Batch {
    let mut entries = VecDeque::with_capacity(BATCH);
    for _ in 0..BATCH {
        match dir.next() {
            Some(entry) => entries.push_back(entry.map(DirEntry::new)),
            None => return Batch { entries, rest: None },
        }
    }
    Batch { entries, rest: Some(dir) }
}

impl ReadDir {
    /// The next entry of the directory, or `None` when there are no more.
    ///
    /// Cancel safe: an entry is only taken from the `ReadDir` when this
    /// returns it, so dropping the future (in a `select`, say) loses none.
    ///
    /// # Errors
    /// An error of [`std::fs::ReadDir`]'s iterator (reading the directory
    /// failed), or an error if the runtime shut down before the next batch
    /// was read; the listing then ends.
    ///
    /// # Panics
    /// When it must read the next batch outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-next-{}", std::process::id()));
    /// weft::fs::create_dir_all(&dir).await?;
    /// for i in 0..100 {
    ///     weft::fs::write(dir.join(i.to_string()), "").await?;
    /// }
    /// let mut entries = weft::fs::read_dir(&dir).await?;
    /// let mut count = 0;
    /// while let Some(_entry) = entries.next_entry().await? {
    ///     count += 1;
    /// }
    /// assert_eq!(count, 100);
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry of the directory: `Ready(Ok(None))` when
    /// there are no more. The poll-based form of
    /// [`next_entry`](ReadDir::next_entry), for hand-written futures and
    /// streams.
    ///
    /// `Pending` while a pool job reads the next batch; `cx`'s waker (the
    /// latest one given) is woken when it is done.
    ///
    /// # Errors
    /// As [`next_entry`](ReadDir::next_entry).
    ///
    /// # Panics
    /// When it must read the next batch outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-poll-{}", std::process::id()));
    /// weft::fs::create_dir_all(&dir).await?;
    /// weft::fs::write(dir.join("only"), "").await?;
    /// let mut entries = weft::fs::read_dir(&dir).await?;
    /// let first = std::future::poll_fn(|cx| entries.poll_next_entry(cx)).await?;
    /// assert_eq!(first.unwrap().file_name(), "only");
    /// assert!(std::future::poll_fn(|cx| entries.poll_next_entry(cx)).await?.is_none());
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Idle(batch) => {
                    if let Some(entry) = batch.entries.pop_front() {
                        return Poll::Ready(entry.map(Some));
                    }
                    if batch.rest.is_none() {
                        return Poll::Ready(Ok(None));
                    }
                    // Before taking the directory out: outside a runtime
                    // this panics and the `ReadDir` keeps it.
                    let runtime = crate::runtime::Handle::current();
                    let Some(dir) = batch.rest.take() else { unreachable!("checked above") };
                    self.state = State::Reading(runtime.spawn_blocking(move || next_batch(dir)));
                }
                State::Reading(job) => {
                    let result = ready!(Pin::new(job).poll(cx));
                    match result {
                        Ok(batch) => self.state = State::Idle(batch),
                        Err(err) => {
                            // The job (and the directory with it) is gone:
                            // the listing ends after this error.
                            self.state =
                                State::Idle(Batch { entries: VecDeque::new(), rest: None });
                            return Poll::Ready(Err(join_error(err)));
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("ReadDir");
        match &self.state {
            State::Idle(batch) => {
                out.field("buffered", &batch.entries.len()).field("finished", &batch.rest.is_none())
            }
            State::Reading(_) => out.field("reading", &true),
        }
        .finish_non_exhaustive()
    }
}

/// One entry of a directory listing, from [`ReadDir::next_entry`]; the
/// async counterpart of [`std::fs::DirEntry`].
///
/// Its name and path need no system call. Its file type is read with the
/// entry's batch, on the pool, so [`file_type`](DirEntry::file_type)
/// usually returns at once; [`metadata`](DirEntry::metadata) is a pool job.
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
    /// Read on the pool with the batch; `None` if that failed, so that
    /// `file_type` tries again and reports the error.
    file_type: Option<FileType>,
}

impl DirEntry {
    /// Runs on the pool: most file systems give the type with the entry,
    /// the others need a `lstat` best done there too.
    fn new(std: std::fs::DirEntry) -> DirEntry {
        let file_type = std.file_type().ok();
        DirEntry { std: Arc::new(std), file_type }
    }

    /// The full path of the entry: the path given to [`read_dir`] joined
    /// with [`file_name`](DirEntry::file_name).
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-path-{}", std::process::id()));
    /// weft::fs::create_dir_all(&dir).await?;
    /// weft::fs::write(dir.join("a.txt"), "").await?;
    /// let entry = weft::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    /// assert_eq!(entry.path(), dir.join("a.txt"));
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name within its directory (no leading path).
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-name-{}", std::process::id()));
    /// weft::fs::create_dir_all(&dir).await?;
    /// weft::fs::write(dir.join("b.txt"), "").await?;
    /// let entry = weft::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    /// assert_eq!(entry.file_name(), "b.txt");
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's inode number, as the directory listing gives it
    /// ([`std::os::unix::fs::DirEntryExt::ino`]); no system call.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::os::unix::fs::MetadataExt;
    ///
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-ino-{}", std::process::id()));
    /// weft::fs::create_dir_all(&dir).await?;
    /// weft::fs::write(dir.join("c"), "").await?;
    /// let entry = weft::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    /// assert_eq!(entry.ino(), weft::fs::metadata(dir.join("c")).await?.ino());
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(unix)]
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.std)
    }

    /// The entry's metadata, *not* following a symbolic link (like
    /// [`symlink_metadata`](super::symlink_metadata)); the async version of
    /// [`std::fs::DirEntry::metadata`], run on the pool.
    ///
    /// # Errors
    /// Those of [`std::fs::DirEntry::metadata`] (the entry was removed
    /// since the listing, say), or an error if the runtime shut down before
    /// the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-dmeta-{}", std::process::id()));
    /// weft::fs::create_dir_all(&dir).await?;
    /// weft::fs::write(dir.join("ten"), [0u8; 10]).await?;
    /// let entry = weft::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    /// assert_eq!(entry.metadata().await?.len(), 10);
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = Arc::clone(&self.std);
        asyncify(move || std.metadata()).await
    }

    /// The entry's file type, *not* following a symbolic link; the async
    /// version of [`std::fs::DirEntry::file_type`]. Usually known from the
    /// listing already; otherwise it is read on the pool.
    ///
    /// # Errors
    /// Those of [`std::fs::DirEntry::file_type`], or an error if the runtime
    /// shut down before the call ran.
    ///
    /// # Panics
    /// When it must read the type outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("weft-fs-doc-ftype-{}", std::process::id()));
    /// weft::fs::create_dir_all(dir.join("inner")).await?;
    /// let entry = weft::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    /// assert!(entry.file_type().await?.is_dir());
    /// # weft::fs::remove_dir_all(&dir).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn file_type(&self) -> io::Result<FileType> {
        if let Some(file_type) = self.file_type {
            return Ok(file_type);
        }
        let std = Arc::clone(&self.std);
        asyncify(move || std.file_type()).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.std.path()).finish()
    }
}
