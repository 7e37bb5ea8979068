//! `weft::io::unix::AsyncFd` over descriptors weft has no type for (a
//! pipe, an eventfd, a timerfd), its readiness caching and clearing, bad
//! input, deregistration, a waiter on another worker than the registering
//! one; and `TcpStream::ready`.

mod common;

use std::fs::File;
use std::future::poll_fn;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;

use common::{both_flavors, expect_no_runtime_failure, with_timeout, Flavor, LONG};
use futures_util::{AsyncWriteExt, FutureExt};
use weft::io::unix::{AsyncFd, AsyncFdReadyGuard};
use weft::io::{Interest, Ready};
use weft::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// Helpers

/// A non-blocking pipe: (read end, write end).
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of the two ints pipe2 fills in.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and nothing else
    // owns them: each File becomes their only owner.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// Takes ownership of a descriptor a libc call just returned.
fn owned(fd: libc::c_int, what: &str) -> File {
    assert!(fd >= 0, "{what}: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just created by `what` (checked valid above) and is
    // owned by nothing else.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until `fd` is readable, first sending on `pending` once the wait
/// has really started (was polled `Pending`, its waker stored), so the
/// event that ends it must come through a wake-up.
async fn readable_after_pending<'a>(
    fd: &'a AsyncFd<File>,
    pending: &mpsc::Sender<thread::ThreadId>,
) -> AsyncFdReadyGuard<'a, File> {
    let mut told = false;
    poll_fn(|cx| {
        let poll = fd.poll_read_ready(cx);
        if poll.is_pending() && !told {
            told = true;
            let _ = pending.send(thread::current().id());
        }
        poll
    })
    .await
    .expect("wait for read readiness")
}

/// Reads everything `fd` has now (it is non-blocking) through the guard.
fn drain(guard: &mut AsyncFdReadyGuard<'_, File>) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match guard.try_io(|fd| fd.get_ref().read(&mut buf)) {
            Ok(Ok(0)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
            // WouldBlock: try_io cleared the readiness.
            Err(_would_block) => return got,
        }
    }
}

// ---------------------------------------------------------------------------
// Pipe, eventfd, timerfd

/// Two rounds through a pipe written from another thread once the reader
/// waits: the readiness is cached until cleared, then a wait waits again.
fn pipe_readable_then_cleared(flavor: Flavor) {
    with_timeout(&format!("pipe_readable_then_cleared/{}", flavor.name()), 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let (rx, tx) = pipe();
            let rx = AsyncFd::with_interest(rx, Interest::READABLE).expect("register the pipe");
            let (pending_tx, pending_rx) = mpsc::channel();
            let writer = thread::spawn(move || {
                let mut tx = tx;
                for msg in [&b"first"[..], b"second"] {
                    pending_rx.recv_timeout(LONG).expect("the reader starts waiting");
                    tx.write_all(msg).expect("write to the pipe");
                }
                tx
            });

            for expected in [&b"first"[..], b"second"] {
                let mut guard = readable_after_pending(&rx, &pending_tx).await;
                assert!(guard.ready().is_readable(), "woken without read readiness");
                let got = drain(&mut guard);
                assert_eq!(got, expected);
                assert!(guard.ready().is_empty(), "WouldBlock must clear the guard's readiness");
                drop(guard);
                assert!(
                    rx.readable().now_or_never().is_none(),
                    "readiness cleared after WouldBlock, yet a wait returned at once"
                );
            }

            // Cached until cleared: a guard dropped without clearing leaves
            // the next wait ready at once; clear_ready makes it wait again.
            let tx = writer.join().expect("writer thread");
            (&tx).write_all(b"x").unwrap();
            let guard = rx.readable().await.unwrap();
            drop(guard);
            let mut guard = rx.readable().now_or_never().expect("cached readiness").unwrap();
            let mut byte = [0u8; 1];
            assert_eq!(rx.get_ref().read(&mut byte).unwrap(), 1);
            guard.clear_ready();
            assert_eq!(guard.ready(), Ready::EMPTY);
            drop(guard);
            assert!(rx.readable().now_or_never().is_none(), "clear_ready did not clear");

            // The writer hangs up: read-closed, which stays ready.
            drop(tx);
            let mut guard = rx.readable().await.unwrap();
            assert!(guard.ready().is_read_closed(), "hang-up not seen: {:?}", guard.ready());
            assert_eq!(guard.try_io(|fd| fd.get_ref().read(&mut byte)).unwrap().unwrap(), 0);
            guard.clear_ready();
            drop(guard);
            assert!(rx.readable().now_or_never().is_some(), "read-closed is final");
        });
    });
}
both_flavors!(pipe_readable_then_cleared);

/// An eventfd is writable at once; after writing 1 it is readable and the
/// counter reads 1.
fn eventfd_counter(flavor: Flavor) {
    with_timeout(&format!("eventfd_counter/{}", flavor.name()), 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            // SAFETY: eventfd takes no pointers; `owned` checks the result.
            let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            let mut fd = AsyncFd::new(owned(raw, "eventfd")).expect("register the eventfd");

            {
                let mut guard = fd.writable_mut().await.expect("writable");
                assert!(guard.ready().is_writable());
                let n = guard
                    .try_io(|fd| fd.get_mut().write(&1u64.to_ne_bytes()))
                    .expect("a fresh eventfd takes a write")
                    .expect("write the counter");
                assert_eq!(n, 8);
            }

            drop(fd.readable().await.expect("readable after the write"));
            // Both sides are cached now: a wait for either reports both.
            let both = fd.ready(Interest::READABLE | Interest::WRITABLE).await.unwrap();
            assert!(both.ready().is_readable() && both.ready().is_writable(), "{:?}", both.ready());
            drop(both);

            let mut guard = fd.readable().await.unwrap();
            let mut counter = [0u8; 8];
            let n = guard.try_io(|fd| fd.get_ref().read(&mut counter)).unwrap().unwrap();
            assert_eq!((n, u64::from_ne_bytes(counter)), (8, 1));
            // Reading reset the counter: the next read blocks and clears.
            assert!(guard.try_io(|fd| fd.get_ref().read(&mut counter)).is_err());
            // Only the read side was cleared: still writable. (Readable may
            // be back as a false alarm: the read itself makes epoll report
            // the eventfd again, and a clear never erases a newer event.)
            drop(guard);
            let mut guard = fd.ready(Interest::READABLE | Interest::WRITABLE).await.unwrap();
            assert!(guard.ready().is_writable(), "{:?}", guard.ready());
            let readable = guard.ready().is_readable();
            guard.clear_ready_matching(Ready::WRITABLE);
            assert!(!guard.ready().is_writable(), "{:?}", guard.ready());
            assert_eq!(guard.ready().is_readable(), readable, "clear_ready_matching kept the rest");
        });
    });
}
both_flavors!(eventfd_counter);

/// A timerfd armed for 20 ms wakes a task waiting for it to be readable.
fn timerfd_fires(flavor: Flavor) {
    with_timeout(&format!("timerfd_fires/{}", flavor.name()), 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            // SAFETY: timerfd_create takes no pointers; `owned` checks it.
            let raw = unsafe {
                libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
            };
            let timer = AsyncFd::new(owned(raw, "timerfd_create")).expect("register the timerfd");
            assert!(timer.readable().now_or_never().is_none(), "unarmed timer readable");

            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec { tv_sec: 0, tv_nsec: 20_000_000 },
            };
            // SAFETY: `spec` is a valid itimerspec for the call's duration;
            // a null old-value pointer is allowed (the old setting is not
            // wanted); the descriptor is the open timerfd `timer` owns.
            let rc =
                unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
            assert_eq!(rc, 0, "timerfd_settime: {}", std::io::Error::last_os_error());

            let fired = weft::time::timeout(LONG, async {
                loop {
                    let mut guard = timer.readable().await.expect("wait for the timer");
                    let mut expirations = [0u8; 8];
                    match guard.try_io(|fd| fd.get_ref().read(&mut expirations)) {
                        Ok(result) => {
                            assert_eq!(result.expect("read the timerfd"), 8);
                            return u64::from_ne_bytes(expirations);
                        }
                        Err(_would_block) => continue,
                    }
                }
            })
            .await
            .expect("the timerfd did not wake its waiter within 20 s");
            assert_eq!(fired, 1, "one-shot timer expirations");
        });
    });
}
both_flavors!(timerfd_fires);

// ---------------------------------------------------------------------------
// Bad input, deregistration

/// A regular file cannot be polled: the OS's EPERM comes back.
fn regular_file_is_refused(flavor: Flavor) {
    let rt = flavor.build();
    rt.block_on(async {
        let file = File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let err = AsyncFd::new(file).expect_err("epoll refuses a regular file");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    });
}
both_flavors!(regular_file_is_refused);

#[test]
fn outside_a_runtime_is_an_error_naming_it() {
    let (rx, _tx) = pipe();
    expect_no_runtime_failure("AsyncFd::new", || Some(AsyncFd::new(rx)));
}

/// `into_inner` and drop deregister without closing: the descriptor still
/// works, and registering it again succeeds (epoll would say EEXIST if it
/// were still registered).
fn into_inner_and_drop_deregister(flavor: Flavor) {
    with_timeout(&format!("into_inner_and_drop_deregister/{}", flavor.name()), 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let (rx, tx) = pipe();
            let fd = AsyncFd::new(rx).unwrap();
            let mut rx = fd.into_inner();
            (&tx).write_all(b"still open").unwrap();
            let mut buf = [0u8; 16];
            let n = rx.read(&mut buf).expect("the returned pipe end is open");
            assert_eq!(&buf[..n], b"still open");

            let borrowed = AsyncFd::new(rx.as_fd()).expect("registered again after into_inner");
            drop(borrowed);
            let again = AsyncFd::new(rx).expect("registered again after drop");
            (&tx).write_all(b"!").unwrap();
            let mut guard = again.readable().await.unwrap();
            assert_eq!(drain_file(&mut guard), b"!");
        });
    });
}
both_flavors!(into_inner_and_drop_deregister);

fn drain_file(guard: &mut AsyncFdReadyGuard<'_, File>) -> Vec<u8> {
    drain(guard)
}

// ---------------------------------------------------------------------------
// Another worker

/// Registered by a task on one worker (so with that worker's driver),
/// which then blocks its worker; a task spawned meanwhile can only run on
/// the other worker, and the waiter it spawns starts waiting there. It
/// must still be woken when the pipe becomes readable.
#[test]
fn waiter_on_another_worker_is_woken() {
    with_timeout("waiter_on_another_worker_is_woken", 120, || {
        let rt = Flavor::MultiThread(2).build();
        for round in 0..5 {
            let (rx, tx) = pipe();
            let (registered_tx, registered_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let registrar = rt.spawn(async move {
                let fd = Arc::new(AsyncFd::new(rx).unwrap());
                registered_tx.send((fd, thread::current().id())).unwrap();
                // Hold this worker so the spawner below runs on the other.
                release_rx.recv_timeout(LONG).expect("released");
            });
            let (fd, registered_on) = registered_rx.recv_timeout(LONG).expect("registered");

            let (pending_tx, pending_rx) = mpsc::channel();
            // The spawner hands back the waiter's handle (not awaited here).
            #[allow(clippy::async_yields_async)]
            let spawner = rt.spawn(async move {
                weft::spawn(async move {
                    let mut guard = readable_after_pending(&fd, &pending_tx).await;
                    drain(&mut guard)
                })
            });
            let waited_on = pending_rx.recv_timeout(LONG).expect("the waiter starts waiting");
            assert_ne!(waited_on, registered_on, "round {round}: the registrar's worker is held");
            release_tx.send(()).unwrap();
            (&tx).write_all(b"wake").unwrap();
            let waiter = rt.block_on(spawner).expect("the spawner");
            assert_eq!(rt.block_on(waiter).expect("the waiter"), b"wake", "round {round}");
            rt.block_on(registrar).expect("the registrar");
        }
    });
}

// ---------------------------------------------------------------------------
// TcpStream::ready

fn tcp_stream_ready(flavor: Flavor) {
    with_timeout(&format!("tcp_stream_ready/{}", flavor.name()), 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (mut peer, _) = listener.accept().await.unwrap();

            let ready = stream.ready(Interest::READABLE | Interest::WRITABLE).await.unwrap();
            assert!(ready.is_writable(), "{ready:?}");
            assert!(
                stream.ready(Interest::READABLE).now_or_never().is_none(),
                "readable with nothing sent"
            );

            peer.write_all(b"hi").await.unwrap();
            let ready = stream.ready(Interest::READABLE).await.unwrap();
            assert!(ready.is_readable() && !ready.is_writable(), "{ready:?}");
            // Cached until an operation blocks.
            assert!(stream.ready(Interest::READABLE).now_or_never().is_some());
            let mut buf = [0u8; 8];
            assert_eq!(stream.try_read(&mut buf).unwrap(), 2);
            assert_eq!(stream.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(stream.ready(Interest::READABLE).now_or_never().is_none());
        });
    });
}
both_flavors!(tcp_stream_ready);

#[test]
fn poll_read_ready_is_pending_without_data() {
    let rt = Flavor::CurrentThread.build();
    rt.block_on(async {
        let (rx, _tx) = pipe();
        let fd = AsyncFd::new(rx).unwrap();
        let polled = poll_fn(|cx| Poll::Ready(fd.poll_read_ready(cx).is_pending())).await;
        assert!(polled, "an empty pipe polled read-ready");
        let guard =
            fd.poll_write_ready(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        // The read end of a pipe never becomes writable.
        assert!(guard.is_pending());
    });
}
