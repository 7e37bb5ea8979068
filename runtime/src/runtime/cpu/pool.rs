//! The CPU pool itself: a bounded `weft-blocking` pool whose threads lower
//! their own priority, and the queue waits of its jobs. The runtime's
//! scheduler holds one; what runs on it is in the parent module.

use crate::runtime::cpu::priority::{self, CpuPriority};
use crate::runtime::histogram::AtomicHistogram;

/// Default `cpu_queue_capacity`, per CPU thread.
pub(crate) const DEFAULT_QUEUE_PER_THREAD: usize = 1024;

/// The CPU pool's settings, as the runtime's Builder checked them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuSettings {
    pub(crate) threads: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) priority: CpuPriority,
}

#[cfg(test)]
impl Default for CpuSettings {
    /// One thread at normal priority: enough for the scheduler's own tests.
    fn default() -> CpuSettings {
        CpuSettings {
            threads: 1,
            queue_capacity: DEFAULT_QUEUE_PER_THREAD,
            priority: CpuPriority::Normal,
        }
    }
}

/// The pool and what the runtime counts about it.
pub(crate) struct CpuPool {
    pool: weft_blocking::Pool,
    settings: CpuSettings,
    /// Time from submit to start of each job.
    queue_wait: AtomicHistogram,
}

impl CpuPool {
    /// The pool for `settings`. `thread` is the runtime's thread settings
    /// (keep-alive, stack size, hooks) as a blocking-pool builder.
    pub(crate) fn new(
        settings: CpuSettings,
        mut thread: weft_blocking::PoolBuilder,
        on_thread_start: Option<weft_util::unwind::Hook>,
    ) -> std::io::Result<CpuPool> {
        let priority = settings.priority;
        thread
            .max_threads(settings.threads)
            .queue_capacity(settings.queue_capacity)
            .thread_name("weft-cpu")
            .on_thread_start(move || {
                priority::lower_this_thread(priority);
                weft_util::unwind::run_hook("weft", "on_thread_start", on_thread_start.as_ref());
            });
        Ok(CpuPool { pool: thread.build()?, settings, queue_wait: AtomicHistogram::new() })
    }

    /// Its settings.
    pub(crate) fn settings(&self) -> CpuSettings {
        self.settings
    }

    /// The pool its jobs go to.
    pub(crate) fn pool(&self) -> &weft_blocking::Pool {
        &self.pool
    }

    /// The jobs' queue waits so far.
    pub(crate) fn queue_wait(&self) -> &AtomicHistogram {
        &self.queue_wait
    }
}
