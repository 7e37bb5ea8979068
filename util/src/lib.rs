//! weft-util: weft's internal infrastructure, shared by the runtime (`weft`)
//! and its blocking pool (`weft-blocking`) so that each piece exists once.
//!
//! **This crate is not an API for users.** It is published only because
//! `weft` and `weft-blocking` depend on it; anything here may change in any
//! release. Use the types through the crates that re-export them:
//! `weft::task::JoinError` and `weft_blocking::JoinError` are the
//! [`JoinError`] here, `weft::task::Id` and `weft_blocking::Id` the [`Id`].
//!
//! - [`loom`]: the loom switch. Every atomic, lock, `Arc`, `UnsafeCell` and
//!   thread of a concurrent protocol comes from here: std / parking_lot
//!   normally, loom's types under `RUSTFLAGS="--cfg loom"`, so the models
//!   in `loom-tests/` run the real code.
//! - [`Id`]: a task's identity (a runtime task or a job on the blocking
//!   pool), unique in the process.
//! - [`JoinError`]: why a task (a runtime task or a job on the blocking
//!   pool) produced no output.
//! - [`unwind`]: containing panics from user code a thread must survive
//!   (a destructor, a waker, a thread hook).
//! - [`ThreadName`]: a builder's thread naming, fixed or a function per
//!   thread.

#![warn(missing_docs)]

mod join_error;
pub mod loom;
mod task_id;
mod thread_name;
pub mod unwind;

pub use join_error::JoinError;
pub use task_id::Id;
pub use thread_name::ThreadName;

/// Loom itself, for [`thread_local_const!`]'s expansion under `--cfg loom`
/// (the calling crate may not name loom the same way).
#[cfg(loom)]
#[doc(hidden)]
pub use ::loom as __loom;

/// `thread_local!` with a `const` initializer (cheaper access on the hot
/// path); under `--cfg loom`, loom's `thread_local!`, which has no `const`
/// form, so the models see each thread's own value.
///
/// ```
/// use std::cell::Cell;
///
/// weft_util::thread_local_const! {
///     /// How deep this thread is in something.
///     static DEPTH: Cell<u32> = Cell::new(0);
/// }
/// DEPTH.with(|depth| depth.set(depth.get() + 1));
/// assert_eq!(DEPTH.with(Cell::get), 1);
/// ```
#[cfg(not(loom))]
#[macro_export]
macro_rules! thread_local_const {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        ::std::thread_local! { $(#[$attr])* static $name: $ty = const { $init }; }
    };
}

/// `thread_local!` with a `const` initializer (cheaper access on the hot
/// path); under `--cfg loom`, loom's `thread_local!`, which has no `const`
/// form, so the models see each thread's own value.
#[cfg(loom)]
#[macro_export]
macro_rules! thread_local_const {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        $crate::__loom::thread_local! { $(#[$attr])* static $name: $ty = $init; }
    };
}
