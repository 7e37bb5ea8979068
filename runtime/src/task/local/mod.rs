//! `!Send` tasks: [`LocalSet`] and [`spawn_local`].
//!
//! A `LocalSet` is a set of tasks that all run on the thread that owns
//! it, inside its [`run_until`](LocalSet::run_until) (or while the set
//! itself is awaited), so their futures may hold `Rc`, `RefCell` and other
//! `!Send` state across `.await`s. It is what Tokio servers with `!Send`
//! state use (Tokio's `LocalRuntime` is unstable there), and it works
//! inside `block_on` of either runtime flavor: the set is just a future
//! that `block_on` polls on its own thread.
//!
//! The rule that makes it sound: a local task's future is polled and
//! dropped only on the set's thread, while its `Waker`, `JoinHandle` and
//! `AbortHandle` are `Send` (the `JoinHandle` when the output is) and may be
//! woken, cloned, dropped and aborted from any thread. A wake or abort from
//! elsewhere only queues the task to the set and wakes whoever runs it;
//! the owner polls (or cancels) it. See `shared.rs`.

mod shared;

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};

use shared::Shared;

use crate::loom::sync::Arc;
use crate::loom::thread_local_const;
use crate::runtime::task::JoinHandle;
use crate::runtime::Runtime;

/// Tasks a set polls in one go before it lets its runner's other work
/// (the `run_until` future, other tasks of the runtime) have a turn.
const TASKS_PER_TICK: usize = 64;

thread_local_const! {
    /// The set running on this thread (innermost first when nested), for
    /// `spawn_local`.
    static CURRENT: RefCell<Option<Arc<Shared>>> = RefCell::new(None);
}

/// A set of `!Send` tasks that run on the thread that owns the set.
///
/// Spawn with [`LocalSet::spawn_local`], or with [`spawn_local`] from
/// inside the set; the tasks run while the set is driven by
/// [`run_until`](LocalSet::run_until), [`block_on`](LocalSet::block_on) or
/// by awaiting the set itself (which finishes once all its tasks have).
/// Chosen over Tokio's `LocalRuntime` because `LocalSet` is what existing
/// Tokio servers use (`LocalRuntime` is unstable in Tokio); it works inside
/// `block_on` of both runtime flavors.
///
/// A local task's `Waker` and `AbortHandle` may be used from any thread:
/// the task then waits for the set's thread to poll or cancel it. Each
/// poll gets weft's usual cooperative budget, and a panicking task ends
/// with a panic [`JoinError`](crate::task::JoinError) while the set keeps
/// running the others. Dropping the set drops every future it still holds,
/// on its own thread; their `JoinHandle`s then report cancelled.
///
/// ```
/// use std::rc::Rc;
/// use weft::task::LocalSet;
///
/// let rt = weft::runtime::Runtime::new().unwrap();
/// let local = LocalSet::new();
/// let total = local.block_on(&rt, async {
///     let shared = Rc::new(20);
///     let task = weft::task::spawn_local({
///         let shared = shared.clone();
///         async move {
///             weft::task::yield_now().await;
///             *shared + 1
///         }
///     });
///     *shared + task.await.unwrap() + 1
/// });
/// assert_eq!(total, 42);
/// ```
///
/// The set stays on its thread: it is neither `Send`...
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<weft::task::LocalSet>();
/// ```
///
/// ...nor `Sync`:
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<weft::task::LocalSet>();
/// ```
///
/// ...so a future that drives one cannot become a (work-stealing) task:
///
/// ```compile_fail
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// weft::spawn(async {
///     let local = weft::task::LocalSet::new();
///     local.run_until(weft::task::yield_now()).await;
/// });
/// # });
/// ```
pub struct LocalSet {
    shared: Arc<Shared>,
    /// `!Send` and `!Sync`: the set's thread is the one that polls and
    /// drops its tasks.
    _not_send: PhantomData<Rc<()>>,
}

impl LocalSet {
    /// An empty set.
    pub fn new() -> LocalSet {
        LocalSet { shared: Shared::new(), _not_send: PhantomData }
    }

    /// Spawns a `!Send` future onto this set and returns its
    /// [`JoinHandle`]. It first runs when the set is next driven
    /// ([`run_until`](LocalSet::run_until), [`block_on`](LocalSet::block_on)
    /// or awaiting the set).
    ///
    /// ```
    /// let rt = weft::runtime::Runtime::new().unwrap();
    /// let local = weft::task::LocalSet::new();
    /// let cell = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let handle = local.spawn_local({
    ///     let cell = cell.clone();
    ///     async move { cell.set(7) }
    /// });
    /// local.block_on(&rt, handle).unwrap();
    /// assert_eq!(cell.get(), 7);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Shared::spawn(&self.shared, future)
    }

    /// Runs `future` on this thread, running the set's tasks meanwhile,
    /// and returns its output. Tasks still pending when it returns stay in
    /// the set and run the next time it is driven.
    ///
    /// Inside it, [`spawn_local`] spawns onto this set.
    ///
    /// A set wakes the waker of the driver that polled it last. Two
    /// drivers of one set polled side by side under different wakers (two
    /// `run_until`s in one `join`) may leave one of them unwoken; drive a
    /// set from one place, as in Tokio.
    pub async fn run_until<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        poll_fn(|cx| {
            let _enter = self.enter();
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            let more = self.tick();
            // Registered after the future and the tasks ran, since either
            // may have driven this same set under another waker (a nested
            // `run_until`); then looked at the queue once more, so a push
            // from another thread before the registration is not missed.
            self.shared.register(cx.waker());
            if more || self.shared.has_queued() {
                // Work left after a full tick: come back after the
                // runner's other work has had a turn.
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        })
        .await
    }

    /// Runs `future` with this set on `rt`: `rt.block_on(self.run_until(future))`.
    ///
    /// # Panics
    /// Where [`Runtime::block_on`] panics (inside another `block_on` or a
    /// runtime worker).
    pub fn block_on<F: Future>(&self, rt: &Runtime, future: F) -> F::Output {
        rt.block_on(self.run_until(future))
    }

    /// Makes this set the one `spawn_local` uses on this thread until the
    /// guard drops (nested sets restore the outer one).
    fn enter(&self) -> Enter {
        // `try_with`: a set kept in a thread-local may be dropped as the
        // thread's locals are torn down; `spawn_local` has no set then.
        let previous =
            CURRENT.try_with(|current| current.replace(Some(self.shared.clone()))).ok().flatten();
        Enter { previous, _not_send: PhantomData }
    }

    /// Polls up to [`TASKS_PER_TICK`] queued tasks; true if tasks are
    /// still queued after that.
    fn tick(&self) -> bool {
        for _ in 0..TASKS_PER_TICK {
            // The lock is released before the poll: the task may wake
            // itself or spawn, which pushes to the queue.
            match self.shared.pop() {
                Some(task) => task.run(),
                None => return false,
            }
        }
        self.shared.has_queued()
    }
}

/// Awaiting a set runs its tasks until every one of them has finished.
///
/// ```
/// let rt = weft::runtime::Runtime::new().unwrap();
/// let local = weft::task::LocalSet::new();
/// let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
/// for i in 0..3 {
///     let seen = seen.clone();
///     local.spawn_local(async move { seen.borrow_mut().push(i) });
/// }
/// rt.block_on(local);
/// assert_eq!(*seen.borrow(), [0, 1, 2]);
/// ```
impl Future for LocalSet {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &*self;
        let _enter = this.enter();
        let more = this.tick();
        // After the tick (a task may have driven this set under another
        // waker), then a last look, as in `run_until`.
        this.shared.register(cx.waker());
        if more || this.shared.has_queued() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.shared.alive() == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Default for LocalSet {
    fn default() -> LocalSet {
        LocalSet::new()
    }
}

impl fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSet").field("tasks", &self.shared.alive()).finish()
    }
}

impl Drop for LocalSet {
    /// Drops every future still in the set, here on its own thread (a
    /// destructor that calls [`spawn_local`] gets a task cancelled at
    /// once); wakes that arrive afterwards do nothing.
    fn drop(&mut self) {
        let _enter = self.enter();
        self.shared.close();
    }
}

/// Restores the set `spawn_local` used before [`LocalSet::enter`].
struct Enter {
    previous: Option<Arc<Shared>>,
    /// Restores this thread's slot: must drop where it was made.
    _not_send: PhantomData<Rc<()>>,
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: this may run as the thread's locals are torn down.
        let replaced = CURRENT.try_with(|current| current.replace(previous));
        drop(replaced);
    }
}

/// Spawns a `!Send` future onto the [`LocalSet`] running on this thread
/// and returns its [`JoinHandle`].
///
/// # Panics
/// When no `LocalSet` runs on this thread: `spawn_local` works only inside
/// a future or task that a set drives (its
/// [`run_until`](LocalSet::run_until), [`block_on`](LocalSet::block_on),
/// or the awaited set itself).
///
/// ```
/// use std::rc::Rc;
///
/// let rt = weft::runtime::Builder::new_current_thread().build().unwrap();
/// let local = weft::task::LocalSet::new();
/// local.block_on(&rt, async {
///     let name = Rc::new(String::from("local"));
///     let task = weft::task::spawn_local(async move { name.len() });
///     assert_eq!(task.await.unwrap(), 5);
/// });
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let current = CURRENT.with(|current| current.borrow().clone());
    match current {
        Some(shared) => Shared::spawn(&shared, future),
        None => panic!(
            "spawn_local called outside a LocalSet: call it from a future or task that a \
             weft::task::LocalSet runs (inside LocalSet::run_until, LocalSet::block_on or an \
             awaited LocalSet), or use LocalSet::spawn_local"
        ),
    }
}
