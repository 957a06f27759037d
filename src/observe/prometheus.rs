//! Policy events as Prometheus metrics in a `prometheus-client` registry (feature
//! `metrics-prometheus`).
//!
//! ```
//! use do_over::observe::prometheus::PrometheusMetrics;
//! use do_over::prelude::*;
//! use prometheus_client::registry::Registry;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut registry = Registry::default();
//! let metrics = PrometheusMetrics::register(&mut registry);
//! let retry = RetryPolicy::fixed(2, Duration::from_millis(10))
//!     .observe(metrics.listener("inventory"));
//! retry.execute(|| async { Ok::<_, DoOverError<()>>(()) }).await.unwrap();
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains(
//!     r#"resilience_events_total{pipeline="inventory",event="success",detail=""} 1"#
//! ));
//! # }
//! ```

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use std::sync::{Arc, OnceLock};

use do_over_core::circuit_breaker::CircuitState;
use do_over_core::error::Rejection;
use do_over_core::observe::{Event, Listener};

type EventLabels = [(&'static str, &'static str); 3];
type CallLabels = [(&'static str, &'static str); 2];

fn duration_histogram() -> Histogram {
    // 1 ms to about 33 s, doubling.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The two instruments, registered once; hand out a [`PrometheusListener`] per pipeline.
/// See the [module docs](super) for names and labels.
#[derive(Clone, Debug)]
pub struct PrometheusMetrics {
    events: Family<EventLabels, Counter>,
    durations: Family<CallLabels, Histogram, fn() -> Histogram>,
}

impl PrometheusMetrics {
    /// Registers `resilience_events_total` and `resilience_call_duration_seconds` in
    /// `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = PrometheusMetrics {
            events: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
        };
        registry.register(
            "resilience_events",
            "Resilience policy events: outcomes, retries, rejections, breaker transitions, hedges",
            metrics.events.clone(),
        );
        registry.register_with_unit(
            "resilience_call_duration",
            "Duration of calls through a resilience pipeline",
            Unit::Seconds,
            metrics.durations.clone(),
        );
        metrics
    }

    /// A listener whose events carry `pipeline = name`.
    pub fn listener(&self, pipeline: &'static str) -> PrometheusListener {
        PrometheusListener {
            metrics: self.clone(),
            pipeline,
            cache: Arc::default(),
        }
    }
}

/// Series handles one listener has already looked up, so that each event after the first of
/// its kind is a few atomic additions rather than a hash-map lookup under a lock.
#[derive(Debug, Default)]
struct Cache {
    events: [OnceLock<Counter>; EVENT_SLOTS],
    durations: [OnceLock<Histogram>; 3],
}

/// Distinct (event, detail) label pairs the policies report today.
const EVENT_SLOTS: usize = 17;

/// The cache slot of an event's counter, `None` for events added after this listener.
fn event_slot(event: &Event) -> Option<usize> {
    let kind = |r: &Rejection| match r {
        Rejection::Timeout => Some(0),
        Rejection::CircuitOpen { .. } => Some(1),
        Rejection::BulkheadFull => Some(2),
        Rejection::RateLimited { .. } => Some(3),
        _ => None,
    };
    Some(match event {
        Event::Success { .. } => 0,
        Event::Failure { .. } => 1,
        Event::Rejected { rejection, .. } => 2 + kind(rejection)?,
        Event::Retry { cause: None, .. } => 6,
        Event::Retry {
            cause: Some(rejection),
            ..
        } => 7 + kind(rejection)?,
        Event::RetryBudgetExhausted => 11,
        Event::CircuitTransition { to, .. } => {
            12 + match to {
                CircuitState::Closed => 0,
                CircuitState::Open => 1,
                CircuitState::HalfOpen => 2,
                CircuitState::Isolated => 3,
            }
        }
        Event::Hedge => 16,
        _ => return None,
    })
}

/// Records policy events into [`PrometheusMetrics`]. Cheap to clone (clones share their
/// series handles).
#[derive(Clone, Debug)]
pub struct PrometheusListener {
    metrics: PrometheusMetrics,
    pipeline: &'static str,
    cache: Arc<Cache>,
}

impl PrometheusListener {
    fn counter(&self, event: &Event) -> Counter {
        self.metrics
            .events
            .get_or_create(&[
                ("pipeline", self.pipeline),
                ("event", event.name()),
                ("detail", event.detail()),
            ])
            .clone()
    }
}

impl Listener for PrometheusListener {
    fn on_event(&self, event: &Event) {
        match event_slot(event) {
            Some(slot) => self.cache.events[slot]
                .get_or_init(|| self.counter(event))
                .inc(),
            None => self.counter(event).inc(),
        };
        let outcome = match event {
            Event::Success { .. } => 0,
            Event::Failure { .. } => 1,
            Event::Rejected { .. } => 2,
            _ => return,
        };
        if let Some(duration) = event.duration() {
            self.cache.durations[outcome]
                .get_or_init(|| {
                    self.metrics
                        .durations
                        .get_or_create(&[("pipeline", self.pipeline), ("outcome", event.name())])
                        .clone()
                })
                .observe(duration.as_secs_f64());
        }
    }
}
