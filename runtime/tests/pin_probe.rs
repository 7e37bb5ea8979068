//! Pin's drop guarantee, checked on every way a task can end.
//!
//! A pinned future must be dropped where it was pinned: intrusive waiters
//! (Tokio's `Notify`, `Semaphore`, `Mutex`...) leave their own address in a
//! shared list while pending and unlink it in `Drop`. If the runtime moves a
//! task's future out of its cell before dropping it, that list keeps a
//! pointer into the cell, which is then freed.
//!
//! A [`Probe`] is a future that records its address on its first poll and,
//! when dropped anywhere else, records a failure in its [`ProbeLog`] (it
//! never panics in `Drop`: that would turn into a `JoinError` and hide the
//! report). Each test also counts the drops, so a future that is leaked
//! instead of dropped fails too.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{pending, Future};
use std::marker::PhantomPinned;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use common::{both_flavors, wait_until, wait_until_async, with_timeout, Flavor, LONG};
use weft::task::{yield_now, AbortHandle, JoinSet};

/// Where a test's probes report.
#[derive(Default)]
struct ProbeLog {
    made: AtomicUsize,
    polled: AtomicUsize,
    dropped: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl ProbeLog {
    fn new() -> Arc<ProbeLog> {
        Arc::new(ProbeLog::default())
    }

    fn fail(&self, message: String) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).push(message);
    }

    fn polled(&self) -> usize {
        self.polled.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    fn all_dropped(&self) -> bool {
        self.dropped() >= self.made.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until every probe made so far was dropped, then
    /// asserts that each was dropped exactly once and where it was pinned.
    fn check(&self, what: &str) {
        let made = self.made.load(Ordering::SeqCst);
        wait_until(LONG, || self.all_dropped());
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            failures.is_empty(),
            "{what}: a pinned future was moved before it was dropped:\n  {}",
            failures.join("\n  ")
        );
        assert_eq!(
            self.dropped(),
            made,
            "{what}: probes dropped vs made (a leak or a double drop)"
        );
    }
}

/// A future that must be dropped where it was first polled. It polls
/// `inner` (boxed, so only the probe itself is at stake).
struct Probe<T> {
    name: &'static str,
    log: Arc<ProbeLog>,
    /// The address of the first poll; 0 before it.
    pinned_at: Cell<usize>,
    inner: RefCell<Pin<Box<dyn Future<Output = T> + Send>>>,
    _pinned: PhantomPinned,
}

impl<T> Probe<T> {
    fn new(
        log: &Arc<ProbeLog>,
        name: &'static str,
        inner: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        log.made.fetch_add(1, Ordering::SeqCst);
        Probe {
            name,
            log: log.clone(),
            pinned_at: Cell::new(0),
            inner: RefCell::new(Box::pin(inner)),
            _pinned: PhantomPinned,
        }
    }
}

impl<T> Future for Probe<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this: &Self = &self;
        let here = this as *const Self as usize;
        match this.pinned_at.get() {
            0 => {
                this.pinned_at.set(here);
                this.log.polled.fetch_add(1, Ordering::SeqCst);
            }
            at if at != here => {
                this.log.fail(format!("{}: polled at {here:#x}, pinned at {at:#x}", this.name))
            }
            _ => {}
        }
        let mut inner = this.inner.borrow_mut();
        inner.as_mut().poll(cx)
    }
}

impl<T> Drop for Probe<T> {
    fn drop(&mut self) {
        let here = self as *const Self as usize;
        let at = self.pinned_at.get();
        if at != 0 && at != here {
            self.log.fail(format!(
                "{}: dropped at {here:#x} but pinned at {at:#x} (moved after pinning)",
                self.name
            ));
        }
        self.log.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("PanicOnDrop: a future's destructor panics");
        }
    }
}

/// A future that yields `n` times, then is ready.
async fn yields(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

both_flavors!(completed_tasks);
fn completed_tasks(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("completed_tasks", 120, move || {
        let rt = flavor.build();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                rt.spawn(Probe::new(&l, "completes", async move {
                    yields(i).await;
                    i
                }))
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(rt.block_on(handle).expect("task failed"), i);
        }
        // A task nobody joins: the runtime drops its output itself.
        drop(rt.spawn(Probe::new(&l, "completes, detached", yields(2))));
        rt.block_on(wait_until_async(LONG, || l.dropped() == 5));
    });
    log.check("a task that completes");
}

both_flavors!(aborted_idle_task);
fn aborted_idle_task(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("aborted_idle_task", 120, move || {
        let rt = flavor.build();
        let handle = rt.spawn(Probe::new(&l, "aborted while idle", pending::<()>()));
        assert!(rt.block_on(wait_until_async(LONG, || l.polled() == 1)), "never polled");
        handle.abort();
        assert!(rt.block_on(handle).expect_err("aborted").is_cancelled());
        // Aborted before its first poll: nothing was pinned, it must still
        // be dropped.
        let handle = rt.spawn(Probe::new(&l, "aborted before polled", pending::<()>()));
        handle.abort();
        assert!(rt.block_on(handle).expect_err("aborted").is_cancelled());
    });
    log.check("an aborted idle task");
}

both_flavors!(aborted_while_running);
/// The abort lands while the task's poll runs (from another thread): the
/// worker sees it when the poll returns and cancels the task then.
fn aborted_while_running(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("aborted_while_running", 120, move || {
        let rt = flavor.build();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let inner = std::future::poll_fn(move |_| {
            let _ = entered_tx.send(());
            let _ = go_rx.lock().unwrap().recv_timeout(LONG);
            Poll::<()>::Pending
        });
        let handle = rt.spawn(Probe::new(&l, "aborted during its poll", inner));
        let abort = handle.abort_handle();
        let aborter = thread::spawn(move || {
            entered_rx.recv_timeout(LONG).expect("the task was never polled");
            abort.abort();
            go_tx.send(()).unwrap();
        });
        assert!(rt.block_on(handle).expect_err("aborted").is_cancelled());
        aborter.join().unwrap();
    });
    log.check("a task aborted while running");
}

both_flavors!(aborted_by_itself);
/// The task aborts itself from inside its own poll.
fn aborted_by_itself(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("aborted_by_itself", 120, move || {
        let rt = flavor.build();
        let slot: Arc<Mutex<Option<AbortHandle>>> = Arc::default();
        let mine = slot.clone();
        let handle = rt.spawn(Probe::new(&l, "aborts itself", async move {
            loop {
                let me = mine.lock().unwrap().take();
                if let Some(me) = me {
                    me.abort();
                }
                yield_now().await;
            }
        }));
        *slot.lock().unwrap() = Some(handle.abort_handle());
        assert!(rt.block_on(handle).expect_err("aborted").is_cancelled());
    });
    log.check("a task that aborts itself");
}

both_flavors!(join_set_dropped);
fn join_set_dropped(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("join_set_dropped", 120, move || {
        let rt = flavor.build();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            for _ in 0..4 {
                set.spawn(Probe::new(&l, "in a dropped JoinSet", pending::<()>()));
            }
            assert!(wait_until_async(LONG, || l.polled() == 4).await, "not all polled");
            set.spawn(Probe::new(&l, "in a dropped JoinSet, never polled", pending::<()>()));
            drop(set);
            assert!(wait_until_async(LONG, || l.all_dropped()).await, "not all dropped");
        });
    });
    log.check("a dropped JoinSet");
}

both_flavors!(join_set_abort_all_and_shutdown);
fn join_set_abort_all_and_shutdown(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("join_set_abort_all", 120, move || {
        let rt = flavor.build();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            for _ in 0..4 {
                set.spawn(Probe::new(&l, "JoinSet::abort_all", pending::<()>()));
            }
            assert!(wait_until_async(LONG, || l.polled() == 4).await, "not all polled");
            set.abort_all();
            while let Some(res) = set.join_next().await {
                assert!(res.expect_err("aborted").is_cancelled());
            }
            for _ in 0..4 {
                set.spawn(Probe::new(&l, "JoinSet::shutdown", pending::<()>()));
            }
            assert!(wait_until_async(LONG, || l.polled() == 8).await, "not all polled");
            set.shutdown().await;
        });
    });
    log.check("JoinSet::abort_all and JoinSet::shutdown");
}

/// Spawns probes in the states shutdown meets: idle after a poll, waiting
/// on a timer, woken and queued, and never polled.
fn spawn_for_shutdown(rt: &weft::runtime::Runtime, log: &Arc<ProbeLog>) {
    for _ in 0..3 {
        drop(rt.spawn(Probe::new(log, "idle at shutdown", pending::<()>())));
        drop(rt.spawn(Probe::new(log, "on a timer at shutdown", async {
            weft::time::sleep(Duration::from_secs(3600)).await
        })));
        drop(rt.spawn(Probe::new(log, "queued at shutdown", async {
            loop {
                yield_now().await;
            }
        })));
    }
    let l = log.clone();
    assert!(rt.block_on(wait_until_async(LONG, move || l.polled() == 9)), "not all polled");
    drop(rt.spawn(Probe::new(log, "never polled at shutdown", pending::<()>())));
}

both_flavors!(runtime_dropped_with_pending_tasks);
fn runtime_dropped_with_pending_tasks(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("runtime_dropped", 120, move || {
        let rt = flavor.build();
        spawn_for_shutdown(&rt, &l);
        drop(rt);
    });
    log.check("tasks dropped by the runtime's drop");
}

both_flavors!(runtime_shutdown_timeout_with_pending_tasks);
fn runtime_shutdown_timeout_with_pending_tasks(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("runtime_shutdown_timeout", 120, move || {
        let rt = flavor.build();
        spawn_for_shutdown(&rt, &l);
        rt.shutdown_timeout(LONG);
    });
    log.check("tasks dropped by shutdown_timeout");
}

both_flavors!(panic_in_poll);
fn panic_in_poll(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("panic_in_poll", 120, move || {
        let rt = flavor.build();
        let handle = rt.spawn(Probe::new(&l, "panics in poll", async {
            yields(1).await;
            panic!("the probe's future panics");
        }));
        assert!(rt.block_on(handle).expect_err("panicked").is_panic());
    });
    log.check("a task whose poll panics");
}

both_flavors!(panic_in_drop);
/// The future's destructor panics after the probe inside it was dropped
/// (on abort and at shutdown).
fn panic_in_drop(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("panic_in_drop", 120, move || {
        let rt = flavor.build();
        let bombed = |name| {
            let probe = Probe::new(&l, name, pending::<()>());
            async move {
                let _bomb = PanicOnDrop;
                probe.await
            }
        };
        let handle = rt.spawn(bombed("drop panics on abort"));
        assert!(rt.block_on(wait_until_async(LONG, || l.polled() == 1)), "never polled");
        handle.abort();
        assert!(rt.block_on(handle).is_err(), "an aborted task whose drop panics is an error");
        drop(rt.spawn(bombed("drop panics at shutdown")));
        assert!(rt.block_on(wait_until_async(LONG, || l.polled() == 2)), "never polled");
        drop(rt);
    });
    log.check("a task whose destructor panics");
}

both_flavors!(task_awaiting_spawn_blocking);
/// The closure of `spawn_blocking` is a plain `FnOnce` (never pinned);
/// what is pinned is the task that awaits it, checked here when it
/// completes, is aborted mid-wait, and is dropped by shutdown mid-wait.
fn task_awaiting_spawn_blocking(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("task_awaiting_spawn_blocking", 120, move || {
        let rt = flavor.build();
        let done = rt.spawn(Probe::new(&l, "awaits spawn_blocking", async {
            weft::task::spawn_blocking(|| 7).await.unwrap()
        }));
        assert_eq!(rt.block_on(done).unwrap(), 7);

        // The closure waits until the awaiting task's future (holding the
        // sender) is dropped.
        let blocked = |name| {
            let (tx, rx) = mpsc::channel::<()>();
            Probe::new(&l, name, async move {
                let _tx = tx;
                weft::task::spawn_blocking(move || rx.recv_timeout(LONG)).await.unwrap()
            })
        };
        let aborted = rt.spawn(blocked("aborted awaiting spawn_blocking"));
        assert!(rt.block_on(wait_until_async(LONG, || l.polled() == 2)), "never polled");
        aborted.abort();
        assert!(rt.block_on(aborted).expect_err("aborted").is_cancelled());
        drop(rt.spawn(blocked("awaiting spawn_blocking at shutdown")));
        assert!(rt.block_on(wait_until_async(LONG, || l.polled() == 3)), "never polled");
        drop(rt);
    });
    log.check("a task awaiting spawn_blocking");
}

both_flavors!(block_on_main_future);
/// The main future of `Runtime::block_on` and `Handle::block_on`, when it
/// completes and when it panics.
fn block_on_main_future(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("block_on_main_future", 120, move || {
        let rt = flavor.build();
        let main = |name| Probe::new(&l, name, async { weft::spawn(yields(2)).await.unwrap() });
        rt.block_on(main("Runtime::block_on"));
        rt.handle().block_on(main("Handle::block_on"));
        let handle = rt.handle().clone();
        let probe = main("Handle::block_on on another thread");
        thread::spawn(move || handle.block_on(probe)).join().unwrap();
        let panicking = Probe::new(&l, "Runtime::block_on, panics", async {
            yields(2).await;
            panic!("the main future panics");
        });
        let caught = panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(panicking)));
        assert!(caught.is_err(), "the main future's panic reaches block_on's caller");
    });
    log.check("block_on's main future");
}

both_flavors!(spawn_after_shutdown);
/// `spawn` on a runtime already shut down drops the future unpolled.
fn spawn_after_shutdown(flavor: Flavor) {
    let log = ProbeLog::new();
    let l = log.clone();
    with_timeout("spawn_after_shutdown", 120, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        drop(rt);
        let joined = handle.spawn(Probe::new(&l, "spawned after shutdown", pending::<()>()));
        drop(joined);
    });
    log.check("a task spawned after shutdown");
}
