//! `weft::signal`: listeners woken by signals the test raises in its own
//! process.
//!
//! This file is its own test binary, so a raised signal can only reach the
//! tests below. They run one at a time (`serial`) and each uses its own
//! signal, so one test's deliveries never wake another's listeners. Every
//! signal is raised only once a listener for it exists: until then its
//! default action (terminating the process, for most) is in force.

#![cfg(unix)]

mod common;

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::{expect_no_runtime_failure, runtime, std_block_on, with_timeout};
use weft::signal::unix::{signal, Signal, SignalKind};
use weft::time::timeout;

/// Generous bound for a delivery that must come.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long a listener with nothing pending is watched to stay pending.
const QUIET: Duration = Duration::from_millis(200);

/// Serialises the tests (see the top of the file).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends `signum` to this process (any thread not blocking it handles it).
fn kill_self(signum: libc::c_int) {
    // SAFETY: kill(2) with our own pid only delivers a signal; every test
    // calls it only for a signal that has a listener, whose handler writes
    // one byte to a socket.
    let rc = unsafe { libc::kill(libc::getpid(), signum) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
}

/// Sends `signum` to the calling thread only.
fn raise(signum: libc::c_int) {
    // SAFETY: as in `kill_self`: raise(3) only delivers a signal that has a
    // listener.
    let rc = unsafe { libc::raise(signum) };
    assert_eq!(rc, 0, "raise: {}", io::Error::last_os_error());
}

/// `recv` completes within `ARRIVES`.
async fn arrives(listener: &mut Signal) {
    let got = timeout(ARRIVES, listener.recv()).await;
    assert_eq!(got, Ok(Some(())), "{:?}: no wake-up within {ARRIVES:?}", listener.kind());
}

/// `recv` is still pending after `QUIET`.
async fn stays_quiet(listener: &mut Signal) {
    let got = timeout(QUIET, listener.recv()).await;
    assert!(got.is_err(), "{:?}: woken with nothing delivered: {got:?}", listener.kind());
}

#[test]
fn raise_wakes_the_listener() {
    let _serial = serial();
    with_timeout("raise_wakes_the_listener", 60, || {
        runtime(2).block_on(async {
            let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
            assert_eq!(usr1.kind(), SignalKind::user_defined1());
            kill_self(libc::SIGUSR1);
            arrives(&mut usr1).await;
            stays_quiet(&mut usr1).await;

            // Again, raised from a task on a worker thread this time.
            weft::spawn(async { raise(libc::SIGUSR1) }).await.unwrap();
            arrives(&mut usr1).await;
        })
    });
}

#[test]
fn current_thread_runtime() {
    let _serial = serial();
    with_timeout("current_thread_runtime", 60, || {
        let rt = weft::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
            // From a spawned task, which runs inside this `block_on`.
            let waiter = weft::spawn(async move {
                arrives(&mut usr1).await;
            });
            weft::time::sleep(Duration::from_millis(20)).await;
            kill_self(libc::SIGUSR1);
            timeout(ARRIVES, waiter).await.expect("no wake-up").unwrap();
        })
    });
}

#[test]
fn every_listener_of_a_signal_wakes() {
    let _serial = serial();
    with_timeout("every_listener_of_a_signal_wakes", 60, || {
        runtime(2).block_on(async {
            let mut first = signal(SignalKind::user_defined2()).unwrap();
            let mut second = signal(SignalKind::user_defined2()).unwrap();
            // One waits in another task, one here.
            let waiter = weft::spawn(async move {
                arrives(&mut second).await;
                second
            });
            weft::time::sleep(Duration::from_millis(20)).await;
            kill_self(libc::SIGUSR2);
            arrives(&mut first).await;
            let mut second = timeout(ARRIVES, waiter).await.expect("second listener").unwrap();
            stays_quiet(&mut first).await;
            stays_quiet(&mut second).await;
        })
    });
}

#[test]
fn deliveries_before_recv_coalesce() {
    let _serial = serial();
    with_timeout("deliveries_before_recv_coalesce", 60, || {
        runtime(2).block_on(async {
            let mut alarm = signal(SignalKind::alarm()).unwrap();
            for _ in 0..1000 {
                raise(libc::SIGALRM);
            }
            // raise(3) runs the handler before it returns, so all 1000
            // deliveries are pending here: they make exactly one wake-up.
            arrives(&mut alarm).await;
            stays_quiet(&mut alarm).await;
            // And the next one still comes.
            raise(libc::SIGALRM);
            arrives(&mut alarm).await;
        })
    });
}

#[test]
fn drop_and_listen_again() {
    let _serial = serial();
    with_timeout("drop_and_listen_again", 60, || {
        runtime(2).block_on(async {
            let mut hangup = signal(SignalKind::hangup()).unwrap();
            raise(libc::SIGHUP);
            arrives(&mut hangup).await;
            drop(hangup);

            // No listener now, and the default action (terminate) does not
            // come back: this delivery is ignored, the process lives on.
            raise(libc::SIGHUP);

            // A new listener sees only deliveries from its creation on.
            let mut hangup = signal(SignalKind::hangup()).unwrap();
            stays_quiet(&mut hangup).await;
            raise(libc::SIGHUP);
            arrives(&mut hangup).await;

            // Many listeners come and go; each new one works.
            for _ in 0..50 {
                drop(signal(SignalKind::hangup()).unwrap());
            }
            let mut hangup2 = signal(SignalKind::hangup()).unwrap();
            raise(libc::SIGHUP);
            arrives(&mut hangup).await;
            arrives(&mut hangup2).await;
        })
    });
}

#[cfg(target_os = "linux")]
#[test]
fn dropped_listeners_close_their_sockets() {
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }
    let _serial = serial();
    with_timeout("dropped_listeners_close_their_sockets", 60, || {
        runtime(2).block_on(async {
            // Warm up: the registry's first use allocates its globals.
            drop(signal(SignalKind::window_change()).unwrap());
            let before = open_fds();
            let listeners: Vec<_> =
                (0..100).map(|_| signal(SignalKind::window_change()).unwrap()).collect();
            assert!(open_fds() >= before + 200, "two sockets per listener");
            drop(listeners);
            let after = open_fds();
            assert!(after <= before + 2, "descriptors leaked: {before} before, {after} after");
        })
    });
}

#[test]
fn ctrl_c_sees_a_sigint_sent_before_it_is_polled() {
    let _serial = serial();
    with_timeout("ctrl_c_sees_a_sigint_sent_before_it_is_polled", 60, || {
        runtime(2).block_on(async {
            // Listening starts at the call: this SIGINT, sent before the
            // first poll, completes the future (and does not end the test).
            let ctrl_c = weft::signal::ctrl_c();
            kill_self(libc::SIGINT);
            let got = timeout(ARRIVES, ctrl_c).await.expect("ctrl_c did not complete");
            got.unwrap();

            // And one sent while it waits.
            let ctrl_c = weft::spawn(weft::signal::ctrl_c());
            weft::time::sleep(Duration::from_millis(20)).await;
            raise(libc::SIGINT);
            timeout(ARRIVES, ctrl_c).await.expect("ctrl_c did not complete").unwrap().unwrap();
        })
    });
}

#[test]
fn from_raw_numbers() {
    let _serial = serial();
    assert_eq!(SignalKind::from_raw(libc::SIGUSR2), SignalKind::user_defined2());
    assert_eq!(SignalKind::from(libc::SIGTERM), SignalKind::terminate());
    assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
    assert_eq!(libc::c_int::from(SignalKind::quit()), libc::SIGQUIT);
    assert_eq!(format!("{:?}", SignalKind::hangup()), "SignalKind(SIGHUP)");
    assert_eq!(
        SignalKind::from_raw(libc::SIGINT).to_string(),
        format!("SIGINT ({})", libc::SIGINT)
    );
    let named = [
        (SignalKind::alarm(), libc::SIGALRM),
        (SignalKind::child(), libc::SIGCHLD),
        (SignalKind::hangup(), libc::SIGHUP),
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::pipe(), libc::SIGPIPE),
        (SignalKind::quit(), libc::SIGQUIT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::user_defined1(), libc::SIGUSR1),
        (SignalKind::user_defined2(), libc::SIGUSR2),
        (SignalKind::window_change(), libc::SIGWINCH),
    ];
    for (kind, signum) in named {
        assert_eq!(kind.as_raw_value(), signum, "{kind:?}");
    }

    with_timeout("from_raw_numbers", 60, || {
        runtime(1).block_on(async {
            // A signal with no named constructor, by number.
            #[cfg(target_os = "linux")]
            let signum = libc::SIGRTMIN() + 1;
            #[cfg(not(target_os = "linux"))]
            let signum = libc::SIGURG;
            let mut listener = signal(SignalKind::from_raw(signum)).unwrap();
            raise(signum);
            arrives(&mut listener).await;
        })
    });
}

#[test]
fn signals_that_cannot_be_handled_are_errors() {
    let _serial = serial();
    with_timeout("signals_that_cannot_be_handled_are_errors", 60, || {
        runtime(1).block_on(async {
            for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGILL, libc::SIGFPE, libc::SIGSEGV]
            {
                let err = signal(SignalKind::from_raw(signum)).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signum}: {err}");
                assert!(err.to_string().contains("cannot be listened for"), "{err}");
            }
            for signum in [0, -1] {
                let err = signal(SignalKind::from_raw(signum)).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signum}: {err}");
            }
            // Past the last signal: the OS refuses it.
            let err = signal(SignalKind::from_raw(100_000)).unwrap_err();
            assert!(err.to_string().contains("signal 100000"), "{err}");
        })
    });
}

#[test]
fn outside_a_runtime_is_an_error() {
    let _serial = serial();
    expect_no_runtime_failure("signal()", || Some(signal(SignalKind::user_defined1())));
    // `ctrl_c` registers nothing outside a runtime: its future is an error.
    expect_no_runtime_failure("ctrl_c()", || {
        std_block_on(weft::signal::ctrl_c(), Duration::from_secs(5))
    });
}

#[test]
fn recv_is_none_after_the_runtime_shuts_down() {
    let _serial = serial();
    with_timeout("recv_is_none_after_the_runtime_shuts_down", 60, || {
        let rt = runtime(1);
        let mut listener = rt.block_on(async { signal(SignalKind::user_defined1()) }).unwrap();
        drop(rt);
        let got = std_block_on(listener.recv(), Duration::from_secs(5));
        assert_eq!(got, Some(None), "recv after shutdown");
    });
}
