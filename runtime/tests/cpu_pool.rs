//! spawn_cpu and try_spawn_cpu: the CPU pool below the workers.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{both_flavors, with_timeout, Flavor, LONG};
use weft::runtime::{Builder, CpuPriority, Runtime};
use weft::task::{spawn_cpu, try_spawn_cpu, JoinHandle};

/// A runtime of `flavor` whose CPU pool has `threads` threads and
/// `capacity` queue places.
fn cpu_runtime(flavor: Flavor, threads: usize, capacity: usize) -> Runtime {
    flavor.builder().cpu_threads(threads).cpu_queue_capacity(capacity).build().unwrap()
}

/// Occupies one CPU thread until the returned sender is used (or dropped);
/// returns once the job is running.
async fn hold_a_cpu_thread() -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let job = spawn_cpu(move || {
        started_tx.send(()).unwrap();
        let _ = gate.recv_timeout(LONG);
    });
    // Waiting on a std channel inside `block_on` is fine: the job does not
    // need the worker to start.
    started.recv_timeout(LONG).expect("the CPU job started");
    (release, job)
}

/// Counts its drops.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

both_flavors!(spawn_cpu_returns_its_value_from_a_cpu_thread);
fn spawn_cpu_returns_its_value_from_a_cpu_thread(flavor: Flavor) {
    with_timeout("spawn_cpu", 30, move || {
        let rt = flavor.build();
        let (name, entered) = rt.block_on(async {
            spawn_cpu(|| {
                let name = std::thread::current().name().map(str::to_owned);
                (name, weft::runtime::Handle::try_current().is_ok())
            })
            .await
            .unwrap()
        });
        assert_eq!(name.as_deref(), Some("weft-cpu"));
        assert!(entered, "the runtime is entered on CPU threads, as on blocking ones");
        assert_eq!(rt.block_on(rt.spawn_cpu(|| 7)).unwrap(), 7);
        assert_eq!(rt.block_on(rt.handle().spawn_cpu(|| 8)).unwrap(), 8);
        let via_try = rt.try_spawn_cpu(|| 9).unwrap();
        assert_eq!(rt.block_on(via_try).unwrap(), 9);
        let metrics = rt.metrics();
        // A job's handle resolves inside the job; the pool counts it after.
        assert!(common::wait_until(LONG, || metrics.cpu_jobs_completed() == 4));
        assert_eq!(metrics.blocking_jobs_completed(), 0, "no blocking-pool thread involved");
    });
}

both_flavors!(at_most_cpu_threads_jobs_run_at_once_in_fifo_order);
fn at_most_cpu_threads_jobs_run_at_once_in_fifo_order(flavor: Flavor) {
    with_timeout("concurrency", 30, move || {
        let rt = cpu_runtime(flavor, 2, 64);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let jobs: Vec<_> = (0..12)
                .map(|_| {
                    let (running, most) = (running.clone(), most.clone());
                    spawn_cpu(move || {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        std::thread::sleep(Duration::from_millis(10));
                        running.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            for job in jobs {
                job.await.unwrap();
            }
        });
        assert!(most.load(SeqCst) <= 2, "{} jobs ran at once", most.load(SeqCst));
        assert!(rt.metrics().cpu_threads() <= 2);

        // FIFO: with one thread held, queued jobs start in submission order.
        let rt = cpu_runtime(flavor, 1, 64);
        let order = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(async {
            let (release, held) = hold_a_cpu_thread().await;
            let jobs: Vec<_> = (0..8)
                .map(|i| {
                    let order = order.clone();
                    spawn_cpu(move || order.lock().unwrap().push(i))
                })
                .collect();
            assert_eq!(weft::runtime::Handle::current().metrics().cpu_queue_depth(), 8);
            release.send(()).unwrap();
            held.await.unwrap();
            for job in jobs {
                job.await.unwrap();
            }
        });
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    });
}

both_flavors!(try_spawn_cpu_refuses_past_the_capacity_and_gives_the_closure_back);
fn try_spawn_cpu_refuses_past_the_capacity_and_gives_the_closure_back(flavor: Flavor) {
    with_timeout("try_spawn_cpu", 30, move || {
        let rt = cpu_runtime(flavor, 1, 2);
        rt.block_on(async {
            let (release, held) = hold_a_cpu_thread().await;
            let metrics = weft::runtime::Handle::current().metrics();
            assert_eq!(metrics.cpu_busy_threads(), 1);
            let accepted: Vec<_> = (0..2).map(|i| try_spawn_cpu(move || i).unwrap()).collect();
            let drops = Arc::new(AtomicUsize::new(0));
            let guard = DropFlag(drops.clone());
            let refused = try_spawn_cpu(move || {
                let _guard = guard;
                "ran later"
            })
            .unwrap_err();
            let message = refused.to_string();
            assert!(message.contains("CPU pool is full"), "{message}");
            assert!(message.contains("cpu_queue_capacity"), "{message}");
            assert_eq!(drops.load(SeqCst), 0, "a refused closure is kept, not dropped");
            // `spawn_cpu` never refuses, even now.
            let forced = spawn_cpu(|| 3);
            assert_eq!(metrics.cpu_queue_depth(), 3);
            release.send(()).unwrap();
            held.await.unwrap();
            let mut values = Vec::new();
            for job in accepted {
                values.push(job.await.unwrap());
            }
            values.push(forced.await.unwrap());
            assert_eq!(values, [0, 1, 3]);
            // Room again: the closure given back runs.
            let f = refused.into_inner();
            assert_eq!(try_spawn_cpu(f).unwrap().await.unwrap(), "ran later");
            assert_eq!(drops.load(SeqCst), 1);
        });
    });
}

both_flavors!(a_panicking_job_is_a_join_error_and_the_pool_goes_on);
fn a_panicking_job_is_a_join_error_and_the_pool_goes_on(flavor: Flavor) {
    with_timeout("panic", 30, move || {
        let rt = cpu_runtime(flavor, 1, 8);
        rt.block_on(async {
            let err = spawn_cpu(|| -> u32 { panic!("cpu job failed") }).await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "cpu job failed");
            assert_eq!(spawn_cpu(|| 5).await.unwrap(), 5);
            assert_eq!(try_spawn_cpu(|| 6).unwrap().await.unwrap(), 6);
        });
    });
}

both_flavors!(aborting_a_queued_job_cancels_it);
fn aborting_a_queued_job_cancels_it(flavor: Flavor) {
    with_timeout("abort", 30, move || {
        let rt = cpu_runtime(flavor, 1, 8);
        rt.block_on(async {
            let (release, held) = hold_a_cpu_thread().await;
            let ran = Arc::new(AtomicBool::new(false));
            let drops = Arc::new(AtomicUsize::new(0));
            let (ran2, guard) = (ran.clone(), DropFlag(drops.clone()));
            let job = spawn_cpu(move || {
                let _guard = guard;
                ran2.store(true, SeqCst);
            });
            job.abort();
            release.send(()).unwrap();
            held.await.unwrap();
            assert!(job.await.unwrap_err().is_cancelled());
            // The pool reached the aborted job and dropped it unrun.
            assert!(common::wait_until_async(LONG, || drops.load(SeqCst) == 1).await);
            assert!(!ran.load(SeqCst), "an aborted job never runs");
        });
    });
}

both_flavors!(shutdown_cancels_queued_jobs_once_and_waits_for_running_ones);
fn shutdown_cancels_queued_jobs_once_and_waits_for_running_ones(flavor: Flavor) {
    with_timeout("shutdown", 30, move || {
        let rt = cpu_runtime(flavor, 1, 16);
        let finished = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let queued = rt.block_on(async {
            let (started_tx, started) = mpsc::channel::<()>();
            let done = finished.clone();
            let running = spawn_cpu(move || {
                started_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(200));
                done.store(true, SeqCst);
            });
            started.recv_timeout(LONG).unwrap();
            let queued: Vec<_> = (0..5)
                .map(|_| {
                    let (guard, ran) = (DropFlag(drops.clone()), ran.clone());
                    spawn_cpu(move || {
                        let _guard = guard;
                        ran.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            drop(running);
            queued
        });
        drop(rt);
        assert!(finished.load(SeqCst), "shutdown waited for the running job");
        assert_eq!(ran.load(SeqCst), 0, "queued jobs never ran");
        assert_eq!(drops.load(SeqCst), 5, "each queued closure was dropped exactly once");
        let results: Vec<_> =
            queued.into_iter().map(futures_util::FutureExt::now_or_never).collect();
        for result in results {
            let err = result.expect("resolved").unwrap_err();
            assert!(err.is_cancelled(), "{err}");
        }
    });
}

both_flavors!(after_shutdown_cpu_jobs_resolve_as_cancelled);
fn after_shutdown_cpu_jobs_resolve_as_cancelled(flavor: Flavor) {
    with_timeout("after shutdown", 30, move || {
        let rt = cpu_runtime(flavor, 1, 4);
        let handle = rt.handle().clone();
        drop(rt);
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropFlag(drops.clone());
        let job = handle.spawn_cpu(move || drop(guard));
        let tried = handle.try_spawn_cpu(|| ()).expect("not full: shut down");
        for job in [job, tried] {
            let result = futures_util::FutureExt::now_or_never(job).expect("resolved at once");
            assert!(result.unwrap_err().is_cancelled());
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

both_flavors!(queue_wait_and_counters_are_measured);
fn queue_wait_and_counters_are_measured(flavor: Flavor) {
    with_timeout("metrics", 30, move || {
        let rt = cpu_runtime(flavor, 1, 8);
        let metrics = rt.metrics();
        assert_eq!(metrics.cpu_queue_wait_histogram().total(), 0);
        rt.block_on(async {
            let (release, held) = hold_a_cpu_thread().await;
            let waited = spawn_cpu(|| ());
            std::thread::sleep(Duration::from_millis(30));
            release.send(()).unwrap();
            held.await.unwrap();
            waited.await.unwrap();
        });
        let histogram = metrics.cpu_queue_wait_histogram();
        assert_eq!(histogram.total(), 2, "one wait per job started");
        let long_waits: u64 = histogram
            .buckets()
            .filter(|(range, _)| range.end > Duration::from_millis(16))
            .map(|(_, count)| count)
            .sum();
        assert_eq!(long_waits, 1, "the queued job waited 30 ms or more: {histogram:?}");
        assert!(common::wait_until(LONG, || metrics.cpu_jobs_completed() == 2));
        assert!(metrics.cpu_threads() >= 1);
        assert_eq!(metrics.cpu_queue_depth(), 0);
    });
}

both_flavors!(a_resolved_job_has_given_its_place_back);
fn a_resolved_job_has_given_its_place_back(flavor: Flavor) {
    with_timeout("place back", 60, move || {
        // One thread, no queue places: a job is admitted only while the
        // thread is free. Once a job's handle resolved, its place is free,
        // so the next `try_spawn_cpu` is never refused.
        let rt = cpu_runtime(flavor, 1, 0);
        rt.block_on(async {
            for round in 0..2000u32 {
                let job = try_spawn_cpu(move || round).unwrap_or_else(|full| {
                    panic!("round {round}: refused after the last job resolved: {full}")
                });
                assert_eq!(job.await.unwrap(), round);
            }
            let forced = spawn_cpu(|| ());
            forced.await.unwrap();
            assert!(try_spawn_cpu(|| ()).is_ok(), "spawn_cpu's place is back too");
        });
    });
}

#[test]
fn dropping_the_runtime_inside_its_own_cpu_job_panics_instead_of_hanging() {
    with_timeout("drop inside a job", 30, || {
        let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let handle = rt.handle().clone();
        let (tx, rx) = mpsc::channel();
        drop(handle.spawn_cpu(move || {
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rt)));
            let message = dropped.err().map(|payload| common::panic_message(&*payload));
            tx.send(message).unwrap();
        }));
        let message = rx.recv_timeout(LONG).expect("the job ran").expect("drop panicked");
        assert!(message.contains("inside one of its own"), "{message}");
        assert!(message.contains("shutdown_timeout"), "{message}");
    });
}

#[test]
fn zero_cpu_threads_is_an_error_naming_the_setting() {
    let err = Builder::new_multi_thread().cpu_threads(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("cpu_threads"), "{err}");
}

#[test]
fn spawn_cpu_outside_a_runtime_panics_naming_the_runtime() {
    let payload = std::panic::catch_unwind(|| drop(spawn_cpu(|| ()))).unwrap_err();
    let message = common::panic_message(&*payload);
    assert!(message.contains("runtime"), "{message}");
}

/// A blocking job submitted from a CPU job may start a blocking-pool
/// thread; that thread must not inherit the CPU thread's idle priority
/// (which it could never leave), nor may later blocking jobs run on a
/// lowered thread.
#[cfg(target_os = "linux")]
#[test]
fn blocking_threads_started_from_a_cpu_job_run_at_normal_priority() {
    with_timeout("inherited priority", 30, || {
        let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let (from_cpu, later) = rt.block_on(async {
            // The pool has no blocking thread yet: this one starts for the
            // job submitted from the CPU thread.
            let from_cpu = spawn_cpu(|| {
                let (tx, rx) = mpsc::channel();
                drop(weft::runtime::Handle::current().spawn_blocking(move || {
                    tx.send(thread_policy()).unwrap();
                }));
                rx.recv_timeout(LONG).expect("the blocking job ran")
            })
            .await
            .unwrap();
            let later = weft::task::spawn_blocking(thread_policy).await.unwrap();
            (from_cpu, later)
        });
        assert_eq!(rt.metrics().blocking_threads(), 1, "one blocking thread, reused");
        assert_eq!(from_cpu, libc::SCHED_OTHER, "started from a CPU job");
        assert_eq!(later, libc::SCHED_OTHER, "reused by a later blocking job");
    });
}

/// The lowered priority does not spread through another runtime: a
/// runtime with normal-priority CPU threads still starts its blocking
/// threads at normal priority when asked from another runtime's CPU job,
/// and a runtime built inside a CPU job gets normal-priority workers.
#[cfg(target_os = "linux")]
#[test]
fn no_runtime_thread_inherits_a_cpu_threads_priority() {
    with_timeout("priority through runtimes", 30, || {
        let lowering = Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let other = Builder::new_multi_thread()
            .worker_threads(1)
            .cpu_priority(CpuPriority::Normal)
            .build()
            .unwrap();
        let other_handle = other.handle().clone();
        let (other_blocking, nested) = lowering.block_on(async move {
            spawn_cpu(move || {
                assert_eq!(thread_policy(), libc::SCHED_IDLE);
                let (tx, rx) = mpsc::channel();
                drop(other_handle.spawn_blocking(move || tx.send(thread_policy()).unwrap()));
                let other_blocking = rx.recv_timeout(LONG).expect("the blocking job ran");
                // A whole runtime built and dropped inside the CPU job.
                let nested = Builder::new_multi_thread().worker_threads(2).build().unwrap();
                let policies = nested.block_on(async {
                    let worker = weft::spawn(async { thread_policy() }).await.unwrap();
                    let blocking = weft::task::spawn_blocking(thread_policy).await.unwrap();
                    (worker, blocking)
                });
                drop(nested);
                (other_blocking, policies)
            })
            .await
            .unwrap()
        });
        assert_eq!(other_blocking, libc::SCHED_OTHER, "another runtime's blocking thread");
        assert_eq!(nested, (libc::SCHED_OTHER, libc::SCHED_OTHER), "a nested runtime's threads");
    });
}

/// The calling thread's scheduling policy.
#[cfg(target_os = "linux")]
fn thread_policy() -> libc::c_int {
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `pthread_self` is the calling thread's valid handle; both
    // out-pointers are to live locals.
    let rc = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    assert_eq!(rc, 0);
    policy
}

/// On Linux, each priority setting takes effect on the CPU threads, and
/// never on the workers.
#[cfg(target_os = "linux")]
#[test]
fn cpu_threads_run_at_the_configured_priority() {
    fn policy() -> libc::c_int {
        let mut policy = 0;
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `pthread_self` is the calling thread's valid handle; both
        // out-pointers are to live locals.
        let rc =
            unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
        assert_eq!(rc, 0);
        policy
    }
    with_timeout("priority", 30, || {
        for (priority, expected) in [
            (None, libc::SCHED_IDLE),
            (Some(CpuPriority::Idle), libc::SCHED_IDLE),
            (Some(CpuPriority::Background), libc::SCHED_BATCH),
            (Some(CpuPriority::Normal), libc::SCHED_OTHER),
        ] {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(1);
            if let Some(priority) = priority {
                builder.cpu_priority(priority);
            }
            let rt = builder.build().unwrap();
            let (cpu, worker) = rt.block_on(async {
                let cpu = spawn_cpu(policy).await.unwrap();
                let worker = weft::spawn(async { policy() }).await.unwrap();
                (cpu, worker)
            });
            assert_eq!(cpu, expected, "{priority:?}");
            assert_eq!(worker, libc::SCHED_OTHER, "workers keep their priority");
        }
    });
}
