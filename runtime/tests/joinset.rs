//! `JoinSet`: joining in completion order, aborting, dropping.

mod common;

use std::collections::HashSet;
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{both_flavors, wait_until_async, with_timeout, DropCounter, Flavor, LONG};
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
