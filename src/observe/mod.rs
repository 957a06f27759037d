//! Observability: the reference [`Metrics`] hook, the richer [`Listener`] of [`Event`]s, and
//! ready-made listeners for `tracing` (feature `tracing`), Prometheus (feature
//! `metrics-prometheus`) and OpenTelemetry (feature `metrics-otel`).
//!
//! Every policy has `observe(listener)` and `with_metrics(metrics)`; a stack gets them from
//! [`Observe`]. See [`do_over_core::observe`] for which policy reports which event. Nothing is
//! reported, and nothing costs anything, unless a listener is attached; attaching one never
//! makes the policies allocate.
//!
//! ```
//! use do_over::observe::{Event, ListenerFn, Observe};
//! use do_over::prelude::*;
//! use std::sync::Mutex;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let seen = Mutex::new(Vec::new());
//! let log = ListenerFn(|e: &Event| seen.lock().unwrap().push(e.name()));
//! let policy = Wrap::new(
//!     RetryPolicy::fixed(2, Duration::from_millis(10)).observe(&log),
//!     TimeoutPolicy::new(Duration::from_secs(1)),
//! )
//! .observe(&log); // the whole stack, outside the retry
//!
//! let calls = std::sync::atomic::AtomicU32::new(0);
//! let out = policy
//!     .execute(|| async {
//!         match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
//!             0 => Err(DoOverError::Inner("flaky")),
//!             _ => Ok("done"),
//!         }
//!     })
//!     .await;
//! assert_eq!(out, Ok("done"));
//! assert_eq!(*seen.lock().unwrap(), ["retry", "success", "success"]);
//! # }
//! ```
//!
//! # Metric names
//!
//! The Prometheus and OpenTelemetry exporters use one scheme (Polly's `resilience.*`
//! instruments, adapted):
//!
//! | instrument | OpenTelemetry | Prometheus | labels |
//! |---|---|---|---|
//! | events, counter | `resilience.events` | `resilience_events_total` | `pipeline`, `event` ([`Event::name`]), `detail` ([`Event::detail`]) |
//! | call duration, histogram (seconds) | `resilience.call.duration` | `resilience_call_duration_seconds` | `pipeline`, `outcome` (`success`, `failure`, `rejected`) |
//!
//! `pipeline` is the name you give the listener (`metrics.listener("payments")`).

pub use do_over_core::observe::*;

#[cfg(feature = "metrics-otel")]
pub mod otel;
#[cfg(feature = "metrics-prometheus")]
pub mod prometheus;
#[cfg(feature = "tracing")]
mod tracing;
#[cfg(feature = "tracing")]
pub use self::tracing::TracingListener;

/// `observe` and `with_metrics` for any policy or stack, timed on the Tokio clock (so
/// durations follow tokio's paused time in tests).
///
/// Retry, breaker and hedge policies have inherent methods of the same names that also
/// report their inner events (retries, transitions, hedges); called on the policy value
/// itself, those win. Called on a reference or an `Arc` (`(&breaker).observe(l)`,
/// `arc_retry.observe(l)`), method lookup finds this trait first and only outcomes are
/// reported: attach the listener to the policy before sharing it.
///
/// ```
/// use do_over::observe::{Event, ListenerFn, Observe};
/// use do_over::prelude::*;
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let seen = Mutex::new(Vec::new());
/// let stack = Wrap::new(Bulkhead::new(10), TimeoutPolicy::new(Duration::from_millis(100)))
///     .observe(ListenerFn(|e: &Event| seen.lock().unwrap().push((e.name(), e.duration()))));
/// let out = stack.execute(|| async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<_, DoOverError<()>>(())
/// }).await;
/// assert_eq!(out, Err(DoOverError::Timeout));
/// // Timed on Tokio's (here paused) clock.
/// assert_eq!(*seen.lock().unwrap(), [("rejected", Some(Duration::from_millis(100)))]);
/// # }
/// ```
#[cfg(feature = "tokio")]
pub trait Observe: Sized {
    /// Reports every call's outcome and duration to `listener`.
    fn observe<L: Listener>(self, listener: L) -> Observed<Self, L, do_over_tokio::TokioTimer> {
        Observed::new(self, listener, do_over_tokio::TokioTimer)
    }

    /// The reference hook: `on_success` or `on_failure` once per call.
    fn with_metrics<M: Metrics>(
        self,
        metrics: M,
    ) -> Observed<Self, MetricsListener<M>, do_over_tokio::TokioTimer> {
        self.observe(MetricsListener(metrics))
    }
}

#[cfg(feature = "tokio")]
impl<P> Observe for P {}
