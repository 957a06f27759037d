//! Rate limiter: a burst is admitted until the bucket is empty, then calls are rejected with
//! `RateLimited { retry_after }`; tokens refill continuously, so waiting `retry_after` is
//! enough; and with `with_max_wait` calls queue for their token instead of being rejected.
//! Run with `cargo run --example rate_limiter`.

use std::time::{Duration, Instant};

use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::rate_limit::RateLimiter;

/// `[+ 123 ms]`: the time since `start`.
fn at(start: Instant) -> String {
    format!("[+{:>4} ms]", start.elapsed().as_millis())
}

/// Sends request `id` through `limiter`; returns the `retry_after` of a rejection.
async fn send(limiter: &RateLimiter, id: u32, start: Instant) -> Option<Duration> {
    let arrived = Instant::now();
    let result = limiter
        .execute(|| async { Ok::<_, DoOverError<()>>(()) })
        .await;
    let waited = arrived.elapsed().as_millis();
    match result {
        Ok(()) if waited == 0 => {
            println!(
                "   {} request {id}: sent (tokens left: {})",
                at(start),
                limiter.available()
            );
            None
        }
        Ok(()) => {
            println!(
                "   {} request {id}: sent after waiting {waited} ms for its token",
                at(start)
            );
            None
        }
        Err(DoOverError::RateLimited { retry_after }) => {
            println!(
                "   {} request {id}: RateLimited, retry after {} ms",
                at(start),
                retry_after.as_millis()
            );
            Some(retry_after)
        }
        Err(e) => {
            println!("   {} request {id}: failed: {e:?}", at(start));
            None
        }
    }
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    println!("=== do-over: rate_limiter ===\n");

    println!("Scenario 1: a burst (7 requests back to back)");
    println!("   capacity=5 per 500ms: bursts of 5, then one token every 100 ms");
    let t = Instant::now();
    let limiter = RateLimiter::new(5, Duration::from_millis(500));
    for id in 1..=7 {
        send(&limiter, id, t).await;
    }
    println!();

    println!("Scenario 2: refill over time (the same limiter, 250 ms later)");
    tokio::time::sleep(Duration::from_millis(250)).await;
    println!("   {} {} tokens refilled", at(t), limiter.available());
    let mut retry_after = None;
    for id in 8..=10 {
        retry_after = send(&limiter, id, t).await.or(retry_after);
    }
    if let Some(wait) = retry_after {
        println!(
            "   -- the client honours retry_after and sleeps {} ms --",
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
        send(&limiter, 10, t).await;
    }
    println!();

    println!("Scenario 3: waiting for a token instead of failing (6 requests at once)");
    println!("   capacity=2 per 200ms (a token every 100 ms), max_wait=250ms");
    let t = Instant::now();
    let limiter =
        RateLimiter::new(2, Duration::from_millis(200)).with_max_wait(Duration::from_millis(250));
    tokio::join!(
        send(&limiter, 1, t),
        send(&limiter, 2, t),
        send(&limiter, 3, t),
        send(&limiter, 4, t),
        send(&limiter, 5, t),
        send(&limiter, 6, t),
    );
    println!("   requests 3 and 4 reserved the next two tokens and were sent in arrival order;");
    println!("   5 and 6 would have needed 300 ms, over max_wait, so they failed at once\n");

    println!("total: {} ms", start.elapsed().as_millis());
}
