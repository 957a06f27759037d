//! Retry: run the operation again after a failure, waiting a backoff delay in between.
//!
//! # Semantics
//!
//! * **What counts as a retry.** The first call of the operation is the *attempt*; every
//!   further call is a *retry*. `max_retries = n` allows up to `n + 1` calls in total.
//! * **Delays.** Before retry `k` (1-based) the policy sleeps the [`Backoff`]'s `delay(k)`:
//!   fixed `d`; linear `initial + (k−1)·step`; exponential `base·factor^(k−1)`. So
//!   `exponential(5, 100 ms, 2.0)` waits 100, 200, 400, 800 and 1600 ms. [`Jitter`] then
//!   randomises the delay and `max_delay` caps it. A [delay hint](RetryPolicy::delay_hint)
//!   (e.g. a server's `Retry-After`) replaces backoff, jitter and cap for that retry.
//! * **Which errors.** By default every `Err` is retried;
//!   [`retry_if`](RetryPolicy::retry_if) chooses. An error that is not retried is returned
//!   at once.
//! * **Giving up.** When the retries are used up, when the predicate declines, when the
//!   next delay would end past the overall [`max_elapsed`](RetryBuilder::max_elapsed) budget,
//!   or when a shared [retry budget](RetryPolicy::with_budget) is empty, the *last* error is
//!   returned unchanged. A success is returned as soon as it happens.
//! * **Time** comes from the policy's [`Timer`]; nothing overflows: delays saturate.
//! * **Cancellation.** Dropping the future cancels the running attempt or the pending sleep;
//!   the policy holds no other state for the call.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::policy::Policy;
//! use do_over_core::retry::RetryPolicy;
//! use do_over_core::time::{Clock, ManualClock};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! let clock = ManualClock::new();
//! let retry = RetryPolicy::exponential_with_timer(5, Duration::from_millis(100), 2.0, &clock);
//! let calls = AtomicU32::new(0);
//! let result = clock.run(retry.execute(|| async {
//!     let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
//!     if n < 4 { Err("transient") } else { Ok(n) }
//! }));
//! assert_eq!(result, Ok(4));
//! // Three retries waited 100 + 200 + 400 ms of virtual time.
//! assert_eq!(clock.now().since_origin(), Duration::from_millis(700));
//! ```

mod backoff;
mod future;

pub use backoff::{Backoff, Jitter, MAX_DELAY};
pub use future::RetryFuture;

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::time::Duration;

use crate::budget::{RetryBudget, Unlimited};
use crate::error::{ConfigError, expect_valid};
use crate::observe::{Listener, Metrics, MetricsListener, Observed, RetryEvents};
use crate::policy::{LocalPolicy, Policy};
use crate::random::{Random, SeededRandom};
use crate::time::Timer;

/// Decides whether an error is retried.
pub trait RetryPredicate<E> {
    /// `true` to retry after `error`.
    fn should_retry(&self, error: &E) -> bool;
}

/// Gives a per-error delay that overrides the backoff (for example a server's
/// `Retry-After`).
pub trait DelayHint<E> {
    /// The delay to wait before retrying after `error`, or `None` for the backoff's.
    fn delay_hint(&self, error: &E) -> Option<Duration>;
}

/// Called before each retry's delay.
pub trait OnRetry<E> {
    /// Observes the retry about to happen.
    fn on_retry(&self, event: &RetryEvent<'_, E>);
}

/// What [`OnRetry`] is told about a retry.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryEvent<'a, E> {
    /// Which retry this is (1 for the first re-run).
    pub retry: u32,
    /// How long the policy will wait before it.
    pub delay: Duration,
    /// The error that caused it.
    pub error: &'a E,
    /// Whether the retry happens, or was refused by the retry budget.
    pub kind: RetryEventKind,
}

/// What happens after a [`RetryEvent`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryEventKind {
    /// The policy waits `delay`, then retries.
    Retrying,
    /// The [retry budget](crate::budget) is empty: no retry; the error is returned.
    BudgetExhausted,
}

/// The default predicate: retry every error.
#[derive(Copy, Clone, Debug, Default)]
pub struct AnyError;

impl<E> RetryPredicate<E> for AnyError {
    #[inline]
    fn should_retry(&self, _: &E) -> bool {
        true
    }
}

/// The default: no delay hint.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoDelayHint;

impl<E> DelayHint<E> for NoDelayHint {
    #[inline]
    fn delay_hint(&self, _: &E) -> Option<Duration> {
        None
    }
}

/// The default: no retry hook.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoHook;

impl<E> OnRetry<E> for NoHook {
    #[inline]
    fn on_retry(&self, _: &RetryEvent<'_, E>) {}
}

/// A closure predicate, made by [`RetryPolicy::retry_if`].
pub struct RetryIf<F, E>(F, PhantomData<fn(&E)>);

impl<E, F: Fn(&E) -> bool> RetryPredicate<E> for RetryIf<F, E> {
    #[inline]
    fn should_retry(&self, error: &E) -> bool {
        (self.0)(error)
    }
}

/// A closure delay hint, made by [`RetryPolicy::delay_hint`].
pub struct HintFn<F, E>(F, PhantomData<fn(&E)>);

impl<E, F: Fn(&E) -> Option<Duration>> DelayHint<E> for HintFn<F, E> {
    #[inline]
    fn delay_hint(&self, error: &E) -> Option<Duration> {
        (self.0)(error)
    }
}

/// Both hooks hear every retry (an `on_retry` closure and an [`observe`](RetryPolicy::observe)
/// listener, say).
impl<E, A: OnRetry<E>, B: OnRetry<E>> OnRetry<E> for (A, B) {
    #[inline]
    fn on_retry(&self, event: &RetryEvent<'_, E>) {
        self.0.on_retry(event);
        self.1.on_retry(event);
    }
}

/// A closure retry hook, made by [`RetryPolicy::on_retry`].
pub struct OnRetryFn<F, E>(F, PhantomData<fn(&E)>);

impl<E, F: Fn(&RetryEvent<'_, E>)> OnRetry<E> for OnRetryFn<F, E> {
    #[inline]
    fn on_retry(&self, event: &RetryEvent<'_, E>) {
        (self.0)(event)
    }
}

/// Validated retry settings (everything but the hooks and the timer).
#[derive(Copy, Clone, Debug)]
struct Settings {
    max_retries: u32,
    backoff: Backoff,
    jitter: Jitter,
    max_delay: Option<Duration>,
    max_elapsed: Option<Duration>,
    /// How delays are computed, chosen for `backoff` and `jitter` at build time.
    delay_fn: backoff::DelayFn,
}

/// Retries a failed operation with a backoff delay. See the [module docs](self) for the
/// exact semantics.
///
/// Type parameters: `T` the [`Timer`]; `P` the [`RetryPredicate`]; `D` the [`DelayHint`];
/// `O` the [`OnRetry`] hook; `R` the jitter's [`Random`] source; `G` the
/// [`RetryBudget`]. Only `T` is usually spelled out; the others change through
/// [`retry_if`](Self::retry_if), [`delay_hint`](Self::delay_hint),
/// [`on_retry`](Self::on_retry), [`with_random`](Self::with_random) and
/// [`with_budget`](Self::with_budget).
///
/// ```
/// use core::time::Duration;
/// use do_over_core::policy::Policy;
/// use do_over_core::retry::RetryPolicy;
/// use do_over_core::time::ManualClock;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let clock = ManualClock::new();
/// // "not found" will not change on a second try; anything else might.
/// let retry = RetryPolicy::fixed_with_timer(3, Duration::from_millis(50), &clock)
///     .retry_if(|e: &&str| *e != "not found");
/// let calls = AtomicU32::new(0);
/// let run = |error: &'static str| {
///     calls.store(0, Ordering::SeqCst);
///     let out = clock.run(retry.execute(|| async {
///         calls.fetch_add(1, Ordering::SeqCst);
///         Err::<(), _>(error)
///     }));
///     (out, calls.load(Ordering::SeqCst))
/// };
/// assert_eq!(run("not found"), (Err("not found"), 1)); // returned at once
/// assert_eq!(run("busy"), (Err("busy"), 4)); // the attempt and 3 retries
/// ```
pub struct RetryPolicy<
    T,
    P = AnyError,
    D = NoDelayHint,
    O = NoHook,
    R = SeededRandom,
    G = Unlimited,
> {
    timer: T,
    settings: Settings,
    predicate: P,
    hint: D,
    hook: O,
    random: R,
    budget: G,
}

impl<T: fmt::Debug, P, D, O, R, G> fmt::Debug for RetryPolicy<T, P, D, O, R, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("RetryPolicy")
            .field("max_retries", &s.max_retries)
            .field("backoff", &s.backoff)
            .field("jitter", &s.jitter)
            .field("max_delay", &s.max_delay)
            .field("max_elapsed", &s.max_elapsed)
            .field("timer", &self.timer)
            .finish_non_exhaustive()
    }
}

impl<T: Timer + Default> RetryPolicy<T> {
    /// Up to `max_retries` retries, waiting `delay` before each.
    ///
    /// # Panics
    /// If `max_retries` is 0. Use [`RetryPolicy::builder`] for a `Result` instead.
    #[track_caller]
    pub fn fixed(max_retries: u32, delay: Duration) -> Self {
        Self::fixed_with_timer(max_retries, delay, T::default())
    }

    /// Up to `max_retries` retries; retry `k` waits `base·factor^(k−1)`, so
    /// `exponential(5, 100 ms, 2.0)` waits 100, 200, 400, 800, 1600 ms.
    ///
    /// # Panics
    /// If `max_retries` is 0, or `factor` is not finite or not greater than 0.
    #[track_caller]
    pub fn exponential(max_retries: u32, base: Duration, factor: f64) -> Self {
        Self::exponential_with_timer(max_retries, base, factor, T::default())
    }

    /// Up to `max_retries` retries; retry `k` waits `initial + (k−1)·step`.
    ///
    /// # Panics
    /// If `max_retries` is 0.
    #[track_caller]
    pub fn linear(max_retries: u32, initial: Duration, step: Duration) -> Self {
        let b = RetryBuilder::new(T::default())
            .max_retries(max_retries)
            .linear(initial, step)
            .build_with(backoff::linear_delay);
        expect_valid("RetryPolicy::linear", b)
    }

    /// A builder for every setting, returning `Result<_, ConfigError>` instead of
    /// panicking. Defaults: 3 retries, a fixed 2 s delay, no jitter, no cap, no budget.
    pub fn builder() -> RetryBuilder<T> {
        RetryBuilder::new(T::default())
    }
}

impl<T: Timer> RetryPolicy<T> {
    /// [`fixed`](RetryPolicy::fixed) on the given timer.
    #[track_caller]
    pub fn fixed_with_timer(max_retries: u32, delay: Duration, timer: T) -> Self {
        let b = RetryBuilder::new(timer)
            .max_retries(max_retries)
            .fixed(delay)
            .build_with(backoff::fixed_delay);
        expect_valid("RetryPolicy::fixed", b)
    }

    /// [`linear`](RetryPolicy::linear) on the given timer.
    #[track_caller]
    pub fn linear_with_timer(
        max_retries: u32,
        initial: Duration,
        step: Duration,
        timer: T,
    ) -> Self {
        let b = RetryBuilder::new(timer)
            .max_retries(max_retries)
            .linear(initial, step)
            .build_with(backoff::linear_delay);
        expect_valid("RetryPolicy::linear", b)
    }

    /// [`exponential`](RetryPolicy::exponential) on the given timer.
    #[track_caller]
    pub fn exponential_with_timer(max_retries: u32, base: Duration, factor: f64, timer: T) -> Self {
        let b = RetryBuilder::new(timer)
            .max_retries(max_retries)
            .exponential(base, factor)
            .build_with(backoff::exponential_delay);
        expect_valid("RetryPolicy::exponential", b)
    }
}

impl<T, P, D, O, R, G> RetryPolicy<T, P, D, O, R, G> {
    /// Retries only the errors for which `predicate` returns `true`; others are returned at
    /// once.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use do_over_core::{retry::RetryPolicy, time::ManualClock};
    /// # let clock = ManualClock::new();
    /// let retry = RetryPolicy::fixed_with_timer(3, Duration::from_millis(10), &clock)
    ///     .retry_if(|e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound);
    /// ```
    pub fn retry_if<E, F: Fn(&E) -> bool>(
        self,
        predicate: F,
    ) -> RetryPolicy<T, RetryIf<F, E>, D, O, R, G> {
        RetryPolicy {
            timer: self.timer,
            settings: self.settings,
            predicate: RetryIf(predicate, PhantomData),
            hint: self.hint,
            hook: self.hook,
            random: self.random,
            budget: self.budget,
        }
    }

    /// Lets an error dictate its own retry delay (a server's `Retry-After`, say). When
    /// `hint` returns `Some(d)`, the policy waits exactly `d` — no backoff, jitter or cap —
    /// still bounded by the `max_elapsed` budget.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::retry::RetryPolicy;
    /// use do_over_core::time::{Clock, ManualClock};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let clock = ManualClock::new();
    /// // The error says how long the server asked us to wait.
    /// let retry = RetryPolicy::fixed_with_timer(1, Duration::from_millis(100), &clock)
    ///     .delay_hint(|wait: &Option<Duration>| *wait);
    /// let calls = AtomicU32::new(0);
    /// let out = clock.run(retry.execute(|| async {
    ///     match calls.fetch_add(1, Ordering::SeqCst) {
    ///         0 => Err(Some(Duration::from_secs(3))),
    ///         _ => Ok("served"),
    ///     }
    /// }));
    /// assert_eq!(out, Ok("served"));
    /// assert_eq!(clock.now().since_origin(), Duration::from_secs(3)); // not 100 ms
    /// ```
    pub fn delay_hint<E, F: Fn(&E) -> Option<Duration>>(
        self,
        hint: F,
    ) -> RetryPolicy<T, P, HintFn<F, E>, O, R, G> {
        RetryPolicy {
            timer: self.timer,
            settings: self.settings,
            predicate: self.predicate,
            hint: HintFn(hint, PhantomData),
            hook: self.hook,
            random: self.random,
            budget: self.budget,
        }
    }

    /// Calls `hook` before each retry's delay with the retry number, the delay and the error.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::retry::{RetryEvent, RetryPolicy};
    /// use do_over_core::time::ManualClock;
    /// use std::sync::Mutex;
    ///
    /// let clock = ManualClock::new();
    /// let log = Mutex::new(Vec::new());
    /// let retry = RetryPolicy::exponential_with_timer(3, Duration::from_millis(10), 3.0, &clock)
    ///     .on_retry(|e: &RetryEvent<'_, &'static str>| {
    ///         log.lock().unwrap().push((e.retry, e.delay.as_millis()));
    ///     });
    /// let out = clock.run(retry.execute(|| async { Err::<(), _>("down") }));
    /// assert_eq!(out, Err("down"));
    /// assert_eq!(*log.lock().unwrap(), [(1, 10), (2, 30), (3, 90)]);
    /// ```
    pub fn on_retry<E, F: Fn(&RetryEvent<'_, E>)>(
        self,
        hook: F,
    ) -> RetryPolicy<T, P, D, OnRetryFn<F, E>, R, G> {
        RetryPolicy {
            timer: self.timer,
            settings: self.settings,
            predicate: self.predicate,
            hint: self.hint,
            hook: OnRetryFn(hook, PhantomData),
            random: self.random,
            budget: self.budget,
        }
    }

    /// Reports every call's outcome and duration, and each retry (attempt, delay, cause) and
    /// budget refusal, to `listener`; calls are timed on this policy's timer. Keeps any
    /// [`on_retry`](Self::on_retry) hook. See [`observe`](crate::observe).
    #[allow(clippy::type_complexity)]
    pub fn observe<L: Listener + Clone>(
        self,
        listener: L,
    ) -> Observed<RetryPolicy<T, P, D, (O, RetryEvents<L>), R, G>, L, T>
    where
        T: Clone,
    {
        let clock = self.timer.clone();
        let policy = RetryPolicy {
            timer: self.timer,
            settings: self.settings,
            predicate: self.predicate,
            hint: self.hint,
            hook: (self.hook, RetryEvents(listener.clone())),
            random: self.random,
            budget: self.budget,
        };
        Observed::new(policy, listener, clock)
    }

    /// The reference metrics hook: `on_success`, `on_failure` once per call, `on_retry` once
    /// per retry. [`observe`](Self::observe) through a [`MetricsListener`].
    #[allow(clippy::type_complexity)]
    pub fn with_metrics<M: Metrics + Clone>(
        self,
        metrics: M,
    ) -> Observed<
        RetryPolicy<T, P, D, (O, RetryEvents<MetricsListener<M>>), R, G>,
        MetricsListener<M>,
        T,
    >
    where
        T: Clone,
    {
        self.observe(MetricsListener(metrics))
    }

    /// Uses `random` for jitter (for instance a [`SeededRandom`] with a fixed seed in tests).
    pub fn with_random<R2: Random>(self, random: R2) -> RetryPolicy<T, P, D, O, R2, G> {
        RetryPolicy {
            timer: self.timer,
            settings: self.settings,
            predicate: self.predicate,
            hint: self.hint,
            hook: self.hook,
            random,
            budget: self.budget,
        }
    }

    /// Moves the policy onto another timer (for instance `&ManualClock` in a test).
    pub fn with_timer<T2: Timer>(self, timer: T2) -> RetryPolicy<T2, P, D, O, R, G> {
        RetryPolicy {
            timer,
            settings: self.settings,
            predicate: self.predicate,
            hint: self.hint,
            hook: self.hook,
            random: self.random,
            budget: self.budget,
        }
    }

    /// Limits retries by a [`RetryBudget`] shared with other calls (for example a
    /// `&TpsBudget`): successful calls deposit, each retry withdraws, and when the budget is
    /// empty the policy returns the last error instead of retrying.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::budget::TpsBudget;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::retry::{RetryEvent, RetryEventKind, RetryPolicy};
    /// use do_over_core::time::ManualClock;
    /// use std::sync::Mutex;
    ///
    /// let clock = ManualClock::new();
    /// // No floor and no successes yet: the budget cannot pay for a retry.
    /// let budget = TpsBudget::new_with_timer(Duration::from_secs(10), 0, 0.2, &clock);
    /// let kinds = Mutex::new(Vec::new());
    /// let retry = RetryPolicy::fixed_with_timer(5, Duration::from_millis(10), &clock)
    ///     .with_budget(&budget)
    ///     .on_retry(|e: &RetryEvent<'_, &'static str>| kinds.lock().unwrap().push(e.kind));
    /// let out = clock.run(retry.execute(|| async { Err::<(), _>("down") }));
    /// assert_eq!(out, Err("down"));
    /// assert_eq!(*kinds.lock().unwrap(), [RetryEventKind::BudgetExhausted]);
    /// ```
    pub fn with_budget<G2: RetryBudget>(self, budget: G2) -> RetryPolicy<T, P, D, O, R, G2> {
        RetryPolicy {
            timer: self.timer,
            settings: self.settings,
            predicate: self.predicate,
            hint: self.hint,
            hook: self.hook,
            random: self.random,
            budget,
        }
    }

    /// The maximum number of retries (calls = this + 1).
    pub fn max_retries(&self) -> u32 {
        self.settings.max_retries
    }

    /// The base backoff schedule.
    pub fn backoff(&self) -> Backoff {
        self.settings.backoff
    }

    /// The policy's timer.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// Runs `op` under this policy, returning the named future. [`Policy::execute`] and
    /// [`LocalPolicy::execute_local`] build on this.
    pub fn call<F, Fut>(&self, op: F) -> RetryFuture<'_, T, P, D, O, R, G, F, Fut>
    where
        T: Timer,
        F: Fn() -> Fut,
    {
        RetryFuture::new(self, op)
    }
}

/// Builds a [`RetryPolicy`], validating every setting.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::retry::{Jitter, RetryBuilder};
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let retry = RetryBuilder::new(&clock)
///     .max_retries(5)
///     .exponential(Duration::from_millis(50), 2.0)
///     .jitter(Jitter::Full)
///     .max_delay(Duration::from_secs(1))
///     .max_elapsed(Duration::from_secs(5))
///     .build()
///     .expect("valid settings");
/// assert_eq!(retry.max_retries(), 5);
///
/// let err = RetryBuilder::new(&clock).max_retries(0).build().unwrap_err();
/// assert_eq!(err.parameter(), "max_retries");
/// ```
#[derive(Clone, Debug)]
pub struct RetryBuilder<T> {
    timer: T,
    settings: Settings,
}

impl<T: Timer> RetryBuilder<T> {
    /// A builder on `timer` with the defaults: 3 retries, a fixed 2 s delay, no jitter, no
    /// cap, no overall budget.
    pub fn new(timer: T) -> Self {
        RetryBuilder {
            timer,
            settings: Settings {
                max_retries: 3,
                backoff: Backoff::Fixed(Duration::from_secs(2)),
                jitter: Jitter::None,
                max_delay: None,
                max_elapsed: None,
                delay_fn: backoff::fixed_delay,
            },
        }
    }

    /// How many retries after the first attempt (at least 1).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.settings.max_retries = max_retries;
        self
    }

    /// Any [`Backoff`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// The same `delay` before every retry.
    pub fn fixed(self, delay: Duration) -> Self {
        self.backoff(Backoff::Fixed(delay))
    }

    /// `initial + (k−1)·step` before retry `k`.
    pub fn linear(self, initial: Duration, step: Duration) -> Self {
        self.backoff(Backoff::Linear { initial, step })
    }

    /// `base·factor^(k−1)` before retry `k`.
    pub fn exponential(self, base: Duration, factor: f64) -> Self {
        self.backoff(Backoff::Exponential { base, factor })
    }

    /// Randomises the delays.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.settings.jitter = jitter;
        self
    }

    /// Caps each backoff delay (after jitter). Must be greater than zero.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.settings.max_delay = Some(cap);
        self
    }

    /// An overall time budget, measured from the first attempt: a retry whose delay would
    /// end after the budget is not made, and the last error is returned. Must be greater
    /// than zero.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::retry::RetryBuilder;
    /// use do_over_core::time::{Clock, ManualClock};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let clock = ManualClock::new();
    /// let retry = RetryBuilder::new(&clock)
    ///     .max_retries(10)
    ///     .exponential(Duration::from_millis(100), 2.0)
    ///     .max_elapsed(Duration::from_millis(250))
    ///     .build()
    ///     .unwrap();
    /// let calls = AtomicU32::new(0);
    /// let out = clock.run(retry.execute(|| async {
    ///     calls.fetch_add(1, Ordering::SeqCst);
    ///     Err::<(), _>("down")
    /// }));
    /// assert_eq!(out, Err("down"));
    /// // Retry 1 waited 100 ms; retry 2 would have ended at 300 ms, past the budget.
    /// assert_eq!(calls.load(Ordering::SeqCst), 2);
    /// assert_eq!(clock.now().since_origin(), Duration::from_millis(100));
    /// ```
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.settings.max_elapsed = Some(budget);
        self
    }

    /// Uses another timer.
    pub fn timer<T2: Timer>(self, timer: T2) -> RetryBuilder<T2> {
        RetryBuilder {
            timer,
            settings: self.settings,
        }
    }

    /// Validates the settings and builds the policy.
    ///
    /// # Errors
    /// [`ConfigError`] naming `max_retries` (must be at least 1), `factor` (must be finite
    /// and greater than 0), `max_delay` or `max_elapsed` (must be greater than 0).
    pub fn build(self) -> Result<RetryPolicy<T>, ConfigError> {
        let f = backoff::delay_fn_for(&self.settings.backoff, self.settings.jitter);
        self.build_with(f)
    }

    /// [`build`](Self::build) with a known delay function (the reference constructors use
    /// this, so a program that never jitters links no jitter code).
    fn build_with(self, delay_fn: backoff::DelayFn) -> Result<RetryPolicy<T>, ConfigError> {
        let mut s = self.settings;
        s.delay_fn = delay_fn;
        if s.max_retries == 0 {
            return Err(ConfigError::new("max_retries", "must be at least 1"));
        }
        if let Backoff::Exponential { factor, .. } = s.backoff {
            if !(factor.is_finite() && factor > 0.0) {
                return Err(ConfigError::new(
                    "factor",
                    "must be finite and greater than 0",
                ));
            }
        }
        if s.max_delay == Some(Duration::ZERO) {
            return Err(ConfigError::new("max_delay", "must be greater than 0"));
        }
        if s.max_elapsed == Some(Duration::ZERO) {
            return Err(ConfigError::new("max_elapsed", "must be greater than 0"));
        }
        Ok(RetryPolicy {
            timer: self.timer,
            settings: s,
            predicate: AnyError,
            hint: NoDelayHint,
            hook: NoHook,
            random: SeededRandom::default(),
            budget: Unlimited,
        })
    }
}

impl<E, T, P, D, O, R, G> Policy<E> for RetryPolicy<T, P, D, O, R, G>
where
    E: Send,
    T: Timer + Send + Sync,
    T::Sleep: Send,
    P: RetryPredicate<E> + Send + Sync,
    D: DelayHint<E> + Send + Sync,
    O: OnRetry<E> + Send + Sync,
    R: Random + Send + Sync,
    G: RetryBudget + Send + Sync,
{
    fn run<F, Fut, V>(&self, op: F) -> impl Future<Output = Result<V, E>> + Send
    where
        F: Fn() -> Fut + Copy + Send + Sync,
        Fut: Future<Output = Result<V, E>> + Send,
        V: Send,
    {
        self.call(op)
    }
}

impl<E, T, P, D, O, R, G> LocalPolicy<E> for RetryPolicy<T, P, D, O, R, G>
where
    T: Timer,
    P: RetryPredicate<E>,
    D: DelayHint<E>,
    O: OnRetry<E>,
    R: Random,
    G: RetryBudget,
{
    fn run_local<F, Fut, V>(&self, op: F) -> impl Future<Output = Result<V, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<V, E>>,
    {
        self.call(op)
    }
}

impl<T, P, D, O, R, G> crate::policy::Attempts for RetryPolicy<T, P, D, O, R, G> {
    type Kind = crate::policy::Many;
}
