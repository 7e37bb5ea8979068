//! Stack sampling against real threads: sleeping, spinning, exited,
//! blocking the signal, captured many times and by two monitors at once.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::linux::{install, parse_version, signal};
use super::{capture, Frames, StackSampler, ThreadTarget};

/// Long enough for a thread that is running or asleep to answer on a
/// loaded two-core machine, or under valgrind.
const PATIENT: Duration = Duration::from_secs(2);

/// Spins until `stop`, counting rounds, in a function of its own so a
/// sample of the thread names it.
#[inline(never)]
fn spin_in_named_function(stop: &AtomicBool, rounds: &AtomicU64) {
    // Relaxed: a flag and a counter with no data behind them.
    while !stop.load(Ordering::Relaxed) {
        rounds.fetch_add(1, Ordering::Relaxed);
        std::hint::spin_loop();
    }
}

/// A registered thread spinning in `spin_in_named_function`, and what it
/// computed besides: the checks that being interrupted did not disturb it.
struct Spinner {
    target: ThreadTarget,
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    thread: thread::JoinHandle<u64>,
}

impl Spinner {
    fn start() -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let thread = {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            thread::spawn(move || {
                let sampler = StackSampler::register();
                tx.send(sampler.target()).unwrap();
                spin_in_named_function(&stop, &rounds);
                // A computation after many interruptions, checked by the
                // caller: registers and the stack came back intact.
                (1..=1000u64).map(black_box).sum()
            })
        };
        let target = rx.recv().unwrap();
        Spinner { target, stop, rounds, thread }
    }

    /// Stops the thread and checks its result.
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        assert_eq!(self.thread.join().unwrap(), 500_500);
        assert!(self.rounds.load(Ordering::Relaxed) > 0);
    }
}

fn has_line_with(report: &str, words: &[&str]) -> bool {
    report.lines().any(|line| words.iter().all(|word| line.contains(word)))
}

#[test]
fn a_sleeping_thread_is_captured_in_sleep_and_sleeps_on() {
    const NAP: Duration = Duration::from_millis(400);
    let (tx, rx) = mpsc::channel();
    let sleeper = thread::spawn(move || {
        let sampler = StackSampler::register();
        tx.send(sampler.target()).unwrap();
        let start = Instant::now();
        thread::sleep(NAP);
        start.elapsed()
    });
    let target = rx.recv().unwrap();
    // Sample it several times while it sleeps: every signal interrupts the
    // sleep, which must go on for the time left.
    thread::sleep(Duration::from_millis(50));
    let mut frames: Option<Frames> = None;
    for _ in 0..5 {
        frames = capture(&target, PATIENT).or(frames);
        thread::sleep(Duration::from_millis(20));
    }
    let slept = sleeper.join().unwrap();
    assert!(slept >= NAP, "the sleep was cut short: {slept:?}");
    let report = frames.expect("no capture of a sleeping thread succeeded").symbolize();
    assert!(has_line_with(&report, &["std::thread", "sleep"]), "no std::thread::sleep in:\n{report}");
    assert!(
        has_line_with(&report, &["a_sleeping_thread_is_captured_in_sleep_and_sleeps_on"]),
        "no test function in:\n{report}"
    );
    // The handler's own frames were left out: the report starts inside the
    // sleep (glibc's `clock_nanosleep`, or std's call to it).
    let first = report.lines().next().unwrap_or_default();
    assert!(first.contains("sleep"), "the report starts elsewhere:\n{report}");
    assert!(!report.contains("on_signal"), "the handler's frame is in:\n{report}");
}

#[test]
fn a_busy_thread_is_captured_in_its_function() {
    let spinner = Spinner::start();
    // Let it get into the loop.
    // Relaxed: a progress counter.
    while spinner.rounds.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    let frames = capture(&spinner.target, PATIENT).expect("the busy thread was not captured");
    spinner.finish();
    assert!(frames.ips().len() > 1, "one frame only: {frames:?}");
    assert!(frames.ips().len() <= super::MAX_FRAMES);
    let report = frames.symbolize();
    assert!(
        has_line_with(&report, &["spin_in_named_function"]),
        "no spin_in_named_function in:\n{report}"
    );
    assert!(!report.contains("on_signal"), "the handler's frame is in:\n{report}");
}

#[test]
fn a_thread_that_exited_is_not_signalled() {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let sampler = StackSampler::register();
        tx.send(sampler.target()).unwrap();
    })
    .join()
    .unwrap();
    let target = rx.recv().unwrap();
    let start = Instant::now();
    assert!(capture(&target, PATIENT).is_none());
    assert!(start.elapsed() < Duration::from_millis(100), "took {:?}", start.elapsed());
}

#[test]
fn a_nested_registration_shares_the_slot_until_the_last_drops() {
    let (tx, rx) = mpsc::channel();
    let (next_tx, next_rx) = mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        let outer = StackSampler::register();
        let inner = StackSampler::register();
        tx.send(inner.target()).unwrap();
        drop(outer);
        // Still registered through `inner`: serve captures until told.
        while next_rx.try_recv().is_err() {
            thread::sleep(Duration::from_millis(1));
        }
        drop(inner);
        next_rx.recv().unwrap();
    });
    let target = rx.recv().unwrap();
    assert!(capture(&target, PATIENT).is_some(), "dropping the outer sampler deregistered");
    next_tx.send(()).unwrap();
    // Wait for the inner sampler to drop; then the thread is deregistered.
    let deadline = Instant::now() + PATIENT;
    while capture(&target, Duration::from_millis(10)).is_some() {
        assert!(Instant::now() < deadline, "still captured after the last sampler dropped");
        thread::sleep(Duration::from_millis(1));
    }
    next_tx.send(()).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_hundred_captures_of_a_busy_thread_all_succeed() {
    let spinner = Spinner::start();
    for i in 0..100 {
        let frames = capture(&spinner.target, PATIENT);
        assert!(frames.is_some_and(|f| !f.ips().is_empty()), "capture {i} failed");
    }
    spinner.finish();
}

#[test]
fn two_monitors_never_capture_one_thread_at_once() {
    let spinner = Spinner::start();
    let monitors: Vec<_> = (0..2)
        .map(|_| {
            let target = spinner.target.clone();
            thread::spawn(move || (0..50).filter(|_| capture(&target, PATIENT).is_some()).count())
        })
        .collect();
    let captured: usize = monitors.into_iter().map(|m| m.join().unwrap()).sum();
    // Each capture either had the thread to itself or returned `None` at
    // once; the slot is left free for the next one.
    assert!(captured > 0);
    assert!(capture(&spinner.target, PATIENT).is_some(), "the slot was left taken");
    spinner.finish();
}

#[test]
fn a_capture_that_gave_up_is_not_written_late() {
    let signal = signal().expect("the handler was not installed");
    let (tx, rx) = mpsc::channel();
    let (unblock_tx, unblock_rx) = mpsc::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let thread = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        thread::spawn(move || {
            let sampler = StackSampler::register();
            // SAFETY: `set` is a valid, initialised signal set; blocking a
            // signal on this thread only delays its delivery here.
            unsafe {
                let mut set = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, signal);
                assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()), 0);
                tx.send((sampler.target(), set)).unwrap();
                unblock_rx.recv().unwrap();
                // The pending signal is delivered now, long after its
                // capture gave up: the handler must leave the slot alone.
                assert_eq!(libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()), 0);
            }
            spin_in_named_function(&stop, &rounds);
        })
    };
    let (target, _set) = rx.recv().unwrap();
    let start = Instant::now();
    assert!(capture(&target, Duration::from_millis(30)).is_none(), "a blocked signal was handled");
    assert!(start.elapsed() >= Duration::from_millis(30));
    unblock_tx.send(()).unwrap();
    // Relaxed: a progress counter.
    while rounds.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    let frames = capture(&target, PATIENT).expect("the slot was not free after a late handler");
    assert!(has_line_with(&frames.symbolize(), &["spin_in_named_function"]));
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
}

#[test]
fn a_signal_someone_else_handles_is_refused() {
    // A signal of the range ours comes from, other than ours.
    let theirs = libc::SIGRTMIN() + 3;
    // SAFETY: ignoring a real-time signal nothing in this test binary uses.
    unsafe { libc::signal(theirs, libc::SIG_IGN) };
    assert!(!install(theirs));
    // SAFETY: reading a disposition into a zeroed plain C struct.
    let still = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(theirs, std::ptr::null(), &mut action);
        action.sa_sigaction
    };
    assert_eq!(still, libc::SIG_IGN, "the application's disposition was replaced");
}

#[test]
fn glibc_versions_parse() {
    assert_eq!(parse_version("2.36"), Some((2, 36)));
    assert_eq!(parse_version("2.35.9000"), Some((2, 35)));
    assert_eq!(parse_version("2.39-beta"), Some((2, 39)));
    assert_eq!(parse_version("x"), None);
}
