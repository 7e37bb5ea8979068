//! Process figures for weft's benches and examples, read in one place: the
//! resident set, peak and virtual size, thread and mapping counts of this
//! process, the kernel stacks of the whole system, and the open-file limit
//! (read and raised).
//!
//! Linux only: the figures come from `/proc`. An internal crate of the
//! workspace, not published; it does not depend on weft, so the Tokio side
//! of a benchmark reads its figures through exactly the same code.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;

/// A snapshot of the process's memory and threads.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    /// Resident set size in bytes ([`rss_bytes`]), 0 if unreadable.
    pub rss: u64,
    /// Peak resident set size so far, bytes (`VmHWM` in `/proc/self/status`).
    pub hwm: u64,
    /// Virtual size, bytes: everything mapped, touched or not (`VmSize`).
    pub virt: u64,
    /// Threads in the process ([`threads`]).
    pub threads: u64,
    /// Memory mappings (lines of `/proc/self/maps`).
    pub mappings: u64,
}

impl ProcStats {
    /// Reads the figures now; a figure that cannot be read is 0.
    pub fn now() -> ProcStats {
        let status = read_proc("/proc/self/status").unwrap_or_default();
        let field = |name| status_field(&status, name).unwrap_or(0);
        ProcStats {
            rss: rss_bytes().unwrap_or(0),
            hwm: field("VmHWM") * 1024,
            virt: field("VmSize") * 1024,
            threads: field("Threads"),
            mappings: read_proc("/proc/self/maps").map_or(0, |maps| maps.lines().count() as u64),
        }
    }
}

/// Resident set size of this process in bytes: the second field of
/// `/proc/self/statm` (in pages) times the page size. `None` if it cannot
/// be read.
pub fn rss_bytes() -> Option<u64> {
    let statm = read_proc("/proc/self/statm")?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Threads in this process (`Threads` in `/proc/self/status`), or 0 if
/// that cannot be read. The difference around building and warming a
/// runtime is the number of threads it started.
pub fn threads() -> u64 {
    read_proc("/proc/self/status").and_then(|status| status_field(&status, "Threads")).unwrap_or(0)
}

/// `KernelStack` in `/proc/meminfo`, bytes: the kernel-side stacks of all
/// threads of the system (16 KiB each on x86-64), which no RSS shows. 0 if
/// it cannot be read.
pub fn kernel_stacks() -> u64 {
    read_proc("/proc/meminfo")
        .and_then(|meminfo| status_field(&meminfo, "KernelStack"))
        .map_or(0, |kb| kb * 1024)
}

/// Raises the soft limit on open file descriptors (`RLIMIT_NOFILE`) to the
/// hard limit, the most an unprivileged process may have, and returns the
/// soft limit in force afterwards: unchanged if raising it failed, so that
/// the caller sizes its work by what it really has. Many systems start
/// processes at a soft limit of 1024, far too few for thousands of sockets.
///
/// # Errors
///
/// If the limit cannot be read.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable `rlimit` that outlives the call,
    // which is all getrlimit needs.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `raised` is a valid, initialised `rlimit` that outlives the
        // call; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(raised.rlim_cur);
        }
    }
    Ok(limit.rlim_cur)
}

/// The system's page size in bytes (4096 if `sysconf` does not say).
fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value; _SC_PAGESIZE is a
    // valid name on every Linux, so the call has no preconditions to break.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&size| size > 0).unwrap_or(4096)
}

/// The number after `name:` in a `/proc` file of `Name: value [unit]`
/// lines (`/proc/self/status`, `/proc/meminfo`).
fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Reads a `/proc` file through a descriptor opened on first use and kept
/// open, so that the figures can still be read once the process has run
/// out of file descriptors (the examples and benches that hold thousands
/// of sockets get there). `None` if it cannot be read.
fn read_proc(path: &'static str) -> Option<String> {
    static FILES: Mutex<Vec<(&str, File)>> = Mutex::new(Vec::new());
    let mut files = FILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match files.iter().position(|(open, _)| *open == path) {
        Some(index) => index,
        None => {
            files.push((path, File::open(path).ok()?));
            files.len() - 1
        }
    };
    let file = &mut files[index].1;
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_readable() {
        let stats = ProcStats::now();
        // Each is read at its own moment, so they are not compared.
        assert!(stats.rss > 0 && stats.hwm > 0 && stats.virt > 0, "{stats:?}");
        assert!(stats.threads >= 1 && stats.mappings > 0);
        assert_eq!(rss_bytes().map(|rss| rss > 0), Some(true));
        assert!(threads() >= 1);
        assert!(kernel_stacks() > 0);
    }

    #[test]
    fn fd_limit_is_raised_to_the_hard_limit() {
        let soft = raise_fd_limit().unwrap();
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `limit` is a valid, writable `rlimit` that outlives the call.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }

    #[test]
    fn status_fields_parse() {
        let text = "Name:\tx\nThreads:\t7\nVmHWM:\t  1234 kB\n";
        assert_eq!(status_field(text, "Threads"), Some(7));
        assert_eq!(status_field(text, "VmHWM"), Some(1234));
        assert_eq!(status_field(text, "VmSize"), None);
    }
}
