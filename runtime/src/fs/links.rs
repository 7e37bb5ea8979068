//! Links and resolved paths: hard and symbolic links, reading a link, the
//! metadata of a link itself and the canonical form of a path; each one
//! [`std::fs`] call on the blocking pool.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use super::asyncify;

/// The absolute form of `path`, with every `.` and `..` and symbolic link
/// resolved; the async version of [`std::fs::canonicalize`]. The path must
/// exist.
///
/// # Errors
/// Those of [`std::fs::canonicalize`] (for instance
/// [`io::ErrorKind::NotFound`]), or an error if the runtime shut down
/// before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-canon-{}", std::process::id()));
/// weft::fs::create_dir_all(dir.join("sub")).await?;
/// let resolved = weft::fs::canonicalize(dir.join("sub").join("..")).await?;
/// assert_eq!(resolved, std::fs::canonicalize(&dir)?);
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::canonicalize(path)).await
}

/// The metadata of `path` itself, *not* following a symbolic link (a link
/// gives its own metadata, [`Metadata::is_symlink`] true); the async
/// version of [`std::fs::symlink_metadata`].
///
/// # Errors
/// Those of [`std::fs::symlink_metadata`] (for instance
/// [`io::ErrorKind::NotFound`]), or an error if the runtime shut down
/// before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-lmeta-{}", std::process::id()));
/// weft::fs::create_dir_all(&dir).await?;
/// weft::fs::write(dir.join("target"), "x").await?;
/// weft::fs::symlink("target", dir.join("link")).await?;
/// assert!(weft::fs::symlink_metadata(dir.join("link")).await?.is_symlink());
/// assert!(weft::fs::metadata(dir.join("link")).await?.is_file()); // follows it
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::symlink_metadata(path)).await
}

/// Creates `link` as a new hard link to the file `original`: both names
/// then refer to the same file (the same inode); the async version of
/// [`std::fs::hard_link`].
///
/// # Errors
/// Those of [`std::fs::hard_link`] ([`io::ErrorKind::AlreadyExists`] if
/// `link` exists, [`io::ErrorKind::NotFound`] if `original` does not...),
/// or an error if the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-hlink-{}", std::process::id()));
/// weft::fs::create_dir_all(&dir).await?;
/// weft::fs::write(dir.join("a"), "shared").await?;
/// weft::fs::hard_link(dir.join("a"), dir.join("b")).await?;
/// weft::fs::remove_file(dir.join("a")).await?;
/// assert_eq!(weft::fs::read_to_string(dir.join("b")).await?, "shared");
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let original = original.as_ref().to_owned();
    let link = link.as_ref().to_owned();
    asyncify(move || std::fs::hard_link(original, link)).await
}

/// Creates `link` as a symbolic link holding the path `original` (resolved
/// relative to the link's directory when used, if relative; it need not
/// exist); the async version of [`std::os::unix::fs::symlink`].
///
/// # Errors
/// Those of [`std::os::unix::fs::symlink`]
/// ([`io::ErrorKind::AlreadyExists`] if `link` exists...), or an error if
/// the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-slink-{}", std::process::id()));
/// weft::fs::create_dir_all(&dir).await?;
/// weft::fs::write(dir.join("real"), "contents").await?;
/// weft::fs::symlink("real", dir.join("alias")).await?;
/// assert_eq!(weft::fs::read_to_string(dir.join("alias")).await?, "contents");
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[cfg(unix)]
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let original = original.as_ref().to_owned();
    let link = link.as_ref().to_owned();
    asyncify(move || std::os::unix::fs::symlink(original, link)).await
}

/// The path a symbolic link holds, as it was written (not resolved); the
/// async version of [`std::fs::read_link`].
///
/// # Errors
/// Those of [`std::fs::read_link`] ([`io::ErrorKind::NotFound`], or
/// [`io::ErrorKind::InvalidInput`] when `path` is not a symbolic link...),
/// or an error if the runtime shut down before the call ran.
///
/// # Panics
/// When polled outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-fs-doc-rlink-{}", std::process::id()));
/// weft::fs::create_dir_all(&dir).await?;
/// weft::fs::symlink("../elsewhere", dir.join("link")).await?;
/// let target = weft::fs::read_link(dir.join("link")).await?;
/// assert_eq!(target, std::path::Path::new("../elsewhere"));
/// # weft::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_link(path)).await
}
