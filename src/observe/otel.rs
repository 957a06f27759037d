//! Policy events as OpenTelemetry metrics (feature `metrics-otel`).
//!
//! ```
//! use do_over::observe::otel::OtelMetrics;
//! use do_over::prelude::*;
//! use std::time::Duration;
//!
//! // With the SDK installed, `opentelemetry::global::meter("my-service")` exports for real.
//! let meter = opentelemetry::global::meter("my-service");
//! let metrics = OtelMetrics::new(&meter);
//! let breaker = CircuitBreaker::new(5, Duration::from_secs(30))
//!     .observe(metrics.listener("payments"));
//! ```

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use do_over_core::observe::{Event, Listener};

/// Histogram bucket boundaries, in seconds: 1 ms to about 33 s, doubling.
const BOUNDARIES: [f64; 16] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384, 32.768,
];

/// The two instruments, made once per meter; hand out an [`OtelListener`] per pipeline.
/// See the [module docs](super) for names and attributes.
#[derive(Clone, Debug)]
pub struct OtelMetrics {
    events: Counter<u64>,
    durations: Histogram<f64>,
}

impl OtelMetrics {
    /// Creates the `resilience.events` counter and the `resilience.call.duration` histogram
    /// (unit `s`) on `meter`.
    pub fn new(meter: &Meter) -> Self {
        OtelMetrics {
            events: meter
                .u64_counter("resilience.events")
                .with_description(
                    "Resilience policy events: outcomes, retries, rejections, breaker transitions, hedges",
                )
                .build(),
            durations: meter
                .f64_histogram("resilience.call.duration")
                .with_description("Duration of calls through a resilience pipeline")
                .with_unit("s")
                .with_boundaries(BOUNDARIES.to_vec())
                .build(),
        }
    }

    /// A listener whose measurements carry `pipeline = name`.
    pub fn listener(&self, pipeline: &'static str) -> OtelListener {
        OtelListener {
            metrics: self.clone(),
            pipeline,
        }
    }
}

/// Records policy events into [`OtelMetrics`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OtelListener {
    metrics: OtelMetrics,
    pipeline: &'static str,
}

impl Listener for OtelListener {
    fn on_event(&self, event: &Event) {
        let name = event.name();
        self.metrics.events.add(
            1,
            &[
                KeyValue::new("pipeline", self.pipeline),
                KeyValue::new("event", name),
                KeyValue::new("detail", event.detail()),
            ],
        );
        if let Some(duration) = event.duration() {
            self.metrics.durations.record(
                duration.as_secs_f64(),
                &[
                    KeyValue::new("pipeline", self.pipeline),
                    KeyValue::new("outcome", name),
                ],
            );
        }
    }
}
