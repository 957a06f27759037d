//! Retry on Tokio's paused clock: exact attempt counts and exact delays.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::random::SeededRandom;
use do_over::retry::{Jitter, RetryBuilder, RetryPolicy};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// Runs `policy` on an operation that fails `fail_first` times, recording when (relative
/// to the start, in virtual ms) each call happened.
async fn run_recording<P: Policy<DoOverError<String>>>(
    policy: &P,
    fail_first: u32,
) -> (Result<u32, DoOverError<String>>, Vec<u128>) {
    let start = Instant::now();
    let calls = AtomicU32::new(0);
    let times = Mutex::new(Vec::new());
    let out = policy
        .execute(|| async {
            times.lock().unwrap().push(start.elapsed().as_millis());
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= fail_first {
                Err(DoOverError::Inner(format!("failure {n}")))
            } else {
                Ok(n)
            }
        })
        .await;
    (out, times.into_inner().unwrap())
}

#[tokio::test(start_paused = true)]
async fn fixed_waits_the_same_delay_before_each_retry() {
    let retry = RetryPolicy::fixed(3, 100 * MS);
    let (out, times) = run_recording(&retry, 2).await;
    assert_eq!(out, Ok(3));
    assert_eq!(times, [0, 100, 200]);
}

#[tokio::test(start_paused = true)]
async fn max_retries_counts_retries_and_the_last_error_is_returned() {
    let retry = RetryPolicy::fixed(3, 10 * MS);
    let (out, times) = run_recording(&retry, u32::MAX).await;
    assert_eq!(times.len(), 4, "1 attempt + 3 retries");
    assert_eq!(out, Err(DoOverError::Inner("failure 4".to_string())));
}

#[tokio::test(start_paused = true)]
async fn exponential_delays_start_at_base() {
    // (5, 100 ms, 2.0) waits 100, 200, 400, 800, 1600 ms.
    let retry = RetryPolicy::exponential(5, 100 * MS, 2.0);
    let (out, times) = run_recording(&retry, u32::MAX).await;
    assert_eq!(times, [0, 100, 300, 700, 1500, 3100]);
    assert_eq!(out, Err(DoOverError::Inner("failure 6".to_string())));
}

#[tokio::test(start_paused = true)]
async fn linear_delays_grow_by_step() {
    let retry = RetryPolicy::linear(3, 50 * MS, 25 * MS);
    let (_, times) = run_recording(&retry, u32::MAX).await;
    assert_eq!(times, [0, 50, 125, 225]);
}

#[tokio::test(start_paused = true)]
async fn success_on_first_attempt_never_sleeps() {
    let retry = RetryPolicy::fixed(3, Duration::from_secs(60));
    let start = Instant::now();
    let (out, times) = run_recording(&retry, 0).await;
    assert_eq!((out, times), (Ok(1), vec![0]));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn max_delay_caps_the_backoff() {
    let retry = RetryBuilder::new(do_over::time::TokioTimer)
        .max_retries(4)
        .exponential(100 * MS, 3.0)
        .max_delay(500 * MS)
        .build()
        .unwrap();
    let (_, times) = run_recording(&retry, u32::MAX).await;
    // 100, 300, then capped 900 -> 500, 2700 -> 500
    assert_eq!(times, [0, 100, 400, 900, 1400]);
}

#[tokio::test(start_paused = true)]
async fn predicate_chooses_which_errors_are_retried() {
    let retry = RetryPolicy::fixed(5, 10 * MS)
        .retry_if(|e: &io::Error| e.kind() == io::ErrorKind::ConnectionReset);
    let calls = AtomicU32::new(0);
    let out: Result<(), io::Error> = retry
        .execute(|| async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let kind = if n < 2 {
                io::ErrorKind::ConnectionReset
            } else {
                io::ErrorKind::NotFound
            };
            Err(io::Error::from(kind))
        })
        .await;
    assert_eq!(out.unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two resets retried, NotFound returned at once"
    );
}

#[derive(Debug, PartialEq)]
enum HttpError {
    TooMany { retry_after: Duration },
    Unavailable,
}

#[tokio::test(start_paused = true)]
async fn delay_hint_overrides_backoff_and_cap() {
    let retry = RetryBuilder::new(do_over::time::TokioTimer)
        .max_retries(3)
        .fixed(100 * MS)
        .max_delay(200 * MS)
        .build()
        .unwrap()
        .delay_hint(|e: &HttpError| match e {
            HttpError::TooMany { retry_after } => Some(*retry_after),
            HttpError::Unavailable => None,
        });
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    let calls = AtomicU32::new(0);
    let out: Result<(), HttpError> = retry
        .execute(|| async {
            times.lock().unwrap().push(start.elapsed().as_millis());
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(HttpError::TooMany {
                    retry_after: Duration::from_secs(3),
                }),
                _ => Err(HttpError::Unavailable),
            }
        })
        .await;
    assert_eq!(out, Err(HttpError::Unavailable));
    assert_eq!(*times.lock().unwrap(), [0, 3000, 3100, 3200]);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_budget_stops_retries_with_the_last_error() {
    let retry = RetryBuilder::new(do_over::time::TokioTimer)
        .max_retries(10)
        .fixed(300 * MS)
        .max_elapsed(Duration::from_secs(1))
        .build()
        .unwrap();
    let (out, times) = run_recording(&retry, u32::MAX).await;
    // Retries at 300, 600, 900; the next would end at 1200 > 1000, so it is not made.
    assert_eq!(times, [0, 300, 600, 900]);
    assert_eq!(out, Err(DoOverError::Inner("failure 4".to_string())));
}

#[tokio::test(start_paused = true)]
async fn on_retry_hook_sees_each_retry_its_delay_and_error() {
    let seen = Mutex::new(Vec::new());
    let retry = RetryPolicy::exponential(3, 10 * MS, 2.0).on_retry(
        |ev: &do_over::retry::RetryEvent<'_, DoOverError<String>>| {
            seen.lock()
                .unwrap()
                .push((ev.retry, ev.delay, ev.error.to_string()));
        },
    );
    let (out, _) = run_recording(&retry, 2).await;
    assert_eq!(out, Ok(3));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, 10 * MS, "failure 1".to_string()),
            (2, 20 * MS, "failure 2".to_string())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_is_reproducible_and_bounded() {
    let make = || {
        RetryBuilder::new(do_over::time::TokioTimer)
            .max_retries(6)
            .exponential(100 * MS, 2.0)
            .jitter(Jitter::Full)
            .build()
            .unwrap()
            .with_random(SeededRandom::new(1234))
    };
    let (_, a) = run_recording(&make(), u32::MAX).await;
    let (_, b) = run_recording(&make(), u32::MAX).await;
    assert_eq!(a, b, "same seed, same delays");
    let gaps: Vec<u128> = a.windows(2).map(|w| w[1] - w[0]).collect();
    for (k, gap) in gaps.iter().enumerate() {
        assert!(*gap <= 100 << k, "retry {} waited {gap} ms", k + 1);
    }
    let plain: u128 = (0..6).map(|k| 100u128 << k).sum();
    assert!(
        a[6] < plain,
        "full jitter shortens the total wait on average"
    );
}

#[tokio::test(start_paused = true)]
async fn huge_backoffs_saturate_instead_of_panicking() {
    let retry = RetryPolicy::exponential(3, Duration::from_secs(u64::MAX / 4), 1e300);
    let calls = AtomicU32::new(0);
    let fut = retry.execute(|| async {
        calls.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>(DoOverError::Inner("boom".to_string()))
    });
    // The second attempt would come centuries later: the call is still waiting after a year.
    let r = tokio::time::timeout(Duration::from_secs(365 * 86_400), fut).await;
    assert!(r.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
