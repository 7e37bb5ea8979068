//! Behaviour of the pool through its public API. Bounds are generous and
//! every wait has a deadline, so a bug fails a test instead of hanging it.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use weft_blocking::{JoinError, Pool, PoolMetrics, SpawnError, Task};

const DEADLINE: Duration = Duration::from_secs(10);

/// `task.wait()`, but panics instead of hanging past `DEADLINE`.
fn wait<R>(task: Task<R>) -> Result<R, JoinError> {
    let start = Instant::now();
    while !task.is_finished() {
        assert!(start.elapsed() < DEADLINE, "task did not finish within {DEADLINE:?}");
        thread::sleep(Duration::from_millis(1));
    }
    task.wait()
}

/// Polls `cond` until it holds, panicking after `within`.
fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A tiny `block_on` with a deadline: parks the thread between polls.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let start = Instant::now();
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(start.elapsed() < DEADLINE, "future did not complete within {DEADLINE:?}");
        thread::park_timeout(Duration::from_millis(100));
    }
}

/// Counts how many times it is dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn types_are_send_sync_unpin() {
    fn send_sync<T: Send + Sync>() {}
    fn send_unpin<T: Send + Unpin>() {}
    send_sync::<Pool>();
    send_sync::<JoinError>();
    send_sync::<SpawnError>();
    send_unpin::<Task<Vec<u8>>>();
}

#[test]
fn sixty_four_sleeping_jobs_run_in_parallel() {
    let pool = Pool::new();
    let start = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            pool.spawn(move || {
                thread::sleep(Duration::from_millis(50));
                i
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(wait(task).unwrap(), i);
    }
    let elapsed = start.elapsed();
    // Serially this would take 3.2 s.
    assert!(elapsed < Duration::from_millis(1600), "took {elapsed:?}");
    assert_eq!(pool.metrics().jobs_completed, 64);
}

#[test]
fn max_threads_is_never_exceeded_and_excess_jobs_queue() {
    let pool = Pool::builder().max_threads(4).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let peak_alive = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (running, peak, peak_alive) = (running.clone(), peak.clone(), peak_alive.clone());
            let pool2 = pool.clone();
            pool.spawn(move || {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                peak_alive.fetch_max(pool2.metrics().threads_alive, SeqCst);
                thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    // Right after submission most jobs are still queued.
    let m = pool.metrics();
    assert!(m.threads_alive <= 4, "{m:?}");
    assert!(m.queue_depth > 0, "{m:?}");
    for task in tasks {
        wait(task).unwrap();
    }
    assert!(peak.load(SeqCst) <= 4, "peak concurrency {}", peak.load(SeqCst));
    assert!(peak.load(SeqCst) >= 2, "jobs did not run in parallel");
    assert!(peak_alive.load(SeqCst) <= 4);
    let m = pool.metrics();
    assert_eq!(m.jobs_completed, 40);
    assert_eq!(m.queue_depth, 0);
}

#[test]
fn an_idle_thread_is_reused() {
    let pool = Pool::new();
    let first = wait(pool.spawn(|| thread::current().id())).unwrap();
    // The thread goes idle right after resolving the Task.
    eventually(DEADLINE, "thread idle", || pool.metrics().idle_threads == 1);
    let second = wait(pool.spawn(|| thread::current().id())).unwrap();
    assert_eq!(first, second);
    assert_eq!(pool.metrics().threads_alive, 1);
}

#[test]
fn idle_threads_exit_after_keep_alive() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let pool = Pool::builder()
        .keep_alive(Duration::from_millis(100))
        .on_thread_stop(move || {
            s.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let tasks: Vec<_> =
        (0..8).map(|_| pool.spawn(|| thread::sleep(Duration::from_millis(50)))).collect();
    for task in tasks {
        wait(task).unwrap();
    }
    let alive = pool.metrics().threads_alive;
    assert!(alive >= 2, "expected several threads, got {alive}");
    eventually(Duration::from_secs(5), "threads exit", || pool.metrics().threads_alive == 0);
    eventually(Duration::from_secs(5), "stop hooks", || stopped.load(SeqCst) >= alive);
    assert_eq!(pool.metrics().idle_threads, 0);
    // A job after that starts a new thread.
    assert_eq!(wait(pool.spawn(|| 7)).unwrap(), 7);
}

#[test]
fn zero_keep_alive_threads_exit_at_once_and_jobs_still_run() {
    let pool = Pool::builder().keep_alive(Duration::ZERO).max_threads(2).build().unwrap();
    for i in 0..200 {
        assert_eq!(wait(pool.spawn(move || i)).unwrap(), i);
    }
    eventually(Duration::from_secs(5), "threads exit", || pool.metrics().threads_alive == 0);
}

#[test]
fn a_panic_comes_back_as_join_error_and_the_pool_survives() {
    let pool = Pool::builder().max_threads(1).build().unwrap();
    let before = wait(pool.spawn(|| thread::current().id())).unwrap();

    let task = pool.spawn(|| -> u32 { panic!("boom {}", std::hint::black_box(42)) });
    let id = task.id();
    let err = wait(task).unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(err.id(), id);
    assert_eq!(err.to_string(), format!("task {id} panicked with message \"boom 42\""));
    assert!(format!("{err:?}").contains("boom 42"));
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom 42"));

    let err = wait(pool.spawn(|| std::panic::panic_any(7u8))).unwrap_err();
    assert_eq!(err.to_string(), format!("task {} panicked", err.id()));
    assert_eq!(*err.try_into_panic().unwrap().downcast::<u8>().unwrap(), 7);

    // Same thread, still working.
    let after = wait(pool.spawn(|| thread::current().id())).unwrap();
    assert_eq!(before, after);
    assert_eq!(pool.metrics().jobs_completed, 4);
    assert_eq!(pool.metrics().threads_alive, 1);
}

#[test]
fn shutdown_cancels_queued_jobs_and_drops_their_closures() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let pool = Pool::builder()
        .max_threads(1)
        .on_thread_stop(move || {
            s.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let (release, blocked) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let blocker = pool.spawn(move || {
        started_tx.send(()).unwrap();
        blocked.recv_timeout(DEADLINE).expect("released");
        "blocker done"
    });
    started.recv_timeout(DEADLINE).unwrap();

    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..10)
        .map(|_| {
            let counter = DropCounter(drops.clone());
            let ran = ran.clone();
            pool.spawn(move || {
                let _counter = &counter;
                ran.fetch_add(1, SeqCst);
            })
        })
        .collect();
    assert_eq!(pool.metrics().queue_depth, 10);

    // The blocker is still running: the threads cannot all exit yet.
    assert!(!pool.shutdown(Duration::from_millis(50)));
    assert!(pool.is_shut_down());
    assert_eq!(drops.load(SeqCst), 10, "every queued closure dropped exactly once");
    for task in queued {
        assert!(task.is_finished());
        let id = task.id();
        let err = task.wait().unwrap_err();
        assert_eq!(err.id(), id, "a cancelled job's error names the job");
        assert!(err.is_cancelled() && !err.is_panic());
        assert!(err.to_string().contains("cancelled"));
        assert!(err.try_into_panic().unwrap_err().is_cancelled());
    }

    // New jobs are refused.
    let err = pool.try_spawn(|| ()).unwrap_err();
    assert_eq!(err.to_string(), "the blocking pool is shut down");
    let late_drops = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter(late_drops.clone());
    let late = pool.spawn(move || drop(counter));
    assert_eq!(late_drops.load(SeqCst), 1);
    assert!(late.is_finished());
    assert!(late.wait().unwrap_err().is_cancelled());

    // The running job finishes normally; then the thread exits.
    release.send(()).unwrap();
    assert_eq!(wait(blocker).unwrap(), "blocker done");
    assert!(pool.shutdown(DEADLINE));
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(drops.load(SeqCst), 10);
    assert_eq!(stopped.load(SeqCst), 1, "the stop hook ran before shutdown returned true");
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.idle_threads), (0, 0), "{m:?}");
}

#[test]
fn shutdown_wakes_idle_threads() {
    let pool = Pool::builder().keep_alive(Duration::from_secs(3600)).build().unwrap();
    let tasks: Vec<_> =
        (0..4).map(|_| pool.spawn(|| thread::sleep(Duration::from_millis(20)))).collect();
    for task in tasks {
        wait(task).unwrap();
    }
    assert!(pool.metrics().threads_alive >= 1);
    let start = Instant::now();
    assert!(pool.shutdown(DEADLINE));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(pool.metrics().threads_alive, 0);
    // Again: nothing left to do.
    assert!(pool.shutdown(Duration::ZERO));
}

#[test]
fn shutdown_of_an_unused_pool_returns_at_once() {
    let pool = Pool::new();
    assert!(pool.shutdown(Duration::ZERO));
}

#[test]
fn dropping_a_task_detaches_the_job() {
    let pool = Pool::new();
    let (tx, rx) = mpsc::channel();
    drop(pool.spawn(move || tx.send("ran").unwrap()));
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), "ran");
}

#[test]
fn dropping_the_pool_does_not_block_and_jobs_still_run() {
    let pool = Pool::new();
    let task = pool.spawn(|| {
        thread::sleep(Duration::from_millis(50));
        5
    });
    let start = Instant::now();
    drop(pool);
    assert!(start.elapsed() < Duration::from_millis(40));
    assert_eq!(wait(task).unwrap(), 5);
}

#[test]
fn wait_from_a_plain_thread() {
    let pool = Pool::new();
    let handle = thread::spawn(move || pool.spawn(|| "hello".len()).wait().unwrap());
    assert_eq!(handle.join().unwrap(), 5);
}

#[test]
fn a_job_can_wait_for_another_job_of_the_same_pool() {
    let pool = Pool::builder().max_threads(2).build().unwrap();
    let p = pool.clone();
    let outer = pool.spawn(move || p.spawn(|| 20).wait().unwrap() + 1);
    assert_eq!(wait(outer).unwrap(), 21);
}

#[test]
fn task_is_a_future() {
    let pool = Pool::new();
    let task = pool.spawn(|| {
        thread::sleep(Duration::from_millis(20));
        "async"
    });
    assert_eq!(block_on(task).unwrap(), "async");

    // Many at once, some finished before their first poll.
    let tasks: Vec<_> = (0..32u64).map(|i| pool.spawn(move || i * 2)).collect();
    let sum: u64 = block_on(async {
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..32).map(|i| i * 2).sum());
}

#[test]
fn unblock_runs_on_the_global_pool() {
    let tasks: Vec<_> = (0..8).map(|i| weft_blocking::unblock(move || i + 1)).collect();
    let sum: i32 = tasks.into_iter().map(|t| wait(t).unwrap()).sum();
    assert_eq!(sum, 36);
    assert_eq!(block_on(weft_blocking::unblock(|| "ok")).unwrap(), "ok");
}

#[test]
fn hooks_run_and_threads_are_named() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2, n) = (started.clone(), stopped.clone(), names.clone());
    let pool = Pool::builder()
        .thread_name("custom-name")
        .stack_size(4 << 20)
        .on_thread_start(move || {
            s1.fetch_add(1, SeqCst);
            n.lock().unwrap().push(thread::current().name().map(str::to_owned));
        })
        .on_thread_stop(move || {
            s2.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let in_job = Arc::new(AtomicBool::new(false));
    let flag = in_job.clone();
    let started_before_job = started.clone();
    let name = wait(pool.spawn(move || {
        // The start hook ran before the first job on this thread.
        flag.store(started_before_job.load(SeqCst) == 1, SeqCst);
        // A 1 MiB stack buffer fits in the 4 MiB stack.
        let buf = [1u8; 1 << 20];
        assert_eq!(std::hint::black_box(&buf).iter().map(|&b| b as usize).sum::<usize>(), 1 << 20);
        thread::current().name().map(str::to_owned)
    }))
    .unwrap();
    assert_eq!(name.as_deref(), Some("custom-name"));
    assert!(in_job.load(SeqCst));
    assert!(pool.shutdown(DEADLINE));
    assert_eq!(started.load(SeqCst), 1);
    assert_eq!(stopped.load(SeqCst), 1);
    assert_eq!(names.lock().unwrap().as_slice(), &[Some("custom-name".to_owned())]);
}

#[test]
fn default_thread_name() {
    let pool = Pool::new();
    let name = wait(pool.spawn(|| thread::current().name().map(str::to_owned))).unwrap();
    assert_eq!(name.as_deref(), Some("weft-blocking"));
}

#[test]
fn a_panicking_hook_does_not_break_the_pool() {
    let pool = Pool::builder()
        .on_thread_start(|| panic!("start hook"))
        .on_thread_stop(|| panic!("stop hook"))
        .build()
        .unwrap();
    assert_eq!(wait(pool.spawn(|| 3)).unwrap(), 3);
    assert!(pool.shutdown(DEADLINE));
}

/// A panic payload whose destructor panics too.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the hook's panic payload panics when dropped");
    }
}

// Before the fix disposing of the payload panicked out of the hook's
// catch, killing the thread: the job it was started for never ran and
// `shutdown` never saw the thread exit.
#[test]
fn a_hook_panic_whose_payload_panics_on_drop_loses_no_job() {
    let stops = Arc::new(AtomicUsize::new(0));
    let stopped = stops.clone();
    let pool = Pool::builder()
        .on_thread_start(|| std::panic::panic_any(PanicsOnDrop))
        .on_thread_stop(move || {
            stopped.fetch_add(1, SeqCst);
            std::panic::panic_any(PanicsOnDrop)
        })
        .build()
        .unwrap();
    assert_eq!(wait(pool.spawn(|| 3)).unwrap(), 3);
    assert!(pool.shutdown(DEADLINE), "every thread exits");
    assert_eq!(stops.load(SeqCst), 1);
    assert!(pool.try_spawn(|| ()).is_err());
}

#[test]
fn invalid_max_threads_is_an_error_naming_the_setting() {
    let err = Pool::builder().max_threads(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_threads"), "{err}");
    assert!(Pool::builder().max_threads(usize::MAX).build().is_err());
}

#[test]
fn metrics_start_at_zero() {
    let pool = Pool::new();
    assert_eq!(pool.metrics(), PoolMetrics::default());
    let debug = format!("{pool:?}");
    assert!(debug.contains("max_threads: 512"), "{debug}");
}

#[test]
fn many_submitters_at_once() {
    let pool = Pool::builder().max_threads(8).keep_alive(Duration::from_millis(1)).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..8)
        .map(|_| {
            let (pool, ran) = (pool.clone(), ran.clone());
            thread::spawn(move || {
                for _ in 0..500 {
                    let ran = ran.clone();
                    let task = pool.spawn(move || {
                        ran.fetch_add(1, SeqCst);
                    });
                    wait(task).unwrap();
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    assert_eq!(ran.load(SeqCst), 4000);
    assert!(pool.metrics().threads_alive <= 8);
    assert!(pool.shutdown(DEADLINE));
}

// ---------------------------------------------------------------------------
// Mandatory jobs

/// Holds the only thread of a `max_threads(1)` pool until the sender is
/// used; returns once the job is running.
fn hold_the_thread(pool: &Pool) -> (mpsc::Sender<()>, Task<&'static str>) {
    let (release, blocked) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let blocker = pool.spawn(move || {
        started_tx.send(()).unwrap();
        blocked.recv_timeout(DEADLINE).expect("released");
        "blocker done"
    });
    started.recv_timeout(DEADLINE).unwrap();
    (release, blocker)
}

#[test]
fn mandatory_jobs_queued_behind_a_busy_thread_run_at_shutdown() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let pool = Pool::builder()
        .max_threads(1)
        .on_thread_stop(move || {
            s.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let (release, blocker) = hold_the_thread(&pool);

    // Ordinary and mandatory jobs queue behind the blocker, interleaved.
    let ordinary_drops = Arc::new(AtomicUsize::new(0));
    let ordinary_ran = Arc::new(AtomicUsize::new(0));
    let mandatory_drops = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut ordinary = Vec::new();
    let mut mandatory = Vec::new();
    for i in 0..5 {
        let (counter, ran) = (DropCounter(ordinary_drops.clone()), ordinary_ran.clone());
        ordinary.push(pool.spawn(move || {
            let _counter = &counter;
            ran.fetch_add(1, SeqCst);
        }));
        let (counter, order) = (DropCounter(mandatory_drops.clone()), order.clone());
        mandatory.push(
            pool.try_spawn_mandatory(move || {
                let _counter = &counter;
                order.lock().unwrap().push(i);
                if i == 2 {
                    panic!("mandatory job {i} panics");
                }
                (i, thread::current().name().map(str::to_owned))
            })
            .expect("accepted before shutdown"),
        );
    }
    assert_eq!(pool.metrics().queue_depth, 10);

    // The blocker still runs: shutdown times out. The ordinary jobs are
    // cancelled at once, each closure dropped exactly once; the mandatory
    // ones wait in the queue, neither run nor dropped.
    assert!(!pool.shutdown(Duration::from_millis(50)));
    assert_eq!(ordinary_drops.load(SeqCst), 5);
    for task in ordinary {
        assert!(task.is_finished());
        assert!(task.wait().unwrap_err().is_cancelled());
    }
    assert_eq!(mandatory_drops.load(SeqCst), 0);
    assert!(order.lock().unwrap().is_empty());
    assert!(mandatory.iter().all(|task| !task.is_finished()));
    assert_eq!(pool.metrics().queue_depth, 5 + 1, "the mandatory jobs and one wake-up");

    // New mandatory jobs are refused, their closures dropped unrun.
    let late_drops = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter(late_drops.clone());
    let err = pool.try_spawn_mandatory(move || drop(counter)).unwrap_err();
    assert_eq!(err, pool.try_spawn(|| ()).unwrap_err());
    assert_eq!(err.to_string(), "the blocking pool is shut down");
    assert_eq!(late_drops.load(SeqCst), 1);

    // The blocker finishes; the pool thread then runs the mandatory jobs, in
    // order (a panic does not stop it), and exits.
    release.send(()).unwrap();
    assert_eq!(wait(blocker).unwrap(), "blocker done");
    assert!(pool.shutdown(DEADLINE));
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(mandatory_drops.load(SeqCst), 5, "every mandatory closure dropped exactly once");
    for (i, task) in mandatory.into_iter().enumerate() {
        assert!(task.is_finished());
        match task.wait() {
            Ok((n, name)) => {
                assert_eq!(n, i);
                assert_eq!(name.as_deref(), Some("weft-blocking"), "ran on the pool thread");
            }
            Err(err) => {
                assert_eq!(i, 2);
                assert!(err.is_panic() && !err.is_cancelled(), "{err:?}");
            }
        }
    }
    assert_eq!(ordinary_ran.load(SeqCst), 0);
    assert_eq!(ordinary_drops.load(SeqCst), 5);
    assert_eq!(stopped.load(SeqCst), 1);
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.queue_depth, m.jobs_completed), (0, 0, 6), "{m:?}");
}

#[test]
fn mandatory_jobs_run_on_every_thread_at_shutdown() {
    let pool = Pool::builder().max_threads(4).build().unwrap();
    // Four busy threads, then sixteen mandatory jobs of 50 ms queued.
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let running = Arc::new(AtomicUsize::new(0));
    let blockers: Vec<_> = (0..4)
        .map(|_| {
            let (gate, running) = (gate.clone(), running.clone());
            pool.spawn(move || {
                running.fetch_add(1, SeqCst);
                gate.lock().unwrap().recv_timeout(DEADLINE).expect("released");
            })
        })
        .collect();
    eventually(DEADLINE, "four blockers run", || running.load(SeqCst) == 4);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            pool.try_spawn_mandatory(|| {
                thread::sleep(Duration::from_millis(50));
                thread::current().id()
            })
            .unwrap()
        })
        .collect();
    assert!(!pool.shutdown(Duration::ZERO));
    for _ in 0..4 {
        release.send(()).unwrap();
    }
    let start = Instant::now();
    assert!(pool.shutdown(DEADLINE));
    // On one thread this would take 800 ms.
    assert!(start.elapsed() < Duration::from_millis(600), "took {:?}", start.elapsed());
    let mut threads: Vec<_> = tasks.into_iter().map(|task| task.wait().unwrap()).collect();
    threads.sort_by_key(|id| format!("{id:?}"));
    threads.dedup();
    assert!(threads.len() >= 2, "ran on {} thread(s)", threads.len());
    assert!(!threads.contains(&thread::current().id()));
    for blocker in blockers {
        wait(blocker).unwrap();
    }
}

#[test]
fn mandatory_submits_racing_shutdown_run_once_or_are_refused() {
    for round in 0..50 {
        let pool = Pool::builder().max_threads(2).keep_alive(Duration::ZERO).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (pool, drops, ran) = (pool.clone(), drops.clone(), ran.clone());
                thread::spawn(move || {
                    let (mut accepted, mut refused) = (Vec::new(), 0);
                    for _ in 0..50 {
                        let (counter, ran) = (DropCounter(drops.clone()), ran.clone());
                        match pool.try_spawn_mandatory(move || {
                            let _counter = counter;
                            ran.fetch_add(1, SeqCst);
                        }) {
                            Ok(task) => accepted.push(task),
                            Err(_) => refused += 1,
                        }
                    }
                    (accepted, refused)
                })
            })
            .collect();
        thread::sleep(Duration::from_micros(50 * (round % 5)));
        assert!(pool.shutdown(DEADLINE), "round {round}");
        let (mut accepted, mut refused) = (0, 0);
        for submitter in submitters {
            let (tasks, r) = submitter.join().unwrap();
            refused += r;
            accepted += tasks.len();
            for task in tasks {
                // Never cancelled: an accepted job ran, on whichever thread.
                wait(task).unwrap();
            }
        }
        assert_eq!(accepted + refused, 200);
        assert_eq!(ran.load(SeqCst), accepted, "round {round}");
        assert_eq!(drops.load(SeqCst), 200, "round {round}: every closure dropped once");
        assert_eq!(pool.metrics().threads_alive, 0);
    }
}

/// A pool of one thread and `capacity` places in its queue.
fn bounded(capacity: usize) -> Pool {
    Pool::builder().max_threads(1).queue_capacity(capacity).build().unwrap()
}

#[test]
fn try_reserve_refuses_past_the_capacity_and_admits_again_once_jobs_finish() {
    let pool = bounded(2);
    let (release, busy) = hold_the_thread(&pool);
    let queued: Vec<_> = (0..2).map(|i| pool.try_reserve().unwrap().spawn(move || i)).collect();
    for _ in 0..3 {
        let err = pool.try_reserve().unwrap_err();
        assert!(err.is_full() && !err.is_shut_down());
        assert!(err.to_string().contains("full"), "{err}");
    }
    assert_eq!(pool.metrics().jobs_in_flight, 3);
    release.send(()).unwrap();
    assert_eq!(wait(busy).unwrap(), "blocker done");
    let values: Vec<_> = queued.into_iter().map(|t| wait(t).unwrap()).collect();
    assert_eq!(values, [0, 1], "FIFO order");
    // Each job gave its place back before its Task resolved.
    assert_eq!(pool.metrics().jobs_in_flight, 0);
    let permits: Vec<_> = (0..3).map(|_| pool.try_reserve().unwrap()).collect();
    assert!(pool.try_reserve().is_err(), "1 thread + 2 queue places");
    drop(permits);
    assert_eq!(pool.metrics().jobs_in_flight, 0, "unused permits give their places back");
}

#[test]
fn spawn_never_refuses_on_a_full_pool_but_counts() {
    let pool = bounded(0);
    let (release, busy) = hold_the_thread(&pool);
    assert!(pool.try_reserve().unwrap_err().is_full());
    let extra: Vec<_> = (0..5).map(|i| pool.spawn(move || i)).collect();
    assert_eq!(pool.metrics().jobs_in_flight, 6);
    release.send(()).unwrap();
    wait(busy).unwrap();
    assert_eq!(extra.into_iter().map(|t| wait(t).unwrap()).sum::<i32>(), 10);
    assert_eq!(pool.metrics().jobs_in_flight, 0);
    assert!(pool.try_reserve().is_ok());
}

#[test]
fn panicking_and_cancelled_jobs_give_their_places_back() {
    let pool = bounded(4);
    let panicked = pool.try_reserve().unwrap().spawn(|| panic!("boom"));
    assert!(wait(panicked).unwrap_err().is_panic());
    assert_eq!(pool.metrics().jobs_in_flight, 0);

    let (release, busy) = hold_the_thread(&pool);
    let drops = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let guard = DropFlag(drops.clone());
            pool.try_reserve().unwrap().spawn(move || drop(guard))
        })
        .collect();
    assert!(!pool.shutdown(Duration::from_millis(20)), "the thread is busy");
    assert_eq!(drops.load(SeqCst), 4, "each queued closure dropped once, unrun");
    for task in queued {
        assert!(wait(task).unwrap_err().is_cancelled());
    }
    assert_eq!(pool.metrics().jobs_in_flight, 1, "only the running job is left");
    release.send(()).unwrap();
    wait(busy).unwrap();
    assert!(pool.shutdown(DEADLINE));
    assert_eq!(pool.metrics().jobs_in_flight, 0);
    let err = pool.try_reserve().unwrap_err();
    assert!(err.is_shut_down());
    assert_eq!(err.to_string(), "the pool is shut down");
}

#[test]
fn an_unbounded_pool_always_has_room() {
    let pool = Pool::builder().max_threads(1).build().unwrap();
    let (release, busy) = hold_the_thread(&pool);
    let tasks: Vec<_> = (0..100).map(|i| pool.try_reserve().unwrap().spawn(move || i)).collect();
    release.send(()).unwrap();
    wait(busy).unwrap();
    assert_eq!(tasks.into_iter().map(|t| wait(t).unwrap()).sum::<i32>(), 4950);
    assert_eq!(pool.metrics().jobs_in_flight, 0, "not counted without a cap");
}

#[test]
fn busy_threads_counts_threads_running_a_job() {
    let pool = bounded(0);
    assert_eq!(pool.metrics().busy_threads, 0);
    let (release, busy) = hold_the_thread(&pool);
    assert_eq!(pool.metrics().busy_threads, 1);
    release.send(()).unwrap();
    wait(busy).unwrap();
    eventually(DEADLINE, "the thread goes idle", || pool.metrics().busy_threads == 0);
}

#[test]
fn a_capacity_that_overflows_is_an_error() {
    let err = Pool::builder().max_threads(2).queue_capacity(usize::MAX).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("queue_capacity"), "{err}");
}

/// Counts its drop.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_thread_starter_that_fails_to_start_a_thread_leaves_nothing_counted() {
    use std::sync::atomic::AtomicUsize;
    // Call 0 panics, call 1 returns without starting, call 2 keeps the
    // start for later (called below, after the hook returned: refused),
    // then every call starts the thread.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let kept: Arc<Mutex<Option<weft_blocking::StartThread>>> = Arc::new(Mutex::new(None));
    let keep = kept.clone();
    let pool = Pool::builder()
        .max_threads(1)
        .thread_starter(move |start| match seen.fetch_add(1, SeqCst) {
            0 => panic!("starter hook fails"),
            1 => Ok(()),
            2 => {
                *keep.lock().unwrap() = Some(start);
                Ok(())
            }
            _ => start(),
        })
        .build()
        .unwrap();
    for attempt in 0..3 {
        // No thread could start and none is alive: the submitter is told.
        let refused =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(pool.spawn(|| ()))));
        assert!(refused.is_err(), "attempt {attempt}: no thread, and spawn says so");
        assert_eq!(pool.metrics().threads_alive, 0, "attempt {attempt}: nothing counted");
    }
    let late = kept.lock().unwrap().take().expect("call 2 kept its start");
    assert!(late().is_err(), "a start after the hook returned is refused");
    assert_eq!(pool.metrics().threads_alive, 0);
    // Then the pool works: the jobs queued by the failed attempts run too.
    assert_eq!(wait(pool.spawn(|| 7)).unwrap(), 7);
    assert!(pool.shutdown(DEADLINE));
    assert_eq!(calls.load(SeqCst), 4);
}

#[test]
fn a_thread_name_with_a_nul_byte_is_an_error() {
    let err = Pool::builder().thread_name("bad\0name").build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("thread_name"), "{err}");
}

#[test]
fn thread_name_fn_names_each_new_thread() {
    let pool = Pool::builder().thread_name_fn(|| "from-fn".to_owned()).build().unwrap();
    let name = wait(pool.spawn(|| thread::current().name().map(str::to_owned))).unwrap();
    assert_eq!(name.as_deref(), Some("from-fn"));
    assert!(pool.shutdown(DEADLINE));
}
