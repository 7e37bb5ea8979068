//! The file workloads (group `fs` of `compare`): `weft::fs` (on the
//! workers' io_uring rings where the kernel allows them) against
//! `tokio::fs` (every call a `spawn_blocking` job), both multi-threaded
//! with [`WORKER_THREADS`](crate::WORKER_THREADS) workers, on files in a
//! fresh directory under the system temp dir (hot in the page cache: they
//! were just written).
//!
//! - [`read_small_weft`]/[`read_small_tokio`] (`fs_read_small`): `fs::read`
//!   of [`SMALL_FILES`] files of [`SMALL_SIZE`] bytes from [`SMALL_TASKS`]
//!   tasks.
//! - [`random_read_weft`]/[`random_read_tokio`] (`fs_random_read`):
//!   [`RANDOM_TASKS`] tasks, each with its own open file over one
//!   [`RANDOM_FILE_SIZE`] file, each doing [`RANDOM_READS`] reads of
//!   [`READ_SIZE`] bytes at random aligned offsets (seek, then read);
//!   every read's latency is kept for the p99.
//! - [`write_sync_weft`]/[`write_sync_tokio`] (`fs_write_sync`):
//!   [`SYNC_FILES`] files of [`SYNC_SIZE`] bytes created, written and
//!   `sync_all`ed from [`SYNC_TASKS`] tasks.
//!
//! This module is not written over [`Rt`](crate::Rt): the two `fs` APIs
//! differ (weft's `File` uses `futures_io`'s traits, Tokio's its own).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Files read by `fs_read_small`.
pub const SMALL_FILES: usize = 2_000;
/// Size of each of them.
pub const SMALL_SIZE: usize = 4 * 1024;
/// Tasks sharing them.
pub const SMALL_TASKS: usize = 64;
/// The file `fs_random_read` reads.
pub const RANDOM_FILE_SIZE: usize = 64 * 1024 * 1024;
/// Tasks of `fs_random_read`, each with its own open file.
pub const RANDOM_TASKS: usize = 64;
/// Reads per task.
pub const RANDOM_READS: usize = 200;
/// Bytes per read.
pub const READ_SIZE: usize = 4 * 1024;
/// Files written by `fs_write_sync`.
pub const SYNC_FILES: usize = 1_000;
/// Size of each.
pub const SYNC_SIZE: usize = 16 * 1024;
/// Tasks writing them.
pub const SYNC_TASKS: usize = 16;

/// The files the workloads read, in a directory removed on drop.
pub struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    /// Writes the small files and the big one.
    pub fn new() -> Fixture {
        let dir = std::env::temp_dir().join(format!("weft-bench-fs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("small")).unwrap();
        std::fs::create_dir_all(dir.join("sync")).unwrap();
        for i in 0..SMALL_FILES {
            std::fs::write(dir.join("small").join(i.to_string()), [i as u8; SMALL_SIZE]).unwrap();
        }
        let big: Vec<u8> = (0..RANDOM_FILE_SIZE).map(|i| (i / READ_SIZE) as u8).collect();
        std::fs::write(dir.join("big"), big).unwrap();
        Fixture { dir }
    }

    fn small(&self, i: usize) -> PathBuf {
        self.dir.join("small").join(i.to_string())
    }

    fn big(&self) -> PathBuf {
        self.dir.join("big")
    }

    fn sync_file(&self, i: usize) -> PathBuf {
        self.dir.join("sync").join(i.to_string())
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One run: its wall time and, for `fs_random_read`, each read's latency.
pub struct FsRun {
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Each read's seek + read latency (`fs_random_read` only).
    pub latencies_ns: Vec<u64>,
}

/// The weft runtime of these rows: the default builder (rings on where
/// the kernel allows them).
pub fn weft_runtime() -> weft::runtime::Runtime {
    weft::runtime::Builder::new_multi_thread()
        .worker_threads(crate::WORKER_THREADS)
        .build()
        .unwrap()
}

/// The Tokio runtime of these rows.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(crate::WORKER_THREADS)
        .enable_all()
        .build()
        .unwrap()
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn random_offset(seed: &mut u64) -> u64 {
    (next(seed) % (RANDOM_FILE_SIZE / READ_SIZE) as u64) * READ_SIZE as u64
}

/// The files task `t` of `tasks` handles out of `n`.
fn share(t: usize, tasks: usize, n: usize) -> impl Iterator<Item = usize> {
    (t..n).step_by(tasks)
}

macro_rules! fs_workloads {
    ($rt:ty, $spawn:path, $fs:ident, $file:ty,
     $read_small:ident, $random_read:ident, $write_sync:ident) => {
        /// `fs_read_small` on this runtime.
        pub fn $read_small(rt: &$rt, fx: &Arc<Fixture>) -> FsRun {
            let fx = fx.clone();
            rt.block_on(async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..SMALL_TASKS)
                    .map(|t| {
                        let fx = fx.clone();
                        $spawn(async move {
                            for i in share(t, SMALL_TASKS, SMALL_FILES) {
                                let data = $fs::read(fx.small(i)).await.unwrap();
                                assert_eq!(data.len(), SMALL_SIZE);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                FsRun { elapsed: start.elapsed(), latencies_ns: Vec::new() }
            })
        }

        /// `fs_random_read` on this runtime.
        pub fn $random_read(rt: &$rt, fx: &Arc<Fixture>) -> FsRun {
            let fx = fx.clone();
            rt.block_on(async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..RANDOM_TASKS)
                    .map(|t| {
                        let fx = fx.clone();
                        $spawn(async move {
                            let mut file = <$file>::open(fx.big()).await.unwrap();
                            let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1);
                            let mut buf = vec![0u8; READ_SIZE];
                            let mut latencies = Vec::with_capacity(RANDOM_READS);
                            for _ in 0..RANDOM_READS {
                                let offset = random_offset(&mut seed);
                                let began = Instant::now();
                                file.seek(std::io::SeekFrom::Start(offset)).await.unwrap();
                                let n = file.read(&mut buf).await.unwrap();
                                latencies.push(began.elapsed().as_nanos() as u64);
                                assert_eq!(n, READ_SIZE);
                                assert_eq!(buf[0], (offset / READ_SIZE as u64) as u8);
                            }
                            latencies
                        })
                    })
                    .collect();
                let mut latencies_ns = Vec::with_capacity(RANDOM_TASKS * RANDOM_READS);
                for task in tasks {
                    latencies_ns.extend(task.await.unwrap());
                }
                FsRun { elapsed: start.elapsed(), latencies_ns }
            })
        }

        /// `fs_write_sync` on this runtime.
        pub fn $write_sync(rt: &$rt, fx: &Arc<Fixture>) -> FsRun {
            let fx = fx.clone();
            rt.block_on(async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..SYNC_TASKS)
                    .map(|t| {
                        let fx = fx.clone();
                        $spawn(async move {
                            let data = vec![t as u8; SYNC_SIZE];
                            for i in share(t, SYNC_TASKS, SYNC_FILES) {
                                let mut file = <$file>::create(fx.sync_file(i)).await.unwrap();
                                file.write_all(&data).await.unwrap();
                                file.sync_all().await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                FsRun { elapsed: start.elapsed(), latencies_ns: Vec::new() }
            })
        }
    };
}

mod weft_side {
    use super::*;
    use futures_util::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    use weft::fs;

    fs_workloads!(
        weft::runtime::Runtime,
        weft::spawn,
        fs,
        weft::fs::File,
        read_small_weft,
        random_read_weft,
        write_sync_weft
    );
}

mod tokio_side {
    use super::*;
    use tokio::fs;
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    fs_workloads!(
        tokio::runtime::Runtime,
        tokio::spawn,
        fs,
        tokio::fs::File,
        read_small_tokio,
        random_read_tokio,
        write_sync_tokio
    );
}

pub use tokio_side::{random_read_tokio, read_small_tokio, write_sync_tokio};
pub use weft_side::{random_read_weft, read_small_weft, write_sync_weft};
