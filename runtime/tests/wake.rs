//! Wakers: wakes from foreign threads, wakes racing with polls, self-wakes.

mod common;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use common::{both_flavors, with_timeout, Flavor};
use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;

both_flavors!(oneshot_sent_from_a_std_thread_wakes_the_task);
fn oneshot_sent_from_a_std_thread_wakes_the_task(flavor: Flavor) {
    with_timeout("oneshot_one", 30, move || {
        let rt = flavor.build();
        let (tx, rx) = oneshot::channel::<u32>();
        let join = rt.spawn(async move { rx.await.expect("sender dropped") + 1 });
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(41).unwrap();
        });
        assert_eq!(rt.block_on(join).unwrap(), 42);
        sender.join().unwrap();
    });
}

both_flavors!(many_oneshots_fired_from_many_std_threads, multi_thread = [1, 2, 4]);
fn many_oneshots_fired_from_many_std_threads(flavor: Flavor) {
    const TASKS: usize = 2_000;
    const THREADS: usize = 8;
    let sum = with_timeout("oneshot_many", 60, move || {
        let rt = flavor.build();
        let mut senders = Vec::with_capacity(TASKS);
        let mut joins = Vec::with_capacity(TASKS);
        for i in 0..TASKS {
            let (tx, rx) = oneshot::channel::<usize>();
            senders.push((i, tx));
            joins.push(rt.spawn(async move { rx.await.expect("sender dropped") }));
        }
        // Deal the senders out to the threads round robin; some threads
        // pause now and then so wakes land both on busy and idle workers.
        let mut per_thread: Vec<Vec<_>> = (0..THREADS).map(|_| Vec::new()).collect();
        for (n, s) in senders.into_iter().enumerate() {
            per_thread[n % THREADS].push(s);
        }
        let threads: Vec<_> = per_thread
            .into_iter()
            .enumerate()
            .map(|(t, batch)| {
                thread::spawn(move || {
                    for (k, (i, tx)) in batch.into_iter().enumerate() {
                        if t % 2 == 0 && k % 50 == 0 {
                            thread::sleep(Duration::from_millis(1));
                        }
                        tx.send(i).unwrap();
                    }
                })
            })
            .collect();
        let sum = rt.block_on(async move {
            let mut sum = 0;
            for join in joins {
                sum += join.await.unwrap();
            }
            sum
        });
        for t in threads {
            t.join().unwrap();
        }
        sum
    });
    assert_eq!(sum, TASKS * (TASKS - 1) / 2, "on {}", flavor.name());
}

both_flavors!(channel_fed_by_a_std_thread);
fn channel_fed_by_a_std_thread(flavor: Flavor) {
    const MESSAGES: u64 = 20_000;
    let sum = with_timeout("mpsc_feed", 30, move || {
        let rt = flavor.build();
        let (tx, mut rx) = mpsc::unbounded::<u64>();
        let consumer = rt.spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.next().await {
                sum += v;
            }
            sum
        });
        let producer = thread::spawn(move || {
            for i in 0..MESSAGES {
                tx.unbounded_send(i).unwrap();
                if i % 1000 == 0 {
                    thread::yield_now();
                }
            }
        });
        producer.join().unwrap();
        rt.block_on(consumer).unwrap()
    });
    assert_eq!(sum, MESSAGES * (MESSAGES - 1) / 2);
}

both_flavors!(task_waking_itself_is_polled_again, multi_thread = [1]);
fn task_waking_itself_is_polled_again(flavor: Flavor) {
    let polls = with_timeout("self_wake", 30, move || {
        let rt = flavor.build();
        rt.block_on(rt.spawn(async {
            let mut polls = 0u32;
            poll_fn(|cx| {
                polls += 1;
                if polls == 1_000 {
                    Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
            polls
        }))
        .unwrap()
    });
    assert_eq!(polls, 1_000);
}

/// A future that stays pending until its flag is set and checks that it is
/// never polled by two threads at once.
struct Contended {
    done: Arc<AtomicBool>,
    in_poll: Arc<AtomicBool>,
    overlaps: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for Contended {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.in_poll.swap(true, Ordering::SeqCst) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        // Give concurrent wakes a window in which the task is running.
        for _ in 0..50 {
            std::hint::spin_loop();
        }
        let ready = self.done.load(Ordering::SeqCst);
        self.in_poll.store(false, Ordering::SeqCst);
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

// The wakes race the polls inside block_on, where a current-thread runtime
// polls the tasks (on its one thread, racing the waking threads).
both_flavors!(concurrent_wakes_never_poll_a_task_twice_at_once, multi_thread = [4]);
fn concurrent_wakes_never_poll_a_task_twice_at_once(flavor: Flavor) {
    const TASKS: usize = 32;
    const WAKERS: usize = 4;
    const ROUNDS: usize = 2_000;
    let overlaps = with_timeout("concurrent_wakes", 60, move || {
        let rt = flavor.build();
        let overlaps = Arc::new(AtomicUsize::new(0));
        let mut slots = Vec::new();
        let mut flags = Vec::new();
        let mut joins = Vec::new();
        for _ in 0..TASKS {
            let done = Arc::new(AtomicBool::new(false));
            let waker = Arc::new(Mutex::new(None));
            joins.push(rt.spawn(Contended {
                done: done.clone(),
                in_poll: Arc::new(AtomicBool::new(false)),
                overlaps: overlaps.clone(),
                waker: waker.clone(),
            }));
            slots.push(waker);
            flags.push(done);
        }
        let slots = Arc::new(slots);
        let mut finished = Vec::new();
        let threads: Vec<_> = (0..WAKERS)
            .map(|t| {
                let slots = slots.clone();
                let (done, finish) = oneshot::channel::<()>();
                finished.push(finish);
                thread::spawn(move || {
                    for round in 0..ROUNDS {
                        for slot in slots.iter() {
                            let waker = slot.lock().unwrap().clone();
                            if let Some(waker) = waker {
                                // Mix the by-value and by-reference wake paths.
                                if (round + t) % 2 == 0 {
                                    waker.wake();
                                } else {
                                    waker.wake_by_ref();
                                }
                            }
                        }
                    }
                    done.send(()).unwrap();
                })
            })
            .collect();
        rt.block_on(async move {
            for finish in finished {
                finish.await.expect("a waking thread died");
            }
            for t in threads {
                t.join().unwrap();
            }
            for (flag, slot) in flags.iter().zip(slots.iter()) {
                flag.store(true, Ordering::SeqCst);
                if let Some(waker) = slot.lock().unwrap().take() {
                    waker.wake();
                }
            }
            for join in joins {
                join.await.expect("contended task failed");
            }
        });
        overlaps.load(Ordering::SeqCst)
    });
    assert_eq!(overlaps, 0, "a task was polled on two threads at once");
}

both_flavors!(waker_clones_dropped_on_other_threads);
fn waker_clones_dropped_on_other_threads(flavor: Flavor) {
    with_timeout("waker_clones", 30, move || {
        let rt = flavor.build();
        let out = rt.block_on(rt.spawn(async {
            let mut first = true;
            poll_fn(|cx| {
                if !first {
                    return Poll::Ready(7);
                }
                first = false;
                // Clones that are only dropped elsewhere, and one that wakes.
                let clones: Vec<Waker> = (0..64).map(|_| cx.waker().clone()).collect();
                let waking = cx.waker().clone();
                thread::spawn(move || {
                    drop(clones);
                    thread::sleep(Duration::from_millis(5));
                    waking.wake();
                });
                Poll::Pending
            })
            .await
        }));
        assert_eq!(out.unwrap(), 7);
    });
}

// On current-thread the two tasks take turns on the one thread.
both_flavors!(tasks_ping_pong_across_workers);
fn tasks_ping_pong_across_workers(flavor: Flavor) {
    const ROUNDS: u32 = 10_000;
    let n = with_timeout("ping_pong", 30, move || {
        let rt = flavor.build();
        let (to_b, mut b_rx) = mpsc::unbounded::<u32>();
        let (to_a, mut a_rx) = mpsc::unbounded::<u32>();
        let b = rt.spawn(async move {
            while let Some(v) = b_rx.next().await {
                if to_a.unbounded_send(v + 1).is_err() {
                    break;
                }
            }
        });
        let a = rt.spawn(async move {
            let mut v = 0;
            for _ in 0..ROUNDS {
                to_b.unbounded_send(v).unwrap();
                v = a_rx.next().await.unwrap();
            }
            v
        });
        let v = rt.block_on(a).unwrap();
        rt.block_on(b).unwrap();
        v
    });
    assert_eq!(n, ROUNDS);
}
