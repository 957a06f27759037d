//! The cost of observability: the full stack (bulkhead → breaker → retry → timeout) with no
//! listener, with the reference `Metrics` hook on every layer, with a counting `Listener` on
//! every layer, and with the Prometheus and OpenTelemetry exporters on the outermost layer.
//!
//! Run: `CARGO_TARGET_DIR=/work/target cargo bench -p do-over-benches --bench observe`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use divan::{Bencher, black_box};
use do_over::bulkhead::Bulkhead;
use do_over::circuit_breaker::CircuitBreaker;
use do_over::observe::{Event, Listener, Metrics, Observe};
use do_over::policy::Policy;
use do_over::retry::RetryPolicy;
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;
use common::{bench_in_runtime, poll_ready};

fn main() {
    common::run_divan();
}

type Error = do_over::error::DoOverError<io::Error>;

const DELAY: Duration = Duration::from_millis(10);
const TIMEOUT: Duration = Duration::from_secs(1);

async fn op() -> Result<u64, Error> {
    Ok(black_box(1))
}

/// The operation, awaited directly.
#[divan::bench]
fn bare(bencher: Bencher) {
    bench_in_runtime(bencher, || poll_ready(op()));
}

/// The stack without any listener.
#[divan::bench]
fn stack_unobserved(bencher: Bencher) {
    let stack = Wrap::new(
        Bulkhead::new(64),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)),
            Wrap::new(RetryPolicy::fixed(3, DELAY), TimeoutPolicy::new(TIMEOUT)),
        ),
    );
    bench_in_runtime(bencher, || poll_ready(stack.execute(op)));
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
}

impl Metrics for Counters {
    fn on_success(&self) {
        self.ok.fetch_add(1, Relaxed);
    }
    fn on_failure(&self) {
        self.failed.fetch_add(1, Relaxed);
    }
    fn on_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
}

/// The reference `with_metrics` on every layer (four outcome reports per call).
#[divan::bench]
fn stack_with_metrics_on_every_layer(bencher: Bencher) {
    let m = Counters::default();
    let stack = Wrap::new(
        Bulkhead::new(64).with_metrics(&m),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)).with_metrics(&m),
            Wrap::new(
                RetryPolicy::fixed(3, DELAY).with_metrics(&m),
                TimeoutPolicy::new(TIMEOUT).with_metrics(&m),
            ),
        ),
    );
    bench_in_runtime(bencher, || poll_ready(stack.execute(op)));
    assert!(m.ok.load(Relaxed) > 0);
}

/// Counts events.
#[derive(Default)]
struct Count(AtomicU64);

impl Listener for Count {
    fn on_event(&self, _: &Event) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// A counting listener on the whole stack only (one outcome report per call).
#[divan::bench]
fn stack_with_listener_outside(bencher: Bencher) {
    let count = Count::default();
    let stack = Wrap::new(
        Bulkhead::new(64),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)),
            Wrap::new(RetryPolicy::fixed(3, DELAY), TimeoutPolicy::new(TIMEOUT)),
        ),
    )
    .observe(&count);
    bench_in_runtime(bencher, || poll_ready(stack.execute(op)));
    assert!(count.0.load(Relaxed) > 0);
}

/// The Prometheus exporter on the whole stack.
#[divan::bench]
fn stack_with_prometheus(bencher: Bencher) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = do_over::observe::prometheus::PrometheusMetrics::register(&mut registry);
    let stack = Wrap::new(
        Bulkhead::new(64),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)),
            Wrap::new(RetryPolicy::fixed(3, DELAY), TimeoutPolicy::new(TIMEOUT)),
        ),
    )
    .observe(metrics.listener("bench"));
    bench_in_runtime(bencher, || poll_ready(stack.execute(op)));
}

/// The OpenTelemetry exporter (the SDK's meter provider with a periodic reader, exporting
/// to memory once a minute) on the whole stack.
#[divan::bench]
fn stack_with_otel(bencher: Bencher) {
    use opentelemetry::metrics::MeterProvider;
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(
            opentelemetry_sdk::metrics::PeriodicReader::builder(
                opentelemetry_sdk::metrics::InMemoryMetricExporter::default(),
            )
            .build(),
        )
        .build();
    let metrics = do_over::observe::otel::OtelMetrics::new(&provider.meter("bench"));
    let stack = Wrap::new(
        Bulkhead::new(64),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)),
            Wrap::new(RetryPolicy::fixed(3, DELAY), TimeoutPolicy::new(TIMEOUT)),
        ),
    )
    .observe(metrics.listener("bench"));
    bench_in_runtime(bencher, || poll_ready(stack.execute(op)));
}
