//! The pool's threads: how a job is queued and a thread started for it,
//! the loop each thread runs, how threads exit, and shutdown. The policy
//! these carry out is in the crate docs; the state word that decides it is
//! in `state.rs`.

use std::time::{Duration, Instant};

use weft_util::unwind::{contain, run_hook};

use std::io;
use std::panic::{self, AssertUnwindSafe};

use crate::builder::{PoolBuilder, StartThread, ThreadStarter};
use crate::loom::channel::{self, Receiver, RecvTimeoutError, Sender};
use crate::loom::sync::atomic::AtomicU64;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread;
use crate::state::{Exit, StateCell, Submit};
use crate::task::Job;

/// What goes through the queue.
pub(crate) enum Message {
    /// An ordinary job: cancelled if the pool shuts down before it starts.
    Job(Job),
    /// A mandatory job: runs even if the pool shuts down before it starts.
    Mandatory(Job),
    /// Sent by `shutdown`, one per thread alive, to wake idle threads. A
    /// thread exits when it takes one, so each takes at most one, and a
    /// thread waiting after shutdown always has one coming.
    Wake,
}

/// The pool, shared by its handles and its threads.
pub(crate) struct Inner {
    pub(crate) state: StateCell,
    queue_tx: Sender<Message>,
    pub(crate) queue_rx: Receiver<Message>,
    pub(crate) jobs_completed: AtomicU64,
    /// Threads started and not yet finished (their exit hook included);
    /// `shutdown` waits for 0 on `threads_done`.
    threads: Mutex<usize>,
    threads_done: Condvar,
    pub(crate) config: PoolBuilder,
}

impl Inner {
    pub(crate) fn new(config: PoolBuilder) -> Inner {
        let (queue_tx, queue_rx) = channel::unbounded();
        Inner {
            state: StateCell::new(),
            queue_tx,
            queue_rx,
            jobs_completed: AtomicU64::new(0),
            threads: Mutex::new(0),
            threads_done: Condvar::new(),
            config,
        }
    }

    /// Submits an ordinary job.
    pub(crate) fn submit(this: &Arc<Self>, job: Job) {
        // A hint: a stale "not shut down" is settled by the transition in
        // `send`.
        if this.state.load().shutdown {
            drop(job); // cancels it
            return;
        }
        Inner::send(this, Message::Job(job));
    }

    /// Queues a job and decides where it goes.
    pub(crate) fn send(this: &Arc<Self>, msg: Message) {
        // Send first, then decide: the decision is then ordered after the
        // job is visible in the queue (see `state.rs`). A thread may take
        // the job before the decision; `idle` is then one too high until the
        // decision, which at worst lets another submitter promise its job to
        // the busy thread and start none: this submitter then sees `idle`
        // fall to 0 and starts the thread the other one did not.
        this.queue_tx.send(msg).expect("the pool holds the receiver");
        match this.state.submit(this.config.max_threads) {
            Submit::IdleThread | Submit::Queued => {}
            Submit::StartThread => Inner::start_thread(this),
            // No thread is left to find the job: settle it here (cancel it,
            // or run it on this thread if it is mandatory).
            Submit::ShutDown { alive: 0 } => this.drain_queued(),
            // The last thread to exit drains what is left in the queue: its
            // exit transition follows this one, so it sees the job.
            Submit::ShutDown { .. } => {}
        }
    }

    fn start_thread(this: &Arc<Self>) {
        *this.threads.lock() += 1;
        let mut builder = thread::Builder::new().name(this.config.next_thread_name());
        if let Some(bytes) = this.config.stack_size {
            builder = builder.stack_size(bytes);
        }
        let inner = this.clone();
        let started = match &this.config.thread_starter {
            // Loom's threads start only from the model's own threads.
            Some(starter) if !cfg!(loom) => start_through(
                starter,
                Box::new(move || builder.spawn(move || inner.thread_main()).map(drop)),
            ),
            _ => builder.spawn(move || inner.thread_main()).map(drop),
        };
        if let Err(err) = started {
            let after = this.state.start_failed();
            this.thread_finished();
            if after.shutdown && after.alive == 0 {
                this.drain_queued();
            } else if after.alive == 0 {
                panic!("weft-blocking: cannot start a pool thread ({err}) and none is alive");
            }
            // Otherwise the job waits for a busy thread to finish.
        }
    }

    /// A pool thread. It starts idle, with the job that started it promised
    /// to it (see `StateCell::submit`).
    fn thread_main(&self) {
        run_hook("weft-blocking", "on_thread_start", self.config.on_thread_start.as_ref());
        if self.work().last_at_shutdown {
            self.drain_queued();
        }
        run_hook("weft-blocking", "on_thread_stop", self.config.on_thread_stop.as_ref());
        self.thread_finished();
    }

    /// Takes jobs from the queue until the thread may exit. After shutdown
    /// it goes on taking them (running mandatory jobs, cancelling ordinary
    /// ones that raced in) until it takes its wake-up or finds the queue
    /// empty at the end of its keep-alive.
    fn work(&self) -> Exit {
        loop {
            // The thread is idle here.
            match self.queue_rx.recv_timeout(self.config.keep_alive) {
                Ok(Message::Job(job)) => {
                    // Relaxed: only decides between running and cancelling a
                    // job that raced with shutdown; either is correct.
                    if self.state.load().shutdown {
                        drop_job(job);
                    } else {
                        self.run_job(job);
                    }
                    self.state.become_idle();
                }
                Ok(Message::Mandatory(job)) => {
                    self.run_job(job);
                    self.state.become_idle();
                }
                Ok(Message::Wake) | Err(RecvTimeoutError::Timeout) => {
                    if let Some(exit) = self.state.try_retire() {
                        return exit;
                    }
                    // A job is promised to an idle thread and is already in
                    // the queue (it is sent before it is promised): wait again.
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the pool holds a sender"),
            }
        }
    }

    pub(crate) fn shutdown(&self) {
        let Some(before) = self.state.shutdown() else { return };
        // Jobs submitted before the flag are in the queue now (state.rs);
        // later ones see the flag. Cancel the ordinary ones; put the
        // mandatory ones back, in their order, for the threads.
        let mut mandatory = Vec::new();
        while let Ok(msg) = self.queue_rx.try_recv() {
            match msg {
                Message::Job(job) => drop_job(job),
                Message::Mandatory(job) => mandatory.push(job),
                // None yet: only this call sends them, below.
                Message::Wake => {}
            }
        }
        let requeued = !mandatory.is_empty();
        for job in mandatory {
            self.queue_tx.send(Message::Mandatory(job)).expect("the pool holds the receiver");
        }
        // Wake the threads waiting in the queue, after the mandatory jobs
        // (a thread exits when it takes its wake-up). Threads that are busy
        // come back to the queue when they finish; a spare wake-up is
        // harmless.
        for _ in 0..before.alive {
            self.queue_tx.send(Message::Wake).expect("the pool holds the receiver");
        }
        // While the mandatory jobs were out of the queue, every thread may
        // have exited (its keep-alive ran out on the empty queue), the last
        // one draining the queue without them: then run them here. If a
        // thread is still alive at this transition, the last thread's exit
        // transition follows it, and its drain sees them (if no thread took
        // them first).
        if requeued && self.state.recheck().alive == 0 {
            self.drain_queued();
        }
    }

    /// Runs a job on this thread. A panic that escapes `run` (the result's
    /// destructor, when the Task was dropped) must not kill the thread.
    fn run_job(&self, job: Job) {
        contain(|| job.run(&self.jobs_completed));
    }

    /// Empties the queue after shutdown, once no thread takes from it:
    /// cancels ordinary jobs, runs mandatory ones on this thread, drops
    /// wake-ups. Called by the last thread to exit, by a submitter or
    /// `shutdown` that finds no thread alive, and by `shutdown` once every
    /// thread has exited: never while a thread waits for a wake-up this
    /// could swallow. Several may drain at once; each job is taken by one.
    pub(crate) fn drain_queued(&self) {
        while let Ok(msg) = self.queue_rx.try_recv() {
            match msg {
                Message::Job(job) => drop_job(job),
                Message::Mandatory(job) => self.run_job(job),
                Message::Wake => {}
            }
        }
    }

    fn thread_finished(&self) {
        let mut threads = self.threads.lock();
        *threads -= 1;
        if *threads == 0 {
            self.threads_done.notify_all();
        }
    }

    pub(crate) fn wait_for_threads(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut threads = self.threads.lock();
        loop {
            // A thread is counted in `alive` before `threads`, and leaves
            // `alive` before `threads` (under this lock): both must be 0.
            // The relaxed load is enough: it follows this thread's own
            // shutdown transition, so it sees every thread start decided
            // before the flag, and each exit it waits for happens-before
            // the `threads` decrement seen under this lock.
            if *threads == 0 && self.state.load().alive == 0 {
                return true;
            }
            if timeout.is_zero() {
                // A look, not a wait (also under loom, whose timed waits
                // never time out).
                return false;
            }
            match deadline {
                Some(deadline) => {
                    if self.threads_done.wait_until(&mut threads, deadline).timed_out() {
                        return *threads == 0 && self.state.load().alive == 0;
                    }
                }
                None => self.threads_done.wait(&mut threads),
            }
        }
    }
}

/// Starts a thread through the user's `thread_starter` hook, deciding from
/// what `start` itself did, not from what the hook returns or whether it
/// panics: the thread is counted as started exactly when `spawn` succeeded.
/// A hook that panics or returns without calling `start` counts as a
/// failed start (reported on stderr), and a `start` called after that
/// decision (a hook that deferred it) refuses, so no thread runs that the
/// state word does not count.
fn start_through(starter: &ThreadStarter, start: StartThread) -> io::Result<()> {
    /// Not decided yet / the thread started / no thread will start.
    #[derive(Clone, Copy, PartialEq)]
    enum Outcome {
        Pending,
        Started,
        NotStarted,
    }
    let outcome = std::sync::Arc::new(std::sync::Mutex::new(Outcome::Pending));
    let recorded = outcome.clone();
    let guarded: StartThread = Box::new(move || {
        let mut outcome = recorded.lock().unwrap_or_else(|e| e.into_inner());
        if *outcome != Outcome::Pending {
            return Err(io::Error::other("weft-blocking: thread start called too late"));
        }
        let result = start();
        *outcome = if result.is_ok() { Outcome::Started } else { Outcome::NotStarted };
        result
    });
    let returned = panic::catch_unwind(AssertUnwindSafe(|| starter(guarded)));
    let mut outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
    let decided = *outcome;
    if decided == Outcome::Pending {
        *outcome = Outcome::NotStarted;
    }
    match (decided, returned) {
        (Outcome::Started, _) => Ok(()),
        (_, Err(_panic)) => {
            eprintln!("weft-blocking: the thread_starter hook panicked; no thread was started");
            Err(io::Error::other("the thread_starter hook panicked"))
        }
        (Outcome::NotStarted, Ok(Err(err))) => Err(err),
        (Outcome::NotStarted, Ok(Ok(()))) => Err(io::Error::other("the thread could not start")),
        (_, Ok(_)) => {
            eprintln!(
                "weft-blocking: the thread_starter hook returned without starting the thread"
            );
            Err(io::Error::other("the thread_starter hook did not start the thread"))
        }
    }
}

/// Drops a job unrun (cancelling its Task); a panic in the closure's
/// destructor must not kill the thread that cancels it.
fn drop_job(job: Job) {
    contain(|| drop(job));
}
