//! [`yield_now`]: give the worker to other tasks once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields execution back to the scheduler once.
///
/// The task is re-queued at the back of its worker's queue, so every task
/// already waiting there runs before it resumes.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// weft::task::yield_now().await;
/// # });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A wake during its own poll sends the task to the back of the
        // queue once the poll ends (see harness::poll).
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
