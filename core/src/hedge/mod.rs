//! Hedging: when the first attempt is slow, start another and take whichever succeeds first.
//!
//! # Semantics
//!
//! * The primary attempt starts at once. If it has not succeeded after `delay`, a hedged
//!   attempt starts; then another after each further `delay`, up to
//!   [`with_max_hedged_attempts(n)`](Hedge::with_max_hedged_attempts) hedges (default 1).
//!   A zero delay is *parallel mode*: all attempts start at once.
//! * The first **success** wins: every other attempt is dropped (cancelled) at that moment.
//! * A failure is not a result while another attempt can still succeed. An attempt that fails
//!   while more may be started starts the next one **immediately** (and the following hedge
//!   is again `delay` after that start).
//! * When every attempt has failed (or no more may start), the error of the attempt that
//!   failed **last** is returned.
//! * Attempts run concurrently inside the one future — no task is spawned, so hedging works on
//!   Embassy and with operations that are not `Send` (`execute_local`). Only use it for
//!   idempotent operations: several attempts may reach the dependency.
//! * [`with_adaptive_delay(p, min_samples)`](Hedge::with_adaptive_delay): once `min_samples`
//!   winning attempts have been timed, hedge after their observed `p`-th percentile latency
//!   instead of the fixed delay (a fixed-size, allocation-free histogram).
//! * [`with_budget`](Hedge::with_budget): each hedge withdraws from a shared
//!   [retry budget](crate::budget); when it is empty, no hedge starts. Successful calls
//!   deposit.
//! * At most `CAP − 1` hedges (the attempts are stored inline; `CAP` defaults to 4).
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::hedge::Hedge;
//! use do_over_core::policy::Policy;
//! use do_over_core::time::{Clock, ManualClock, Timer};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! let clock = ManualClock::new();
//! let hedge = Hedge::new_with_timer(Duration::from_millis(100), &clock);
//! let attempt = AtomicU32::new(0);
//! let out = clock.run(hedge.execute(|| async {
//!     // The primary is stuck for 5 s; the hedge answers in 20 ms.
//!     let slow = attempt.fetch_add(1, Ordering::SeqCst) == 0;
//!     (&clock).sleep(Duration::from_millis(if slow { 5_000 } else { 20 })).await;
//!     Ok::<_, DoOverError<()>>(if slow { "primary" } else { "hedge" })
//! }));
//! assert_eq!(out, Ok("hedge"));
//! assert_eq!(clock.now().since_origin(), Duration::from_millis(120));
//! ```

mod future;
mod histogram;

#[cfg(feature = "alloc")]
pub use future::DetachLosers;
pub use future::{CancelLosers, HedgeFuture, Losers};
pub use histogram::LatencyHistogram;

use core::future::Future;
use core::time::Duration;

use crate::budget::{RetryBudget, Unlimited};
use crate::error::{ConfigError, expect_valid};
use crate::observe::{HedgeEvents, Listener, Metrics, MetricsListener, Observed};
use crate::policy::{LocalPolicy, Policy};
use crate::time::Timer;

/// Adaptive-delay settings.
#[derive(Copy, Clone, Debug, PartialEq)]
struct Adaptive {
    percentile: f64,
    min_samples: u32,
}

/// Starts backup attempts for slow calls. See the [module docs](self).
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::DoOverError;
/// use do_over_core::hedge::Hedge;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::{Clock, ManualClock, Timer};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let clock = ManualClock::new();
/// let hedge = Hedge::new_with_timer(Duration::from_millis(100), &clock)
///     .with_max_hedged_attempts(2);
/// let attempt = AtomicU32::new(0);
/// let out = clock.run(hedge.execute(|| async {
///     match attempt.fetch_add(1, Ordering::SeqCst) {
///         0 => Err(DoOverError::Inner("refused")), // no need to wait 100 ms for the next
///         n => {
///             (&clock).sleep(Duration::from_millis(30)).await;
///             Ok(n)
///         }
///     }
/// }));
/// assert_eq!(out, Ok(1));
/// assert_eq!(clock.now().since_origin(), Duration::from_millis(30));
/// // The attempts live inside the future: at most CAP − 1 = 3 hedges.
/// assert!(Hedge::new_with_timer(Duration::ZERO, &clock).try_with_max_hedged_attempts(4).is_err());
/// ```
pub struct Hedge<T, const CAP: usize = 4, G = Unlimited> {
    timer: T,
    delay: Duration,
    max_hedged: u32,
    adaptive: Option<Adaptive>,
    histogram: LatencyHistogram,
    budget: G,
}

impl<T: core::fmt::Debug, const CAP: usize, G> core::fmt::Debug for Hedge<T, CAP, G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hedge")
            .field("delay", &self.delay)
            .field("max_hedged_attempts", &self.max_hedged)
            .field("adaptive", &self.adaptive)
            .field("timer", &self.timer)
            .finish_non_exhaustive()
    }
}

impl<T: Timer + Default> Hedge<T> {
    /// One hedged attempt after `delay` (zero: primary and hedge start together).
    pub fn new(delay: Duration) -> Self {
        Self::new_with_timer(delay, T::default())
    }
}

impl<T: Timer> Hedge<T> {
    /// [`new`](Hedge::new) on the given timer.
    pub fn new_with_timer(delay: Duration, timer: T) -> Self {
        Hedge {
            timer,
            delay,
            max_hedged: 1,
            adaptive: None,
            histogram: LatencyHistogram::new(),
            budget: Unlimited,
        }
    }
}

impl<T: Timer, const CAP: usize, G> Hedge<T, CAP, G> {
    /// Up to `n` hedged attempts (so `n + 1` attempts in all).
    ///
    /// # Panics
    /// If `n` is 0 or at least `CAP`. [`try_with_max_hedged_attempts`](Self::try_with_max_hedged_attempts)
    /// returns a [`ConfigError`] instead.
    #[track_caller]
    pub fn with_max_hedged_attempts(self, n: u32) -> Self {
        expect_valid(
            "Hedge::with_max_hedged_attempts",
            self.try_with_max_hedged_attempts(n),
        )
    }

    /// [`with_max_hedged_attempts`](Self::with_max_hedged_attempts), returning an error.
    ///
    /// # Errors
    /// [`ConfigError`] naming `max_hedged_attempts`.
    pub fn try_with_max_hedged_attempts(mut self, n: u32) -> Result<Self, ConfigError> {
        if n == 0 || n as usize >= CAP {
            return Err(ConfigError::new(
                "max_hedged_attempts",
                "must be at least 1 and below the attempt capacity CAP (default 4)",
            ));
        }
        self.max_hedged = n;
        Ok(self)
    }

    /// Hedges after the observed `percentile` (in (0, 1), e.g. 0.95) latency of winning
    /// attempts once `min_samples` have been seen; until then, after the fixed delay.
    ///
    /// # Errors
    /// [`ConfigError`] naming `percentile` or `min_samples`.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::error::DoOverError;
    /// use do_over_core::hedge::Hedge;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::time::{ManualClock, Timer};
    ///
    /// let clock = ManualClock::new();
    /// let hedge = Hedge::new_with_timer(Duration::from_millis(500), &clock)
    ///     .with_adaptive_delay(0.9, 3)
    ///     .expect("valid settings");
    /// for _ in 0..3 {
    ///     let out = clock.run(hedge.execute(|| async {
    ///         (&clock).sleep(Duration::from_millis(10)).await;
    ///         Ok::<_, DoOverError<()>>(())
    ///     }));
    ///     assert_eq!(out, Ok(()));
    /// }
    /// // Three 10 ms wins seen: hedge at their 90th percentile (a bucket's upper edge).
    /// assert_eq!(hedge.current_delay(), Duration::from_micros(16_384));
    /// ```
    pub fn with_adaptive_delay(
        mut self,
        percentile: f64,
        min_samples: u32,
    ) -> Result<Self, ConfigError> {
        if !(percentile > 0.0 && percentile < 1.0) {
            return Err(ConfigError::new("percentile", "must be in (0, 1)"));
        }
        if min_samples == 0 {
            return Err(ConfigError::new("min_samples", "must be at least 1"));
        }
        self.adaptive = Some(Adaptive {
            percentile,
            min_samples,
        });
        Ok(self)
    }

    /// Reports every call's outcome and duration, each hedged attempt started and each one
    /// the budget refused, to `listener`; calls are timed on this policy's timer. See
    /// [`observe`](crate::observe).
    pub fn observe<L: Listener + Clone>(
        self,
        listener: L,
    ) -> Observed<Hedge<T, CAP, HedgeEvents<G, L>>, L, T>
    where
        T: Clone,
    {
        let clock = self.timer.clone();
        let hedge = Hedge {
            timer: self.timer,
            delay: self.delay,
            max_hedged: self.max_hedged,
            adaptive: self.adaptive,
            histogram: self.histogram,
            budget: HedgeEvents {
                budget: self.budget,
                listener: listener.clone(),
            },
        };
        Observed::new(hedge, listener, clock)
    }

    /// The reference metrics hook: `on_success` or `on_failure` once per call.
    /// [`observe`](Self::observe) through a [`MetricsListener`].
    #[allow(clippy::type_complexity)]
    pub fn with_metrics<M: Metrics + Clone>(
        self,
        metrics: M,
    ) -> Observed<Hedge<T, CAP, HedgeEvents<G, MetricsListener<M>>>, MetricsListener<M>, T>
    where
        T: Clone,
    {
        self.observe(MetricsListener(metrics))
    }

    /// Limits hedges by a shared [`RetryBudget`].
    pub fn with_budget<G2: RetryBudget>(self, budget: G2) -> Hedge<T, CAP, G2> {
        Hedge {
            timer: self.timer,
            delay: self.delay,
            max_hedged: self.max_hedged,
            adaptive: self.adaptive,
            histogram: self.histogram,
            budget,
        }
    }

    /// Changes the attempt capacity `CAP` (primary plus hedges; default 4), so that
    /// [`with_max_hedged_attempts`](Self::with_max_hedged_attempts) can go up to `CAP2 - 1`.
    /// The capacity sizes the future, which holds every attempt inline.
    ///
    /// # Errors
    /// [`ConfigError`] naming `CAP` if it is below 2 or cannot hold the hedges already
    /// configured.
    pub fn with_attempt_capacity<const CAP2: usize>(
        self,
    ) -> Result<Hedge<T, CAP2, G>, ConfigError> {
        if CAP2 < 2 || self.max_hedged as usize >= CAP2 {
            return Err(ConfigError::new(
                "CAP",
                "must be at least 2 and above the maximum number of hedged attempts",
            ));
        }
        Ok(Hedge {
            timer: self.timer,
            delay: self.delay,
            max_hedged: self.max_hedged,
            adaptive: self.adaptive,
            histogram: self.histogram,
            budget: self.budget,
        })
    }

    /// Moves the policy onto another timer (for instance `&ManualClock` in a test).
    pub fn with_timer<T2: Timer>(self, timer: T2) -> Hedge<T2, CAP, G> {
        Hedge {
            timer,
            delay: self.delay,
            max_hedged: self.max_hedged,
            adaptive: self.adaptive,
            histogram: self.histogram,
            budget: self.budget,
        }
    }

    /// The latencies recorded for the adaptive delay.
    pub fn histogram(&self) -> &LatencyHistogram {
        &self.histogram
    }

    /// The delay the next call will hedge after.
    pub fn current_delay(&self) -> Duration {
        match self.adaptive {
            Some(a) if self.histogram.count() >= a.min_samples => self
                .histogram
                .percentile(a.percentile)
                .unwrap_or(self.delay),
            _ => self.delay,
        }
    }

    /// Runs `op` under this policy, returning the named future.
    pub fn call<F, Fut>(&self, op: F) -> HedgeFuture<'_, T, CAP, G, F, Fut>
    where
        F: Fn() -> Fut,
        Fut: Future,
    {
        HedgeFuture::new(self, op, CancelLosers)
    }

    /// Like [`Policy::execute`], but attempts that lose are not cancelled: they are handed to
    /// `spawner` and run to completion in the background (their results are discarded). For
    /// operations that must not be interrupted half-way. Each attempt is boxed so that it can
    /// move to its own task: this mode allocates (`alloc` feature).
    ///
    /// ```
    /// # #[cfg(feature = "alloc")] {
    /// use core::future::Future;
    /// use core::time::Duration;
    /// use do_over_core::hedge::Hedge;
    /// use do_over_core::spawn::Spawn;
    /// use do_over_core::time::ManualClock;
    ///
    /// struct Detach; // a stand-in spawner that drops the futures it is given
    /// impl Spawn for Detach {
    ///     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _f: F) {}
    /// }
    /// let clock = ManualClock::new();
    /// let hedge = Hedge::new_with_timer(Duration::from_millis(10), &clock);
    /// let out = clock.run(hedge.execute_detached(&Detach, || async { Ok::<_, ()>(1) }));
    /// assert_eq!(out, Ok(1));
    /// # }
    /// ```
    #[cfg(feature = "alloc")]
    pub async fn execute_detached<S, F, Fut, V, E>(&self, spawner: S, f: F) -> Result<V, E>
    where
        S: crate::spawn::Spawn,
        G: RetryBudget,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let boxed = || alloc::boxed::Box::pin(f());
        HedgeFuture::new(self, boxed, DetachLosers(spawner)).await
    }
}

impl<E, T, const CAP: usize, G> Policy<E> for Hedge<T, CAP, G>
where
    E: Send,
    T: Timer + Send + Sync,
    T::Sleep: Send,
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

impl<E, T: Timer, const CAP: usize, G: RetryBudget> LocalPolicy<E> for Hedge<T, CAP, G> {
    fn run_local<F, Fut, V>(&self, op: F) -> impl Future<Output = Result<V, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<V, E>>,
    {
        self.call(op)
    }
}

impl<T, const CAP: usize, G> crate::wrap::Compose for Hedge<T, CAP, G> {}

impl<T, const CAP: usize, G> crate::policy::Attempts for Hedge<T, CAP, G> {
    type Kind = crate::policy::Many;
}
