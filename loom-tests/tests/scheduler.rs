//! Loom models of the scheduler: the real multi-thread runtime, with
//! condvar parkers in place of mio, under every interleaving loom explores.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use weft::runtime::{Builder, Runtime};

fn runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread().worker_threads(workers).build().unwrap()
}

/// A spawn from outside the runtime racing a worker that is about to park
/// is never lost: the task runs and its JoinHandle resolves.
#[test]
fn spawn_from_outside_racing_park() {
    loom::model(|| {
        let rt = runtime(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let join = rt.spawn(async move {
            r.fetch_add(1, SeqCst);
        });
        rt.block_on(join).unwrap();
        assert_eq!(ran.load(SeqCst), 1);
        drop(rt);
    });
}

/// Two workers: a task spawned from outside while both may be parking or
/// searching runs exactly once, and a task it spawns (local queue / LIFO
/// slot, stealable by the sibling) runs exactly once too.
#[test]
fn spawn_and_local_spawn_with_two_workers() {
    loom::model(|| {
        let rt = runtime(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let join = rt.spawn(async move {
            let r2 = r.clone();
            let child = weft::spawn(async move {
                r2.fetch_add(1, SeqCst);
            });
            r.fetch_add(1, SeqCst);
            child.await.unwrap();
        });
        rt.block_on(join).unwrap();
        assert_eq!(ran.load(SeqCst), 2);
        drop(rt);
    });
}

/// Shutdown racing a spawn from outside: the task is either run or
/// cancelled, its future dropped exactly once, and nothing leaks.
#[test]
fn shutdown_racing_spawn() {
    loom::model(|| {
        let rt = runtime(1);
        let handle = rt.handle().clone();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let spawner = loom::thread::spawn(move || {
            struct Guard(Arc<AtomicUsize>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.fetch_add(1, SeqCst);
                }
            }
            let guard = Guard(d);
            handle.spawn(async move {
                let _guard = guard;
            })
        });
        drop(rt);
        let join = spawner.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the future is dropped exactly once");
        // Run or cancelled, the handle resolves.
        let _ = loom::future::block_on(join);
    });
}
