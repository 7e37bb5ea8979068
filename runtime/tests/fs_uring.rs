//! `weft::fs` on the workers' io_uring rings: which path a runtime takes,
//! that ring operations involve no blocking-pool thread, and that the
//! memory lent to the kernel outlives futures dropped mid-operation, tasks
//! moved between workers and the runtime's shutdown.
//!
//! Where the kernel refuses io_uring (or `WEFT_IO_URING=0`), the ring
//! assertions are skipped: the fallback is what `fs.rs` and `fs_dir.rs`
//! test then.

mod common;

use std::io;
use std::path::Path;

use common::{poll_once, wait_until, with_timeout, TempDir, LONG};
use futures_util::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use weft::fs::{self, File};
use weft::runtime::{Builder, Runtime};

fn ring_runtime() -> Runtime {
    Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// Whether this environment gives rings (kernel allows, not turned off).
fn rings_here() -> bool {
    ring_runtime().metrics().io_uring_enabled()
}

#[test]
fn io_uring_false_takes_the_blocking_pool() {
    with_timeout("uring-off", 60, || {
        let dir = TempDir::new("uring-off");
        let rt = Builder::new_multi_thread().worker_threads(2).io_uring(false).build().unwrap();
        let metrics = rt.metrics();
        assert!(!metrics.io_uring_enabled());
        let path = dir.0.join("f");
        rt.block_on(async {
            fs::write(&path, b"pool").await?;
            assert_eq!(fs::read(&path).await?, b"pool");
            io::Result::Ok(())
        })
        .unwrap();
        // The pool counts a job just after handing its result over.
        assert!(
            wait_until(LONG, || metrics.blocking_jobs_completed() >= 2),
            "the pool ran the calls"
        );
        assert_eq!(metrics.io_uring_ops_submitted(), 0);
    });
}

#[test]
fn ring_operations_use_no_pool_thread() {
    if !rings_here() {
        eprintln!("io_uring unavailable here: skipped (the fallback is tested by fs.rs)");
        return;
    }
    with_timeout("uring-no-pool", 60, || {
        let dir = TempDir::new("uring-no-pool");
        let rt = ring_runtime();
        let metrics = rt.metrics();
        let before = metrics.blocking_jobs_completed();
        let d = dir.0.clone();
        rt.block_on(async move {
            let path = d.join("a");
            fs::write(&path, vec![7u8; 100_000]).await?;
            assert_eq!(fs::read(&path).await?, vec![7u8; 100_000]);
            fs::rename(&path, d.join("b")).await?;
            fs::create_dir(d.join("sub")).await?;
            let mut file = File::create(d.join("sub/c")).await?;
            file.write_all(b"hello world").await?;
            file.sync_all().await?;
            let mut file = File::open(d.join("sub/c")).await?;
            file.seek(io::SeekFrom::Start(6)).await?;
            let mut word = String::new();
            file.read_to_string(&mut word).await?;
            assert_eq!(word, "world");
            fs::remove_file(d.join("sub/c")).await?;
            fs::remove_dir(d.join("sub")).await?;
            fs::remove_file(d.join("b")).await?;
            io::Result::Ok(())
        })
        .unwrap();
        assert_eq!(metrics.blocking_jobs_completed(), before, "no call went to the pool");
        assert!(metrics.io_uring_enabled());
        assert!(metrics.io_uring_ops_completed() >= 10);
        assert!(metrics.io_uring_ops_submitted() >= metrics.io_uring_ops_completed());
    });
}

/// Reads dropped after their first poll, many times over: the kernel may
/// still write into their buffers, which their slots keep until the
/// completion (memcheck runs this to catch a buffer freed too early).
#[test]
fn futures_dropped_mid_operation_leave_their_buffers_to_the_slot() {
    with_timeout("uring-drop", 120, || {
        let dir = TempDir::new("uring-drop");
        let path = dir.0.join("data");
        std::fs::write(&path, vec![1u8; 256 * 1024]).unwrap();
        let rt = ring_runtime();
        rt.block_on(async {
            let mut file = File::open(&path).await?;
            for round in 0..200 {
                let mut read = Box::pin(fs::read(&path));
                let _ = poll_once(&mut read);
                drop(read);
                let mut buf = vec![0u8; 64 * 1024];
                let mut one = Box::pin(file.read(&mut buf));
                let _ = poll_once(&mut one);
                drop(one);
                if round % 50 == 0 {
                    weft::task::yield_now().await;
                }
            }
            // The file still works, at a consistent position.
            file.seek(io::SeekFrom::Start(0)).await?;
            let mut all = Vec::new();
            file.read_to_end(&mut all).await?;
            assert_eq!(all.len(), 256 * 1024);
            io::Result::Ok(())
        })
        .unwrap();
        // Dropping the runtime waits for every abandoned operation.
        drop(rt);
    });
}

/// Many tasks over two workers, yielding between operations so they move
/// between workers: every completion reaches its task wherever it runs.
#[test]
fn completions_reach_tasks_on_any_worker() {
    with_timeout("uring-steal", 120, || {
        let dir = TempDir::new("uring-steal");
        let rt = ring_runtime();
        let d = dir.0.clone();
        rt.block_on(async move {
            let mut tasks = Vec::new();
            for i in 0..64 {
                let path = d.join(format!("f{i}"));
                tasks.push(weft::spawn(async move {
                    for round in 0..10u8 {
                        fs::write(&path, [round; 4096]).await?;
                        weft::task::yield_now().await;
                        assert_eq!(fs::read(&path).await?, [round; 4096]);
                    }
                    io::Result::Ok(())
                }));
            }
            for task in tasks {
                task.await.unwrap()?;
            }
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// A write that returned `Ok` reaches the file even when the runtime is
/// dropped right after (shutdown waits for ring writes; it cancels only
/// operations whose outcome nobody needs).
#[test]
fn dropping_the_runtime_waits_for_ring_writes() {
    with_timeout("uring-shutdown", 60, || {
        let dir = TempDir::new("uring-shutdown");
        let path = dir.0.join("w");
        let rt = ring_runtime();
        let data = vec![9u8; 1024 * 1024];
        let file = rt.block_on(async {
            let mut file = File::create(&path).await.unwrap();
            file.write_all(&data).await.unwrap();
            file
        });
        drop(rt);
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        check_dir_is_empty_but(&dir.0, "w");
    });
}

fn check_dir_is_empty_but(dir: &Path, name: &str) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [name]);
}
