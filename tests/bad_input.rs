//! Bad configuration fails loudly and early: reference constructors panic naming the
//! parameter and the rule; builders return `ConfigError`.

use std::time::Duration;

use do_over::retry::{RetryBuilder, RetryPolicy};
use do_over::timeout::TimeoutPolicy;

#[test]
#[should_panic(expected = "RetryPolicy::fixed: invalid `max_retries`: must be at least 1")]
fn fixed_with_zero_retries_panics() {
    let _ = RetryPolicy::fixed(0, Duration::from_millis(1));
}

#[test]
#[should_panic(
    expected = "RetryPolicy::exponential: invalid `factor`: must be finite and greater than 0"
)]
fn exponential_with_nan_factor_panics() {
    let _ = RetryPolicy::exponential(3, Duration::from_millis(1), f64::NAN);
}

#[test]
#[should_panic(expected = "invalid `factor`")]
fn exponential_with_infinite_factor_panics() {
    let _ = RetryPolicy::exponential(3, Duration::from_millis(1), f64::INFINITY);
}

#[test]
#[should_panic(expected = "invalid `factor`")]
fn exponential_with_zero_factor_panics() {
    let _ = RetryPolicy::exponential(3, Duration::from_millis(1), 0.0);
}

#[test]
#[should_panic(expected = "invalid `factor`")]
fn exponential_with_negative_factor_panics() {
    let _ = RetryPolicy::exponential(3, Duration::from_millis(1), -2.0);
}

#[test]
#[should_panic(expected = "RetryPolicy::exponential: invalid `max_retries`")]
fn exponential_with_zero_retries_panics() {
    let _ = RetryPolicy::exponential(0, Duration::from_millis(1), 2.0);
}

#[test]
#[should_panic(expected = "RetryPolicy::linear: invalid `max_retries`")]
fn linear_with_zero_retries_panics() {
    let _ = RetryPolicy::linear(0, Duration::from_millis(1), Duration::from_millis(1));
}

#[test]
#[should_panic(expected = "TimeoutPolicy::new: invalid `duration`: must be greater than 0")]
fn zero_timeout_panics() {
    let _ = TimeoutPolicy::new(Duration::ZERO);
}

#[test]
fn builders_return_config_errors_naming_the_field() {
    let cases = [
        (
            RetryBuilder::new(Default::default())
                .max_retries(0)
                .build()
                .unwrap_err(),
            "max_retries",
        ),
        (
            RetryBuilder::new(Default::default())
                .exponential(Duration::from_millis(1), f64::NEG_INFINITY)
                .build()
                .unwrap_err(),
            "factor",
        ),
        (
            RetryBuilder::new(Default::default())
                .max_delay(Duration::ZERO)
                .build()
                .unwrap_err(),
            "max_delay",
        ),
        (
            RetryBuilder::new(Default::default())
                .max_elapsed(Duration::ZERO)
                .build()
                .unwrap_err(),
            "max_elapsed",
        ),
    ];
    for (err, field) in cases {
        assert_eq!(err.parameter(), field);
        assert!(
            err.to_string().starts_with(&format!("invalid `{field}`: ")),
            "{err}"
        );
    }
    let err = TimeoutPolicy::try_new(Duration::ZERO).unwrap_err();
    assert_eq!(err.parameter(), "duration");
    assert_eq!(err.rule(), "must be greater than 0");
}

#[test]
fn valid_edge_values_are_accepted() {
    let _ = RetryPolicy::fixed(u32::MAX, Duration::ZERO);
    let _ = RetryPolicy::exponential(1, Duration::MAX, f64::MAX);
    let _ = RetryPolicy::exponential(1, Duration::ZERO, 0.5);
    let _ = TimeoutPolicy::new(Duration::MAX);
    let _ = RetryPolicy::builder().build().unwrap();
}

mod circuit_breaker {
    use std::time::Duration;

    use do_over::circuit_breaker::CircuitBreaker;

    #[test]
    #[should_panic(
        expected = "CircuitBreaker::new: invalid `failure_threshold`: must be at least 1"
    )]
    fn zero_threshold_panics() {
        let _ = CircuitBreaker::new(0, Duration::from_secs(1));
    }

    #[test]
    #[should_panic(
        expected = "CircuitBreaker::new: invalid `reset_timeout`: must be greater than 0"
    )]
    fn zero_reset_timeout_panics() {
        let _ = CircuitBreaker::new(3, Duration::ZERO);
    }

    #[test]
    fn builder_errors_name_the_field() {
        let s = Duration::from_secs(1);
        let field = |r: Result<(), do_over::error::ConfigError>| r.unwrap_err().parameter();
        let b = CircuitBreaker::builder;
        assert_eq!(
            field(b().failure_ratio(0.0, s, 10).build().map(drop)),
            "failure_ratio"
        );
        assert_eq!(
            field(b().failure_ratio(1.01, s, 10).build().map(drop)),
            "failure_ratio"
        );
        assert_eq!(
            field(b().failure_ratio(f64::NAN, s, 10).build().map(drop)),
            "failure_ratio"
        );
        assert_eq!(
            field(b().failure_ratio(0.5, Duration::ZERO, 10).build().map(drop)),
            "sampling_window"
        );
        assert_eq!(
            field(b().failure_ratio(0.5, s, 0).build().map(drop)),
            "minimum_throughput"
        );
        assert_eq!(
            field(b().count_window::<5>(0.5, 6).build().map(drop)),
            "minimum_throughput"
        );
        assert_eq!(
            field(b().count_window::<0>(0.5, 1).build().map(drop)),
            "count_window"
        );
        assert_eq!(
            field(
                b().count_window::<5>(0.5, 2)
                    .slow_calls(Duration::ZERO, 0.5)
                    .build()
                    .map(drop)
            ),
            "slow_call_threshold"
        );
        assert_eq!(
            field(
                b().count_window::<5>(0.5, 2)
                    .slow_calls(s, 2.0)
                    .build()
                    .map(drop)
            ),
            "slow_call_ratio"
        );
        assert_eq!(
            field(b().slow_calls(s, 0.5).build().map(drop)),
            "slow_call_ratio"
        );
        assert_eq!(
            field(b().consecutive_failures(0).build().map(drop)),
            "failure_threshold"
        );
        assert_eq!(
            field(b().break_duration(Duration::ZERO).build().map(drop)),
            "break_duration"
        );
        assert_eq!(
            field(b().exponential_break(s, 0.5, s).build().map(drop)),
            "break_factor"
        );
        assert_eq!(
            field(
                b().exponential_break(s, 2.0, Duration::from_millis(1))
                    .build()
                    .map(drop)
            ),
            "max_break"
        );
        assert_eq!(
            field(b().half_open_probes(0).build().map(drop)),
            "half_open_probes"
        );
        assert_eq!(
            field(b().half_open_probes(256).build().map(drop)),
            "half_open_probes"
        );
        assert!(
            b().half_open_probes(255)
                .failure_ratio(1.0, s, 1)
                .build()
                .is_ok()
        );
    }
}

mod bulkhead_and_rate_limiter {
    use std::time::Duration;

    use do_over::bulkhead::Bulkhead;
    use do_over::rate_limit::RateLimiter;

    #[test]
    #[should_panic(expected = "Bulkhead::new: invalid `max_concurrent`: must be at least 1")]
    fn zero_concurrency_panics() {
        let _ = Bulkhead::new(0);
    }

    #[test]
    #[should_panic(expected = "RateLimiter::new: invalid `capacity`: must be at least 1")]
    fn zero_capacity_panics() {
        let _ = RateLimiter::new(0, Duration::from_secs(1));
    }

    #[test]
    #[should_panic(expected = "RateLimiter::new: invalid `interval`: must be greater than 0")]
    fn zero_interval_panics() {
        let _ = RateLimiter::new(10, Duration::ZERO);
    }

    #[test]
    fn fallible_constructors_return_config_errors() {
        assert_eq!(
            Bulkhead::try_new(0).unwrap_err().parameter(),
            "max_concurrent"
        );
        assert_eq!(
            RateLimiter::try_new(0, Duration::from_secs(1))
                .unwrap_err()
                .parameter(),
            "capacity"
        );
        assert_eq!(
            RateLimiter::try_new(1, Duration::ZERO)
                .unwrap_err()
                .parameter(),
            "interval"
        );
        assert!(RateLimiter::try_new(u32::MAX, Duration::from_nanos(1)).is_ok());
        assert!(Bulkhead::try_new(usize::MAX).is_err());
    }
}
