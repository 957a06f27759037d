//! The Quick Start: retry three times with 100 ms between attempts, each attempt bounded by a
//! 5 s timeout. Run with `cargo run --example quickstart`.
//!
//! The operation fails twice before it succeeds, so the timeline shows both retries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use do_over::{policy::Policy, retry::RetryPolicy, timeout::TimeoutPolicy, wrap::Wrap};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let attempts = AtomicU32::new(0);

    // Retry up to 3 times, 100 ms apart; each attempt gets its own 5 s timeout.
    let policy = Wrap::new(
        RetryPolicy::fixed(3, Duration::from_millis(100)),
        TimeoutPolicy::new(Duration::from_secs(5)),
    );

    let result = policy
        .execute(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let at = start.elapsed().as_millis();
            if n < 3 {
                println!("[+{at:>4} ms] attempt {n}: connection reset");
                Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
            } else {
                println!("[+{at:>4} ms] attempt {n}: ok");
                Ok::<_, std::io::Error>("Hello, resilience!")
            }
        })
        .await?;

    println!(
        "{result} (after {} attempts)",
        attempts.load(Ordering::SeqCst)
    );
    Ok(())
}
