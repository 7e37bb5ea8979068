//! Loom model of an io_uring operation's slot (`runtime/driver/uring/
//! slot.rs`): the completion (the reaper, after the kernel finished with
//! the lent memory) racing the future's poll, its drop, and the runtime's
//! shutdown. The lent memory is freed exactly once, never while the
//! "kernel" still uses it, and a future that waits is woken. The shutdown
//! models cover `Ring::close` against a submission (refused, or seen by
//! the close's cancellations) and a cancellation racing the completion of
//! an open whose future is dropped (the new fd is closed exactly once,
//! whichever wins). The kernel and the ring's own queues are not modelled
//! (no io_uring under loom): the table, its closed flag and the slot are
//! the shared state the threads race on, through `crate::loom`.
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

/// `Ring::submit` against `Ring::close`: a submission either is refused or
/// lands before the close, which then sees it (to cancel it or wait for
/// it); none slips in unseen.
#[test]
fn submit_racing_close_is_refused_or_seen_by_the_close() {
    loom::model(|| {
        let table = Arc::new(UringTable::new());
        let t = table.clone();
        let closer = thread::spawn(move || t.close());
        let (res, kernel_using, freed) = lent();
        let submitted = table.try_submit(res);
        let seen = closer.join().unwrap();
        match submitted {
            Ok((key, op)) => {
                assert!(seen.contains(&key), "a submission landed after the close unseen");
                op.abandon();
                drop(op);
                kernel_completes(&table, key, &kernel_using);
                assert_eq!(freed.load(SeqCst), 1);
            }
            Err(res) => {
                // Refused: the memory came back, never lent.
                kernel_using.store(false, SeqCst);
                drop(res);
                assert_eq!(freed.load(SeqCst), 1);
            }
        }
        assert_eq!(table.in_flight(), 0);
    });
}

/// An open's "fd": counted open until the orphan hook closes it.
struct OpenRes {
    open_fds: Arc<AtomicUsize>,
}

/// The shutdown's cancellation racing an open's completion, with the
/// future dropped meanwhile: exactly one CQE is posted (the kernel's
/// result or ECANCELED, whichever wins), and a new fd nobody took is
/// closed exactly once (by the reaper or by the future's drop).
#[test]
fn cancellation_racing_an_open_closes_the_orphan_fd_once() {
    loom::model(|| {
        let table = Arc::new(UringTable::new());
        let open_fds = Arc::new(AtomicUsize::new(0));
        let (key, op) = table.submit(OpenRes { open_fds: open_fds.clone() });
        // Who posts the one CQE: the kernel (open done) or the cancel.
        let decided = Arc::new(AtomicBool::new(false));
        let orphan = |res: OpenRes, result: i32| {
            if result >= 0 {
                res.open_fds.fetch_sub(1, SeqCst);
            }
        };

        let (t, d, fds) = (table.clone(), decided.clone(), open_fds.clone());
        let kernel = thread::spawn(move || {
            if d.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
                fds.fetch_add(1, SeqCst);
                assert!(t.complete_with(key, 3, orphan));
            }
        });
        let (t, d) = (table.clone(), decided.clone());
        let shutdown = thread::spawn(move || {
            for key in t.close() {
                if d.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
                    assert!(t.complete_with(key, -125, orphan));
                }
            }
        });

        op.abandon_with(orphan);
        drop(op);
        kernel.join().unwrap();
        shutdown.join().unwrap();
        assert_eq!(open_fds.load(SeqCst), 0, "the orphaned fd leaked or closed twice");
        assert_eq!(table.in_flight(), 0);
        assert!(table.try_submit(OpenRes { open_fds: open_fds.clone() }).is_err(), "closed");
    });
}
