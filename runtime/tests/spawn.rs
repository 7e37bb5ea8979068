//! Spawning: from foreign threads through a `Handle`, from inside tasks, trees
//! of tasks, detached tasks, and the compile-time `Send`/`Sync` contract.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use common::{runtime, with_timeout, LONG};
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

#[test]
fn four_threads_spawn_200k_tasks_through_a_handle() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50_000;
    let count = with_timeout("spawn_200k", 120, || {
        let rt = runtime(4);
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

#[test]
fn detached_tasks_from_many_threads_all_run() {
    const TOTAL: usize = 40_000;
    with_timeout("detached_many_threads", 60, || {
        let rt = runtime(2);
        let counter = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let done_tx = Arc::new(Mutex::new(done_tx));
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
                                done_tx.lock().unwrap().send(()).unwrap();
                            }
                        }));
                    }
                })
            })
            .collect();
        for spawner in spawners {
            spawner.join().unwrap();
        }
        done_rx.recv_timeout(LONG).expect("not every detached task ran");
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

#[test]
fn binary_spawn_tree_counts_every_leaf() {
    const DEPTH: u32 = 12;
    for workers in [1, 2, 4] {
        let (sum, counted) = with_timeout("spawn_tree", 60, move || {
            let rt = runtime(workers);
            let leaves = Arc::new(AtomicUsize::new(0));
            let root_leaves = leaves.clone();
            let sum = rt
                .block_on(rt.spawn(async move { spawn_tree(DEPTH, root_leaves).await }))
                .expect("root task failed")
                .expect("tree failed");
            (sum, leaves.load(Ordering::SeqCst))
        });
        assert_eq!(sum, 1 << DEPTH, "returned leaf sum with {workers} workers");
        assert_eq!(counted, 1 << DEPTH, "counted leaves with {workers} workers");
    }
}

#[test]
fn spawn_inside_block_on_uses_the_runtime() {
    with_timeout("spawn_in_block_on", 30, || {
        let rt = runtime(2);
        let out = rt.block_on(async {
            let a = weft::spawn(async { 20 });
            let b = weft::task::spawn(async { 22 });
            a.await.unwrap() + b.await.unwrap()
        });
        assert_eq!(out, 42);
    });
}

#[test]
fn handle_current_inside_a_task_spawns_on_the_same_runtime() {
    with_timeout("handle_current", 30, || {
        let rt = Runtime::new().expect("Runtime::new");
        let out = rt.block_on(rt.spawn(async {
            let handle = Handle::current();
            assert!(Handle::try_current().is_ok());
            handle.spawn(async { 7u8 }).await.unwrap()
        }));
        assert_eq!(out.unwrap(), 7);
    });
}

#[test]
fn runtime_and_handle_spawn_from_the_outside() {
    with_timeout("outside_spawn", 30, || {
        let rt = runtime(2);
        let a = rt.spawn(async { "runtime" });
        let b = rt.handle().spawn(async { "handle" });
        let c = rt.handle().clone().spawn(async { String::from("clone") });
        assert_eq!(rt.block_on(a).unwrap(), "runtime");
        assert_eq!(rt.handle().block_on(b).unwrap(), "handle");
        assert_eq!(rt.block_on(c).unwrap(), "clone");
    });
}

#[test]
fn many_runtimes_side_by_side() {
    with_timeout("side_by_side", 30, || {
        let a = runtime(1);
        let b = runtime(2);
        let from_b = b.handle().clone();
        // A task of runtime `a` spawns onto runtime `b` through its handle.
        let out = a.block_on(a.spawn(async move { from_b.spawn(async { 5 }).await.unwrap() }));
        assert_eq!(out.unwrap(), 5);
        drop(a);
        assert_eq!(b.block_on(b.spawn(async { 6 })).unwrap(), 6);
    });
}

#[test]
fn worker_threads_are_named_and_hooks_run() {
    let (starts, stops, name) = with_timeout("thread_hooks", 30, || {
        let starts = Arc::new(AtomicUsize::new(0));
        let stops = Arc::new(AtomicUsize::new(0));
        let (s1, s2) = (starts.clone(), stops.clone());
        let rt = weft::runtime::Builder::new_multi_thread()
            .worker_threads(2)
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
        let name =
            rt.block_on(rt.spawn(async { thread::current().name().map(str::to_owned) })).unwrap();
        drop(rt);
        (starts.load(Ordering::SeqCst), stops.load(Ordering::SeqCst), name)
    });
    let name = name.expect("worker threads must be named");
    assert!(name.starts_with("weft-test-worker"), "worker thread named {name:?}");
    assert!(starts >= 1, "on_thread_start never ran");
    assert_eq!(starts, stops, "every started thread must run on_thread_stop");
}

#[test]
fn default_worker_thread_name() {
    let name = with_timeout("default_name", 30, || {
        let rt = runtime(1);
        rt.block_on(rt.spawn(async { thread::current().name().map(str::to_owned) })).unwrap()
    });
    let name = name.expect("worker threads must be named");
    assert!(name.starts_with("weft-worker"), "worker thread named {name:?}");
}
