//! [`JoinHandle`] and [`AbortHandle`]: the user's side of a task.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use weft_util::Id;

use super::error::JoinError;
use super::raw::RawTask;
use crate::runtime::coop;

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] if the task panicked
/// or was cancelled. Dropping it detaches the task: the task keeps running
/// and its output is dropped when it finishes.
///
/// ```
/// let rt = weft::runtime::Runtime::new().unwrap();
/// let answer = rt.block_on(async { weft::spawn(async { 6 * 7 }).await.unwrap() });
/// assert_eq!(answer, 42);
/// ```
///
/// The handle moves the output across threads, so it is `Send` only when
/// the output is:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<weft::task::JoinHandle<std::rc::Rc<u8>>>();
/// ```
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves `T` out of the task (requires `T: Send`);
// all shared access is synchronised through the task's state word.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows abort/is_finished, which touch the
// atomic state word and never `T`.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `raw` is a task whose output type is `T`; this handle owns the
    /// task's JoinHandle reference.
    pub(super) unsafe fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle { raw, _output: PhantomData }
    }

    /// Cancels the task. It stops at its next poll boundary (a running poll
    /// is never interrupted); awaiting the handle then gives a cancelled
    /// [`JoinError`], by which time the future has been dropped. Aborting
    /// a finished task does nothing.
    pub fn abort(&self) {
        // SAFETY: the handle's reference keeps the task alive for the call.
        unsafe { self.raw.remote_abort() }
    }

    /// True once the task has finished (output stored, panicked or
    /// cancelled).
    pub fn is_finished(&self) -> bool {
        // SAFETY: the handle's reference keeps the header alive.
        unsafe { self.raw.header() }.state.load().is_complete()
    }

    /// The task's [`Id`]: the one [`weft::task::id`](crate::task::id)
    /// gives inside the task, and its [`JoinError`] carries.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let handle = weft::spawn(async { weft::task::id() });
    /// let id = handle.id();
    /// assert_eq!(handle.await.unwrap(), id);
    /// # });
    /// ```
    pub fn id(&self) -> Id {
        // SAFETY: the handle's reference keeps the header alive.
        unsafe { self.raw.header() }.id
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        // SAFETY: the handle's reference keeps the header alive; the
        // increment is the new AbortHandle's own reference.
        unsafe { self.raw.header() }.state.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A join is a resource operation: it spends the coop budget so a
        // loop over finished handles still yields.
        let restore = std::task::ready!(coop::poll_proceed(cx));
        let out = self.get_mut().poll_unbudgeted(cx);
        if out.is_ready() {
            restore.made_progress();
        }
        out
    }
}

impl<T> JoinHandle<T> {
    /// The handle's poll without the coop budget: for a caller that spends
    /// the budget itself, once for many handles (`JoinSet`), or that must
    /// leave `cx`'s waker registered whatever the budget (a set's entry).
    pub(crate) fn poll_unbudgeted(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the task's output type; we are its JoinHandle.
        unsafe { self.raw.try_read_output(&mut out as *mut _ as *mut (), cx.waker()) };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: called once, by the task's JoinHandle.
        unsafe { self.raw.drop_join_handle() }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A handle that aborts a task without awaiting it. Cloneable; does not
/// keep the output alive.
pub struct AbortHandle {
    raw: RawTask,
}

// SAFETY: an AbortHandle only touches the task's atomic state word (and
// schedules the task through its scheduler, which is `Send + Sync`).
unsafe impl Send for AbortHandle {}
// SAFETY: `&AbortHandle` allows the same atomic-only operations as Send.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// Cancels the task; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        // SAFETY: this handle's reference keeps the task alive for the call.
        unsafe { self.raw.remote_abort() }
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        // SAFETY: this handle's reference keeps the header alive.
        unsafe { self.raw.header() }.state.load().is_complete()
    }

    /// The task's [`Id`], the same as its [`JoinHandle::id`].
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let handle = weft::spawn(std::future::pending::<()>());
    /// let abort = handle.abort_handle();
    /// assert_eq!(abort.id(), handle.id());
    /// abort.abort();
    /// assert_eq!(handle.await.unwrap_err().id(), abort.id());
    /// # });
    /// ```
    pub fn id(&self) -> Id {
        // SAFETY: this handle's reference keeps the header alive.
        unsafe { self.raw.header() }.id
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> Self {
        // SAFETY: this handle's reference keeps the header alive; the
        // increment is the clone's own reference.
        unsafe { self.raw.header() }.state.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        // SAFETY: this handle owns one reference and is never used again.
        unsafe { self.raw.drop_reference() }
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::panic::Location;

    use super::RawTask;
    use crate::runtime::Runtime;
    use crate::task::JoinSet;

    /// Where the task behind `raw` was spawned, as `file:line`.
    fn spawned_at(raw: RawTask) -> String {
        // SAFETY: called with the raw task of a live handle, whose
        // reference keeps the header alive for the call.
        let at: &Location<'_> = unsafe { raw.header() }.spawned_at;
        format!("{}:{}", at.file(), at.line())
    }

    fn here(line: u32) -> String {
        format!("{}:{line}", file!())
    }

    /// Every public way to spawn records the user's call site, with or
    /// without the `tracing` feature: the `#[track_caller]` chain reaches
    /// the capture unbroken.
    #[test]
    fn the_spawn_location_is_the_callers() {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle().clone();
        let mut at = Vec::new();
        let h = rt.spawn(async {});
        at.push((spawned_at(h.raw), here(line!() - 1)));
        let h = handle.spawn(async {});
        at.push((spawned_at(h.raw), here(line!() - 1)));
        let h = rt.spawn_blocking(|| {});
        at.push((spawned_at(h.raw), here(line!() - 1)));
        let h = handle.spawn_blocking(|| {});
        at.push((spawned_at(h.raw), here(line!() - 1)));
        rt.block_on(async {
            let h = crate::spawn(async {});
            at.push((spawned_at(h.raw), here(line!() - 1)));
            let h = crate::task::spawn_blocking(|| {});
            at.push((spawned_at(h.raw), here(line!() - 1)));
            let mut set = JoinSet::new();
            let a = set.spawn(async {});
            at.push((spawned_at(a.raw), here(line!() - 1)));
            let a = set.spawn_on(async {}, &handle);
            at.push((spawned_at(a.raw), here(line!() - 1)));
            set.shutdown().await;
        });
        for (got, want) in at {
            assert_eq!(got, want);
        }
    }
}
