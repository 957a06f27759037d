//! Backoff schedules and jitter: how long to wait before each retry.

use core::time::Duration;

use crate::random::Random;
use crate::time::saturating_nanos;

/// The largest delay a schedule produces: `u64::MAX` nanoseconds (about 584 years).
/// Every computation saturates here instead of overflowing.
pub const MAX_DELAY: Duration = Duration::from_nanos(u64::MAX);

/// The base schedule of delays between attempts. Retry `n` (the `n`-th re-run, 1-based)
/// waits [`Backoff::delay(n)`](Backoff::delay):
///
/// | backoff | retry 1 | retry 2 | retry n |
/// |---|---|---|---|
/// | `Fixed(d)` | d | d | d |
/// | `Linear { initial, step }` | initial | initial + step | initial + (n−1)·step |
/// | `Exponential { base, factor }` | base | base·factor | base·factor^(n−1) |
///
/// ```
/// use core::time::Duration;
/// use do_over_core::retry::Backoff;
///
/// let b = Backoff::Exponential { base: Duration::from_millis(100), factor: 2.0 };
/// let ms: Vec<u128> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
/// assert_eq!(ms, [100, 200, 400, 800, 1600]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// A delay growing by `step` with each retry.
    Linear {
        /// Delay before the first retry.
        initial: Duration,
        /// Added for each further retry.
        step: Duration,
    },
    /// A delay multiplied by `factor` with each retry.
    Exponential {
        /// Delay before the first retry.
        base: Duration,
        /// Growth per retry; finite and greater than zero.
        factor: f64,
    },
}

impl Backoff {
    /// The delay before retry `n` (1-based; `n = 0` is treated as 1). Saturates at
    /// [`MAX_DELAY`], never panics.
    pub fn delay(&self, n: u32) -> Duration {
        let k = n.saturating_sub(1);
        match *self {
            Backoff::Fixed(d) => d.min(MAX_DELAY),
            Backoff::Linear { initial, step } => initial
                .saturating_add(step.saturating_mul(k))
                .min(MAX_DELAY),
            Backoff::Exponential { base, factor } => scale(base, powi(factor, k)),
        }
    }

    /// The delay before the first retry: the scale that jitter modes work from.
    pub fn first(&self) -> Duration {
        self.delay(1)
    }
}

/// Randomisation of the delays, so that many clients do not retry in lockstep.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::policy::Policy;
/// use do_over_core::random::SeededRandom;
/// use do_over_core::retry::{Jitter, RetryBuilder, RetryEvent};
/// use do_over_core::time::ManualClock;
/// use std::sync::Mutex;
///
/// let clock = ManualClock::new();
/// let delays = Mutex::new(Vec::new());
/// let retry = RetryBuilder::new(&clock)
///     .max_retries(20)
///     .fixed(Duration::from_millis(100))
///     .jitter(Jitter::Equal)
///     .build()
///     .unwrap()
///     .with_random(SeededRandom::new(7)) // reproducible in a test
///     .on_retry(|e: &RetryEvent<'_, ()>| delays.lock().unwrap().push(e.delay));
/// let _ = clock.run(retry.execute(|| async { Err::<(), ()>(()) }));
/// let delays = delays.lock().unwrap();
/// // Equal jitter: half the delay, plus a random part of the other half.
/// assert!(delays.iter().all(|d| (50..=100).contains(&d.as_millis())));
/// assert!(delays.windows(2).any(|pair| pair[0] != pair[1]));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// The backoff's delays exactly.
    #[default]
    None,
    /// Uniform in `[0, d]` for the backoff's delay `d` ("full jitter").
    Full,
    /// `d/2` plus uniform in `[0, d/2]` ("equal jitter").
    Equal,
    /// Polly's decorrelated jitter (v2): exponentially growing, randomly spread delays whose
    /// median for the first retry is the backoff's first delay. Replaces the backoff's own
    /// growth; a max-delay cap still applies.
    Decorrelated,
}

/// Per-call jitter state (decorrelated jitter remembers where the curve was).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct JitterState {
    prev: f64,
}

/// How a policy computes its delays. Chosen when the policy is built, so that a firmware
/// using `RetryPolicy::fixed` links neither the floating-point jitter curves nor `pow`.
pub(crate) type DelayFn =
    fn(&Backoff, Jitter, Option<Duration>, u32, &dyn Random, &mut JitterState) -> Duration;

fn cap(d: Duration, max: Option<Duration>) -> Duration {
    match max {
        Some(c) => d.min(c),
        None => d,
    }
}

/// Fixed backoff, no jitter.
pub(crate) fn fixed_delay(
    b: &Backoff,
    _: Jitter,
    max: Option<Duration>,
    _: u32,
    _: &dyn Random,
    _: &mut JitterState,
) -> Duration {
    match *b {
        Backoff::Fixed(d) => cap(d.min(MAX_DELAY), max),
        _ => Duration::ZERO, // not chosen for other backoffs
    }
}

/// Linear backoff, no jitter.
pub(crate) fn linear_delay(
    b: &Backoff,
    _: Jitter,
    max: Option<Duration>,
    n: u32,
    _: &dyn Random,
    _: &mut JitterState,
) -> Duration {
    match *b {
        Backoff::Linear { initial, step } => cap(
            initial
                .saturating_add(step.saturating_mul(n.saturating_sub(1)))
                .min(MAX_DELAY),
            max,
        ),
        _ => Duration::ZERO,
    }
}

/// Exponential backoff, no jitter.
pub(crate) fn exponential_delay(
    b: &Backoff,
    _: Jitter,
    max: Option<Duration>,
    n: u32,
    _: &dyn Random,
    _: &mut JitterState,
) -> Duration {
    match *b {
        Backoff::Exponential { base, factor } => {
            cap(scale(base, powi(factor, n.saturating_sub(1))), max)
        }
        _ => Duration::ZERO,
    }
}

/// The delay function for a backoff and jitter.
pub(crate) fn delay_fn_for(backoff: &Backoff, jitter: Jitter) -> DelayFn {
    match (backoff, jitter) {
        (Backoff::Fixed(_), Jitter::None) => fixed_delay,
        (Backoff::Linear { .. }, Jitter::None) => linear_delay,
        (Backoff::Exponential { .. }, Jitter::None) => exponential_delay,
        _ => next_delay,
    }
}

/// The delay before retry `n` (1-based) under `backoff` and `jitter`, capped by `max`: every
/// combination.
pub(crate) fn next_delay(
    backoff: &Backoff,
    jitter: Jitter,
    max: Option<Duration>,
    n: u32,
    random: &dyn Random,
    state: &mut JitterState,
) -> Duration {
    let d = match jitter {
        Jitter::None => backoff.delay(n),
        Jitter::Full => scale(backoff.delay(n), random.next_f64()),
        Jitter::Equal => {
            let half = backoff.delay(n) / 2;
            half.saturating_add(scale(half, random.next_f64()))
        }
        Jitter::Decorrelated => decorrelated(backoff.first(), n, random.next_f64(), state),
    };
    cap(d, max)
}

/// `x^k` by repeated squaring: multiplications only (no `pow`), saturating to infinity.
fn powi(x: f64, mut k: u32) -> f64 {
    let (mut base, mut acc) = (x, 1.0f64);
    while k > 0 {
        if k & 1 == 1 {
            acc *= base;
        }
        base *= base;
        k >>= 1;
    }
    acc
}

/// Polly's "decorrelated jitter backoff v2" curve: with `t = (n − 1) + u` for a uniform `u`,
/// the curve value is `2^t · tanh(√(4t))`; the delay is the growth of the curve since the
/// previous retry, scaled so that the median first delay is `first`.
fn decorrelated(first: Duration, n: u32, u: f64, state: &mut JitterState) -> Duration {
    const P_FACTOR: f64 = 4.0;
    const RP_SCALING: f64 = 1.0 / 1.4;
    let t = f64::from(n.saturating_sub(1)) + u;
    let next = libm::pow(2.0, t) * libm::tanh(libm::sqrt(P_FACTOR * t));
    let grow = next - state.prev;
    state.prev = next;
    scale(first, grow * RP_SCALING)
}

/// `d · x`, saturating at [`MAX_DELAY`]; a non-finite product saturates, a negative or NaN
/// one gives zero.
pub(crate) fn scale(d: Duration, x: f64) -> Duration {
    let nanos = saturating_nanos(d) as f64 * x;
    if nanos.is_nan() || nanos <= 0.0 {
        Duration::ZERO
    } else if nanos >= u64::MAX as f64 {
        MAX_DELAY
    } else {
        Duration::from_nanos((nanos + 0.5) as u64) // round to the nearest nanosecond
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_starts_at_base() {
        let b = Backoff::Exponential {
            base: 100 * MS,
            factor: 2.0,
        };
        assert_eq!(b.delay(1), 100 * MS);
        assert_eq!(b.delay(5), 1600 * MS);
        let b = Backoff::Exponential {
            base: 100 * MS,
            factor: 1.5,
        };
        assert_eq!(b.delay(3), 225 * MS);
    }

    #[test]
    fn linear_and_fixed() {
        let b = Backoff::Linear {
            initial: 10 * MS,
            step: 5 * MS,
        };
        assert_eq!(
            [b.delay(1), b.delay(2), b.delay(4)],
            [10 * MS, 15 * MS, 25 * MS]
        );
        assert_eq!(Backoff::Fixed(7 * MS).delay(1000), 7 * MS);
    }

    #[test]
    fn huge_values_saturate() {
        let b = Backoff::Exponential {
            base: Duration::from_secs(1),
            factor: 10.0,
        };
        assert_eq!(b.delay(u32::MAX), MAX_DELAY);
        let b = Backoff::Linear {
            initial: Duration::MAX,
            step: Duration::MAX,
        };
        assert_eq!(b.delay(u32::MAX), MAX_DELAY);
        assert_eq!(Backoff::Fixed(Duration::MAX).delay(1), MAX_DELAY);
        assert_eq!(scale(Duration::MAX, f64::INFINITY), MAX_DELAY);
        assert_eq!(scale(MS, f64::NAN), Duration::ZERO);
        let r = SeededRandom::new(3);
        let mut st = JitterState::default();
        for n in [1, 2, 100, 2000, u32::MAX] {
            let d = next_delay(&b, Jitter::Decorrelated, None, n, &r, &mut st);
            assert!(d <= MAX_DELAY);
        }
    }

    #[test]
    fn full_and_equal_jitter_stay_in_range() {
        let b = Backoff::Fixed(100 * MS);
        let r = SeededRandom::new(9);
        let mut st = JitterState::default();
        let mut below_half = 0;
        for _ in 0..1000 {
            let f = next_delay(&b, Jitter::Full, None, 1, &r, &mut st);
            assert!(f <= 100 * MS);
            if f < 50 * MS {
                below_half += 1;
            }
            let e = next_delay(&b, Jitter::Equal, None, 1, &r, &mut st);
            assert!(e >= 50 * MS && e <= 100 * MS);
        }
        assert!((400..600).contains(&below_half), "{below_half}");
    }

    #[test]
    fn decorrelated_median_first_delay_is_base_and_grows() {
        let b = Backoff::Fixed(100 * MS);
        let r = SeededRandom::new(11);
        let mut firsts = [Duration::ZERO; 1001];
        let mut fifth_sum = Duration::ZERO;
        for f in firsts.iter_mut() {
            let mut st = JitterState::default();
            *f = next_delay(&b, Jitter::Decorrelated, None, 1, &r, &mut st);
            for n in 2..=5 {
                let d = next_delay(&b, Jitter::Decorrelated, None, n, &r, &mut st);
                if n == 5 {
                    fifth_sum += d;
                }
            }
        }
        firsts.sort();
        let median = firsts[500];
        assert!(
            median > 80 * MS && median < 120 * MS,
            "median first delay {median:?}"
        );
        // Growth: the fifth retry waits on average far longer than the first.
        assert!(fifth_sum / 1001 > 4 * median, "{:?}", fifth_sum / 1001);
    }

    #[test]
    fn cap_applies_to_every_mode() {
        let b = Backoff::Exponential {
            base: 100 * MS,
            factor: 2.0,
        };
        let r = SeededRandom::new(1);
        let mut st = JitterState::default();
        for j in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            for n in 1..20 {
                assert!(next_delay(&b, j, Some(300 * MS), n, &r, &mut st) <= 300 * MS);
            }
        }
    }
}
