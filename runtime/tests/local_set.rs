//! `LocalSet` and `spawn_local`: `!Send` tasks run (and are dropped) only
//! on the set's thread, while their wakers and handles work from anywhere.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::marker::PhantomPinned;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use common::{both_flavors, expect_panic, with_timeout, Flavor};
use futures_channel::oneshot;
use weft::task::{spawn_local, yield_now, LocalSet};

/// Records the thread each of its values was dropped on.
#[derive(Clone, Default)]
struct DropLog(Arc<Mutex<Vec<ThreadId>>>);

impl DropLog {
    fn guard(&self) -> DropGuard {
        DropGuard(self.clone())
    }

    fn threads(&self) -> Vec<ThreadId> {
        self.0.lock().unwrap().clone()
    }
}

/// Notes its drop (and the thread) in a [`DropLog`].
struct DropGuard(DropLog);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0 .0.lock().unwrap().push(thread::current().id());
    }
}

// `Rc`-holding tasks, nested `spawn_local`, and `run_until` with tasks
// left over for the next drive.
both_flavors!(rc_tasks_run_inside_block_on);
fn rc_tasks_run_inside_block_on(flavor: Flavor) {
    with_timeout("rc_tasks_run_inside_block_on", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let counter = Rc::new(RefCell::new(0));
        let sum = local.block_on(&rt, {
            let counter = counter.clone();
            async move {
                let handles: Vec<_> = (1..=10)
                    .map(|i| {
                        let counter = counter.clone();
                        spawn_local(async move {
                            yield_now().await;
                            *counter.borrow_mut() += i;
                            // Nested: a local task spawns onto its own set.
                            let inner = spawn_local(async move { Rc::new(i * 2) });
                            *inner.await.unwrap()
                        })
                    })
                    .collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await.unwrap();
                }
                sum
            }
        });
        assert_eq!(sum, 110);
        assert_eq!(*counter.borrow(), 55);

        // Spawned outside any drive: runs at the next one.
        let ran = Rc::new(Cell::new(false));
        let handle = local.spawn_local({
            let ran = ran.clone();
            async move { ran.set(true) }
        });
        assert!(!ran.get());
        local.block_on(&rt, handle).unwrap();
        assert!(ran.get());
    });
}

// Awaiting the set finishes once every task has, including one woken by
// a plain thread through a futures-channel oneshot.
both_flavors!(awaiting_the_set_waits_for_every_task);
fn awaiting_the_set_waits_for_every_task(flavor: Flavor) {
    with_timeout("awaiting_the_set_waits_for_every_task", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let (tx, rx) = oneshot::channel::<u32>();
        let got = Rc::new(Cell::new(0));
        local.spawn_local({
            let got = got.clone();
            async move { got.set(rx.await.unwrap()) }
        });
        let sender = thread::spawn(move || {
            thread::sleep(std::time::Duration::from_millis(20));
            tx.send(7).unwrap();
        });
        rt.block_on(local);
        sender.join().unwrap();
        assert_eq!(got.get(), 7);
    });
}

// A wake from another thread queues the task; the set's thread polls it.
both_flavors!(a_wake_from_another_thread_runs_the_task_on_the_owner);
fn a_wake_from_another_thread_runs_the_task_on_the_owner(flavor: Flavor) {
    with_timeout("a_wake_from_another_thread", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let owner = thread::current().id();
        let (parked_tx, parked_rx) = mpsc::channel::<()>();
        let (tx, rx) = oneshot::channel::<u32>();
        let polled_on = Rc::new(RefCell::new(Vec::new()));
        let result = local.block_on(&rt, async {
            let task = spawn_local({
                let polled_on = polled_on.clone();
                async move {
                    let mut rx = rx;
                    let value = poll_fn(|cx| {
                        polled_on.borrow_mut().push(thread::current().id());
                        let polled = Pin::new(&mut rx).poll(cx);
                        if polled.is_pending() {
                            let _ = parked_tx.send(());
                        }
                        polled
                    })
                    .await;
                    Rc::new(value.unwrap())
                }
            });
            // The sender waits until the task is parked on the channel.
            let sender = thread::spawn(move || {
                parked_rx.recv().unwrap();
                tx.send(9).unwrap();
            });
            let value = task.await.unwrap();
            sender.join().unwrap();
            *value
        });
        assert_eq!(result, 9);
        assert!(polled_on.borrow().iter().all(|t| *t == owner), "polled off the set's thread");
        assert!(polled_on.borrow().len() >= 2, "the task was not woken by the thread");
    });
}

// An abort from another thread lands while the task waits; the future
// is dropped on the set's thread and the handle reports cancelled.
both_flavors!(an_abort_from_another_thread);
fn an_abort_from_another_thread(flavor: Flavor) {
    with_timeout("an_abort_from_another_thread", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let owner = thread::current().id();
        let drops = DropLog::default();
        let err = local.block_on(&rt, async {
            let guard = drops.guard();
            let (polled_tx, polled_rx) = oneshot::channel::<()>();
            let task = spawn_local(async move {
                let _guard = guard;
                let _not_send = Rc::new(());
                let _ = polled_tx.send(());
                pending::<()>().await
            });
            polled_rx.await.unwrap();
            let abort = task.abort_handle();
            let (done_tx, done_rx) = oneshot::channel::<()>();
            thread::spawn(move || {
                abort.abort();
                drop(abort);
                let _ = done_tx.send(());
            });
            done_rx.await.unwrap();
            task.await.unwrap_err()
        });
        assert!(err.is_cancelled());
        assert_eq!(drops.threads(), [owner], "dropped once, on the set's thread");
    });
}

// A JoinHandle moved to another thread and aborted (then dropped) there:
// the task is cancelled by the owner.
both_flavors!(a_join_handle_aborted_and_dropped_elsewhere);
fn a_join_handle_aborted_and_dropped_elsewhere(flavor: Flavor) {
    with_timeout("a_join_handle_aborted_and_dropped_elsewhere", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let owner = thread::current().id();
        let drops = DropLog::default();
        let guard = drops.guard();
        let task = local.spawn_local(async move {
            let _guard = guard;
            let _not_send = Rc::new(());
            pending::<()>().await
        });
        thread::spawn(move || {
            task.abort();
            drop(task);
        })
        .join()
        .unwrap();
        rt.block_on(local);
        assert_eq!(drops.threads(), [owner]);
    });
}

// A panicking task ends with a panic JoinError; the set runs on.
both_flavors!(a_panicking_task_leaves_the_set_working);
fn a_panicking_task_leaves_the_set_working(flavor: Flavor) {
    with_timeout("a_panicking_task_leaves_the_set_working", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let (err, after) = local.block_on(&rt, async {
            let bad = spawn_local(async {
                let _rc = Rc::new(());
                yield_now().await;
                panic!("local task panics");
            });
            let good = spawn_local(async {
                yield_now().await;
                yield_now().await;
                Rc::new(5)
            });
            let err = bad.await.unwrap_err();
            (err, *good.await.unwrap())
        });
        assert!(err.is_panic());
        assert_eq!(common::panic_message(&*err.into_panic()), "local task panics");
        assert_eq!(after, 5);
        assert_eq!(local.block_on(&rt, local.spawn_local(async { 1 })).unwrap(), 1);
    });
}

// Dropping the set drops each pending future on its thread; the handles
// report cancelled and a wake arriving afterwards does nothing.
both_flavors!(dropping_the_set_drops_pending_tasks_on_its_thread);
fn dropping_the_set_drops_pending_tasks_on_its_thread(flavor: Flavor) {
    with_timeout("dropping_the_set_drops_pending_tasks", 60, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let owner = thread::current().id();
        let drops = DropLog::default();
        let wakers: Rc<RefCell<Vec<Waker>>> = Rc::default();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let guard = drops.guard();
            let wakers = wakers.clone();
            handles.push(local.spawn_local(async move {
                let _guard = guard;
                poll_fn(|cx| {
                    wakers.borrow_mut().push(cx.waker().clone());
                    Poll::<()>::Pending
                })
                .await
            }));
        }
        // Never polled: still dropped with the set.
        let guard = drops.guard();
        handles.push(local.spawn_local(async move { drop(guard) }));
        local.block_on(&rt, async {
            while wakers.borrow().len() < 3 {
                yield_now().await;
            }
        });
        // The fourth task ran (it was queued before the others parked).
        assert_eq!(drops.threads().len(), 1);
        drop(local);
        assert_eq!(drops.threads(), [owner; 4], "every future dropped once, here");
        let late: Vec<Waker> = wakers.borrow_mut().drain(..).collect();
        thread::spawn(move || late.into_iter().for_each(Waker::wake)).join().unwrap();
        for handle in handles.into_iter().take(3) {
            assert!(rt.block_on(handle).unwrap_err().is_cancelled());
        }
    });
}

/// A task that spawns from its destructor while the set is dropped gets a
/// task that is cancelled at once (its future dropped, here).
#[test]
fn spawning_from_a_destructor_during_the_drop() {
    struct SpawnOnDrop(DropLog);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let guard = self.0.guard();
            let handle = spawn_local(async move { drop(guard) });
            assert!(handle.is_finished(), "spawned into a closed set: cancelled at once");
        }
    }
    let drops = DropLog::default();
    let local = LocalSet::new();
    let on_drop = SpawnOnDrop(drops.clone());
    local.spawn_local(async move {
        let _on_drop = on_drop;
        pending::<()>().await
    });
    drop(local);
    assert_eq!(drops.threads(), [thread::current().id()]);
}

/// `spawn_local` with no set running on the thread panics, with a clear
/// message: outside any runtime, and inside `block_on` without a set.
#[test]
fn spawn_local_outside_a_local_set_panics() {
    let message = expect_panic(|| spawn_local(async {}));
    assert!(message.contains("spawn_local called outside a LocalSet"), "{message}");
    let rt = common::current_thread();
    let message =
        expect_panic(AssertUnwindSafe(|| rt.block_on(async { drop(spawn_local(async {})) })));
    assert!(message.contains("spawn_local called outside a LocalSet"), "{message}");
    // A set that is not being driven is not "running" either.
    let _local = LocalSet::new();
    let message = expect_panic(|| spawn_local(async {}));
    assert!(message.contains("spawn_local called outside a LocalSet"), "{message}");
}

/// A set driven inside a task of another set: `spawn_local` goes to the
/// innermost set while it runs, and back to the outer one after.
#[test]
fn nested_sets_spawn_onto_the_innermost() {
    with_timeout("nested_sets_spawn_onto_the_innermost", 60, || {
        let rt = common::current_thread();
        let outer = LocalSet::new();
        let order = outer.block_on(&rt, async {
            let order = Rc::new(RefCell::new(Vec::new()));
            let o = order.clone();
            spawn_local(async move {
                let inner = LocalSet::new();
                let o2 = o.clone();
                inner
                    .run_until(async move {
                        spawn_local(async move { o2.borrow_mut().push("inner") }).await.unwrap()
                    })
                    .await;
                // The inner set is not running now: this goes to the outer.
                spawn_local(async move { o.borrow_mut().push("outer") }).await.unwrap();
            })
            .await
            .unwrap();
            order
        });
        assert_eq!(*order.borrow(), ["inner", "outer"]);
    });
}

/// Each local task is a task: it has its own id, and spends weft's coop
/// budget (a busy local task yields to the others).
#[test]
fn local_tasks_have_ids_and_a_coop_budget() {
    with_timeout("local_tasks_have_ids_and_a_coop_budget", 60, || {
        let rt = common::current_thread();
        let local = LocalSet::new();
        local.block_on(&rt, async {
            let handle = spawn_local(async { weft::task::id() });
            let id = handle.id();
            assert_eq!(handle.await.unwrap(), id);

            let other_ran = Rc::new(Cell::new(false));
            let busy = spawn_local({
                let other_ran = other_ran.clone();
                async move {
                    // consume_budget yields once the 128 units are spent,
                    // letting the other task run before this one ends.
                    for _ in 0..1_000 {
                        weft::task::consume_budget().await;
                    }
                    other_ran.get()
                }
            });
            spawn_local({
                let other_ran = other_ran.clone();
                async move { other_ran.set(true) }
            });
            assert!(busy.await.unwrap(), "the busy task never yielded");
        });
    });
}

// ---- pin probes ------------------------------------------------------------

/// Where probes report: a failure is a probe dropped at another address,
/// or on another thread, than where it was first polled.
#[derive(Default)]
struct ProbeLog {
    made: AtomicUsize,
    dropped: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl ProbeLog {
    fn check(&self, what: &str) {
        let failures = self.failures.lock().unwrap().clone();
        assert!(failures.is_empty(), "{what}:\n  {}", failures.join("\n  "));
        assert_eq!(
            self.dropped.load(SeqCst),
            self.made.load(SeqCst),
            "{what}: leak or double drop"
        );
    }
}

/// A `!Send` future that must be dropped where (address and thread) it
/// was first polled.
struct Probe<F> {
    log: Arc<ProbeLog>,
    pinned: Cell<Option<(usize, ThreadId)>>,
    inner: Pin<Box<F>>,
    _not_send: Rc<()>,
    _pinned: PhantomPinned,
}

impl<F: Future> Probe<F> {
    fn new(log: &Arc<ProbeLog>, inner: F) -> Self {
        log.made.fetch_add(1, SeqCst);
        Probe {
            log: log.clone(),
            pinned: Cell::new(None),
            inner: Box::pin(inner),
            _not_send: Rc::new(()),
            _pinned: PhantomPinned,
        }
    }
}

impl<F: Future> Future for Probe<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: nothing is moved out of the pinned probe; `inner` is
        // itself a pinned box, reached by `&mut` only to poll it in place.
        let this = unsafe { self.get_unchecked_mut() };
        let here = (this as *const Self as usize, thread::current().id());
        match this.pinned.get() {
            None => this.pinned.set(Some(here)),
            Some(at) if at != here => this
                .log
                .failures
                .lock()
                .unwrap()
                .push(format!("polled at {here:?}, pinned at {at:?}")),
            Some(_) => {}
        }
        this.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Probe<F> {
    fn drop(&mut self) {
        let here = (self as *const Self as usize, thread::current().id());
        if let Some(at) = self.pinned.get() {
            if at != here {
                self.log
                    .failures
                    .lock()
                    .unwrap()
                    .push(format!("dropped at {here:?}, pinned at {at:?}"));
            }
        }
        self.log.dropped.fetch_add(1, SeqCst);
    }
}

// Every way a local task ends drops its future where it was polled, on
// the set's thread: completion, a panic, an abort from another thread
// (its handle then dropped there), and the set's drop (with the last
// waker dropped on another thread afterwards).
both_flavors!(pin_probes);
fn pin_probes(flavor: Flavor) {
    with_timeout("pin_probes", 60, move || {
        let log = Arc::new(ProbeLog::default());
        let rt = flavor.build();
        let local = LocalSet::new();
        let stash: Rc<RefCell<Vec<Waker>>> = Rc::default();
        local.block_on(&rt, async {
            let done = spawn_local(Probe::new(&log, async {
                yield_now().await;
                3
            }));
            assert_eq!(done.await.unwrap(), 3);

            let panicked = spawn_local(Probe::new(&log, async {
                yield_now().await;
                panic!("probe panics")
            }));
            assert!(panicked.await.unwrap_err().is_panic());

            let (polled_tx, polled_rx) = oneshot::channel::<()>();
            let aborted = spawn_local(Probe::new(&log, async move {
                let _ = polled_tx.send(());
                pending::<()>().await
            }));
            polled_rx.await.unwrap();
            let abort = aborted.abort_handle();
            thread::spawn(move || abort.abort()).join().unwrap();
            assert!(aborted.await.unwrap_err().is_cancelled());

            // Parked on a waker that another thread will drop last.
            let stash2 = stash.clone();
            let left = spawn_local(Probe::new(&log, async move {
                poll_fn(|cx| {
                    stash2.borrow_mut().push(cx.waker().clone());
                    Poll::<()>::Pending
                })
                .await
            }));
            while stash.borrow().is_empty() {
                yield_now().await;
            }
            thread::spawn(move || drop(left)).join().unwrap();
        });
        drop(local);
        let wakers: Vec<Waker> = stash.borrow_mut().drain(..).collect();
        thread::spawn(move || drop(wakers)).join().unwrap();
        log.check("local tasks");
    });
}

// A JoinSet of `!Send` outputs: `spawn_local` (the running set) and
// `spawn_local_on` (a set run later); dropping the JoinSet aborts what is
// left, on the set's thread.
both_flavors!(a_join_set_of_local_tasks);
fn a_join_set_of_local_tasks(flavor: Flavor) {
    with_timeout("join_set_local", 30, move || {
        let rt = flavor.build();
        let local = LocalSet::new();
        let log = DropLog::default();
        let mut later = weft::task::JoinSet::new();
        later.spawn_local_on(async { Rc::new(10) }, &local);
        let pending_guard = log.guard();
        later.spawn_local_on(
            async move {
                let _guard = pending_guard;
                pending::<Rc<i32>>().await
            },
            &local,
        );
        let sum = local.block_on(&rt, async move {
            let mut set = weft::task::JoinSet::new();
            for i in 1..=3 {
                set.spawn_local(async move {
                    yield_now().await;
                    Rc::new(i)
                });
            }
            let mut sum: i32 = set.join_all().await.iter().map(|rc| **rc).sum();
            sum += *later.join_next().await.unwrap().unwrap();
            drop(later); // aborts the pending one
            yield_now().await;
            sum
        });
        assert_eq!(sum, 16);
        assert_eq!(log.threads(), [thread::current().id()], "dropped once, on the set's thread");
    });
}

/// Notes that it was woken.
struct WokenFlag(std::sync::atomic::AtomicBool);

impl std::task::Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

// The set driven again from inside its own driver under another waker (a
// nested `run_until` polled by hand): the outer driver's waker must be the
// one registered afterwards, or a wake from another thread goes to the
// inner one and the outer is never polled again.
#[test]
fn a_nested_drive_under_another_waker_does_not_steal_the_wake() {
    let local = LocalSet::new();
    let (tx, rx) = oneshot::channel::<()>();
    let task = local.spawn_local(async move { rx.await.unwrap() });
    let outer_flag = Arc::new(WokenFlag(std::sync::atomic::AtomicBool::new(false)));
    let outer_waker = Waker::from(outer_flag.clone());
    let mut cx = Context::from_waker(&outer_waker);
    let mut outer = std::pin::pin!(local.run_until(async {
        let inner_waker =
            Waker::from(Arc::new(WokenFlag(std::sync::atomic::AtomicBool::new(false))));
        let mut inner = std::pin::pin!(local.run_until(std::future::ready(())));
        assert!(inner.as_mut().poll(&mut Context::from_waker(&inner_waker)).is_ready());
        task.await
    }));
    assert!(outer.as_mut().poll(&mut cx).is_pending());
    outer_flag.0.store(false, SeqCst);
    thread::spawn(move || tx.send(()).unwrap()).join().unwrap();
    assert!(outer_flag.0.load(SeqCst), "the outer driver was not woken: a lost wake");
    // The task runs in the next poll's tick; the one after sees it done.
    let polls = (1..=3).find(|_| outer.as_mut().poll(&mut cx).is_ready());
    assert!(polls.is_some(), "the outer driver did not finish");
}
