//! `weft::process`: spawning, pipes, exit statuses, kills, and that no
//! child is left running or a zombie after its `Child` is dropped.

#![cfg(unix)]

mod common;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use common::{both_flavors, wait_until, wait_until_async, with_timeout, Flavor};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::process::Command;

/// Generous bound for a child to exit or be reaped.
const REAPED: Duration = Duration::from_secs(15);

/// The state letter in /proc/<pid>/stat (`R`, `S`, `Z`...), or `None` once
/// the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state is
    // the first field after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

fn echo_output(flavor: Flavor) {
    with_timeout("echo_output", 30, move || {
        flavor.build().block_on(async {
            let output = Command::new("echo").arg("hi").output().await.unwrap();
            assert!(output.status.success(), "{:?}", output.status);
            assert_eq!(output.stdout, b"hi\n");
            assert!(output.stderr.is_empty());
        })
    });
}
both_flavors!(echo_output);

fn exit_code(flavor: Flavor) {
    with_timeout("exit_code", 30, move || {
        flavor.build().block_on(async {
            let status = Command::new("sh").args(["-c", "exit 3"]).status().await.unwrap();
            assert_eq!(status.code(), Some(3));

            // The same through spawn + wait, from a spawned task.
            let task = weft::spawn(async {
                let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
                assert!(child.id().is_some());
                let status = child.wait().await.unwrap();
                // Waiting again gives the same status; the pid is no longer ours.
                assert_eq!(child.wait().await.unwrap(), status);
                assert_eq!(child.id(), None);
                status
            });
            assert_eq!(task.await.unwrap().code(), Some(3));
        })
    });
}
both_flavors!(exit_code);

fn stdin_to_cat(flavor: Flavor) {
    with_timeout("stdin_to_cat", 30, move || {
        flavor.build().block_on(async {
            let mut child =
                Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            // More than a pipe buffer (64 KiB), so the writer must wait for
            // the reader: written from another task while this one reads.
            let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let expected = data.clone();
            let writer = weft::spawn(async move {
                stdin.write_all(&data).await.unwrap();
                stdin.close().await.unwrap();
                // Closed: no more writes.
                let err = stdin.write(b"x").await.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::NotConnected);
            });
            let mut echoed = Vec::new();
            stdout.read_to_end(&mut echoed).await.unwrap();
            writer.await.unwrap();
            assert!(echoed == expected, "cat echoed {} of {} bytes", echoed.len(), expected.len());
            assert!(child.wait().await.unwrap().success());

            // wait_with_output closes stdin itself and collects both streams.
            let mut child = Command::new("sh")
                .args(["-c", "cat; echo oops >&2"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.as_mut().unwrap().write_all(b"piped\n").await.unwrap();
            let output = child.wait_with_output().await.unwrap();
            assert!(output.status.success());
            assert_eq!(output.stdout, b"piped\n");
            assert_eq!(output.stderr, b"oops\n");
        })
    });
}
both_flavors!(stdin_to_cat);

fn kill_sleep(flavor: Flavor) {
    with_timeout("kill_sleep", 30, move || {
        flavor.build().block_on(async {
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            let pid = child.id().unwrap();
            child.kill().await.unwrap();
            let status = child.wait().await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
            assert_eq!(status.code(), None);
            // `kill` waited: reaped, so no zombie is left.
            assert_eq!(proc_state(pid), None, "pid {pid} not reaped");
            // Killing an exited child is not an error.
            child.start_kill().unwrap();
        })
    });
}
both_flavors!(kill_sleep);

fn try_wait(flavor: Flavor) {
    with_timeout("try_wait", 30, move || {
        flavor.build().block_on(async {
            let mut child =
                Command::new("sh").args(["-c", "read line"]).stdin(Stdio::piped()).spawn().unwrap();
            assert!(child.try_wait().unwrap().is_none(), "exited before its input closed");
            // Closing its stdin lets `read` see end of input and the shell exit.
            drop(child.stdin.take());
            let mut status = None;
            assert!(
                wait_until_async(REAPED, || {
                    status = child.try_wait().unwrap();
                    status.is_some()
                })
                .await,
                "try_wait never saw the exit"
            );
            assert_eq!(status.unwrap().code(), Some(1));
            assert_eq!(child.try_wait().unwrap(), status);
        })
    });
}
both_flavors!(try_wait);

fn missing_program(flavor: Flavor) {
    with_timeout("missing_program", 30, move || {
        flavor.build().block_on(async {
            let err = Command::new("weft-no-such-program-7f3a").spawn().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
            let err = Command::new("weft-no-such-program-7f3a").output().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        })
    });
}
both_flavors!(missing_program);

#[test]
fn outside_a_runtime() {
    let dir = std::env::temp_dir().join(format!("weft-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("started");
    let err = Command::new("sh")
        .arg("-c")
        .arg("touch \"$0\"")
        .arg(&marker)
        .spawn()
        .expect_err("spawned outside a runtime");
    assert!(err.to_string().contains("runtime"), "the error does not name the runtime: {err}");
    // Had a process started, it would have created the marker by now.
    assert!(!wait_until(Duration::from_millis(500), || marker.exists()), "a process was started");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn kill_on_drop(flavor: Flavor) {
    with_timeout("kill_on_drop", 60, move || {
        let rt = flavor.build();
        let pid = rt.block_on(async {
            let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
            let pid = child.id().unwrap();
            drop(child);
            // Killed and reaped in the background: the pid disappears (a
            // zombie would keep its /proc entry).
            assert!(
                wait_until_async(REAPED, || proc_state(pid).is_none()).await,
                "pid {pid} still there: {:?}",
                proc_state(pid)
            );
            pid
        });
        drop(rt);
        assert_eq!(proc_state(pid), None);
    });
}
both_flavors!(kill_on_drop);

fn dropped_child_is_reaped(flavor: Flavor) {
    with_timeout("dropped_child_is_reaped", 60, move || {
        flavor.build().block_on(async {
            let child = Command::new("true").spawn().unwrap();
            let pid = child.id().unwrap();
            drop(child);
            // Reaped in the background: the pid disappears, it does not
            // stay a zombie ('Z').
            assert!(
                wait_until_async(REAPED, || proc_state(pid).is_none()).await,
                "pid {pid} left a zombie: {:?}",
                proc_state(pid)
            );
        })
    });
}
both_flavors!(dropped_child_is_reaped);

/// A runtime that nothing drives does not hold the only reaper: another
/// runtime's dropped child is reaped while the first stays idle.
#[test]
fn an_idle_runtime_does_not_stop_other_runtimes_reaping() {
    with_timeout("idle runtime reaper", 60, || {
        // A current-thread runtime drops a child, then sits between
        // `block_on`s: its reaper task cannot run.
        let idle = Flavor::CurrentThread.build();
        let first = idle.block_on(async {
            let child = Command::new("sleep").arg("0.1").spawn().unwrap();
            let pid = child.id().unwrap();
            drop(child);
            pid
        });
        let busy = Flavor::MultiThread(2).build();
        busy.block_on(async {
            let child = Command::new("sleep").arg("0.1").spawn().unwrap();
            let pid = child.id().unwrap();
            drop(child);
            assert!(
                wait_until_async(REAPED, || proc_state(pid).is_none()).await,
                "pid {pid} left a zombie: {:?}",
                proc_state(pid)
            );
            // The same queue: the idle runtime's child is reaped too.
            assert!(wait_until_async(REAPED, || proc_state(first).is_none()).await);
        });
        drop(idle);
    });
}

/// One child's stdout is the next one's stdin, and a `ChildStdin` or a
/// `ChildStderr` can be another child's stdout or stdin too.
fn pipes_between_children(flavor: Flavor) {
    with_timeout("pipes_between_children", 60, move || {
        flavor.build().block_on(async {
            // printf | tr, read through the second child's weft stdout.
            let mut printf = Command::new("printf")
                .arg("hello pipes\\n")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout: Stdio = printf.stdout.take().unwrap().try_into().unwrap();
            let upper = Command::new("tr").args(["a-z", "A-Z"]).stdin(stdout).output().await;
            let upper = upper.unwrap();
            assert!(upper.status.success(), "{:?}", upper.status);
            assert_eq!(upper.stdout, b"HELLO PIPES\n");
            assert!(printf.wait().await.unwrap().success());

            // printf writes into tr's weft stdin, handed over as printf's
            // stdout; tr sees the end once printf exits, since no copy of
            // that write end is left here.
            let mut tr = Command::new("tr")
                .args(["a-z", "A-Z"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let into_tr: Stdio = tr.stdin.take().unwrap().try_into().unwrap();
            let status = Command::new("printf").arg("to stdin\\n").stdout(into_tr).status().await;
            assert!(status.unwrap().success());
            let mut out = String::new();
            tr.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
            assert_eq!(out, "TO STDIN\n");
            assert!(tr.wait().await.unwrap().success());

            // A child's stderr into the next one's stdin.
            let mut sh = Command::new("sh")
                .args(["-c", "echo oops >&2"])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr: Stdio = sh.stderr.take().unwrap().try_into().unwrap();
            let upper = Command::new("tr").args(["a-z", "A-Z"]).stdin(stderr).output().await;
            assert_eq!(upper.unwrap().stdout, b"OOPS\n");
            assert!(sh.wait().await.unwrap().success());
        })
    });
}
both_flavors!(pipes_between_children);

/// The fds every epoll instance of this process watches, from
/// `/proc/self/fdinfo` (a `tfd:` line per registered fd).
#[cfg(target_os = "linux")]
fn epoll_watched_fds() -> std::collections::HashSet<i32> {
    let mut watched = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[eventpoll]");
        if !is_epoll {
            continue;
        }
        let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        // The epoll may have been closed since the listing: skip it.
        let Ok(info) = std::fs::read_to_string(info) else { continue };
        for line in info.lines().filter_map(|line| line.strip_prefix("tfd:")) {
            watched.insert(line.split_whitespace().next().unwrap().parse().unwrap());
        }
    }
    watched
}

#[cfg(target_os = "linux")]
fn is_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL on a descriptor the borrow keeps open.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "{}", io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

/// `into_owned_fd` hands out the pipe deregistered from the reactor and
/// blocking; `as_fd` / `as_raw_fd` name the same descriptor meanwhile.
#[cfg(target_os = "linux")]
fn into_owned_fd_is_deregistered_and_blocking(flavor: Flavor) {
    use std::io::{Read, Write};
    use std::os::fd::{AsFd, AsRawFd};

    with_timeout("into_owned_fd", 60, move || {
        flavor.build().block_on(async {
            let mut cat = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let (stdin, stdout) = (cat.stdin.take().unwrap(), cat.stdout.take().unwrap());
            let stderr = cat.stderr.take().unwrap();
            let fds = [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
            assert_eq!(fds, [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()].map(|f| f.as_raw_fd()));
            let watched = epoll_watched_fds();
            for fd in fds {
                assert!(watched.contains(&fd), "fd {fd} is registered while it is a weft pipe");
                // SAFETY: the pipe objects keep `fd` open for this call.
                assert!(is_nonblocking(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }));
            }

            let owned = [stdin.into_owned_fd(), stdout.into_owned_fd(), stderr.into_owned_fd()]
                .map(Result::unwrap);
            // Owning them, nobody else can have reused their numbers.
            assert_eq!(owned.each_ref().map(|f| f.as_raw_fd()), fds);
            let watched = epoll_watched_fds();
            for fd in &owned {
                assert!(!watched.contains(&fd.as_raw_fd()), "handed out still registered");
                assert!(!is_nonblocking(fd.as_fd()), "handed out in non-blocking mode");
            }

            // Plain blocking I/O through them, on a thread of its own.
            let [stdin, stdout, stderr] = owned;
            let echoed = std::thread::spawn(move || {
                let mut stdin = std::fs::File::from(stdin);
                stdin.write_all(b"through owned fds\n").unwrap();
                drop(stdin);
                let mut out = String::new();
                std::fs::File::from(stdout).read_to_string(&mut out).unwrap();
                let mut err = String::new();
                std::fs::File::from(stderr).read_to_string(&mut err).unwrap();
                (out, err)
            });
            assert!(cat.wait().await.unwrap().success());
            let (out, err) = echoed.join().unwrap();
            assert_eq!(out, "through owned fds\n");
            assert_eq!(err, "");
        })
    });
}
#[cfg(target_os = "linux")]
both_flavors!(into_owned_fd_is_deregistered_and_blocking);

/// A closed stdin has no descriptor left to hand out.
fn into_owned_fd_of_a_closed_stdin(flavor: Flavor) {
    with_timeout("into_owned_fd_closed", 30, move || {
        flavor.build().block_on(async {
            let mut cat = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
            let mut stdin = cat.stdin.take().unwrap();
            stdin.close().await.unwrap();
            let err = stdin.into_owned_fd().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotConnected);
            assert!(cat.wait().await.unwrap().success(), "cat saw the end of its input");
        })
    });
}
both_flavors!(into_owned_fd_of_a_closed_stdin);
