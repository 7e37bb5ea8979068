//! Timers (`weft::time`): sleeps fire and never early, cancel and reset from
//! anywhere, saturate at `Duration::MAX`, spend coop budget; `timeout`,
//! `interval` and its missed-tick behaviours; a far timer does not spin.
//!
//! Timing checks here are one-sided ("not before the deadline") or very
//! generous; the one tight timed assertion lives in `time_blocked.rs`.

mod common;

use std::future::{pending, poll_fn, ready};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use common::{
    both_flavors, expect_panic, runtime, wait_until_async, watcher_only_runtime, with_timeout,
    Flavor, LONG,
};
use futures_channel::oneshot;
use futures_util::future::{select, Either};
use futures_util::poll;
use weft::runtime::{Handle, RuntimeMetrics};
use weft::time::error::Elapsed;
use weft::time::{
    interval, interval_at, sleep, sleep_until, timeout, timeout_at, Instant, Interval,
    MissedTickBehavior, Sleep,
};

const MS: Duration = Duration::from_millis(1);

fn num_timers() -> usize {
    Handle::current().metrics().num_timers()
}

/// Polls the interval once: `Ready` only if the tick is due right now.
async fn try_tick(iv: &mut Interval) -> Poll<Instant> {
    poll_fn(|cx| Poll::Ready(iv.poll_tick(cx))).await
}

/// Spawns one task per duration: it sleeps that many ms, then counts
/// `[completed, completed early]`. Waits for all of them.
async fn spawn_sleeps(durations: Vec<u64>, counts: Arc<[AtomicUsize; 2]>) {
    let joins: Vec<_> = durations
        .into_iter()
        .map(|ms| {
            let counts = counts.clone();
            weft::spawn(async move {
                let requested = Duration::from_millis(ms);
                let start = Instant::now();
                sleep(requested).await;
                counts[1].fetch_add(usize::from(start.elapsed() < requested), SeqCst);
                counts[0].fetch_add(1, SeqCst);
            })
        })
        .collect();
    for j in joins {
        j.await.unwrap();
    }
}

both_flavors!(hundred_thousand_random_sleeps_all_fire_and_none_early);
fn hundred_thousand_random_sleeps_all_fire_and_none_early(flavor: Flavor) {
    const TOTAL: usize = 100_000;
    let [done, early] = with_timeout("100k_sleeps", 180, move || {
        let rt = flavor.build();
        let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        // xorshift64: durations 1..=200 ms.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut durations: Vec<u64> = (0..TOTAL)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                1 + state % 200
            })
            .collect();
        // 90% spawned from a task, 10% from block_on.
        let in_block_on = durations.split_off(TOTAL / 10 * 9);
        let spawner = rt.spawn(spawn_sleeps(durations, counts.clone()));
        rt.block_on(async {
            spawn_sleeps(in_block_on, counts.clone()).await;
            spawner.await.unwrap();
            assert_eq!(num_timers(), 0, "every completed sleep left its wheel");
        });
        [0, 1].map(|i| counts[i].load(SeqCst))
    });
    assert_eq!(early, 0, "{early} sleeps completed before their deadline");
    assert_eq!(done, TOTAL);
}

both_flavors!(sleeps_dropped_on_another_thread_leave_the_wheels);
#[allow(clippy::async_yields_async)] // the tasks hand back registered sleeps
fn sleeps_dropped_on_another_thread_leave_the_wheels(flavor: Flavor) {
    with_timeout("cancel_other_thread", 60, move || {
        let rt = flavor.build();
        let sleeps: Vec<Sleep> = rt.block_on(async {
            let joins: Vec<_> = (0..64u64)
                .map(|i| {
                    weft::spawn(async move {
                        let mut s = sleep(Duration::from_secs(60 + i));
                        assert!(poll!(&mut s).is_pending(), "a 60 s sleep is not due");
                        s
                    })
                })
                .collect();
            let mut sleeps = Vec::new();
            for j in joins {
                sleeps.push(j.await.unwrap());
            }
            // Also one registered from block_on and one never polled.
            let mut s = sleep(Duration::from_secs(60));
            assert!(poll!(&mut s).is_pending());
            sleeps.push(s);
            sleeps.push(sleep(Duration::from_secs(60)));
            sleeps
        });
        assert_eq!(rt.metrics().num_timers(), 65);
        thread::spawn(move || drop(sleeps)).join().unwrap();
        // Drop is synchronous: exact right away.
        assert_eq!(rt.metrics().num_timers(), 0);
    });
}

both_flavors!(raced_aborted_and_timed_out_waits_remove_their_timers);
fn raced_aborted_and_timed_out_waits_remove_their_timers(flavor: Flavor) {
    with_timeout("cancel_race", 60, move || {
        let rt = flavor.build();
        let metrics = rt.metrics();
        let (tx1, rx1) = oneshot::channel::<u32>();
        let (tx2, rx2) = oneshot::channel::<u32>();
        let raced = rt.spawn(async move {
            match select(sleep(Duration::from_secs(60)), rx1).await {
                Either::Left(_) => panic!("the 60 s sleep won the race"),
                Either::Right((value, _sleep)) => value.unwrap(),
            }
        });
        let timed = rt.spawn(async move { timeout(Duration::from_secs(60), rx2).await });
        let aborted = rt.spawn(async { sleep(Duration::from_secs(60)).await });
        let sleep_won = rt.spawn(async {
            let never = pending::<()>();
            matches!(select(sleep(5 * MS), Box::pin(never)).await, Either::Left(_))
        });
        // Waited for in block_on, where a current-thread runtime runs the tasks.
        let registered = rt.block_on(wait_until_async(LONG, || metrics.num_timers() >= 3));
        assert!(registered, "the waits never registered");
        tx1.send(7).unwrap();
        tx2.send(8).unwrap();
        aborted.abort();
        rt.block_on(async move {
            assert_eq!(raced.await.unwrap(), 7);
            assert_eq!(timed.await.unwrap(), Ok(Ok(8)));
            assert!(aborted.await.unwrap_err().is_cancelled());
            assert!(sleep_won.await.unwrap());
        });
        assert!(
            rt.block_on(wait_until_async(LONG, || metrics.num_timers() == 0)),
            "{} timers left after every wait ended",
            metrics.num_timers()
        );
    });
}

/// Reset checks that make sense wherever the sleeps are polled.
async fn reset_checks() {
    // Earlier: a 30 s sleep reset to 20 ms completes at the new deadline.
    let start = Instant::now();
    let mut s = sleep(Duration::from_secs(30));
    assert!(poll!(&mut s).is_pending());
    assert!(!s.is_elapsed());
    let new = Instant::now() + 20 * MS;
    Pin::new(&mut s).reset(new);
    assert_eq!(s.deadline(), new);
    (&mut s).await;
    assert!(Instant::now() >= new);
    assert!(start.elapsed() < Duration::from_secs(15), "reset earlier did not take effect");

    // Later: no earlier than the new deadline.
    let mut s = sleep(10 * MS);
    assert!(poll!(&mut s).is_pending());
    let new = Instant::now() + 80 * MS;
    Pin::new(&mut s).reset(new);
    (&mut s).await;
    assert!(Instant::now() >= new, "completed before the later deadline");

    // Later, after the original deadline passed (maybe fired, not yet seen).
    let mut s = sleep(5 * MS);
    assert!(poll!(&mut s).is_pending());
    thread::sleep(15 * MS);
    let new = Instant::now() + 40 * MS;
    Pin::new(&mut s).reset(new);
    assert!(!s.is_elapsed());
    (&mut s).await;
    assert!(Instant::now() >= new, "a fired timer reset later completed early");

    // An elapsed sleep re-arms.
    let mut s = sleep(3 * MS);
    (&mut s).await;
    assert!(s.is_elapsed());
    let new = Instant::now() + 30 * MS;
    Pin::new(&mut s).reset(new);
    assert!(!s.is_elapsed() && s.deadline() == new);
    assert!(poll!(&mut s).is_pending());
    (&mut s).await;
    assert!(Instant::now() >= new, "a re-armed sleep completed early");

    // Reset into the past: completes at once.
    let start = Instant::now();
    let mut s = sleep(Duration::from_secs(30));
    assert!(poll!(&mut s).is_pending());
    Pin::new(&mut s).reset(Instant::now());
    (&mut s).await;
    assert!(start.elapsed() < Duration::from_secs(15));
}

both_flavors!(reset_deadline_and_is_elapsed);
fn reset_deadline_and_is_elapsed(flavor: Flavor) {
    with_timeout("reset", 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            reset_checks().await;
            let before = Instant::now();
            let s = sleep(Duration::from_secs(3));
            assert!(s.deadline() >= before + Duration::from_secs(3) && !s.is_elapsed());
            assert_eq!(sleep_until(before).deadline(), before);
            assert!(sleep(Duration::ZERO).is_elapsed());
            assert!(sleep_until(before).is_elapsed());

            // Registered, due, not yet polled again: is_elapsed once fired.
            let mut s = sleep(10 * MS);
            assert!(poll!(&mut s).is_pending());
            assert!(!s.is_elapsed());
            // Waiting on a weft timer, not blocking: on current-thread this
            // thread is the one that fires the timers.
            let elapsed = wait_until_async(LONG, || s.is_elapsed()).await;
            assert!(elapsed, "a due sleep is not elapsed");
            assert!(Instant::now() >= s.deadline());
            assert!(poll!(&mut s).is_ready());
        });
        rt.block_on(rt.spawn(reset_checks())).unwrap();
        assert_eq!(rt.metrics().num_timers(), 0);
        if !flavor.is_current_thread() {
            let one = runtime(1);
            one.block_on(one.spawn(reset_checks())).unwrap();
            assert_eq!(one.metrics().num_timers(), 0);
        }
    });
}

/// CPU time (user + system, in clock ticks) of this process's threads
/// named `name`; `None` where /proc is not available.
fn threads_cpu_ticks(name: &str) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else { continue };
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        total += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn total_parks(m: &RuntimeMetrics) -> u64 {
    (0..m.num_workers()).map(|w| m.worker_park_count(w)).sum()
}

// On current-thread the worker is a thread inside block_on: one named like
// the workers waits there, on no timer of its own, while it is measured.
both_flavors!(a_one_year_sleep_does_not_spin_the_workers);
fn a_one_year_sleep_does_not_spin_the_workers(flavor: Flavor) {
    const NAME: &str = "weft-year-test";
    with_timeout("year_sleep", 60, move || {
        let rt = flavor.builder().thread_name(NAME).build().unwrap();
        let metrics = rt.metrics();
        let year = Duration::from_secs(365 * 86_400);
        let sleeper = rt.spawn(async move { sleep(year).await });
        let waiter = rt.spawn(async move { timeout(20 * MS, sleeper).await.is_err() });
        // And one past the wheels' range.
        drop(rt.spawn(async { sleep(Duration::MAX).await }));
        assert!(rt.block_on(waiter).unwrap(), "the one-year sleep completed");
        let registered = rt.block_on(wait_until_async(LONG, || metrics.num_timers() == 2));
        assert!(registered, "timers never registered");
        let (stop, stopped) = oneshot::channel::<()>();
        let in_block_on = flavor.is_current_thread().then(|| {
            let handle = rt.handle().clone();
            let thread = thread::Builder::new().name(NAME.to_string());
            thread.spawn(move || handle.block_on(stopped).unwrap()).unwrap()
        });
        thread::sleep(50 * MS);

        let parks = total_parks(&metrics);
        let cpu = threads_cpu_ticks(NAME);
        thread::sleep(300 * MS);
        let parks = total_parks(&metrics) - parks;
        let cpu = cpu.zip(threads_cpu_ticks(NAME)).map(|(a, b)| b - a);
        eprintln!("over 300 ms: {parks} parks, worker CPU ticks {cpu:?}");
        assert!(parks < 50, "idle workers parked {parks} times in 300 ms");
        if let Some(cpu) = cpu {
            // Clock ticks are 10 ms: a spinning worker burns ~30 here.
            assert!(cpu <= 10, "idle workers used {cpu} clock ticks of CPU in 300 ms");
        }
        let _ = stop.send(());
        if let Some(thread) = in_block_on {
            thread.join().expect("the block_on thread panicked");
        }
        assert_eq!(metrics.num_timers(), 2);

        let start = std::time::Instant::now();
        drop(rt);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(5), "shutdown with far timers took {took:?}");
    });
}

both_flavors!(duration_max_saturates);
fn duration_max_saturates(flavor: Flavor) {
    with_timeout("duration_max", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let s = sleep(Duration::MAX);
            assert!(s.deadline() > Instant::now() + Duration::from_secs(20 * 365 * 86_400));
            assert!(!s.is_elapsed());
            assert_eq!(timeout(Duration::MAX, async { 1 }).await, Ok(1));
            assert_eq!(timeout(Duration::MAX, ready(2)).await, Ok(2));
            let r: Result<(), Elapsed> = timeout(50 * MS, sleep(Duration::MAX)).await;
            assert!(r.is_err(), "sleep(Duration::MAX) completed within 50 ms");
            // Registered far away, then cancelled.
            let mut s = sleep(Duration::MAX);
            assert!(poll!(&mut s).is_pending());
            assert_eq!(num_timers(), 1);
            drop(s);
            assert_eq!(num_timers(), 0);
        });
        let in_task = rt.spawn(async {
            let r = timeout(20 * MS, sleep(Duration::MAX)).await;
            (r.is_err(), timeout(Duration::MAX, async { 3 }).await)
        });
        assert_eq!(rt.block_on(in_task).unwrap(), (true, Ok(3)));
    });
}

both_flavors!(timeout_elapses_or_returns_the_value);
fn timeout_elapses_or_returns_the_value(flavor: Flavor) {
    with_timeout("timeout", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let start = Instant::now();
            let err = timeout(20 * MS, pending::<()>()).await.unwrap_err();
            assert!(start.elapsed() >= 20 * MS, "timed out early");
            assert_eq!(timeout(Duration::from_secs(10), ready(5)).await, Ok(5));
            let later = async {
                sleep(10 * MS).await;
                6
            };
            assert_eq!(timeout(Duration::from_secs(10), later).await, Ok(6));
            // The future is polled first: ready beats an elapsed deadline.
            let past = Instant::now();
            assert_eq!(timeout_at(past, ready(7)).await, Ok(7));
            assert!(timeout_at(past, pending::<()>()).await.is_err());

            let text = err.to_string();
            assert!(text.contains("elapsed"), "Elapsed displays as {text:?}");
            let as_error: &dyn std::error::Error = &err;
            assert!(as_error.source().is_none());
            let io_err: io::Error = err.into();
            assert_eq!(io_err.kind(), io::ErrorKind::TimedOut);
        });
    });
}

both_flavors!(interval_ticks_reset_and_zero_period);
fn interval_ticks_reset_and_zero_period(flavor: Flavor) {
    with_timeout("interval", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let period = 15 * MS;
            let mut iv = interval(period);
            assert_eq!(iv.period(), period);
            assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst);
            let Poll::Ready(t0) = try_tick(&mut iv).await else {
                panic!("the first tick must complete at once")
            };
            let mut prev = t0;
            for k in 1..=5u32 {
                let t = iv.tick().await;
                assert!(Instant::now() >= t, "tick {k} completed before its instant");
                assert_eq!(t, t0 + period * k);
                assert!(t - prev >= period);
                prev = t;
            }
            // interval_at starts at the given instant.
            let start = Instant::now() + 20 * MS;
            let mut iv = interval_at(start, period);
            assert_eq!(iv.tick().await, start);
            assert!(Instant::now() >= start);

            // reset(), reset_immediately(), zero period.
            let period = 50 * MS;
            let mut iv = interval(period);
            iv.tick().await;
            thread::sleep(20 * MS);
            let before = Instant::now();
            iv.reset();
            let after = Instant::now();
            let t = iv.tick().await;
            assert!(t >= before + period && t <= after + period, "reset: {t:?}");
            assert!(Instant::now() >= t);

            let mut iv = interval(Duration::from_secs(10));
            iv.tick().await;
            assert!(try_tick(&mut iv).await.is_pending());
            let start = Instant::now();
            iv.reset_immediately();
            // Due now; the wheel may take a tick to see it.
            let t = iv.tick().await;
            assert!(t <= Instant::now() && t >= start, "reset_immediately: {t:?}");
            assert!(start.elapsed() < Duration::from_secs(5), "reset_immediately did not fire");

            let msg = expect_panic(|| interval(Duration::ZERO));
            assert!(msg.contains("period"), "interval(0) panicked with {msg:?}");
            let msg = expect_panic(|| interval_at(Instant::now(), Duration::ZERO));
            assert!(msg.contains("period"), "interval_at(_, 0) panicked with {msg:?}");
        });
    });
}

both_flavors!(interval_missed_tick_behaviors);
fn interval_missed_tick_behaviors(flavor: Flavor) {
    with_timeout("missed_ticks", 30, move || {
        let rt = flavor.build();
        let period = 20 * MS;
        rt.block_on(async move {
            // Burst: the missed ticks come back to back, on schedule.
            let mut iv = interval(period);
            let t0 = iv.tick().await;
            thread::sleep(period * 5 + 10 * MS);
            for k in 1..=5u32 {
                let Poll::Ready(t) = try_tick(&mut iv).await else {
                    panic!("missed tick {k} was not ready at once (Burst)")
                };
                assert_eq!(t, t0 + period * k);
            }
            let t = iv.tick().await;
            assert_eq!(t, t0 + period * 6);
            assert!(Instant::now() >= t);

            // Delay: the next tick is a full period after the late one.
            let mut iv = interval(period);
            iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
            assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Delay);
            let t0 = iv.tick().await;
            thread::sleep(period * 3 + 10 * MS);
            let before = Instant::now();
            assert_eq!(try_tick(&mut iv).await, Poll::Ready(t0 + period));
            let after = Instant::now();
            let next = iv.tick().await;
            assert!(Instant::now() >= next);
            assert!(next >= before + period && next <= after + period, "Delay: {next:?}");

            // Skip: the next tick is on the original grid, after now.
            let mut iv = interval(period);
            iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let t0 = iv.tick().await;
            thread::sleep(period * 3 + 10 * MS);
            let before = Instant::now();
            assert_eq!(try_tick(&mut iv).await, Poll::Ready(t0 + period));
            let after = Instant::now();
            let next = iv.tick().await;
            assert!(Instant::now() >= next);
            let offset = next - t0;
            assert_eq!(offset.as_nanos() % period.as_nanos(), 0, "Skip left the grid");
            assert!(next > before && next <= after + period, "Skip: {offset:?}");
            assert!(offset >= period * 4, "Skip did not skip the missed ticks: {offset:?}");
        });
    });
}

both_flavors!(timers_outside_a_runtime_panic, multi_thread = [1]);
fn timers_outside_a_runtime_panic(flavor: Flavor) {
    let messages = [
        expect_panic(|| sleep(MS)),
        expect_panic(|| sleep_until(Instant::now())),
        expect_panic(|| timeout(MS, async {})),
        expect_panic(|| timeout_at(Instant::now(), async {})),
        expect_panic(|| interval(MS)),
        expect_panic(|| interval_at(Instant::now(), MS)),
    ];
    for msg in messages {
        assert!(msg.contains("runtime"), "panic message does not mention the runtime: {msg:?}");
    }
    // A runtime that this thread has not entered changes nothing.
    let _rt = flavor.build();
    assert!(expect_panic(|| sleep(MS)).contains("runtime"));
}

both_flavors!(ready_sleeps_spend_coop_budget, multi_thread = [1]);
fn ready_sleeps_spend_coop_budget(flavor: Flavor) {
    with_timeout("coop", 30, move || {
        let rt = flavor.build();
        for past in [false, true] {
            let other_ran = rt.block_on(rt.spawn(async move {
                let flag = Arc::new(AtomicBool::new(false));
                let set = flag.clone();
                drop(weft::spawn(async move { set.store(true, SeqCst) }));
                for _ in 0..10_000 {
                    if past {
                        sleep_until(Instant::now()).await;
                    } else {
                        sleep(Duration::ZERO).await;
                    }
                }
                flag.load(SeqCst)
            }));
            assert!(other_ran.unwrap(), "10 000 ready sleeps starved a sibling task (past={past})");
        }
    });
}

both_flavors!(sleep_in_block_on_and_across_contexts);
fn sleep_in_block_on_and_across_contexts(flavor: Flavor) {
    with_timeout("block_on_sleep", 30, move || {
        let rt = flavor.build();
        let start = Instant::now();
        rt.block_on(async { sleep(30 * MS).await });
        assert!(start.elapsed() >= 30 * MS);

        // Created (and registered) in block_on, awaited by a task.
        let (s, registered) = rt.block_on(async {
            let mut registered = sleep(40 * MS);
            assert!(poll!(&mut registered).is_pending());
            (sleep(40 * MS), registered)
        });
        let deadlines = [s.deadline(), registered.deadline()];
        let joins = [s, registered].map(|s| {
            rt.spawn(async move {
                s.await;
                Instant::now()
            })
        });
        for (join, deadline) in joins.into_iter().zip(deadlines) {
            assert!(rt.block_on(join).unwrap() >= deadline);
        }
        assert_eq!(rt.metrics().num_timers(), 0);
    });
}

// A deadline whose millisecond count since the runtime's start does not fit
// in a u64 (about 584 million years away, still a valid `Instant`) means
// "never": it must not wrap around to a near tick.
both_flavors!(a_deadline_past_u64_milliseconds_never_fires);
fn a_deadline_past_u64_milliseconds_never_fires(flavor: Flavor) {
    // 2^64 ms is 18_446_744_073_709_551.616 s: this is 2^64 ms + 384 ms,
    // so a wrapped tick would fall a few hundred ms from now.
    const PAST_U64_MS: Duration = Duration::from_secs(18_446_744_073_709_552);
    with_timeout("far_deadline", 30, move || {
        let rt = flavor.build();
        let far = rt.block_on(async { Instant::now() + PAST_U64_MS });
        let in_task =
            rt.spawn(async move { timeout(Duration::from_secs(1), sleep_until(far)).await });
        rt.block_on(async move {
            let r = timeout(Duration::from_secs(1), sleep_until(far)).await;
            assert!(r.is_err(), "a sleep 584 million years away completed within 1 s");
            let r = in_task.await.unwrap();
            assert!(r.is_err(), "a sleep 584 million years away completed within 1 s (task)");
            let mut s = sleep_until(far);
            assert!(poll!(&mut s).is_pending());
            assert!(!s.is_elapsed());
            drop(s);
            // An interval whose period is "never": one tick, then none.
            let mut iv = interval(Duration::MAX);
            iv.tick().await;
            assert!(timeout(50 * MS, iv.tick()).await.is_err(), "a second Duration::MAX tick");
            iv.reset();
            assert!(try_tick(&mut iv).await.is_pending());
        });
        assert_eq!(rt.metrics().num_timers(), 0);
    });
}

/// Parks of each worker of `m`'s runtime while `f` runs.
fn parks_during(m: &RuntimeMetrics, f: impl FnOnce()) -> Vec<u64> {
    let before: Vec<u64> = (0..m.num_workers()).map(|w| m.worker_park_count(w)).collect();
    f();
    before.iter().enumerate().map(|(w, b)| m.worker_park_count(w) - b).collect()
}

/// Waits until every worker of `m`'s runtime has parked (a fresh runtime
/// with nothing to do is then idle), instead of guessing how long it takes.
fn wait_until_every_worker_parked(m: &RuntimeMetrics) {
    let deadline = std::time::Instant::now() + LONG;
    while (0..m.num_workers()).any(|w| m.worker_park_count(w) == 0) {
        assert!(std::time::Instant::now() < deadline, "the workers of a new runtime never parked");
        thread::sleep(MS);
    }
}

// Timers on a worker that is not stuck are its own business: its idle
// siblings are not woken for them, neither when they are registered nor
// at their deadlines. (A sibling fires the timers of a worker stuck in a
// long poll: see time_blocked.rs.) Every 50 sleeps the task spawns a few
// tasks, so siblings wake, run them and park again while its timers are
// pending.
//
// The worker running the sleeper parks about once per sleep, and the
// spawns cost a few parks each; everything beyond that is a sibling woken
// for nothing. When every parked sibling also woke at each of their
// deadlines, this measured about 2700 parks (some 13 per sleep); now about
// 210. The bound sits far from both, so preemption (the task moves to a
// sibling when its worker looks stuck) or a slow machine (valgrind) does
// not trip it.
#[test]
fn timers_of_a_worker_that_is_not_stuck_leave_its_siblings_parked() {
    const SLEEPS: u64 = 200;
    let parks = with_timeout("sibling_wakes", 120, || {
        let rt = runtime(4);
        let m = rt.metrics();
        wait_until_every_worker_parked(&m);
        parks_during(&m, || {
            let sleeper = rt.spawn(async {
                for i in 0..SLEEPS {
                    if i % 50 == 0 {
                        for _ in 0..8 {
                            drop(weft::spawn(async {}));
                        }
                    }
                    sleep(MS).await;
                }
            });
            rt.block_on(sleeper).unwrap();
        })
    });
    let total: u64 = parks.iter().sum();
    eprintln!("{SLEEPS} sleeps of 1 ms on a 4-worker runtime: parks per worker {parks:?}");
    assert!(
        total < 5 * SLEEPS / 2,
        "{SLEEPS} sleeps in one task made the workers park {total} times ({parks:?}): \
         idle siblings are woken for timers of a worker that is not stuck"
    );
}

// Timers registered off the workers (here by `Runtime::block_on`, round
// robin over the wheels) unpark their wheel's owner so that it recomputes
// its park timeout; a parked owner then fires them itself, so no sibling
// is woken to watch it. Each sleep costs its owner two parks (woken to
// recompute, then at the deadline); waking a watcher too made it about
// three (measured: about 600 parks for 200 sleeps, against 400 now).
#[test]
fn timers_from_block_on_wake_only_their_wheels_owner() {
    const SLEEPS: u64 = 200;
    let parks = with_timeout("block_on_sleeps", 120, || {
        let rt = runtime(2);
        let m = rt.metrics();
        wait_until_every_worker_parked(&m);
        parks_during(&m, || {
            rt.block_on(async {
                for _ in 0..SLEEPS {
                    sleep(MS).await;
                }
            })
        })
    });
    let total: u64 = parks.iter().sum();
    eprintln!("{SLEEPS} sleeps of 1 ms in block_on on a 2-worker runtime: parks {parks:?}");
    assert!(
        total < 5 * SLEEPS / 2,
        "{SLEEPS} sleeps in block_on made the workers park {total} times ({parks:?}): \
         a parked owner's timers wake a sibling to watch it"
    );
}

// A worker that finds a task in its last look before sleeping (the
// re-check after it announced itself parked) runs it at once; if that
// task gets stuck, the timers in the worker's wheel still fire (the worker
// asks for a watcher before it polls, like any worker going back to work).
// Here a task woken by its own worker's timer registers a second timer in
// that worker's wheel, and a task that blocks is spawned from outside
// while the worker goes idle. The window for the last look is narrow
// natively; delaying `park` by 100 ms made this fail every time (the
// timer fired after the stuck task, 1 s late).
#[test]
fn a_timer_pending_when_its_worker_picks_up_a_stuck_task_still_fires() {
    let order = with_timeout("recheck_stuck_worker", 60, || {
        let rt = watcher_only_runtime(2);
        wait_until_every_worker_parked(&rt.metrics());
        let (tx, rx) = std::sync::mpsc::channel::<&str>();
        let (registered_tx, registered) = std::sync::mpsc::channel::<()>();
        let fired = tx.clone();
        drop(rt.spawn(async move {
            // Long enough for both workers to go idle and the sibling to
            // give up watching (also with `park` delayed as below).
            sleep(300 * MS).await;
            // Woken by its worker's own timer: the next one goes to the
            // same wheel.
            let mut second = std::pin::pin!(sleep(60 * MS));
            assert!(poll!(&mut second).is_pending());
            let registered_at = std::time::Instant::now();
            registered_tx.send(()).unwrap();
            second.await;
            eprintln!("a 60 ms timer fired after {:?}", registered_at.elapsed());
            fired.send("timer fired").unwrap();
        }));
        registered.recv_timeout(LONG).unwrap();
        drop(rt.spawn(async move {
            thread::sleep(Duration::from_millis(1000));
            tx.send("stuck task done").unwrap();
        }));
        let order: Vec<_> = (0..2).map(|_| rx.recv_timeout(LONG).unwrap()).collect();
        order
    });
    assert_eq!(order[0], "timer fired", "the timer waited for a stuck worker: {order:?}");
}

// A worker woken by one of its timers, with another timer still pending in
// its wheel, gets stuck in the task it woke: the pending timer still fires
// meanwhile (the worker asks for a watcher before it polls that task).
#[test]
fn a_timer_pending_when_its_worker_gets_stuck_still_fires() {
    let order = with_timeout("pending_timer_stuck_worker", 60, || {
        let rt = watcher_only_runtime(2);
        // Let both workers go idle.
        wait_until_every_worker_parked(&rt.metrics());
        let (tx, rx) = std::sync::mpsc::channel::<&str>();
        drop(rt.spawn(async move {
            // Both register in the wheel of the worker polling this task.
            let mut first = sleep(20 * MS);
            let mut second = sleep(60 * MS);
            assert!(poll!(&mut first).is_pending() && poll!(&mut second).is_pending());
            let fired = tx.clone();
            drop(weft::spawn(async move {
                second.await;
                fired.send("second timer fired").unwrap();
            }));
            first.await;
            // Stuck far past the second deadline.
            thread::sleep(Duration::from_millis(1500));
            tx.send("stuck task done").unwrap();
        }));
        let order: Vec<_> = (0..2).map(|_| rx.recv_timeout(LONG).unwrap()).collect();
        order
    });
    assert_eq!(order[0], "second timer fired", "the pending timer waited for its stuck worker");
}

// A watcher that leaves to run a task it rescued from a stuck worker, and
// gets stuck in it too, hands the role on: the first stuck worker's timer
// still fires, served by the third worker.
#[test]
fn a_timer_of_a_stuck_worker_fires_when_its_watcher_gets_stuck_too() {
    let order = with_timeout("watcher_stuck_too", 60, || {
        let rt = watcher_only_runtime(3);
        let (tx, rx) = std::sync::mpsc::channel::<&str>();
        let (wake_b, woken) = oneshot::channel::<()>();
        let done = tx.clone();
        drop(rt.spawn(async move {
            woken.await.unwrap();
            // Runs on the watcher that rescued it: stuck as well.
            thread::sleep(Duration::from_millis(1500));
            done.send("rescued task done").unwrap();
        }));
        // Let every worker go idle, with B waiting.
        thread::sleep(50 * MS);
        drop(rt.spawn(async move {
            let mut timer = sleep(60 * MS);
            assert!(poll!(&mut timer).is_pending());
            let fired = tx.clone();
            drop(weft::spawn(async move {
                timer.await;
                fired.send("timer fired").unwrap();
            }));
            // B goes to this worker's LIFO slot; this worker gets stuck.
            wake_b.send(()).unwrap();
            thread::sleep(Duration::from_millis(1500));
            tx.send("stuck task done").unwrap();
        }));
        let order: Vec<_> = (0..3).map(|_| rx.recv_timeout(LONG).unwrap()).collect();
        order
    });
    assert_eq!(order[0], "timer fired", "the timer waited for a stuck worker: {order:?}");
}
