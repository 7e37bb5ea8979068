//! Misuse gives a clear error or a clear panic, never a hang.

mod common;

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{both_flavors, expect_panic, panic_message, std_block_on, with_timeout, Flavor, LONG};
use futures_channel::oneshot;
use weft::runtime::{Builder, Handle, Runtime};

fn build_error(builder: &mut Builder) -> std::io::Error {
    match builder.build() {
        Ok(_) => panic!("build() accepted an invalid setting"),
        Err(e) => e,
    }
}

// A current-thread runtime ignores worker_threads, but still refuses 0.
both_flavors!(zero_worker_threads_is_an_error_naming_the_setting);
fn zero_worker_threads_is_an_error_naming_the_setting(flavor: Flavor) {
    let err =
        with_timeout("zero_workers", 10, move || build_error(flavor.builder().worker_threads(0)));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
}

both_flavors!(zero_global_queue_interval_is_an_error_naming_the_setting, multi_thread = [1]);
fn zero_global_queue_interval_is_an_error_naming_the_setting(flavor: Flavor) {
    let err = with_timeout("zero_gqi", 10, move || {
        build_error(flavor.builder().global_queue_interval(0))
    });
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("global_queue_interval"), "{err}");
}

both_flavors!(zero_event_interval_is_an_error_naming_the_setting, multi_thread = [1]);
fn zero_event_interval_is_an_error_naming_the_setting(flavor: Flavor) {
    let err = with_timeout("zero_event_interval", 10, move || {
        build_error(flavor.builder().event_interval(0))
    });
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("event_interval"), "{err}");
}

both_flavors!(a_builder_can_be_fixed_after_an_error);
fn a_builder_can_be_fixed_after_an_error(flavor: Flavor) {
    with_timeout("builder_reuse", 10, move || {
        let mut builder = flavor.builder();
        assert!(builder.worker_threads(0).build().is_err());
        let rt = builder.worker_threads(1).build().expect("valid settings");
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    });
}

#[test]
fn spawn_outside_a_runtime_panics_clearly() {
    let msg = expect_panic(|| drop(weft::spawn(async {})));
    assert!(msg.contains("runtime"), "panic message: {msg:?}");
    let msg = expect_panic(|| drop(weft::task::spawn(async { 1 })));
    assert!(msg.contains("runtime"), "panic message: {msg:?}");
}

// A runtime existing somewhere does not make every thread a runtime thread.
both_flavors!(spawn_on_a_plain_thread_next_to_a_runtime_panics, multi_thread = [1]);
fn spawn_on_a_plain_thread_next_to_a_runtime_panics(flavor: Flavor) {
    let rt = flavor.build();
    let msg = std::thread::spawn(|| expect_panic(|| drop(weft::spawn(async {})))).join().unwrap();
    assert!(msg.contains("runtime"), "panic message: {msg:?}");
    drop(rt);
}

#[test]
fn handle_current_outside_a_runtime_panics() {
    let msg = expect_panic(Handle::current);
    assert!(msg.contains("runtime"), "panic message: {msg:?}");
}

#[test]
fn handle_try_current_outside_a_runtime_is_err() {
    assert!(Handle::try_current().is_err(), "try_current found a runtime on a plain thread");
}

both_flavors!(handle_try_current_inside_block_on_and_tasks_is_ok, multi_thread = [1]);
fn handle_try_current_inside_block_on_and_tasks_is_ok(flavor: Flavor) {
    with_timeout("try_current_inside", 30, move || {
        let rt = flavor.build();
        assert!(rt.block_on(async { Handle::try_current().is_ok() }));
        assert!(rt.block_on(rt.spawn(async { Handle::try_current().is_ok() })).unwrap());
        // Leaving block_on leaves the context again.
        assert!(Handle::try_current().is_err());
    });
}

both_flavors!(handle_block_on_inside_a_worker_task_panics_clearly);
fn handle_block_on_inside_a_worker_task_panics_clearly(flavor: Flavor) {
    with_timeout("block_on_in_task", 30, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        let err = rt
            .block_on(rt.spawn(async move {
                handle.block_on(async { 1 });
            }))
            .expect_err("block_on on a worker must panic");
        assert!(err.is_panic(), "{err:?}");
        let msg = panic_message(&*err.into_panic());
        assert!(msg.contains("block_on"), "panic message: {msg:?}");
        // The worker that panicked is still serving tasks.
        let joins: Vec<_> = (0..64).map(|i| rt.spawn(async move { i })).collect();
        let sum: i32 = rt.block_on(async move {
            let mut sum = 0;
            for j in joins {
                sum += j.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 64 * 63 / 2);
    });
}

both_flavors!(runtime_block_on_inside_a_worker_task_panics_clearly);
fn runtime_block_on_inside_a_worker_task_panics_clearly(flavor: Flavor) {
    with_timeout("rt_block_on_in_task", 30, move || {
        let rt = flavor.build();
        // Another runtime, shared with the task; this thread keeps a
        // reference so the runtime is never dropped inside the task.
        let other = Arc::new(match flavor {
            Flavor::CurrentThread => flavor.build(),
            Flavor::MultiThread(_) => Flavor::MultiThread(1).build(),
        });
        let other2 = other.clone();
        let err = rt
            .block_on(rt.spawn(async move {
                other2.block_on(async { 1 });
            }))
            .expect_err("block_on on a worker must panic");
        assert!(err.is_panic(), "{err:?}");
        let msg = panic_message(&*err.into_panic());
        assert!(msg.contains("block_on"), "panic message: {msg:?}");
        assert_eq!(other.block_on(other.spawn(async { 2 })).unwrap(), 2);
    });
}

// The runtime's own block_on is not used to wait here: after this misuse
// the runtime may be half torn down, so the JoinHandle is driven by a plain
// std executor with a deadline. (A current-thread runtime runs the task only
// inside a block_on: another thread stays in one meanwhile.)
both_flavors!(dropping_a_runtime_inside_its_own_task_panics);
fn dropping_a_runtime_inside_its_own_task_panics(flavor: Flavor) {
    with_timeout("drop_rt_in_task", 30, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        let slot: Arc<Mutex<Option<Runtime>>> = Arc::new(Mutex::new(Some(rt)));
        let in_task = slot.clone();
        let join = handle.spawn(async move {
            let rt = in_task.lock().unwrap().take();
            drop(rt);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let driver = flavor.is_current_thread().then(|| {
            let handle = handle.clone();
            std::thread::spawn(move || handle.block_on(stopped).unwrap())
        });
        let res = std_block_on(join, LONG).expect("JoinHandle never resolved (hang)");
        let _ = stop.send(());
        if let Some(driver) = driver {
            driver.join().expect("the block_on thread panicked");
        }
        let err = res.expect_err("dropping a runtime inside its own task must panic");
        assert!(err.is_panic(), "{err:?}");
        let msg = panic_message(&*err.into_panic());
        assert!(!msg.is_empty());
        eprintln!("drop-inside-task panic message: {msg}");
        drop(slot);
        drop(handle);
    });
}

#[test]
fn runtime_new_works() {
    with_timeout("runtime_new", 30, || {
        let rt = Runtime::new().expect("Runtime::new");
        assert!(rt.metrics().num_workers() >= 1);
        assert_eq!(rt.block_on(async { 3 }), 3);
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}

#[test]
fn join_set_spawn_blocking_outside_a_runtime_panics_like_spawn_blocking() {
    let expected = expect_panic(|| drop(weft::task::spawn_blocking(|| 1)));
    let message = expect_panic(|| weft::task::JoinSet::new().spawn_blocking(|| 1));
    assert_eq!(message, expected);
    assert!(message.contains("no weft runtime"), "{message}");
}
