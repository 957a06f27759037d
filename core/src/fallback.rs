//! Fallback: turn a failure into a value, or into the result of another operation.
//!
//! # Semantics
//!
//! * [`Fallback::new(policy, handler)`](Fallback::new) runs the call through `policy` (any
//!   policy or stack); if it fails with an error the predicate selects (every error by
//!   default; [`handle_if`](Fallback::handle_if) chooses), `handler(error)` runs and its result
//!   is the call's result. Other errors pass through unchanged.
//! * [`Fallback::value(policy, v)`](Fallback::value) answers with a clone of `v`.
//! * A fallback fixes the call's result type, so it is not itself a [`Policy`] (whose calls
//!   choose their result type); it wraps a whole stack as its outermost layer, which is where
//!   a fallback belongs: it sees what the retries, breaker and timeouts finally produced.
//! * No allocation; dropping the future cancels whichever part is running.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::fallback::Fallback;
//! use do_over_core::retry::RetryPolicy;
//! use do_over_core::time::ManualClock;
//!
//! let clock = ManualClock::new();
//! let cached = Fallback::value(RetryPolicy::fixed_with_timer(2, Duration::from_millis(10), &clock), "cached page")
//!     .handle_if(|e: &DoOverError<&str>| !matches!(e, DoOverError::Inner("not found")));
//! let out = clock.run(cached.execute(|| async { Err(DoOverError::Inner("503")) }));
//! assert_eq!(out, Ok("cached page"));
//! let out = clock.run(cached.execute(|| async { Err(DoOverError::Inner("not found")) }));
//! assert_eq!(out, Err(DoOverError::Inner("not found")));
//! ```

use core::future::Future;
use core::marker::PhantomData;

use crate::policy::{LocalPolicy, Policy};

/// Produces the fallback result for an error.
pub trait FallbackHandler<T, E> {
    /// The fallback's future.
    type Future: Future<Output = Result<T, E>>;
    /// The fallback for `error`.
    fn fallback(&self, error: E) -> Self::Future;
}

/// A closure handler: `Fn(E) -> impl Future<Output = Result<T, E>>`.
pub struct HandlerFn<F>(F);

impl<T, E, F, Fut> FallbackHandler<T, E> for HandlerFn<F>
where
    F: Fn(E) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Future = Fut;
    fn fallback(&self, error: E) -> Fut {
        (self.0)(error)
    }
}

/// A fixed value, cloned for each fallback.
#[derive(Clone, Debug)]
pub struct FallbackValue<T>(T);

impl<T: Clone, E> FallbackHandler<T, E> for FallbackValue<T> {
    type Future = core::future::Ready<Result<T, E>>;
    fn fallback(&self, _: E) -> Self::Future {
        core::future::ready(Ok(self.0.clone()))
    }
}

/// Every error is handled (the default).
#[derive(Copy, Clone, Debug, Default)]
pub struct AnyError;

/// A closure predicate, made by [`Fallback::handle_if`].
pub struct HandleIf<F, E>(F, PhantomData<fn(&E)>);

/// Which errors a [`Fallback`] handles.
pub trait HandlePredicate<E> {
    /// `true` to run the fallback for `error`.
    fn handles(&self, error: &E) -> bool;
}

impl<E> HandlePredicate<E> for AnyError {
    fn handles(&self, _: &E) -> bool {
        true
    }
}

impl<E, F: Fn(&E) -> bool> HandlePredicate<E> for HandleIf<F, E> {
    fn handles(&self, error: &E) -> bool {
        (self.0)(error)
    }
}

/// Wraps a policy (or stack) with a fallback. See the [module docs](self).
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::DoOverError;
/// use do_over_core::fallback::Fallback;
/// use do_over_core::time::{ManualClock, Timer};
/// use do_over_core::timeout::TimeoutPolicy;
///
/// let clock = ManualClock::new();
/// let timeout = TimeoutPolicy::new_with_timer(Duration::from_millis(50), &clock);
/// // Too slow: answer from the cache. Any other error goes to the caller.
/// let cached = Fallback::new(timeout, |e: DoOverError<&'static str>| async move {
///     match e {
///         DoOverError::Timeout => Ok("stale copy"),
///         other => Err(other),
///     }
/// });
/// let out = clock.run(cached.execute(|| async {
///     (&clock).sleep(Duration::from_secs(1)).await;
///     Ok("fresh copy")
/// }));
/// assert_eq!(out, Ok("stale copy"));
/// ```
pub struct Fallback<P, H, Q = AnyError> {
    /// The policy (or stack) whose failures are handled.
    pub inner: P,
    handler: H,
    predicate: Q,
}

impl<P, F> Fallback<P, HandlerFn<F>> {
    /// Runs `handler(error)` when `inner` fails.
    pub fn new(inner: P, handler: F) -> Self {
        Fallback {
            inner,
            handler: HandlerFn(handler),
            predicate: AnyError,
        }
    }
}

impl<P, T: Clone> Fallback<P, FallbackValue<T>> {
    /// Answers with a clone of `value` when `inner` fails.
    pub fn value(inner: P, value: T) -> Self {
        Fallback {
            inner,
            handler: FallbackValue(value),
            predicate: AnyError,
        }
    }
}

impl<P, H, Q> Fallback<P, H, Q> {
    /// Only errors for which `predicate` returns `true` are handled; others pass through.
    pub fn handle_if<E, F: Fn(&E) -> bool>(self, predicate: F) -> Fallback<P, H, HandleIf<F, E>> {
        Fallback {
            inner: self.inner,
            handler: self.handler,
            predicate: HandleIf(predicate, PhantomData),
        }
    }

    /// Runs the operation created by `f` through the inner policy, falling back on a
    /// handled failure. `Send` whenever its parts are, like [`Policy::execute`].
    pub async fn execute<F, Fut, T, E>(&self, f: F) -> Result<T, E>
    where
        P: Policy<E>,
        H: FallbackHandler<T, E>,
        Q: HandlePredicate<E>,
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        match self.inner.execute(f).await {
            Err(e) if self.predicate.handles(&e) => self.handler.fallback(e).await,
            other => other,
        }
    }

    /// [`execute`](Self::execute) for operations that are not `Send` (see [`LocalPolicy`]).
    pub async fn execute_local<F, Fut, T, E>(&self, f: F) -> Result<T, E>
    where
        P: LocalPolicy<E>,
        H: FallbackHandler<T, E>,
        Q: HandlePredicate<E>,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.inner.execute_local(f).await {
            Err(e) if self.predicate.handles(&e) => self.handler.fallback(e).await,
            other => other,
        }
    }
}
