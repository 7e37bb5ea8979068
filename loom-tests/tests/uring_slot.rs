//! Loom model of an io_uring operation's slot (`runtime/driver/uring/
//! slot.rs`): the completion (the reaper, after the kernel finished with
//! the lent memory) racing the future's poll, its drop, and the runtime's
//! shutdown. The lent memory is freed exactly once, never while the
//! "kernel" still uses it, and a future that waits is woken.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weft::__loom::UringTable;

/// Memory lent to the kernel: checks, when freed, that the kernel is done.
struct Lent {
    kernel_using: Arc<AtomicBool>,
    freed: Arc<AtomicUsize>,
}

impl Drop for Lent {
    fn drop(&mut self) {
        assert!(!self.kernel_using.load(SeqCst), "freed while the kernel may use it");
        self.freed.fetch_add(1, SeqCst);
    }
}

struct CountingWaker(std::sync::atomic::AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn lent() -> (Lent, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let kernel_using = Arc::new(AtomicBool::new(true));
    let freed = Arc::new(AtomicUsize::new(0));
    (Lent { kernel_using: kernel_using.clone(), freed: freed.clone() }, kernel_using, freed)
}

/// The kernel finishes, then the reaper takes the CQE in.
fn kernel_completes(table: &UringTable<Lent>, key: u64, kernel_using: &AtomicBool) {
    kernel_using.store(false, SeqCst);
    assert!(table.complete(key, 4096));
}

/// Completion against a poll: a future that saw `Pending` is woken, and
/// one that polls after the completion gets the result and the memory.
#[test]
fn completion_racing_poll_wakes_or_delivers() {
    loom::model(|| {
        let table = Arc::new(UringTable::new());
        let (res, kernel_using, freed) = lent();
        let (key, op) = table.submit(res);

        let (t, k) = (table.clone(), kernel_using.clone());
        let reaper = thread::spawn(move || kernel_completes(&t, key, &k));

        let counter = StdArc::new(CountingWaker(Default::default()));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let first = op.poll(&mut cx);
        reaper.join().unwrap();
        let (result, res) = match first {
            Poll::Ready(done) => done,
            Poll::Pending => {
                assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1, "woken");
                match op.poll(&mut cx) {
                    Poll::Ready(done) => done,
                    Poll::Pending => panic!("completed but pending"),
                }
            }
        };
        assert_eq!(result, 4096);
        assert_eq!(table.in_flight(), 0);
        drop(res);
        assert_eq!(freed.load(SeqCst), 1);
    });
}

/// Completion against the future's drop: the memory is freed once, by
/// whichever comes last, never before the kernel is done.
#[test]
fn completion_racing_future_drop_frees_once_after_the_kernel() {
    loom::model(|| {
        let table = Arc::new(UringTable::new());
        let (res, kernel_using, freed) = lent();
        let (key, op) = table.submit(res);

        let (t, k) = (table.clone(), kernel_using.clone());
        let reaper = thread::spawn(move || kernel_completes(&t, key, &k));

        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let polled = op.poll(&mut cx);
        op.abandon();
        drop(op);
        drop(polled);
        reaper.join().unwrap();
        assert_eq!(freed.load(SeqCst), 1);
        assert_eq!(table.in_flight(), 0);
    });
}

/// Shutdown against completion and drop: the shutdown waits until every
/// completion was reaped before it lets go of the table (and any memory
/// it still held).
#[test]
fn shutdown_waits_for_the_completion_before_freeing() {
    loom::model(|| {
        let table = Arc::new(UringTable::new());
        let (res, kernel_using, freed) = lent();
        let (key, op) = table.submit(res);

        let (t, k) = (table.clone(), kernel_using.clone());
        let reaper = thread::spawn(move || kernel_completes(&t, key, &k));
        let t = table.clone();
        let shutdown = thread::spawn(move || {
            // The ring's drop: wait for the completions, then free.
            while t.in_flight() > 0 {
                thread::yield_now();
            }
            t.take_all()
        });

        op.abandon();
        drop(op);
        assert_eq!(shutdown.join().unwrap(), 0, "nothing left in flight to free");
        reaper.join().unwrap();
        assert_eq!(freed.load(SeqCst), 1);
    });
}
