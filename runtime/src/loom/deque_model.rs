//! A model of crossbeam-deque's `Worker`/`Stealer`/`Injector` API on loom's
//! mutex, so loom sees every queue operation as a synchronisation point.

use std::collections::VecDeque;

use crossbeam_deque::Steal;

use super::imp::sync::{Arc, Mutex};

/// The owner's end of a FIFO work queue.
pub(crate) struct Worker<T> {
    queue: Arc<Mutex<VecDeque<T>>>,
}

/// A thief's end of a [`Worker`]'s queue.
pub(crate) struct Stealer<T> {
    queue: Arc<Mutex<VecDeque<T>>>,
}

/// The shared global queue.
pub(crate) struct Injector<T> {
    queue: Mutex<VecDeque<T>>,
}

impl<T> Worker<T> {
    pub(crate) fn new_fifo() -> Self {
        Self { queue: Arc::new(Mutex::new(VecDeque::new())) }
    }

    pub(crate) fn push(&self, value: T) {
        self.queue.lock().push_back(value);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        self.queue.lock().pop_front()
    }

    pub(crate) fn stealer(&self) -> Stealer<T> {
        Stealer { queue: self.queue.clone() }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.lock().is_empty()
    }
}

impl<T> Stealer<T> {
    pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        let mut src = self.queue.lock();
        let Some(first) = src.pop_front() else { return Steal::Empty };
        let half = src.len() / 2;
        let moved: Vec<T> = src.drain(..half).collect();
        drop(src);
        let mut dst = dest.queue.lock();
        dst.extend(moved);
        Steal::Success(first)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.lock().is_empty()
    }
}

impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Self { queue: Mutex::new(VecDeque::new()) }
    }

    pub(crate) fn push(&self, value: T) {
        self.queue.lock().push_back(value);
    }

    pub(crate) fn steal(&self) -> Steal<T> {
        match self.queue.lock().pop_front() {
            Some(v) => Steal::Success(v),
            None => Steal::Empty,
        }
    }

    pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        let mut src = self.queue.lock();
        let Some(first) = src.pop_front() else { return Steal::Empty };
        // Take at most one more, as a bounded batch.
        let extra = src.pop_front();
        drop(src);
        if let Some(extra) = extra {
            dest.push(extra);
        }
        Steal::Success(first)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.lock().is_empty()
    }
}
