//! The rate limiter against a plain reference token bucket, over random arrivals.
//! (Skipped under Miri: proptest is too slow there and touches the file system.)
#![cfg(not(miri))]

use core::time::Duration;

use do_over_core::error::MAX_WAIT;
use do_over_core::rate_limit::RateLimiter;
use do_over_core::time::ManualClock;
use proptest::prelude::*;

/// A continuous-refill token bucket kept in exact integer units: one token is `interval`
/// units, refill is `capacity` units per nanosecond.
struct Bucket {
    capacity: u128,
    interval: u128,
    level: u128,
    last: u128,
}

impl Bucket {
    fn new(capacity: u32, interval: Duration) -> Self {
        let (c, i) = (u128::from(capacity), interval.as_nanos());
        Bucket {
            capacity: c,
            interval: i,
            level: c * i,
            last: 0,
        }
    }

    fn acquire(&mut self, now: u128, n: u32) -> Result<(), Duration> {
        let full = self.capacity * self.interval;
        self.level = (self.level + (now - self.last) * self.capacity).min(full);
        self.last = now;
        let need = u128::from(n) * self.interval;
        if need > full {
            return Err(MAX_WAIT);
        }
        if self.level >= need {
            self.level -= need;
            Ok(())
        } else {
            let wait = (need - self.level).div_ceil(self.capacity);
            Err(Duration::from_nanos(wait as u64))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(200) })]

    #[test]
    fn matches_a_reference_token_bucket(
        capacity in 1u32..8,
        per_token_ms in 1u64..50,
        ops in prop::collection::vec((0u64..200, 1u32..10), 1..200),
    ) {
        let interval = Duration::from_millis(per_token_ms * u64::from(capacity));
        let clock = ManualClock::new();
        let limiter = RateLimiter::new_with_timer(capacity, interval, &clock);
        let mut model = Bucket::new(capacity, interval);
        let mut now = 0u128;
        for (advance_ms, weight) in ops {
            clock.advance(Duration::from_millis(advance_ms));
            now += u128::from(advance_ms) * 1_000_000;
            let weight = weight.min(capacity + 1);
            prop_assert_eq!(limiter.try_acquire(weight), model.acquire(now, weight), "at {} ns, weight {}", now, weight);
        }
    }

    #[test]
    fn never_more_than_capacity_plus_rate_times_window(
        capacity in 1u32..6,
        gaps in prop::collection::vec(0u64..40, 1..300),
    ) {
        let interval = Duration::from_millis(100);
        let clock = ManualClock::new();
        let limiter = RateLimiter::new_with_timer(capacity, interval, &clock);
        let mut t = 0u64;
        let mut admitted = Vec::new();
        for gap in gaps {
            clock.advance(Duration::from_millis(gap));
            t += gap;
            if limiter.try_acquire(1).is_ok() {
                admitted.push(t);
            }
        }
        for (i, start) in admitted.iter().enumerate() {
            for w in [1u64, 10, 50, 100, 250, 1000] {
                let n = admitted[i..].iter().take_while(|u| **u < start + w).count() as u64;
                let bound = u64::from(capacity) + u64::from(capacity) * w / 100;
                prop_assert!(n <= bound, "{} calls in {} ms from {}", n, w, start);
            }
        }
    }
}
