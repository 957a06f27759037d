//! Retry: fixed and exponential backoff, a delay cap, jitter, a retry predicate, a server's
//! `Retry-After` hint and an overall time budget, each printed as a timeline of attempts and
//! `on_retry` events. Run with `cargo run --example retry`.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use do_over::policy::Policy;
use do_over::retry::{Jitter, RetryEvent, RetryPolicy};

type Res = Result<(), Box<dyn std::error::Error>>;

/// The errors of a simulated HTTP API.
#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    /// A blip worth retrying (connection reset, 503).
    Transient(&'static str),
    /// Retrying cannot help (404, 400).
    Permanent(&'static str),
    /// 429: the server says when to come back.
    Throttled { retry_after: Duration },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Transient(m) | ApiError::Permanent(m) => f.write_str(m),
            ApiError::Throttled { retry_after } => {
                write!(f, "429 too many requests (Retry-After {retry_after:?})")
            }
        }
    }
}

/// `[+ 123 ms]`: the time since `start`.
fn at(start: Instant) -> String {
    format!("[+{:>4} ms]", start.elapsed().as_millis())
}

/// Prints an `on_retry` event.
fn log_retry(start: Instant, who: &str, ev: &RetryEvent<'_, ApiError>) {
    println!(
        "   {} {who}on_retry: retry {} in {} ms (after: {})",
        at(start),
        ev.retry,
        ev.delay.as_millis(),
        ev.error
    );
}

#[tokio::main]
async fn main() -> Res {
    let start = Instant::now();
    println!("=== do-over: retry ===\n");
    fixed_backoff().await;
    exponential_with_cap().await?;
    jitter().await?;
    predicate().await;
    retry_after_hint().await;
    time_budget().await?;
    println!("total: {} ms", start.elapsed().as_millis());
    Ok(())
}

async fn fixed_backoff() {
    println!("Scenario 1: fixed backoff (fails twice, succeeds on the third attempt)");
    println!("   max_retries=2, delay=100ms");
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let retry = RetryPolicy::fixed(2, Duration::from_millis(100))
        .on_retry(|ev: &RetryEvent<'_, ApiError>| log_retry(start, "", ev));

    let result = retry
        .execute(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                println!("   {} attempt {n}: failed (connection reset)", at(start));
                Err(ApiError::Transient("connection reset"))
            } else {
                println!("   {} attempt {n}: ok", at(start));
                Ok("done")
            }
        })
        .await;
    println!("   result: {result:?}\n");
}

async fn exponential_with_cap() -> Res {
    println!("Scenario 2: exponential backoff with a cap (the dependency never recovers)");
    println!("   max_retries=5, base=25ms, factor=2, max_delay=150ms");
    println!("   delays 25, 50, 100, then 200 and 400 capped to 150");
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let retry = RetryPolicy::builder()
        .max_retries(5)
        .exponential(Duration::from_millis(25), 2.0)
        .max_delay(Duration::from_millis(150))
        .build()?
        .on_retry(|ev: &RetryEvent<'_, ApiError>| log_retry(start, "", ev));

    let result = retry
        .execute(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            println!("   {} attempt {n}: failed (503)", at(start));
            Err::<(), _>(ApiError::Transient("503 service unavailable"))
        })
        .await;
    println!(
        "   result: {result:?} (gave up after {} attempts; the last error is returned)\n",
        attempts.load(Ordering::SeqCst)
    );
    Ok(())
}

/// One client's policy: exponential backoff with full jitter, logging under `name`.
fn jittered_client(
    name: &'static str,
    start: Instant,
) -> Result<impl Policy<ApiError>, do_over::error::ConfigError> {
    Ok(RetryPolicy::builder()
        .max_retries(3)
        .exponential(Duration::from_millis(40), 2.0)
        .jitter(Jitter::Full)
        .build()?
        .on_retry(move |ev: &RetryEvent<'_, ApiError>| {
            log_retry(start, &format!("client {name}: "), ev)
        }))
}

/// Fails `failures` times, then succeeds; logs each attempt.
async fn flaky_call(
    name: &str,
    start: Instant,
    attempts: &AtomicU32,
    failures: u32,
) -> Result<&'static str, ApiError> {
    let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= failures {
        println!("   {} client {name}: attempt {n} failed (503)", at(start));
        Err(ApiError::Transient("503"))
    } else {
        println!("   {} client {name}: attempt {n} ok", at(start));
        Ok("ok")
    }
}

async fn jitter() -> Res {
    println!("Scenario 3: full jitter (three clients hit the same outage at the same moment)");
    println!(
        "   max_retries=3, base=40ms, factor=2, jitter=Full: each delay drawn from [0, backoff]"
    );
    println!("   without jitter all three would retry together at +40, +120 and +280 ms");
    let start = Instant::now();
    let (a, b, c) = (
        jittered_client("A", start)?,
        jittered_client("B", start)?,
        jittered_client("C", start)?,
    );
    let counters = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];
    let (ra, rb, rc) = tokio::join!(
        a.execute(|| flaky_call("A", start, &counters[0], 3)),
        b.execute(|| flaky_call("B", start, &counters[1], 3)),
        c.execute(|| flaky_call("C", start, &counters[2], 3)),
    );
    println!("   results: A={ra:?} B={rb:?} C={rc:?} (delays differ on every run)\n");
    Ok(())
}

async fn predicate() {
    println!("Scenario 4: retry predicate (a permanent error is not retried)");
    println!("   max_retries=3, delay=50ms, retry_if: not Permanent");
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let retry = RetryPolicy::fixed(3, Duration::from_millis(50))
        .retry_if(|e: &ApiError| !matches!(e, ApiError::Permanent(_)))
        .on_retry(|ev: &RetryEvent<'_, ApiError>| log_retry(start, "", ev));

    let result = retry
        .execute(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                println!("   {} attempt {n}: failed (connection reset)", at(start));
                Err::<(), _>(ApiError::Transient("connection reset"))
            } else {
                println!("   {} attempt {n}: failed (404 order not found)", at(start));
                Err(ApiError::Permanent("404 order not found"))
            }
        })
        .await;
    println!(
        "   result: {result:?} (returned at once after {} attempts; 2 retries left unused)\n",
        attempts.load(Ordering::SeqCst)
    );
}

async fn retry_after_hint() {
    println!("Scenario 5: Retry-After (the server's delay replaces the backoff)");
    println!("   max_retries=3, delay=20ms, delay_hint: Throttled -> its retry_after");
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let retry = RetryPolicy::fixed(3, Duration::from_millis(20))
        .delay_hint(|e: &ApiError| match e {
            ApiError::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        })
        .on_retry(|ev: &RetryEvent<'_, ApiError>| log_retry(start, "", ev));

    let result = retry
        .execute(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            match n {
                1 => {
                    println!("   {} attempt {n}: 429, Retry-After 250ms", at(start));
                    Err(ApiError::Throttled {
                        retry_after: Duration::from_millis(250),
                    })
                }
                2 => {
                    println!("   {} attempt {n}: failed (503, no hint)", at(start));
                    Err(ApiError::Transient("503 service unavailable"))
                }
                _ => {
                    println!("   {} attempt {n}: ok", at(start));
                    Ok(n)
                }
            }
        })
        .await;
    println!("   result: {result:?}\n");
}

async fn time_budget() -> Res {
    println!("Scenario 6: overall time budget (max_elapsed)");
    println!("   max_retries=10, delay=100ms, max_elapsed=250ms");
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let retry = RetryPolicy::builder()
        .max_retries(10)
        .fixed(Duration::from_millis(100))
        .max_elapsed(Duration::from_millis(250))
        .build()?
        .on_retry(|ev: &RetryEvent<'_, ApiError>| log_retry(start, "", ev));

    let result = retry
        .execute(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            println!("   {} attempt {n}: failed (503)", at(start));
            Err::<(), _>(ApiError::Transient("503 service unavailable"))
        })
        .await;
    println!(
        "   {} result: {result:?} (a third retry would end past 250 ms, so none is made)\n",
        at(start)
    );
    Ok(())
}
