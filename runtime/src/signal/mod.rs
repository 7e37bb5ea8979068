//! Asynchronous signal handling: [`ctrl_c`] and, in [`unix`], any Unix
//! signal by kind or number (Tokio's names).
//!
//! A signal listener is registered with the process's signal handling the
//! moment it is created, and waits on the runtime's reactor like a socket:
//! the signal handler only writes one byte into a socket pair that the
//! listener reads (see [`unix::Signal`]). Deliveries that arrive before a
//! listener gets to run coalesce into one wake-up, as in Tokio.
//!
//! **Once a signal has had a listener, its default action does not come
//! back**, even after every listener for it is dropped: a process that
//! listened for `SIGINT` once, for example, is no longer terminated by
//! Ctrl-C; later deliveries go to the listeners created then, or nowhere.
//! Listen for the signals a program handles for as long as it runs
//! (Tokio behaves the same way).
//!
//! Only on Unix (this module is absent elsewhere).
//!
//! ```no_run
//! # weft::runtime::Runtime::new().unwrap().block_on(async {
//! // Serve until Ctrl-C.
//! let stop = weft::signal::ctrl_c(); // listening from here on
//! println!("running; Ctrl-C to stop");
//! stop.await?;
//! println!("Ctrl-C: shutting down");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

pub mod unix;

use std::future::Future;
use std::io;

use unix::SignalKind;

/// Completes when the process receives Ctrl-C (`SIGINT`).
///
/// The listener is registered when `ctrl_c` is called, not when the
/// future is first polled, so a Ctrl-C that comes in between is not lost.
/// The future resolves to `Ok(())` at the first `SIGINT` after the call.
///
/// Calling it replaces the default action of `SIGINT` (terminating the
/// process) for the rest of the process's life; see the [module
/// docs](self). To see every Ctrl-C, not just the first, keep one
/// [`unix::Signal`] for [`SignalKind::interrupt`] instead.
///
/// # Errors
/// The future resolves to an error if it was created outside a weft
/// runtime (the message names the runtime), if the listener could not be
/// registered, or if the runtime shuts down before a `SIGINT` came.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let ctrl_c = weft::signal::ctrl_c();
/// // A Ctrl-C from the terminal, or one raised by the program itself:
/// // SAFETY: raise(3) only sends a signal, here one that has a listener.
/// unsafe { libc::raise(libc::SIGINT) };
/// ctrl_c.await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send + 'static {
    let listener = unix::signal(SignalKind::interrupt());
    async move {
        let mut listener = listener?;
        match listener.recv().await {
            Some(()) => Ok(()),
            None => Err(io::Error::other(
                "the weft runtime shut down before Ctrl-C (SIGINT) was received",
            )),
        }
    }
}
