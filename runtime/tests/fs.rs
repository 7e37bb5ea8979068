//! `weft::fs`: the free functions, `File`'s ordering of background writes
//! and their errors, reads through the bounded buffer, seeks that account
//! for bytes read ahead, cancellation at shutdown, calls outside a runtime
//! and many files at once.
//!
//! Each test works in its own directory under the system temp dir (named
//! after the test and the process id), removed when the test ends.

mod common;

use std::future::Future;
use std::io::{self, ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    checksum, expect_no_runtime_failure, poll_once, runtime, std_block_on, wait_until,
    with_timeout, TempDir, XorShift, LONG,
};
use futures_util::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use weft::fs::{self, File, OpenOptions};
use weft::runtime::{Builder, Runtime};

/// The size of one pool read or write (the default `max_buf_size`).
const CHUNK: usize = 2 * 1024 * 1024;

/// Runs `body` on a 2-worker runtime inside a fresh directory, under a
/// timeout; the body's error fails the test.
fn in_dir<F, Fut>(test: &'static str, body: F)
where
    F: FnOnce(PathBuf) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>>,
{
    with_timeout(test, 120, move || {
        let dir = TempDir::new(test);
        let rt = runtime(2);
        let result = rt.block_on(body(dir.0.clone()));
        drop(rt);
        if let Err(err) = result {
            panic!("{test}: {err}");
        }
    });
}

/// A runtime whose blocking pool has a single thread, so a job holding it
/// keeps the next ones queued.
fn one_pool_thread_runtime() -> Runtime {
    Builder::new_multi_thread().worker_threads(2).max_blocking_threads(1).build().unwrap()
}

/// Holds the pool's only thread until the returned sender is used (or
/// dropped); returns once the job is running.
fn hold_pool_thread() -> (mpsc::Sender<()>, weft::task::JoinHandle<()>) {
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let blocker = weft::task::spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = gate.recv();
    });
    started.recv().expect("the blocking job starts");
    (release, blocker)
}

/// Leaves bytes read ahead in `file`'s buffer: a read of `n` bytes is
/// started while the pool's only thread is held, then given up on; the
/// read still runs for the file.
async fn read_ahead(file: &mut File, n: usize) {
    let (release, blocker) = hold_pool_thread();
    let mut big = vec![0; n];
    assert!(poll_once(&mut file.read(&mut big)).is_pending(), "the read waits behind the blocker");
    release.send(()).unwrap();
    blocker.await.unwrap();
}

/// 0, 1, ..., 255, 0, 1, ...: byte `i` is `i as u8`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

async fn read_byte(file: &mut File) -> io::Result<u8> {
    let mut byte = [0];
    file.read_exact(&mut byte).await?;
    Ok(byte[0])
}

fn assert_not_found<T: std::fmt::Debug>(result: io::Result<T>, what: &str) {
    match result {
        Err(err) => assert_eq!(err.kind(), ErrorKind::NotFound, "{what}: {err}"),
        Ok(value) => panic!("{what}: expected NotFound, got {value:?}"),
    }
}

// ---------------------------------------------------------------------------
// Free functions

#[test]
fn free_functions_round_trip() {
    in_dir("round-trip", |dir| async move {
        let nested = dir.join("a/b/c");
        fs::create_dir_all(&nested).await?;
        fs::create_dir_all(&nested).await?; // already there: fine
        assert!(fs::metadata(&nested).await?.is_dir());

        let file = nested.join("data.bin");
        let bytes = pattern(10_000);
        fs::write(&file, &bytes).await?;
        assert_eq!(fs::read(&file).await?, bytes);
        let meta = fs::metadata(&file).await?;
        assert!(meta.is_file());
        assert_eq!(meta.len(), 10_000);

        // Any AsRef<[u8]>: &str, String, Vec, arrays.
        fs::write(&file, "text é").await?;
        assert_eq!(fs::read_to_string(&file).await?, "text é");
        fs::write(&file, String::from("owned")).await?;
        assert_eq!(fs::read_to_string(&file).await?, "owned");
        fs::write(&file, vec![b'v'; 3]).await?;
        assert_eq!(fs::read(&file).await?, b"vvv");
        fs::write(&file, []).await?;
        assert!(fs::read(&file).await?.is_empty());
        fs::write(&file, [1, 2, 3]).await?;

        assert_eq!(fs::copy(&file, nested.join("copy")).await?, 3);
        fs::rename(nested.join("copy"), dir.join("moved")).await?;
        assert_eq!(fs::read(dir.join("moved")).await?, [1, 2, 3]);
        assert_not_found(fs::metadata(nested.join("copy")).await, "renamed away");

        fs::remove_file(&file).await?;
        assert_not_found(fs::metadata(&file).await, "removed file");

        fs::create_dir(dir.join("empty")).await?;
        fs::remove_dir(dir.join("empty")).await?;
        assert_not_found(fs::metadata(dir.join("empty")).await, "removed dir");

        fs::remove_dir_all(dir.join("a")).await?;
        assert_not_found(fs::metadata(dir.join("a")).await, "removed tree");
        Ok(())
    });
}

#[test]
fn errors_are_the_os_errors() {
    in_dir("errors", |dir| async move {
        let missing = dir.join("missing");
        assert_not_found(fs::read(&missing).await, "read");
        assert_not_found(fs::read_to_string(&missing).await, "read_to_string");
        assert_not_found(fs::metadata(&missing).await, "metadata");
        assert_not_found(fs::remove_file(&missing).await, "remove_file");
        assert_not_found(fs::remove_dir_all(&missing).await, "remove_dir_all");
        assert_not_found(fs::copy(&missing, dir.join("to")).await, "copy");
        assert_not_found(fs::rename(&missing, dir.join("to")).await, "rename");
        assert_not_found(fs::create_dir(missing.join("child")).await, "create_dir");
        assert_not_found(fs::write(missing.join("child"), "x").await, "write");
        assert_not_found(File::open(&missing).await, "File::open");
        assert_not_found(OpenOptions::new().write(true).open(&missing).await, "open");

        // Invalid UTF-8 is InvalidData; the bytes are still readable.
        let latin1 = dir.join("latin1");
        fs::write(&latin1, b"caf\xe9").await?;
        let err = fs::read_to_string(&latin1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
        assert_eq!(fs::read(&latin1).await?, b"caf\xe9");
        let mut text = String::new();
        let err = File::open(&latin1).await?.read_to_string(&mut text).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");

        // Already existing.
        fs::create_dir(dir.join("d")).await?;
        assert_eq!(
            fs::create_dir(dir.join("d")).await.unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let err = File::create_new(&latin1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        let err = OpenOptions::new().write(true).create_new(true).open(&latin1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);

        // Not empty, not a file.
        fs::write(dir.join("d/f"), "x").await?;
        assert!(fs::remove_dir(dir.join("d")).await.is_err());
        assert!(fs::read(dir.join("d")).await.is_err());
        // Options that open nothing.
        let err = OpenOptions::new().open(&latin1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        Ok(())
    });
}

#[test]
fn outside_a_runtime_calls_panic_with_a_clear_message() {
    let dir = TempDir::new("no-runtime");
    let path = dir.0.join("f");
    std::fs::write(&path, "data").unwrap();
    let limit = Duration::from_secs(5);

    let p = path.clone();
    expect_no_runtime_failure("fs::read", || std_block_on(fs::read(p), limit));
    let p = path.clone();
    expect_no_runtime_failure("fs::write", || std_block_on(fs::write(p, "x"), limit));
    let p = path.clone();
    expect_no_runtime_failure("fs::metadata", || std_block_on(fs::metadata(p), limit));
    let p = path.clone();
    expect_no_runtime_failure("File::open", || std_block_on(File::open(p), limit));

    // from_std needs no runtime; the file's operations do.
    let mut file = File::from_std(std::fs::File::open(&path).unwrap());
    let mut buf = [0; 4];
    expect_no_runtime_failure("File read", || std_block_on(file.read(&mut buf), limit));
    let mut file = File::from_std(std::fs::OpenOptions::new().write(true).open(&path).unwrap());
    expect_no_runtime_failure("File write", || std_block_on(file.write(b"x"), limit));
    expect_no_runtime_failure("File metadata", || std_block_on(file.metadata(), limit));
    // Nothing was started: the file is idle and converts back at once.
    assert!(file.try_into_std().is_ok());
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[test]
fn pool_errors_become_io_errors_after_shutdown() {
    with_timeout("shutdown", 60, || {
        let dir = TempDir::new("shutdown");
        let path = dir.0.join("f");
        let rt = one_pool_thread_runtime();
        let handle = rt.handle().clone();
        let (mut file, release) = rt.block_on(async {
            let mut file =
                File::options().read(true).write(true).create(true).open(&path).await.unwrap();
            let (release, _blocker) = hold_pool_thread();
            // Accepted into the buffer; the write waits behind the blocker.
            assert_eq!(file.write(b"queued").await.unwrap(), 6);
            (file, release)
        });
        // Shutdown gives up on the blocker but does not cancel the queued
        // write (a File's jobs are mandatory): it runs after the blocker,
        // on the pool thread, after `shutdown_timeout` returned.
        rt.shutdown_timeout(Duration::from_millis(100));
        release.send(()).unwrap();
        std_block_on(file.flush(), LONG).expect("flush finishes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"queued");

        // New operations are refused at once, with an io::Error that says
        // what happened (not a panic), a write included (not an `Ok` whose
        // bytes would be lost).
        let results = [
            ("write", handle.block_on(file.write(b"late")).map(drop)),
            ("read", handle.block_on(read_byte(&mut file)).map(drop)),
            ("seek", handle.block_on(file.seek(SeekFrom::Start(0))).map(drop)),
            ("metadata", handle.block_on(file.metadata()).map(drop)),
            ("sync_all", handle.block_on(file.sync_all())),
        ];
        for (what, result) in results {
            let err = result.expect_err(what);
            assert_eq!(err.kind(), ErrorKind::Other, "{what}: {err}");
            assert!(err.to_string().contains("shut down"), "{what}: unclear error: {err}");
        }
        // Nothing is pending, nothing was written, the position is intact.
        assert!(std_block_on(file.flush(), LONG).unwrap().is_ok());
        assert_eq!(std::fs::read(&path).unwrap(), b"queued");
        let mut std_file = file.try_into_std().expect("idle");
        assert_eq!(std::io::Seek::stream_position(&mut std_file).unwrap(), 6);

        // A call entering the shut-down runtime is cancelled the same way.
        let err = handle.block_on(fs::read(&path)).unwrap_err();
        assert!(err.to_string().contains("cancelled"), "unclear error: {err}");
    });
}

/// The review's reproduction: a write that returned `Ok` is still queued
/// behind a busy pool thread when the runtime is dropped; the pool's
/// shutdown runs it instead of cancelling it.
#[test]
fn a_write_queued_when_the_runtime_drops_is_not_lost() {
    with_timeout("write-at-drop", 60, || {
        let dir = TempDir::new("write-at-drop");
        let path = dir.0.join("f");
        let rt = Builder::new_current_thread().max_blocking_threads(1).build().unwrap();
        rt.block_on(async {
            let mut file = File::create(&path).await.unwrap();
            let _busy =
                weft::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
            file.write_all(b"data").await.unwrap(); // Ok: buffered, queued
            drop(file);
        });
        drop(rt);
        assert_eq!(std::fs::read(&path).unwrap(), b"data");

        // Many files, each with a write queued behind the busy pool thread
        // as a multi-thread runtime is dropped: every one lands.
        let rt = one_pool_thread_runtime();
        let files: Vec<File> = rt.block_on(async {
            let mut files = Vec::new();
            for i in 0..20 {
                files.push(File::create(dir.0.join(format!("many-{i}"))).await.unwrap());
            }
            files
        });
        rt.block_on(async {
            let (release, _blocker) = hold_pool_thread();
            for (i, mut file) in files.into_iter().enumerate() {
                file.write_all(format!("file {i}").as_bytes()).await.unwrap();
            }
            // Free the pool thread only once the runtime is shutting down.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let _ = release.send(());
            });
        });
        drop(rt);
        for i in 0..20 {
            let text = std::fs::read_to_string(dir.0.join(format!("many-{i}"))).unwrap();
            assert_eq!(text, format!("file {i}"));
        }
    });
}

// ---------------------------------------------------------------------------
// File: writes in order, reads, large files

#[test]
fn many_small_writes_land_in_order() {
    in_dir("small-writes", |dir| async move {
        let path = dir.join("small");
        let mut file = File::create(&path).await?;
        let mut rng = XorShift::new(7);
        let mut expected = Vec::new();
        for i in 0..10_000 {
            let chunk = rng.random_bytes(if i % 100 == 0 { 4096 } else { 64 });
            // Mix the two ways to write: write_all, and write's own count.
            if i % 2 == 0 {
                file.write_all(&chunk).await?;
            } else {
                assert_eq!(file.write(&chunk).await?, chunk.len());
            }
            expected.extend_from_slice(&chunk);
        }
        file.flush().await?;
        drop(file);

        let written = fs::read(&path).await?;
        assert_eq!(written.len(), expected.len());
        assert_eq!(checksum(&written), checksum(&expected));

        // Read it back in varied small pieces through a File.
        let mut file = File::open(&path).await?;
        let mut back = Vec::with_capacity(expected.len());
        let mut piece = vec![0; 1000];
        loop {
            let want = rng.range(1, piece.len());
            let n = file.read(&mut piece[..want]).await?;
            if n == 0 {
                break;
            }
            assert!(n <= want);
            back.extend_from_slice(&piece[..n]);
        }
        assert_eq!(checksum(&back), checksum(&expected));
        assert_eq!(back, expected);
        Ok(())
    });
}

#[test]
fn large_file_goes_through_in_bounded_chunks() {
    in_dir("large", |dir| async move {
        let path = dir.join("large");
        let data = XorShift::new(11).bytes(2 * CHUNK + 12_345);
        let mut file = File::create(&path).await?;
        // One write takes at most one chunk.
        assert_eq!(file.write(&data).await?, CHUNK);
        file.write_all(&data[CHUNK..]).await?;
        file.sync_all().await?;
        assert_eq!(file.metadata().await?.len(), data.len() as u64);
        drop(file);
        assert_eq!(checksum(&fs::read(&path).await?), checksum(&data));

        let mut file = File::open(&path).await?;
        // One read gives at most one chunk, however large the buffer.
        let mut big = vec![0; 3 * CHUNK];
        let n = file.read(&mut big).await?;
        assert_eq!(n, CHUNK);
        assert_eq!(big[..n], data[..n]);
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).await?;
        assert_eq!(rest.len(), data.len() - CHUNK);
        assert_eq!(checksum(&rest), checksum(&data[CHUNK..]));

        // A smaller max_buf_size bounds writes too.
        let mut file = File::create(dir.join("small-chunks")).await?;
        file.set_max_buf_size(1000);
        assert_eq!(file.write(&data).await?, 1000);
        file.write_all(&data[1000..200_000]).await?;
        file.flush().await?;
        assert_eq!(fs::read(dir.join("small-chunks")).await?, data[..200_000]);
        Ok(())
    });
}

#[test]
fn read_after_write_sees_the_write() {
    in_dir("read-after-write", |dir| async move {
        let path = dir.join("f");
        fs::write(&path, "0123456789").await?;
        let mut file = OpenOptions::new().read(true).write(true).open(&path).await?;
        // No flush: the read waits for the write, then goes on from there.
        file.write_all(b"ab").await?;
        let mut rest = String::new();
        file.read_to_string(&mut rest).await?;
        assert_eq!(rest, "23456789");

        file.write_all(b"XY").await?; // at the end now
        file.seek(SeekFrom::Start(0)).await?;
        let mut all = String::new();
        file.read_to_string(&mut all).await?;
        assert_eq!(all, "ab23456789XY");

        // Zero-length reads and writes do nothing.
        assert_eq!(file.read(&mut []).await?, 0);
        assert_eq!(file.write(&[]).await?, 0);
        file.close().await?;
        assert_eq!(fs::read_to_string(&path).await?, "ab23456789XY");
        Ok(())
    });
}

#[test]
fn flush_sync_metadata_and_set_len() {
    in_dir("sync", |dir| async move {
        let path = dir.join("f");
        let mut file = OpenOptions::new().read(true).write(true).create(true).open(&path).await?;
        file.write_all(&[7; 1000]).await?;
        // Ordered after the write, without a flush.
        assert_eq!(file.metadata().await?.len(), 1000);
        file.flush().await?;
        assert_eq!(fs::read(&path).await?, [7; 1000]);

        file.write_all(&[8; 24]).await?;
        file.sync_all().await?;
        assert_eq!(fs::metadata(&path).await?.len(), 1024);
        file.write_all(&[9; 1]).await?;
        file.sync_data().await?;
        assert_eq!(fs::metadata(&path).await?.len(), 1025);

        file.set_len(10).await?;
        assert_eq!(fs::read(&path).await?, [7; 10]);
        // The position is unchanged (1025): a write there leaves a hole.
        file.set_len(20).await?;
        assert_eq!(file.metadata().await?.len(), 20);
        assert_eq!(file.stream_position().await?, 1025);
        file.seek(SeekFrom::Start(0)).await?;
        let mut back = Vec::new();
        file.read_to_end(&mut back).await?;
        assert_eq!(back[..10], [7; 10]);
        assert_eq!(back[10..], [0; 10]);

        // set_len on a read-only file is the OS's error.
        let mut ro = File::open(&path).await?;
        assert!(ro.set_len(0).await.is_err());
        Ok(())
    });
}

#[test]
fn background_write_errors_are_reported_not_lost() {
    in_dir("write-errors", |dir| async move {
        let path = dir.join("read-only");
        fs::write(&path, "x").await?;
        // Open for reading only: every write fails in the background.
        let mut file = File::open(&path).await?;

        // ... reported by flush, once.
        assert_eq!(file.write(b"abc").await?, 3);
        let err = file.flush().await.unwrap_err();
        assert!(err.raw_os_error().is_some(), "the OS's error: {err}");
        file.flush().await?;

        // ... by the next write.
        assert_eq!(file.write(b"abc").await?, 3);
        assert!(file.write(b"def").await.is_err());
        file.flush().await?;

        // ... by a seek.
        file.write_all(b"abc").await?;
        assert!(file.seek(SeekFrom::Start(0)).await.is_err());
        file.flush().await?;

        // ... by sync_all, sync_data, set_len and metadata.
        file.write_all(b"abc").await?;
        assert!(file.sync_all().await.is_err());
        file.write_all(b"abc").await?;
        assert!(file.sync_data().await.is_err());
        file.write_all(b"abc").await?;
        assert!(file.metadata().await.is_err());
        file.write_all(b"abc").await?;
        assert!(file.set_len(5).await.unwrap_err().raw_os_error().is_some());
        file.flush().await?;

        // A read in between waits for the write and keeps its error for the
        // next operation that can report it.
        file.write_all(b"abc").await?;
        assert_eq!(read_byte(&mut file).await?, b'x');
        assert!(file.close().await.is_err());
        file.close().await?;
        assert_eq!(fs::read(&path).await?, b"x");
        Ok(())
    });
}

/// Starts a seek while the pool's only thread is held, gives up on it after
/// one poll (as a `select` would), then lets it run.
async fn abandon_seek(file: &mut File, pos: SeekFrom) {
    let (release, blocker) = hold_pool_thread();
    assert!(poll_once(&mut file.seek(pos)).is_pending(), "the seek waits behind the blocker");
    release.send(()).unwrap();
    blocker.await.unwrap();
}

#[test]
fn a_seek_given_up_on_reports_its_error_to_the_next_operation() {
    with_timeout("abandoned-seek", 60, || {
        let dir = TempDir::new("abandoned-seek");
        let path = dir.0.join("short");
        std::fs::write(&path, b"0123456789").unwrap();
        // The blocking-pool path: there a seek is a pool job that can be
        // given up on; on the io_uring path a seek completes inline.
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .io_uring(false)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut file = OpenOptions::new().read(true).write(true).open(&path).await?;
            assert_eq!(read_byte(&mut file).await?, b'0');

            // Before a short file's start: EINVAL, returned by the next read
            // instead of a read at the old position. Reported once.
            abandon_seek(&mut file, SeekFrom::End(-1000)).await;
            let err = read_byte(&mut file).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert_eq!(read_byte(&mut file).await?, b'1', "the position did not move");

            // ... by the next write, which then writes nothing.
            abandon_seek(&mut file, SeekFrom::End(-1000)).await;
            let err = file.write(b"X").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            file.flush().await?;
            assert_eq!(fs::read(&path).await?, b"0123456789");

            // ... by flush, a seek, metadata.
            abandon_seek(&mut file, SeekFrom::End(-1000)).await;
            assert_eq!(file.flush().await.unwrap_err().kind(), ErrorKind::InvalidInput);
            abandon_seek(&mut file, SeekFrom::End(-1000)).await;
            let err = file.seek(SeekFrom::Start(0)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            abandon_seek(&mut file, SeekFrom::End(-1000)).await;
            assert_eq!(file.metadata().await.unwrap_err().kind(), ErrorKind::InvalidInput);

            // With bytes read ahead: the read reports the error before it
            // hands them out, then hands them out (the position is theirs).
            read_ahead(&mut file, 4).await; // "2345" read ahead
            abandon_seek(&mut file, SeekFrom::Current(-1000)).await;
            assert_eq!(read_byte(&mut file).await.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(read_byte(&mut file).await?, b'2');
            assert_eq!(file.seek(SeekFrom::Current(0)).await?, 3);

            // A seek given up on that succeeds moved the position: no error.
            abandon_seek(&mut file, SeekFrom::Start(8)).await;
            assert_eq!(read_byte(&mut file).await?, b'8');
            Ok::<(), io::Error>(())
        })
        .unwrap();
    });
}

/// A read given up on that fails changes nothing (no byte consumed, the
/// position unmoved): its error is dropped rather than failing the next,
/// unrelated write, and a later read meets it again.
#[test]
fn a_read_given_up_on_drops_its_error() {
    with_timeout("abandoned-read", 60, || {
        let dir = TempDir::new("abandoned-read");
        let path = dir.0.join("write-only");
        let rt = one_pool_thread_runtime();
        rt.block_on(async {
            // Open for writing only: every read fails (EBADF).
            let mut file = File::create(&path).await?;
            file.write_all(b"abc").await?;
            let (release, blocker) = hold_pool_thread();
            let mut byte = [0];
            assert!(poll_once(&mut file.read(&mut byte)).is_pending());
            release.send(()).unwrap();
            blocker.await.unwrap();
            // Not the read's error: the write works, where it should.
            file.write_all(b"def").await?;
            file.flush().await?;
            assert_eq!(fs::read(&path).await?, b"abcdef");
            // A read reports its own error.
            assert!(read_byte(&mut file).await.unwrap_err().raw_os_error().is_some());
            file.flush().await?;
            Ok::<(), io::Error>(())
        })
        .unwrap();
    });
}

#[test]
fn dropping_a_file_lets_its_write_finish() {
    in_dir("drop", |dir| async move {
        // A large write: its last chunk is in flight when write_all returns.
        let path = dir.join("large");
        let data = XorShift::new(3).bytes(CHUNK + CHUNK / 2);
        let mut file = File::create(&path).await?;
        file.write_all(&data).await?;
        drop(file);
        let len = data.len() as u64;
        assert!(
            wait_until(LONG, || std::fs::metadata(&path).map(|m| m.len()).ok() == Some(len)),
            "the dropped file's write did not finish"
        );
        assert_eq!(checksum(&fs::read(&path).await?), checksum(&data));

        // Many files dropped right after a small write.
        for i in 0..50 {
            let mut file = File::create(dir.join(format!("small-{i}"))).await?;
            file.write_all(format!("file {i}").as_bytes()).await?;
        }
        for i in 0..50 {
            let path = dir.join(format!("small-{i}"));
            let want = format!("file {i}");
            assert!(
                wait_until(LONG, || std::fs::read_to_string(&path).ok().as_deref()
                    == Some(want.as_str())),
                "small-{i} incomplete"
            );
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Seeking

#[test]
fn seek_from_start_end_and_current_after_partial_reads() {
    in_dir("seek", |dir| async move {
        let path = dir.join("pattern");
        let data = pattern(4096);
        fs::write(&path, &data).await?;
        let mut file = File::open(&path).await?;

        let mut ten = [0; 10];
        file.read_exact(&mut ten).await?;
        assert_eq!(ten, data[..10]);
        assert_eq!(file.stream_position().await?, 10);
        assert_eq!(file.seek(SeekFrom::Current(5)).await?, 15);
        assert_eq!(read_byte(&mut file).await?, 15);
        assert_eq!(file.seek(SeekFrom::Current(-6)).await?, 10);
        assert_eq!(read_byte(&mut file).await?, 10);
        assert_eq!(file.seek(SeekFrom::End(-1)).await?, 4095);
        assert_eq!(read_byte(&mut file).await?, 4095u32 as u8);
        assert_eq!(file.read(&mut ten).await?, 0, "end of file");
        assert_eq!(file.seek(SeekFrom::Start(300)).await?, 300);
        assert_eq!(read_byte(&mut file).await?, 300u32 as u8);
        // Before the start: the OS's InvalidInput; the position stays.
        assert_eq!(
            file.seek(SeekFrom::Current(-1000)).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(file.stream_position().await?, 301);
        // Past the end is allowed; reads there give end of file.
        assert_eq!(file.seek(SeekFrom::End(100)).await?, 4196);
        assert_eq!(file.read(&mut ten).await?, 0);
        Ok(())
    });
}

#[test]
fn seeks_and_writes_account_for_bytes_read_ahead() {
    with_timeout("read-ahead", 120, || {
        let dir = TempDir::new("read-ahead");
        let path = dir.0.join("pattern");
        let data = pattern(4096);
        std::fs::write(&path, &data).unwrap();
        let rt = one_pool_thread_runtime();
        rt.block_on(async {
            let mut file = OpenOptions::new().read(true).write(true).open(&path).await?;
            let mut ten = [0; 10];

            // 1000 bytes read ahead, 10 handed out: the caller is at 10.
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            assert_eq!(ten, data[..10]);
            assert_eq!(file.stream_position().await?, 10);
            assert_eq!(read_byte(&mut file).await?, 10);

            // Current: relative to the caller (11 + 10 - 3).
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            assert_eq!(ten, data[11..21]);
            assert_eq!(file.seek(SeekFrom::Current(-3)).await?, 18);
            assert_eq!(read_byte(&mut file).await?, 18);
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            assert_eq!(file.seek(SeekFrom::Current(7)).await?, 36);
            assert_eq!(read_byte(&mut file).await?, 36);

            // Start and End: the bytes read ahead are dropped.
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            assert_eq!(file.seek(SeekFrom::Start(100)).await?, 100);
            assert_eq!(read_byte(&mut file).await?, 100);
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            assert_eq!(file.seek(SeekFrom::End(-2)).await?, 4094);
            assert_eq!(read_byte(&mut file).await?, 4094u32 as u8);

            // A write goes where the caller is, not where the OS read to.
            file.seek(SeekFrom::Start(0)).await?;
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            file.write_all(b"XYZ").await?;
            assert_eq!(read_byte(&mut file).await?, 13);
            file.flush().await?;
            let mut expected = data.clone();
            expected[10..13].copy_from_slice(b"XYZ");
            assert_eq!(fs::read(&path).await?, expected);

            // set_len keeps the caller's position.
            file.seek(SeekFrom::Start(50)).await?;
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            file.set_len(4096).await?;
            assert_eq!(file.stream_position().await?, 60);
            assert_eq!(read_byte(&mut file).await?, 60);

            // The read-ahead bytes are handed out in order across reads.
            file.seek(SeekFrom::Start(200)).await?;
            read_ahead(&mut file, 100).await;
            let mut back = Vec::new();
            for _ in 0..10 {
                file.read_exact(&mut ten).await?;
                back.extend_from_slice(&ten);
            }
            assert_eq!(back, data[200..300]);
            assert_eq!(file.stream_position().await?, 300);

            // into_std gives the std file at the caller's position.
            file.seek(SeekFrom::Start(400)).await?;
            read_ahead(&mut file, 1000).await;
            file.read_exact(&mut ten).await?;
            let mut std_file = file.into_std().await;
            assert_eq!(std::io::Seek::stream_position(&mut std_file)?, 410);
            Ok::<(), io::Error>(())
        })
        .unwrap();
    });
}

// ---------------------------------------------------------------------------
// Conversions

#[test]
fn into_std_waits_and_try_into_std_refuses_while_busy() {
    with_timeout("into-std", 60, || {
        let dir = TempDir::new("into-std");
        let path = dir.0.join("f");
        let rt = one_pool_thread_runtime();
        rt.block_on(async {
            let data = XorShift::new(5).bytes(CHUNK + 1000);
            let mut file = File::create(&path).await?;
            file.write_all(&data).await?;
            // into_std waits for the write in flight.
            let mut std_file = file.into_std().await;
            assert_eq!(std::io::Seek::stream_position(&mut std_file)?, data.len() as u64);
            assert_eq!(std_file.metadata()?.len(), data.len() as u64);

            // try_into_std gives the file back while a write is queued...
            let mut file = File::from_std(std_file);
            let (release, blocker) = hold_pool_thread();
            file.write_all(b"tail").await?;
            let mut file = file.try_into_std().expect_err("a write is in flight");
            release.send(()).unwrap();
            blocker.await.unwrap();
            // ... and converts once it is done: a finished job is collected
            // without awaiting anything.
            let deadline = Instant::now() + LONG;
            let std_file = loop {
                match file.try_into_std() {
                    Ok(std_file) => break std_file,
                    Err(busy) if Instant::now() < deadline => {
                        file = busy;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => panic!("the write never finished"),
                }
            };
            assert_eq!(std_file.metadata()?.len(), data.len() as u64 + 4);
            assert_eq!(std::fs::read(&path)?[data.len()..], *b"tail");
            Ok::<(), io::Error>(())
        })
        .unwrap();
    });
}

// ---------------------------------------------------------------------------
// Concurrency

#[test]
fn many_files_from_many_tasks() {
    in_dir("concurrent", |dir| async move {
        // 32 writers, each with its own file and pattern.
        let writers: Vec<_> = (0..32u64)
            .map(|i| {
                let path = dir.join(format!("w{i}"));
                weft::spawn(async move {
                    let mut rng = XorShift::new(i);
                    let mut file = File::create(&path).await?;
                    let mut expected = Vec::new();
                    for _ in 0..200 {
                        let chunk = rng.random_bytes(512);
                        file.write_all(&chunk).await?;
                        expected.extend_from_slice(&chunk);
                    }
                    file.flush().await?;
                    let mut back = Vec::new();
                    File::open(&path).await?.read_to_end(&mut back).await?;
                    assert_eq!(checksum(&back), checksum(&expected), "file w{i}");
                    Ok::<_, io::Error>(expected.len())
                })
            })
            .collect();

        // Meanwhile 16 readers share one file through their own handles.
        let shared = dir.join("shared");
        let data = XorShift::new(99).bytes(300_000);
        fs::write(&shared, &data).await?;
        let want = checksum(&data);
        let readers: Vec<_> = (0..16)
            .map(|i| {
                let shared = shared.clone();
                weft::spawn(async move {
                    let mut file = File::open(&shared).await?;
                    let mut back = Vec::new();
                    let mut piece = vec![0; 1024 * (i + 1)];
                    loop {
                        let n = file.read(&mut piece).await?;
                        if n == 0 {
                            break;
                        }
                        back.extend_from_slice(&piece[..n]);
                    }
                    Ok::<_, io::Error>(checksum(&back))
                })
            })
            .collect();

        for writer in writers {
            assert!(writer.await.expect("writer task")? > 0);
        }
        for reader in readers {
            assert_eq!(reader.await.expect("reader task")?, want);
        }
        Ok(())
    });
}

/// Paths given as `&Path`, `PathBuf`, `&str` and `String` all work.
#[test]
fn paths_of_every_kind() {
    in_dir("paths", |dir| async move {
        let as_string: String = dir.join("s").to_str().unwrap().to_owned();
        fs::write(&as_string, "1").await?;
        fs::write(as_string.as_str(), "2").await?;
        fs::write(dir.join("p"), "3").await?;
        let path: &Path = &dir.join("p");
        assert_eq!(fs::read_to_string(path).await?, "3");
        assert_eq!(fs::read_to_string(as_string).await?, "2");
        Ok(())
    });
}

/// The current-thread runtime has the same blocking pool.
#[test]
fn works_on_a_current_thread_runtime() {
    with_timeout("current-thread", 60, || {
        let dir = TempDir::new("current-thread");
        let path = dir.0.join("f");
        let rt = Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut file = File::create(&path).await?;
            for i in 0..100u32 {
                file.write_all(&i.to_le_bytes()).await?;
            }
            file.sync_all().await?;
            let back = fs::read(&path).await?;
            let want: Vec<u8> = (0..100u32).flat_map(u32::to_le_bytes).collect();
            assert_eq!(back, want);
            Ok::<(), io::Error>(())
        })
        .unwrap();
    });
}
