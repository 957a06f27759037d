//! Time: the core's own [`Instant`], the [`Clock`] and [`Timer`] traits every policy
//! takes its time from, and a deterministic [`ManualClock`] for tests.
//!
//! No policy reads a global clock. A policy is generic over a [`Timer`] and asks it both
//! for the current time and for every sleep, so one injected source drives everything:
//! Tokio's timer (so `tokio::time::pause` works), Embassy's, or the [`ManualClock`].

mod manual;

pub use manual::{ManualClock, ManualSleep};

use core::future::Future;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on a monotonic clock, counted in nanoseconds from that clock's own origin.
///
/// The origin is whatever the clock chooses (boot, process start, a test's zero); only
/// differences between instants of the same clock mean anything. Arithmetic saturates:
/// adding a huge [`Duration`] gives [`Instant::MAX`] instead of overflowing, and
/// subtracting a later instant gives [`Duration::ZERO`].
///
/// ```
/// use core::time::Duration;
/// use do_over_core::time::Instant;
///
/// let t = Instant::from_nanos(1_000);
/// assert_eq!(t + Duration::from_micros(1), Instant::from_nanos(2_000));
/// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
/// assert_eq!(t - Instant::from_nanos(5_000), Duration::ZERO);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The clock's origin.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The latest representable instant (about 584 years after the origin).
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// The instant `nanos` nanoseconds after the clock's origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant { nanos }
    }

    /// Nanoseconds since the clock's origin.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time since the origin as a [`Duration`].
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self + d`, or `None` if that is past [`Instant::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let add = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_add(add).map(Instant::from_nanos)
    }

    /// `self + d`, clamped to [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::MAX)
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// Time from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        match self.nanos.checked_sub(earlier.nanos) {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating: never overflows.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: a later `rhs` gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// Converts a [`Duration`] to whole nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A monotonic clock.
///
/// Implement it over whatever counter the platform has; [`Timer`] adds sleeping.
///
/// ```
/// use core::sync::atomic::{AtomicU64, Ordering};
/// use core::time::Duration;
/// use do_over_core::time::{Clock, Instant};
///
/// /// Milliseconds counted by a tick interrupt.
/// struct Ticks(AtomicU64);
///
/// impl Clock for Ticks {
///     fn now(&self) -> Instant {
///         Instant::from_nanos(self.0.load(Ordering::Relaxed) * 1_000_000)
///     }
/// }
///
/// let clock = Ticks(AtomicU64::new(0));
/// let start = clock.now();
/// clock.0.fetch_add(250, Ordering::Relaxed); // the interrupt fired 250 times
/// assert_eq!(clock.now() - start, Duration::from_millis(250));
/// ```
pub trait Clock {
    /// The current time. Never goes backwards.
    fn now(&self) -> Instant;
}

/// A clock that can also sleep: the one time source a policy needs.
///
/// Implementations: `do_over_tokio::TokioTimer` (on `tokio::time`, so paused time drives
/// every policy), the Embassy and async-io adapters, and [`ManualClock`] (through
/// `&ManualClock`) for deterministic tests.
///
/// `sleep_until` and `sleep` must agree with [`Clock::now`]: a sleep until `t` completes
/// once `now() >= t`, never before.
///
/// Code generic over `Timer` runs on any runtime, and deterministically in tests:
///
/// ```
/// use core::time::Duration;
/// use do_over_core::time::{Clock, ManualClock, Timer};
///
/// /// Sleeps until `d` from now; returns how late it woke.
/// async fn pause<T: Timer>(timer: T, d: Duration) -> Duration {
///     let deadline = timer.now() + d;
///     timer.sleep_until(deadline).await;
///     timer.now() - deadline
/// }
///
/// let clock = ManualClock::new();
/// assert_eq!(clock.run(pause(&clock, Duration::from_secs(2))), Duration::ZERO);
/// assert_eq!(clock.now().since_origin(), Duration::from_secs(2));
/// ```
pub trait Timer: Clock {
    /// The future returned by [`Timer::sleep_until`].
    type Sleep: Future<Output = ()>;

    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// A future that completes after `duration` has passed. The default sleeps until
    /// `now() + duration` (saturating).
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.sleep_until(self.now().saturating_add(duration))
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<T: Timer + ?Sized> Timer for &T {
    type Sleep = T::Sleep;
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        (**self).sleep_until(deadline)
    }
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_nanos(10);
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(t + Duration::MAX, Instant::MAX);
        assert_eq!(t + Duration::from_nanos(5), Instant::from_nanos(15));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t.checked_duration_since(Instant::from_nanos(11)), None);
        assert_eq!(
            t.checked_duration_since(Instant::from_nanos(4)),
            Some(Duration::from_nanos(6))
        );
        assert_eq!(saturating_nanos(Duration::MAX), u64::MAX);
    }
}
