//! The I/O driver at the edges of a runtime's life: a socket created
//! through a `Handle` whose runtime is gone, or while it shuts down, fails
//! with an error naming the shutdown instead of waiting forever for a
//! driver nobody polls.

mod common;

use std::io;
use std::sync::{Arc, Barrier};
use std::thread;

use common::{both_flavors, with_timeout, Flavor};
use weft::net::{TcpListener, UdpSocket};
use weft::runtime::Handle;

/// Binds a listener and waits for a connection that never comes: only a
/// shutdown can end it, with an error.
fn bind_and_accept(handle: &Handle) -> io::Error {
    handle
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            listener.accept().await.map(|_| ())
        })
        .expect_err("nobody connects: only the shutdown can end the accept")
}

fn assert_shut_down(err: &io::Error, what: &str) {
    assert!(err.to_string().contains("shut down"), "{what}: unexpected error: {err}");
}

/// The registration itself failed (not "registered, then swept").
fn assert_refused(err: &io::Error, what: &str) {
    assert!(err.to_string().contains("cannot register"), "{what}: unexpected error: {err}");
}

both_flavors!(a_socket_registered_after_shutdown_fails_instead_of_hanging);
fn a_socket_registered_after_shutdown_fails_instead_of_hanging(flavor: Flavor) {
    with_timeout("bind+accept after shutdown", 30, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        drop(rt);
        let err = thread::spawn(move || bind_and_accept(&handle)).join().unwrap();
        assert_refused(&err, "TcpListener after shutdown");
    });
}

both_flavors!(a_datagram_socket_after_shutdown_fails_instead_of_hanging);
fn a_datagram_socket_after_shutdown_fails_instead_of_hanging(flavor: Flavor) {
    with_timeout("udp after shutdown", 30, move || {
        let rt = flavor.build();
        let handle = rt.handle().clone();
        drop(rt);
        let err = handle
            .block_on(async {
                let socket = UdpSocket::bind("127.0.0.1:0").await?;
                let mut buf = [0u8; 8];
                socket.recv(&mut buf).await.map(|_| ())
            })
            .expect_err("nothing is sent: only the shutdown can end the recv");
        assert_refused(&err, "UdpSocket after shutdown");
    });
}

/// Threads keep registering sockets while the runtime drops: whichever
/// side of the shutdown a registration lands on, its socket ends with the
/// shutdown error (a registration that slipped past the shutdown's sweep
/// would wait forever).
fn registrations_racing_shutdown(flavor: Flavor) {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20;
    with_timeout("registration racing shutdown", 60, move || {
        for _ in 0..ROUNDS {
            let rt = flavor.build();
            let start = Arc::new(Barrier::new(THREADS + 1));
            let racers: Vec<_> = (0..THREADS)
                .map(|_| {
                    let handle = rt.handle().clone();
                    let start = start.clone();
                    thread::spawn(move || {
                        start.wait();
                        bind_and_accept(&handle)
                    })
                })
                .collect();
            start.wait();
            drop(rt);
            for racer in racers {
                assert_shut_down(&racer.join().unwrap(), "registration racing shutdown");
            }
        }
    });
}

both_flavors!(registrations_racing_shutdown);

/// `shutdown_timeout` returns while a worker is stuck inside a long poll,
/// so the shutdown's last step (which fails every I/O wait) has not run:
/// a socket created afterwards must still be refused at once, and a wait
/// already pending through a `Handle` must end with the shutdown error,
/// not wait on a driver nobody polls.
#[test]
fn io_after_a_shutdown_timeout_with_a_stuck_worker_fails() {
    with_timeout("io after shutdown_timeout", 60, || {
        let rt = Flavor::MultiThread(2).build();
        let handle = rt.handle().clone();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let (entered, is_stuck) = std::sync::mpsc::channel::<()>();
        // Blocks its worker until released (only a test does this).
        drop(rt.spawn(async move {
            entered.send(()).unwrap();
            let _ = stuck.recv();
        }));
        is_stuck.recv().unwrap();
        // A wait already pending when the shutdown starts.
        let (bound, is_bound) = std::sync::mpsc::channel::<()>();
        let h = handle.clone();
        let pending = thread::spawn(move || {
            h.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                bound.send(()).unwrap();
                listener.accept().await.map(|_| ())
            })
        });
        is_bound.recv().unwrap();
        rt.shutdown_timeout(std::time::Duration::from_millis(200));
        let err = pending.join().unwrap().expect_err("only the shutdown ends the accept");
        assert_shut_down(&err, "accept pending across shutdown_timeout");
        let err = thread::spawn(move || bind_and_accept(&handle)).join().unwrap();
        assert_refused(&err, "TcpListener after shutdown_timeout");
        release.send(()).unwrap();
    });
}

/// A socket registered from outside the workers (here `block_on`) on a
/// worker that sits in a long poll is still served, by a watcher polling
/// that worker's driver, before the poll ends. (Registering asks for a
/// watcher unless the owner is parked; it used to ask nothing, and the
/// datagram waited for the stuck poll to return.)
///
/// Set-up: both workers park (nobody watches); a task woken by its own
/// worker's timer (so no sibling is woken) blocks that worker. A fresh
/// runtime's registrations off the workers go round robin from worker 0,
/// so after as many throwaway sockets as the stuck worker's index, the
/// socket under test lands on the stuck worker. Retried on a fresh runtime
/// only if the task ran on both workers.
#[test]
fn a_socket_registered_off_the_workers_is_served_while_its_worker_is_stuck() {
    with_timeout("socket on a stuck worker", 60, || {
        for _ in 0..40 {
            let rt = common::watcher_only_runtime(2);
            let m = rt.metrics();
            while (0..2).any(|w| m.worker_park_count(w) == 0) {
                thread::sleep(std::time::Duration::from_millis(1));
            }
            thread::sleep(std::time::Duration::from_millis(20));
            let polls: Vec<u64> = (0..2).map(|w| m.worker_poll_count(w)).collect();
            let (release, stuck) = std::sync::mpsc::channel::<()>();
            let (entered, is_stuck) = std::sync::mpsc::channel::<()>();
            // Blocks its worker until released (only a test does this).
            drop(rt.spawn(async move {
                weft::time::sleep(std::time::Duration::from_millis(30)).await;
                entered.send(()).unwrap();
                let _ = stuck.recv();
            }));
            is_stuck.recv().unwrap();
            let moved: Vec<bool> = (0..2).map(|w| m.worker_poll_count(w) != polls[w]).collect();
            let stuck_worker = match moved[..] {
                [true, false] => 0,
                [false, true] => 1,
                _ => {
                    // The task ran on both workers: try again.
                    release.send(()).unwrap();
                    continue;
                }
            };
            let received = rt.block_on(async {
                // Registrations off the workers: worker 0's driver, then 1's.
                let mut throwaway = Vec::new();
                for _ in 0..stuck_worker {
                    throwaway.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                }
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                sender.send_to(b"x", socket.local_addr().unwrap()).unwrap();
                let mut buf = [0u8; 4];
                socket.recv(&mut buf).await.unwrap()
            });
            assert_eq!(received, 1);
            release.send(()).unwrap();
            return;
        }
        panic!("the blocking task ran on both workers in 40 tries");
    });
}
