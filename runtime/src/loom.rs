//! The loom switch: every atomic, lock, `Arc`, `UnsafeCell`, thread and
//! work queue that a concurrent protocol of weft uses comes from here.
//!
//! The switch itself (std / parking_lot normally, loom's types under
//! `RUSTFLAGS="--cfg loom"`) is shared with weft-blocking in
//! `weft_util::loom`; this module re-exports it and adds the work queues.
//! Normally they are crossbeam-deque. Loom cannot see crossbeam's own
//! atomics, so under loom the queues are a model of crossbeam-deque built
//! on loom's atomics with crossbeam's orderings and fences
//! (`loom/deque_model.rs`): the protocols around the queues are checked
//! against the ordering the shipped queues really give, no more.

pub(super) use weft_util::loom::{cell, sync, thread};
pub(super) use weft_util::thread_local_const;

#[cfg(loom)]
pub(super) mod deque_model;

pub(super) mod deque {
    pub(crate) use crossbeam_deque::Steal;
    #[cfg(not(loom))]
    pub(crate) use crossbeam_deque::{Injector, Stealer, Worker};

    #[cfg(loom)]
    pub(crate) use super::deque_model::{Injector, Stealer, Worker};
}
