//! Containing panics from user code the runtime must survive: a
//! destructor, a waker, a hook. The helper is shared with weft-blocking
//! (`weft_util::unwind`); it is named here so the runtime's callers keep
//! `crate::unwind::contain`.

pub(super) use weft_util::unwind::contain;
