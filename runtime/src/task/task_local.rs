//! Task-local storage: a value that follows one task across `.await`s and
//! across workers, as Tokio's `task_local!`.
//!
//! A task may be polled on a different thread each time, so a plain
//! `thread_local!` cannot hold per-task state. Instead the value lives in
//! the future that [`LocalKey::scope`] returns, and each poll lends it to a
//! thread-local slot for exactly the length of that poll: swapped in before
//! the inner future is polled, swapped back out after, also when the poll
//! panics. Between polls the thread-local is empty again, so whatever else
//! the worker runs next cannot see it. Scopes nest: an inner scope of the
//! same key shadows the outer value and gives it back when it ends.
//!
//! No runtime is involved, so this works in any task of either flavor, in
//! `block_on`, and in a `LocalSet`.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::LocalKey as StdLocalKey;

/// Declares task-local keys, as Tokio's `task_local!`.
///
/// Each `static NAME: T;` becomes a [`LocalKey<T>`](crate::task::LocalKey),
/// set for a future with [`LocalKey::scope`] (or for a closure with
/// [`LocalKey::sync_scope`]) and read inside it with
/// [`with`](crate::task::LocalKey::with), [`try_with`](crate::task::LocalKey::try_with)
/// or [`get`](crate::task::LocalKey::get).
///
/// ```
/// weft::task_local! {
///     static REQUEST_ID: u64;
/// }
///
/// # let rt = weft::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let seen = weft::spawn(REQUEST_ID.scope(7, async {
///     weft::task::yield_now().await; // may resume on another worker
///     REQUEST_ID.get()
/// }));
/// assert_eq!(seen.await.unwrap(), 7);
/// assert!(REQUEST_ID.try_with(|_| ()).is_err(), "not set outside the scope");
/// # });
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __KEY: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey::__new(&__KEY)
        };
    };
}

/// A key for task-local data, declared with [`task_local!`](crate::task_local).
///
/// The value is owned by the scope that set it: the future from
/// [`scope`](Self::scope) (dropped with it) or the closure of
/// [`sync_scope`](Self::sync_scope).
pub struct LocalKey<T: 'static> {
    slot: &'static StdLocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn __new(slot: &'static StdLocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { slot }
    }

    /// Runs `future` with this key set to `value`: every poll of it, and
    /// its drop, see the value through [`with`](Self::with) and
    /// [`get`](Self::get).
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture { key: self, value: Some(value), future: Some(future) }
    }

    /// Runs `f` with this key set to `value`, synchronously.
    ///
    /// # Panics
    /// If called from inside [`with`](Self::with) on the same key (the
    /// value is borrowed there), or if `f` panics (after the key is
    /// restored).
    pub fn sync_scope<F: FnOnce() -> R, R>(&'static self, value: T, f: F) -> R {
        let mut value = Some(value);
        match self.lend(&mut value, f) {
            Ok(out) => out,
            Err(err) => err.panic(),
        }
    }

    /// Calls `f` with a reference to the value.
    ///
    /// # Panics
    /// When the key is not set: outside any [`scope`](Self::scope) of it.
    #[track_caller]
    pub fn with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> R {
        match self.try_with(f) {
            Ok(out) => out,
            Err(_) => panic!(
                "cannot access a task-local value without setting it first: read it inside \
                 `KEY.scope(value, future)` or `KEY.sync_scope(value, closure)`"
            ),
        }
    }

    /// Calls `f` with a reference to the value, or returns [`AccessError`]
    /// when the key is not set here (or the thread is exiting).
    pub fn try_with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> Result<R, AccessError> {
        // The borrow is shared: `with` inside `with` is fine; a `scope`
        // entered inside it reports `ScopeError::Borrowed`.
        let found = self.slot.try_with(|cell| {
            let borrowed = cell.try_borrow().ok()?;
            borrowed.as_ref().map(f)
        });
        match found {
            Ok(Some(out)) => Ok(out),
            _ => Err(AccessError { _private: () }),
        }
    }

    /// A clone of the value.
    ///
    /// # Panics
    /// When the key is not set, as [`with`](Self::with).
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// A clone of the value, or [`AccessError`] when the key is not set.
    pub fn try_get(&'static self) -> Result<T, AccessError>
    where
        T: Clone,
    {
        self.try_with(T::clone)
    }

    /// Lends `value` to the thread-local slot while `f` runs and takes it
    /// back afterwards, even if `f` panics. Whatever the slot held before
    /// (an outer scope's value) is put back too.
    fn lend<F: FnOnce() -> R, R>(
        &'static self,
        value: &mut Option<T>,
        f: F,
    ) -> Result<R, ScopeError> {
        /// Swaps the value back out of the slot when dropped, so a panic in
        /// `f` cannot leave this scope's value visible to the next task.
        struct Restore<'a, T: 'static> {
            key: &'static StdLocalKey<RefCell<Option<T>>>,
            value: &'a mut Option<T>,
        }
        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                // Cannot fail: `lend` swapped through this same slot (so the
                // thread-local is alive), and every borrow taken inside `f`
                // has ended by now.
                self.key.with(|cell| std::mem::swap(self.value, &mut *cell.borrow_mut()));
            }
        }

        self.slot
            .try_with(|cell| {
                let mut slot = cell.try_borrow_mut().map_err(|_| ScopeError::Borrowed)?;
                std::mem::swap(value, &mut *slot);
                Ok(())
            })
            .map_err(|_| ScopeError::Destroyed)??;
        let _restore = Restore { key: self.slot, value };
        Ok(f())
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}

/// Why a value could not be lent to its key.
#[derive(Debug)]
enum ScopeError {
    /// Inside [`LocalKey::with`] of the same key: the slot is borrowed.
    Borrowed,
    /// The thread is exiting and its thread-locals are gone.
    Destroyed,
}

impl ScopeError {
    #[track_caller]
    fn panic(self) -> ! {
        match self {
            ScopeError::Borrowed => panic!(
                "cannot enter a task-local scope while the task-local value is borrowed by \
                 `with` on the same key"
            ),
            ScopeError::Destroyed => panic!(
                "cannot enter a task-local scope during or after the thread's thread-locals \
                 were destroyed"
            ),
        }
    }
}

/// A task-local key was read where it is not set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set")
    }
}

impl Error for AccessError {}

pin_project_lite::pin_project! {
    /// The future [`LocalKey::scope`] returns: polls (and drops) the inner
    /// future with the key set.
    pub struct TaskLocalFuture<T: 'static, F> {
        key: &'static LocalKey<T>,
        value: Option<T>,
        // `None` once it completed, or after it was dropped in the scope.
        #[pin]
        future: Option<F>,
    }

    impl<T: 'static, F> PinnedDrop for TaskLocalFuture<T, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                // Drop the inner future in place, inside the scope, so its
                // destructor sees the value as its polls did. If the scope
                // cannot be entered (thread exiting), the field's own drop
                // glue drops it right after, without the value.
                let mut future = this.future.as_mut();
                let key: &'static LocalKey<T> = this.key;
                let _ = key.lend(this.value, move || future.set(None));
            }
        }
    }
}

impl<T: 'static, F> TaskLocalFuture<T, F> {
    /// The value, taken out of the scope (`None` if taken already).
    /// Polling the future afterwards runs it with the key unset.
    pub fn take_value(self: Pin<&mut Self>) -> Option<T> {
        self.project().value.take()
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let key = *this.key;
        let polled = key.lend(this.value, || match this.future.as_mut().as_pin_mut() {
            Some(future) => {
                let out = future.poll(cx);
                if out.is_ready() {
                    // Dropped in the scope, as a cancelled one would be.
                    this.future.set(None);
                }
                Some(out)
            }
            None => None,
        });
        match polled {
            Ok(Some(out)) => out,
            Ok(None) => panic!("`TaskLocalFuture` polled after it completed"),
            Err(err) => err.panic(),
        }
    }
}

impl<T: 'static + fmt::Debug, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture").field("value", &self.value).finish_non_exhaustive()
    }
}
