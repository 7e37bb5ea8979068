//! Tasks waiting on real intrusive waiters (Tokio's `sync` primitives) are
//! aborted or dropped by shutdown; then the primitive is used again.
//!
//! Each of `Notify::notified`, `Semaphore::acquire`, `Mutex::lock`,
//! bounded `mpsc::Sender::send` and `watch::Receiver::changed` links a node
//! that lives inside the waiting future (so inside the task's cell) into the
//! primitive's list, and unlinks it by its own address when dropped. If the
//! runtime moves the future before dropping it, the unlink misses, the cell
//! is freed, and the next `notify_waiters` / `add_permits` / unlock / `recv`
//! / `send` walks into freed memory.
//!
//! Natively such a bug may pass unnoticed, corrupt memory or crash; under
//! valgrind memcheck (`scripts/memcheck.sh`) it shows as an invalid read or
//! write. The asserts here check the behaviour that must hold either way:
//! the waiter is gone and the primitive still works.

mod common;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{wait_until_async, with_timeout, Flavor, LONG};
use tokio::sync::{mpsc, watch, Mutex, Notify, Semaphore};
use weft::runtime::Runtime;
use weft::task::JoinHandle;

/// Awaits `fut` pinned in place (inside the caller's state, so inside the
/// task's cell) and sets `registered` once a poll of it returned Pending,
/// i.e. once its waiter node is linked into the primitive.
async fn wait_registered<F: Future>(fut: F, registered: &AtomicBool) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let polled = fut.as_mut().poll(cx);
        if polled.is_pending() {
            registered.store(true, Ordering::SeqCst);
        }
        polled
    })
    .await
}

/// How the waiting task ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// `JoinHandle::abort`, joined; the runtime lives on.
    Abort,
    /// The runtime is dropped while the task waits.
    Shutdown,
}

/// Spawns the waiting task made by `spawn`, waits until its waiter is
/// linked, ends it as `end` says and makes sure its cell is freed, then
/// returns the runtime (still running after `Abort`, `None` after
/// `Shutdown`) for the caller to use the primitive.
fn end_waiting_task(
    flavor: Flavor,
    end: End,
    spawn: impl FnOnce(&Runtime, Arc<AtomicBool>) -> JoinHandle<()>,
) -> Option<Runtime> {
    let rt = flavor.build();
    let registered = Arc::new(AtomicBool::new(false));
    let handle = spawn(&rt, registered.clone());
    let linked = rt.block_on(wait_until_async(LONG, move || registered.load(Ordering::SeqCst)));
    assert!(linked, "the task never started waiting");
    match end {
        End::Abort => {
            handle.abort();
            let joined = rt.block_on(handle);
            assert!(joined.expect_err("the task was aborted").is_cancelled());
            // Joining returns once the output is published; the worker that
            // cancelled the task drops its last references (and frees the
            // cell) just after. A pause lets it finish, so the use below
            // meets freed memory, which is what memcheck reports. No timing
            // is asserted.
            thread::sleep(Duration::from_millis(100));
            Some(rt)
        }
        End::Shutdown => {
            drop(handle);
            drop(rt);
            None
        }
    }
}

/// For each case `fn name(flavor, end)`, four tests: `name::abort` and
/// `name::shutdown`, each on both flavors, each bounded.
macro_rules! abort_and_shutdown {
    ($case:ident) => {
        mod $case {
            use super::{End, Flavor};

            crate::common::both_flavors!(abort);
            fn abort(flavor: Flavor) {
                let what = concat!(stringify!($case), "::abort");
                super::with_timeout(what, 120, move || super::$case(flavor, End::Abort));
            }

            crate::common::both_flavors!(shutdown);
            fn shutdown(flavor: Flavor) {
                let what = concat!(stringify!($case), "::shutdown");
                super::with_timeout(what, 120, move || super::$case(flavor, End::Shutdown));
            }
        }
    };
}

abort_and_shutdown!(notify_notified);
fn notify_notified(flavor: Flavor, end: End) {
    let notify = Arc::new(Notify::new());
    let n = notify.clone();
    let rt = end_waiting_task(flavor, end, move |rt, registered| {
        rt.spawn(async move { wait_registered(n.notified(), &registered).await })
    });
    // Walks the waiter list: the aborted task's node must be gone.
    notify.notify_waiters();
    notify.notify_one();
    // The stored permit is there for the next waiter, not lost to a
    // dangling one.
    let mut again = pin!(notify.notified());
    assert!(common::poll_once(&mut again).is_ready(), "notify_one's permit was lost");
    drop(rt);
}

abort_and_shutdown!(semaphore_acquire);
fn semaphore_acquire(flavor: Flavor, end: End) {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let rt = end_waiting_task(flavor, end, move |rt, registered| {
        rt.spawn(async move {
            let permit = wait_registered(s.acquire(), &registered).await;
            drop(permit);
        })
    });
    // Hands the permit to the first waiter in the queue, if any.
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1, "a permit went to a waiter that is gone");
    drop(sem.try_acquire().expect("the permit is available"));
    drop(rt);
}

abort_and_shutdown!(mutex_lock_while_held);
fn mutex_lock_while_held(flavor: Flavor, end: End) {
    let mutex = Arc::new(Mutex::new(0u32));
    let guard = mutex.clone().try_lock_owned().expect("unlocked at first");
    let m = mutex.clone();
    let rt = end_waiting_task(flavor, end, move |rt, registered| {
        rt.spawn(async move {
            let mut guard = wait_registered(m.lock(), &registered).await;
            *guard += 1;
        })
    });
    // Unlocking hands the lock to the first queued waiter, if any.
    drop(guard);
    let guard = mutex.try_lock().expect("nobody else holds the lock");
    assert_eq!(*guard, 0, "the aborted task never got the lock");
    drop(guard);
    drop(rt);
}

abort_and_shutdown!(mpsc_send_on_full_channel);
fn mpsc_send_on_full_channel(flavor: Flavor, end: End) {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.try_send(1).expect("room for one");
    let t = tx.clone();
    let rt = end_waiting_task(flavor, end, move |rt, registered| {
        rt.spawn(async move {
            let _ = wait_registered(t.send(2), &registered).await;
        })
    });
    // Receiving frees a slot: its permit goes to the first queued
    // sender, if any.
    assert_eq!(rx.try_recv().ok(), Some(1));
    tx.try_send(3).expect("the freed slot is free, not taken by a gone sender");
    assert_eq!(rx.try_recv().ok(), Some(3));
    drop(rt);
}

abort_and_shutdown!(watch_changed);
fn watch_changed(flavor: Flavor, end: End) {
    let (tx, rx) = watch::channel(0u32);
    // A second receiver keeps the channel open after the task's is gone.
    let mut kept = tx.subscribe();
    let rt = end_waiting_task(flavor, end, move |rt, registered| {
        rt.spawn(async move {
            let mut rx = rx;
            let _ = wait_registered(rx.changed(), &registered).await;
        })
    });
    // Sending wakes every receiver waiting in `changed`.
    tx.send(1).expect("a receiver is left");
    assert!(kept.has_changed().expect("open"), "the kept receiver sees the change");
    assert_eq!(*kept.borrow_and_update(), 1);
    drop(rt);
}
