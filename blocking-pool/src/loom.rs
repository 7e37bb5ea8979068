//! The loom switch: every atomic, lock, `Arc`, thread and queue that the
//! pool's protocol uses comes from here.
//!
//! The switch itself (std / parking_lot normally, loom's types under
//! `RUSTFLAGS="--cfg loom"`) is shared with weft in `weft_util::loom`; this
//! module re-exports it and adds the job queue. Normally that is
//! crossbeam-channel. Under loom the models in `loom-tests/tests/blocking.rs`
//! explore every interleaving of the real pool code; loom cannot see
//! crossbeam's own atomics, so under loom the queue is a small mutex +
//! `VecDeque` model with the same API (crossbeam's suite checks the channel
//! itself; ours checks the protocol around it).
//!
//! Loom has no clock. The model's `recv_timeout` treats a zero timeout as a
//! non-blocking look (the keep-alive expires at once if no job is there),
//! and any other timeout as one that never expires (it waits for a
//! message), like loom's own `Condvar::wait_timeout`. Timed waits on a
//! condvar never time out either.

pub(crate) use weft_util::loom::{sync, thread};

#[cfg(not(loom))]
pub(crate) mod channel {
    //! The job queue: crossbeam-channel, with idle receivers sleeping on
    //! a parking_lot condvar (the "doorbell") instead of in crossbeam's
    //! own blocking receive. Crossbeam's receive spins and then calls
    //! `sched_yield` a few times before it parks; on a machine with few
    //! cores those yields let a busy thread take the CPU while a job
    //! waits, which made a single job's start latency about twice
    //! Tokio's. Here an idle receiver spins briefly (pure spin, no
    //! yield: back-to-back jobs are caught without a syscall), then
    //! counts itself as a sleeper, re-checks the queue under the
    //! doorbell lock and sleeps. A sender rings (lock, unlock, notify
    //! one) only when a sleeper is counted: the sender's send and the
    //! sleeper's count are each followed by a SeqCst fence before the
    //! other side is read, so either the sleeper's re-check sees the job
    //! or the sender sees the sleeper.
    pub(crate) use crossbeam_channel::{RecvTimeoutError, SendError, TryRecvError};
    use parking_lot::{Condvar, Mutex};
    use std::sync::atomic::{fence, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Polls of the queue an idle receiver makes before it sleeps: a few
    /// tens of microseconds of pure spinning right after a job, so a
    /// job submitted in that window starts without a wake-up syscall.
    const SPINS: u32 = 1024;

    struct Doorbell {
        lock: Mutex<()>,
        rung: Condvar,
        /// Receivers sleeping or about to (see the module docs).
        sleepers: AtomicUsize,
    }

    /// The sending end.
    pub(crate) struct Sender<T> {
        tx: crossbeam_channel::Sender<T>,
        bell: Arc<Doorbell>,
    }

    /// The receiving end.
    pub(crate) struct Receiver<T> {
        rx: crossbeam_channel::Receiver<T>,
        bell: Arc<Doorbell>,
    }

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let bell = Arc::new(Doorbell {
            lock: Mutex::new(()),
            rung: Condvar::new(),
            sleepers: AtomicUsize::new(0),
        });
        (Sender { tx, bell: bell.clone() }, Receiver { rx, bell })
    }

    impl<T> Sender<T> {
        pub(crate) fn send(&self, msg: T) -> Result<(), SendError<T>> {
            self.tx.send(msg)?;
            fence(SeqCst);
            if self.bell.sleepers.load(SeqCst) > 0 {
                // Taking the lock orders this ring after a sleeper's
                // re-check (it holds the lock until it sleeps).
                drop(self.bell.lock.lock());
                self.bell.rung.notify_one();
            }
            Ok(())
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
            self.rx.try_recv()
        }

        /// Waits up to `timeout` for a message.
        pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
            for _ in 0..SPINS {
                match self.rx.try_recv() {
                    Ok(msg) => return Ok(msg),
                    Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                }
            }
            let deadline = Instant::now().checked_add(timeout);
            let bell = &self.bell;
            loop {
                let mut guard = bell.lock.lock();
                bell.sleepers.fetch_add(1, SeqCst);
                fence(SeqCst);
                let timed_out = if !self.rx.is_empty() {
                    false
                } else {
                    match deadline {
                        Some(deadline) => bell.rung.wait_until(&mut guard, deadline).timed_out(),
                        None => {
                            bell.rung.wait(&mut guard);
                            false
                        }
                    }
                };
                bell.sleepers.fetch_sub(1, SeqCst);
                drop(guard);
                match self.rx.try_recv() {
                    Ok(msg) => return Ok(msg),
                    Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                    Err(TryRecvError::Empty) if timed_out => return Err(RecvTimeoutError::Timeout),
                    // Woken for a job another thread took: sleep again.
                    Err(TryRecvError::Empty) => {}
                }
            }
        }

        pub(crate) fn len(&self) -> usize {
            self.rx.len()
        }
    }
}

#[cfg(loom)]
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
            self.0.queue.lock().unwrap().pop_front().ok_or(crossbeam_channel::TryRecvError::Empty)
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
