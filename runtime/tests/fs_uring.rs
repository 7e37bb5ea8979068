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

/// Runs `fut` as a task on `rt`'s workers (where the rings are) and
/// returns its output.
fn on_worker<T: Send + 'static>(
    rt: &Runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(rt.spawn(fut)).unwrap()
}

/// Serializes this file's tests: some count the process's descriptors,
/// which the others' files would change.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Descriptors open in this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|dir| dir.count()).unwrap_or(0)
}

/// A pipe: (read end, write end), as standard files.
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors nobody else owns.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

/// Whether this environment gives rings (kernel allows, not turned off).
fn rings_here() -> bool {
    ring_runtime().metrics().io_uring_enabled()
}

#[test]
fn io_uring_false_takes_the_blocking_pool() {
    let _serial = serial();
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
    let _serial = serial();
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
        // In a task: only a worker submits to its ring (`block_on` on the
        // multi-thread flavor takes the pool).
        on_worker(&rt, async move {
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

/// Whole-file reads dropped while their operations are with the kernel
/// (polled, then the worker parks and so hands its queue over before the
/// drop), many times over: the kernel may still write into their
/// buffers, which their slots keep until the completion (memcheck runs
/// this to catch a buffer freed too early), and every descriptor their
/// opens made is closed.
#[test]
fn futures_dropped_mid_operation_leave_their_buffers_to_the_slot() {
    let _serial = serial();
    with_timeout("uring-drop", 120, || {
        let dir = TempDir::new("uring-drop");
        let path = dir.0.join("data");
        std::fs::write(&path, vec![1u8; 256 * 1024]).unwrap();
        let rt = ring_runtime();
        let before = open_fds();
        on_worker(&rt, async move {
            for round in 0..200u32 {
                let mut read = Box::pin(fs::read(path.clone()));
                // The open is queued; the park below enters it. Polled
                // again, a finished open queues the first read, entered by
                // the next park: the drop comes while one is in flight.
                for _ in 0..=(round % 2) {
                    if poll_once(&mut read).is_ready() {
                        break;
                    }
                    weft::time::sleep(std::time::Duration::from_micros(200)).await;
                }
                drop(read);
            }
            io::Result::Ok(())
        })
        .unwrap();
        assert!(
            wait_until(LONG, || open_fds() <= before),
            "descriptors leaked: {before} before, {} after",
            open_fds()
        );
        // Dropping the runtime waits for every abandoned operation.
        drop(rt);
    });
}

/// A read really in flight (on an empty pipe, it cannot complete inline)
/// whose future is dropped: the kernel fills the slot's buffer once data
/// comes, and the `File` hands exactly those bytes to its next read;
/// nothing is corrupted and no descriptor leaks.
#[test]
fn a_read_abandoned_in_flight_delivers_its_bytes_to_the_next_read() {
    let _serial = serial();
    with_timeout("uring-abandon-read", 120, || {
        let rt = ring_runtime();
        let before = open_fds();
        for round in 0..50u32 {
            let (reader, mut writer) = pipe();
            let got = on_worker(&rt, async move {
                let mut file = File::from_std(reader);
                let mut buf = vec![0u8; 4096];
                let mut read = Box::pin(file.read(&mut buf));
                assert!(poll_once(&mut read).is_pending(), "an empty pipe has nothing yet");
                // The worker parks meanwhile and enters the read: it is
                // with the kernel, on an empty pipe, when dropped.
                weft::time::sleep(std::time::Duration::from_millis(2)).await;
                assert!(poll_once(&mut read).is_pending(), "nothing was written yet");
                drop(read);
                let msg = format!("round {round}");
                std::io::Write::write_all(&mut writer, msg.as_bytes()).unwrap();
                drop(writer);
                let mut all = Vec::new();
                file.read_to_end(&mut all).await.unwrap();
                (msg, all)
            });
            assert_eq!(got.1, got.0.as_bytes(), "round {round}");
        }
        assert!(
            wait_until(LONG, || open_fds() <= before + 2),
            "descriptors leaked: {before} before, {} after",
            open_fds()
        );
    });
}

/// Opens whose futures are dropped after the submission: the kernel still
/// opens the file, and the ring closes the new descriptor nobody took.
#[test]
fn dropped_opens_close_their_new_descriptors() {
    let _serial = serial();
    with_timeout("uring-open-leak", 120, || {
        let dir = TempDir::new("uring-open-leak");
        let path = dir.0.join("f");
        std::fs::write(&path, b"x").unwrap();
        let rt = ring_runtime();
        let before = open_fds();
        on_worker(&rt, async move {
            for round in 0..200 {
                let mut open = Box::pin(File::open(path.clone()));
                let _ = poll_once(&mut open);
                drop(open);
                if round % 20 == 0 {
                    weft::task::yield_now().await;
                }
            }
        });
        assert!(
            wait_until(LONG, || open_fds() <= before + 2),
            "descriptors leaked: {before} before, {} after",
            open_fds()
        );
        drop(rt);
    });
}

/// More operations at once than the completion queue holds (one task
/// submits them all in one poll): every one completes.
#[test]
fn more_operations_than_the_completion_queue_all_complete() {
    let _serial = serial();
    with_timeout("uring-cq", 120, || {
        let dir = TempDir::new("uring-cq");
        let path = dir.0.join("f");
        std::fs::write(&path, b"x").unwrap();
        let rt = ring_runtime();
        let opened = on_worker(&rt, async move {
            // More than the completion queue's 512, fewer than the usual
            // soft limit of 1024 descriptors.
            let opens = (0..600).map(|_| File::open(path.clone()));
            let files = futures_util::future::join_all(opens).await;
            files.into_iter().filter(Result::is_ok).count()
        });
        assert_eq!(opened, 600);
        let metrics = rt.metrics();
        if metrics.io_uring_enabled() {
            assert!(metrics.io_uring_ops_completed() >= 600);
        }
    });
}

/// A `File` written from a thread outside the workers (through a
/// `Handle`), which then exits while its write still blocks (into a pipe
/// whose reader is slow): every byte arrives. io_uring cancels the
/// requests of a thread that exits, so such a thread takes the pool.
#[test]
fn a_write_from_a_thread_that_exits_is_not_lost() {
    let _serial = serial();
    with_timeout("uring-thread-exit", 120, || {
        let rt = ring_runtime();
        let handle = rt.handle().clone();
        let (reader, writer) = pipe();
        let data: Vec<u8> = (0..512 * 1024u32).map(|i| (i % 251) as u8).collect();
        let d = data.clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let mut file = File::from_std(writer);
                // Returns once the write started (a `File` buffers it).
                file.write_all(&d).await.unwrap();
            })
        })
        .join()
        .unwrap();
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut { reader }, &mut all).unwrap();
        assert_eq!(all.len(), data.len());
        assert_eq!(all, data);
        drop(rt);
    });
}

/// Many tasks over two workers, yielding between operations so they move
/// between workers: every completion reaches its task wherever it runs.
#[test]
fn completions_reach_tasks_on_any_worker() {
    let _serial = serial();
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
    let _serial = serial();
    with_timeout("uring-shutdown", 60, || {
        let dir = TempDir::new("uring-shutdown");
        let path = dir.0.join("w");
        let rt = ring_runtime();
        let data = vec![9u8; 1024 * 1024];
        let (p, d) = (path.clone(), data.clone());
        let file = on_worker(&rt, async move {
            let mut file = File::create(&p).await.unwrap();
            file.write_all(&d).await.unwrap();
            file
        });
        drop(rt);
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        check_dir_is_empty_but(&dir.0, "w");
    });
}

/// A ring write that cannot complete inline (into a pipe whose reader
/// only starts draining once the runtime's drop began): the drop waits for
/// it, and every byte the caller was told is written arrives.
#[test]
fn dropping_the_runtime_waits_for_a_blocked_ring_write() {
    let _serial = serial();
    if !rings_here() {
        eprintln!("io_uring unavailable here: skipped");
        return;
    }
    with_timeout("uring-shutdown-pipe", 120, || {
        let rt = ring_runtime();
        let (reader, writer) = pipe();
        // Bigger than a pipe's buffer: the write blocks in the kernel.
        let data: Vec<u8> = (0..512 * 1024u32).map(|i| (i % 253) as u8).collect();
        let d = data.clone();
        on_worker(&rt, async move {
            let mut file = File::from_std(writer);
            // Returns once the write is started (a `File` buffers it);
            // the ring write goes on after this task ends.
            file.write_all(&d).await.unwrap();
        });
        let dropping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = dropping.clone();
        let drain = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut { reader }, &mut all).unwrap();
            all
        });
        dropping.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(rt);
        assert_eq!(drain.join().unwrap(), data);
    });
}

/// A ring write entered by a thread other than the one that queued it,
/// and continued (the pipe takes only part of it at once) by that thread,
/// which then gives the core away and exits while the rest waits for the
/// reader: the kernel ties a request to the thread that entered it and
/// cancels it when that thread exits, so the exiting thread must wait for
/// what it entered. Every byte arrives.
#[test]
fn a_write_entered_by_a_thread_that_hands_its_core_over_is_not_lost() {
    let _serial = serial();
    with_timeout("uring-handoff", 120, || {
        // One worker: every hand-off moves the same ring. Pool threads
        // (which take the core over) exit soon after they idle.
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_keep_alive(std::time::Duration::from_millis(10))
            .build()
            .unwrap();
        let hand_over = || std::thread::sleep(std::time::Duration::from_millis(50));
        let (reader, writer) = pipe();
        let data: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let d = data.clone();
        on_worker(&rt, async move {
            let mut file = File::from_std(writer);
            // Queued on the ring (the `File` buffers it and returns).
            file.write_all(&d).await.unwrap();
            drop(file);
            // This thread gives the core away (to a pool thread) before its
            // next flush: the next owner enters the write; the pipe takes
            // 64 KiB and the rest waits for the reader.
            weft::task::block_in_place(hand_over);
            weft::time::sleep(std::time::Duration::from_millis(100)).await;
            // The thread that entered it hands the core over, and then
            // would go idle and exit.
            weft::task::block_in_place(hand_over);
        });
        // Let that thread reach its exit before reading.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut { reader }, &mut all).unwrap();
        assert_eq!(all.len(), data.len(), "bytes lost");
        assert!(all == data, "bytes corrupted");
        drop(rt);
    });
}

fn check_dir_is_empty_but(dir: &Path, name: &str) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [name]);
}

/// `shutdown_timeout` bounds the workers' wait for ring writes: a write
/// into a pipe nobody reads does not hold the shutdown past its deadline
/// (its slot is leaked, never freed under the kernel).
#[test]
fn shutdown_timeout_bounds_the_wait_for_a_stuck_ring_write() {
    let _serial = serial();
    with_timeout("uring-shutdown-timeout", 60, || {
        let rt = ring_runtime();
        let (reader, writer) = pipe();
        on_worker(&rt, async move {
            let mut file = File::from_std(writer);
            file.write_all(&vec![5u8; 512 * 1024]).await.unwrap();
        });
        rt.shutdown_timeout(std::time::Duration::from_millis(200));
        drop(reader);
    });
}

/// A whole-file read started on a worker (its open on the ring) whose
/// future then moves off the workers (finished by `block_on`): the rest of
/// its operations take the blocking pool, one by one, and the result is
/// the file's contents.
#[test]
fn an_operation_moved_off_the_workers_finishes_on_the_pool() {
    let _serial = serial();
    with_timeout("uring-moved", 60, || {
        let dir = TempDir::new("uring-moved");
        let path = dir.0.join("f");
        let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 241) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let rt = ring_runtime();
        let metrics = rt.metrics();
        // In a `Vec`: the task hands the started future over, not awaits it.
        let mut read = on_worker(&rt, async move {
            let mut read = Box::pin(fs::read(path));
            let _ = poll_once(&mut read);
            vec![read]
        })
        .pop()
        .unwrap();
        let before = metrics.blocking_jobs_completed();
        assert_eq!(rt.block_on(&mut read).unwrap(), data);
        if metrics.io_uring_enabled() {
            assert!(
                wait_until(LONG, || metrics.blocking_jobs_completed() > before),
                "the rest of the read ran on the pool"
            );
        }
    });
}
