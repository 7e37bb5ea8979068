//! `on_thread_start` / `on_thread_stop` hooks that panic: the panic is
//! caught (and reported on stderr), the thread carries on, tasks and
//! blocking jobs still run, and dropping or shutting down the runtime
//! returns.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{both_flavors, with_timeout, Flavor};

/// A panic payload whose destructor panics too: the hook's panic must be
/// contained even when disposing of it fails.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the hook's panic payload panics when dropped");
    }
}

/// A hook that counts its calls, then panics (with a payload that panics
/// on drop if `nasty`).
fn panicking_hook(calls: &Arc<AtomicUsize>, nasty: bool) -> impl Fn() + Send + Sync + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        if nasty {
            std::panic::panic_any(PanicsOnDrop);
        }
        panic!("hook panics on purpose");
    }
}

/// Spawns tasks (some calling `block_in_place`, which hands the worker's
/// core to a blocking-pool thread) and `spawn_blocking` jobs, and checks
/// that all of them complete.
fn run_some_work(rt: &weft::runtime::Runtime, flavor: Flavor) {
    let sum = rt.block_on(async move {
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                weft::spawn(async move {
                    if i % 4 == 0 && !flavor.is_current_thread() {
                        weft::task::block_in_place(|| i)
                    } else {
                        i
                    }
                })
            })
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.expect("a task runs although a hook panicked");
        }
        sum + weft::task::spawn_blocking(|| 100)
            .await
            .expect("a spawn_blocking job runs although a hook panicked")
    });
    assert_eq!(sum, 128);
}

// Before the fix a worker whose start hook panicked never claimed its core:
// its tasks were stranded and dropping the runtime waited forever.
#[test]
fn a_panicking_start_hook_on_workers_loses_no_worker_and_drop_returns() {
    with_timeout("start_hook_workers", 20, || {
        let calls = Arc::new(AtomicUsize::new(0));
        let flavor = Flavor::MultiThread(2);
        let rt = flavor.builder().on_thread_start(panicking_hook(&calls, false)).build().unwrap();
        run_some_work(&rt, flavor);
        // Two tasks that each hold their worker until the other one runs:
        // they finish only if both workers run tasks.
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                rt.spawn(async move { barrier.wait() })
            })
            .collect();
        rt.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        drop(rt);
        // Both workers, plus at least the thread that ran `spawn_blocking`.
        assert!(calls.load(Ordering::SeqCst) >= 3, "{} calls", calls.load(Ordering::SeqCst));
    });
}

#[test]
fn a_panicking_start_hook_on_workers_does_not_hang_shutdown_timeout() {
    with_timeout("start_hook_shutdown_timeout", 20, || {
        let calls = Arc::new(AtomicUsize::new(0));
        let rt = Flavor::MultiThread(2)
            .builder()
            .on_thread_start(panicking_hook(&calls, false))
            .build()
            .unwrap();
        assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}

// Hooks run on blocking-pool threads of both flavors; a current-thread
// runtime has no worker threads, and the thread in `block_on` runs none.
both_flavors!(a_panicking_start_hook_on_blocking_threads_loses_no_job);
fn a_panicking_start_hook_on_blocking_threads_loses_no_job(flavor: Flavor) {
    with_timeout("start_hook_blocking", 20, move || {
        let calls = Arc::new(AtomicUsize::new(0));
        let rt = flavor.builder().on_thread_start(panicking_hook(&calls, false)).build().unwrap();
        if flavor.is_current_thread() {
            rt.block_on(async {});
            assert_eq!(calls.load(Ordering::SeqCst), 0, "the block_on thread runs no hook");
        }
        run_some_work(&rt, flavor);
        drop(rt);
        assert!(calls.load(Ordering::SeqCst) >= 1);
    });
}

both_flavors!(a_panicking_stop_hook_does_not_break_shutdown);
fn a_panicking_stop_hook_does_not_break_shutdown(flavor: Flavor) {
    with_timeout("stop_hook", 20, move || {
        let calls = Arc::new(AtomicUsize::new(0));
        let rt = flavor.builder().on_thread_stop(panicking_hook(&calls, false)).build().unwrap();
        run_some_work(&rt, flavor);
        drop(rt);
        // Every worker thread and the blocking thread(s) ran it on exit.
        let expected = if flavor.is_current_thread() { 1 } else { 3 };
        assert!(calls.load(Ordering::SeqCst) >= expected, "{} calls", calls.load(Ordering::SeqCst));

        let rt = flavor.builder().on_thread_stop(panicking_hook(&calls, false)).build().unwrap();
        run_some_work(&rt, flavor);
        rt.shutdown_timeout(Duration::from_secs(10));
    });
}

// Before the fix, disposing of the payload panicked again: on a blocking
// thread that killed the thread and lost its job (drop then waited for it
// forever); on a worker it made `Runtime`'s drop panic.
both_flavors!(a_hook_panic_whose_payload_panics_on_drop_is_contained);
fn a_hook_panic_whose_payload_panics_on_drop_is_contained(flavor: Flavor) {
    with_timeout("nasty_payload", 20, move || {
        let calls = Arc::new(AtomicUsize::new(0));
        let rt = flavor
            .builder()
            .on_thread_start(panicking_hook(&calls, true))
            .on_thread_stop(panicking_hook(&calls, true))
            .build()
            .unwrap();
        run_some_work(&rt, flavor);
        drop(rt);
        assert!(calls.load(Ordering::SeqCst) >= 2);
    });
}

// Before the fix the worker thread died of the stop hook's panic, and
// `Runtime`'s drop, joining it, dropped the payload and panicked itself.
#[test]
fn a_worker_stop_hook_panic_does_not_make_drop_panic() {
    with_timeout("nasty_stop_hook_workers", 20, || {
        let calls = Arc::new(AtomicUsize::new(0));
        let rt = Flavor::MultiThread(2)
            .builder()
            .on_thread_stop(panicking_hook(&calls, true))
            .build()
            .unwrap();
        assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
        drop(rt);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "each worker ran the stop hook once");
    });
}

/// The hook's panic is reported on stderr; when stderr is gone (a closed
/// pipe: EPIPE), reporting must not panic in turn, or the worker dies
/// before it claims its core and drop hangs again. Run in a child process
/// (this same test binary, with `--nocapture` so the report really goes to
/// fd 2) whose stderr is a pipe closed at once.
#[test]
fn a_hook_panic_with_stderr_closed_does_not_hang() {
    if std::env::var_os("WEFT_HOOK_CHILD").is_some() {
        let calls = Arc::new(AtomicUsize::new(0));
        let rt = Flavor::MultiThread(2)
            .builder()
            .on_thread_start(panicking_hook(&calls, false))
            .build()
            .unwrap();
        assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
        assert_eq!(rt.block_on(rt.spawn_blocking(|| 6)).unwrap(), 6);
        drop(rt);
        return;
    }
    with_timeout("hook_panic_stderr_closed", 60, || {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_hook_panic_with_stderr_closed_does_not_hang", "--nocapture"])
            .env("WEFT_HOOK_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end: every write to the child's stderr fails.
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert!(status.success(), "the child failed: {status}");
    });
}

// `on_thread_park` / `on_thread_unpark`: run around each park (of the
// workers, or of the `block_on` thread on current-thread), in pairs, and a
// panic in either leaves the runtime working.
both_flavors!(park_hooks_run_around_each_park_and_may_panic);
fn park_hooks_run_around_each_park_and_may_panic(flavor: Flavor) {
    with_timeout("park_hooks", 30, move || {
        let parks = Arc::new(AtomicUsize::new(0));
        let unparks = Arc::new(AtomicUsize::new(0));
        let (p, u) = (parks.clone(), unparks.clone());
        let rt = flavor
            .builder()
            .on_thread_park(move || {
                p.fetch_add(1, Ordering::SeqCst);
            })
            .on_thread_unpark(move || {
                u.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..3 {
                weft::time::sleep(Duration::from_millis(5)).await;
            }
        });
        drop(rt);
        let (parks, unparks) = (parks.load(Ordering::SeqCst), unparks.load(Ordering::SeqCst));
        assert!(parks >= 3, "parked {parks} times while sleeping 3 times");
        assert_eq!(parks, unparks, "every park is followed by its unpark");

        let calls = Arc::new(AtomicUsize::new(0));
        let rt = flavor
            .builder()
            .on_thread_park(panicking_hook(&calls, true))
            .on_thread_unpark(panicking_hook(&calls, false))
            .build()
            .unwrap();
        rt.block_on(async { weft::time::sleep(Duration::from_millis(5)).await });
        run_some_work(&rt, flavor);
        drop(rt);
        assert!(calls.load(Ordering::SeqCst) >= 2, "the hooks ran");
    });
}
