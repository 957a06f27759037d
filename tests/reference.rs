//! The reference (do-over 0.1.0) README's Quick Start and its retry, timeout and composition
//! snippets, as tests: the calls compile with the same imports and shapes, and do what the
//! reference promised.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use do_over::error::DoOverError;
use do_over::{policy::Policy, retry::RetryPolicy, timeout::TimeoutPolicy, wrap::Wrap};

// The Quick Start, with the reference's imports, signature and error type.
async fn quick_start() -> Result<&'static str, Box<dyn std::error::Error>> {
    let policy = Wrap::new(
        RetryPolicy::fixed(3, Duration::from_millis(100)),
        TimeoutPolicy::new(Duration::from_secs(5)),
    );
    let result = policy
        .execute(|| async { Ok::<_, std::io::Error>("Hello, resilience!") })
        .await?;
    Ok(result)
}

#[tokio::test(start_paused = true)]
async fn quick_start_compiles_as_written_and_runs() {
    assert_eq!(quick_start().await.unwrap(), "Hello, resilience!");
}

#[tokio::test(start_paused = true)]
async fn quick_start_stack_turns_a_hang_into_an_io_timed_out() {
    let policy = Wrap::new(
        RetryPolicy::fixed(3, Duration::from_millis(100)),
        TimeoutPolicy::new(Duration::from_secs(5)),
    );
    let start = tokio::time::Instant::now();
    let err = policy
        .execute(|| async {
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>("never")
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), Duration::from_millis(4 * 5000 + 3 * 100));
}

#[tokio::test(start_paused = true)]
async fn retry_snippets() {
    // Fixed: up to 3 retries, 100 ms apart.
    let retry = RetryPolicy::fixed(3, Duration::from_millis(100));
    let result = retry
        .execute(|| async { Ok::<_, std::io::Error>("success") })
        .await;
    assert_eq!(result.unwrap(), "success");

    // Exponential: "Delays will be: 100ms, 200ms, 400ms, 800ms, 1600ms" — and they are.
    let retry = RetryPolicy::exponential(5, Duration::from_millis(100), 2.0);
    let start = tokio::time::Instant::now();
    let calls = AtomicU32::new(0);
    let _ = retry
        .execute(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(std::io::Error::other("down"))
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100 + 200 + 400 + 800 + 1600)
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_snippet_matches_on_the_timeout_variant() {
    let timeout = TimeoutPolicy::new(Duration::from_secs(5));
    let outcome = match timeout
        .execute(|| async {
            tokio::time::sleep(Duration::from_secs(6)).await;
            Ok::<_, DoOverError<std::io::Error>>("slow")
        })
        .await
    {
        Ok(_) => "completed",
        Err(DoOverError::Timeout) => "timed out",
        Err(_) => "other error",
    };
    assert_eq!(outcome, "timed out");
}

#[tokio::test(start_paused = true)]
async fn composition_snippet_each_retry_attempt_has_its_own_timeout() {
    let retry = RetryPolicy::fixed(3, Duration::from_millis(100));
    let timeout = TimeoutPolicy::new(Duration::from_secs(5));
    let policy = Wrap::new(retry, timeout);
    let calls = AtomicU32::new(0);
    let result = policy
        .execute(|| async {
            // First attempt hangs past its 5 s timeout; the retry answers at once.
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok::<_, DoOverError<String>>("external api result")
        })
        .await;
    assert_eq!(result, Ok("external api result"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// The error type of the reference's real-world example: operations return
// `DoOverError<String>` and `?` on a `String` error converts into it.
#[tokio::test(start_paused = true)]
async fn question_mark_on_the_inner_error_converts_into_do_over_error() {
    fn parse(s: &str) -> Result<u32, String> {
        s.parse().map_err(|_| format!("not a number: {s}"))
    }
    let retry = RetryPolicy::fixed(1, Duration::from_millis(1));
    let out: Result<u32, DoOverError<String>> = retry.execute(|| async { Ok(parse("x1")?) }).await;
    assert_eq!(out, Err(DoOverError::Inner("not a number: x1".to_string())));
}

// The reference README's "Real-World Example": breaker around retry around timeout, with
// `DoOverError<String>` as the application's error type.
#[tokio::test(start_paused = true)]
async fn real_world_example_stack() {
    use do_over::circuit_breaker::CircuitBreaker;
    type AppError = DoOverError<String>;

    let policy = Wrap::new(
        CircuitBreaker::new(5, Duration::from_secs(30)),
        Wrap::new(
            RetryPolicy::exponential(3, Duration::from_millis(100), 2.0),
            TimeoutPolicy::new(Duration::from_secs(10)),
        ),
    );
    let user_data = policy
        .execute(|| async { Ok::<_, AppError>("{ \"name\": \"Alice\", \"id\": 123 }".to_string()) })
        .await;
    assert_eq!(user_data.unwrap(), "{ \"name\": \"Alice\", \"id\": 123 }");

    // Five calls whose every attempt fails (4 attempts each) open the breaker: the retries
    // inside count as one failed call each.
    let attempts = AtomicU32::new(0);
    for _ in 0..5 {
        let r = policy
            .execute(|| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<String, AppError>(DoOverError::Inner("503".to_string()))
            })
            .await;
        assert_eq!(r, Err(DoOverError::Inner("503".to_string())));
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 20);
    let r = policy
        .execute(|| async { Ok::<_, AppError>(String::new()) })
        .await;
    assert_eq!(r, Err(DoOverError::CircuitOpen));
}
