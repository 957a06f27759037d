//! # do-over-embassy
//!
//! The Embassy time source for [do-over](https://docs.rs/do-over): [`EmbassyTimer`] reads
//! `embassy_time::Instant` and sleeps with `embassy_time::Timer`, keeping the driver's full
//! tick precision (sub-millisecond: a 1 MHz tick gives microseconds; nothing is truncated to
//! whole milliseconds).
//!
//! `#![no_std]`, no allocation. The firmware provides the time driver (its HAL does) and, on
//! `thumbv6m`, how atomics are provided (for example `--cfg
//! portable_atomic_unsafe_assume_single_core`); this crate chooses neither.
//!
//! ```no_run
//! use core::time::Duration;
//! use do_over_core::policy::LocalPolicy;
//! use do_over_core::retry::RetryPolicy;
//! use do_over_embassy::EmbassyTimer;
//!
//! async fn read_sensor() -> Result<u16, ()> { Ok(42) }
//!
//! async fn task() {
//!     let retry = RetryPolicy::<EmbassyTimer>::fixed(3, Duration::from_millis(5));
//!     let _reading = retry.execute_local(|| read_sensor()).await;
//! }
//! ```
#![no_std]
#![deny(missing_docs)]

use core::time::Duration;

use do_over_core::time::{Clock, Instant, Timer};

/// Nanoseconds per tick when the tick rate divides 1 GHz exactly (1 MHz, 1 kHz, ...): then
/// conversions are one 64-bit multiply or divide, with no 128-bit arithmetic on 32-bit MCUs.
const NANOS_PER_TICK: Option<u64> = if 1_000_000_000 % embassy_time::TICK_HZ == 0 {
    Some(1_000_000_000 / embassy_time::TICK_HZ)
} else {
    None
};

/// Converts embassy ticks to nanoseconds, saturating.
fn ticks_to_nanos(ticks: u64) -> u64 {
    match NANOS_PER_TICK {
        Some(per) => ticks.saturating_mul(per),
        None => {
            let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(embassy_time::TICK_HZ);
            u64::try_from(nanos).unwrap_or(u64::MAX)
        }
    }
}

/// Converts nanoseconds to embassy ticks, rounding up (a sleep never ends early).
fn nanos_to_ticks(nanos: u64) -> u64 {
    match NANOS_PER_TICK {
        Some(per) => nanos.div_ceil(per),
        None => {
            let ticks =
                (u128::from(nanos) * u128::from(embassy_time::TICK_HZ)).div_ceil(1_000_000_000);
            u64::try_from(ticks).unwrap_or(u64::MAX)
        }
    }
}

/// Converts an `embassy_time::Instant` to do-over's [`Instant`] (same origin: boot).
///
/// ```
/// use do_over_core::time::Instant;
/// use do_over_embassy::from_embassy;
///
/// let t = embassy_time::Instant::from_micros(1_500);
/// assert_eq!(from_embassy(t), Instant::from_nanos(1_500_000));
/// ```
pub fn from_embassy(t: embassy_time::Instant) -> Instant {
    Instant::from_nanos(ticks_to_nanos(t.as_ticks()))
}

/// Converts do-over's [`Instant`] to an `embassy_time::Instant`, rounding up to a tick.
///
/// ```
/// use do_over_core::time::Instant;
/// use do_over_embassy::to_embassy;
///
/// let t = to_embassy(Instant::from_nanos(1_500_000));
/// assert_eq!(t.as_micros(), 1_500);
/// assert!(to_embassy(Instant::from_nanos(1)) > embassy_time::Instant::from_ticks(0)); // never early
/// ```
pub fn to_embassy(t: Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_ticks(nanos_to_ticks(t.as_nanos()))
}

/// Time and sleep from `embassy-time`. Zero-sized: copy it freely.
///
/// Here driven by embassy-time's mock driver; on a board, the HAL provides the driver.
///
/// ```
/// use core::future::Future;
/// use core::pin::pin;
/// use core::task::{Context, Poll, Waker};
/// use core::time::Duration;
/// use do_over_core::time::{Clock, Timer};
/// use do_over_embassy::EmbassyTimer;
///
/// let timer = EmbassyTimer;
/// let start = timer.now();
/// let mut sleep = pin!(timer.sleep(Duration::from_micros(1_500)));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Pending);
/// embassy_time::MockDriver::get().advance(embassy_time::Duration::from_micros(1_500));
/// assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Ready(()));
/// assert_eq!(timer.now() - start, Duration::from_micros(1_500)); // sub-millisecond kept
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmbassyTimer;

impl Clock for EmbassyTimer {
    #[inline]
    fn now(&self) -> Instant {
        from_embassy(embassy_time::Instant::now())
    }
}

impl Timer for EmbassyTimer {
    type Sleep = embassy_time::Timer;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        embassy_time::Timer::at(to_embassy(deadline))
    }

    #[inline]
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        let ticks = nanos_to_ticks(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
        embassy_time::Timer::after_ticks(ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_sub_millisecond_precision() {
        // The mock driver ticks at 1 MHz.
        assert_eq!(embassy_time::TICK_HZ, 1_000_000);
        assert_eq!(ticks_to_nanos(1_500), 1_500_000);
        assert_eq!(nanos_to_ticks(1_500_000), 1_500);
        assert_eq!(nanos_to_ticks(1), 1, "rounds up: never early");
        assert_eq!(ticks_to_nanos(u64::MAX), u64::MAX);
    }
}
