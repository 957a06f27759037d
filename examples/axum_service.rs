//! Server-side resilience in axum: a bulkhead that sheds load with `503`, a rate limiter
//! answering `429` with `Retry-After`, and a timeout answering `504` — each a
//! `PolicyLayer` around a route. The example starts the server on 127.0.0.1, fires a burst
//! of requests at it and prints what each got.
//!
//! Run with `cargo run --example axum_service --features http`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::routing::get;
use do_over::http::rejection_response;
use do_over::prelude::*;
use do_over::tower::PolicyLayer;
use tower::ServiceBuilder;

fn app() -> Router {
    Router::new()
        // At most 2 reports render at once; the rest are turned away immediately.
        .route(
            "/report",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                "report ready"
            })
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(rejection_response))
                    .layer(PolicyLayer::new(Bulkhead::new(2))),
            ),
        )
        // 3 searches per second, bursts of 3.
        .route(
            "/search",
            get(|| async { "results" }).layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(rejection_response))
                    .layer(PolicyLayer::new(RateLimiter::new(
                        3,
                        Duration::from_secs(1),
                    ))),
            ),
        )
        // A handler that hangs is cut off after 100 ms.
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            })
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(rejection_response))
                    .layer(PolicyLayer::new(TimeoutPolicy::new(Duration::from_millis(
                        100,
                    )))),
            ),
        )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    let client = reqwest::Client::new();
    let start = Instant::now();

    println!("=== do-over: axum service ===\n");
    println!("5 concurrent GET /report (bulkhead of 2, no queue)");
    let burst: Vec<_> = (1..=5)
        .map(|i| {
            let request = client.get(format!("{base}/report")).send();
            tokio::spawn(async move {
                // Stagger slightly so the order of arrival is the order printed.
                tokio::time::sleep(Duration::from_millis(i * 5)).await;
                (i, request.await)
            })
        })
        .collect();
    for call in burst {
        let (i, response) = call.await?;
        let response = response?;
        println!(
            "   [+{:>4} ms] request {i}: {}",
            start.elapsed().as_millis(),
            response.status()
        );
    }

    println!("\n5 GET /search in a row (3 per second)");
    for i in 1..=5 {
        let response = client.get(format!("{base}/search")).send().await?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| format!(" (Retry-After: {})", v.to_str().unwrap_or("?")))
            .unwrap_or_default();
        println!(
            "   [+{:>4} ms] request {i}: {}{retry_after}",
            start.elapsed().as_millis(),
            response.status()
        );
    }

    println!("\nGET /hang (timeout 100 ms)");
    let response = client.get(format!("{base}/hang")).send().await?;
    println!(
        "   [+{:>4} ms] {}",
        start.elapsed().as_millis(),
        response.status()
    );
    Ok(())
}
