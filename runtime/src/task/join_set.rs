//! [`JoinSet`]: a collection of tasks awaited in completion order.
//!
//! Each entry has its own waker, which queues the entry's key on a shared
//! ready list and wakes the `join_next` caller; so a wake costs one poll of
//! one handle, not a sweep of the whole set. That waker becomes the task's
//! join waker as the entry is added (not at the first `join_next`), so the
//! ready list is in completion order from the start: a task that finished
//! before `join_next` was first polled still comes out in its turn.
//!
//! The list's invariant: each entry's key is queued exactly once, when its
//! task is complete (by the join waker's wake, or by `insert` if the task
//! was complete already), and the entry leaves the set exactly when its
//! key is popped. `detach_all` starts a new list, so a late wake from a
//! detached task (whose key may have been reused) reaches nobody.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use slab::Slab;

use super::{AbortHandle, Id, JoinError, JoinHandle};
use crate::loom::sync::Mutex;
use crate::runtime::coop;
use crate::runtime::Handle;

/// A set of spawned tasks of one output type, awaited in the order they
/// finish. Dropping the set aborts every task still in it.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let mut set = weft::task::JoinSet::new();
/// for i in 0..10u32 {
///     set.spawn(async move { i * 2 });
/// }
/// let mut sum = 0;
/// while let Some(result) = set.join_next().await {
///     sum += result.unwrap();
/// }
/// assert_eq!(sum, 90);
/// # });
/// ```
///
/// The set holds the tasks' outputs once they finish, so it can move to
/// another thread only when they can:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<weft::task::JoinSet<std::rc::Rc<u8>>>();
/// ```
///
/// Sharing it needs no more than that (as Tokio's): a `Cell` output is
/// fine, since only `&mut` reaches the outputs.
///
/// ```
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<weft::task::JoinSet<std::cell::Cell<u8>>>();
/// ```
pub struct JoinSet<T> {
    entries: Slab<Entry<T>>,
    ready: Arc<ReadyList>,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    /// The task's join waker, from `insert` on.
    waker: Waker,
    /// The result, if the task finished while `insert` registered `waker`
    /// (that poll took it). Boxed: rare, and the entry stays small.
    early: Early<T>,
}

/// A result taken early (see [`Entry::early`]), reachable only through
/// `&mut`: so it does not make `JoinSet<T>: Sync` need `T: Sync`, as a
/// plain field would (Tokio's `JoinSet<T>` is `Sync` for `T: Send`).
struct Early<T>(Option<Box<Result<T, JoinError>>>);

impl<T> Early<T> {
    fn take(&mut self) -> Option<Result<T, JoinError>> {
        self.0.take().map(|result| *result)
    }
}

// SAFETY: `Early` has no method taking `&self` and no public field, so a
// shared `&Early<T>` gives no access to the `T` at all; sharing one across
// threads can therefore not make two threads touch a `T` at once, which is
// what `T: Sync` would guard. Moving it (and the `T`) needs `T: Send`.
unsafe impl<T: Send> Sync for Early<T> {}

/// Keys whose handles were woken, and the waker of `join_next`.
struct ReadyList {
    inner: Mutex<ReadyInner>,
}

struct ReadyInner {
    keys: VecDeque<usize>,
    waiter: Option<Waker>,
}

struct EntryWaker {
    key: usize,
    ready: Arc<ReadyList>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let mut inner = self.ready.inner.lock();
            inner.keys.push_back(self.key);
            inner.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        JoinSet { entries: Slab::new(), ready: ReadyList::new() }
    }

    /// Number of tasks in the set (running or finished but not yet joined).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Aborts every task in the set. They stay in the set: `join_next`
    /// returns each one (as a cancelled [`JoinError`] unless it had
    /// finished already).
    pub fn abort_all(&mut self) {
        for (_, entry) in &self.entries {
            entry.handle.abort();
        }
    }

    /// Aborts every task and waits for all of them to finish.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting it: each goes on
    /// running to completion, as a spawned task whose `JoinHandle` was
    /// dropped does, and its output is dropped.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let (tx, rx) = futures_channel::oneshot::channel();
    /// let mut set = weft::task::JoinSet::new();
    /// set.spawn(async move { tx.send("still ran").unwrap() });
    /// set.detach_all();
    /// assert!(set.is_empty());
    /// drop(set); // would abort the task, had it stayed in the set
    /// assert_eq!(rx.await.unwrap(), "still ran");
    /// # });
    /// ```
    pub fn detach_all(&mut self) {
        // Dropping a handle detaches its task. Its join waker may be waking
        // right now (it is the completer's until the wake returns), so the
        // old list is left to those wakes and the set starts a new one.
        self.ready = ReadyList::new();
        // Emptied before anything is dropped: an output's destructor may
        // panic, and a caught panic must leave an empty, working set.
        let entries = std::mem::take(&mut self.entries);
        drop(entries);
    }

    /// Waits for every task and returns their outputs, in the order the
    /// tasks finished (not the order they were spawned).
    ///
    /// # Panics
    /// If a task panicked, this resumes that panic (with its payload), once
    /// the tasks that finished before it are joined; if a task was
    /// cancelled, this panics with its [`JoinError`]. The tasks still in
    /// the set then are aborted, as dropping the set does. To handle
    /// failures instead, loop on [`join_next`](Self::join_next).
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut set = weft::task::JoinSet::new();
    /// for i in 1..=3u32 {
    ///     set.spawn(async move { i * 10 });
    /// }
    /// let mut outputs = set.join_all().await;
    /// outputs.sort();
    /// assert_eq!(outputs, [10, 20, 30]);
    /// # });
    /// ```
    pub async fn join_all(mut self) -> Vec<T> {
        let mut outputs = Vec::with_capacity(self.len());
        while let Some(result) = self.join_next().await {
            match result {
                Ok(output) => outputs.push(output),
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(err) => panic!("a task of `JoinSet::join_all` failed: {err}"),
            }
        }
        outputs
    }

    fn insert(&mut self, mut handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        let waker = Waker::from(Arc::new(EntryWaker { key, ready: self.ready.clone() }));
        // Register the join waker now, so the completion queues the key
        // whenever it happens; unbudgeted, so a spent budget cannot skip
        // the registration. A task already complete is queued here, behind
        // every task that completed before it.
        let mut early = None;
        let complete = handle.is_finished() || {
            match handle.poll_unbudgeted(&mut Context::from_waker(&waker)) {
                Poll::Pending => false,
                Poll::Ready(result) => {
                    early = Some(Box::new(result));
                    true
                }
            }
        };
        entry.insert(Entry { handle, waker, early: Early(early) });
        if complete {
            self.ready.inner.lock().keys.push_back(key);
        }
        abort
    }

    /// Waits for the next task to finish and returns its result; `None`
    /// when the set is empty.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Waits for the next task to finish and returns its [`Id`] with its
    /// output; `None` when the set is empty. A task that panicked or was
    /// cancelled comes back as a [`JoinError`], whose
    /// [`id`](JoinError::id) is the task's.
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut set = weft::task::JoinSet::new();
    /// let mut names = HashMap::new();
    /// for name in ["a", "b", "c"] {
    ///     names.insert(set.spawn(async move { name }).id(), name);
    /// }
    /// while let Some(result) = set.join_next_with_id().await {
    ///     let (id, output) = result.unwrap();
    ///     assert_eq!(names[&id], output);
    /// }
    /// # });
    /// ```
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// The result of a task that has already finished, without waiting:
    /// `None` if none has (or the set is empty). Useful to reap finished
    /// tasks of a long-lived set (an accept loop's connections) so it does
    /// not grow.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        strip_id(self.try_join_next_with_id())
    }

    /// [`try_join_next`](Self::try_join_next) with the task's [`Id`], as
    /// [`join_next_with_id`](Self::join_next_with_id) gives it.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut set = weft::task::JoinSet::new();
    /// let id = set.spawn(async { 7 }).id();
    /// let (got, output) = loop {
    ///     match set.try_join_next_with_id() {
    ///         Some(result) => break result.unwrap(),
    ///         None => weft::task::yield_now().await,
    ///     }
    /// };
    /// assert_eq!((got, output), (id, 7));
    /// assert!(set.try_join_next_with_id().is_none(), "the set is empty");
    /// # });
    /// ```
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        // No waker: nothing waits here, and a waker a `poll_join_next`
        // left must stay (a hand-written poll may drain with this, then
        // return Pending). No coop budget: this never waits, so it cannot
        // yield either.
        match self.poll_ready_entry(None) {
            Poll::Ready(result) => result,
            Poll::Pending => None,
        }
    }

    /// Polls for the next finished task; see [`JoinSet::join_next`].
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx).map(strip_id)
    }

    /// Polls for the next finished task and its [`Id`]; see
    /// [`JoinSet::join_next_with_id`].
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.entries.is_empty() {
            return Poll::Ready(None);
        }
        // One unit of budget per join, however many keys it pops.
        let restore = std::task::ready!(coop::poll_proceed(cx));
        let polled = self.poll_ready_entry(Some(cx.waker()));
        if polled.is_ready() {
            restore.made_progress();
        }
        polled
    }

    /// Takes the result of the first task on the ready list; else leaves
    /// `waiter` (if any) for the next completion. Spends no coop budget.
    fn poll_ready_entry(
        &mut self,
        waiter: Option<&Waker>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.entries.is_empty() {
            return Poll::Ready(None);
        }
        loop {
            let key = {
                let mut inner = self.ready.inner.lock();
                match inner.keys.pop_front() {
                    Some(key) => key,
                    None => {
                        if let Some(waiter) = waiter {
                            inner.waiter = Some(waiter.clone());
                        }
                        return Poll::Pending;
                    }
                }
            };
            // By the list's invariant (module docs) the entry is there and
            // its task complete; a miss is skipped rather than trusted, and
            // a pending entry keeps its join waker, so its key comes back
            // at completion. Terminates: nothing here queues a key.
            let Some(entry) = self.entries.get_mut(key) else { continue };
            let result = match entry.early.take() {
                Some(result) => result,
                None => {
                    let mut entry_cx = Context::from_waker(&entry.waker);
                    match entry.handle.poll_unbudgeted(&mut entry_cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => continue,
                    }
                }
            };
            let id = entry.handle.id();
            self.entries.remove(key);
            return Poll::Ready(Some(result.map(|output| (id, output))));
        }
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime and adds it to the set.
    ///
    /// # Panics
    /// Outside a weft runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(crate::task::spawn(future))
    }

    /// Spawns `future` on the runtime of `handle` and adds it to the set.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, future: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(handle.spawn(future))
    }

    /// Runs the blocking closure `f` on the current runtime's blocking pool,
    /// as [`spawn_blocking`](crate::task::spawn_blocking) does, and adds its
    /// task to the set. Aborting it (or dropping the set) cancels the job
    /// only if it has not started.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut set = weft::task::JoinSet::new();
    /// set.spawn_blocking(|| std::fs::metadata("/").is_ok());
    /// assert_eq!(set.join_next().await.unwrap().unwrap(), true);
    /// # });
    /// ```
    ///
    /// # Panics
    /// Outside a weft runtime.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(crate::task::spawn_blocking(f))
    }

    /// Runs the blocking closure `f` on the blocking pool of `handle`'s
    /// runtime and adds its task to the set; see
    /// [`spawn_blocking`](Self::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &Handle) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(handle.spawn_blocking(f))
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns the `!Send` `future` on the [`LocalSet`](crate::task::LocalSet)
    /// running on this thread, as [`spawn_local`](crate::task::spawn_local)
    /// does, and adds it to the set.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use weft::task::{JoinSet, LocalSet};
    ///
    /// let rt = weft::runtime::Builder::new_current_thread().build().unwrap();
    /// let local = LocalSet::new();
    /// let sum = local.block_on(&rt, async {
    ///     let mut set = JoinSet::new();
    ///     for i in 1..=3 {
    ///         let shared = Rc::new(i); // !Send, held across no await here
    ///         set.spawn_local(async move { *shared });
    ///     }
    ///     set.join_all().await.into_iter().sum::<i32>()
    /// });
    /// assert_eq!(sum, 6);
    /// ```
    ///
    /// # Panics
    /// Outside a `LocalSet` (see `spawn_local`).
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(crate::task::spawn_local(future))
    }

    /// Spawns the `!Send` `future` on `local` and adds it to the set; it
    /// runs when `local` is run (`run_until`, `block_on` or `.await`).
    #[track_caller]
    pub fn spawn_local_on<F>(&mut self, future: F, local: &crate::task::LocalSet) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(local.spawn_local(future))
    }
}

/// A result of the `_with_id` methods, without the id (a failed task's id
/// stays in its `JoinError`).
fn strip_id<T>(result: Option<Result<(Id, T), JoinError>>) -> Option<Result<T, JoinError>> {
    result.map(|result| result.map(|(_, output)| output))
}

impl ReadyList {
    fn new() -> Arc<ReadyList> {
        Arc::new(ReadyList {
            inner: Mutex::new(ReadyInner { keys: VecDeque::new(), waiter: None }),
        })
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}
