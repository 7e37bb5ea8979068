//! `Runtime::enter` and `Handle::enter`: a runtime made current outside a
//! task, guards that nest, and the context restored when they drop.

mod common;

use std::time::Duration;

use common::{both_flavors, expect_panic, wait_until, with_timeout, Flavor, LONG};
use futures_channel::oneshot;
use weft::runtime::{Builder, Handle, Runtime, RuntimeFlavor};
use weft::task::JoinSet;

/// Spawns, on the current runtime, a task that waits for the returned
/// sender, so it stays alive (and counted) until told to finish.
fn spawn_parked_task() -> (oneshot::Sender<()>, weft::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let join = weft::spawn(async move {
        let _ = rx.await;
    });
    (tx, join)
}

both_flavors!(spawn_and_sleep_work_under_the_guard);
fn spawn_and_sleep_work_under_the_guard(flavor: Flavor) {
    with_timeout("enter_spawn_sleep", 30, move || {
        let rt = flavor.build();
        assert!(Handle::try_current().is_err(), "a plain thread has no runtime");
        let guard = rt.enter();
        assert_eq!(Handle::current().metrics().num_workers(), rt.metrics().num_workers());
        let flavor_seen = Handle::current().runtime_flavor();
        assert_eq!(flavor_seen == RuntimeFlavor::CurrentThread, flavor.is_current_thread());
        let task = weft::spawn(async { 6 * 7 });
        let sleep = weft::time::sleep(Duration::from_millis(5));
        let mut set = JoinSet::new();
        set.spawn(async { 1u8 });
        set.spawn_blocking(|| 2u8);
        drop(guard);
        assert!(Handle::try_current().is_err(), "dropping the guard leaves the runtime");
        let (answer, mut joined) = rt.block_on(async move {
            sleep.await;
            (task.await.unwrap(), set.join_all().await)
        });
        joined.sort();
        assert_eq!((answer, joined), (42, vec![1, 2]));
    });
}

both_flavors!(nested_guards_of_two_runtimes_restore_the_outer_one);
fn nested_guards_of_two_runtimes_restore_the_outer_one(flavor: Flavor) {
    with_timeout("enter_nested", 30, move || {
        let outer = flavor.build();
        let inner = Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let outer_guard = outer.enter();
        let (outer_tx, outer_task) = spawn_parked_task();
        {
            let _inner_guard = inner.handle().enter();
            let (inner_tx, inner_task) = spawn_parked_task();
            assert_eq!(inner.metrics().num_alive_tasks(), 1, "spawned on the inner runtime");
            assert_eq!(outer.metrics().num_alive_tasks(), 1, "not on the outer one");
            inner_tx.send(()).unwrap();
            inner.block_on(inner_task).unwrap();
        }
        // The outer runtime is current again.
        let (second_tx, second_task) = spawn_parked_task();
        assert_eq!(outer.metrics().num_alive_tasks(), 2, "spawned on the outer runtime");
        // The inner runtime lets go of its finished task soon after it
        // completes; a parked task there would never let go.
        assert!(wait_until(LONG, || inner.metrics().num_alive_tasks() == 0));
        drop(outer_guard);
        assert!(Handle::try_current().is_err(), "no runtime once every guard is gone");
        outer_tx.send(()).unwrap();
        second_tx.send(()).unwrap();
        outer.block_on(async {
            outer_task.await.unwrap();
            second_task.await.unwrap();
        });
    });
}

both_flavors!(guard_inside_block_on_gives_back_the_block_on_runtime);
fn guard_inside_block_on_gives_back_the_block_on_runtime(flavor: Flavor) {
    with_timeout("enter_in_block_on", 30, move || {
        let rt = flavor.build();
        let other = Builder::new_multi_thread().worker_threads(1).build().unwrap();
        rt.block_on(async {
            {
                let _guard = other.enter();
                let (tx, task) = spawn_parked_task();
                assert_eq!(other.metrics().num_alive_tasks(), 1);
                tx.send(()).unwrap();
                task.await.unwrap();
            }
            // `block_on`'s own runtime is current again.
            let (tx, task) = spawn_parked_task();
            assert_eq!(rt.metrics().num_alive_tasks(), 1, "spawned on the block_on runtime");
            tx.send(()).unwrap();
            task.await.unwrap();
        });
        assert!(Handle::try_current().is_err());
    });
}

#[test]
fn guards_dropped_out_of_order_panic_clearly() {
    with_timeout("enter_out_of_order", 30, || {
        let a = Builder::new_current_thread().build().unwrap();
        let b = Builder::new_current_thread().build().unwrap();
        let first = a.enter();
        let second = b.enter();
        let message = expect_panic(std::panic::AssertUnwindSafe(move || drop(first)));
        assert!(message.contains("out of order"), "{message}");
        assert!(message.contains("reverse order"), "{message}");
        drop(second);
    });
}

/// An out-of-order drop caught inside a task does not outlive the task's
/// runtime entry: `block_on` (and a pool job) restores what it found.
#[test]
fn a_caught_out_of_order_drop_does_not_outlive_block_on() {
    with_timeout("enter_out_of_order_in_block_on", 30, || {
        let rt = Builder::new_multi_thread().worker_threads(3).build().unwrap();
        let b = Builder::new_current_thread().build().unwrap();
        let c = Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let first = b.enter();
                let _second = c.enter();
                drop(first);
            }));
            assert!(caught.is_err(), "the out-of-order drop panicked");
        });
        assert!(Handle::try_current().is_err(), "block_on restored the empty context");
        let job = rt.handle().spawn_blocking(move || {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let first = b.enter();
                let _second = c.enter();
                drop(first);
            }));
            assert!(caught.is_err());
        });
        rt.block_on(job).unwrap();
        // The pool thread's next job sees its own runtime again.
        let same = rt.block_on(rt.spawn_blocking(|| Handle::current().metrics().num_workers()));
        assert_eq!(same.unwrap(), 3, "the pool job's own runtime, not `b`");
        assert!(Handle::try_current().is_err());
    });
}

#[test]
fn entering_is_always_fine() {
    with_timeout("enter_anywhere", 30, || {
        // The same runtime twice, a runtime with nothing running, a
        // runtime that is shutting down elsewhere: entering never fails.
        let rt = Runtime::new().unwrap();
        let first = rt.enter();
        let second = rt.handle().enter();
        drop(second);
        drop(first);
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let _guard = handle.enter();
        // Spawning on a shut-down runtime cancels the task at once.
        let task = weft::spawn(async { 1 });
        assert!(wait_until(LONG, || task.is_finished()));
    });
}

both_flavors!(enter_on_a_worker_thread_and_in_a_blocking_job);
fn enter_on_a_worker_thread_and_in_a_blocking_job(flavor: Flavor) {
    with_timeout("enter_on_worker", 30, move || {
        let rt = flavor.build();
        let rt_workers = rt.metrics().num_workers();
        let other = Builder::new_multi_thread().worker_threads(3).build().unwrap();
        let other_workers = other.metrics().num_workers();
        assert_ne!(rt_workers, other_workers, "the runtimes must be told apart");
        let other_handle = other.handle().clone();
        let seen = rt.block_on(rt.spawn(async move {
            let in_task = {
                let _guard = other_handle.enter();
                Handle::current().metrics().num_workers()
            };
            let back_in_task = Handle::current().metrics().num_workers();
            let in_job = weft::task::spawn_blocking(move || {
                let in_job = {
                    let _guard = other_handle.enter();
                    Handle::current().metrics().num_workers()
                };
                (in_job, Handle::current().metrics().num_workers())
            })
            .await
            .unwrap();
            (in_task, back_in_task, in_job)
        }));
        assert_eq!(seen.unwrap(), (other_workers, rt_workers, (other_workers, rt_workers)));
    });
}
