//! Composition: [`Wrap`] runs one policy inside another.
//!
//! `Wrap::new(outer, inner)` runs `outer → inner → operation`: the outer policy sees the
//! inner policy's whole run (including its retries and rejections) as one operation.
//! Stacks nest: `Wrap::new(a, Wrap::new(b, c))` runs `a → b → c → operation`. The same
//! stack reads top-down with [`Compose::wrap`]: `a.wrap(b).wrap(c)` (nesting to the left
//! gives the same order).
//!
//! # Recommended order (outermost first)
//!
//! 1. **Bulkhead** — bound concurrency before doing any work.
//! 2. **Circuit breaker** — fail fast while the dependency is down.
//! 3. **Rate limiter** — throttle what actually goes out.
//! 4. **Retry** — re-run transient failures.
//! 5. **Timeout** — bound each attempt (innermost, so every retry gets a fresh timeout).
//!
//! Put the timeout *outside* the retry instead to bound the whole call, retries and delays
//! included.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::policy::Policy;
//! use do_over_core::retry::RetryPolicy;
//! use do_over_core::time::{ManualClock, Timer};
//! use do_over_core::timeout::TimeoutPolicy;
//! use do_over_core::wrap::{Compose, Wrap};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! let clock = ManualClock::new();
//! let policy = Wrap::new(
//!     RetryPolicy::fixed_with_timer(2, Duration::from_millis(100), &clock),
//!     TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock),
//! );
//! // The same stack, chained:
//! let _same = RetryPolicy::fixed_with_timer(2, Duration::from_millis(100), &clock)
//!     .wrap(TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock));
//!
//! let calls = AtomicU32::new(0);
//! let result = clock.run(policy.execute(|| async {
//!     // The first attempt hangs and is cut off by the timeout; the retry succeeds.
//!     if calls.fetch_add(1, Ordering::SeqCst) == 0 {
//!         (&clock).sleep(Duration::from_secs(60)).await;
//!     }
//!     Ok::<_, DoOverError<()>>("ok")
//! }));
//! assert_eq!(result, Ok("ok"));
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! ```

use core::future::Future;

use crate::policy::{LocalPolicy, Policy};

/// Runs `outer → inner → operation`. See the [module docs](self).
///
/// The layers stay reachable through `outer` and `inner`:
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::{ManualClock, Timer};
/// use do_over_core::timeout::TimeoutPolicy;
/// use do_over_core::wrap::Wrap;
///
/// let clock = ManualClock::new();
/// let stack = Wrap::new(
///     CircuitBreaker::new_with_timer(1, Duration::from_secs(30), &clock),
///     TimeoutPolicy::new_with_timer(Duration::from_millis(200), &clock),
/// );
/// let out = clock.run(stack.execute(|| async {
///     (&clock).sleep(Duration::from_secs(10)).await; // hangs
///     Ok::<_, DoOverError<()>>(())
/// }));
/// assert_eq!(out, Err(DoOverError::Timeout));
/// // The timeout is inside the breaker, so the breaker counted it as a failure.
/// assert_eq!(stack.outer.state(), CircuitState::Open);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Wrap<O, I> {
    /// The outer policy: sees the inner policy's whole run as one operation.
    pub outer: O,
    /// The inner policy: wraps the operation itself.
    pub inner: I,
}

impl<O, I> Wrap<O, I> {
    /// Composes `outer` around `inner`.
    pub const fn new(outer: O, inner: I) -> Self {
        Wrap { outer, inner }
    }
}

/// Chaining for stacks: `a.wrap(b).wrap(c)` runs `a → b → c → operation`.
///
/// Implemented by every policy in the crate and by [`Wrap`]; implement it (an empty `impl`)
/// for your own policies to chain them too.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::bulkhead::Bulkhead;
/// use do_over_core::time::ManualClock;
/// use do_over_core::timeout::TimeoutPolicy;
/// use do_over_core::wrap::Compose;
///
/// struct Audit; // your own policy (its `Policy` impl is left out here)
/// impl Compose for Audit {}
///
/// let clock = ManualClock::new();
/// let stack = Audit
///     .wrap(Bulkhead::new_with_timer(8, &clock))
///     .wrap(TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock));
/// // Audit → bulkhead → timeout → operation: nested to the left.
/// let (_audit, bulkhead, timeout) = (&stack.outer.outer, &stack.outer.inner, &stack.inner);
/// assert_eq!(bulkhead.max_concurrent(), 8);
/// assert_eq!(timeout.duration(), Duration::from_secs(1));
/// ```
pub trait Compose: Sized {
    /// Wraps `self` around `inner`: `self` runs first (outermost).
    fn wrap<I>(self, inner: I) -> Wrap<Self, I> {
        Wrap::new(self, inner)
    }
}

impl<O, I> Compose for Wrap<O, I> {}
/// A borrowed policy chains too, so the caller keeps the owner (to read a breaker's state).
impl<P: Compose> Compose for &P {}
#[cfg(feature = "alloc")]
impl<P: Compose> Compose for alloc::sync::Arc<P> {}
impl<T, P, D, H, R, G> Compose for crate::retry::RetryPolicy<T, P, D, H, R, G> {}

impl<O: crate::policy::Attempts, I: crate::policy::Attempts> crate::policy::Attempts
    for Wrap<O, I>
{
    type Kind = <O::Kind as crate::policy::AttemptKind>::Or<I::Kind>;
}

impl<E, O: Policy<E>, I: Policy<E>> Policy<E> for Wrap<O, I> {
    fn run<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>> + Send
    where
        F: Fn() -> Fut + Copy + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        let inner = &self.inner;
        self.outer.run(move || inner.run(op))
    }
}

impl<E, O: LocalPolicy<E>, I: LocalPolicy<E>> LocalPolicy<E> for Wrap<O, I> {
    fn run_local<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<T, E>>,
    {
        let inner = &self.inner;
        self.outer.run_local(move || inner.run_local(op))
    }
}
