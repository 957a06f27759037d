//! Errors: [`DoOverError`] (the reference error type), [`Rejection`] (what a policy
//! produces on its own), [`FromRejection`] (how a caller's error type receives it), and
//! [`ConfigError`] (what builders return for bad configuration).

use core::fmt;
use core::time::Duration;

/// A failure produced by a policy itself rather than by the operation it protects.
///
/// Policies never need to know the caller's error type: they hand a `Rejection` to
/// [`FromRejection::from_rejection`], which the caller's error type implements.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::{DoOverError, FromRejection, Rejection};
///
/// let r = Rejection::RateLimited { retry_after: Duration::from_millis(250) };
/// assert_eq!(r.to_string(), "rate limited; retry after 250ms");
/// let e = DoOverError::<std::io::Error>::from_rejection(r);
/// assert!(matches!(e, DoOverError::RateLimited { retry_after } if retry_after.as_millis() == 250));
/// assert_eq!(e.rejection(), Some(r)); // and back
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// The operation did not finish within the timeout; it was cancelled (dropped).
    Timeout,
    /// The circuit breaker is open (or half-open with every probe slot taken, or isolated);
    /// the operation was not run.
    CircuitOpen {
        /// How long until the breaker will admit a probe: zero while half-open probes are
        /// running (a slot frees when one finishes), [`MAX_WAIT`] while isolated.
        retry_after: Duration,
    },
    /// The bulkhead had no free slot (or its queue was full or timed out); the operation
    /// was not run.
    BulkheadFull,
    /// The rate limiter had no token; the operation was not run.
    RateLimited {
        /// How long until a token will be available.
        retry_after: Duration,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Timeout => f.write_str("operation timed out"),
            Rejection::CircuitOpen { retry_after } => {
                write!(f, "circuit breaker is open; retry after {retry_after:?}")
            }
            Rejection::BulkheadFull => f.write_str("bulkhead is full"),
            Rejection::RateLimited { retry_after } => {
                write!(f, "rate limited; retry after {retry_after:?}")
            }
        }
    }
}

impl core::error::Error for Rejection {}

/// The `retry_after` of a rejection that will not lift by itself (an isolated breaker):
/// `u64::MAX` nanoseconds, about 584 years.
pub const MAX_WAIT: Duration = Duration::from_nanos(u64::MAX);

/// Error types that can carry a policy's [`Rejection`].
///
/// Implemented for [`DoOverError<E>`], for `std::io::Error` (with the `std` feature: a
/// timeout becomes `io::ErrorKind::TimedOut`), and for boxed
/// errors. Implement it for your own error type to keep that type through a stack:
///
/// ```
/// use do_over_core::error::{FromRejection, Rejection};
///
/// #[derive(Debug)]
/// enum AppError {
///     Db(String),
///     Overloaded(Rejection),
/// }
///
/// impl FromRejection for AppError {
///     fn from_rejection(r: Rejection) -> Self {
///         AppError::Overloaded(r)
///     }
/// }
/// ```
pub trait FromRejection {
    /// Converts the rejection into this error type.
    fn from_rejection(rejection: Rejection) -> Self;

    /// The rejection this error carries, if it is one. Lets an outer policy tell an inner
    /// policy's rejection from the operation's own failure (a circuit breaker can ignore
    /// them, say). The default says "never a rejection".
    fn as_rejection(&self) -> Option<Rejection> {
        None
    }
}

/// The error type of the reference API: either a policy's own failure or the operation's
/// error (`Inner`).
///
/// `From<E>` is implemented, so `?` on an `E` inside an operation returning
/// `Result<_, DoOverError<E>>` works.
///
/// ```
/// use do_over_core::error::DoOverError;
///
/// fn describe(e: &DoOverError<std::io::Error>) -> String {
///     match e {
///         DoOverError::Timeout => "too slow".into(),
///         DoOverError::CircuitOpen => "breaker open".into(),
///         DoOverError::BulkheadFull => "too busy".into(),
///         DoOverError::RateLimited { retry_after } => format!("retry in {retry_after:?}"),
///         DoOverError::Inner(e) => format!("failed: {e}"),
///         _ => "other rejection".into(),
///     }
/// }
/// assert_eq!(describe(&DoOverError::Timeout), "too slow");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DoOverError<E> {
    /// The operation exceeded its timeout and was cancelled.
    Timeout,
    /// The circuit breaker is open; the operation was not run.
    CircuitOpen,
    /// The bulkhead had no free slot; the operation was not run.
    BulkheadFull,
    /// The rate limiter had no token; the operation was not run.
    RateLimited {
        /// How long until a token will be available.
        retry_after: Duration,
    },
    /// The operation's own error.
    Inner(E),
}

impl<E> DoOverError<E> {
    /// The policy rejection this error carries, or `None` for [`DoOverError::Inner`].
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            DoOverError::Timeout => Some(Rejection::Timeout),
            DoOverError::CircuitOpen => Some(Rejection::CircuitOpen {
                retry_after: Duration::ZERO,
            }),
            DoOverError::BulkheadFull => Some(Rejection::BulkheadFull),
            DoOverError::RateLimited { retry_after } => Some(Rejection::RateLimited {
                retry_after: *retry_after,
            }),
            DoOverError::Inner(_) => None,
        }
    }

    /// The operation's error, if this is [`DoOverError::Inner`].
    pub fn into_inner(self) -> Option<E> {
        match self {
            DoOverError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> From<E> for DoOverError<E> {
    fn from(e: E) -> Self {
        DoOverError::Inner(e)
    }
}

impl<E> FromRejection for DoOverError<E> {
    fn from_rejection(r: Rejection) -> Self {
        match r {
            Rejection::Timeout => DoOverError::Timeout,
            Rejection::CircuitOpen { .. } => DoOverError::CircuitOpen,
            Rejection::BulkheadFull => DoOverError::BulkheadFull,
            Rejection::RateLimited { retry_after } => DoOverError::RateLimited { retry_after },
        }
    }

    fn as_rejection(&self) -> Option<Rejection> {
        self.rejection()
    }
}

impl<E: fmt::Display> fmt::Display for DoOverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DoOverError::Inner(e) => fmt::Display::fmt(e, f),
            // The variant carries no `retry_after`: do not print a made-up zero.
            DoOverError::CircuitOpen => f.write_str("circuit breaker is open"),
            other => match other.rejection() {
                Some(r) => fmt::Display::fmt(&r, f),
                None => Ok(()),
            },
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for DoOverError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            DoOverError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "std")]
mod std_impls {
    extern crate std;
    use super::{FromRejection, Rejection};
    use std::boxed::Box;
    use std::io;

    /// Maps a rejection onto an `io::Error` whose kind says what happened and whose inner
    /// error is the [`Rejection`] (recover it with `get_ref()?.downcast_ref::<Rejection>()`).
    ///
    /// | rejection | `io::ErrorKind` |
    /// |---|---|
    /// | `Timeout` | `TimedOut` |
    /// | `CircuitOpen` | `ConnectionRefused` |
    /// | `BulkheadFull`, `RateLimited` | `ResourceBusy` |
    impl From<Rejection> for io::Error {
        fn from(r: Rejection) -> io::Error {
            let kind = match r {
                Rejection::Timeout => io::ErrorKind::TimedOut,
                Rejection::CircuitOpen { .. } => io::ErrorKind::ConnectionRefused,
                Rejection::BulkheadFull | Rejection::RateLimited { .. } => {
                    io::ErrorKind::ResourceBusy
                }
            };
            io::Error::new(kind, r)
        }
    }

    impl FromRejection for io::Error {
        fn from_rejection(r: Rejection) -> Self {
            io::Error::from(r)
        }
        fn as_rejection(&self) -> Option<Rejection> {
            self.get_ref()?.downcast_ref::<Rejection>().copied()
        }
    }

    impl FromRejection for Box<dyn core::error::Error + Send + Sync> {
        fn from_rejection(r: Rejection) -> Self {
            Box::new(r)
        }
        fn as_rejection(&self) -> Option<Rejection> {
            self.downcast_ref::<Rejection>().copied()
        }
    }

    impl FromRejection for Box<dyn core::error::Error> {
        fn from_rejection(r: Rejection) -> Self {
            Box::new(r)
        }
        fn as_rejection(&self) -> Option<Rejection> {
            self.downcast_ref::<Rejection>().copied()
        }
    }
}

/// A configuration value a builder refused, naming the parameter and the rule it broke.
///
/// The reference constructors (`RetryPolicy::fixed`, `TimeoutPolicy::new`, ...) panic with
/// this error's message instead of returning it.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::retry::RetryBuilder;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let err = RetryBuilder::new(&clock)
///     .exponential(Duration::from_millis(100), f64::NAN)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.parameter(), "factor");
/// assert_eq!(err.to_string(), "invalid `factor`: must be finite and greater than 0");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    parameter: &'static str,
    rule: &'static str,
}

impl ConfigError {
    /// A new error for `parameter`, which must satisfy `rule`.
    pub const fn new(parameter: &'static str, rule: &'static str) -> Self {
        ConfigError { parameter, rule }
    }

    /// The name of the offending parameter, as the constructor names it.
    pub const fn parameter(&self) -> &'static str {
        self.parameter
    }

    /// The rule the value broke.
    pub const fn rule(&self) -> &'static str {
        self.rule
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.parameter, self.rule)
    }
}

impl core::error::Error for ConfigError {}

/// Unwraps a builder result inside a panicking reference constructor.
#[track_caller]
pub(crate) fn expect_valid<T>(constructor: &str, r: Result<T, ConfigError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{constructor}: {e}"),
    }
}
