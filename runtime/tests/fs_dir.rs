//! `weft::fs` directory listings and links: `read_dir` across several
//! batches, a `ReadDir` dropped mid-listing, `canonicalize`, symbolic and
//! hard links, `try_exists`, `set_permissions`, their errors (the OS's own)
//! and calls outside a runtime.
//!
//! Each test works in its own directory under the system temp dir (named
//! after the test, the flavor and the process id), removed when it ends.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use common::{
    both_flavors, expect_no_runtime_failure, std_block_on, wait_until, with_timeout, Flavor,
    TempDir, LONG,
};
use weft::fs;
use weft::runtime::Runtime;

/// More than two of `ReadDir`'s 32-entry batches, the last one partial.
const FILES: usize = 70;

/// Runs `body` on `rt` inside a fresh directory, under a timeout; the
/// body's error fails the test.
fn in_dir<F, Fut>(test: &'static str, flavor: Flavor, rt: fn(Flavor) -> Runtime, body: F)
where
    F: FnOnce(PathBuf) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>>,
{
    with_timeout(test, 120, move || {
        let dir = TempDir::new(&format!("{test}-{}", flavor.name()));
        let rt = rt(flavor);
        let result = rt.block_on(body(dir.0.clone()));
        drop(rt);
        if let Err(err) = result {
            panic!("{test} on {}: {err}", flavor.name());
        }
    });
}

/// `dir` filled with `FILES` files (`f0`..; file `fN` holds N bytes) and
/// the empty directory `sub`.
fn populate(dir: &Path) {
    for i in 0..FILES {
        std::fs::write(dir.join(format!("f{i}")), vec![b'x'; i]).unwrap();
    }
    std::fs::create_dir(dir.join("sub")).unwrap();
}

/// How many of this process's open file descriptors refer to `dir` or
/// something under it.
fn open_fds_under(dir: &Path) -> usize {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&dir)))
        .count()
}

fn read_dir_lists_every_entry(flavor: Flavor) {
    in_dir("list", flavor, Flavor::build, |dir| async move {
        populate(&dir);
        let mut seen = BTreeMap::new();
        let mut entries = fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().into_string().expect("a UTF-8 name");
            assert_eq!(entry.path(), dir.join(&name));
            assert_eq!(entry.ino(), std::fs::symlink_metadata(entry.path())?.ino(), "{name}");
            let file_type = entry.file_type().await?;
            let len = entry.metadata().await?.len();
            let previous =
                seen.insert(name.clone(), (file_type.is_dir(), file_type.is_file(), len));
            assert!(previous.is_none(), "{name} listed twice");
        }
        // The end is sticky.
        assert!(entries.next_entry().await?.is_none());

        let mut expected: BTreeMap<_, _> =
            (0..FILES).map(|i| (format!("f{i}"), (false, true, i as u64))).collect();
        let sub_len = std::fs::metadata(dir.join("sub"))?.len();
        expected.insert("sub".to_string(), (true, false, sub_len));
        assert_eq!(seen, expected);
        Ok(())
    });
}
both_flavors!(read_dir_lists_every_entry);

fn an_empty_directory_lists_nothing(flavor: Flavor) {
    in_dir("empty", flavor, Flavor::build, |dir| async move {
        let mut entries = fs::read_dir(&dir).await?;
        assert!(entries.next_entry().await?.is_none());
        Ok(())
    });
}
both_flavors!(an_empty_directory_lists_nothing);

/// A runtime of `flavor` whose blocking pool has a single thread.
fn one_pool_thread(flavor: Flavor) -> Runtime {
    flavor.builder().max_blocking_threads(1).build().unwrap()
}

/// Holds the pool's only thread until the returned sender is used (or
/// dropped); returns once the job is running.
fn hold_pool_thread() -> mpsc::Sender<()> {
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    weft::task::spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = gate.recv();
    });
    started.recv().expect("the blocking job starts");
    release
}

/// Polls `entries` once for its next entry.
async fn poll_now(entries: &mut fs::ReadDir) -> Poll<io::Result<Option<fs::DirEntry>>> {
    std::future::poll_fn(|cx| Poll::Ready(entries.poll_next_entry(cx))).await
}

fn a_dropped_read_dir_closes_its_directory(flavor: Flavor) {
    in_dir("drop", flavor, one_pool_thread, |dir| async move {
        populate(&dir);

        // Dropped between batches: the directory closes at once.
        let mut entries = fs::read_dir(&dir).await?;
        entries.next_entry().await?.expect("an entry");
        assert_eq!(open_fds_under(&dir), 1, "the listing holds the directory open");
        drop(entries);
        assert_eq!(open_fds_under(&dir), 0, "dropping the listing closes the directory");

        // Dropped while its pool job is queued: the job still runs, reads
        // its batch and closes the directory.
        // With the pool held, the whole first batch (read with the open)
        // is at hand.
        let mut entries = fs::read_dir(&dir).await?;
        let release = hold_pool_thread();
        for i in 0..32 {
            match poll_now(&mut entries).await {
                Poll::Ready(Ok(Some(_))) => {}
                other => panic!("entry {i} of the first batch: {other:?}"),
            }
        }
        assert!(poll_now(&mut entries).await.is_pending(), "the next batch waits for the pool");
        drop(entries);
        assert_eq!(open_fds_under(&dir), 1, "the queued job holds the directory");
        drop(release);
        assert!(
            wait_until(LONG, || open_fds_under(&dir) == 0),
            "the abandoned job closes the directory"
        );

        // The pool is free again and the directory lists in full.
        let mut entries = fs::read_dir(&dir).await?;
        let mut count = 0;
        while entries.next_entry().await?.is_some() {
            count += 1;
        }
        assert_eq!(count, FILES + 1);
        Ok(())
    });
}
both_flavors!(a_dropped_read_dir_closes_its_directory);

fn canonicalize_matches_std(flavor: Flavor) {
    in_dir("canon", flavor, Flavor::build, |dir| async move {
        std::fs::create_dir_all(dir.join("a/b"))?;
        std::fs::write(dir.join("a/file"), "")?;
        let winding = dir.join("a/b/../b/./../file");
        let resolved = fs::canonicalize(&winding).await?;
        assert_eq!(resolved, std::fs::canonicalize(&winding)?);
        assert!(resolved.is_absolute());
        assert!(resolved.ends_with("a/file"), "{resolved:?}");

        let err = fs::canonicalize(dir.join("a/missing/..")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        Ok(())
    });
}
both_flavors!(canonicalize_matches_std);

fn symbolic_links(flavor: Flavor) {
    in_dir("symlink", flavor, Flavor::build, |dir| async move {
        std::fs::write(dir.join("target"), "twelve bytes")?;
        fs::symlink("target", dir.join("link")).await?;

        assert_eq!(fs::read_link(dir.join("link")).await?, Path::new("target"));
        let own = fs::symlink_metadata(dir.join("link")).await?;
        assert!(own.is_symlink());
        assert_eq!(own.len(), "target".len() as u64, "a link's size is its path's");
        let followed = fs::metadata(dir.join("link")).await?;
        assert!(followed.is_file() && !followed.is_symlink());
        assert_eq!(followed.len(), 12);
        assert_eq!(
            fs::canonicalize(dir.join("link")).await?,
            std::fs::canonicalize(dir.join("target"))?
        );

        // The listing reports the link itself, as std's does.
        let mut entries = fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let is_link = entry.file_name() == "link";
            assert_eq!(entry.file_type().await?.is_symlink(), is_link);
            assert_eq!(entry.metadata().await?.is_symlink(), is_link);
        }

        // A dangling link: it exists itself, what it names does not.
        fs::symlink("nowhere", dir.join("dangling")).await?;
        assert!(fs::symlink_metadata(dir.join("dangling")).await?.is_symlink());
        assert!(!fs::try_exists(dir.join("dangling")).await?);

        let err = fs::symlink("target", dir.join("link")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        let err = fs::read_link(dir.join("target")).await.unwrap_err();
        let std_err = std::fs::read_link(dir.join("target")).unwrap_err();
        assert_eq!(err.kind(), std_err.kind(), "{err}");
        Ok(())
    });
}
both_flavors!(symbolic_links);

fn hard_links_share_the_inode(flavor: Flavor) {
    in_dir("hardlink", flavor, Flavor::build, |dir| async move {
        std::fs::write(dir.join("a"), "one")?;
        fs::hard_link(dir.join("a"), dir.join("b")).await?;
        let a = fs::metadata(dir.join("a")).await?;
        let b = fs::metadata(dir.join("b")).await?;
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
        assert_eq!(a.nlink(), 2);

        fs::write(dir.join("a"), "changed").await?;
        assert_eq!(fs::read_to_string(dir.join("b")).await?, "changed");

        let err = fs::hard_link(dir.join("a"), dir.join("b")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        let err = fs::hard_link(dir.join("missing"), dir.join("c")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        Ok(())
    });
}
both_flavors!(hard_links_share_the_inode);

fn try_exists_and_set_permissions(flavor: Flavor) {
    in_dir("exists", flavor, Flavor::build, |dir| async move {
        let file = dir.join("file");
        assert!(!fs::try_exists(&file).await?);
        std::fs::write(&file, "")?;
        assert!(fs::try_exists(&file).await?);
        assert!(fs::try_exists(&dir).await?);
        // Below a file: neither yes nor no.
        let err = fs::try_exists(file.join("child")).await.unwrap_err();
        assert_eq!(err.kind(), std::fs::metadata(file.join("child")).unwrap_err().kind());

        let mut perms = fs::metadata(&file).await?.permissions();
        assert!(!perms.readonly());
        perms.set_readonly(true);
        fs::set_permissions(&file, perms).await?;
        let mut perms = fs::metadata(&file).await?.permissions();
        assert!(perms.readonly());
        #[allow(clippy::permissions_set_readonly_false)] // the round trip back
        perms.set_readonly(false);
        fs::set_permissions(&file, perms).await?;
        assert!(!fs::metadata(&file).await?.permissions().readonly());

        let err = fs::set_permissions(dir.join("missing"), std::fs::Permissions::from_mode(0o644))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        Ok(())
    });
}
both_flavors!(try_exists_and_set_permissions);

fn read_dir_errors_are_the_os_errors(flavor: Flavor) {
    in_dir("errors", flavor, Flavor::build, |dir| async move {
        let err = fs::read_dir(dir.join("missing")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

        std::fs::write(dir.join("file"), "")?;
        let err = fs::read_dir(dir.join("file")).await.unwrap_err();
        let std_err = std::fs::read_dir(dir.join("file")).unwrap_err();
        assert_eq!(err.kind(), std_err.kind(), "{err}");
        assert_eq!(err.raw_os_error(), std_err.raw_os_error());
        Ok(())
    });
}
both_flavors!(read_dir_errors_are_the_os_errors);

/// An entry whose file disappears after the listing: its metadata is the
/// OS's error, the listing itself is unaffected.
fn an_entry_removed_after_listing(flavor: Flavor) {
    in_dir("removed", flavor, Flavor::build, |dir| async move {
        std::fs::write(dir.join("gone"), "")?;
        let mut entries = fs::read_dir(&dir).await?;
        let entry = entries.next_entry().await?.expect("the entry");
        std::fs::remove_file(dir.join("gone"))?;
        let err = entry.metadata().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert_eq!(entry.file_name(), "gone");
        Ok(())
    });
}
both_flavors!(an_entry_removed_after_listing);

#[test]
fn outside_a_runtime_calls_panic_with_a_clear_message() {
    let dir = TempDir::new("no-runtime");
    populate(&dir.0);
    let limit = Duration::from_secs(5);
    let d = dir.0.clone();
    expect_no_runtime_failure("fs::read_dir", || std_block_on(fs::read_dir(d), limit));
    let d = dir.0.clone();
    expect_no_runtime_failure("fs::canonicalize", || std_block_on(fs::canonicalize(d), limit));
    let d = dir.0.clone();
    expect_no_runtime_failure("fs::try_exists", || std_block_on(fs::try_exists(d), limit));
    let (d, link) = (dir.0.join("f1"), dir.0.join("link"));
    expect_no_runtime_failure("fs::symlink", || std_block_on(fs::symlink(d, link), limit));

    // A listing started in a runtime hands out its read entries anywhere;
    // the next batch needs the runtime, and the failed attempt loses
    // nothing.
    let rt = common::runtime(1);
    let mut entries = rt.block_on(fs::read_dir(&dir.0)).unwrap();
    let mut count = 0;
    for _ in 0..32 {
        std_block_on(entries.next_entry(), limit).unwrap().unwrap().expect("a read entry");
        count += 1;
    }
    expect_no_runtime_failure("ReadDir::next_entry", || {
        std_block_on(entries.next_entry(), limit).map(|r| r.map(|_| ()))
    });
    while rt.block_on(entries.next_entry()).unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, FILES + 1);
}
