//! The three exporters against the real things: a `tracing` subscriber, a Prometheus
//! registry scraped over HTTP on 127.0.0.1, and the OpenTelemetry SDK's in-memory exporter.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use do_over::error::DoOverError;
use do_over::observe::Observe;
use do_over::observe::otel::OtelMetrics;
use do_over::observe::prometheus::PrometheusMetrics;
use do_over::observe::{Listener, TracingListener};
use do_over::prelude::*;

type E = DoOverError<&'static str>;

/// Two calls through a retry (one flaky twice, so two retries) and one rate-limited call, all
/// reported to `listener`.
async fn drive<L: Listener + Clone + Send + Sync>(listener: L) {
    let retry = RetryPolicy::fixed(3, Duration::ZERO).observe(listener.clone());
    let calls = AtomicU32::new(0);
    let out = retry
        .execute(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(DoOverError::Inner("flaky")),
                _ => Ok::<_, E>(()),
            }
        })
        .await;
    assert_eq!(out, Ok(()));
    let breaker = CircuitBreaker::new(1, Duration::from_secs(60)).observe(listener.clone());
    let out = breaker
        .execute(|| async { Err::<(), E>(DoOverError::Inner("down")) })
        .await;
    assert_eq!(out, Err(DoOverError::Inner("down")));
    let limiter = RateLimiter::new(1, Duration::from_secs(60)).observe(listener);
    let ok = || async { Ok::<_, E>(()) };
    assert!(limiter.execute(ok).await.is_ok());
    assert!(matches!(
        limiter.execute(ok).await,
        Err(DoOverError::RateLimited { .. })
    ));
}

mod tracing_capture {
    use std::fmt::Write;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer};

    /// Renders each event as `level field=value ...`.
    pub struct Capture(pub Arc<Mutex<Vec<String>>>);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut fields = Fields(event.metadata().level().to_string());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tracing_listener_emits_structured_events() {
    use tracing_subscriber::layer::SubscriberExt;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(tracing_capture::Capture(lines.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    drive(TracingListener::new("orders")).await;

    let lines = lines.lock().unwrap();
    let find = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(find("event=retry"), 2, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("INFO")
            && l.contains("pipeline=orders")
            && l.contains("attempt=2")
            && l.contains("cause=error")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("WARN")
            && l.contains("event=circuit_transition")
            && l.contains("from=closed")
            && l.contains("to=open")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("WARN")
            && l.contains("event=rejected")
            && l.contains("rejection=rate_limited")),
        "{lines:#?}"
    );
    assert_eq!(find("event=success"), 2, "{lines:#?}");
    assert_eq!(find("event=failure"), 1, "{lines:#?}");
}

/// The value of the exposition line that starts with `series ` (labels included).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_registry_scraped_over_http_has_the_numbers() {
    use axum::{Router, routing::get};
    use prometheus_client::registry::Registry;

    let mut registry = Registry::default();
    let metrics = PrometheusMetrics::register(&mut registry);
    drive(metrics.listener("orders")).await;
    // A second pipeline, observed from outside a stack, keeps its own series.
    let stack = Wrap::new(Bulkhead::new(4), TimeoutPolicy::new(Duration::from_secs(5)))
        .observe(metrics.listener("search"));
    for _ in 0..3 {
        stack.execute(|| async { Ok::<_, E>(()) }).await.unwrap();
    }

    let registry = Arc::new(registry);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
                text
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = |labels: &str| sample(&text, &format!("resilience_events_total{{{labels}}}"));
    assert_eq!(events(r#"pipeline="orders",event="retry",detail="""#), 2.0);
    assert_eq!(
        events(r#"pipeline="orders",event="success",detail="""#),
        2.0
    );
    assert_eq!(
        events(r#"pipeline="orders",event="failure",detail="""#),
        1.0
    );
    assert_eq!(
        events(r#"pipeline="orders",event="rejected",detail="rate_limited""#),
        1.0
    );
    assert_eq!(
        events(r#"pipeline="orders",event="circuit_transition",detail="open""#),
        1.0
    );
    assert_eq!(
        events(r#"pipeline="search",event="success",detail="""#),
        3.0
    );
    let count = |labels: &str| {
        sample(
            &text,
            &format!("resilience_call_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(count(r#"pipeline="orders",outcome="success""#), 2.0);
    assert_eq!(count(r#"pipeline="orders",outcome="rejected""#), 1.0);
    assert_eq!(count(r#"pipeline="search",outcome="success""#), 3.0);
    assert!(text.contains("# TYPE resilience_call_duration_seconds histogram"));
    assert!(text.contains("# UNIT resilience_call_duration_seconds seconds"));
}

#[tokio::test(flavor = "current_thread")]
async fn otel_instruments_reach_the_sdk_exporter() {
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let metrics = OtelMetrics::new(&provider.meter("do-over-test"));
    drive(metrics.listener("orders")).await;
    provider.force_flush().unwrap();

    let finished = exporter.get_finished_metrics().unwrap();
    let all: Vec<_> = finished
        .iter()
        .flat_map(|r| r.scope_metrics())
        .flat_map(|s| s.metrics())
        .collect();
    let attr = |attrs: Vec<&opentelemetry::KeyValue>, key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
            .unwrap_or_default()
    };

    let events = all
        .iter()
        .find(|m| m.name() == "resilience.events")
        .expect("resilience.events exported");
    let AggregatedMetrics::U64(MetricData::Sum(sum)) = events.data() else {
        panic!("resilience.events is a u64 sum: {:?}", events.data());
    };
    let mut counts: Vec<(String, String, u64)> = sum
        .data_points()
        .map(|p| {
            let attrs: Vec<_> = p.attributes().collect();
            assert_eq!(attr(attrs.clone(), "pipeline"), "orders");
            (
                attr(attrs.clone(), "event"),
                attr(attrs, "detail"),
                p.value(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("circuit_transition".into(), "open".into(), 1),
            ("failure".into(), "".into(), 1),
            ("rejected".into(), "rate_limited".into(), 1),
            ("retry".into(), "".into(), 2),
            ("success".into(), "".into(), 2),
        ]
    );

    let durations = all
        .iter()
        .find(|m| m.name() == "resilience.call.duration")
        .expect("resilience.call.duration exported");
    assert_eq!(durations.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(h)) = durations.data() else {
        panic!("resilience.call.duration is an f64 histogram");
    };
    let total: u64 = h.data_points().map(|p| p.count()).sum();
    assert_eq!(total, 4, "two successes, one failure, one rejection");
}
