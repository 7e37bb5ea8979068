//! The free functions: whole-file reads and writes and directory
//! operations, each one [`std::fs`] call on the blocking pool.

use std::fs::{Metadata, Permissions};
use std::io;
use std::path::Path;

use super::asyncify;

/// Reads the whole file at `path` into a byte vector; the async version of
/// [`std::fs::read`].
///
/// # Errors
/// Those of [`std::fs::read`] (for instance [`io::ErrorKind::NotFound`]),
/// or an error if the runtime shut down before the read ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-read-{}", std::process::id()));
/// weft::fs::write(&path, [1, 2, 3]).await?;
/// assert_eq!(weft::fs::read(&path).await?, [1, 2, 3]);
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        return ring.read_file(&path).await;
    }
    asyncify(move || std::fs::read(path)).await
}

/// Reads the whole file at `path` into a string; the async version of
/// [`std::fs::read_to_string`].
///
/// # Errors
/// Those of [`std::fs::read_to_string`]: [`io::ErrorKind::InvalidData`] if
/// the contents are not UTF-8, [`io::ErrorKind::NotFound`] and the like;
/// or an error if the runtime shut down before the read ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-rts-{}", std::process::id()));
/// weft::fs::write(&path, "héllo").await?;
/// assert_eq!(weft::fs::read_to_string(&path).await?, "héllo");
///
/// weft::fs::write(&path, [0xff, 0xfe]).await?;
/// let err = weft::fs::read_to_string(&path).await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        let bytes = ring.read_file(&path).await?;
        return String::from_utf8(bytes).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8")
        });
    }
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Writes `contents` as the whole content of the file at `path`, creating
/// it if needed and truncating it otherwise; the async version of
/// [`std::fs::write`]. The contents are copied before going to the pool.
///
/// # Errors
/// Those of [`std::fs::write`], or an error if the runtime shut down before
/// the write ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-write-{}", std::process::id()));
/// weft::fs::write(&path, "one").await?;
/// weft::fs::write(&path, b"two").await?; // replaces the contents
/// assert_eq!(weft::fs::read_to_string(&path).await?, "two");
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        return ring.write_file(&path, contents).await;
    }
    asyncify(move || std::fs::write(path, contents)).await
}

/// Creates the directory `path`, whose parent must exist; the async version
/// of [`std::fs::create_dir`].
///
/// # Errors
/// Those of [`std::fs::create_dir`] ([`io::ErrorKind::AlreadyExists`],
/// [`io::ErrorKind::NotFound`] for a missing parent...), or an error if the
/// runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-mkdir-{}", std::process::id()));
/// weft::fs::create_dir(&dir).await?;
/// let err = weft::fs::create_dir(&dir).await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
/// # weft::fs::remove_dir(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        return ring.mkdir(&path).await;
    }
    asyncify(move || std::fs::create_dir(path)).await
}

/// Creates the directory `path` and any missing parents; the async version
/// of [`std::fs::create_dir_all`]. A directory that already exists is fine.
///
/// # Errors
/// Those of [`std::fs::create_dir_all`], or an error if the runtime shut
/// down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let root = std::env::temp_dir().join(format!("weft-fs-doc-mkdirs-{}", std::process::id()));
/// weft::fs::create_dir_all(root.join("a/b/c")).await?;
/// weft::fs::create_dir_all(root.join("a/b/c")).await?; // already there: Ok
/// assert!(weft::fs::metadata(root.join("a/b/c")).await?.is_dir());
/// # weft::fs::remove_dir_all(&root).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir_all(path)).await
}

/// Removes the file (or symbolic link) at `path`; the async version of
/// [`std::fs::remove_file`].
///
/// # Errors
/// Those of [`std::fs::remove_file`] (for instance
/// [`io::ErrorKind::NotFound`]), or an error if the runtime shut down
/// before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-rm-{}", std::process::id()));
/// weft::fs::write(&path, "bye").await?;
/// weft::fs::remove_file(&path).await?;
/// let err = weft::fs::remove_file(&path).await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        return ring.unlink(&path, false).await;
    }
    asyncify(move || std::fs::remove_file(path)).await
}

/// Removes the empty directory `path`; the async version of
/// [`std::fs::remove_dir`].
///
/// # Errors
/// Those of [`std::fs::remove_dir`] (the directory is not empty, does not
/// exist...), or an error if the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-rmdir-{}", std::process::id()));
/// weft::fs::create_dir(&dir).await?;
/// weft::fs::remove_dir(&dir).await?;
/// assert!(weft::fs::metadata(&dir).await.is_err());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        return ring.unlink(&path, true).await;
    }
    asyncify(move || std::fs::remove_dir(path)).await
}

/// Removes the directory `path` and everything inside it; the async version
/// of [`std::fs::remove_dir_all`]. It runs as one pool job, however large
/// the tree.
///
/// # Errors
/// Those of [`std::fs::remove_dir_all`], or an error if the runtime shut
/// down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let root = std::env::temp_dir().join(format!("weft-fs-doc-rmall-{}", std::process::id()));
/// weft::fs::create_dir_all(root.join("sub")).await?;
/// weft::fs::write(root.join("sub/file"), "x").await?;
/// weft::fs::remove_dir_all(&root).await?;
/// assert!(weft::fs::metadata(&root).await.is_err());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir_all(path)).await
}

/// Renames `from` to `to`, replacing `to` if it is a file; the async
/// version of [`std::fs::rename`].
///
/// # Errors
/// Those of [`std::fs::rename`], or an error if the runtime shut down
/// before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-mv-{}", std::process::id()));
/// weft::fs::create_dir_all(&dir).await?;
/// weft::fs::write(dir.join("old"), "data").await?;
/// weft::fs::rename(dir.join("old"), dir.join("new")).await?;
/// assert_eq!(weft::fs::read_to_string(dir.join("new")).await?, "data");
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let from = from.as_ref().to_owned();
    let to = to.as_ref().to_owned();
    #[cfg(all(target_os = "linux", not(loom)))]
    if let Some(ring) = super::uring::Uring::current() {
        return ring.rename(&from, &to).await;
    }
    asyncify(move || std::fs::rename(from, to)).await
}

/// Copies the contents and permissions of the file `from` to `to`,
/// replacing `to`; returns the number of bytes copied. The async version
/// of [`std::fs::copy`], run as one pool job.
///
/// # Errors
/// Those of [`std::fs::copy`], or an error if the runtime shut down before
/// the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-cp-{}", std::process::id()));
/// weft::fs::create_dir_all(&dir).await?;
/// weft::fs::write(dir.join("a"), "12345").await?;
/// assert_eq!(weft::fs::copy(dir.join("a"), dir.join("b")).await?, 5);
/// assert_eq!(weft::fs::read(dir.join("b")).await?, b"12345");
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let from = from.as_ref().to_owned();
    let to = to.as_ref().to_owned();
    asyncify(move || std::fs::copy(from, to)).await
}

/// The metadata of `path` (size, type, permissions, times), following
/// symbolic links; the async version of [`std::fs::metadata`].
///
/// # Errors
/// Those of [`std::fs::metadata`] (for instance
/// [`io::ErrorKind::NotFound`]), or an error if the runtime shut down
/// before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-meta-{}", std::process::id()));
/// weft::fs::write(&path, [0u8; 100]).await?;
/// let meta = weft::fs::metadata(&path).await?;
/// assert!(meta.is_file());
/// assert_eq!(meta.len(), 100);
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}

/// Whether `path` exists, following symbolic links (a dangling link does
/// not exist); the async version of [`Path::try_exists`]. Unlike
/// [`Path::exists`], an error that leaves the question open is returned,
/// not taken for "no".
///
/// # Errors
/// An error of the lookup other than [`io::ErrorKind::NotFound`] (a
/// permission denied on a parent, a parent that is a file...), or an error
/// if the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-exists-{}", std::process::id()));
/// assert!(!weft::fs::try_exists(&path).await?);
/// weft::fs::write(&path, "").await?;
/// assert!(weft::fs::try_exists(&path).await?);
/// // A file has no children: the question has no answer.
/// assert!(weft::fs::try_exists(path.join("child")).await.is_err());
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    let path = path.as_ref().to_owned();
    asyncify(move || path.try_exists()).await
}

/// Sets the permissions of the file or directory `path` (following
/// symbolic links); the async version of [`std::fs::set_permissions`].
///
/// # Errors
/// Those of [`std::fs::set_permissions`] (for instance
/// [`io::ErrorKind::NotFound`], or not being the owner), or an error if
/// the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-fs-doc-perm-{}", std::process::id()));
/// weft::fs::write(&path, "").await?;
/// let mut perms = weft::fs::metadata(&path).await?.permissions();
/// perms.set_readonly(true);
/// weft::fs::set_permissions(&path, perms).await?;
/// assert!(weft::fs::metadata(&path).await?.permissions().readonly());
/// # weft::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::set_permissions(path, perm)).await
}
