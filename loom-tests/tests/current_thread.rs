//! Loom models of the current-thread flavor: the worker loop inside
//! `block_on` (with a task that yields), the main future's waker, the core
//! handed between `block_on` callers, and shutdown racing a `block_on`
//! that returns the core.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use weft::runtime::{Builder, Runtime};

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

/// A one-shot signal: `fire` from any thread completes `wait`.
#[derive(Clone, Default)]
struct Signal(Arc<(AtomicBool, Mutex<Option<Waker>>)>);

impl Signal {
    fn fire(&self) {
        self.0 .0.store(true, SeqCst);
        if let Some(waker) = self.0 .1.lock().unwrap().take() {
            waker.wake();
        }
    }
}

impl Future for Signal {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 .0.load(SeqCst) {
            return Poll::Ready(());
        }
        *self.0 .1.lock().unwrap() = Some(cx.waker().clone());
        // Re-check after registering: a fire in between took no waker.
        if self.0 .0.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The main future woken from a plain thread while the `block_on` thread
/// is polling, about to park, or parked in the driver: the wake is never
/// lost and `block_on` returns.
#[test]
fn main_future_woken_from_another_thread_racing_park() {
    loom::model(|| {
        let rt = current_thread();
        let signal = Signal::default();
        let firer = {
            let signal = signal.clone();
            loom::thread::spawn(move || signal.fire())
        };
        rt.block_on(signal);
        firer.join().unwrap();
        drop(rt);
    });
}

/// A task spawned through the handle from another thread while `block_on`
/// may be parking runs on the `block_on` thread, and its wake of the main
/// future (same thread, during the task's poll) completes `block_on`.
#[test]
fn remote_spawn_racing_park_runs_and_wakes_main() {
    loom::model(|| {
        let rt = current_thread();
        let handle = rt.handle().clone();
        let signal = Signal::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let signal = signal.clone();
            let ran = ran.clone();
            loom::thread::spawn(move || {
                drop(handle.spawn(async move {
                    ran.fetch_add(1, SeqCst);
                    signal.fire();
                }));
            })
        };
        rt.block_on(signal);
        spawner.join().unwrap();
        assert_eq!(ran.load(SeqCst), 1);
        drop(rt);
    });
}

/// Shutdown racing a `block_on` on another thread that finishes and
/// returns the core: exactly one of them shuts the core down, the queued
/// task's future is dropped exactly once, and neither side hangs.
#[test]
fn shutdown_racing_block_on_returning_the_core() {
    loom::model(|| {
        let rt = current_thread();
        let drops = Arc::new(AtomicUsize::new(0));
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let guard = Guard(drops.clone());
        // Never polled unless the other block_on runs it: run or dropped.
        drop(rt.spawn(async move {
            let _guard = guard;
        }));
        let handle = rt.handle().clone();
        let caller = loom::thread::spawn(move || handle.block_on(async { 7 }));
        drop(rt);
        assert_eq!(caller.join().unwrap(), 7);
        assert_eq!(drops.load(SeqCst), 1, "the task's future is dropped exactly once");
    });
}

/// Two threads in `block_on` at once: one runs the core, the other polls
/// its future alone and waits for the core (`core_waiters`); both futures
/// yield once, and both calls return.
#[test]
fn two_block_on_callers_share_the_core() {
    loom::model(|| {
        let rt = current_thread();
        let handle = rt.handle().clone();
        let other = loom::thread::spawn(move || {
            handle.block_on(async {
                weft::task::yield_now().await;
                1
            })
        });
        let mine = rt.block_on(async {
            weft::spawn(async {}).await.unwrap();
            2
        });
        assert_eq!(mine, 2);
        assert_eq!(other.join().unwrap(), 1);
        drop(rt);
    });
}

/// Shutdown while two other threads are in `block_on`, one of them maybe
/// waiting for the core: both calls return, and nothing is leaked (loom
/// fails a model whose `Arc`s outlive it: a waiting caller's waker holds the
/// runtime's shared state, and must not stay in its waiter list).
#[test]
fn shutdown_racing_two_block_on_callers() {
    loom::model(|| {
        let rt = current_thread();
        let callers: Vec<_> = (0..2)
            .map(|i| {
                let handle = rt.handle().clone();
                loom::thread::spawn(move || {
                    handle.block_on(async move {
                        weft::task::yield_now().await;
                        i
                    })
                })
            })
            .collect();
        drop(rt);
        for (i, caller) in callers.into_iter().enumerate() {
            assert_eq!(caller.join().unwrap(), i);
        }
    });
}

/// A task that yields twice (queued again without waking anyone: the only
/// worker is the one polling it) while another thread wakes the main
/// future, which waits for both: the worker loop reads the woken flag with
/// a plain load before each task and may miss the wake for a while, but
/// the wake is never lost, the task finishes and `block_on` returns.
#[test]
fn yielding_task_racing_main_future_wake() {
    loom::model(|| {
        let rt = current_thread();
        let signal = Signal::default();
        let firer = {
            let signal = signal.clone();
            loom::thread::spawn(move || signal.fire())
        };
        let out = rt.block_on(async {
            let task = weft::spawn(async {
                weft::task::yield_now().await;
                weft::task::yield_now().await;
                7
            });
            signal.await;
            task.await.unwrap()
        });
        assert_eq!(out, 7);
        firer.join().unwrap();
        drop(rt);
    });
}
