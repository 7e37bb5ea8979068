//! Task identity: [`Id`], and [`id`]/[`try_id`] to ask which task is
//! running.

use crate::runtime::coop;

/// The identity of a task, unique among every task of the process (weft
/// tasks of every runtime and `weft_blocking` jobs alike), even after the
/// task has finished.
///
/// A task gets its id when it is spawned. Read it from its
/// [`JoinHandle`](super::JoinHandle::id) or
/// [`AbortHandle`](super::AbortHandle::id), from inside the task with
/// [`id`], or from its [`JoinError`](super::JoinError::id). `Display`
/// writes the number; the numbers say nothing about the order of spawns
/// on different threads.
///
/// ```
/// use std::collections::HashSet;
///
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let handles: Vec<_> = (0..4).map(|_| weft::spawn(async { weft::task::id() })).collect();
/// let mut seen = HashSet::new();
/// for handle in handles {
///     let id = handle.id();
///     assert_eq!(handle.await.unwrap(), id);
///     assert!(seen.insert(id), "ids are unique");
/// }
/// # });
/// ```
pub use weft_util::Id;

/// The [`Id`] of the task being run on this thread.
///
/// Inside a spawned task (`spawn`, `JoinSet::spawn`...) it is that task's
/// id, in its polls and in its future's destructor; inside a
/// `spawn_blocking` closure, the blocking task's id. The future given to
/// `block_on` is not a task.
///
/// # Panics
/// Outside a task, including in `block_on`'s own future; see [`try_id`]
/// for a version that does not panic.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let handle = weft::spawn(async { weft::task::id() });
/// assert_eq!(handle.id(), handle.await.unwrap());
///
/// let handle = weft::task::spawn_blocking(weft::task::id);
/// assert_eq!(handle.id(), handle.await.unwrap());
/// # });
/// ```
#[track_caller]
pub fn id() -> Id {
    match try_id() {
        Some(id) => id,
        None => panic!(
            "`weft::task::id` called outside a task: only a spawned task (or a `spawn_blocking` \
             closure) has an id, and `block_on`'s own future is not a task; use \
             `weft::task::try_id` where there may be none"
        ),
    }
}

/// The [`Id`] of the task being run on this thread, or `None` outside a
/// task (see [`id`]).
///
/// ```
/// let rt = weft::runtime::Runtime::new().unwrap();
/// assert_eq!(weft::task::try_id(), None);
/// rt.block_on(async {
///     assert_eq!(weft::task::try_id(), None, "block_on's own future is not a task");
///     let inside = weft::spawn(async { weft::task::try_id() }).await.unwrap();
///     assert!(inside.is_some());
/// });
/// ```
pub fn try_id() -> Option<Id> {
    coop::current_task()
}
