//! [`WeftTimer`] and [`WeftSleep`]: hyper's timer on weft's timer wheels.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::time::{Instant, Sleep};

/// A [`hyper::rt::Timer`] on weft's timer wheels.
///
/// Its sleeps are [`WeftSleep`]s. hyper creates them while it polls a
/// connection, so inside a weft task; like [`crate::time::sleep`], creating
/// one outside a weft runtime panics. `reset` moves a [`WeftSleep`]'s
/// deadline in place (no new timer, no allocation), as hyper-util's
/// `TokioTimer` does.
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// use weft::hyper::WeftTimer;
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     let timer = WeftTimer::new();
///     let start = std::time::Instant::now();
///     let mut sleep = timer.sleep(Duration::from_secs(3600));
///     timer.reset(&mut sleep, std::time::Instant::now() + Duration::from_millis(5));
///     sleep.await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct WeftTimer {
    _private: (),
}

impl WeftTimer {
    /// A timer on the current weft runtime's wheels.
    pub fn new() -> WeftTimer {
        WeftTimer { _private: () }
    }
}

impl ::hyper::rt::Timer for WeftTimer {
    /// # Panics
    /// Outside a weft runtime.
    #[track_caller]
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(WeftSleep { inner: crate::time::sleep(duration) })
    }

    /// # Panics
    /// Outside a weft runtime.
    #[track_caller]
    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(WeftSleep { inner: crate::time::sleep_until(Instant::from_std(deadline)) })
    }

    fn reset(
        &self,
        sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>,
        new_deadline: std::time::Instant,
    ) {
        match sleep.as_mut().downcast_mut_pin::<WeftSleep>() {
            Some(weft_sleep) => weft_sleep.reset(new_deadline),
            // Not one of ours (another timer's sleep): replace it.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The [`hyper::rt::Sleep`] of [`WeftTimer`]: a [`crate::time::Sleep`].
pub struct WeftSleep {
    inner: Sleep,
}

impl WeftSleep {
    /// Moves the deadline (re-arming a completed sleep); see
    /// [`Sleep::reset`].
    pub fn reset(self: Pin<&mut Self>, deadline: std::time::Instant) {
        Pin::new(&mut self.get_mut().inner).reset(Instant::from_std(deadline));
    }

    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> std::time::Instant {
        self.inner.deadline().into_std()
    }
}

impl Future for WeftSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl ::hyper::rt::Sleep for WeftSleep {}

impl fmt::Debug for WeftSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeftSleep").field("inner", &self.inner).finish()
    }
}
