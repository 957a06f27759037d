//! Circuit breaker: stop calling a dependency that keeps failing, and probe it again after a
//! break.
//!
//! # Semantics
//!
//! * **Closed.** Calls run. Their outcomes go to the [`Trigger`]: with
//!   [`CircuitBreaker::new(n, t)`](CircuitBreaker::new) the breaker opens after `n`
//!   *consecutive* failures and any success resets the count; the builder offers a failure
//!   ratio over a sliding time window ([`TimeWindow`]) or over the last N calls
//!   ([`CountWindow`]), optionally with a slow-call ratio.
//! * **Open.** Calls are rejected at once with [`Rejection::CircuitOpen`](crate::error::Rejection::CircuitOpen) (so
//!   `DoOverError::CircuitOpen`) without running the operation; the rejection's `retry_after`
//!   says how long until the breaker admits a probe ([`CircuitBreaker::retry_after`] tells the
//!   same).
//! * **Half-open.** The first call after the break moves the breaker to half-open and is
//!   admitted as a *probe*. A half-open period admits `half_open_probes` (default 1) probes in
//!   all — running ones and ones that already succeeded both count — and rejects every other
//!   call (`retry_after` zero: the breaker decides as soon as its probes finish). When
//!   `half_open_probes` probes have succeeded the breaker closes with its counts reset; the
//!   first probe that fails opens it for another break (the [`BreakDuration`] may grow with
//!   each consecutive break).
//! * **Lost probes never wedge it.** A probe whose future is dropped (a caller's timeout,
//!   `select!`, hedging) or whose operation panics *gives its slot back* without counting as
//!   success or failure: the next call becomes the probe. Put the timeout *inside* the
//!   breaker (`Wrap::new(breaker, timeout)`) so that a hanging dependency counts as a failure.
//! * **What is a failure.** Every `Err` by default; [`failure_if`](CircuitBreaker::failure_if)
//!   chooses (for example, a 404 is not the dependency failing), and [`ExcludeRejections`]
//!   ignores inner policies' rejections. An error that is not a failure counts as a success:
//!   the dependency answered.
//! * **Stale outcomes are ignored.** A call admitted in one closed period that finishes after
//!   the breaker has moved on does not count toward the next period. (Best effort: the check
//!   and the count are two atomic steps, so an outcome recorded at the very instant of a
//!   manual `close()` can still land in the new period.)
//! * **Manual control.** [`isolate`](CircuitBreaker::isolate) holds it open until
//!   [`close`](CircuitBreaker::close) or [`reset`](CircuitBreaker::reset);
//!   [`state`](CircuitBreaker::state) and [`metrics`](CircuitBreaker::metrics) observe it; a
//!   [`BreakerListener`] hears every transition.
//! * **Sharing.** A breaker is not `Clone`: cloning would silently split its state. Share it
//!   by reference or `Arc` — `&CircuitBreaker` and `Arc<CircuitBreaker>` are policies too.
//!
//! # Implementation
//!
//! The whole state is one atomic word plus two `AtomicU32`s for the open-until instant (no
//! 64-bit atomics, so the same code runs on `thumbv6m`/`thumbv7em`). The closed path is one
//! atomic load before the call and, with the consecutive trigger, one load after it; no
//! lock, no allocation, no clock read. State changes are compare-and-swap transitions checked
//! with `loom`.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
//! use do_over_core::error::DoOverError;
//! use do_over_core::policy::Policy;
//! use do_over_core::time::ManualClock;
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::new_with_timer(2, Duration::from_secs(30), &clock);
//! let fail = || async { Err::<(), _>(DoOverError::Inner("down")) };
//!
//! for _ in 0..2 {
//!     assert_eq!(clock.run(breaker.execute(fail)), Err(DoOverError::Inner("down")));
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);
//! assert_eq!(clock.run(breaker.execute(fail)), Err(DoOverError::CircuitOpen));
//! assert_eq!(breaker.retry_after(), Some(Duration::from_secs(30)));
//!
//! clock.advance(Duration::from_secs(30));
//! let probe = clock.run(breaker.execute(|| async { Ok::<_, DoOverError<&str>>("back") }));
//! assert_eq!(probe, Ok("back"));
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! ```

mod future;
mod state;
mod trigger;

pub use future::BreakerFuture;
/// One breaker per key, bounded by capacity with least-recently-used eviction (`alloc`).
#[cfg(feature = "alloc")]
pub type KeyedCircuitBreaker<K, B, M> = crate::keyed::Keyed<K, B, M>;
pub use trigger::{
    BuildTrigger, Consecutive, CountWindow, Outcome, TIME_WINDOW_BUCKETS, TimeWindow, Trigger,
    TriggerSettings, WindowStats,
};

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::time::Duration;

use state::{Kind, MAX_PROBES, Word};

use crate::error::{ConfigError, FromRejection, MAX_WAIT, expect_valid};
use crate::observe::{BreakerEvents, Listener, Metrics, MetricsListener, Observed};
use crate::policy::{LocalPolicy, Policy};
use crate::retry::MAX_DELAY;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering, fence};
use crate::sync::spin_wait;
use crate::time::{Instant, Timer};

/// The breaker's state as callers see it.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::new_with_timer(1, Duration::from_secs(5), &clock);
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// breaker.try_acquire().unwrap().failure();
/// assert_eq!(breaker.state(), CircuitState::Open);
/// clock.advance(Duration::from_secs(5));
/// let probe = breaker.try_acquire().unwrap(); // the first call after the break
/// assert_eq!(breaker.state(), CircuitState::HalfOpen);
/// probe.success();
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// breaker.isolate();
/// assert_eq!(breaker.state(), CircuitState::Isolated);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls run; outcomes are counted.
    Closed,
    /// Calls are rejected until the break ends.
    Open,
    /// Probes are running; other calls are rejected.
    HalfOpen,
    /// Held open by [`CircuitBreaker::isolate`] until closed or reset.
    Isolated,
}

impl CircuitState {
    fn of(kind: Kind) -> CircuitState {
        match kind {
            Kind::Closed => CircuitState::Closed,
            Kind::Opening | Kind::Open => CircuitState::Open,
            Kind::HalfOpen => CircuitState::HalfOpen,
            Kind::Isolated => CircuitState::Isolated,
        }
    }
}

/// Decides which errors count as failures of the protected dependency.
pub trait FailurePredicate<E> {
    /// `true` if `error` is a failure; `false` counts the call as a success.
    fn is_failure(&self, error: &E) -> bool;
}

/// The default: every `Err` is a failure.
#[derive(Copy, Clone, Debug, Default)]
pub struct AnyFailure;

impl<E> FailurePredicate<E> for AnyFailure {
    #[inline]
    fn is_failure(&self, _: &E) -> bool {
        true
    }
}

/// Every `Err` is a failure except the rejections of inner policies (a bulkhead or rate
/// limiter inside the breaker rejecting a call says nothing about the dependency).
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState, ExcludeRejections};
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::rate_limit::RateLimiter;
/// use do_over_core::time::ManualClock;
/// use do_over_core::wrap::Wrap;
///
/// let clock = ManualClock::new();
/// let stack = Wrap::new(
///     CircuitBreaker::new_with_timer(2, Duration::from_secs(30), &clock)
///         .with_predicate(ExcludeRejections),
///     RateLimiter::new_with_timer(1, Duration::from_secs(1), &clock),
/// );
/// for _ in 0..5 {
///     let _ = clock.run(stack.execute(|| async { Ok::<_, DoOverError<()>>(()) }));
/// }
/// // Four calls were rate limited, but the dependency itself never failed.
/// assert_eq!(stack.outer.state(), CircuitState::Closed);
/// ```
#[derive(Copy, Clone, Debug, Default)]
pub struct ExcludeRejections;

impl<E: FromRejection> FailurePredicate<E> for ExcludeRejections {
    #[inline]
    fn is_failure(&self, error: &E) -> bool {
        error.as_rejection().is_none()
    }
}

/// A closure predicate, made by [`CircuitBreaker::failure_if`].
pub struct FailureIf<F, E>(F, PhantomData<fn(&E)>);

impl<E, F: Fn(&E) -> bool> FailurePredicate<E> for FailureIf<F, E> {
    #[inline]
    fn is_failure(&self, error: &E) -> bool {
        (self.0)(error)
    }
}

/// How long each break lasts.
///
/// [`FixedBreak`] and [`ExponentialBreak`] implement it; any schedule fits through
/// [`BreakerBuilder::break_duration_with`]:
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::BreakerBuilder;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // 1 s, 2 s, 3 s, ... capped at 10 s.
/// let breaker = BreakerBuilder::new(&clock)
///     .consecutive_failures(1)
///     .break_duration_with(|n| Duration::from_secs(u64::from(n).min(10)))
///     .build()
///     .unwrap();
/// breaker.try_acquire().unwrap().failure();
/// assert_eq!(breaker.retry_after(), Some(Duration::from_secs(1)));
/// clock.advance(Duration::from_secs(1));
/// breaker.try_acquire().unwrap().failure(); // the probe fails too: a longer break
/// assert_eq!(breaker.retry_after(), Some(Duration::from_secs(2)));
/// ```
pub trait BreakDuration {
    /// The duration of a break, given how many breaks in a row this is (1 for the first;
    /// the count resets when the breaker closes).
    fn break_duration(&self, consecutive_breaks: u32) -> Duration;
}

/// The same break every time (the reference's `reset_timeout`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FixedBreak(pub Duration);

impl BreakDuration for FixedBreak {
    #[inline]
    fn break_duration(&self, _: u32) -> Duration {
        self.0
    }
}

/// Breaks that grow while the dependency keeps failing its probes: `base·factor^(n−1)` for
/// the `n`-th consecutive break, capped at `max`.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{BreakDuration, ExponentialBreak};
///
/// let breaks = ExponentialBreak {
///     base: Duration::from_secs(5),
///     factor: 2.0,
///     max: Duration::from_secs(30),
/// };
/// let secs: Vec<u64> = (1..=5).map(|n| breaks.break_duration(n).as_secs()).collect();
/// assert_eq!(secs, [5, 10, 20, 30, 30]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ExponentialBreak {
    /// The first break.
    pub base: Duration,
    /// Growth per consecutive break (finite, at least 1).
    pub factor: f64,
    /// The longest break.
    pub max: Duration,
}

impl BreakDuration for ExponentialBreak {
    fn break_duration(&self, n: u32) -> Duration {
        let b = crate::retry::Backoff::Exponential {
            base: self.base,
            factor: self.factor,
        };
        b.delay(n).min(self.max)
    }
}

/// A closure break-duration generator, made by [`BreakerBuilder::break_duration_with`].
pub struct BreakFn<F>(F);

impl<F: Fn(u32) -> Duration> BreakDuration for BreakFn<F> {
    fn break_duration(&self, n: u32) -> Duration {
        (self.0)(n)
    }
}

/// A change of state, as told to a [`BreakerListener`].
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState, Transition};
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::{Instant, ManualClock};
/// use std::sync::Mutex;
///
/// let clock = ManualClock::new();
/// let seen = Mutex::new(Vec::new());
/// let breaker = CircuitBreaker::new_with_timer(1, Duration::from_secs(5), &clock)
///     .on_transition(|t: &Transition| seen.lock().unwrap().push((t.from, t.to, t.at)));
/// clock.advance(Duration::from_secs(1));
/// let _ = clock.run(breaker.execute(|| async { Err::<(), _>(DoOverError::Inner("down")) }));
/// breaker.close();
/// let at = Instant::ZERO + Duration::from_secs(1);
/// assert_eq!(*seen.lock().unwrap(), [
///     (CircuitState::Closed, CircuitState::Open, at),
///     (CircuitState::Open, CircuitState::Closed, at),
/// ]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state left.
    pub from: CircuitState,
    /// The state entered.
    pub to: CircuitState,
    /// When, on the breaker's clock.
    pub at: Instant,
}

/// Hears every state transition. Called on the thread that made the transition, right after
/// it; keep it short (record a metric, log a line).
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{BreakerListener, CircuitBreaker, CircuitState, Transition};
/// use do_over_core::time::ManualClock;
///
/// /// Counts how often the breaker opened.
/// struct CountOpens<'a>(&'a AtomicU32);
/// impl BreakerListener for CountOpens<'_> {
///     fn on_transition(&self, t: &Transition) {
///         if t.to == CircuitState::Open {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let clock = ManualClock::new();
/// let opens = AtomicU32::new(0);
/// let breaker = CircuitBreaker::new_with_timer(1, Duration::from_secs(5), &clock)
///     .with_listener(CountOpens(&opens));
/// breaker.try_acquire().unwrap().failure();
/// assert_eq!(opens.load(Ordering::Relaxed), 1);
/// ```
pub trait BreakerListener {
    /// A transition happened.
    fn on_transition(&self, transition: &Transition);
}

/// The default: nobody listens.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoListener;

impl BreakerListener for NoListener {
    #[inline]
    fn on_transition(&self, _: &Transition) {}
}

impl<L: BreakerListener + ?Sized> BreakerListener for &L {
    #[inline]
    fn on_transition(&self, t: &Transition) {
        (**self).on_transition(t)
    }
}

#[cfg(feature = "alloc")]
impl<L: BreakerListener + ?Sized> BreakerListener for alloc::sync::Arc<L> {
    #[inline]
    fn on_transition(&self, t: &Transition) {
        (**self).on_transition(t)
    }
}

/// Both listeners hear every transition.
impl<A: BreakerListener, B: BreakerListener> BreakerListener for (A, B) {
    #[inline]
    fn on_transition(&self, t: &Transition) {
        self.0.on_transition(t);
        self.1.on_transition(t);
    }
}

/// A closure listener, made by [`CircuitBreaker::on_transition`].
pub struct ListenerFn<F>(F);

impl<F: Fn(&Transition)> BreakerListener for ListenerFn<F> {
    fn on_transition(&self, t: &Transition) {
        (self.0)(t)
    }
}

/// A snapshot of a breaker's state and counts.
///
/// ```
/// use do_over_core::circuit_breaker::{BreakerBuilder, CircuitState};
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // Over the last 10 calls, open at 50% failures once 4 calls were seen.
/// let breaker = BreakerBuilder::new(&clock).count_window::<10>(0.5, 4).build().unwrap();
/// let _ = clock.run(breaker.execute(|| async { Ok::<_, DoOverError<&str>>(()) }));
/// let _ = clock.run(breaker.execute(|| async { Err::<(), _>(DoOverError::Inner("boom")) }));
/// let m = breaker.metrics();
/// assert_eq!(m.state, CircuitState::Closed); // below the minimum throughput
/// assert_eq!((m.stats.calls, m.stats.failures), (2, 1));
/// assert_eq!(m.failure_ratio, 0.5);
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The current state.
    pub state: CircuitState,
    /// The trigger's counts (calls, failures, slow calls, consecutive failures).
    pub stats: WindowStats,
    /// `failures / calls` in the window (0 for the consecutive trigger).
    pub failure_ratio: f64,
    /// `slow_calls / calls` in the window.
    pub slow_call_ratio: f64,
    /// Half-open probes currently running.
    pub probes_running: u32,
    /// Consecutive breaks so far (reset when the breaker closes).
    pub consecutive_breaks: u32,
}

/// A circuit breaker. See the [module docs](self) for the exact semantics.
///
/// Type parameters: `T` the [`Timer`]; `S` the [`Trigger`]; `P` the [`FailurePredicate`];
/// `B` the [`BreakDuration`]; `L` the [`BreakerListener`].
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // A 404 means the dependency answered: it must not open the breaker.
/// let breaker = CircuitBreaker::new_with_timer(2, Duration::from_secs(10), &clock)
///     .failure_if(|e: &DoOverError<u16>| !matches!(e, DoOverError::Inner(404)));
/// let answer = |code: u16| {
///     let _ = clock.run(breaker.execute(|| async move { Err::<(), _>(DoOverError::Inner(code)) }));
/// };
/// for _ in 0..5 {
///     answer(404);
/// }
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// answer(503);
/// answer(503);
/// assert_eq!(breaker.state(), CircuitState::Open);
/// ```
pub struct CircuitBreaker<T, S = Consecutive, P = AnyFailure, B = FixedBreak, L = NoListener> {
    timer: T,
    trigger: S,
    predicate: P,
    breaks: B,
    listener: L,
    probes: u32,
    word: AtomicUsize,
    open_hi: AtomicU32,
    open_lo: AtomicU32,
    breaks_in_a_row: AtomicU32,
}

impl<T: fmt::Debug, S: fmt::Debug, P, B: fmt::Debug, L> fmt::Debug
    for CircuitBreaker<T, S, P, B, L>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = Word(self.word.load(Ordering::Relaxed));
        f.debug_struct("CircuitBreaker")
            .field("state", &CircuitState::of(w.kind()))
            .field("trigger", &self.trigger)
            .field("breaks", &self.breaks)
            .field("half_open_probes", &self.probes)
            .field("timer", &self.timer)
            .finish_non_exhaustive()
    }
}

impl<T: Timer + Default> CircuitBreaker<T> {
    /// Opens after `failure_threshold` consecutive failures and stays open for
    /// `reset_timeout` before admitting a probe.
    ///
    /// # Panics
    /// If `failure_threshold` is 0 or `reset_timeout` is zero. The
    /// [builder](CircuitBreaker::builder) returns a [`ConfigError`] instead.
    #[track_caller]
    pub fn new(failure_threshold: u32, reset_timeout: Duration) -> Self {
        Self::new_with_timer(failure_threshold, reset_timeout, T::default())
    }

    /// A builder for every setting. Defaults: 5 consecutive failures, a 30 s break, 1 probe.
    pub fn builder() -> BreakerBuilder<T> {
        BreakerBuilder::new(T::default())
    }
}

impl<T: Timer> CircuitBreaker<T> {
    /// [`new`](CircuitBreaker::new) on the given timer.
    #[track_caller]
    pub fn new_with_timer(failure_threshold: u32, reset_timeout: Duration, timer: T) -> Self {
        let b = BreakerBuilder::new(timer)
            .consecutive_failures(failure_threshold)
            .break_duration_named(reset_timeout, "reset_timeout")
            .build();
        expect_valid("CircuitBreaker::new", b)
    }
}

impl<T, S, P, B, L> CircuitBreaker<T, S, P, B, L> {
    /// Chooses which errors count as failures; the others count as successes.
    pub fn failure_if<E, F: Fn(&E) -> bool>(
        self,
        predicate: F,
    ) -> CircuitBreaker<T, S, FailureIf<F, E>, B, L> {
        self.with_predicate(FailureIf(predicate, PhantomData))
    }

    /// Uses any [`FailurePredicate`], such as [`ExcludeRejections`].
    pub fn with_predicate<P2>(self, predicate: P2) -> CircuitBreaker<T, S, P2, B, L> {
        CircuitBreaker {
            timer: self.timer,
            trigger: self.trigger,
            predicate,
            breaks: self.breaks,
            listener: self.listener,
            probes: self.probes,
            word: self.word,
            open_hi: self.open_hi,
            open_lo: self.open_lo,
            breaks_in_a_row: self.breaks_in_a_row,
        }
    }

    /// Calls `listener` on every state transition.
    pub fn on_transition<F: Fn(&Transition)>(
        self,
        listener: F,
    ) -> CircuitBreaker<T, S, P, B, ListenerFn<F>> {
        self.with_listener(ListenerFn(listener))
    }

    /// Uses any [`BreakerListener`].
    pub fn with_listener<L2>(self, listener: L2) -> CircuitBreaker<T, S, P, B, L2> {
        CircuitBreaker {
            timer: self.timer,
            trigger: self.trigger,
            predicate: self.predicate,
            breaks: self.breaks,
            listener,
            probes: self.probes,
            word: self.word,
            open_hi: self.open_hi,
            open_lo: self.open_lo,
            breaks_in_a_row: self.breaks_in_a_row,
        }
    }

    /// Reports every call's outcome and duration, and every state transition, to
    /// `listener`; calls are timed on the breaker's timer. Keeps any existing transition
    /// listener. See [`observe`](crate::observe).
    #[allow(clippy::type_complexity)]
    pub fn observe<L2: Listener + Clone>(
        self,
        listener: L2,
    ) -> Observed<CircuitBreaker<T, S, P, B, (L, BreakerEvents<L2>)>, L2, T>
    where
        T: Clone,
    {
        let clock = self.timer.clone();
        let breaker = CircuitBreaker {
            timer: self.timer,
            trigger: self.trigger,
            predicate: self.predicate,
            breaks: self.breaks,
            listener: (self.listener, BreakerEvents(listener.clone())),
            probes: self.probes,
            word: self.word,
            open_hi: self.open_hi,
            open_lo: self.open_lo,
            breaks_in_a_row: self.breaks_in_a_row,
        };
        Observed::new(breaker, listener, clock)
    }

    /// The reference metrics hook: `on_success` or `on_failure` once per call (a rejection
    /// by the open circuit is a failure). [`observe`](Self::observe) through a
    /// [`MetricsListener`].
    #[allow(clippy::type_complexity)]
    pub fn with_metrics<M: Metrics + Clone>(
        self,
        metrics: M,
    ) -> Observed<
        CircuitBreaker<T, S, P, B, (L, BreakerEvents<MetricsListener<M>>)>,
        MetricsListener<M>,
        T,
    >
    where
        T: Clone,
    {
        self.observe(MetricsListener(metrics))
    }

    /// Moves the breaker onto another timer (for instance `&ManualClock` in a test).
    pub fn with_timer<T2: Timer>(self, timer: T2) -> CircuitBreaker<T2, S, P, B, L> {
        CircuitBreaker {
            timer,
            trigger: self.trigger,
            predicate: self.predicate,
            breaks: self.breaks,
            listener: self.listener,
            probes: self.probes,
            word: self.word,
            open_hi: self.open_hi,
            open_lo: self.open_lo,
            breaks_in_a_row: self.breaks_in_a_row,
        }
    }

    /// The breaker's timer.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// The trigger deciding when a closed breaker opens.
    pub fn trigger(&self) -> &S {
        &self.trigger
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        CircuitState::of(Word(self.word.load(Ordering::Acquire)).kind())
    }
}

impl<T, S, P, B, L> CircuitBreaker<T, S, P, B, L>
where
    T: Timer,
    S: Trigger,
    B: BreakDuration,
    L: BreakerListener,
{
    /// Runs `op` under this breaker, returning the named future. [`Policy::execute`] and
    /// [`LocalPolicy::execute_local`] build on this.
    pub fn call<F, Fut>(&self, op: F) -> BreakerFuture<'_, T, S, P, B, L, F, Fut>
    where
        F: Fn() -> Fut,
    {
        BreakerFuture::new(self, op)
    }

    /// Asks to run one call: a [`BreakerPermit`] to report its outcome with, or the
    /// `retry_after` of the rejection. This is the low-level interface `execute` uses; a
    /// permit dropped without a report gives a half-open probe slot back.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::circuit_breaker::CircuitBreaker;
    /// use do_over_core::time::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::new_with_timer(1, Duration::from_secs(5), &clock);
    /// let permit = breaker.try_acquire().expect("closed: admitted");
    /// let outcome: Result<u32, &str> = Err("refused"); // make the call yourself
    /// permit.record(outcome.is_err());
    /// assert_eq!(breaker.try_acquire().err(), Some(Duration::from_secs(5)));
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<BreakerPermit<'_, T, S, P, B, L>, Duration> {
        let kind = self.acquire()?;
        let started = self.trigger.slow_call_threshold().map(|_| self.timer.now());
        Ok(BreakerPermit {
            breaker: self,
            kind,
            started,
        })
    }

    /// How long until the breaker admits a probe: `None` while closed, zero while half-open
    /// (a slot frees when a probe finishes), [`MAX_WAIT`] while isolated.
    pub fn retry_after(&self) -> Option<Duration> {
        loop {
            let w = Word(self.word.load(Ordering::Acquire));
            return match w.kind() {
                Kind::Closed => None,
                Kind::Isolated => Some(MAX_WAIT),
                Kind::HalfOpen => Some(Duration::ZERO),
                Kind::Opening => {
                    spin_wait();
                    continue;
                }
                Kind::Open => match self.open_until(w) {
                    Some(until) => Some(until.saturating_duration_since(self.timer.now())),
                    None => continue,
                },
            };
        }
    }

    /// Holds the breaker open ([`CircuitState::Isolated`]) until [`close`](Self::close) or
    /// [`reset`](Self::reset): every call is rejected with `retry_after` = [`MAX_WAIT`].
    pub fn isolate(&self) {
        self.force(Kind::Isolated);
    }

    /// Closes the breaker now (also ending an isolation), starting a fresh closed period with
    /// the trigger's counts reset.
    pub fn close(&self) {
        self.force(Kind::Closed);
    }

    /// Returns the breaker to its just-built state: closed, counts reset, break growth reset.
    pub fn reset(&self) {
        self.force(Kind::Closed);
        self.breaks_in_a_row.store(0, Ordering::Relaxed);
    }

    /// A snapshot of the state and counts.
    pub fn metrics(&self) -> BreakerMetrics {
        let w = Word(self.word.load(Ordering::Acquire));
        let now = if self.trigger.needs_clock() {
            self.timer.now()
        } else {
            Instant::ZERO
        };
        let stats = self.trigger.stats(now);
        BreakerMetrics {
            state: CircuitState::of(w.kind()),
            stats,
            failure_ratio: stats.failure_ratio(),
            slow_call_ratio: stats.slow_call_ratio(),
            probes_running: if w.kind() == Kind::HalfOpen {
                w.admitted()
            } else {
                0
            },
            consecutive_breaks: self.breaks_in_a_row.load(Ordering::Relaxed),
        }
    }

    #[inline]
    fn acquire(&self) -> Result<Admission, Duration> {
        loop {
            let w = Word(self.word.load(Ordering::Acquire));
            match w.kind() {
                Kind::Closed => return Ok(Admission::Closed(w)),
                Kind::Isolated => return Err(MAX_WAIT),
                Kind::Opening => spin_wait(),
                Kind::Open => {
                    let Some(until) = self.open_until(w) else {
                        continue;
                    };
                    let now = self.timer.now();
                    if now < until {
                        return Err(until.saturating_duration_since(now));
                    }
                    let probe = w.next(Kind::HalfOpen).with_probes(1, 0);
                    if self.cas(w, probe) {
                        self.notify(Kind::Open, Kind::HalfOpen, now);
                        return Ok(Admission::Probe(probe));
                    }
                }
                Kind::HalfOpen => {
                    if w.admitted() + w.succeeded() >= self.probes {
                        return Err(Duration::ZERO);
                    }
                    if self.cas(w, w.with_probes(w.admitted() + 1, w.succeeded())) {
                        return Ok(Admission::Probe(w));
                    }
                }
            }
        }
    }

    /// The open-until instant of the `Open` period `w`, or `None` if the breaker has left it
    /// (seqlock read: the instant is only trusted if the word did not change around it).
    fn open_until(&self, w: Word) -> Option<Instant> {
        let hi = self.open_hi.load(Ordering::Relaxed);
        let lo = self.open_lo.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.word.load(Ordering::Relaxed) != w.0 {
            return None;
        }
        Some(Instant::from_nanos((u64::from(hi) << 32) | u64::from(lo)))
    }

    fn cas(&self, from: Word, to: Word) -> bool {
        self.word
            .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Opens the breaker if it is still in period `from`. Returns whether this call did it.
    fn try_open(&self, from: Word) -> bool {
        // Everything is computed before the transition so the `Opening` window is a few
        // stores long. `breaks_in_a_row` is only written inside that window.
        let n = match from.kind() {
            Kind::HalfOpen => self
                .breaks_in_a_row
                .load(Ordering::Relaxed)
                .saturating_add(1),
            _ => 1,
        };
        let now = self.timer.now();
        let until = now
            .saturating_add(self.breaks.break_duration(n).min(MAX_DELAY))
            .as_nanos();
        let opening = from.next(Kind::Opening);
        if !self.cas(from, opening) {
            return false;
        }
        fence(Ordering::Release);
        self.breaks_in_a_row.store(n, Ordering::Relaxed);
        self.open_hi.store((until >> 32) as u32, Ordering::Relaxed);
        self.open_lo.store(until as u32, Ordering::Relaxed);
        self.word.store(
            Word::new(Kind::Open, 0, 0, opening.generation()).0,
            Ordering::Release,
        );
        self.notify(from.kind(), Kind::Open, now);
        true
    }

    fn force(&self, to: Kind) {
        loop {
            let w = Word(self.word.load(Ordering::Acquire));
            if w.kind() == Kind::Opening {
                spin_wait();
                continue;
            }
            if to == Kind::Closed {
                self.trigger.reset();
            }
            if w.kind() == to {
                // Already there. Closing again still starts a fresh period, so that calls
                // admitted before it no longer count.
                if to == Kind::Closed && !self.cas(w, w.next(to)) {
                    continue;
                }
                return;
            }
            if self.cas(w, w.next(to)) {
                if to == Kind::Closed {
                    self.breaks_in_a_row.store(0, Ordering::Relaxed);
                }
                self.notify(w.kind(), to, self.timer.now());
                return;
            }
        }
    }

    fn notify(&self, from: Kind, to: Kind, at: Instant) {
        self.listener.on_transition(&Transition {
            from: CircuitState::of(from),
            to: CircuitState::of(to),
            at,
        });
    }

    #[inline]
    fn record_closed(&self, period: Word, outcome: Outcome, now: Instant) {
        let w = Word(self.word.load(Ordering::Acquire));
        if w != period {
            return; // admitted in an earlier period: stale
        }
        if self.trigger.record(outcome, now) {
            self.try_open(w);
        }
    }

    fn record_probe(&self, period: Word, failed: bool) {
        loop {
            let w = Word(self.word.load(Ordering::Acquire));
            if w.kind() != Kind::HalfOpen || w.generation() != period.generation() {
                return;
            }
            if failed {
                if self.try_open(w) {
                    return;
                }
                continue;
            }
            let succeeded = w.succeeded() + 1;
            if succeeded >= self.probes {
                // Reset before closing: calls admitted once closed record into a clean window.
                self.trigger.reset();
                if self.cas(w, w.next(Kind::Closed)) {
                    self.breaks_in_a_row.store(0, Ordering::Relaxed);
                    self.notify(Kind::HalfOpen, Kind::Closed, self.timer.now());
                    return;
                }
            } else if self.cas(w, w.with_probes(w.admitted().saturating_sub(1), succeeded)) {
                return;
            }
        }
    }

    fn release_probe(&self, period: Word) {
        loop {
            let w = Word(self.word.load(Ordering::Acquire));
            if w.kind() != Kind::HalfOpen || w.generation() != period.generation() {
                return;
            }
            if self.cas(
                w,
                w.with_probes(w.admitted().saturating_sub(1), w.succeeded()),
            ) {
                return;
            }
        }
    }
}

#[derive(Copy, Clone, Debug)]
enum Admission {
    Closed(Word),
    Probe(Word),
    Reported,
}

/// Permission to run one call, from [`CircuitBreaker::try_acquire`]. Report the outcome with
/// [`record`](Self::record) (or [`success`](Self::success) / [`failure`](Self::failure));
/// dropping it unreported gives a half-open probe slot back and records nothing.
#[must_use = "report the call's outcome, or drop the permit to give its slot back"]
pub struct BreakerPermit<'a, T, S, P, B, L>
where
    T: Timer,
    S: Trigger,
    B: BreakDuration,
    L: BreakerListener,
{
    breaker: &'a CircuitBreaker<T, S, P, B, L>,
    kind: Admission,
    started: Option<Instant>,
}

impl<T, S, P, B, L> BreakerPermit<'_, T, S, P, B, L>
where
    T: Timer,
    S: Trigger,
    B: BreakDuration,
    L: BreakerListener,
{
    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, Admission::Probe(_))
    }

    /// Reports a success.
    #[inline]
    pub fn success(self) {
        self.record(false);
    }

    /// Reports a failure.
    pub fn failure(self) {
        self.record(true);
    }

    /// Reports the outcome: `failed` as judged by the caller. If the breaker measures slow
    /// calls, the time since the permit was granted decides whether the call was slow (a slow
    /// probe counts as a failed probe).
    #[inline]
    pub fn record(mut self, failed: bool) {
        self.report(failed);
    }

    #[inline]
    pub(crate) fn report(&mut self, failed: bool) {
        let b = self.breaker;
        let kind = core::mem::replace(&mut self.kind, Admission::Reported);
        let needs_now = self.started.is_some() || b.trigger.needs_clock();
        let now = if needs_now {
            b.timer.now()
        } else {
            Instant::ZERO
        };
        let slow = match (self.started, b.trigger.slow_call_threshold()) {
            (Some(start), Some(threshold)) => now.saturating_duration_since(start) >= threshold,
            _ => false,
        };
        match kind {
            Admission::Closed(period) => b.record_closed(
                period,
                Outcome {
                    failure: failed,
                    slow,
                },
                now,
            ),
            Admission::Probe(period) => b.record_probe(period, failed || slow),
            Admission::Reported => {}
        }
    }
}

impl<T, S, P, B, L> Drop for BreakerPermit<'_, T, S, P, B, L>
where
    T: Timer,
    S: Trigger,
    B: BreakDuration,
    L: BreakerListener,
{
    fn drop(&mut self) {
        if let Admission::Probe(period) = self.kind {
            self.breaker.release_probe(period);
        }
    }
}

/// Builds a [`CircuitBreaker`], validating every setting.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{BreakerBuilder, ExponentialBreak};
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // Polly's defaults: open when 10% of at least 100 calls in 30 s fail.
/// let breaker = BreakerBuilder::new(&clock)
///     .failure_ratio(0.1, Duration::from_secs(30), 100)
///     .slow_calls(Duration::from_secs(2), 0.5)
///     .exponential_break(Duration::from_secs(5), 2.0, Duration::from_secs(300))
///     .half_open_probes(3)
///     .build()
///     .expect("valid settings");
///
/// let err = BreakerBuilder::new(&clock).failure_ratio(1.5, Duration::from_secs(30), 100).build();
/// assert_eq!(err.unwrap_err().parameter(), "failure_ratio");
/// ```
pub struct BreakerBuilder<T, S = Consecutive, B = FixedBreak> {
    timer: T,
    settings: TriggerSettings,
    breaks: B,
    break_error: Option<ConfigError>,
    probes: u32,
    _trigger: PhantomData<fn() -> S>,
}

impl<T: Timer> BreakerBuilder<T> {
    /// A builder on `timer` with the defaults: 5 consecutive failures, a 30 s break, 1 probe.
    pub fn new(timer: T) -> Self {
        BreakerBuilder {
            timer,
            settings: TriggerSettings {
                consecutive_failures: 5,
                failure_ratio: 0.1,
                sampling_window: Duration::from_secs(30),
                minimum_throughput: 100,
                slow_call: None,
            },
            breaks: FixedBreak(Duration::from_secs(30)),
            break_error: None,
            probes: 1,
            _trigger: PhantomData,
        }
    }
}

impl<T: Timer, S, B> BreakerBuilder<T, S, B> {
    fn retype<S2, B2>(self, breaks: B2) -> BreakerBuilder<T, S2, B2> {
        BreakerBuilder {
            timer: self.timer,
            settings: self.settings,
            breaks,
            break_error: self.break_error,
            probes: self.probes,
            _trigger: PhantomData,
        }
    }

    /// Opens after `n` consecutive failures (at least 1).
    pub fn consecutive_failures(mut self, n: u32) -> BreakerBuilder<T, Consecutive, B> {
        self.settings.consecutive_failures = n;
        self.retype_trigger()
    }

    fn retype_trigger<S2>(self) -> BreakerBuilder<T, S2, B> {
        BreakerBuilder {
            timer: self.timer,
            settings: self.settings,
            breaks: self.breaks,
            break_error: self.break_error,
            probes: self.probes,
            _trigger: PhantomData,
        }
    }

    /// Opens when, within the last `sampling_window`, at least `minimum_throughput` calls
    /// were made and `ratio` (in (0, 1]) of them failed. A [`TimeWindow`].
    pub fn failure_ratio(
        mut self,
        ratio: f64,
        sampling_window: Duration,
        minimum_throughput: u32,
    ) -> BreakerBuilder<T, TimeWindow, B> {
        self.settings.failure_ratio = ratio;
        self.settings.sampling_window = sampling_window;
        self.settings.minimum_throughput = minimum_throughput;
        self.retype_trigger()
    }

    /// Opens when, among the last `N` calls, at least `minimum_throughput` were made and
    /// `ratio` of them failed. A [`CountWindow`].
    pub fn count_window<const N: usize>(
        mut self,
        ratio: f64,
        minimum_throughput: u32,
    ) -> BreakerBuilder<T, CountWindow<N>, B> {
        self.settings.failure_ratio = ratio;
        self.settings.minimum_throughput = minimum_throughput;
        self.retype_trigger()
    }

    /// Also opens when `ratio` of the windowed calls took `threshold` or longer (needs a
    /// failure-ratio or count window).
    pub fn slow_calls(mut self, threshold: Duration, ratio: f64) -> Self {
        self.settings.slow_call = Some((threshold, ratio));
        self
    }

    fn break_duration_named(
        self,
        d: Duration,
        name: &'static str,
    ) -> BreakerBuilder<T, S, FixedBreak> {
        let mut b = self.retype(FixedBreak(d));
        b.break_error = d
            .is_zero()
            .then(|| ConfigError::new(name, "must be greater than 0"));
        b
    }

    /// Every break lasts `d` (greater than 0).
    pub fn break_duration(self, d: Duration) -> BreakerBuilder<T, S, FixedBreak> {
        self.break_duration_named(d, "break_duration")
    }

    /// Breaks grow: `base·factor^(n−1)` for the `n`-th consecutive break, capped at `max`.
    pub fn exponential_break(
        self,
        base: Duration,
        factor: f64,
        max: Duration,
    ) -> BreakerBuilder<T, S, ExponentialBreak> {
        let mut b = self.retype(ExponentialBreak { base, factor, max });
        b.break_error = if base.is_zero() {
            Some(ConfigError::new("break_duration", "must be greater than 0"))
        } else if !(factor.is_finite() && factor >= 1.0) {
            Some(ConfigError::new(
                "break_factor",
                "must be finite and at least 1",
            ))
        } else if max < base {
            Some(ConfigError::new(
                "max_break",
                "must be at least the first break",
            ))
        } else {
            None
        };
        b
    }

    /// Any break-duration generator: `f(n)` for the `n`-th consecutive break.
    pub fn break_duration_with<F: Fn(u32) -> Duration>(
        self,
        f: F,
    ) -> BreakerBuilder<T, S, BreakFn<F>> {
        let mut b = self.retype(BreakFn(f));
        b.break_error = None;
        b
    }

    /// How many probes a half-open breaker admits, and how many must succeed to close it
    /// (1 to 255; default 1).
    pub fn half_open_probes(mut self, n: u32) -> Self {
        self.probes = n;
        self
    }

    /// Validates the settings and builds the breaker.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad setting: `failure_threshold`, `failure_ratio`,
    /// `sampling_window`, `minimum_throughput`, `slow_call_threshold`, `slow_call_ratio`,
    /// `break_duration` (or `reset_timeout`), `break_factor`, `max_break`, `half_open_probes`.
    pub fn build(self) -> Result<CircuitBreaker<T, S, AnyFailure, B, NoListener>, ConfigError>
    where
        S: BuildTrigger,
    {
        let trigger = S::build(&self.settings)?;
        if let Some(e) = self.break_error {
            return Err(e);
        }
        if self.probes == 0 || self.probes > MAX_PROBES {
            return Err(ConfigError::new(
                "half_open_probes",
                "must be between 1 and 255",
            ));
        }
        Ok(CircuitBreaker {
            timer: self.timer,
            trigger,
            predicate: AnyFailure,
            breaks: self.breaks,
            listener: NoListener,
            probes: self.probes,
            word: AtomicUsize::new(Word::new(Kind::Closed, 0, 0, 0).0),
            open_hi: AtomicU32::new(0),
            open_lo: AtomicU32::new(0),
            breaks_in_a_row: AtomicU32::new(0),
        })
    }
}

impl<E, T, S, P, B, L> Policy<E> for CircuitBreaker<T, S, P, B, L>
where
    E: FromRejection + Send,
    T: Timer + Send + Sync,
    S: Trigger + Send + Sync,
    P: FailurePredicate<E> + Send + Sync,
    B: BreakDuration + Send + Sync,
    L: BreakerListener + Send + Sync,
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

impl<E, T, S, P, B, L> LocalPolicy<E> for CircuitBreaker<T, S, P, B, L>
where
    E: FromRejection,
    T: Timer,
    S: Trigger,
    P: FailurePredicate<E>,
    B: BreakDuration,
    L: BreakerListener,
{
    fn run_local<F, Fut, V>(&self, op: F) -> impl Future<Output = Result<V, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<V, E>>,
    {
        self.call(op)
    }
}

impl<T, S, P, B, L> crate::wrap::Compose for CircuitBreaker<T, S, P, B, L> {}

impl<T, S, P, B, L> crate::policy::Attempts for CircuitBreaker<T, S, P, B, L> {
    type Kind = crate::policy::Once;
}
