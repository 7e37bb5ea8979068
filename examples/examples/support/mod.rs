//! Helpers shared by the networking examples (`chat`, `c10k`, `echo`): the
//! process's memory and thread count from `/proc`, the file-descriptor
//! limit, and the servers' stop signal. Linux only, like the figures they
//! read.

// Each example uses only some of these helpers.
#![allow(dead_code)]

use std::fs::File;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use weft::signal::unix::{signal, SignalKind};
use weft::task::JoinSet;

/// A snapshot of the process's memory and threads.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    /// Resident set size: memory pages actually in RAM (`/proc/self/statm`).
    pub rss: u64,
    /// Peak resident set size so far (`VmHWM` in `/proc/self/status`).
    pub hwm: u64,
    /// Virtual size: everything mapped, touched or not (`VmSize`).
    pub virt: u64,
    /// Threads in the process (`Threads` in `/proc/self/status`).
    pub threads: u64,
    /// Memory mappings (lines of `/proc/self/maps`).
    pub mappings: u64,
}

impl ProcStats {
    /// Reads the figures now; a figure that cannot be read is 0.
    pub fn now() -> ProcStats {
        let status = read_proc("/proc/self/status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        ProcStats {
            rss: rss_bytes(),
            hwm: field("VmHWM") * 1024,
            virt: field("VmSize") * 1024,
            threads: field("Threads"),
            mappings: read_proc("/proc/self/maps").lines().count() as u64,
        }
    }
}

/// Resident set size in bytes: the second field of `/proc/self/statm`
/// (in pages) times the page size.
pub fn rss_bytes() -> u64 {
    let statm = read_proc("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value; _SC_PAGESIZE is a
    // valid name on every Linux, so the call has no preconditions to break.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// `KernelStack` in `/proc/meminfo`, bytes: the kernel-side stacks of all
/// threads of the system (16 KiB each on x86-64), which no RSS shows.
pub fn kernel_stacks() -> u64 {
    let meminfo = read_proc("/proc/meminfo");
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("KernelStack:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Reads a `/proc` file through a descriptor opened on first use and kept
/// open, so that the figures can still be read once the process has run
/// out of file descriptors. Empty if it cannot be read.
fn read_proc(path: &'static str) -> String {
    static FILES: Mutex<Vec<(&str, File)>> = Mutex::new(Vec::new());
    let mut files = FILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match files.iter().position(|(open, _)| *open == path) {
        Some(index) => index,
        None => match File::open(path) {
            Ok(file) => {
                files.push((path, file));
                files.len() - 1
            }
            Err(_) => return String::new(),
        },
    };
    let file = &mut files[index].1;
    let mut text = String::new();
    if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_string(&mut text).is_err() {
        text.clear();
    }
    text
}

/// Raises the soft limit on open file descriptors (`RLIMIT_NOFILE`) to the
/// hard limit, the most an unprivileged process may have, and returns the
/// new soft limit. Many systems start processes at a soft limit of 1024,
/// far too few for thousands of sockets.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable `rlimit` that outlives the call,
    // which is all getrlimit needs.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid, initialised `rlimit` that outlives the
        // call; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// `bytes` in MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `bytes` in KiB with one decimal.
pub fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

/// A server's shutdown: aborts the connection tasks still in `tasks` and
/// waits (at most 5 s) until they are dropped, which closes their sockets.
/// Returns how many were still open.
pub async fn close_all(tasks: &mut JoinSet<()>) -> usize {
    while tasks.try_join_next().is_some() {} // the ended ones
    let open = tasks.len();
    let _ = weft::time::timeout(Duration::from_secs(5), tasks.shutdown()).await;
    open
}

/// Starts listening for `SIGINT` (Ctrl-C) and `SIGTERM` now; the future
/// completes at the first of them, with its name. (It would also complete
/// if the runtime shut down, which ends the program anyway.)
pub fn stop_signal() -> io::Result<impl Future<Output = &'static str>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(poll_fn(move |cx| {
        if interrupt.poll_recv(cx).is_ready() {
            Poll::Ready("SIGINT (Ctrl-C)")
        } else if terminate.poll_recv(cx).is_ready() {
            Poll::Ready("SIGTERM")
        } else {
            Poll::Pending
        }
    }))
}
