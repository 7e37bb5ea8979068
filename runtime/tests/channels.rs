//! Channels and locks on weft: weft has none of its own. Tokio's `sync`
//! module (built without any Tokio runtime) and futures-channel work as
//! they are, on both flavors, including when a task waiting in one of them
//! is aborted: the waiter leaves the queue, a permit or notification
//! already handed to it goes on to the next waiter, and the primitive
//! keeps working.
//!
//! The last tests answer the coop question: these channels do not spend
//! weft's cooperative budget (Tokio's budget calls are no-ops outside its
//! own runtime), so a receive loop over a channel that is always ready
//! never yields unless it calls `weft::task::consume_budget`.

mod common;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{both_flavors, wait_until_async, Flavor, LONG};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Mutex, Notify, Semaphore};
use weft::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `body` in `block_on` on a fresh runtime of `flavor`, bounded.
fn run<F: Future<Output = ()>>(flavor: Flavor, body: F) {
    let rt = flavor.build();
    rt.block_on(async {
        weft::time::timeout(LIMIT, body).await.expect("the test finished in time")
    });
}

/// Spawns `fut` and returns once a poll of it returned Pending, i.e. once
/// it waits inside the primitive (its waiter is queued).
async fn spawn_waiting<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let waiting = Arc::new(AtomicBool::new(false));
    let flag = waiting.clone();
    let handle = weft::spawn(async move {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            let polled = fut.as_mut().poll(cx);
            if polled.is_pending() {
                flag.store(true, Ordering::SeqCst);
            }
            polled
        })
        .await
    });
    assert!(wait_until_async(LONG, || waiting.load(Ordering::SeqCst)).await, "never waited");
    handle
}

/// Aborts `handle` and joins it; says whether the abort cancelled the
/// task (false: it had finished first, which a multi-thread runtime
/// allows when the primitive had already woken it).
async fn abort_and_join<T: std::fmt::Debug>(handle: JoinHandle<T>) -> bool {
    handle.abort();
    match handle.await {
        Ok(_) => false,
        Err(e) => {
            assert!(e.is_cancelled(), "the task was cancelled, not panicked: {e:?}");
            true
        }
    }
}

/// Many producer tasks into a small bounded channel, one consumer.
fn mpsc_across_tasks(flavor: Flavor) {
    run(flavor, async {
        let (tx, mut rx) = mpsc::channel::<u64>(8);
        for p in 0..4u64 {
            let tx = tx.clone();
            weft::spawn(async move {
                for i in 0..1000 {
                    tx.send(p * 1000 + i).await.unwrap();
                }
            });
        }
        drop(tx);
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some(v) = rx.recv().await {
            count += 1;
            sum += v;
        }
        assert_eq!((count, sum), (4000, (0..4000).sum()));
    });
}
both_flavors!(mpsc_across_tasks);

/// The task that owns the receiver is aborted while waiting in `recv`: the
/// senders see the channel closed and get their value back.
fn mpsc_recv_aborted(flavor: Flavor) {
    run(flavor, async {
        let (tx, mut rx) = mpsc::channel::<Arc<()>>(4);
        let receiver = spawn_waiting(async move { rx.recv().await }).await;
        assert!(abort_and_join(receiver).await, "recv waits: the task cannot finish");
        tx.closed().await;
        let value = Arc::new(());
        let back = tx.send(value.clone()).await.expect_err("the receiver is gone");
        assert!(Arc::ptr_eq(&back.0, &value), "the value comes back to the sender");
        assert!(tx.is_closed());
    });
}
both_flavors!(mpsc_recv_aborted);

/// A oneshot crosses tasks; a receiver aborted while waiting closes it.
fn oneshot_recv_aborted(flavor: Flavor) {
    run(flavor, async {
        let (tx, rx) = oneshot::channel::<u32>();
        weft::spawn(async move { tx.send(1).unwrap() });
        assert_eq!(rx.await.unwrap(), 1);

        let (mut tx, rx) = oneshot::channel::<u32>();
        let receiver = spawn_waiting(rx).await;
        assert!(abort_and_join(receiver).await, "nothing was sent: the task cannot finish");
        tx.closed().await;
        assert_eq!(tx.send(2), Err(2), "the value comes back: nobody receives it");
    });
}
both_flavors!(oneshot_recv_aborted);

/// One of two receivers waiting in `recv` is aborted: the other still gets
/// every message, and the channel counts one receiver.
fn broadcast_recv_aborted(flavor: Flavor) {
    run(flavor, async {
        let (tx, mut doomed) = broadcast::channel::<u32>(16);
        let mut live = tx.subscribe();
        let aborted = spawn_waiting(async move { doomed.recv().await }).await;
        let listener = spawn_waiting(async move {
            let mut got = Vec::new();
            while let Ok(v) = live.recv().await {
                got.push(v);
            }
            got
        })
        .await;
        assert!(abort_and_join(aborted).await, "nothing was sent: the task cannot finish");
        assert!(wait_until_async(LONG, || tx.receiver_count() == 1).await, "a receiver is left");
        for v in 0..3 {
            assert_eq!(tx.send(v).unwrap(), 1, "one receiver gets it");
        }
        drop(tx);
        assert_eq!(listener.await.unwrap(), [0, 1, 2]);
    });
}
both_flavors!(broadcast_recv_aborted);

/// One of two receivers waiting in `changed` is aborted: the other sees
/// the new value.
fn watch_changed_aborted(flavor: Flavor) {
    run(flavor, async {
        let (tx, mut doomed) = watch::channel(0u32);
        let mut live = tx.subscribe();
        let aborted = spawn_waiting(async move { doomed.changed().await }).await;
        let listener = spawn_waiting(async move {
            live.changed().await.unwrap();
            *live.borrow_and_update()
        })
        .await;
        assert!(abort_and_join(aborted).await, "nothing was sent: the task cannot finish");
        assert!(wait_until_async(LONG, || tx.receiver_count() == 1).await, "a receiver is left");
        tx.send(7).unwrap();
        assert_eq!(listener.await.unwrap(), 7);
    });
}
both_flavors!(watch_changed_aborted);

/// Two tasks queue for a held lock; the first is aborted around the
/// unlock that hands it the lock. The second gets the lock either way.
fn mutex_lock_aborted_in_queue(flavor: Flavor) {
    run(flavor, async {
        let mutex = Arc::new(Mutex::new(0u32));
        let guard = mutex.clone().lock_owned().await;
        let m = mutex.clone();
        let first = spawn_waiting(async move { *m.lock().await += 1 }).await;
        let m = mutex.clone();
        let second = spawn_waiting(async move { *m.lock().await += 10 }).await;
        // The unlock hands the lock to `first`; aborting it before it runs
        // hands it on to `second` (if it ran, it unlocked when done).
        drop(guard);
        let first_cancelled = abort_and_join(first).await;
        second.await.unwrap();
        let value = *mutex.try_lock().expect("nobody holds the lock");
        assert_eq!(value, if first_cancelled { 10 } else { 11 });
    });
}
both_flavors!(mutex_lock_aborted_in_queue);

/// A task waiting for two permits holds one already given to it when it
/// is aborted: that permit comes back, and the task queued behind gets it.
fn semaphore_acquire_aborted_keeps_permits(flavor: Flavor) {
    run(flavor, async {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let greedy = spawn_waiting(async move { drop(s.acquire_many(2).await.unwrap()) }).await;
        let s = sem.clone();
        let modest = spawn_waiting(async move { drop(s.acquire().await.unwrap()) }).await;
        // The queue is first come, first served: the permit goes to the
        // greedy waiter, which still needs another.
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 0, "the permit waits with the first waiter");
        assert!(abort_and_join(greedy).await, "one permit of two: the task cannot finish");
        // Its partial permit went on to the modest waiter, which gave it back.
        modest.await.unwrap();
        assert_eq!(sem.available_permits(), 1, "the permit was not lost");
        sem.add_permits(1);
        let both = sem.try_acquire_many(2).expect("both permits are there");
        drop(both);
        assert_eq!(sem.available_permits(), 2);
    });
}
both_flavors!(semaphore_acquire_aborted_keeps_permits);

/// Two tasks wait in `notified`; `notify_one` picks the first, which is
/// aborted: the notification goes on to the second, unless the first
/// already consumed it (then a second notification is needed).
fn notify_one_passes_over_aborted_waiter(flavor: Flavor) {
    run(flavor, async {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        let first = spawn_waiting(async move { n.notified().await }).await;
        let n = notify.clone();
        let second = spawn_waiting(async move { n.notified().await }).await;
        notify.notify_one();
        if !abort_and_join(first).await {
            // The first woke and consumed it before the abort (multi-thread).
            notify.notify_one();
        }
        second.await.unwrap();
        // No waiter is left, and no permit stored by the calls above.
        let mut next = pin!(notify.notified());
        assert!(common::poll_once(&mut next).is_pending(), "no notification left over");
    });
}
both_flavors!(notify_one_passes_over_aborted_waiter);

/// futures-channel: a bounded mpsc across tasks, then a receiver task
/// aborted while waiting disconnects the senders; a oneshot receiver
/// aborted while waiting cancels its sender.
fn futures_channel_across_tasks_and_abort(flavor: Flavor) {
    use futures_channel::{mpsc as fmpsc, oneshot as foneshot};
    run(flavor, async {
        let (mut tx, rx) = fmpsc::channel::<u32>(2);
        let consumer = weft::spawn(rx.fold(0u32, |sum, v| async move { sum + v }));
        for v in 1..=100 {
            tx.send(v).await.unwrap();
        }
        drop(tx);
        assert_eq!(consumer.await.unwrap(), 5050);

        let (mut tx, mut rx) = fmpsc::channel::<u32>(2);
        let receiver = spawn_waiting(async move { rx.next().await }).await;
        assert!(abort_and_join(receiver).await, "nothing was sent: the task cannot finish");
        let err = tx.send(1).await.expect_err("the receiver is gone");
        assert!(err.is_disconnected());

        let (mut tx, rx) = foneshot::channel::<u32>();
        let receiver = spawn_waiting(rx).await;
        assert!(abort_and_join(receiver).await, "nothing was sent: the task cannot finish");
        tx.cancellation().await;
        assert_eq!(tx.send(2), Err(2));
    });
}
both_flavors!(futures_channel_across_tasks_and_abort);

/// Messages queued before the loop starts: every `recv` is ready at once.
const READY_MESSAGES: usize = 10_000;

/// On a current-thread runtime, a task receives `READY_MESSAGES` messages
/// that are all ready; first it spawns a sibling that sets a flag. Returns
/// the index of the first message after which the flag was seen set, if
/// the loop saw it before it ended.
fn flag_seen_during_ready_loop(spend_budget: bool) -> Option<usize> {
    let rt = common::current_thread();
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
        for i in 0..READY_MESSAGES {
            tx.send(i).unwrap();
        }
        drop(tx);
        let flag = Arc::new(AtomicBool::new(false));
        let consumer = weft::spawn(async move {
            // Spawned from here, the sibling can only run when this task
            // yields: there is one thread.
            let f = flag.clone();
            weft::spawn(async move { f.store(true, Ordering::SeqCst) });
            let mut received = 0;
            let mut seen_at = None;
            while let Some(i) = rx.recv().await {
                received += 1;
                if spend_budget {
                    weft::task::consume_budget().await;
                }
                if seen_at.is_none() && flag.load(Ordering::SeqCst) {
                    seen_at = Some(i);
                }
            }
            assert_eq!(received, READY_MESSAGES);
            seen_at
        });
        weft::time::timeout(LIMIT, consumer).await.expect("the loop finished in time").unwrap()
    })
}

/// `recv` on an always-ready tokio channel never yields to weft: the
/// sibling does not run until the loop has drained the channel. (tokio's
/// own budget is a no-op outside a Tokio runtime.)
#[test]
fn tokio_channels_do_not_spend_weft_budget() {
    assert_eq!(flag_seen_during_ready_loop(false), None, "the loop never yielded");
}

/// With `consume_budget` once per message, the loop yields when weft's
/// budget runs out, so the sibling runs long before the channel is empty.
#[test]
fn consume_budget_per_message_lets_a_sibling_run() {
    let seen_at = flag_seen_during_ready_loop(true).expect("the sibling ran during the loop");
    // The budget is far smaller than the channel: the first yield comes
    // early on.
    assert!(seen_at < READY_MESSAGES / 2, "seen only at message {seen_at}");
}
