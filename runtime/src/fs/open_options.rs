//! [`OpenOptions`]: how to open a [`File`], the async twin of
//! [`std::fs::OpenOptions`].

use std::io;
use std::path::Path;

use super::{asyncify, File};

/// Options for opening a file (read, write, append, truncate, create...):
/// [`std::fs::OpenOptions`] whose [`open`](OpenOptions::open) runs on the
/// blocking pool and gives a weft [`File`].
///
/// Every option starts `false`; set them with the builder methods, then
/// call `open`. The same options can open many files.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use futures_util::AsyncWriteExt;
/// use weft::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-oo-{}", std::process::id()));
/// # let _ = weft::fs::remove_file(&path).await;
/// let mut log = OpenOptions::new().append(true).create(true).open(&path).await?;
/// log.write_all(b"one\n").await?;
/// log.flush().await?;
/// let mut log = OpenOptions::new().append(true).open(&path).await?;
/// log.write_all(b"two\n").await?;
/// log.flush().await?;
/// assert_eq!(weft::fs::read_to_string(&path).await?, "one\ntwo\n");
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// Options with everything off: set at least `read`, `write` or
    /// `append` before opening.
    ///
    /// ```
    /// let mut options = weft::fs::OpenOptions::new();
    /// options.read(true);
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Opens for reading.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-oo-read-{}", std::process::id()));
    /// weft::fs::write(&path, "x").await?;
    /// let file = weft::fs::OpenOptions::new().read(true).open(&path).await?;
    /// # drop(file);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Opens for writing (at the start of the file, over what is there,
    /// unless `append` or `truncate` is set too).
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures_util::AsyncWriteExt;
    ///
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-oo-write-{}", std::process::id()));
    /// weft::fs::write(&path, "abcdef").await?;
    /// let mut file = weft::fs::OpenOptions::new().write(true).open(&path).await?;
    /// file.write_all(b"XY").await?;
    /// file.flush().await?;
    /// assert_eq!(weft::fs::read_to_string(&path).await?, "XYcdef");
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Opens for appending: every write goes to the end of the file
    /// (implies writing).
    ///
    /// ```
    /// let mut options = weft::fs::OpenOptions::new();
    /// options.append(true).create(true);
    /// ```
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Truncates an existing file to length 0 when opening it (needs
    /// writing).
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-oo-trunc-{}", std::process::id()));
    /// weft::fs::write(&path, "old contents").await?;
    /// let file = weft::fs::OpenOptions::new().write(true).truncate(true).open(&path).await?;
    /// assert_eq!(weft::fs::metadata(&path).await?.len(), 0);
    /// # drop(file);
    /// # weft::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Creates the file if it does not exist (needs `write` or `append`).
    ///
    /// ```
    /// let mut options = weft::fs::OpenOptions::new();
    /// options.write(true).create(true);
    /// ```
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Creates the file, failing with [`io::ErrorKind::AlreadyExists`] if
    /// it exists (atomically; needs `write` or `append`; `create` and
    /// `truncate` are then ignored).
    ///
    /// ```
    /// let mut options = weft::fs::OpenOptions::new();
    /// options.write(true).create_new(true);
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// The permission bits a created file gets (before the umask), `0o666`
    /// by default; see [`std::os::unix::fs::OpenOptionsExt::mode`].
    ///
    /// ```
    /// let mut options = weft::fs::OpenOptions::new();
    /// options.write(true).create(true).mode(0o600);
    /// ```
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Extra flags for `open(2)` (such as `O_NOFOLLOW`); see
    /// [`std::os::unix::fs::OpenOptionsExt::custom_flags`].
    ///
    /// ```
    /// let mut options = weft::fs::OpenOptions::new();
    /// options.read(true).custom_flags(0);
    /// ```
    #[cfg(unix)]
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens `path` with these options on the blocking pool.
    ///
    /// # Errors
    /// Those of [`std::fs::OpenOptions::open`] ([`io::ErrorKind::NotFound`],
    /// [`io::ErrorKind::AlreadyExists`] with `create_new`,
    /// [`io::ErrorKind::InvalidInput`] for an invalid combination...), or
    /// an error if the runtime shut down before the call ran.
    ///
    /// # Panics
    /// When polled outside a weft runtime.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("weft-fs-doc-oo-open-{}", std::process::id()));
    /// let err = weft::fs::OpenOptions::new().read(true).open(&path).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let options = self.0.clone();
        asyncify(move || options.open(path)).await.map(File::from_std)
    }
}

impl Default for OpenOptions {
    /// Same as [`OpenOptions::new`].
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    /// Wraps standard library options (platform extensions included).
    fn from(options: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(options)
    }
}
