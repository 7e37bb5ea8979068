//! The loom switch: the atomics, locks, `Arc`, `UnsafeCell` and threads
//! that weft's concurrent protocols use.
//!
//! Normally these are std / parking_lot. Under `RUSTFLAGS="--cfg loom"`
//! they are loom's types, behind wrappers with the parking_lot API where
//! the two differ (a lock that cannot be poisoned, a condvar that waits on
//! `&mut guard`), so the same protocol code compiles against both and the
//! models in `loom-tests/` explore every interleaving of it.
//!
//! Loom has no clock: under loom a timed condvar wait never times out (it
//! waits until notified), like loom's own `Condvar::wait_timeout`.
//!
//! What only one crate needs stays in that crate's own `loom` module, which
//! re-exports these: the runtime's work-stealing queues (crossbeam-deque,
//! or its model under loom) and the blocking pool's job channel.

#[cfg(not(loom))]
mod imp {
    /// Locks, `Arc` and atomics.
    pub mod sync {
        pub use parking_lot::{Condvar, Mutex, MutexGuard};
        pub use std::sync::Arc;

        /// Atomics and fences.
        pub mod atomic {
            pub use std::sync::atomic::{
                fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
            };
        }
    }

    /// `UnsafeCell` with loom's access API.
    pub mod cell {
        /// `UnsafeCell` with loom's closure-based access API, so the same
        /// code compiles against both. The closures get the raw pointer; the
        /// caller's `unsafe` dereference of it is where its protocol is
        /// justified.
        #[derive(Debug)]
        pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            /// A cell holding `value`.
            pub const fn new(value: T) -> Self {
                Self(std::cell::UnsafeCell::new(value))
            }

            /// Calls `f` with a pointer to the value, for reading.
            #[inline(always)]
            pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            /// Calls `f` with a pointer to the value, for writing.
            #[inline(always)]
            pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }

    /// Threads.
    pub mod thread {
        pub use std::thread::{Builder, JoinHandle};
    }
}

#[cfg(loom)]
mod imp {
    /// Locks, `Arc` and atomics.
    pub mod sync {
        pub use loom::sync::Arc;
        use std::time::Instant;

        /// Atomics and fences.
        pub mod atomic {
            pub use loom::sync::atomic::{
                fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
            };
        }

        /// parking_lot-shaped wrapper over loom's mutex.
        #[derive(Debug, Default)]
        pub struct Mutex<T>(loom::sync::Mutex<T>);

        /// Guard of [`Mutex`]; an `Option` so [`Condvar::wait`] can move it.
        pub struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

        impl<T> Mutex<T> {
            /// A mutex holding `value`.
            pub fn new(value: T) -> Self {
                Self(loom::sync::Mutex::new(value))
            }

            /// Locks it. Models never poison a lock (a panic fails the
            /// model), so no `Result`.
            pub fn lock(&self) -> MutexGuard<'_, T> {
                MutexGuard(Some(self.0.lock().unwrap()))
            }
        }

        impl<T> std::ops::Deref for MutexGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                self.0.as_ref().expect("guard present")
            }
        }

        impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
            fn deref_mut(&mut self) -> &mut T {
                self.0.as_mut().expect("guard present")
            }
        }

        /// parking_lot-shaped wrapper over loom's condvar.
        #[derive(Debug, Default)]
        pub struct Condvar(loom::sync::Condvar);

        /// What a timed wait returned; under loom it never times out.
        #[derive(Debug)]
        pub struct WaitTimeoutResult;

        impl WaitTimeoutResult {
            /// Always false: loom has no clock.
            pub fn timed_out(&self) -> bool {
                false
            }
        }

        impl Condvar {
            /// A condvar nobody waits on.
            pub fn new() -> Self {
                Self(loom::sync::Condvar::new())
            }

            /// Unlocks `guard`, waits until notified, locks it again.
            pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
                let inner = guard.0.take().expect("guard present");
                guard.0 = Some(self.0.wait(inner).unwrap());
            }

            /// Loom has no clock: waits until notified.
            pub fn wait_until<T>(
                &self,
                guard: &mut MutexGuard<'_, T>,
                _deadline: Instant,
            ) -> WaitTimeoutResult {
                self.wait(guard);
                WaitTimeoutResult
            }

            /// Wakes one waiter.
            pub fn notify_one(&self) {
                self.0.notify_one();
            }

            /// Wakes every waiter.
            pub fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    /// `UnsafeCell` with loom's access API.
    pub mod cell {
        pub use loom::cell::UnsafeCell;
    }

    /// Threads.
    pub mod thread {
        pub use loom::thread::{Builder, JoinHandle};
    }
}

pub use imp::*;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::cell::UnsafeCell;

    #[test]
    fn unsafe_cell_hands_out_the_same_place_for_reading_and_writing() {
        let cell = UnsafeCell::new(1u32);
        // SAFETY: `cell` is local and not shared; no other access is live
        // while the pointer is used.
        cell.with_mut(|p| unsafe { *p += 41 });
        // SAFETY: as above; the write finished before this read.
        assert_eq!(cell.with(|p| unsafe { *p }), 42);
    }
}
