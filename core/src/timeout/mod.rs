//! Timeout: bound how long one run of the operation may take.
//!
//! # Semantics
//!
//! * The clock starts when the policy's future is first polled (read once from the
//!   policy's [`Timer`]); the operation's future is created and polled right after.
//! * If the operation finishes first, its result — success or error — is returned
//!   unchanged. If it finishes in the same poll in which the deadline passes, the operation
//!   wins.
//! * Otherwise, at the deadline the operation's future is **dropped** (cancelled) at once
//!   and the call fails with [`Rejection::Timeout`](crate::error::Rejection::Timeout), converted into the caller's error type
//!   through [`FromRejection`](crate::error::FromRejection): `DoOverError::Timeout`, or an `io::Error` of kind `TimedOut`.
//! * An operation that completes on its first poll never arms a timer.
//! * Inside a retry ([`Wrap::new(retry, timeout)`](crate::wrap::Wrap)) each attempt gets its
//!   own full timeout; outside (`Wrap::new(timeout, retry)`) the timeout bounds all
//!   attempts and delays together.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::policy::Policy;
//! use do_over_core::time::{ManualClock, Timer};
//! use do_over_core::timeout::TimeoutPolicy;
//!
//! let clock = ManualClock::new();
//! let timeout = TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock);
//! let slow = clock.run(timeout.execute(|| async {
//!     (&clock).sleep(Duration::from_secs(5)).await;
//!     Ok::<_, DoOverError<()>>("done")
//! }));
//! assert_eq!(slow, Err(DoOverError::Timeout));
//! ```

mod future;

pub use future::TimeoutFuture;

use core::time::Duration;

use crate::error::{ConfigError, expect_valid};
use crate::time::Timer;

/// Fails a call that takes longer than a fixed duration, cancelling the operation. See the
/// [module docs](self) for the exact semantics.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::{ManualClock, Timer};
/// use do_over_core::timeout::TimeoutPolicy;
///
/// let clock = ManualClock::new();
/// let err = TimeoutPolicy::try_new_with_timer(Duration::ZERO, &clock).unwrap_err();
/// assert_eq!(err.parameter(), "duration");
///
/// let timeout = TimeoutPolicy::new_with_timer(Duration::from_secs(2), &clock);
/// // An operation that ends in time keeps its own result, errors included.
/// let out = clock.run(timeout.execute(|| async {
///     (&clock).sleep(Duration::from_secs(1)).await;
///     Err::<(), _>(DoOverError::Inner("refused"))
/// }));
/// assert_eq!(out, Err(DoOverError::Inner("refused")));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TimeoutPolicy<T> {
    timer: T,
    duration: Duration,
}

impl<T: Timer + Default> TimeoutPolicy<T> {
    /// A timeout of `duration` per call.
    ///
    /// # Panics
    /// If `duration` is zero. [`TimeoutPolicy::try_new`] returns a [`ConfigError`] instead.
    #[track_caller]
    pub fn new(duration: Duration) -> Self {
        expect_valid("TimeoutPolicy::new", Self::try_new(duration))
    }

    /// A timeout of `duration` per call.
    ///
    /// # Errors
    /// [`ConfigError`] naming `duration` if it is zero.
    pub fn try_new(duration: Duration) -> Result<Self, ConfigError> {
        Self::try_new_with_timer(duration, T::default())
    }
}

impl<T: Timer> TimeoutPolicy<T> {
    /// [`new`](TimeoutPolicy::new) on the given timer.
    #[track_caller]
    pub fn new_with_timer(duration: Duration, timer: T) -> Self {
        expect_valid(
            "TimeoutPolicy::new",
            Self::try_new_with_timer(duration, timer),
        )
    }

    /// [`try_new`](TimeoutPolicy::try_new) on the given timer.
    ///
    /// # Errors
    /// [`ConfigError`] naming `duration` if it is zero.
    pub fn try_new_with_timer(duration: Duration, timer: T) -> Result<Self, ConfigError> {
        if duration.is_zero() {
            return Err(ConfigError::new("duration", "must be greater than 0"));
        }
        Ok(TimeoutPolicy { timer, duration })
    }
}

impl<T> TimeoutPolicy<T> {
    /// The time each call is allowed.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The policy's timer.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// Moves the policy onto another timer (for instance `&ManualClock` in a test).
    pub fn with_timer<T2: Timer>(self, timer: T2) -> TimeoutPolicy<T2> {
        TimeoutPolicy {
            timer,
            duration: self.duration,
        }
    }

    /// Runs `op` under this timeout, returning the named future.
    pub fn call<F, Fut>(&self, op: F) -> TimeoutFuture<'_, T, F, Fut>
    where
        T: Timer,
        F: Fn() -> Fut,
    {
        TimeoutFuture::new(self, op)
    }
}

crate::policy::timer_policy!(TimeoutPolicy);

crate::observe::observe_on_own_timer!(TimeoutPolicy);
