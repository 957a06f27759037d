#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

/// The runtime-agnostic core, re-exported whole: policies generic over any
/// [`Timer`](do_over_core::time::Timer), for runtimes other than the default.
pub use do_over_core as core;

/// The [`Policy`](policy::Policy) and [`LocalPolicy`](policy::LocalPolicy) traits.
pub mod policy {
    pub use do_over_core::policy::*;
}

/// [`DoOverError`](error::DoOverError), [`Rejection`](error::Rejection),
/// [`FromRejection`](error::FromRejection) and [`ConfigError`](error::ConfigError).
pub mod error {
    pub use do_over_core::error::*;
}

/// Time: the [`Timer`](time::Timer) trait, the [`ManualClock`](time::ManualClock) for
/// tests, and the runtime timers enabled by features.
pub mod time {
    #[cfg(feature = "smol")]
    pub use do_over_async_std::AsyncIoTimer;
    pub use do_over_core::time::*;
    #[cfg(feature = "embassy")]
    pub use do_over_embassy::EmbassyTimer;
    #[cfg(feature = "tokio")]
    pub use do_over_tokio::TokioTimer;
}

/// Seedable randomness for jitter.
pub mod random {
    pub use do_over_core::random::*;
}

/// Retry with backoff. See [`do_over_core::retry`] for the exact semantics.
pub mod retry {
    pub use do_over_core::retry::{
        AnyError, Backoff, DelayHint, HintFn, Jitter, MAX_DELAY, NoDelayHint, NoHook, OnRetry,
        OnRetryFn, RetryEvent, RetryEventKind, RetryFuture, RetryIf, RetryPredicate,
    };

    /// Builds a [`RetryPolicy`] on the Tokio timer, validating every setting.
    ///
    /// ```
    /// use do_over::retry::{Jitter, RetryBuilder};
    /// use do_over::time::TokioTimer;
    /// use std::time::Duration;
    ///
    /// let retry = RetryBuilder::new(TokioTimer)
    ///     .max_retries(4)
    ///     .exponential(Duration::from_millis(50), 2.0)
    ///     .jitter(Jitter::Full)
    ///     .max_delay(Duration::from_secs(1))
    ///     .build()
    ///     .expect("valid settings");
    /// assert_eq!(retry.max_retries(), 4);
    /// let err = RetryBuilder::new(TokioTimer).max_delay(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.parameter(), "max_delay");
    /// ```
    #[cfg(feature = "tokio")]
    pub type RetryBuilder = do_over_core::retry::RetryBuilder<do_over_tokio::TokioTimer>;

    /// The retry policy on the Tokio timer: `RetryPolicy::fixed(3, delay)`,
    /// `RetryPolicy::exponential(5, base, 2.0)`, `RetryPolicy::builder()`.
    ///
    /// The generic policy (any timer) is [`do_over_core::retry::RetryPolicy`]; move this one
    /// to another timer with [`with_timer`](do_over_core::retry::RetryPolicy::with_timer).
    ///
    /// ```
    /// use do_over::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let retry = RetryPolicy::exponential(3, Duration::from_millis(100), 2.0);
    /// let start = tokio::time::Instant::now();
    /// let out = retry.execute(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(out, Err("down"));
    /// // Paused Tokio time: 100 + 200 + 400 ms of backoff, passed at once.
    /// assert_eq!(start.elapsed(), Duration::from_millis(700));
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type RetryPolicy<
        P = AnyError,
        D = NoDelayHint,
        O = NoHook,
        R = do_over_core::random::SeededRandom,
        G = do_over_core::budget::Unlimited,
    > = do_over_core::retry::RetryPolicy<do_over_tokio::TokioTimer, P, D, O, R, G>;
}

/// Retry budgets shared across calls. See [`do_over_core::budget`].
pub mod budget {
    pub use do_over_core::budget::{BUDGET_SLOTS, RetryBudget, Unlimited};

    /// The Finagle/tower retry budget on the Tokio timer: `TpsBudget::new(ttl, min_per_sec,
    /// retry_ratio)`.
    ///
    /// ```
    /// use do_over::budget::TpsBudget;
    /// use do_over::prelude::*;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // No floor; one retry for every five successful calls.
    /// let budget = TpsBudget::new(Duration::from_secs(10), 0, 0.2);
    /// let retry = RetryPolicy::fixed(3, Duration::from_millis(10)).with_budget(&budget);
    /// for _ in 0..5 {
    ///     retry.execute(|| async { Ok::<_, &str>(()) }).await.unwrap();
    /// }
    /// let calls = AtomicU32::new(0);
    /// let out = retry.execute(|| async {
    ///     calls.fetch_add(1, Ordering::SeqCst);
    ///     Err::<(), _>("down")
    /// }).await;
    /// assert_eq!((out, calls.into_inner()), (Err("down"), 2)); // one retry was affordable
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type TpsBudget = do_over_core::budget::TpsBudget<do_over_tokio::TokioTimer>;
}

/// Bulkhead isolation. See [`do_over_core::bulkhead`] for the exact semantics.
pub mod bulkhead {
    pub use do_over_core::bulkhead::BulkheadFuture;

    /// The bulkhead on the Tokio timer: `Bulkhead::new(max_concurrent)`,
    /// `.with_queue_timeout(d)`, `.with_max_queued(k)`.
    ///
    /// ```
    /// use do_over::prelude::*;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let bulkhead = Arc::new(Bulkhead::new(2));
    /// let mut calls = tokio::task::JoinSet::new();
    /// for _ in 0..3 {
    ///     let bulkhead = bulkhead.clone();
    ///     calls.spawn(async move {
    ///         let slow = || async {
    ///             tokio::time::sleep(Duration::from_millis(100)).await;
    ///             Ok::<_, DoOverError<()>>(())
    ///         };
    ///         bulkhead.execute(slow).await
    ///     });
    /// }
    /// let results = calls.join_all().await;
    /// assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    /// assert!(results.contains(&Err(DoOverError::BulkheadFull)));
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type Bulkhead = do_over_core::bulkhead::Bulkhead<do_over_tokio::TokioTimer>;
}

/// Circuit breaker. See [`do_over_core::circuit_breaker`] for the exact semantics.
pub mod circuit_breaker {
    pub use do_over_core::circuit_breaker::{
        AnyFailure, BreakDuration, BreakFn, BreakerFuture, BreakerListener, BreakerMetrics,
        BreakerPermit, CircuitState, Consecutive, CountWindow, ExcludeRejections, ExponentialBreak,
        FailureIf, FailurePredicate, FixedBreak, ListenerFn, NoListener, Outcome,
        TIME_WINDOW_BUCKETS, TimeWindow, Transition, Trigger, WindowStats,
    };

    #[cfg(feature = "alloc")]
    pub use do_over_core::circuit_breaker::KeyedCircuitBreaker;

    /// Builds a [`CircuitBreaker`] on the Tokio timer, validating every setting.
    ///
    /// ```
    /// use do_over::circuit_breaker::{BreakerBuilder, CircuitState};
    /// use do_over::time::TokioTimer;
    /// use std::time::Duration;
    ///
    /// let breaker = BreakerBuilder::new(TokioTimer)
    ///     .failure_ratio(0.5, Duration::from_secs(10), 20)
    ///     .break_duration(Duration::from_secs(5))
    ///     .build()
    ///     .expect("valid settings");
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// let err = BreakerBuilder::new(TokioTimer).half_open_probes(0).build().unwrap_err();
    /// assert_eq!(err.parameter(), "half_open_probes");
    /// ```
    #[cfg(feature = "tokio")]
    pub type BreakerBuilder<S = Consecutive, B = FixedBreak> =
        do_over_core::circuit_breaker::BreakerBuilder<do_over_tokio::TokioTimer, S, B>;

    /// The circuit breaker on the Tokio timer: `CircuitBreaker::new(failure_threshold,
    /// reset_timeout)`, `CircuitBreaker::builder()`.
    ///
    /// The generic breaker (any timer) is [`do_over_core::circuit_breaker::CircuitBreaker`].
    ///
    /// ```
    /// use do_over::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::new(3, Duration::from_secs(30));
    /// for _ in 0..3 {
    ///     let _ = breaker.execute(|| async { Err::<(), _>(DoOverError::Inner("down")) }).await;
    /// }
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// tokio::time::advance(Duration::from_secs(30)).await;
    /// let probe = breaker.execute(|| async { Ok::<_, DoOverError<&str>>("up") }).await;
    /// assert_eq!(probe, Ok("up"));
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type CircuitBreaker<S = Consecutive, P = AnyFailure, B = FixedBreak, L = NoListener> =
        do_over_core::circuit_breaker::CircuitBreaker<do_over_tokio::TokioTimer, S, P, B, L>;
}

/// Fallback values and operations. See [`do_over_core::fallback`].
pub mod fallback {
    pub use do_over_core::fallback::*;
}

/// Hedging. See [`do_over_core::hedge`] for the exact semantics.
pub mod hedge {
    #[cfg(feature = "alloc")]
    pub use do_over_core::hedge::DetachLosers;
    pub use do_over_core::hedge::{CancelLosers, HedgeFuture, LatencyHistogram, Losers};

    /// The hedge policy on the Tokio timer: `Hedge::new(delay)`.
    ///
    /// ```
    /// use do_over::hedge::Hedge;
    /// use do_over::prelude::*;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let hedge = Hedge::new(Duration::from_millis(50));
    /// let attempts = AtomicU32::new(0);
    /// let out = hedge.execute(|| async {
    ///     let n = attempts.fetch_add(1, Ordering::SeqCst);
    ///     tokio::time::sleep(Duration::from_millis(if n == 0 { 1_000 } else { 10 })).await;
    ///     Ok::<_, DoOverError<()>>(n)
    /// }).await;
    /// assert_eq!(out, Ok(1)); // the hedge, started at 50 ms, answered first
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type Hedge<const CAP: usize = 4, G = do_over_core::budget::Unlimited> =
        do_over_core::hedge::Hedge<do_over_tokio::TokioTimer, CAP, G>;
}

#[cfg(feature = "http")]
pub mod http;
pub mod observe;

#[cfg(feature = "tower")]
pub mod tower;

/// The [`Spawn`](spawn::Spawn) trait (implemented by `TokioTimer`).
pub mod spawn {
    pub use do_over_core::spawn::*;
}

/// One policy per key with a bound on memory: [`Keyed`](keyed::Keyed).
#[cfg(feature = "alloc")]
pub mod keyed {
    pub use do_over_core::keyed::*;
}

/// Rate limiting (GCRA). See [`do_over_core::rate_limit`] for the exact semantics.
pub mod rate_limit {
    #[cfg(feature = "alloc")]
    pub use do_over_core::rate_limit::KeyedRateLimiter;
    pub use do_over_core::rate_limit::RateLimitFuture;

    /// The rate limiter on the Tokio timer: `RateLimiter::new(capacity, interval)`.
    ///
    /// ```
    /// use do_over::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(5, Duration::from_secs(1));
    /// let mut admitted = 0;
    /// for _ in 0..8 {
    ///     if limiter.execute(|| async { Ok::<_, DoOverError<()>>(()) }).await.is_ok() {
    ///         admitted += 1;
    ///     }
    /// }
    /// assert_eq!(admitted, 5); // the burst
    /// tokio::time::advance(Duration::from_millis(200)).await;
    /// assert_eq!(limiter.available(), 1); // one token per 200 ms
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type RateLimiter = do_over_core::rate_limit::RateLimiter<do_over_tokio::TokioTimer>;
}

/// Timeouts. See [`do_over_core::timeout`] for the exact semantics.
pub mod timeout {
    pub use do_over_core::timeout::TimeoutFuture;

    /// The timeout policy on the Tokio timer: `TimeoutPolicy::new(duration)`.
    ///
    /// ```
    /// use do_over::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let timeout = TimeoutPolicy::new(Duration::from_secs(2));
    /// let out = timeout.execute(|| async {
    ///     tokio::time::sleep(Duration::from_secs(10)).await;
    ///     Ok::<_, DoOverError<()>>(())
    /// }).await;
    /// assert_eq!(out, Err(DoOverError::Timeout));
    /// // With `std::io::Error` as the error type, a timeout is `ErrorKind::TimedOut`.
    /// let out = timeout.execute(|| std::future::pending::<std::io::Result<()>>()).await;
    /// assert_eq!(out.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub type TimeoutPolicy = do_over_core::timeout::TimeoutPolicy<do_over_tokio::TokioTimer>;
}

/// Composition of policies. See [`do_over_core::wrap`] for ordering advice.
pub mod wrap {
    pub use do_over_core::wrap::*;
}

/// The names most code needs: `use do_over::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "tokio")]
    pub use crate::bulkhead::Bulkhead;
    #[cfg(feature = "tokio")]
    pub use crate::circuit_breaker::CircuitBreaker;
    pub use crate::circuit_breaker::CircuitState;
    pub use crate::error::{DoOverError, FromRejection, Rejection};
    pub use crate::policy::{LocalPolicy, Policy};
    #[cfg(feature = "tokio")]
    pub use crate::rate_limit::RateLimiter;
    #[cfg(feature = "tokio")]
    pub use crate::retry::RetryPolicy;
    #[cfg(feature = "tokio")]
    pub use crate::timeout::TimeoutPolicy;
    pub use crate::wrap::{Compose, Wrap};
}

/// Declares the reference API's policy types bound to one timer.
#[cfg(any(feature = "smol", feature = "embassy"))]
macro_rules! runtime_api {
    ($timer:ty) => {
        /// The retry policy on this runtime's timer.
        pub type RetryPolicy = do_over_core::retry::RetryPolicy<$timer>;
        /// The timeout policy on this runtime's timer.
        pub type TimeoutPolicy = do_over_core::timeout::TimeoutPolicy<$timer>;
        /// The circuit breaker on this runtime's timer.
        pub type CircuitBreaker = do_over_core::circuit_breaker::CircuitBreaker<$timer>;
        /// The bulkhead on this runtime's timer.
        pub type Bulkhead = do_over_core::bulkhead::Bulkhead<$timer>;
        /// The rate limiter on this runtime's timer.
        pub type RateLimiter = do_over_core::rate_limit::RateLimiter<$timer>;
        /// The hedge policy on this runtime's timer.
        pub type Hedge = do_over_core::hedge::Hedge<$timer>;
        /// The retry budget on this runtime's timer.
        pub type TpsBudget = do_over_core::budget::TpsBudget<$timer>;
        pub use do_over_core::policy::{LocalPolicy, Policy};
        pub use do_over_core::wrap::{Compose, Wrap};
    };
}

/// The reference API on **smol**'s timer (`async-io`), which **async-std** also runs on:
/// `do_over::smol::RetryPolicy::fixed(3, delay)` and so on. async-std is discontinued
/// upstream (RUSTSEC-2025-0052): prefer smol for new code.
#[cfg(feature = "smol")]
pub mod smol {
    runtime_api!(do_over_async_std::AsyncIoTimer);
    #[cfg(feature = "async-std")]
    pub use do_over_async_std::AsyncStdSpawner;
    pub use do_over_async_std::SmolSpawner;
}

/// The reference API on **Embassy**'s timer (`embassy-time`), usable without `std`:
/// `do_over::embassy::RetryPolicy::fixed(3, delay)` and so on. Operations that borrow
/// peripherals are usually not `Send`: call them with `LocalPolicy::execute_local`.
#[cfg(feature = "embassy")]
pub mod embassy {
    runtime_api!(do_over_embassy::EmbassyTimer);
}
