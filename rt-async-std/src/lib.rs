//! # do-over-async-std
//!
//! The time source of [do-over](https://docs.rs/do-over) for **smol** and **async-std**:
//! [`AsyncIoTimer`] sleeps with `async_io::Timer`, the timer both runtimes use, and reads
//! `std::time::Instant`.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052); it still runs on this timer, but
//! new code should use smol, which async-std was built from.
//!
//! ```
//! use std::time::Duration;
//! use do_over_async_std::AsyncIoTimer;
//! use do_over_core::policy::Policy;
//! use do_over_core::retry::RetryPolicy;
//!
//! smol::block_on(async {
//!     let retry = RetryPolicy::<AsyncIoTimer>::fixed(2, Duration::from_millis(1));
//!     let out = retry.execute(|| async { Ok::<_, std::io::Error>(5) }).await;
//!     assert_eq!(out.unwrap(), 5);
//! });
//! ```
#![deny(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use do_over_core::time::{Clock, Instant, Timer};

/// The `std` instant do-over's [`Instant::ZERO`] stands for on this timer.
fn anchor() -> std::time::Instant {
    static ANCHOR: OnceLock<std::time::Instant> = OnceLock::new();
    *ANCHOR.get_or_init(std::time::Instant::now)
}

/// Converts a `std` instant to do-over's [`Instant`] (saturating at the anchor).
///
/// The anchor is fixed the first time this crate reads the clock; an instant from before
/// that converts to [`Instant::ZERO`].
///
/// ```
/// use do_over_async_std::{AsyncIoTimer, from_std, to_std};
/// use do_over_core::time::Clock;
///
/// let now = AsyncIoTimer.now();
/// assert_eq!(from_std(to_std(now).unwrap()), now);
/// ```
pub fn from_std(t: std::time::Instant) -> Instant {
    let since = t.saturating_duration_since(anchor());
    Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

/// Converts do-over's [`Instant`] to a `std` instant (`None` past what the platform holds).
///
/// ```
/// use do_over_async_std::to_std;
/// use do_over_core::time::Instant;
/// use std::time::Duration;
///
/// let a = to_std(Instant::from_nanos(1_000)).unwrap();
/// let b = to_std(Instant::from_nanos(1_000) + Duration::from_millis(5)).unwrap();
/// assert_eq!(b - a, Duration::from_millis(5));
/// ```
pub fn to_std(t: Instant) -> Option<std::time::Instant> {
    anchor().checked_add(t.since_origin())
}

/// Time from `std::time::Instant`, sleeps from `async_io::Timer`. Zero-sized.
///
/// ```
/// use do_over_async_std::AsyncIoTimer;
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::timeout::TimeoutPolicy;
/// use std::time::Duration;
///
/// smol::block_on(async {
///     let timeout = TimeoutPolicy::<AsyncIoTimer>::new(Duration::from_millis(5));
///     let hangs = || std::future::pending::<Result<(), DoOverError<()>>>();
///     assert_eq!(timeout.execute(hangs).await, Err(DoOverError::Timeout));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsyncIoTimer;

/// The sleep future of [`AsyncIoTimer`]: an `async_io::Timer`, or one that never fires for
/// a deadline beyond what `std::time::Instant` can represent.
#[derive(Debug)]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Clock for AsyncIoTimer {
    fn now(&self) -> Instant {
        from_std(std::time::Instant::now())
    }
}

impl Timer for AsyncIoTimer {
    type Sleep = Sleep;

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(match to_std(deadline) {
            Some(at) => async_io::Timer::at(at),
            None => async_io::Timer::never(),
        })
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep(async_io::Timer::after(duration))
    }
}

/// Spawns detached tasks with `smol::spawn` (feature `smol`): the
/// [`Spawn`](do_over_core::spawn::Spawn) capability for smol, used by hedging's detached mode.
///
/// ```
/// use do_over_async_std::SmolSpawner;
/// use do_over_core::spawn::Spawn;
///
/// let (done, finished) = std::sync::mpsc::channel();
/// SmolSpawner.spawn(async move { done.send("background work").unwrap() });
/// assert_eq!(finished.recv().unwrap(), "background work"); // ran on smol's executor
/// ```
#[cfg(feature = "smol")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolSpawner;

#[cfg(feature = "smol")]
impl do_over_core::spawn::Spawn for SmolSpawner {
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        smol::spawn(future).detach();
    }
}

/// Spawns detached tasks with `async_std::task::spawn` (feature `async-std`).
///
/// ```
/// use do_over_async_std::AsyncStdSpawner;
/// use do_over_core::spawn::Spawn;
///
/// let (done, finished) = std::sync::mpsc::channel();
/// AsyncStdSpawner.spawn(async move { done.send("background work").unwrap() });
/// assert_eq!(finished.recv().unwrap(), "background work"); // ran on async-std's executor
/// ```
#[cfg(feature = "async-std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdSpawner;

#[cfg(feature = "async-std")]
impl do_over_core::spawn::Spawn for AsyncStdSpawner {
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(async_std::task::spawn(future));
    }
}

#[cfg(all(test, feature = "smol"))]
mod tests {
    use super::*;
    use do_over_core::spawn::Spawn;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn smol_spawner_runs_the_future_to_completion() {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        smol::block_on(async {
            SmolSpawner.spawn(async move { d.store(true, Ordering::SeqCst) });
            while !done.load(Ordering::SeqCst) {
                AsyncIoTimer.sleep(Duration::from_millis(1)).await;
            }
        });
        assert!(done.load(Ordering::SeqCst));
    }
}
