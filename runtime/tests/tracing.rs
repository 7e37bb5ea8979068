//! The `tracing` feature: a `weft.task` span per task with the spawn
//! location, entered around each poll, and the scheduler's events (parks,
//! wake-ups, steals, LIFO rescues, `block_in_place` hand-offs).
//!
//! Run with `cargo test -p weft --features tracing --test tracing`.
//!
//! A small recording [`Subscriber`] is the global default (worker and pool
//! threads are not the test's thread, so a thread-local default would not
//! see them). The tests share it, so they run one at a time (`serial`) and
//! clear it first.

#![cfg(feature = "tracing")]

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{runtime, wait_until, with_timeout, LONG};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use weft::runtime::Handle;
use weft::task::JoinSet;

/// A span as the recorder saw it created.
#[derive(Clone, Debug)]
struct SpanRec {
    id: u64,
    name: &'static str,
    target: String,
    /// The span it was created in (contextual parent), if any.
    parent: Option<u64>,
    fields: HashMap<String, String>,
}

/// An event, with the span that was entered on its thread when it fired.
#[derive(Clone, Debug)]
struct EventRec {
    name: &'static str,
    target: String,
    current_span: Option<u64>,
    fields: HashMap<String, String>,
}

#[derive(Default)]
struct Records {
    spans: Vec<SpanRec>,
    events: Vec<EventRec>,
}

/// The recording subscriber: every callsite enabled, spans numbered from 1.
#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    records: Mutex<Records>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn current_span() -> Option<u64> {
    ENTERED.with(|stack| stack.borrow().last().copied())
}

struct FieldVisitor<'a>(&'a mut HashMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        let parent = match attrs.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if attrs.is_contextual() => current_span(),
            None => None,
        };
        let meta = attrs.metadata();
        let rec =
            SpanRec { id, name: meta.name(), target: meta.target().to_string(), parent, fields };
        self.records.lock().unwrap().spans.push(rec);
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut FieldVisitor(&mut fields));
        let meta = event.metadata();
        let rec = EventRec {
            name: meta.name(),
            target: meta.target().to_string(),
            current_span: event.parent().map(Id::into_u64).or_else(current_span),
            fields,
        };
        self.records.lock().unwrap().events.push(rec);
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|stack| stack.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|stack| {
            let mut stack = stack.borrow_mut();
            let at = stack.iter().rposition(|&id| id == span.into_u64());
            let at = at.expect("a span exited on a thread where it was not entered");
            stack.remove(at);
        });
    }
}

/// The recorder, installed as the global default on first use.
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::default());
        tracing::subscriber::set_global_default(ForwardTo(recorder))
            .expect("no other global subscriber in this test binary");
        recorder
    })
}

/// A `Subscriber` that forwards to the leaked recorder, so the tests can
/// read the same instance the dispatcher writes to.
struct ForwardTo(&'static Recorder);

impl Subscriber for ForwardTo {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(m)
    }
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        self.0.new_span(attrs)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        self.0.record(span, values)
    }
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.0.record_follows_from(span, follows)
    }
    fn event(&self, event: &Event<'_>) {
        self.0.event(event)
    }
    fn enter(&self, span: &Id) {
        self.0.enter(span)
    }
    fn exit(&self, span: &Id) {
        self.0.exit(span)
    }
}

/// One test at a time (they share the recorder), starting from no records.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let records = &mut *recorder().records.lock().unwrap();
    records.spans.clear();
    records.events.clear();
    guard
}

fn spans() -> Vec<SpanRec> {
    recorder().records.lock().unwrap().spans.clone()
}

fn events() -> Vec<EventRec> {
    recorder().records.lock().unwrap().events.clone()
}

/// The one `weft.task` span spawned from line `line` of this file.
fn task_span(line: u32) -> SpanRec {
    let found: Vec<_> = spans()
        .into_iter()
        .filter(|s| s.name == "weft.task" && s.fields.get("loc.line") == Some(&line.to_string()))
        .collect();
    assert_eq!(found.len(), 1, "one weft.task span from line {line}; spans: {:#?}", spans());
    let span = found.into_iter().next().unwrap();
    assert_eq!(span.target, "weft::task");
    let file = &span.fields["loc.file"];
    assert!(file.ends_with("tracing.rs"), "loc.file {file:?} is not this file");
    let col: u32 = span.fields["loc.col"].parse().expect("loc.col is a number");
    assert!(col > 0);
    span
}

fn kind(span: &SpanRec) -> &str {
    &span.fields["kind"]
}

#[test]
fn spawn_spans_carry_the_call_site() {
    let _serial = serial();
    let (lines, block_on_line) = with_timeout("spawn_spans", 30, || {
        let rt = runtime(2);
        let mut lines = HashMap::new();
        let l = line!() + 1;
        let h = rt.spawn(async {});
        lines.insert("Runtime::spawn", l);
        rt.block_on(h).unwrap();
        let l = line!() + 1;
        let h = rt.handle().spawn(async {});
        lines.insert("Handle::spawn", l);
        rt.block_on(h).unwrap();
        let l = line!() + 1;
        let h = rt.spawn_blocking(|| ());
        lines.insert("Runtime::spawn_blocking", l);
        rt.block_on(h).unwrap();
        let block_on_line = line!() + 1;
        let inner = rt.block_on(async {
            let mut inner = HashMap::new();
            let l = line!() + 1;
            let h = weft::spawn(async {});
            inner.insert("weft::spawn", l);
            h.await.unwrap();
            let l = line!() + 1;
            let h = weft::task::spawn(async {});
            inner.insert("task::spawn", l);
            h.await.unwrap();
            let l = line!() + 1;
            let h = Handle::current().spawn(async {});
            inner.insert("Handle::current().spawn", l);
            h.await.unwrap();
            let l = line!() + 1;
            let h = weft::task::spawn_blocking(|| ());
            inner.insert("task::spawn_blocking", l);
            h.await.unwrap();
            let l = line!() + 1;
            let h = Handle::current().spawn_blocking(|| ());
            inner.insert("Handle::spawn_blocking", l);
            h.await.unwrap();
            let mut set = JoinSet::new();
            let l = line!() + 1;
            set.spawn(async {});
            inner.insert("JoinSet::spawn", l);
            let l = line!() + 1;
            set.spawn_on(async {}, &Handle::current());
            inner.insert("JoinSet::spawn_on", l);
            while let Some(joined) = set.join_next().await {
                joined.unwrap();
            }
            inner
        });
        lines.extend(inner);
        (lines, block_on_line)
    });

    for (entry, line) in &lines {
        let span = task_span(*line);
        let expected = if entry.contains("blocking") { "blocking" } else { "task" };
        assert_eq!(kind(&span), expected, "{entry}: {span:?}");
    }
    let block_on = task_span(block_on_line);
    assert_eq!(kind(&block_on), "block_on");
    // Tasks spawned inside `block_on` are children of its span; tasks
    // spawned from outside any runtime have no parent.
    assert_eq!(task_span(lines["weft::spawn"]).parent, Some(block_on.id));
    assert_eq!(task_span(lines["JoinSet::spawn"]).parent, Some(block_on.id));
    assert_eq!(task_span(lines["Runtime::spawn"]).parent, None);
}

#[test]
fn block_on_span_has_the_call_line() {
    let _serial = serial();
    let rt = runtime(1);
    let (value, line) = (rt.block_on(async { 7 }), line!());
    assert_eq!(value, 7);
    let span = task_span(line);
    assert_eq!(kind(&span), "block_on");
}

#[test]
fn events_in_a_task_are_inside_its_span_on_every_poll() {
    let _serial = serial();
    let (outer_line, inner_line, blocking_line) = with_timeout("task_events", 30, || {
        let rt = runtime(2);
        let inner_line = Arc::new(AtomicU64::new(0));
        let inner_line2 = inner_line.clone();
        let outer_line = line!() + 1;
        let outer = rt.spawn(async move {
            tracing::info!(marker = "first poll");
            weft::task::yield_now().await;
            tracing::info!(marker = "second poll");
            weft::time::sleep(Duration::from_millis(5)).await;
            tracing::info!(marker = "after sleep");
            inner_line2.store(u64::from(line!() + 1), Ordering::Relaxed);
            let child = weft::spawn(async { tracing::info!(marker = "child") });
            child.await.unwrap();
        });
        rt.block_on(outer).unwrap();
        let blocking_line = line!() + 1;
        let blocking = rt.spawn_blocking(|| tracing::info!(marker = "blocking"));
        rt.block_on(blocking).unwrap();
        (outer_line, inner_line.load(Ordering::Relaxed) as u32, blocking_line)
    });
    // Outside any task, no span is entered on this thread: every enter was
    // matched by an exit.
    tracing::info!(marker = "test thread");

    let outer = task_span(outer_line);
    let child = task_span(inner_line);
    let blocking = task_span(blocking_line);
    assert_eq!(kind(&blocking), "blocking");
    assert_eq!(child.parent, Some(outer.id), "a task spawned in a task is its child");
    let marker = |m: &str| -> EventRec {
        let found: Vec<_> = events()
            .into_iter()
            .filter(|e| e.fields.get("marker").map(String::as_str) == Some(m))
            .collect();
        assert_eq!(found.len(), 1, "one event {m:?}");
        found.into_iter().next().unwrap()
    };
    for m in ["first poll", "second poll", "after sleep"] {
        assert_eq!(marker(m).current_span, Some(outer.id), "{m:?} is in the task's span");
    }
    assert_eq!(marker("child").current_span, Some(child.id));
    assert_eq!(marker("blocking").current_span, Some(blocking.id));
    assert_eq!(marker("test thread").current_span, None);
}

/// Scheduler events with the given name.
fn sched_events(name: &str) -> Vec<EventRec> {
    events().into_iter().filter(|e| e.name == name && e.target == "weft::scheduler").collect()
}

fn field(e: &EventRec, name: &str) -> usize {
    e.fields[name].parse().unwrap_or_else(|_| panic!("{name} of {e:?} is a number"))
}

#[test]
fn parks_wakeups_and_steals_are_events() {
    let _serial = serial();
    with_timeout("steals", 60, || {
        let rt = runtime(2);
        // Both workers park at start; the first spawn from this thread then
        // has to wake one of them (`weft.wake_worker`).
        let both_parked = || {
            let parks = sched_events("weft.park");
            (0..2).all(|w| parks.iter().any(|e| field(e, "worker") == w))
        };
        assert!(wait_until(LONG, both_parked), "the workers never parked");
        // One task spawns many short spinning tasks: they pile up in its
        // worker's deque and the other worker steals them. Repeat until a
        // steal was seen (it is all but certain on the first round).
        for _ in 0..20 {
            rt.block_on(async {
                weft::spawn(async {
                    let tasks: Vec<_> = (0..1000)
                        .map(|_| {
                            weft::spawn(async {
                                let until = Instant::now() + Duration::from_micros(20);
                                while Instant::now() < until {
                                    std::hint::spin_loop();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                })
                .await
                .unwrap();
            });
            if !sched_events("weft.steal").is_empty() {
                break;
            }
        }
        // Both workers go idle and park.
        thread::sleep(Duration::from_millis(50));
    });

    let steals = sched_events("weft.steal");
    assert!(!steals.is_empty(), "no steal event");
    for e in &steals {
        let (worker, victim) = (field(e, "worker"), field(e, "victim"));
        assert!(worker < 2 && victim < 2 && worker != victim, "{e:?}");
        assert!(field(e, "count") >= 1, "{e:?}");
    }
    let parks = sched_events("weft.park");
    assert!(!parks.is_empty(), "no park event");
    for e in &parks {
        assert!(field(e, "worker") < 2, "{e:?}");
        assert!(e.fields.contains_key("timeout") && e.fields.contains_key("watching"), "{e:?}");
    }
    let unparks = sched_events("weft.unpark");
    assert!(!unparks.is_empty(), "no unpark event");
    let wakes = sched_events("weft.wake_worker");
    assert!(!wakes.is_empty(), "no wake_worker event");
    for e in &wakes {
        assert!(field(e, "worker") < 2, "{e:?}");
        let reason = e.fields["reason"].as_str();
        assert!(reason == "work" || reason == "watch", "{e:?}");
    }
    // Scheduler events fire outside any task's span.
    assert!(parks.iter().all(|e| e.current_span.is_none()), "a park inside a span");
}

#[test]
fn watcher_rescue_and_block_in_place_are_events() {
    let _serial = serial();
    with_timeout("rescue", 60, || {
        let rt = runtime(2);
        // Let both workers park, so one can become the watcher.
        thread::sleep(Duration::from_millis(50));
        let ran = Arc::new(AtomicBool::new(false));
        let ran2 = ran.clone();
        rt.block_on(rt.spawn(async move {
            // B goes to this worker's LIFO slot; this worker then blocks,
            // so only the watcher's rescue can run B.
            drop(weft::spawn(async move { ran2.store(true, Ordering::SeqCst) }));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ran.load(Ordering::SeqCst) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            assert!(ran.load(Ordering::SeqCst), "B never ran while A blocked its worker");
        }))
        .unwrap();
        rt.block_on(rt.spawn(async {
            weft::task::block_in_place(|| thread::sleep(Duration::from_millis(20)));
        }))
        .unwrap();
    });

    let rescues = sched_events("weft.lifo_rescue");
    assert!(!rescues.is_empty(), "no lifo_rescue event");
    for e in &rescues {
        let (worker, victim) = (field(e, "worker"), field(e, "victim"));
        assert!(worker < 2 && victim < 2 && worker != victim, "{e:?}");
    }
    let handoffs = sched_events("weft.block_in_place");
    assert_eq!(handoffs.len(), 1, "{handoffs:?}");
    assert!(field(&handoffs[0], "worker") < 2);
    let done = sched_events("weft.block_in_place.done");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(field(&done[0], "worker"), field(&handoffs[0], "worker"));
    let core_back = done[0].fields["core_back"].as_str();
    assert!(core_back == "true" || core_back == "false", "{done:?}");
}
