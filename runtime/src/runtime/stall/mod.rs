//! Stall detection: noticing a worker stuck inside one task's poll, and
//! reporting the task with the stuck thread's stack.

pub(crate) mod backtrace;
