//! The paused clock (`weft::time::{pause, resume, advance}`,
//! `Builder::start_paused`, `#[weft::test(start_paused = true)]`): time
//! moves only by `advance` or by auto-advance, which jumps to the next
//! timer when nothing else is left to run, never while a pool job is in
//! flight; misuse panics with a message naming the problem.

use std::future::{pending, Future};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::poll;
use weft::runtime::Builder;
use weft::task::yield_now;
use weft::time::{advance, interval, pause, resume, sleep, timeout, Instant};

const MS: Duration = Duration::from_millis(1);

/// A generous bound on wall time for what a paused clock makes instant.
const WALL: Duration = Duration::from_secs(10);

#[weft::test(start_paused = true)]
async fn a_30_second_timeout_resolves_at_once() {
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let late = timeout(Duration::from_secs(30), pending::<()>()).await;
    assert!(late.is_err(), "the pending future cannot win");
    // Started paused at a whole tick: the jump lands on the deadline itself.
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert!(wall.elapsed() < WALL, "took {:?} of wall time", wall.elapsed());
}

#[weft::test(start_paused = true)]
async fn advance_fires_exactly_the_due_timers_in_order() {
    let start = Instant::now();
    let fired = Arc::new(Mutex::new(Vec::new()));
    for ms in [30, 10, 20] {
        let fired = fired.clone();
        weft::spawn(async move {
            sleep(ms * MS).await;
            fired.lock().unwrap().push((ms, start.elapsed()));
        });
    }
    // Let each task register its timer; the main future never waits, so
    // nothing auto-advances meanwhile.
    for _ in 0..10 {
        yield_now().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    let mut direct = pin!(sleep(25 * MS));
    assert!(poll!(direct.as_mut()).is_pending());

    let settle = |n: usize| {
        let fired = fired.clone();
        async move {
            for _ in 0..100 {
                if fired.lock().unwrap().len() >= n {
                    break;
                }
                yield_now().await;
            }
        }
    };
    advance(15 * MS).await;
    settle(1).await;
    assert_eq!(*fired.lock().unwrap(), [(10, 15 * MS)]);
    assert!(poll!(direct.as_mut()).is_pending(), "due at 25 ms, the clock is at 15");

    advance(9 * MS).await;
    settle(2).await;
    assert_eq!(*fired.lock().unwrap(), [(10, 15 * MS), (20, 24 * MS)]);
    assert!(poll!(direct.as_mut()).is_pending(), "due at 25 ms, the clock is at 24");

    advance(MS).await;
    assert!(poll!(direct.as_mut()).is_ready(), "due at 25 ms, the clock is at 25");
    advance(5 * MS).await;
    settle(3).await;
    assert_eq!(*fired.lock().unwrap(), [(10, 15 * MS), (20, 24 * MS), (30, 30 * MS)]);
}

#[weft::test(start_paused = true)]
async fn interval_ticks_under_advance() {
    let start = Instant::now();
    let mut ticks = interval(10 * MS);
    assert_eq!(ticks.tick().await, start, "the first tick is at once");
    assert!(poll!(pin!(ticks.tick())).is_pending());
    advance(10 * MS).await;
    assert_eq!(poll!(pin!(ticks.tick())), Poll::Ready(start + 10 * MS));
    assert!(poll!(pin!(ticks.tick())).is_pending());
    // Late by 15 ms: the default (burst) catches up tick by tick.
    advance(25 * MS).await;
    assert_eq!(poll!(pin!(ticks.tick())), Poll::Ready(start + 20 * MS));
    assert_eq!(poll!(pin!(ticks.tick())), Poll::Ready(start + 30 * MS));
    assert!(poll!(pin!(ticks.tick())).is_pending());
    // And with auto-advance alone, each tick lands on its period.
    for n in 4..8 {
        assert_eq!(ticks.tick().await, start + n * 10 * MS);
        assert_eq!(Instant::now(), start + n * 10 * MS);
    }
}

#[weft::test(start_paused = true)]
async fn no_auto_advance_while_a_blocking_job_runs() {
    let start = Instant::now();
    let job = weft::task::spawn_blocking(|| std::thread::sleep(50 * MS));
    // Auto-advance would fire the 10 ms timeout at once; the job holds
    // the clock, so the job wins.
    let done = timeout(10 * MS, job).await;
    assert!(matches!(done, Ok(Ok(()))), "the clock jumped while the job ran");
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The job is done: auto-advance is back.
    let wall = std::time::Instant::now();
    sleep(Duration::from_secs(60)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert!(wall.elapsed() < WALL);
}

#[weft::test(start_paused = true)]
async fn no_auto_advance_while_a_cpu_job_runs() {
    let start = Instant::now();
    let job = weft::task::spawn_cpu(|| std::thread::sleep(50 * MS));
    assert!(matches!(timeout(10 * MS, job).await, Ok(Ok(()))));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// A job nobody awaits still holds the clock, and its end lets it go.
#[weft::test(start_paused = true)]
async fn the_end_of_an_unawaited_job_lets_the_clock_jump() {
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    drop(weft::task::spawn_blocking(move || {
        std::thread::sleep(20 * MS);
        tx.send(Instant::now()).unwrap();
    }));
    let wall = std::time::Instant::now();
    sleep(Duration::from_secs(5)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(wall.elapsed() < WALL);
    let seen = rx.recv().unwrap();
    assert_eq!(seen, start, "the job ran before the jump, and read the paused clock");
}

/// Before jumping, auto-advance polls the I/O driver without waiting: a
/// datagram already in the kernel wins over a timeout, at the same time.
#[weft::test(start_paused = true)]
async fn io_readiness_is_polled_before_the_clock_jumps() {
    let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut readable = pin!(socket.readable());
    assert!(poll!(readable.as_mut()).is_pending(), "nothing sent yet");
    // Queued in the kernel before this returns; only a driver poll tells
    // the socket.
    sender.send_to(b"ping", socket.local_addr().unwrap()).unwrap();
    let start = Instant::now();
    let ready = timeout(Duration::from_secs(5), readable).await;
    assert!(matches!(ready, Ok(Ok(()))), "the clock jumped over ready I/O");
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[weft::test]
async fn pause_and_resume_keep_the_skipped_time() {
    pause();
    let start = Instant::now();
    std::thread::sleep(5 * MS);
    assert_eq!(start.elapsed(), Duration::ZERO, "paused: wall time does not count");
    advance(Duration::from_secs(3600)).await;
    resume();
    sleep(MS).await;
    let elapsed = start.elapsed();
    assert!(elapsed > Duration::from_secs(3600) + MS / 2, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3600) + WALL, "{elapsed:?}");
}

/// A sleep registered from another thread, through a `Handle`, fires on
/// the paused clock: never before its deadline.
#[weft::test(start_paused = true)]
async fn a_sleep_from_another_thread_fires_on_the_paused_clock() {
    let handle = weft::runtime::Handle::current();
    let other = std::thread::spawn(move || {
        handle.block_on(async {
            let start = Instant::now();
            sleep(Duration::from_secs(5)).await;
            start.elapsed()
        })
    });
    let wall = std::time::Instant::now();
    while !other.is_finished() {
        assert!(wall.elapsed() < WALL, "the other thread's sleep never fired");
        sleep(Duration::from_secs(1)).await;
    }
    let slept = other.join().unwrap();
    assert!(slept >= Duration::from_secs(5), "fired early: {slept:?}");
}

#[weft::test(start_paused = true)]
async fn a_blocking_thread_reads_the_paused_clock() {
    let start = Instant::now();
    advance(7 * MS).await;
    let seen = weft::task::spawn_blocking(Instant::now).await.unwrap();
    assert_eq!(seen - start, 7 * MS);
}

#[weft::test(start_paused = true)]
#[should_panic(expected = "`weft::time::pause()` called while the clock is already paused")]
async fn pause_twice_panics() {
    pause();
}

#[weft::test]
#[should_panic(expected = "`weft::time::resume()` called while the clock is not paused")]
async fn resume_unpaused_panics() {
    resume();
}

#[weft::test]
#[should_panic(expected = "`weft::time::advance()` called while the clock is not paused")]
async fn advance_unpaused_panics() {
    advance(MS).await;
}

#[test]
#[should_panic(expected = "`weft::time::pause()` called outside a weft runtime")]
fn pause_outside_a_runtime_panics() {
    pause();
}

#[test]
#[should_panic(expected = "`weft::time::resume()` called outside a weft runtime")]
fn resume_outside_a_runtime_panics() {
    resume();
}

#[test]
#[should_panic(expected = "`weft::time::advance()` called outside a weft runtime")]
fn advance_outside_a_runtime_panics() {
    let mut advance = pin!(advance(MS));
    let _ = advance.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}

#[weft::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "`weft::time::pause()` needs the current-thread runtime")]
async fn a_multi_thread_runtime_cannot_pause() {
    pause();
}

#[test]
fn a_multi_thread_runtime_cannot_start_paused() {
    let err = Builder::new_multi_thread().start_paused(true).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("start_paused needs the current-thread runtime"), "{err}");
}

#[test]
fn an_unpaused_runtime_keeps_the_real_clock() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let wall = std::time::Instant::now();
        sleep(10 * MS).await;
        assert!(wall.elapsed() >= 10 * MS, "fired before its real deadline");
    });
}

// `advance` returns once the tasks its timers woke have run, not after one
// of them (each `#[weft::test]` body is a `block_on` future, polled again
// after every task once woken).
#[weft::test(start_paused = true)]
async fn advance_lets_every_woken_task_run() {
    let done = Arc::new(Mutex::new(0));
    for _ in 0..3 {
        let done = done.clone();
        weft::spawn(async move {
            sleep(10 * MS).await;
            // And one task woken by a woken task.
            weft::spawn(async move {
                *done.lock().unwrap() += 1;
            });
        });
    }
    for _ in 0..10 {
        yield_now().await; // each yield lets one task register its timer
    }
    assert_eq!(*done.lock().unwrap(), 0);
    advance(10 * MS).await;
    assert_eq!(*done.lock().unwrap(), 3);
}

#[test]
#[should_panic(expected = "needs the current-thread runtime")]
fn advance_on_a_multi_thread_runtime_names_the_flavor() {
    let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
    rt.block_on(advance(MS));
}
