//! # do-over-tokio
//!
//! The Tokio time source for [do-over](https://docs.rs/do-over): [`TokioTimer`] reads
//! `tokio::time::Instant` and sleeps with `tokio::time::sleep`, so Tokio's paused time
//! (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`) drives every policy
//! deterministically.
//!
//! ```
//! use std::time::Duration;
//! use do_over_core::time::{Clock, Timer};
//! use do_over_tokio::TokioTimer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let t = TokioTimer;
//! let start = t.now();
//! t.sleep(Duration::from_secs(3)).await; // paused time: returns at once
//! assert_eq!(t.now() - start, Duration::from_secs(3));
//! # }
//! ```
#![deny(missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use do_over_core::time::{Clock, Instant, Timer};
use tokio::time::Instant as TokioInstant;

/// The instant our [`Instant::ZERO`] stands for: a point comfortably before anything this
/// process will observe, so that conversions never need to go below zero, even for the
/// paused clocks of runtimes created before the anchor was first read.
#[inline]
fn anchor() -> TokioInstant {
    static ANCHOR: OnceLock<TokioInstant> = OnceLock::new();
    *ANCHOR.get_or_init(|| {
        let now = TokioInstant::now();
        [86_400 * 365, 86_400, 3_600, 60]
            .into_iter()
            .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(now)
    })
}

/// Converts a Tokio instant to do-over's [`Instant`] (saturating).
///
/// ```
/// use do_over_tokio::from_tokio;
/// use std::time::Duration;
///
/// let now = tokio::time::Instant::now();
/// let later = now + Duration::from_millis(250);
/// assert_eq!(from_tokio(later) - from_tokio(now), Duration::from_millis(250));
/// ```
#[inline]
pub fn from_tokio(t: TokioInstant) -> Instant {
    let since = t.saturating_duration_since(anchor());
    Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

/// Converts do-over's [`Instant`] to a Tokio instant; an instant too far in the future for
/// the platform becomes "about 30 years from the anchor", as Tokio itself does.
///
/// ```
/// use do_over_tokio::{from_tokio, to_tokio};
///
/// let now = tokio::time::Instant::now();
/// let back = to_tokio(from_tokio(now));
/// assert!(back.max(now) - back.min(now) < std::time::Duration::from_micros(1));
/// let _far = to_tokio(do_over_core::time::Instant::MAX); // no panic
/// ```
#[inline]
pub fn to_tokio(t: Instant) -> TokioInstant {
    let a = anchor();
    a.checked_add(t.since_origin())
        .unwrap_or_else(|| a + Duration::from_secs(86_400 * 365 * 30))
}

/// Time and sleep from `tokio::time`. A zero-sized handle: copy it freely.
///
/// Requires a Tokio runtime with the time driver enabled when a policy sleeps (as
/// `tokio::time::sleep` does).
///
/// ```
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::timeout::TimeoutPolicy;
/// use do_over_tokio::TokioTimer;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let timeout = TimeoutPolicy::<TokioTimer>::new(Duration::from_secs(1));
/// let start = tokio::time::Instant::now();
/// let out = timeout
///     .execute(|| std::future::pending::<Result<(), DoOverError<()>>>())
///     .await;
/// assert_eq!(out, Err(DoOverError::Timeout));
/// assert_eq!(start.elapsed(), Duration::from_secs(1)); // paused time: exact, and instant
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokioTimer;

impl Clock for TokioTimer {
    #[inline]
    fn now(&self) -> Instant {
        from_tokio(TokioInstant::now())
    }
}

impl Timer for TokioTimer {
    type Sleep = tokio::time::Sleep;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(to_tokio(deadline))
    }

    #[inline]
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }
}

impl do_over_core::spawn::Spawn for TokioTimer {
    /// `tokio::spawn`: needs a Tokio runtime.
    fn spawn<F>(&self, future: F)
    where
        F: core::future::Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(future));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time() {
        let t = TokioTimer;
        let a = t.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(t.now() - a, Duration::from_millis(1500));
        let deadline = t.now() + Duration::from_secs(2);
        t.sleep_until(deadline).await;
        assert_eq!(t.now(), deadline);
    }

    #[test]
    fn round_trips() {
        let now = TokioInstant::now();
        let back = to_tokio(from_tokio(now));
        assert!(back.max(now) - back.min(now) < Duration::from_micros(1));
        // Far-future instants do not panic.
        let _ = to_tokio(Instant::MAX);
    }
}
