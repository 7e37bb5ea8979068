//! `JoinSet`: joining in completion order, aborting, dropping.

mod common;

use std::collections::HashSet;
use std::future::pending;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use common::{
    both_flavors, poll_once, wait_until_async, with_timeout, DropCounter, DropFlag, Flavor, LONG,
};
use futures_channel::oneshot;
use futures_util::FutureExt;
use weft::task::{yield_now, JoinSet};

both_flavors!(join_next_returns_every_output);
fn join_next_returns_every_output(flavor: Flavor) {
    const N: usize = 500;
    let seen = with_timeout("join_next_all", 30, move || {
        let rt = flavor.build();
        rt.block_on(rt.spawn(async {
            let mut set = JoinSet::new();
            assert!(set.is_empty());
            for i in 0..N {
                set.spawn(async move {
                    if i % 3 == 0 {
                        yield_now().await;
                    }
                    i
                });
            }
            assert_eq!(set.len(), N);
            assert!(!set.is_empty());
            let mut seen = HashSet::new();
            while let Some(res) = set.join_next().await {
                assert!(seen.insert(res.expect("task failed")), "output twice");
                assert_eq!(set.len(), N - seen.len());
            }
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
            seen
        }))
        .unwrap()
    });
    assert_eq!(seen, (0..N).collect::<HashSet<_>>());
}

both_flavors!(join_set_in_block_on_and_default);
fn join_set_in_block_on_and_default(flavor: Flavor) {
    with_timeout("join_set_block_on", 30, move || {
        let rt = flavor.build();
        let sum = rt.block_on(async {
            let mut set: JoinSet<u64> = JoinSet::default();
            for i in 1..=10 {
                set.spawn(async move { i });
            }
            let mut sum = 0;
            while let Some(res) = set.join_next().await {
                sum += res.unwrap();
            }
            sum
        });
        assert_eq!(sum, 55);
    });
}

both_flavors!(abort_all_yields_cancelled_results);
fn abort_all_yields_cancelled_results(flavor: Flavor) {
    const N: usize = 64;
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let cancelled = with_timeout("abort_all", 30, move || {
        let rt = flavor.build();
        rt.block_on(rt.spawn(async move {
            let mut set = JoinSet::new();
            for _ in 0..N {
                let counter = DropCounter(d.clone());
                set.spawn(async move {
                    let _counter = counter;
                    pending::<()>().await;
                });
            }
            // Let some of them start running first.
            yield_now().await;
            set.abort_all();
            let mut cancelled = 0;
            while let Some(res) = set.join_next().await {
                let err = res.expect_err("aborted task must give Err");
                assert!(err.is_cancelled(), "{err:?}");
                cancelled += 1;
            }
            assert!(set.is_empty());
            cancelled
        }))
        .unwrap()
    });
    assert_eq!(cancelled, N);
    assert_eq!(dropped.load(Ordering::SeqCst), N);
}

both_flavors!(abort_handle_from_spawn_aborts_one_task);
fn abort_handle_from_spawn_aborts_one_task(flavor: Flavor) {
    with_timeout("join_set_abort_one", 30, move || {
        let rt = flavor.build();
        let (ok, cancelled) = rt
            .block_on(rt.spawn(async {
                let mut set = JoinSet::new();
                for i in 0..10u32 {
                    set.spawn(async move { i });
                }
                let victim = set.spawn(pending::<u32>());
                victim.abort();
                let (mut ok, mut cancelled) = (0, 0);
                while let Some(res) = set.join_next().await {
                    match res {
                        Ok(_) => ok += 1,
                        Err(e) if e.is_cancelled() => cancelled += 1,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                (ok, cancelled)
            }))
            .unwrap();
        assert_eq!((ok, cancelled), (10, 1));
    });
}

both_flavors!(join_set_reports_panics);
fn join_set_reports_panics(flavor: Flavor) {
    with_timeout("join_set_panics", 30, move || {
        let rt = flavor.build();
        let (ok, panicked) = rt
            .block_on(rt.spawn(async {
                let mut set = JoinSet::new();
                for i in 0..20u32 {
                    set.spawn(async move {
                        assert!(i % 4 != 0, "multiple of four");
                        i
                    });
                }
                let (mut ok, mut panicked) = (0, 0);
                while let Some(res) = set.join_next().await {
                    match res {
                        Ok(_) => ok += 1,
                        Err(e) if e.is_panic() => panicked += 1,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                (ok, panicked)
            }))
            .unwrap();
        assert_eq!((ok, panicked), (15, 5));
    });
}

both_flavors!(dropping_a_join_set_aborts_its_tasks);
fn dropping_a_join_set_aborts_its_tasks(flavor: Flavor) {
    const N: usize = 100;
    with_timeout("join_set_drop", 30, move || {
        let rt = flavor.build();
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        rt.block_on(rt.spawn(async move {
            let mut set = JoinSet::new();
            for _ in 0..N {
                let counter = DropCounter(d.clone());
                set.spawn(async move {
                    let _counter = counter;
                    pending::<()>().await;
                });
            }
            yield_now().await;
            drop(set);
        }))
        .unwrap();
        // Waited for inside block_on, where a current-thread runtime runs
        // the aborted tasks.
        assert!(
            rt.block_on(wait_until_async(LONG, || dropped.load(Ordering::SeqCst) == N)),
            "only {} of {N} futures dropped after the JoinSet was dropped",
            dropped.load(Ordering::SeqCst)
        );
        // The runtime is still alive and the tasks are gone.
        assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
        assert!(rt.block_on(wait_until_async(LONG, || rt.metrics().num_alive_tasks() == 0)));
    });
}

both_flavors!(try_join_next_takes_only_finished_tasks);
fn try_join_next_takes_only_finished_tasks(flavor: Flavor) {
    with_timeout("try_join_next", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let mut set = JoinSet::new();
            assert!(set.try_join_next().is_none(), "empty set");
            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                1u32
            });
            for _ in 0..10 {
                set.spawn(async { 2u32 });
            }
            // The ten quick ones finish and are taken without waiting; the
            // first one waits for `tx`.
            let mut quick = 0;
            let all_quick = wait_until_async(LONG, || {
                while let Some(result) = set.try_join_next() {
                    assert_eq!(result.unwrap(), 2);
                    quick += 1;
                }
                quick == 10
            })
            .await;
            assert!(all_quick, "only {quick} of the 10 quick tasks were taken");
            assert_eq!(set.len(), 1);
            assert!(set.try_join_next().is_none(), "the waiting task has not finished");
            tx.send(()).unwrap();
            assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
            assert!(set.is_empty());
        });
    });
}

both_flavors!(spawn_blocking_jobs_are_tracked_and_joined);
fn spawn_blocking_jobs_are_tracked_and_joined(flavor: Flavor) {
    with_timeout("join_set_spawn_blocking", 30, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let outputs = rt.block_on(async move {
            let mut set = JoinSet::new();
            let waiting = set.spawn_blocking(move || {
                gate.recv().unwrap();
                std::thread::current().name().map(str::to_owned)
            });
            set.spawn_blocking_on(|| Some("on".to_owned()), &handle);
            set.spawn(async { Some("async".to_owned()) });
            assert_eq!(set.len(), 3);
            let mut outputs = Vec::new();
            for _ in 0..2 {
                outputs.push(set.join_next().await.unwrap().unwrap());
            }
            assert!(!waiting.is_finished(), "the job is still blocked");
            assert_eq!(set.len(), 1, "the set tracks the blocked job");
            release.send(()).unwrap();
            let (id, name) = set.join_next_with_id().await.unwrap().unwrap();
            assert_eq!(id, waiting.id());
            assert!(set.join_next().await.is_none());
            outputs.push(name);
            outputs
        });
        assert_eq!(outputs[..2].iter().filter(|o| o.is_some()).count(), 2);
        assert!(outputs[..2].contains(&Some("on".to_owned())));
        assert!(outputs[..2].contains(&Some("async".to_owned())));
        // The blocking pool's threads carry the runtime's thread name.
        assert_eq!(outputs[2].as_deref(), Some("weft-worker"), "ran on a pool thread");
    });
}

// One worker: with two, a task's completion (`is_finished`) and its wake
// of the set are two steps, and the next task could finish in between.
both_flavors!(join_all_returns_outputs_in_completion_order, multi_thread = [1]);
fn join_all_returns_outputs_in_completion_order(flavor: Flavor) {
    with_timeout("join_all_order", 30, move || {
        let rt = flavor.build();
        let outputs = rt.block_on(async {
            let mut set = JoinSet::new();
            let mut gates = Vec::new();
            let mut aborts = Vec::new();
            for i in 0..4usize {
                let (tx, rx) = oneshot::channel::<()>();
                aborts.push(set.spawn(async move {
                    rx.await.unwrap();
                    i
                }));
                gates.push(Some(tx));
            }
            let mut all = Box::pin(set.join_all());
            // The first poll registers the set's interest in every task.
            assert!(poll_once(&mut all).is_pending());
            for i in [2, 0, 3, 1] {
                gates[i].take().unwrap().send(()).unwrap();
                let finished = &aborts[i];
                assert!(wait_until_async(LONG, || finished.is_finished()).await);
            }
            all.await
        });
        assert_eq!(outputs, [2, 0, 3, 1]);
    });
}

both_flavors!(join_all_resumes_a_task_panic_and_aborts_the_rest);
fn join_all_resumes_a_task_panic_and_aborts_the_rest(flavor: Flavor) {
    with_timeout("join_all_panic", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let rest_dropped = Arc::new(AtomicBool::new(false));
            let mut set = JoinSet::new();
            let flag = DropFlag(rest_dropped.clone());
            set.spawn(async move {
                let _flag = flag;
                pending::<u32>().await
            });
            set.spawn(async { std::panic::panic_any(7u32) });
            let payload = AssertUnwindSafe(set.join_all())
                .catch_unwind()
                .await
                .expect_err("join_all must resume the task's panic");
            assert_eq!(payload.downcast_ref::<u32>(), Some(&7), "the task's own payload");
            assert!(wait_until_async(LONG, || rest_dropped.load(Ordering::SeqCst)).await);
        });
    });
}

both_flavors!(join_all_panics_on_a_cancelled_task);
fn join_all_panics_on_a_cancelled_task(flavor: Flavor) {
    with_timeout("join_all_cancelled", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { 1u8 });
            set.spawn(pending::<u8>()).abort();
            let payload = AssertUnwindSafe(set.join_all())
                .catch_unwind()
                .await
                .expect_err("join_all must panic on a cancelled task");
            let message = common::panic_message(&*payload);
            assert!(message.contains("cancelled"), "{message}");
        });
    });
}

both_flavors!(detach_all_leaves_tasks_running_to_completion);
fn detach_all_leaves_tasks_running_to_completion(flavor: Flavor) {
    with_timeout("detach_all", 30, move || {
        let rt = flavor.build();
        let finished = Arc::new(AtomicUsize::new(0));
        let (release, gate) = oneshot::channel::<()>();
        let (job_release, job_gate) = std::sync::mpsc::channel::<()>();
        let outputs_dropped = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (f1, f2) = (finished.clone(), finished.clone());
            let (d1, d2) = (outputs_dropped.clone(), outputs_dropped.clone());
            set.spawn(async move {
                gate.await.unwrap();
                f1.fetch_add(1, Ordering::SeqCst);
                DropCounter(d1)
            });
            set.spawn_blocking(move || {
                job_gate.recv().unwrap();
                f2.fetch_add(1, Ordering::SeqCst);
                DropCounter(d2)
            });
            set.detach_all();
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
            // Dropping the set aborts only what is still in it: nothing.
            drop(set);
            release.send(()).unwrap();
            job_release.send(()).unwrap();
            assert!(wait_until_async(LONG, || finished.load(Ordering::SeqCst) == 2).await);
            // Nobody joins the detached tasks: their outputs are dropped.
            assert!(wait_until_async(LONG, || outputs_dropped.load(Ordering::SeqCst) == 2).await);
        });
    });
}

#[test]
fn detach_all_then_reuse_the_set() {
    with_timeout("detach_all_reuse", 30, || {
        let rt = common::current_thread();
        let outputs = rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..8u32 {
                set.spawn(async move { i });
            }
            set.detach_all();
            for i in 100..103u32 {
                set.spawn(async move { i });
            }
            let mut outputs = set.join_all().await;
            outputs.sort();
            outputs
        });
        assert_eq!(outputs, [100, 101, 102], "only the tasks added after detach_all");
    });
}

/// Spawns one task per gate into `set`; task `i` waits for its gate, then
/// returns `i` (with a drop counter on `futures` in its future and one on
/// `outputs` in its output).
fn spawn_gated(
    set: &mut JoinSet<(usize, DropCounter)>,
    n: usize,
    futures: &Arc<AtomicUsize>,
    outputs: &Arc<AtomicUsize>,
) -> (Vec<Option<oneshot::Sender<()>>>, Vec<weft::task::AbortHandle>) {
    let mut gates = Vec::new();
    let mut aborts = Vec::new();
    for i in 0..n {
        let (tx, rx) = oneshot::channel::<()>();
        let in_future = DropCounter(futures.clone());
        let output = DropCounter(outputs.clone());
        aborts.push(set.spawn(async move {
            let _in_future = in_future;
            rx.await.unwrap();
            (i, output)
        }));
        gates.push(Some(tx));
    }
    (gates, aborts)
}

/// Opens gate `i` and waits until task `i` has finished. On a current-
/// thread runtime, or a multi-thread one with a single worker, the task's
/// completion (its join waker's wake included) is over before the next
/// task runs, so the completion order is exactly the order of the calls.
async fn finish(
    gates: &mut [Option<oneshot::Sender<()>>],
    aborts: &[weft::task::AbortHandle],
    i: usize,
) {
    gates[i].take().unwrap().send(()).unwrap();
    let task = &aborts[i];
    assert!(wait_until_async(LONG, || task.is_finished()).await, "task {i} did not finish");
}

/// `try_join_next`, retried until it has a task: a finished task's key
/// reaches the set by its join waker's wake, a step after `is_finished`
/// turns true (which is all `finish` waits for).
async fn try_join_next_soon(set: &mut JoinSet<(usize, DropCounter)>) -> usize {
    let mut taken = None;
    let found = wait_until_async(LONG, || {
        taken = set.try_join_next();
        taken.is_some()
    })
    .await;
    assert!(found, "a finished task never reached the set");
    taken.unwrap().unwrap().0
}

const ORDER: [usize; 6] = [3, 0, 5, 1, 4, 2];

// One worker: with several, a task's completion and its join waker's wake
// are two steps, and the next task could complete on another worker in
// between, making the order the test expects a race.
both_flavors!(join_next_yields_completion_order_of_tasks_finished_before_it, multi_thread = [1]);
fn join_next_yields_completion_order_of_tasks_finished_before_it(flavor: Flavor) {
    let futures = Arc::new(AtomicUsize::new(0));
    let outputs = Arc::new(AtomicUsize::new(0));
    let (f, o) = (futures.clone(), outputs.clone());
    let got = with_timeout("join_next_order", 60, move || {
        let rt = flavor.build();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            let (mut gates, aborts) = spawn_gated(&mut set, ORDER.len(), &f, &o);
            // Every task finishes before `join_next` is first polled.
            for i in ORDER {
                finish(&mut gates, &aborts, i).await;
            }
            let mut got = Vec::new();
            while let Some(result) = set.join_next().await {
                got.push(result.unwrap().0);
            }
            got
        })
    });
    assert_eq!(got, ORDER, "join_next must follow the completion order");
    assert_eq!(futures.load(Ordering::SeqCst), ORDER.len(), "every future dropped");
    assert_eq!(outputs.load(Ordering::SeqCst), ORDER.len(), "every output dropped");
}

both_flavors!(try_join_next_yields_completion_order, multi_thread = [1]);
fn try_join_next_yields_completion_order(flavor: Flavor) {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let got = with_timeout("try_join_next_order", 60, move || {
        let rt = flavor.build();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            let (mut gates, aborts) = spawn_gated(&mut set, ORDER.len(), &c, &c);
            let mut got = Vec::new();
            // Half finish before anything is joined, then the set is
            // drained and the rest finish one by one, each taken at once.
            for &i in &ORDER[..3] {
                finish(&mut gates, &aborts, i).await;
            }
            for _ in 0..3 {
                got.push(try_join_next_soon(&mut set).await);
            }
            for &i in &ORDER[3..] {
                finish(&mut gates, &aborts, i).await;
                got.push(try_join_next_soon(&mut set).await);
            }
            assert!(set.try_join_next().is_none() && set.is_empty());
            got
        })
    });
    assert_eq!(got, ORDER);
    assert_eq!(counter.load(Ordering::SeqCst), 2 * ORDER.len(), "futures and outputs dropped");
}

both_flavors!(aborted_tasks_come_out_in_the_order_they_ended, multi_thread = [1]);
fn aborted_tasks_come_out_in_the_order_they_ended(flavor: Flavor) {
    let futures = Arc::new(AtomicUsize::new(0));
    let outputs = Arc::new(AtomicUsize::new(0));
    let (f, o) = (futures.clone(), outputs.clone());
    with_timeout("join_next_abort_order", 60, move || {
        let rt = flavor.build();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            let (mut gates, aborts) = spawn_gated(&mut set, 5, &f, &o);
            let ids: Vec<_> = aborts.iter().map(|a| a.id()).collect();
            // Completions and aborts interleaved: 2 ends, 4 is aborted, 0
            // ends, 1 is aborted, 3 ends.
            finish(&mut gates, &aborts, 2).await;
            aborts[4].abort();
            assert!(wait_until_async(LONG, || aborts[4].is_finished()).await);
            finish(&mut gates, &aborts, 0).await;
            aborts[1].abort();
            assert!(wait_until_async(LONG, || aborts[1].is_finished()).await);
            // Aborting a finished task changes nothing.
            aborts[2].abort();
            finish(&mut gates, &aborts, 3).await;
            let mut got = Vec::new();
            while let Some(result) = set.join_next_with_id().await {
                got.push(match result {
                    Ok((id, (i, _output))) => {
                        assert_eq!(id, ids[i]);
                        Ok(i)
                    }
                    Err(err) => {
                        assert!(err.is_cancelled(), "{err}");
                        Err(ids.iter().position(|&id| id == err.id()).unwrap())
                    }
                });
            }
            assert_eq!(got, [Ok(2), Err(4), Ok(0), Err(1), Ok(3)]);
        });
    });
    assert_eq!(futures.load(Ordering::SeqCst), 5, "every future dropped, aborted or not");
    assert_eq!(outputs.load(Ordering::SeqCst), 5, "outputs and unrun outputs' captures dropped");
}

both_flavors!(dropping_a_set_of_finished_unjoined_tasks_leaks_nothing);
fn dropping_a_set_of_finished_unjoined_tasks_leaks_nothing(flavor: Flavor) {
    const N: usize = 8;
    let futures = Arc::new(AtomicUsize::new(0));
    let outputs = Arc::new(AtomicUsize::new(0));
    let (f, o) = (futures.clone(), outputs.clone());
    with_timeout("join_set_drop_finished", 60, move || {
        let rt = flavor.build();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            let (mut gates, aborts) = spawn_gated(&mut set, N, &f, &o);
            // Half finish and are never joined but one; half never finish.
            for i in 0..N / 2 {
                finish(&mut gates, &aborts, i).await;
            }
            let (_, joined) = set.join_next().await.unwrap().unwrap();
            drop(joined);
            drop(set);
            assert!(wait_until_async(LONG, || f.load(Ordering::SeqCst) == N).await);
        });
        assert!(
            rt.block_on(wait_until_async(LONG, || rt.metrics().num_alive_tasks() == 0)),
            "every task is gone"
        );
    });
    assert_eq!(futures.load(Ordering::SeqCst), N, "every future dropped");
    assert_eq!(outputs.load(Ordering::SeqCst), N, "every output (or its capture) dropped");
}

// A hand-written poll that registers with `poll_join_next` and then drains
// with `try_join_next` must still be woken by the next completion:
// `try_join_next` leaves the registered waker alone.
both_flavors!(try_join_next_keeps_the_waker_of_poll_join_next);
fn try_join_next_keeps_the_waker_of_poll_join_next(flavor: Flavor) {
    with_timeout("try_join_keeps_waker", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                5u8
            });
            let mut tx = Some(tx);
            let got = std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = set.poll_join_next(cx) {
                    return Poll::Ready(result);
                }
                assert!(set.try_join_next().is_none(), "the task cannot have finished");
                // Let the task finish only now, after `try_join_next`.
                if let Some(tx) = tx.take() {
                    tx.send(()).unwrap();
                }
                Poll::Pending
            })
            .await;
            assert_eq!(got.unwrap().unwrap(), 5);
        });
    });
}
