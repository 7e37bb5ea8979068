//! Panics from user code the task harness runs on a task's behalf (a
//! join waker's destructor, an output's or a panic payload's destructor):
//! contained, the task is not leaked, the runtime keeps working.

mod common;

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use common::{both_flavors, with_timeout, Flavor};

/// A waker whose every copy panics when dropped; waking does nothing.
fn waker_that_panics_on_drop() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        |data| RawWaker::new(data, &VTABLE),
        |_| panic!("the join waker's destructor panicked"),
        |_| {},
        |_| panic!("the join waker's destructor panicked"),
    );
    // SAFETY: the vtable's functions ignore the (null) data pointer and
    // uphold the RawWaker contract (clone makes an equal waker).
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Counts its drops.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A JoinHandle that stored a waker whose destructor panics is dropped
/// before the task ends: the panic stays inside the runtime (it used to
/// unwind out of `JoinHandle::drop`, skipping the handle's reference
/// drop, which leaked the task), and the task still completes and frees
/// its future.
fn join_waker_whose_drop_panics(flavor: Flavor) {
    with_timeout("join_waker_whose_drop_panics", 30, move || {
        let rt = flavor.build();
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let guard = Dropped(drops.clone());
        let mut handle = rt.spawn(async move {
            let _guard = guard;
            let _ = rx.await;
        });
        // Poll the handle once with the panicking waker: the task is still
        // waiting, so the handle stores a clone of it.
        let waker = std::mem::ManuallyDrop::new(waker_that_panics_on_drop());
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(handle)));
        assert!(dropped.is_ok(), "JoinHandle::drop let the waker's panic out");
        tx.send(()).unwrap();
        // Current-thread tasks run only inside block_on: give it a turn.
        rt.block_on(async {
            for _ in 0..100 {
                weft::task::yield_now().await;
            }
        });
        assert!(
            common::wait_until(common::LONG, || drops.load(SeqCst) == 1),
            "the detached task did not finish"
        );
        // The runtime still works.
        assert_eq!(rt.block_on(async { weft::spawn(async { 7 }).await.unwrap() }), 7);
    });
}
both_flavors!(join_waker_whose_drop_panics);

/// A panic payload whose own destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a panic payload's destructor panicked");
        }
    }
}

/// A future that panics in its poll with a payload whose destructor
/// panics, and whose own destructor panics too: the first panic's
/// JoinError is replaced by the second, and dropping it must not unwind
/// into the worker loop. The JoinHandle reports a panic and the runtime
/// keeps running tasks.
struct PanicTwice;

impl Future for PanicTwice {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        std::panic::panic_any(PanicsOnDrop)
    }
}

impl Drop for PanicTwice {
    fn drop(&mut self) {
        panic!("the future's destructor panicked");
    }
}

fn a_poll_panic_and_a_drop_panic_are_contained(flavor: Flavor) {
    with_timeout("a_poll_panic_and_a_drop_panic_are_contained", 30, move || {
        let rt = flavor.build();
        let result = rt.block_on(async { weft::spawn(PanicTwice).await });
        let err = result.expect_err("the task panicked");
        assert!(err.is_panic(), "{err:?}");
        // More tasks on every worker still run.
        let sum = rt.block_on(async {
            let handles: Vec<_> = (0..16u64).map(|i| weft::spawn(async move { i })).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 120);
        // And an output nobody reads, whose drop panics, is contained too.
        let detached = rt.spawn(poll_fn(|_| Poll::Ready(PanicsOnDropOutput)));
        drop(detached);
        assert_eq!(rt.block_on(async { weft::spawn(async { 1 }).await.unwrap() }), 1);
    });
}
both_flavors!(a_poll_panic_and_a_drop_panic_are_contained);

/// An output whose destructor panics.
struct PanicsOnDropOutput;

impl Drop for PanicsOnDropOutput {
    fn drop(&mut self) {
        panic!("an output's destructor panicked");
    }
}
