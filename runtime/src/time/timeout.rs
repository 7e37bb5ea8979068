//! [`timeout`], [`timeout_at`] and [`Timeout`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::error::Elapsed;
use super::{sleep_until, Instant, Sleep};

/// Runs `future` for at most `duration`: `Ok(output)` if it completes
/// first, `Err(Elapsed)` otherwise (the future is then dropped).
///
/// # Panics
/// Outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let never = std::future::pending::<()>();
/// assert!(weft::time::timeout(Duration::from_millis(5), never).await.is_err());
/// assert_eq!(weft::time::timeout(Duration::from_secs(5), async { 3 }).await, Ok(3));
/// # });
/// ```
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(Instant::now().saturating_add(duration), future)
}

/// Runs `future` until `deadline`; see [`timeout`].
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { future, delay: sleep_until(deadline) }
}

/// Future returned by [`timeout`] and [`timeout_at`].
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    delay: Sleep,
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Unwraps the future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: only `future` is treated as pinned (structural pinning)
        // and it is never moved out of a pinned `Timeout`: `into_inner` and
        // `get_mut` need the `Timeout` by value or `&mut`, which a pinned
        // one gives only when it is `Unpin` (so `F: Unpin`), and `Timeout`
        // has no `Drop` that could move it. `delay` is `Unpin`, so using it
        // through `&mut` is fine.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this.future` is structurally pinned (see above: it never
        // moves while the `Timeout` is pinned), so pinning it is sound.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut this.delay).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed::new())),
            Poll::Pending => Poll::Pending,
        }
    }
}
