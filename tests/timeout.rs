//! Timeout and composition on Tokio's paused clock.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::retry::RetryPolicy;
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::{Compose, Wrap};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

/// Sets its flag when dropped: proves an operation's future was cancelled.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn expiry_cancels_the_operation_at_the_deadline() {
    let timeout = TimeoutPolicy::new(Duration::from_secs(1));
    let dropped = Arc::new(AtomicBool::new(false));
    let dropped_at = Arc::new(std::sync::Mutex::new(None));
    let start = Instant::now();
    let (d, at) = (dropped.clone(), dropped_at.clone());
    let out: Result<(), DoOverError<()>> = timeout
        .execute(|| {
            let (d, at) = (d.clone(), at.clone());
            async move {
                let _flag = DropFlag(d);
                struct Stamp(Arc<std::sync::Mutex<Option<Duration>>>, Instant);
                impl Drop for Stamp {
                    fn drop(&mut self) {
                        *self.0.lock().unwrap() = Some(self.1.elapsed());
                    }
                }
                let _stamp = Stamp(at, start);
                sleep(Duration::from_secs(10)).await;
                Ok(())
            }
        })
        .await;
    assert_eq!(out, Err(DoOverError::Timeout));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(*dropped_at.lock().unwrap(), Some(Duration::from_secs(1)));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn inner_errors_and_values_pass_through_unchanged() {
    let timeout = TimeoutPolicy::new(Duration::from_secs(1));
    let err: Result<(), DoOverError<&str>> = timeout
        .execute(|| async { Err(DoOverError::Inner("no such user")) })
        .await;
    assert_eq!(err, Err(DoOverError::Inner("no such user")));
    let ok: Result<u8, DoOverError<()>> = timeout
        .execute(|| async {
            sleep(999 * MS).await;
            Ok(5)
        })
        .await;
    assert_eq!(ok, Ok(5));
}

#[tokio::test(start_paused = true)]
async fn a_caller_keeps_io_error_and_a_timeout_is_timed_out() {
    let timeout = TimeoutPolicy::new(50 * MS);
    let err = timeout
        .execute(|| async {
            sleep(Duration::from_secs(1)).await;
            Ok::<_, io::Error>("late")
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<do_over::error::Rejection>());
    assert_eq!(inner, Some(&do_over::error::Rejection::Timeout));
}

#[tokio::test(start_paused = true)]
async fn timeout_inside_retry_bounds_each_attempt() {
    let policy = Wrap::new(
        RetryPolicy::fixed(2, 100 * MS),
        TimeoutPolicy::new(Duration::from_secs(1)),
    );
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let out: Result<(), DoOverError<()>> = policy
        .execute(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .await;
    assert_eq!(out, Err(DoOverError::Timeout));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // 3 timed-out attempts of 1 s and 2 delays of 100 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(3200));
}

#[tokio::test(start_paused = true)]
async fn timeout_outside_retry_bounds_the_whole_call() {
    let policy =
        TimeoutPolicy::new(Duration::from_millis(250)).wrap(RetryPolicy::fixed(10, 100 * MS));
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let out: Result<(), DoOverError<&str>> = policy
        .execute(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(DoOverError::Inner("down"))
        })
        .await;
    assert_eq!(out, Err(DoOverError::Timeout));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "calls at 0, 100 and 200 ms"
    );
    assert_eq!(start.elapsed(), 250 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_retried_timeout_then_success() {
    let policy = Wrap::new(RetryPolicy::fixed(3, 10 * MS), TimeoutPolicy::new(100 * MS));
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let out: Result<u32, DoOverError<()>> = policy
        .execute(|| async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                sleep(Duration::from_secs(5)).await;
            }
            Ok(n)
        })
        .await;
    assert_eq!(out, Ok(2));
    assert_eq!(start.elapsed(), 110 * MS);
}
