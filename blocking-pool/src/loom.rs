//! The loom switch: every atomic, lock, `Arc`, thread and queue that the
//! pool's protocol uses comes from here.
//!
//! Normally these are std / parking_lot / crossbeam-channel. Under
//! `RUSTFLAGS="--cfg loom"` they are loom's types, so the models in
//! `loom-tests/tests/blocking.rs` explore every interleaving of the real
//! pool code. Loom cannot see crossbeam's own atomics, so under loom the
//! queue is a small mutex + `VecDeque` model with the same API
//! (crossbeam's suite checks the channel itself; ours checks the protocol
//! around it).
//!
//! Loom has no clock. The model's `recv_timeout` treats a zero timeout as a
//! non-blocking look (the keep-alive expires at once if no job is there),
//! and any other timeout as one that never expires (it waits for a
//! message), like loom's own `Condvar::wait_timeout`. Timed waits on a
//! condvar never time out either.

#[cfg(not(loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use parking_lot::{Condvar, Mutex};
        pub(crate) use std::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::Builder;
    }

    pub(crate) mod channel {
        pub(crate) use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) mod sync {
        pub(crate) use loom::sync::Arc;
        use std::time::Instant;

        pub(crate) mod atomic {
            pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
        }

        /// parking_lot-shaped wrapper over loom's mutex.
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

        /// Guard of [`Mutex`]; an `Option` so [`Condvar::wait`] can move it.
        pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Self(loom::sync::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
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
        pub(crate) struct Condvar(loom::sync::Condvar);

        /// What a timed wait returned; under loom it never times out.
        pub(crate) struct WaitTimeoutResult;

        impl WaitTimeoutResult {
            pub(crate) fn timed_out(&self) -> bool {
                false
            }
        }

        impl Condvar {
            pub(crate) fn new() -> Self {
                Self(loom::sync::Condvar::new())
            }

            pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
                let inner = guard.0.take().expect("guard present");
                guard.0 = Some(self.0.wait(inner).unwrap());
            }

            /// Loom has no clock: waits until notified.
            pub(crate) fn wait_until<T>(
                &self,
                guard: &mut MutexGuard<'_, T>,
                _deadline: Instant,
            ) -> WaitTimeoutResult {
                self.wait(guard);
                WaitTimeoutResult
            }

            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::Builder;
    }

    /// A model of the part of crossbeam-channel's unbounded MPMC channel the
    /// pool uses, on loom's mutex and condvar.
    pub(crate) mod channel {
        pub(crate) use crossbeam_channel::{RecvTimeoutError, SendError};
        use loom::sync::{Arc, Condvar, Mutex};
        use std::collections::VecDeque;
        use std::time::Duration;

        struct Chan<T> {
            queue: Mutex<VecDeque<T>>,
            ready: Condvar,
        }

        pub(crate) struct Sender<T>(Arc<Chan<T>>);
        pub(crate) struct Receiver<T>(Arc<Chan<T>>);

        pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
            let chan = Arc::new(Chan { queue: Mutex::new(VecDeque::new()), ready: Condvar::new() });
            (Sender(chan.clone()), Receiver(chan))
        }

        impl<T> Sender<T> {
            /// Never fails: the pool holds the receiver as long as a sender.
            pub(crate) fn send(&self, msg: T) -> Result<(), SendError<T>> {
                self.0.queue.lock().unwrap().push_back(msg);
                self.0.ready.notify_one();
                Ok(())
            }
        }

        impl<T> Receiver<T> {
            pub(crate) fn try_recv(&self) -> Result<T, crossbeam_channel::TryRecvError> {
                self.0
                    .queue
                    .lock()
                    .unwrap()
                    .pop_front()
                    .ok_or(crossbeam_channel::TryRecvError::Empty)
            }

            /// A zero `timeout` is a non-blocking look: it "expires" at once
            /// when the queue is empty. Any other timeout never expires.
            pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
                let mut queue = self.0.queue.lock().unwrap();
                loop {
                    if let Some(msg) = queue.pop_front() {
                        return Ok(msg);
                    }
                    if timeout.is_zero() {
                        return Err(RecvTimeoutError::Timeout);
                    }
                    queue = self.0.ready.wait(queue).unwrap();
                }
            }

            pub(crate) fn len(&self) -> usize {
                self.0.queue.lock().unwrap().len()
            }
        }
    }
}

pub(crate) use imp::*;
