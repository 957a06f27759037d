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
