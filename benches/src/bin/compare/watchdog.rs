//! The watchdog: a hung runtime aborts the benchmark instead of hanging it.

use super::*;

/// A single sample taking longer than this means a runtime hung: abort.
pub(super) const SAMPLE_LIMIT: Duration = Duration::from_secs(180);

/// Aborts the process if no sample completes within [`SAMPLE_LIMIT`], so a
/// hung runtime cannot hang the benchmark. Stops when dropped.
pub(super) struct Watchdog(Sender<String>);

impl Watchdog {
    pub(super) fn start() -> Watchdog {
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut current = String::from("startup");
            loop {
                match rx.recv_timeout(SAMPLE_LIMIT) {
                    Ok(label) => current = label,
                    Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => {
                        eprintln!("compare: `{current}` ran over {SAMPLE_LIMIT:?}; aborting");
                        std::process::exit(3);
                    }
                }
            }
        });
        Watchdog(tx)
    }

    /// Records that the sample `label` is starting.
    pub(super) fn starting(&self, label: String) {
        // The watchdog thread only goes away when the process exits.
        let _ = self.0.send(label);
    }
}
