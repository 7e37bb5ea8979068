//! How low the CPU pool's threads run: the one platform-specific piece of
//! the CPU pool, applied by each pool thread to itself when it starts, and
//! the check [`starter`](super::starter) uses to keep it from spreading.

use std::fmt;

/// How the CPU pool's threads are scheduled against everything else on the
/// machine, the runtime's workers first
/// ([`Builder::cpu_priority`](crate::runtime::Builder::cpu_priority)).
///
/// Lowering a thread's priority needs no privilege on Linux; other systems
/// ignore this setting and run the pool at normal priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpuPriority {
    /// `SCHED_IDLE` (the default): a CPU thread runs only on a core no
    /// normal thread wants, and a worker that wakes up preempts it. The
    /// jobs still get every cycle the workers leave, but any other busy
    /// process on the machine also starves them. The cost of so low a
    /// priority: a CPU job that holds a lock a task also takes (a `Mutex`
    /// shared with tasks, a channel's lock) may be preempted while holding
    /// it, and a task then waits until a core is free for the job (a
    /// worker that blocks on the lock frees its own core, so that wait is
    /// short unless other processes keep every core busy). Keep such locks
    /// out of CPU jobs, or choose `Background`.
    #[default]
    Idle,
    /// `SCHED_BATCH` at nice 19: the lowest normal priority. A worker gets
    /// about 70 times a CPU thread's share of a contended core, but may wait
    /// for the CPU thread's time slice to end before it runs.
    Background,
    /// The same priority as the workers: CPU jobs and tasks share cores
    /// evenly, as `spawn_blocking` jobs do.
    Normal,
}

impl fmt::Display for CpuPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CpuPriority::Idle => "SCHED_IDLE",
            CpuPriority::Background => "SCHED_BATCH, nice 19",
            CpuPriority::Normal => "normal",
        })
    }
}

/// Applies `priority` to the calling thread. A refusal is reported on
/// stderr (the pool still works, at the priority the thread had).
pub(super) fn lower_this_thread(priority: CpuPriority) {
    if priority == CpuPriority::Normal {
        return;
    }
    if let Err(err) = sys::apply(priority) {
        eprintln!("weft: a CPU pool thread could not switch to {priority}: {err}");
    }
}

/// Whether this thread runs below normal priority: it lowered itself (a
/// CPU pool thread), or inherited a lowered policy from the thread that
/// started it (a thread a CPU job started, and everything it starts). Read
/// from the OS, not remembered: asked only when a thread is about to be
/// started, which costs far more than these two system calls.
pub(crate) fn this_thread_is_lowered() -> bool {
    sys::is_lowered()
}

#[cfg(all(target_os = "linux", not(loom)))]
mod sys {
    use std::io;

    use crate::runtime::cpu::priority::CpuPriority;

    pub(super) fn apply(priority: CpuPriority) -> io::Result<()> {
        match priority {
            CpuPriority::Normal => Ok(()),
            CpuPriority::Idle => set_policy(libc::SCHED_IDLE),
            CpuPriority::Background => {
                set_policy(libc::SCHED_BATCH)?;
                // SAFETY: gettid takes no arguments and touches no memory.
                let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
                // SAFETY: `setpriority` takes integers only and touches no
                // memory of ours; any value is sound (a bad one is an error
                // return). On Linux a thread id names one thread.
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 19) } == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            }
        }
    }

    /// The calling thread's policy is idle, or batch at nice 19: what
    /// [`apply`] sets, and what a thread started by such a thread inherits.
    pub(super) fn is_lowered() -> bool {
        // SAFETY: `sched_getscheduler` takes an integer (0: this thread)
        // and touches no memory of ours.
        let policy = unsafe { libc::sched_getscheduler(0) };
        match policy {
            libc::SCHED_IDLE => true,
            libc::SCHED_BATCH => {
                // SAFETY: gettid takes no arguments and touches no memory.
                let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
                // SAFETY: integers only, no memory of ours. A -1 result is
                // either nice -1 or an error: neither is nice 19.
                unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) == 19 }
            }
            _ => false,
        }
    }

    /// Sets the calling thread's scheduling policy (with priority 0, the
    /// only one the non-real-time policies take).
    fn set_policy(policy: libc::c_int) -> io::Result<()> {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `pthread_self` is always the calling thread's valid handle,
        // and `param` is an initialised `sched_param` that outlives the call
        // (which only reads it).
        let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), policy, &param) };
        match rc {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(any(not(target_os = "linux"), loom))]
mod sys {
    use crate::runtime::cpu::priority::CpuPriority;

    /// Only Linux lowers a single thread without privilege; elsewhere the
    /// pool runs at normal priority (documented on `CpuPriority`). Loom
    /// models have no OS threads to lower.
    pub(super) fn apply(_priority: CpuPriority) -> std::io::Result<()> {
        Ok(())
    }

    pub(super) fn is_lowered() -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux", not(loom)))]
mod tests {
    use super::*;

    fn policy_and_nice_of_a_thread_at(priority: CpuPriority) -> (libc::c_int, libc::c_int) {
        std::thread::spawn(move || {
            lower_this_thread(priority);
            // SAFETY: `pthread_self` is the calling thread's valid handle;
            // both out-pointers are to live locals.
            let policy = unsafe {
                let mut policy = 0;
                let mut param = libc::sched_param { sched_priority: 0 };
                assert_eq!(
                    libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param),
                    0
                );
                policy
            };
            // SAFETY: gettid takes no arguments and touches no memory.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
            // SAFETY: integers only, no memory of ours (a -1 result could
            // be an error, but this thread's nice value is 0 or 19 here).
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
            (policy, nice)
        })
        .join()
        .unwrap()
    }

    #[test]
    fn each_priority_sets_its_policy_on_the_calling_thread_only() {
        let (base_policy, base_nice) = policy_and_nice_of_a_thread_at(CpuPriority::Normal);
        assert_eq!(base_policy, libc::SCHED_OTHER);
        assert_eq!(policy_and_nice_of_a_thread_at(CpuPriority::Idle).0, libc::SCHED_IDLE);
        assert_eq!(
            policy_and_nice_of_a_thread_at(CpuPriority::Background),
            (libc::SCHED_BATCH, 19)
        );
        // The test's own thread kept its policy.
        assert_eq!(policy_and_nice_of_a_thread_at(CpuPriority::Normal), (base_policy, base_nice));
    }
}
