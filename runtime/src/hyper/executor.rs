//! [`WeftExecutor`]: hyper's executor on weft tasks.

use std::fmt;
use std::future::Future;

use ::hyper::rt::Executor;

use crate::runtime::Handle;

/// A [`hyper::rt::Executor`] that spawns each future as a detached weft
/// task.
///
/// [`WeftExecutor::new`] spawns on the runtime current where `execute` is
/// called (it panics if there is none, like [`crate::spawn`]);
/// [`WeftExecutor::with_handle`] always spawns on the given runtime, from
/// any thread.
///
/// ```
/// use hyper::rt::Executor;
/// use weft::hyper::WeftExecutor;
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = futures_channel::oneshot::channel();
///     WeftExecutor::new().execute(async move { tx.send(7).unwrap() });
///     assert_eq!(rx.await.unwrap(), 7);
/// });
/// ```
#[derive(Clone, Default)]
pub struct WeftExecutor {
    handle: Option<Handle>,
}

impl WeftExecutor {
    /// An executor that spawns on the weft runtime current at each
    /// `execute` call.
    pub fn new() -> WeftExecutor {
        WeftExecutor { handle: None }
    }

    /// An executor that spawns on the runtime of `handle`, whatever thread
    /// `execute` is called from.
    pub fn with_handle(handle: Handle) -> WeftExecutor {
        WeftExecutor { handle: Some(handle) }
    }
}

impl<Fut> Executor<Fut> for WeftExecutor
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// Spawns `fut` as a weft task and detaches it (its output is dropped).
    ///
    /// # Panics
    /// For an executor made by [`WeftExecutor::new`], outside a weft
    /// runtime.
    #[track_caller]
    fn execute(&self, fut: Fut) {
        match &self.handle {
            Some(handle) => drop(handle.spawn(fut)),
            None => drop(crate::spawn(fut)),
        }
    }
}

impl fmt::Debug for WeftExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeftExecutor").field("bound_to_handle", &self.handle.is_some()).finish()
    }
}
