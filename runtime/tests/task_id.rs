//! Task identity: `Id`s are unique, every handle and the task itself agree
//! on them, `task::id`/`try_id` say which task is running (and that
//! `block_on`'s own future is none), and errors and `JoinSet` results
//! carry them.

mod common;

use std::collections::{HashMap, HashSet};
use std::future::pending;
use std::sync::{Arc, Mutex};

use common::{both_flavors, expect_panic, runtime, with_timeout, Flavor};
use weft::task::{self, Id, JoinSet};

both_flavors!(ids_are_unique_across_spawns_and_runtimes);
fn ids_are_unique_across_spawns_and_runtimes(flavor: Flavor) {
    const N: usize = 1000;
    let ids = with_timeout("unique_ids", 60, move || {
        // Two runtimes at once, each spawning from outside and from inside
        // (through its own tasks), plus blocking tasks.
        let (a, b) = (flavor.build(), flavor.build());
        let mut handles = Vec::new();
        for i in 0..N {
            let rt = if i % 2 == 0 { &a } else { &b };
            handles.push((rt, rt.spawn(async { task::id() })));
        }
        let nested = a.block_on(async {
            let inner: Vec<_> = (0..N).map(|_| weft::spawn(async { task::id() })).collect();
            let mut ids = Vec::new();
            for handle in inner {
                let id = handle.id();
                assert_eq!(handle.await.unwrap(), id);
                ids.push(id);
            }
            ids
        });
        let blocking: Vec<_> = (0..50).map(|_| (&b, b.spawn_blocking(task::id))).collect();
        let mut ids = nested;
        // Each awaited in its own runtime's block_on (a current-thread
        // runtime runs its tasks only there).
        for (rt, handle) in handles.into_iter().chain(blocking) {
            let id = handle.id();
            let inside = rt.block_on(handle).unwrap();
            assert_eq!(inside, id, "the handle and the task agree");
            ids.push(id);
        }
        ids
    });
    let distinct: HashSet<Id> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was handed out twice");
}

both_flavors!(the_handles_and_the_task_agree_on_the_id);
fn the_handles_and_the_task_agree_on_the_id(flavor: Flavor) {
    with_timeout("handle_ids", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let handle = weft::spawn(async {
                let first = task::id();
                // The id stays the task's across polls (and workers).
                for _ in 0..10 {
                    task::yield_now().await;
                    assert_eq!(task::try_id(), Some(first));
                }
                first
            });
            let abort = handle.abort_handle();
            assert_eq!(abort.id(), handle.id());
            assert_eq!(abort.clone().id(), handle.id());
            let id = handle.id();
            assert_eq!(handle.await.unwrap(), id);
            assert_eq!(abort.id(), id, "still readable after the task finished");
            assert!(format!("{abort:?}").contains(&format!("{id:?}")));
        });
    });
}

both_flavors!(try_id_is_none_outside_a_task_and_in_block_on);
fn try_id_is_none_outside_a_task_and_in_block_on(flavor: Flavor) {
    with_timeout("try_id_outside", 30, move || {
        assert_eq!(task::try_id(), None);
        let message = expect_panic(task::id);
        assert!(message.contains("`weft::task::id` called outside a task"), "{message}");
        let rt = flavor.build();
        rt.block_on(async {
            assert_eq!(task::try_id(), None, "block_on's own future is not a task");
            // Still none after tasks ran on this thread (current-thread
            // flavor: inside this very block_on) and restored the scope.
            let inside = weft::spawn(async { task::try_id() }).await.unwrap();
            assert!(inside.is_some());
            task::yield_now().await;
            assert_eq!(task::try_id(), None);
        });
        assert_eq!(task::try_id(), None);
    });
}

both_flavors!(a_blocking_task_has_its_id_and_nested_block_on_has_none);
fn a_blocking_task_has_its_id_and_nested_block_on_has_none(flavor: Flavor) {
    with_timeout("blocking_ids", 30, move || {
        let rt = flavor.build();
        let other = runtime(1);
        let other_handle = other.handle().clone();
        let handle = rt.spawn_blocking(move || {
            let mine = task::id();
            // `block_on` inside the blocking task: its future is not a task
            // (not this one either), the tasks it awaits are, and this task's
            // id is back once it returns.
            let (in_block_on, spawned) = other_handle.block_on(async {
                let in_block_on = task::try_id();
                let spawned = weft::spawn(async { task::id() }).await.unwrap();
                (in_block_on, spawned)
            });
            assert_eq!(in_block_on, None);
            assert_ne!(spawned, mine);
            assert_eq!(task::try_id(), Some(mine));
            mine
        });
        let id = handle.id();
        assert_eq!(rt.block_on(handle).unwrap(), id);
        // The free function, from inside the runtime.
        let (id, inside) = rt.block_on(async {
            let handle = task::spawn_blocking(task::try_id);
            (handle.id(), handle.await.unwrap())
        });
        assert_eq!(inside, Some(id));
    });
}

both_flavors!(a_join_error_carries_the_task_id);
fn a_join_error_carries_the_task_id(flavor: Flavor) {
    with_timeout("join_error_ids", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let panicked = weft::spawn(async { panic!("boom") });
            let id = panicked.id();
            let err = panicked.await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.id(), id);
            assert!(err.to_string().contains(&format!("task {id} panicked")), "{err}");

            let aborted = weft::spawn(pending::<()>());
            let id = aborted.id();
            aborted.abort();
            let err = aborted.await.unwrap_err();
            assert!(err.is_cancelled());
            assert_eq!(err.id(), id);

            let blocking = task::spawn_blocking(|| panic!("blocking boom"));
            let id = blocking.id();
            assert_eq!(blocking.await.unwrap_err().id(), id);
        });
        // Cancelled by the runtime's shutdown.
        let stranded = rt.spawn(pending::<()>());
        let id = stranded.id();
        drop(rt);
        let err = runtime(1).block_on(stranded).unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.id(), id);
    });
}

/// Records `task::try_id()` when dropped.
struct RecordOnDrop(Arc<Mutex<Vec<Option<Id>>>>);

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(task::try_id());
    }
}

both_flavors!(a_future_is_dropped_as_part_of_its_task);
fn a_future_is_dropped_as_part_of_its_task(flavor: Flavor) {
    with_timeout("drop_ids", 30, move || {
        let rt = flavor.build();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (finished, aborted) = rt.block_on(async {
            let guard = RecordOnDrop(seen.clone());
            let finished = weft::spawn(async move {
                let _guard = guard;
                task::yield_now().await;
            });
            let id = finished.id();
            finished.await.unwrap();

            let guard = RecordOnDrop(seen.clone());
            let aborted = weft::spawn(async move {
                let _guard = guard;
                pending::<()>().await
            });
            task::yield_now().await;
            let abort_id = aborted.id();
            aborted.abort();
            assert!(aborted.await.unwrap_err().is_cancelled());
            (id, abort_id)
        });
        assert_eq!(*seen.lock().unwrap(), [Some(finished), Some(aborted)]);
    });
}

both_flavors!(join_next_with_id_pairs_ids_with_outputs);
fn join_next_with_id_pairs_ids_with_outputs(flavor: Flavor) {
    const N: usize = 200;
    with_timeout("join_next_with_id", 30, move || {
        let rt = flavor.build();
        rt.block_on(rt.spawn(async {
            let mut set = JoinSet::new();
            let mut expected = HashMap::new();
            for i in 0..N {
                let abort = set.spawn(async move {
                    if i % 3 == 0 {
                        task::yield_now().await;
                    }
                    (task::id(), i)
                });
                expected.insert(abort.id(), i);
            }
            let panicked = set.spawn(async { panic!("boom") }).id();
            let aborted = set.spawn(pending());
            let aborted_id = aborted.id();
            aborted.abort();

            let mut errors = HashSet::new();
            while let Some(result) = set.join_next_with_id().await {
                match result {
                    Ok((id, (inside, i))) => {
                        assert_eq!(inside, id, "the id given is the task's own");
                        assert_eq!(expected.remove(&id), Some(i), "paired with its output");
                    }
                    Err(err) => assert!(errors.insert(err.id())),
                }
            }
            assert!(expected.is_empty(), "every task came back once");
            assert_eq!(errors, HashSet::from([panicked, aborted_id]));
        }))
        .unwrap();
    });
}

both_flavors!(try_join_next_with_id_takes_only_finished_tasks);
fn try_join_next_with_id_takes_only_finished_tasks(flavor: Flavor) {
    with_timeout("try_join_next_with_id", 30, move || {
        let rt = flavor.build();
        rt.block_on(rt.spawn(async {
            let mut set = JoinSet::new();
            assert!(set.try_join_next_with_id().is_none(), "empty set");
            let stuck = set.spawn(async {
                pending::<()>().await;
                0
            });
            let done = set.spawn(async { 7 }).id();
            let (id, output) = loop {
                match set.try_join_next_with_id() {
                    Some(result) => break result.unwrap(),
                    None => task::yield_now().await,
                }
            };
            assert_eq!((id, output), (done, 7));
            // Only the stuck task is left: nothing finished to take.
            for _ in 0..10 {
                task::yield_now().await;
                assert!(set.try_join_next_with_id().is_none());
            }
            stuck.abort();
            let err = loop {
                match set.try_join_next_with_id() {
                    Some(result) => break result.unwrap_err(),
                    None => task::yield_now().await,
                }
            };
            assert_eq!(err.id(), stuck.id());
            assert!(set.is_empty());
        }))
        .unwrap();
    });
}
