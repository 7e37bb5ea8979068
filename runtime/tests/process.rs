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
