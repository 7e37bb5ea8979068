//! spawn_blocking and block_in_place on the runtime.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{both_flavors, runtime, with_timeout, Flavor};

both_flavors!(spawn_blocking_returns_through_a_weft_join_handle);
fn spawn_blocking_returns_through_a_weft_join_handle(flavor: Flavor) {
    with_timeout("spawn_blocking", 30, move || {
        let rt = flavor.build();
        let sum = rt.block_on(async {
            let handles: Vec<_> =
                (0..32u64).map(|i| weft::task::spawn_blocking(move || i * 2)).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 2 * (0..32).sum::<u64>());
        assert_eq!(rt.block_on(rt.spawn_blocking(|| 7)).unwrap(), 7);
        assert_eq!(rt.block_on(rt.handle().spawn_blocking(|| "handle")).unwrap(), "handle");
    });
}

both_flavors!(blocking_jobs_run_in_parallel_and_see_the_runtime);
fn blocking_jobs_run_in_parallel_and_see_the_runtime(flavor: Flavor) {
    with_timeout("parallel", 30, move || {
        let rt = flavor.build();
        let start = Instant::now();
        rt.block_on(async {
            let handles: Vec<_> = (0..32)
                .map(|_| {
                    weft::task::spawn_blocking(|| {
                        std::thread::sleep(Duration::from_millis(50));
                        // The runtime is entered on blocking threads.
                        weft::runtime::Handle::try_current().is_ok()
                    })
                })
                .collect();
            for h in handles {
                assert!(h.await.unwrap(), "Handle::current works in spawn_blocking");
            }
        });
        assert!(start.elapsed() < Duration::from_millis(32 * 50 / 2), "jobs did not overlap");
        let m = rt.metrics();
        assert!(m.blocking_threads() >= 2);
        // A job counts as completed once its closure returned, just after
        // its JoinHandle was woken: give the counter a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while m.blocking_jobs_completed() < 32 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(m.blocking_jobs_completed() >= 32);
    });
}

both_flavors!(a_panicking_blocking_job_is_a_join_error_and_the_runtime_keeps_working);
fn a_panicking_blocking_job_is_a_join_error_and_the_runtime_keeps_working(flavor: Flavor) {
    with_timeout("panic", 30, move || {
        let rt = flavor.build();
        let err = rt.block_on(rt.spawn_blocking(|| panic!("job failed"))).unwrap_err();
        assert!(err.is_panic());
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "job failed");
        assert_eq!(rt.block_on(async { weft::task::spawn_blocking(|| 5).await }).unwrap(), 5);
    });
}

#[test]
fn spawn_blocking_outside_a_runtime_panics() {
    let result = std::panic::catch_unwind(|| weft::task::spawn_blocking(|| ()));
    let msg = common::panic_message(&*result.unwrap_err());
    assert!(msg.contains("runtime"), "{msg}");
}

both_flavors!(max_blocking_threads_bounds_the_pool_and_excess_jobs_queue);
fn max_blocking_threads_bounds_the_pool_and_excess_jobs_queue(flavor: Flavor) {
    with_timeout("max threads", 30, move || {
        let rt = flavor.builder().max_blocking_threads(3).build().unwrap();
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let handles: Vec<_> = (0..24)
                .map(|_| {
                    let (live, peak) = (live.clone(), peak.clone());
                    weft::task::spawn_blocking(move || {
                        let now = live.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        live.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        assert!(peak.load(SeqCst) <= 3, "peak {}", peak.load(SeqCst));
        assert!(rt.metrics().blocking_threads() <= 3);
    });
}

both_flavors!(
    shutdown_timeout_leaves_a_long_job_behind_and_cancels_queued_ones,
    multi_thread = [1]
);
fn shutdown_timeout_leaves_a_long_job_behind_and_cancels_queued_ones(flavor: Flavor) {
    with_timeout("shutdown", 30, move || {
        let rt = flavor.builder().max_blocking_threads(1).build().unwrap();
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let long = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(600)));
        // The only thread is busy: these queue.
        let queued: Vec<_> = (0..5)
            .map(|_| {
                let guard = Counted(dropped.clone());
                rt.spawn_blocking(move || drop(guard))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        rt.shutdown_timeout(Duration::from_millis(100));
        assert!(start.elapsed() < Duration::from_millis(500), "shutdown waited for the job");
        assert_eq!(dropped.load(SeqCst), 5, "queued closures dropped unrun");
        for handle in queued {
            let err = common::std_block_on(handle, Duration::from_secs(5)).unwrap().unwrap_err();
            assert!(err.is_cancelled());
        }
        drop(long);
    });
}

// Multi-thread only: block_in_place (refused on current-thread, see
// current_thread.rs).
#[test]
fn block_in_place_keeps_the_other_tasks_running() {
    // One worker: the tasks queued behind the blocking call can only run
    // if block_in_place hands the worker's core to another thread. The
    // call waits for them (bounded), so it ends early exactly when they ran.
    with_timeout("block_in_place", 60, || {
        let rt = runtime(1);
        rt.block_on(async {
            let done = Arc::new(AtomicUsize::new(0));
            let d = done.clone();
            let blocker = weft::spawn(async move {
                // Spawned from this worker: they wait in its own queues.
                let shorts: Vec<_> = (0..100)
                    .map(|_| {
                        let done = d.clone();
                        weft::spawn(async move {
                            weft::task::yield_now().await;
                            done.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                let all_ran = weft::task::block_in_place(|| {
                    common::wait_until(common::LONG, || d.load(SeqCst) == 100)
                });
                (all_ran, shorts)
            });
            let (all_ran, shorts) = blocker.await.unwrap();
            assert!(all_ran, "the tasks queued behind block_in_place did not run meanwhile");
            for s in shorts {
                s.await.unwrap();
            }
            assert_eq!(done.load(SeqCst), 100);
        });
    });
}

// Multi-thread only: block_in_place.
#[test]
fn block_in_place_on_one_worker_and_outside_a_runtime() {
    assert_eq!(weft::task::block_in_place(|| 3), 3, "outside a runtime it just runs");
    with_timeout("one worker", 30, || {
        let rt = runtime(1);
        let value = rt.block_on(async {
            let other = weft::spawn(async { 11 });
            let mine = weft::spawn(async {
                let v = weft::task::block_in_place(|| {
                    std::thread::sleep(Duration::from_millis(50));
                    4
                });
                // The task goes on running after the closure, spawns work.
                weft::spawn(async move { v * 10 }).await.unwrap()
            });
            other.await.unwrap() + mine.await.unwrap()
        });
        assert_eq!(value, 51);
        // Many in a row, nested, and across shutdown.
        rt.block_on(async {
            for i in 0..20 {
                let v = weft::spawn(async move {
                    weft::task::block_in_place(|| weft::task::block_in_place(|| i))
                })
                .await
                .unwrap();
                assert_eq!(v, i);
            }
        });
        drop(rt);
    });
}

// Multi-thread only: block_in_place.
#[test]
fn block_on_inside_block_in_place_is_allowed() {
    with_timeout("block_on in block_in_place", 30, || {
        let rt = runtime(2);
        let value = rt.block_on(async {
            weft::spawn(async {
                let handle = weft::runtime::Handle::current();
                weft::task::block_in_place(move || {
                    handle.block_on(async { weft::spawn(async { 21 }).await.unwrap() * 2 })
                })
            })
            .await
            .unwrap()
        });
        assert_eq!(value, 42);
    });
}
