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
        }
    }
}

/// Records policy events into [`PrometheusMetrics`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PrometheusListener {
    metrics: PrometheusMetrics,
    pipeline: &'static str,
}

impl Listener for PrometheusListener {
    fn on_event(&self, event: &Event) {
        let name = event.name();
        self.metrics
            .events
            .get_or_create(&[
                ("pipeline", self.pipeline),
                ("event", name),
                ("detail", event.detail()),
            ])
            .inc();
        if let Some(duration) = event.duration() {
            self.metrics
                .durations
                .get_or_create(&[("pipeline", self.pipeline), ("outcome", name)])
                .observe(duration.as_secs_f64());
        }
    }
}
