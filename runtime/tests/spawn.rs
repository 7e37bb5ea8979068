//! Spawning: from foreign threads through a `Handle`, from inside tasks, trees
//! of tasks, detached tasks, and the compile-time `Send`/`Sync` contract.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{both_flavors, with_timeout, Flavor, LONG};
use futures_channel::oneshot;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::runtime::{Handle, Runtime};
use weft::task::{AbortHandle, JoinError, JoinHandle};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send::<JoinHandle<u32>>();
    assert_send::<Handle>();
    assert_send::<Runtime>();
    assert_send::<JoinError>();
    assert_send::<AbortHandle>();
    assert_sync::<Handle>();
    assert_sync::<Runtime>();
    assert_unpin::<JoinHandle<u32>>();
}

// On current-thread, the four threads take turns running the tasks inside
// their `block_on`s.
both_flavors!(four_threads_spawn_200k_tasks_through_a_handle, multi_thread = [4]);
fn four_threads_spawn_200k_tasks_through_a_handle(flavor: Flavor) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50_000;
    let count = with_timeout("spawn_200k", 120, move || {
        let rt = flavor.build();
        let counter = Arc::new(AtomicUsize::new(0));
        let spawners: Vec<_> = (0..THREADS)
            .map(|_| {
                let handle = rt.handle().clone();
                let counter = counter.clone();
                thread::spawn(move || {
                    let joins: Vec<JoinHandle<()>> = (0..PER_THREAD)
                        .map(|_| {
                            let counter = counter.clone();
                            handle.spawn(async move {
                                counter.fetch_add(1, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    handle.block_on(async move {
                        for join in joins {
                            join.await.expect("counting task must not fail");
                        }
                    });
                })
            })
            .collect();
        for spawner in spawners {
            spawner.join().expect("spawner thread panicked");
        }
        let count = counter.load(Ordering::SeqCst);
        drop(rt);
        count
    });
    assert_eq!(count, THREADS * PER_THREAD);
}

both_flavors!(detached_tasks_from_many_threads_all_run);
fn detached_tasks_from_many_threads_all_run(flavor: Flavor) {
    const TOTAL: usize = 40_000;
    with_timeout("detached_many_threads", 60, move || {
        let rt = flavor.build();
        let counter = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let done_tx = Arc::new(Mutex::new(Some(done_tx)));
        let spawners: Vec<_> = (0..4)
            .map(|_| {
                let handle = rt.handle().clone();
                let counter = counter.clone();
                let done_tx = done_tx.clone();
                thread::spawn(move || {
                    for _ in 0..TOTAL / 4 {
                        let counter = counter.clone();
                        let done_tx = done_tx.clone();
                        // Dropping the JoinHandle detaches the task.
                        drop(handle.spawn(async move {
                            if counter.fetch_add(1, Ordering::SeqCst) + 1 == TOTAL {
                                let done = done_tx.lock().unwrap().take().expect("done twice");
                                done.send(()).unwrap();
                            }
                        }));
                    }
                })
            })
            .collect();
        for spawner in spawners {
            spawner.join().unwrap();
        }
        // Awaited inside block_on: on current-thread that is where they run.
        rt.block_on(async { weft::time::timeout(LONG, done_rx).await })
            .expect("not every detached task ran")
            .expect("the last task dropped its sender");
        assert_eq!(counter.load(Ordering::SeqCst), TOTAL);
    });
}

/// Spawns a binary tree of tasks of the given depth; every leaf counts itself
/// and returns 1, inner nodes return the sum of their children.
fn spawn_tree(depth: u32, leaves: Arc<AtomicUsize>) -> JoinHandle<usize> {
    weft::spawn(async move {
        if depth == 0 {
            leaves.fetch_add(1, Ordering::SeqCst);
            return 1;
        }
        let left = spawn_tree(depth - 1, leaves.clone());
        let right = spawn_tree(depth - 1, leaves);
        left.await.expect("left subtree failed") + right.await.expect("right subtree failed")
    })
}

both_flavors!(binary_spawn_tree_counts_every_leaf, multi_thread = [1, 2, 4]);
fn binary_spawn_tree_counts_every_leaf(flavor: Flavor) {
    const DEPTH: u32 = 12;
    let (sum, counted) = with_timeout("spawn_tree", 60, move || {
        let rt = flavor.build();
        let leaves = Arc::new(AtomicUsize::new(0));
        let root_leaves = leaves.clone();
        let sum = rt
            .block_on(rt.spawn(async move { spawn_tree(DEPTH, root_leaves).await }))
            .expect("root task failed")
            .expect("tree failed");
        (sum, leaves.load(Ordering::SeqCst))
    });
    assert_eq!(sum, 1 << DEPTH, "returned leaf sum on {}", flavor.name());
    assert_eq!(counted, 1 << DEPTH, "counted leaves on {}", flavor.name());
}

both_flavors!(spawn_inside_block_on_uses_the_runtime);
fn spawn_inside_block_on_uses_the_runtime(flavor: Flavor) {
    with_timeout("spawn_in_block_on", 30, move || {
        let rt = flavor.build();
        let out = rt.block_on(async {
            let a = weft::spawn(async { 20 });
            let b = weft::task::spawn(async { 22 });
            a.await.unwrap() + b.await.unwrap()
        });
        assert_eq!(out, 42);
    });
}

both_flavors!(handle_current_inside_a_task_spawns_on_the_same_runtime);
fn handle_current_inside_a_task_spawns_on_the_same_runtime(flavor: Flavor) {
    with_timeout("handle_current", 30, move || {
        let rt = flavor.build();
        let out = rt.block_on(rt.spawn(async {
            let handle = Handle::current();
            assert!(Handle::try_current().is_ok());
            handle.spawn(async { 7u8 }).await.unwrap()
        }));
        assert_eq!(out.unwrap(), 7);
    });
}

both_flavors!(runtime_and_handle_spawn_from_the_outside);
fn runtime_and_handle_spawn_from_the_outside(flavor: Flavor) {
    with_timeout("outside_spawn", 30, move || {
        let rt = flavor.build();
        let a = rt.spawn(async { "runtime" });
        let b = rt.handle().spawn(async { "handle" });
        let c = rt.handle().clone().spawn(async { String::from("clone") });
        assert_eq!(rt.block_on(a).unwrap(), "runtime");
        assert_eq!(rt.handle().block_on(b).unwrap(), "handle");
        assert_eq!(rt.block_on(c).unwrap(), "clone");
    });
}

both_flavors!(many_runtimes_side_by_side);
fn many_runtimes_side_by_side(flavor: Flavor) {
    with_timeout("side_by_side", 30, move || {
        let one_worker = match flavor {
            Flavor::CurrentThread => flavor,
            Flavor::MultiThread(_) => Flavor::MultiThread(1),
        };
        let a = one_worker.build();
        let b = flavor.build();
        // A current-thread `b` runs its tasks only inside a `block_on`: a
        // thread stays in one until `a` is done with `b`.
        let (stop_b, b_stopped) = oneshot::channel::<()>();
        let b_driver = flavor.is_current_thread().then(|| {
            let b = b.handle().clone();
            thread::spawn(move || b.block_on(b_stopped).unwrap())
        });
        let from_b = b.handle().clone();
        // A task of runtime `a` spawns onto runtime `b` through its handle.
        let out = a.block_on(a.spawn(async move { from_b.spawn(async { 5 }).await.unwrap() }));
        assert_eq!(out.unwrap(), 5);
        drop(a);
        let _ = stop_b.send(());
        if let Some(driver) = b_driver {
            driver.join().unwrap();
        }
        assert_eq!(b.block_on(b.spawn(async { 6 })).unwrap(), 6);
    });
}

// On current-thread the tasks run on the `block_on` thread, and the
// runtime's own threads (named, with hooks) are its blocking-pool threads.
both_flavors!(worker_threads_are_named_and_hooks_run);
fn worker_threads_are_named_and_hooks_run(flavor: Flavor) {
    let (starts, stops, name, blocking_name, block_on_name) =
        with_timeout("thread_hooks", 30, move || {
            let starts = Arc::new(AtomicUsize::new(0));
            let stops = Arc::new(AtomicUsize::new(0));
            let (s1, s2) = (starts.clone(), stops.clone());
            let rt = flavor
                .builder()
                .thread_name("weft-test-worker")
                .on_thread_start(move || {
                    s1.fetch_add(1, Ordering::SeqCst);
                })
                .on_thread_stop(move || {
                    s2.fetch_add(1, Ordering::SeqCst);
                })
                .enable_all()
                .build()
                .unwrap();
            let name = rt
                .block_on(rt.spawn(async { thread::current().name().map(str::to_owned) }))
                .unwrap();
            let blocking_name = rt
                .block_on(rt.spawn_blocking(|| thread::current().name().map(str::to_owned)))
                .unwrap();
            let block_on_name = thread::current().name().map(str::to_owned);
            drop(rt);
            let (starts, stops) = (starts.load(Ordering::SeqCst), stops.load(Ordering::SeqCst));
            (starts, stops, name, blocking_name, block_on_name)
        });
    let name = name.expect("runtime threads must be named");
    if flavor.is_current_thread() {
        assert_eq!(Some(&name), block_on_name.as_ref(), "a task ran off the block_on thread");
    } else {
        assert!(name.starts_with("weft-test-worker"), "worker thread named {name:?}");
    }
    let blocking_name = blocking_name.expect("blocking threads must be named");
    assert!(blocking_name.starts_with("weft-test-worker"), "blocking thread {blocking_name:?}");
    assert!(starts >= 1, "on_thread_start never ran");
    assert_eq!(starts, stops, "every started thread must run on_thread_stop");
}

// On current-thread the default name goes to the blocking-pool threads.
both_flavors!(default_worker_thread_name, multi_thread = [1]);
fn default_worker_thread_name(flavor: Flavor) {
    let (name, blocking_name) = with_timeout("default_name", 30, move || {
        let rt = flavor.build();
        let task = rt.block_on(rt.spawn(async { thread::current().name().map(str::to_owned) }));
        let blocking =
            rt.block_on(rt.spawn_blocking(|| thread::current().name().map(str::to_owned)));
        (task.unwrap(), blocking.unwrap())
    });
    let blocking_name = blocking_name.expect("blocking threads must be named");
    assert!(blocking_name.starts_with("weft-worker"), "blocking thread named {blocking_name:?}");
    let name = name.expect("the thread running tasks must be named");
    if flavor.is_current_thread() {
        // The body thread of `with_timeout` ran them, inside its block_on.
        assert!(name.starts_with("test-body-"), "a task ran on {name:?}");
    } else {
        assert!(name.starts_with("weft-worker"), "worker thread named {name:?}");
    }
}

both_flavors!(enable_io_and_enable_time_are_accepted_and_change_nothing);
fn enable_io_and_enable_time_are_accepted_and_change_nothing(flavor: Flavor) {
    with_timeout("enable_io_time", 30, move || {
        let rt = flavor.builder().enable_io().enable_time().enable_all().build().unwrap();
        let echoed = rt.block_on(async {
            weft::time::sleep(Duration::from_millis(1)).await;
            let listener = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = weft::spawn(async move {
                let mut stream = weft::net::TcpStream::connect(addr).await.unwrap();
                stream.write_all(b"ping").await.unwrap();
            });
            let (mut server, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            server.read_exact(&mut buf).await.unwrap();
            client.await.unwrap();
            buf
        });
        assert_eq!(&echoed, b"ping");
    });
}

// `thread_name_fn`: each worker and blocking thread gets the function's
// name for it; a name the OS cannot take falls back to the default.
both_flavors!(thread_name_fn_names_each_thread, multi_thread = [2]);
fn thread_name_fn_names_each_thread(flavor: Flavor) {
    let (task, blocking, bad) = with_timeout("thread_name_fn", 30, move || {
        let next = Arc::new(AtomicUsize::new(0));
        let rt = flavor
            .builder()
            .thread_name_fn(move || format!("made-{}", next.fetch_add(1, Ordering::SeqCst)))
            .build()
            .unwrap();
        let task = rt.block_on(rt.spawn(async { thread::current().name().map(str::to_owned) }));
        let blocking =
            rt.block_on(rt.spawn_blocking(|| thread::current().name().map(str::to_owned)));
        drop(rt);
        let rt = flavor.builder().thread_name_fn(|| "bad\0name".to_owned()).build().unwrap();
        let bad = rt.block_on(rt.spawn_blocking(|| thread::current().name().map(str::to_owned)));
        (task.unwrap(), blocking.unwrap(), bad.unwrap())
    });
    let blocking = blocking.expect("blocking threads are named");
    assert!(blocking.starts_with("made-"), "blocking thread named {blocking:?}");
    if !flavor.is_current_thread() {
        let task = task.expect("workers are named");
        assert!(
            task.starts_with("made-") && task != blocking,
            "worker {task:?}, pool {blocking:?}"
        );
    }
    assert_eq!(bad.as_deref(), Some("weft-worker"), "a NUL name falls back to the default");
}
