//! A resilient reqwest client: retries with backoff for transient failures, `Retry-After`
//! honoured, POST not retried, a circuit breaker and a per-attempt timeout — against a small
//! flaky server started on 127.0.0.1 by the example itself.
//!
//! Run with `cargo run --example http_client --features http`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header::RETRY_AFTER};
use axum::routing::{get, post};
use do_over::error::DoOverError;
use do_over::http::{HttpError, ResilientClient, is_retryable, retry_after};
use do_over::observe::{Event, ListenerFn};
use do_over::prelude::*;

/// A server whose `/flaky` fails twice with 503, `/busy` answers 429 with `Retry-After: 1`
/// once, and `/order` (POST) always answers 502.
async fn start_server() -> String {
    let flaky_hits = Arc::new(AtomicU32::new(0));
    let busy_hits = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route(
            "/flaky",
            get(move || {
                let n = flaky_hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        (StatusCode::SERVICE_UNAVAILABLE, "warming up")
                    } else {
                        (StatusCode::OK, "inventory: 12 items")
                    }
                }
            }),
        )
        .route(
            "/busy",
            get(move || {
                let n = busy_hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 1 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [(RETRY_AFTER, "1")],
                            "slow down",
                        )
                    } else {
                        (StatusCode::OK, [(RETRY_AFTER, "0")], "quote: 42.00")
                    }
                }
            }),
        )
        .route(
            "/order",
            post(|| async { (StatusCode::BAD_GATEWAY, "upstream down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = start_server().await;
    let start = Instant::now();
    let at = move || start.elapsed().as_millis();

    // Retry events printed as they happen.
    let log = ListenerFn(move |e: &Event| {
        if let Event::Retry { attempt, delay, .. } = e {
            println!(
                "   [+{:>5} ms] retry {attempt} in {} ms",
                at(),
                delay.as_millis()
            );
        }
    });
    // Breaker outside, retry inside it: one logical call counts once for the breaker.
    let policy = Wrap::new(
        CircuitBreaker::new(5, Duration::from_secs(30)),
        RetryPolicy::exponential(3, Duration::from_millis(100), 2.0)
            .retry_if(is_retryable)
            .delay_hint(retry_after)
            .observe(log),
    );
    let client = ResilientClient::new(reqwest::Client::new(), policy)
        .attempt_timeout(Duration::from_secs(2));

    println!("=== do-over: resilient HTTP client ===\n");

    println!("GET /flaky (503 twice, then 200; exponential backoff 100 ms, 200 ms)");
    let response = client
        .send(client.inner().get(format!("{base}/flaky")))
        .await?;
    println!(
        "   [+{:>5} ms] {} {:?}\n",
        at(),
        response.status(),
        response.text().await?
    );

    println!("GET /busy (429 with Retry-After: 1, then 200: the server's delay wins)");
    let response = client
        .send(client.inner().get(format!("{base}/busy")))
        .await?;
    println!(
        "   [+{:>5} ms] {} {:?}\n",
        at(),
        response.status(),
        response.text().await?
    );

    println!("POST /order (502; POST is not idempotent, so it is not retried)");
    match client
        .send(
            client
                .inner()
                .post(format!("{base}/order"))
                .body("1 x widget"),
        )
        .await
    {
        Err(DoOverError::Inner(e @ HttpError::Status { .. })) => {
            println!("   [+{:>5} ms] gave up at once: {e}", at())
        }
        other => println!("   [+{:>5} ms] unexpected: {other:?}", at()),
    }
    Ok(())
}
