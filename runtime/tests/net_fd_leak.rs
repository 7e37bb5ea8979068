//! Opening and closing 10k TCP connections leaks no file descriptor: the
//! process's open fd count (entries of /proc/self/fd) returns to its
//! baseline.
//!
//! Kept in its own test binary (its own process) so no other test opens or
//! closes descriptors while it counts; its two flavors take turns.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{both_flavors, wait_until, with_timeout, Flavor};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 10_000;
const BATCH: usize = 100;
/// Descriptors the harness itself may hold open at either count.
const SLACK: usize = 5;

/// Held by each flavor's test while it counts: they must not overlap.
static COUNTING: Mutex<()> = Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd").count()
}

both_flavors!(ten_thousand_connections_leak_no_file_descriptor);
fn ten_thousand_connections_leak_no_file_descriptor(flavor: Flavor) {
    // A failed turn of the other flavor poisons the lock; counting is still fine.
    let _turn = COUNTING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (baseline, peak, after) = with_timeout("fd_leak", 120, move || {
        let rt = flavor.build();
        // Warm up: the runtime's threads, drivers and the timer machinery
        // exist before the baseline is taken.
        rt.block_on(async {
            weft::time::sleep(Duration::from_millis(5)).await;
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).await.unwrap();
            let s = l.accept().await.unwrap();
            drop((c, s, l));
        });
        let baseline = open_fds();
        let mut peak = baseline;

        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().unwrap();
            for batch in 0..CONNECTIONS / BATCH {
                let clients: Vec<_> = (0..BATCH)
                    .map(|i| {
                        weft::spawn(async move {
                            let mut c = TcpStream::connect(addr).await.expect("connect");
                            c.write_all(&[i as u8]).await.expect("client write");
                            let mut b = [0u8; 1];
                            c.read_exact(&mut b).await.expect("client read");
                            assert_eq!(b[0], i as u8 ^ 0xFF);
                        })
                    })
                    .collect();
                let mut servers = Vec::with_capacity(BATCH);
                for _ in 0..BATCH {
                    let (mut s, _) = listener.accept().await.expect("accept");
                    servers.push(weft::spawn(async move {
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).await.expect("server read");
                        s.write_all(&[b[0] ^ 0xFF]).await.expect("server write");
                    }));
                }
                if batch % 10 == 0 {
                    peak = peak.max(open_fds());
                }
                for t in clients.into_iter().chain(servers) {
                    t.await.expect("connection task");
                }
                // Every connection of this batch is closed by now (a task's
                // future is dropped before its JoinHandle resolves): only the
                // listener is left above the baseline. Checked loosely here
                // (a late close is caught at the end) so a leak fails with a
                // clear message before the process runs out of descriptors.
                let now = open_fds();
                assert!(
                    now <= baseline + 1 + BATCH + SLACK,
                    "after {} connections {} descriptors are open above the baseline: \
                     closed sockets leak their file descriptors",
                    (batch + 1) * BATCH,
                    now - baseline
                );
            }
            drop(listener);
        });
        // Closes are synchronous; allow a little time anyway.
        let mut after = open_fds();
        wait_until(Duration::from_secs(3), || {
            after = open_fds();
            after <= baseline + SLACK
        });
        drop(rt);
        (baseline, peak, after)
    });
    eprintln!(
        "{}: open fds: baseline {baseline}, peak seen {peak}, after {CONNECTIONS} connections \
         {after}",
        flavor.name()
    );
    assert!(peak > baseline + BATCH / 2, "the count never saw the open sockets: is it counting?");
    assert!(
        after <= baseline + SLACK,
        "{} file descriptors leaked over {CONNECTIONS} connections (baseline {baseline}, after {after})",
        after - baseline
    );
}
