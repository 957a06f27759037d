//! Timeout: a fast operation passes, a slow one is cancelled at the deadline (with
//! `DoOverError` and with `std::io::Error`), a per-attempt timeout inside a retry, and an
//! overall timeout around the whole retried call. A drop guard in the operation shows the
//! moment each cancelled attempt's future is dropped.
//! Run with `cargo run --example timeout`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::retry::{RetryEvent, RetryPolicy};
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;

type Err = DoOverError<&'static str>;

/// `[+ 123 ms]`: the time since `start`.
fn at(start: Instant) -> String {
    format!("[+{:>4} ms]", start.elapsed().as_millis())
}

/// Prints a line if dropped before `done` is set: that is the timeout cancelling the work.
struct CancelWatch {
    label: String,
    start: Instant,
    done: bool,
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        if !self.done {
            println!(
                "   {} {}: cancelled (future dropped)",
                at(self.start),
                self.label
            );
        }
    }
}

/// A report query that takes `work_ms` and then succeeds.
async fn query<E>(label: String, work_ms: u64, start: Instant) -> Result<&'static str, E> {
    println!("   {} {label}: started ({work_ms} ms of work)", at(start));
    let mut watch = CancelWatch {
        label,
        start,
        done: false,
    };
    tokio::time::sleep(Duration::from_millis(work_ms)).await;
    watch.done = true;
    println!("   {} {}: finished", at(start), watch.label);
    Ok("report")
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    println!("=== do-over: timeout ===\n");
    fast_and_slow().await;
    io_error().await;
    per_attempt().await;
    overall().await;
    println!("total: {} ms", start.elapsed().as_millis());
}

async fn fast_and_slow() {
    let timeout = TimeoutPolicy::new(Duration::from_millis(100));

    println!("Scenario 1: fast operation (30 ms under a 100 ms timeout)");
    let start = Instant::now();
    let result = timeout
        .execute(|| query::<Err>("query".into(), 30, start))
        .await;
    println!("   {} result: {result:?}\n", at(start));

    println!("Scenario 2: slow operation (500 ms under a 100 ms timeout)");
    let start = Instant::now();
    let result = timeout
        .execute(|| query::<Err>("query".into(), 500, start))
        .await;
    match result {
        Err(DoOverError::Timeout) => println!("   {} result: Err(Timeout)\n", at(start)),
        other => println!("   {} result: {other:?} (unexpected)\n", at(start)),
    }
}

async fn io_error() {
    println!("Scenario 3: the same timeout with std::io::Error as the error type");
    let start = Instant::now();
    let timeout = TimeoutPolicy::new(Duration::from_millis(100));
    let result = timeout
        .execute(|| query::<std::io::Error>("query".into(), 500, start))
        .await;
    match result {
        Ok(v) => println!("   {} result: Ok({v:?}) (unexpected)\n", at(start)),
        Err(e) => println!(
            "   {} result: io::Error of kind {:?}: {e}\n",
            at(start),
            e.kind()
        ),
    }
}

async fn per_attempt() {
    println!("Scenario 4: a timeout per attempt, inside a retry");
    println!("   Wrap(retry fixed(2, 50ms), timeout 100ms); attempts 1 and 2 hang, 3 takes 30 ms");
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let policy = Wrap::new(
        RetryPolicy::fixed(2, Duration::from_millis(50)).on_retry(
            move |ev: &RetryEvent<'_, Err>| {
                println!(
                    "   {} on_retry: retry {} in {} ms (after: {})",
                    at(start),
                    ev.retry,
                    ev.delay.as_millis(),
                    ev.error
                )
            },
        ),
        TimeoutPolicy::new(Duration::from_millis(100)),
    );
    let result = policy
        .execute(|| {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let work = if n < 3 { 1_000 } else { 30 };
            query::<Err>(format!("attempt {n}"), work, start)
        })
        .await;
    println!("   {} result: {result:?}\n", at(start));
}

async fn overall() {
    println!("Scenario 5: an overall deadline around the retry as well");
    println!(
        "   Wrap(timeout 200ms, Wrap(retry fixed(5, 50ms), timeout 100ms)); every attempt hangs"
    );
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let policy = Wrap::new(
        TimeoutPolicy::new(Duration::from_millis(200)),
        Wrap::new(
            RetryPolicy::fixed(5, Duration::from_millis(50)),
            TimeoutPolicy::new(Duration::from_millis(100)),
        ),
    );
    let result = policy
        .execute(|| {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            query::<Err>(format!("attempt {n}"), 1_000, start)
        })
        .await;
    println!(
        "   {} result: {result:?} after {} of 6 allowed attempts: the outer deadline wins\n",
        at(start),
        attempts.load(Ordering::SeqCst)
    );
}
