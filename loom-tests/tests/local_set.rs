//! Loom models of `LocalSet`: the remote run queue and its hand-off to the
//! set's thread. Wakes and aborts come from other threads; the future of a
//! local task must be polled and dropped only on the set's thread, once.
#![cfg(loom)]

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread::{self, ThreadId};
use weft::task::{JoinHandle, LocalSet};

/// Counts drops of a local future and notes whether one happened off the
/// owner thread.
struct DropCheck {
    owner: ThreadId,
    drops: Arc<AtomicUsize>,
    off_owner: Arc<AtomicBool>,
}

impl Drop for DropCheck {
    fn drop(&mut self) {
        if thread::current().id() != self.owner {
            self.off_owner.store(true, SeqCst);
        }
        self.drops.fetch_add(1, SeqCst);
    }
}

/// What a model asserts at the end: dropped once, on the owner.
struct Dropped {
    drops: Arc<AtomicUsize>,
    off_owner: Arc<AtomicBool>,
}

impl Dropped {
    fn new() -> (Dropped, DropCheck) {
        let drops = Arc::new(AtomicUsize::new(0));
        let off_owner = Arc::new(AtomicBool::new(false));
        let check = DropCheck {
            owner: thread::current().id(),
            drops: drops.clone(),
            off_owner: off_owner.clone(),
        };
        (Dropped { drops, off_owner }, check)
    }

    fn assert_once_on_owner(&self) {
        assert_eq!(self.drops.load(SeqCst), 1, "the future was not dropped exactly once");
        assert!(!self.off_owner.load(SeqCst), "the future was dropped off the set's thread");
    }
}

/// A `!Send` local task that leaves its waker in `slot` and completes
/// once `flag` is set.
fn local_task(
    local: &LocalSet,
    check: DropCheck,
    slot: Arc<Mutex<Option<Waker>>>,
    flag: Arc<AtomicBool>,
) -> JoinHandle<()> {
    local.spawn_local(async move {
        let _check = check;
        let not_send = Rc::new(());
        poll_fn(|cx: &mut Context<'_>| {
            if flag.load(SeqCst) {
                return Poll::Ready(());
            }
            *slot.lock().unwrap() = Some(cx.waker().clone());
            if flag.load(SeqCst) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
        drop(not_send);
    })
}

/// Polls the set once, as its runner would.
fn poll_set(local: &mut LocalSet) -> Poll<()> {
    Pin::new(local).poll(&mut Context::from_waker(Waker::noop()))
}

/// A wake from another thread races the set's drop: the future is dropped
/// once, on the owner, whether the wake's entry landed in the queue before
/// it closed (and was dropped by the owner) or was handed back to the
/// waking thread after. The waker may hold the last reference and free the
/// cell on the other thread; the future is gone by then.
#[test]
fn remote_wake_races_the_drop_of_the_set() {
    loom::model(|| {
        let mut local = LocalSet::new();
        let (dropped, check) = Dropped::new();
        let slot = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let join = local_task(&local, check, slot.clone(), flag.clone());
        assert!(poll_set(&mut local).is_pending());
        let waker = slot.lock().unwrap().take().expect("the task parked its waker");
        let waking = thread::spawn(move || {
            flag.store(true, SeqCst);
            waker.wake();
        });
        drop(local);
        dropped.assert_once_on_owner();
        waking.join().unwrap();
        assert!(join.is_finished(), "the set's drop completes its tasks");
        let polled = Pin::new(&mut { join }).poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Err(e)) if e.is_cancelled()));
    });
}

/// An abort from another thread races the owner's poll of the task (the
/// poll was queued by a wake): whichever way it lands (before the poll,
/// during it, after it), the owner cancels the task, dropping the future
/// once, and a later poll of the set finds nothing left.
#[test]
fn remote_abort_races_a_poll() {
    loom::model(|| {
        let mut local = LocalSet::new();
        let (dropped, check) = Dropped::new();
        let slot = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let join = local_task(&local, check, slot.clone(), flag);
        assert!(poll_set(&mut local).is_pending());
        // Queue a second poll, which races the abort.
        slot.lock().unwrap().take().expect("parked").wake();
        let abort = join.abort_handle();
        let aborting = thread::spawn(move || abort.abort());
        let first = poll_set(&mut local);
        aborting.join().unwrap();
        if first.is_pending() {
            // The abort came after the poll: it queued the task again.
            assert!(poll_set(&mut local).is_ready(), "the aborted task is still listed");
        }
        dropped.assert_once_on_owner();
        assert!(join.is_finished());
        drop(join);
        drop(local);
        dropped.assert_once_on_owner();
    });
}

/// The hand-off itself: a wake from another thread is never lost between
/// the runner's look at the queue and its registration of the waker
/// (loom reports a deadlock if `block_on` is never woken).
#[test]
fn a_remote_wake_is_never_lost() {
    loom::model(|| {
        let local = LocalSet::new();
        let (dropped, check) = Dropped::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let join = local_task(&local, check, slot.clone(), flag.clone());
        let waking = thread::spawn(move || {
            flag.store(true, SeqCst);
            if let Some(waker) = slot.lock().unwrap().take() {
                waker.wake();
            }
        });
        loom::future::block_on(local);
        dropped.assert_once_on_owner();
        assert!(join.is_finished());
        waking.join().unwrap();
    });
}

/// An abort from another thread races the set's drop: the abort's entry
/// lands in the queue before it closes (the owner drops it) or is handed
/// back to the aborting thread; the future is dropped once, on the owner,
/// by the set's drop (or by nothing else), and the handle, dropped on the
/// other thread, may free the cell there.
#[test]
fn remote_abort_races_the_drop_of_the_set() {
    loom::model(|| {
        let mut local = LocalSet::new();
        let (dropped, check) = Dropped::new();
        let slot = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let join = local_task(&local, check, slot.clone(), flag);
        assert!(poll_set(&mut local).is_pending());
        let aborting = thread::spawn(move || {
            join.abort();
            drop(join);
        });
        drop(local);
        dropped.assert_once_on_owner();
        aborting.join().unwrap();
        // The parked waker may hold the last reference: it frees a cell
        // whose future is already gone.
        drop(slot);
    });
}

/// A task completes on the owner while its `JoinHandle` is dropped on
/// another thread: the output is dropped once (by the completer or by the
/// handle), the future once on the owner, and the cell is freed by
/// whichever lets go last.
#[test]
fn join_handle_dropped_elsewhere_races_completion() {
    loom::model(|| {
        let mut local = LocalSet::new();
        let (dropped, check) = Dropped::new();
        let outputs = Arc::new(AtomicUsize::new(0));
        struct Output(Arc<AtomicUsize>);
        impl Drop for Output {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let output = Output(outputs.clone());
        let join = local.spawn_local(async move {
            let _check = check;
            let _not_send = Rc::new(());
            output
        });
        let dropping = thread::spawn(move || drop(join));
        assert!(poll_set(&mut local).is_ready());
        dropped.assert_once_on_owner();
        dropping.join().unwrap();
        assert_eq!(outputs.load(SeqCst), 1, "the output was not dropped exactly once");
        drop(local);
    });
}
