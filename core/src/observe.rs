//! Observability: what policies did, told to a [`Listener`] (or to the reference
//! [`Metrics`] trait).
//!
//! Nothing is observed unless you ask: a policy without a listener compiles to the same code
//! as before (the hooks are zero-sized no-ops), so observability costs nothing when off and
//! never allocates when on.
//!
//! Attach a listener with `observe(listener)` (every policy has it; stacks get it from
//! [`ObserveExt`]) or the reference `with_metrics(metrics)`. The result is an
//! [`Observed`] policy that reports every call's outcome and duration; retry, circuit
//! breaker and hedge policies also report what happens inside the call:
//!
//! | event | reported by | when |
//! |---|---|---|
//! | [`Success`](Event::Success) | every observed policy | the call returned `Ok` |
//! | [`Failure`](Event::Failure) | every observed policy | the call returned the operation's own error |
//! | [`Rejected`](Event::Rejected) | every observed policy | the call returned a policy's rejection (timeout, open circuit, full bulkhead, rate limit) |
//! | [`Retry`](Event::Retry) | retry | a retry is about to wait `delay` |
//! | [`RetryBudgetExhausted`](Event::RetryBudgetExhausted) | retry, hedge | the budget refused a retry or a hedge |
//! | [`CircuitTransition`](Event::CircuitTransition) | circuit breaker | the state changed |
//! | [`Hedge`](Event::Hedge) | hedge | a hedged attempt started |
//!
//! ```
//! use core::sync::atomic::{AtomicU32, Ordering};
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::observe::Metrics;
//! use do_over_core::policy::Policy;
//! use do_over_core::retry::RetryPolicy;
//! use do_over_core::time::ManualClock;
//!
//! #[derive(Default)]
//! struct Counts { ok: AtomicU32, failed: AtomicU32, retries: AtomicU32 }
//!
//! impl Metrics for Counts {
//!     fn on_success(&self) { self.ok.fetch_add(1, Ordering::Relaxed); }
//!     fn on_failure(&self) { self.failed.fetch_add(1, Ordering::Relaxed); }
//!     fn on_retry(&self) { self.retries.fetch_add(1, Ordering::Relaxed); }
//! }
//!
//! let clock = ManualClock::new();
//! let counts = Counts::default();
//! let retry = RetryPolicy::fixed_with_timer(3, Duration::from_millis(10), &clock)
//!     .with_metrics(&counts);
//! let calls = AtomicU32::new(0);
//! let out = clock.run(retry.execute(|| async {
//!     match calls.fetch_add(1, Ordering::Relaxed) {
//!         0 | 1 => Err(DoOverError::Inner("flaky")),
//!         n => Ok(n),
//!     }
//! }));
//! assert_eq!(out, Ok(2));
//! assert_eq!(counts.retries.load(Ordering::Relaxed), 2);
//! assert_eq!(counts.ok.load(Ordering::Relaxed), 1);
//! assert_eq!(counts.failed.load(Ordering::Relaxed), 0);
//! ```

use core::future::Future;
use core::time::Duration;

use crate::budget::RetryBudget;
use crate::circuit_breaker::{BreakerListener, CircuitState, Transition};
use crate::error::{FromRejection, Rejection};
use crate::policy::{LocalPolicy, Policy};
use crate::retry::{OnRetry, RetryEvent, RetryEventKind};
use crate::time::Clock;

/// Something a policy did. See the [module docs](self) for who reports what.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::Rejection;
/// use do_over_core::observe::Event;
///
/// let e = Event::Rejected { rejection: Rejection::Timeout, duration: Duration::from_secs(1) };
/// assert_eq!((e.name(), e.detail()), ("rejected", "timeout"));
/// assert_eq!(e.duration(), Some(Duration::from_secs(1)));
/// assert_eq!(Event::Hedge.duration(), None); // not a call outcome
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A call returned `Ok`.
    Success {
        /// From the call's start to its end, retries and waits included.
        duration: Duration,
    },
    /// A call returned the operation's own error.
    Failure {
        /// From the call's start to its end.
        duration: Duration,
    },
    /// A call returned a policy's rejection instead of (or instead of finishing) the
    /// operation.
    Rejected {
        /// Which rejection.
        rejection: Rejection,
        /// From the call's start to its end.
        duration: Duration,
    },
    /// A retry is about to happen, after `delay`.
    Retry {
        /// Which retry (1 for the first re-run).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// The rejection that caused it, if the failed attempt was rejected by an inner
        /// policy (a timed-out attempt, say) rather than failing on its own.
        cause: Option<Rejection>,
    },
    /// A retry or hedge was refused by the retry budget.
    RetryBudgetExhausted,
    /// A circuit breaker changed state.
    CircuitTransition {
        /// The state left.
        from: CircuitState,
        /// The state entered.
        to: CircuitState,
    },
    /// A hedged (backup) attempt started.
    Hedge,
}

impl Event {
    /// The event's name, as the metric exporters label it: `success`, `failure`, `rejected`,
    /// `retry`, `retry_budget_exhausted`, `circuit_transition` or `hedge`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Success { .. } => "success",
            Event::Failure { .. } => "failure",
            Event::Rejected { .. } => "rejected",
            Event::Retry { .. } => "retry",
            Event::RetryBudgetExhausted => "retry_budget_exhausted",
            Event::CircuitTransition { .. } => "circuit_transition",
            Event::Hedge => "hedge",
        }
    }

    /// A short label for the event's detail: the rejection kind (`timeout`, `circuit_open`,
    /// `bulkhead_full`, `rate_limited`) for rejections and rejection-caused retries, the
    /// state entered (`closed`, `open`, `half_open`, `isolated`) for transitions, `""`
    /// otherwise.
    pub fn detail(&self) -> &'static str {
        match self {
            Event::Rejected { rejection, .. } => rejection_label(rejection),
            Event::Retry {
                cause: Some(rejection),
                ..
            } => rejection_label(rejection),
            Event::CircuitTransition { to, .. } => state_label(*to),
            _ => "",
        }
    }

    /// The call's duration, for the three outcome events.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Event::Success { duration }
            | Event::Failure { duration }
            | Event::Rejected { duration, .. } => Some(*duration),
            _ => None,
        }
    }
}

/// The label of a rejection kind: `timeout`, `circuit_open`, `bulkhead_full` or
/// `rate_limited`.
///
/// ```
/// use do_over_core::error::Rejection;
/// use do_over_core::observe::rejection_label;
///
/// assert_eq!(rejection_label(&Rejection::BulkheadFull), "bulkhead_full");
/// ```
pub fn rejection_label(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::Timeout => "timeout",
        Rejection::CircuitOpen { .. } => "circuit_open",
        Rejection::BulkheadFull => "bulkhead_full",
        Rejection::RateLimited { .. } => "rate_limited",
    }
}

/// The label of a breaker state: `closed`, `open`, `half_open` or `isolated`.
///
/// ```
/// use do_over_core::circuit_breaker::CircuitState;
/// use do_over_core::observe::state_label;
///
/// assert_eq!(state_label(CircuitState::HalfOpen), "half_open");
/// ```
pub fn state_label(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
        CircuitState::Isolated => "isolated",
    }
}

/// Hears every [`Event`]. Called on the thread that caused the event, inline; keep it short
/// (bump a counter, record a histogram sample, emit a log line).
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use core::time::Duration;
/// use do_over_core::error::DoOverError;
/// use do_over_core::observe::{Event, Listener};
/// use do_over_core::policy::Policy;
/// use do_over_core::time::{ManualClock, Timer};
/// use do_over_core::timeout::TimeoutPolicy;
///
/// /// Counts timeouts; needs no durations.
/// #[derive(Default)]
/// struct Timeouts(AtomicU32);
/// impl Listener for Timeouts {
///     fn on_event(&self, event: &Event) {
///         if event.detail() == "timeout" {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
///     fn timed(&self) -> bool {
///         false // skip the clock reads
///     }
/// }
///
/// let clock = ManualClock::new();
/// let timeouts = Timeouts::default();
/// let timeout = TimeoutPolicy::new_with_timer(Duration::from_millis(100), &clock).observe(&timeouts);
/// let out = clock.run(timeout.execute(|| async {
///     (&clock).sleep(Duration::from_secs(1)).await;
///     Ok::<_, DoOverError<()>>(())
/// }));
/// assert_eq!(out, Err(DoOverError::Timeout));
/// assert_eq!(timeouts.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Listener {
    /// An event happened.
    fn on_event(&self, event: &Event);

    /// Whether this listener uses call durations. When `false`, an [`Observed`] policy does
    /// not read its clock at all and reports [`Duration::ZERO`] (saving two clock reads per
    /// call, about 50 ns with Tokio's clock). Default `true`.
    #[inline]
    fn timed(&self) -> bool {
        true
    }
}

impl<L: Listener + ?Sized> Listener for &L {
    #[inline]
    fn on_event(&self, event: &Event) {
        (**self).on_event(event)
    }
    #[inline]
    fn timed(&self) -> bool {
        (**self).timed()
    }
}

#[cfg(feature = "alloc")]
impl<L: Listener + ?Sized> Listener for alloc::sync::Arc<L> {
    #[inline]
    fn on_event(&self, event: &Event) {
        (**self).on_event(event)
    }
    #[inline]
    fn timed(&self) -> bool {
        (**self).timed()
    }
}

/// Both listeners hear every event (for example tracing and Prometheus).
impl<A: Listener, B: Listener> Listener for (A, B) {
    #[inline]
    fn on_event(&self, event: &Event) {
        self.0.on_event(event);
        self.1.on_event(event);
    }
    #[inline]
    fn timed(&self) -> bool {
        self.0.timed() || self.1.timed()
    }
}

/// A closure listener: `ListenerFn(|e: &Event| ...)`.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::DoOverError;
/// use do_over_core::observe::{Event, ListenerFn};
/// use do_over_core::policy::Policy;
/// use do_over_core::retry::RetryPolicy;
/// use do_over_core::time::ManualClock;
/// use std::sync::Mutex;
///
/// let clock = ManualClock::new();
/// let names = Mutex::new(Vec::new());
/// let retry = RetryPolicy::fixed_with_timer(1, Duration::from_millis(10), &clock)
///     .observe(ListenerFn(|e: &Event| names.lock().unwrap().push(e.name())));
/// let out = clock.run(retry.execute(|| async { Err::<(), _>(DoOverError::Inner("down")) }));
/// assert_eq!(out, Err(DoOverError::Inner("down")));
/// assert_eq!(*names.lock().unwrap(), ["retry", "failure"]);
/// ```
#[derive(Copy, Clone)]
pub struct ListenerFn<F>(pub F);

impl<F: Fn(&Event)> Listener for ListenerFn<F> {
    #[inline]
    fn on_event(&self, event: &Event) {
        (self.0)(event)
    }
}

/// The reference crate's metrics hook. Attach with `with_metrics(metrics)` on any policy;
/// see [`MetricsListener`] for which events call which method.
pub trait Metrics: Send + Sync {
    /// A call returned `Ok`.
    fn on_success(&self);
    /// A call returned an error (the operation's own, or a policy's rejection).
    fn on_failure(&self);
    /// A retry is about to happen.
    fn on_retry(&self);
}

impl<M: Metrics + ?Sized> Metrics for &M {
    fn on_success(&self) {
        (**self).on_success()
    }
    fn on_failure(&self) {
        (**self).on_failure()
    }
    fn on_retry(&self) {
        (**self).on_retry()
    }
}

#[cfg(feature = "alloc")]
impl<M: Metrics + ?Sized> Metrics for alloc::sync::Arc<M> {
    fn on_success(&self) {
        (**self).on_success()
    }
    fn on_failure(&self) {
        (**self).on_failure()
    }
    fn on_retry(&self) {
        (**self).on_retry()
    }
}

/// Turns [`Event`]s into [`Metrics`] calls: `Success` → `on_success`; `Failure` and
/// `Rejected` → `on_failure`; `Retry` → `on_retry`; the rest are not reported.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use core::time::Duration;
/// use do_over_core::error::Rejection;
/// use do_over_core::observe::{Event, Listener, Metrics, MetricsListener};
///
/// #[derive(Default)]
/// struct Failures(AtomicU32);
/// impl Metrics for Failures {
///     fn on_success(&self) {}
///     fn on_failure(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn on_retry(&self) {}
/// }
///
/// let listener = MetricsListener(Failures::default());
/// let rejected = Event::Rejected { rejection: Rejection::BulkheadFull, duration: Duration::ZERO };
/// listener.on_event(&rejected); // a rejection is a failure to the reference hook
/// listener.on_event(&Event::Hedge); // not one of its events
/// assert_eq!(listener.0.0.load(Ordering::Relaxed), 1);
/// assert!(!listener.timed());
/// ```
#[derive(Copy, Clone, Debug, Default)]
pub struct MetricsListener<M>(pub M);

impl<M: Metrics> Listener for MetricsListener<M> {
    #[inline]
    fn on_event(&self, event: &Event) {
        match event {
            Event::Success { .. } => self.0.on_success(),
            Event::Failure { .. } | Event::Rejected { .. } => self.0.on_failure(),
            Event::Retry { .. } => self.0.on_retry(),
            _ => {}
        }
    }

    /// The reference hook has no durations: no clock reads.
    #[inline]
    fn timed(&self) -> bool {
        false
    }
}

/// A policy that reports each call's outcome and duration to a [`Listener`]. Made by
/// `observe`/`with_metrics` on a policy, or [`ObserveExt::observe_with_clock`].
///
/// Outcomes: `Ok` → [`Event::Success`]; an error whose
/// [`as_rejection`](FromRejection::as_rejection) is `Some` → [`Event::Rejected`]; any
/// other error → [`Event::Failure`]. A call dropped before it finished reports nothing.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
/// use do_over_core::error::DoOverError;
/// use do_over_core::observe::{Event, ListenerFn};
/// use do_over_core::policy::Policy;
/// use do_over_core::time::ManualClock;
/// use std::sync::Mutex;
///
/// let clock = ManualClock::new();
/// let names = Mutex::new(Vec::new());
/// let breaker = CircuitBreaker::new_with_timer(1, Duration::from_secs(5), &clock)
///     .observe(ListenerFn(|e: &Event| names.lock().unwrap().push(e.name())));
/// let _ = clock.run(breaker.execute(|| async { Err::<(), _>(DoOverError::Inner("down")) }));
/// assert_eq!(breaker.inner().state(), CircuitState::Open); // the breaker, still reachable
/// assert_eq!(*names.lock().unwrap(), ["circuit_transition", "failure"]);
/// ```
#[derive(Clone, Debug)]
pub struct Observed<P, L, C> {
    policy: P,
    listener: L,
    clock: C,
}

impl<P, L, C> Observed<P, L, C> {
    /// Reports `policy`'s calls to `listener`, timing them on `clock`.
    pub fn new(policy: P, listener: L, clock: C) -> Self {
        Observed {
            policy,
            listener,
            clock,
        }
    }

    /// The observed policy (to read a breaker's state, say).
    pub fn inner(&self) -> &P {
        &self.policy
    }

    /// The listener.
    pub fn listener(&self) -> &L {
        &self.listener
    }
}

impl<P, L: Listener, C: Clock> Observed<P, L, C> {
    /// The start of a call, if the listener wants durations.
    #[inline]
    fn start(&self) -> Option<crate::time::Instant> {
        self.listener.timed().then(|| self.clock.now())
    }

    #[inline]
    fn report<T, E: FromRejection>(
        &self,
        started: Option<crate::time::Instant>,
        out: &Result<T, E>,
    ) {
        let duration = started.map_or(Duration::ZERO, |t| {
            self.clock.now().saturating_duration_since(t)
        });
        let event = match out {
            Ok(_) => Event::Success { duration },
            Err(e) => match e.as_rejection() {
                Some(rejection) => Event::Rejected {
                    rejection,
                    duration,
                },
                None => Event::Failure { duration },
            },
        };
        self.listener.on_event(&event);
    }
}

impl<E, P, L, C> Policy<E> for Observed<P, L, C>
where
    E: FromRejection,
    P: Policy<E>,
    L: Listener + Send + Sync,
    C: Clock + Send + Sync,
{
    async fn run<F, Fut, T>(&self, op: F) -> Result<T, E>
    where
        F: Fn() -> Fut + Copy + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        let started = self.start();
        let out = self.policy.run(op).await;
        self.report(started, &out);
        out
    }
}

impl<E, P, L, C> LocalPolicy<E> for Observed<P, L, C>
where
    E: FromRejection,
    P: LocalPolicy<E>,
    L: Listener,
    C: Clock,
{
    async fn run_local<F, Fut, T>(&self, op: F) -> Result<T, E>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = self.start();
        let out = self.policy.run_local(op).await;
        self.report(started, &out);
        out
    }
}

/// `observe_with_clock` for any policy or stack ([`Wrap`](crate::wrap::Wrap)s included).
/// The `do-over` facade adds `observe(listener)` on its runtime's clock.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::DoOverError;
/// use do_over_core::observe::{Event, ListenerFn, ObserveExt};
/// use do_over_core::policy::Policy;
/// use do_over_core::retry::RetryPolicy;
/// use do_over_core::time::ManualClock;
/// use do_over_core::timeout::TimeoutPolicy;
/// use do_over_core::wrap::Wrap;
/// use std::sync::Mutex;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let clock = ManualClock::new();
/// let seen = Mutex::new(Vec::new());
/// let stack = Wrap::new(
///     RetryPolicy::fixed_with_timer(2, Duration::from_millis(100), &clock),
///     TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock),
/// )
/// .observe_with_clock(ListenerFn(|e: &Event| seen.lock().unwrap().push(e.duration())), &clock);
/// let calls = AtomicU32::new(0);
/// let out = clock.run(stack.execute(|| async {
///     match calls.fetch_add(1, Ordering::SeqCst) {
///         0 => Err(DoOverError::Inner("flaky")),
///         _ => Ok(()),
///     }
/// }));
/// assert_eq!(out, Ok(()));
/// // One call, timed as a whole: the retry's 100 ms delay included.
/// assert_eq!(*seen.lock().unwrap(), [Some(Duration::from_millis(100))]);
/// ```
pub trait ObserveExt: Sized {
    /// Reports this policy's calls to `listener`, timing them on `clock`.
    fn observe_with_clock<L: Listener, C: Clock>(
        self,
        listener: L,
        clock: C,
    ) -> Observed<Self, L, C> {
        Observed::new(self, listener, clock)
    }
}

impl<P> ObserveExt for P {}

/// Forwards a retry policy's retries to a [`Listener`] (installed by `RetryPolicy::observe`).
#[derive(Copy, Clone, Debug, Default)]
pub struct RetryEvents<L>(pub L);

impl<E: FromRejection, L: Listener> OnRetry<E> for RetryEvents<L> {
    #[inline]
    fn on_retry(&self, event: &RetryEvent<'_, E>) {
        let event = match event.kind {
            RetryEventKind::BudgetExhausted => Event::RetryBudgetExhausted,
            _ => Event::Retry {
                attempt: event.retry,
                delay: event.delay,
                cause: event.error.as_rejection(),
            },
        };
        self.0.on_event(&event);
    }
}

/// Forwards a circuit breaker's transitions to a [`Listener`] (installed by
/// `CircuitBreaker::observe`).
#[derive(Copy, Clone, Debug, Default)]
pub struct BreakerEvents<L>(pub L);

impl<L: Listener> BreakerListener for BreakerEvents<L> {
    #[inline]
    fn on_transition(&self, t: &Transition) {
        self.0.on_event(&Event::CircuitTransition {
            from: t.from,
            to: t.to,
        });
    }
}

/// A retry budget that reports each hedge it pays for (installed by `Hedge::observe`):
/// a granted withdrawal is a hedge starting, a refused one is [`Event::RetryBudgetExhausted`].
#[derive(Copy, Clone, Debug, Default)]
pub struct HedgeEvents<G, L> {
    /// The budget hedges draw from.
    pub budget: G,
    /// Who hears about them.
    pub listener: L,
}

impl<G: RetryBudget, L: Listener> RetryBudget for HedgeEvents<G, L> {
    #[inline]
    fn deposit(&self) {
        self.budget.deposit()
    }

    #[inline]
    fn withdraw(&self) -> bool {
        let granted = self.budget.withdraw();
        self.listener.on_event(if granted {
            &Event::Hedge
        } else {
            &Event::RetryBudgetExhausted
        });
        granted
    }
}

/// `observe` and `with_metrics` for a policy with no events of its own, timed on its timer.
/// Invoked in the policy's own module (it reads the private `timer` field).
macro_rules! observe_on_own_timer {
    ($ty:ident) => {
        impl<T: Clone> $ty<T> {
            /// Reports every call's outcome and duration to `listener`, timed on this
            /// policy's timer. See [`observe`](crate::observe).
            pub fn observe<L: $crate::observe::Listener>(
                self,
                listener: L,
            ) -> $crate::observe::Observed<Self, L, T> {
                let clock = self.timer.clone();
                $crate::observe::Observed::new(self, listener, clock)
            }

            /// The reference metrics hook: [`observe`](Self::observe) through a
            /// [`MetricsListener`](crate::observe::MetricsListener).
            pub fn with_metrics<M: $crate::observe::Metrics>(
                self,
                metrics: M,
            ) -> $crate::observe::Observed<Self, $crate::observe::MetricsListener<M>, T> {
                self.observe($crate::observe::MetricsListener(metrics))
            }
        }
    };
}
pub(crate) use observe_on_own_timer;

impl<P, L, C> crate::wrap::Compose for Observed<P, L, C> {}

impl<P: crate::policy::Attempts, L, C> crate::policy::Attempts for Observed<P, L, C> {
    type Kind = P::Kind;
}
