//! The trait design's deciding requirements: stacks run inside `tokio::spawn` (declared-Send
//! futures), including stacks hidden behind `impl Policy`, and operations that are not
//! `Send` run on a single-threaded executor through `LocalPolicy`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use do_over::error::DoOverError;
use do_over::policy::{LocalPolicy, Policy};
use do_over::retry::RetryPolicy;
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::{Compose, Wrap};

type Err = DoOverError<String>;

fn flaky(calls: &AtomicU32, fail_first: u32) -> Result<u32, Err> {
    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= fail_first {
        Err(DoOverError::Inner(format!("failure {n}")))
    } else {
        Ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nested_wraps_run_inside_tokio_spawn() {
    let policy = Arc::new(Wrap::new(
        TimeoutPolicy::new(Duration::from_secs(10)),
        Wrap::new(
            RetryPolicy::fixed(3, Duration::from_millis(1)),
            Wrap::new(
                RetryPolicy::exponential(2, Duration::from_millis(1), 2.0),
                Wrap::new(
                    TimeoutPolicy::new(Duration::from_secs(5)),
                    RetryPolicy::fixed(1, Duration::ZERO),
                ),
            ),
        ),
    ));
    let calls = Arc::new(AtomicU32::new(0));
    let (p, c) = (policy.clone(), calls.clone());
    let handle = tokio::spawn(async move {
        // A closure that borrows the spawned task's own state.
        let label = String::from("attempt");
        p.execute(|| {
            let c = c.clone();
            let label = &label;
            async move { flaky(&c, 3).map(|n| n + label.len() as u32 - 7) }
        })
        .await
    });
    assert_eq!(handle.await.unwrap(), Ok(4));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

// The exact shape the design must support, even though `Send + Sync` are implied.
#[allow(clippy::implied_bounds_in_impls)]
fn make_stack() -> impl Policy<Err> + Send + Sync + 'static {
    RetryPolicy::fixed(2, Duration::from_millis(1))
        .wrap(TimeoutPolicy::new(Duration::from_secs(1)))
        .wrap(RetryPolicy::exponential(1, Duration::from_millis(1), 2.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_returned_as_impl_policy_runs_inside_tokio_spawn() {
    let policy = make_stack();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let handle = tokio::spawn(async move {
        policy
            .execute(|| {
                let c = c.clone();
                async move { flaky(&c, 2) }
            })
            .await
    });
    assert_eq!(handle.await.unwrap(), Ok(3));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn non_send_operations_run_on_a_local_set() {
    let local = tokio::task::LocalSet::new();
    let state = Rc::new(RefCell::new(Vec::<u32>::new()));
    let s = state.clone();
    let out = local
        .run_until(async move {
            let policy = Wrap::new(
                RetryPolicy::fixed(3, Duration::from_millis(10)),
                TimeoutPolicy::new(Duration::from_secs(1)),
            );
            tokio::task::spawn_local(async move {
                policy
                    .execute_local(|| {
                        let s = s.clone(); // Rc: not Send
                        async move {
                            let n = s.borrow().len() as u32 + 1;
                            s.borrow_mut().push(n);
                            tokio::task::yield_now().await; // holds the Rc across an await
                            if n < 3 {
                                Err(DoOverError::Inner(format!("try {n}")))
                            } else {
                                Ok(n)
                            }
                        }
                    })
                    .await
            })
            .await
            .unwrap()
        })
        .await;
    assert_eq!(out, Ok(3));
    assert_eq!(*state.borrow(), vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_reference_stack_runs_inside_tokio_spawn() {
    use do_over::bulkhead::Bulkhead;
    use do_over::circuit_breaker::CircuitBreaker;
    use do_over::rate_limit::RateLimiter;
    let policy = Arc::new(Wrap::new(
        Bulkhead::new(10),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)),
            Wrap::new(
                RateLimiter::new(100, Duration::from_secs(1)),
                Wrap::new(
                    RetryPolicy::exponential(3, Duration::from_millis(1), 2.0),
                    TimeoutPolicy::new(Duration::from_secs(5)),
                ),
            ),
        ),
    ));
    let calls = Arc::new(AtomicU32::new(0));
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (p, c) = (policy.clone(), calls.clone());
        handles.push(tokio::spawn(async move {
            p.execute(|| {
                let c = c.clone();
                async move { flaky(&c, 0) }
            })
            .await
        }));
    }
    for h in handles {
        assert!(h.await.unwrap().is_ok());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 8);
    assert_eq!(policy.outer.available(), 10);
}
