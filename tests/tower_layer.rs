//! `do_over::tower::PolicyLayer` against tower's `Service` contract: `poll_ready` before every
//! attempt's `call`, the policy shared by every clone, and rejections as errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use do_over::circuit_breaker::CircuitBreaker;
use do_over::error::DoOverError;
use do_over::retry::RetryPolicy;
use do_over::tower::PolicyLayer;
use do_over::wrap::Wrap;
use tower::{Service, ServiceBuilder, ServiceExt};

/// A service that answers 503 to its first `fail_first` calls, counting `poll_ready` and
/// `call`, and asserting that every `call` follows a ready `poll_ready` on the same clone.
#[derive(Clone)]
struct Flaky {
    fail_first: u32,
    readies: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
    ready: bool,
}

impl Service<&'static str> for Flaky {
    type Response = String;
    type Error = u16;
    type Future = std::future::Ready<Result<String, u16>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), u16>> {
        self.readies.fetch_add(1, Ordering::SeqCst);
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, path: &'static str) -> Self::Future {
        assert!(self.ready, "call without poll_ready");
        self.ready = false;
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(if n <= self.fail_first {
            Err(503)
        } else {
            Ok(format!("200 {path}"))
        })
    }
}

fn flaky(fail_first: u32) -> Flaky {
    Flaky {
        fail_first,
        readies: Arc::new(AtomicU32::new(0)),
        calls: Arc::new(AtomicU32::new(0)),
        ready: false,
    }
}

#[tokio::test(start_paused = true)]
async fn every_retry_attempt_polls_ready_before_calling() {
    let inner = flaky(2);
    let (readies, calls) = (inner.readies.clone(), inner.calls.clone());
    let service = ServiceBuilder::new()
        .layer(PolicyLayer::new(RetryPolicy::fixed(
            3,
            Duration::from_millis(10),
        )))
        .service(inner);
    assert_eq!(
        service.oneshot("/orders").await,
        Ok("200 /orders".to_string())
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3, "two 503s retried");
    assert_eq!(
        readies.load(Ordering::SeqCst),
        3,
        "one poll_ready per attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn the_policy_is_shared_by_every_clone_of_the_service() {
    let inner = flaky(u32::MAX);
    let service = ServiceBuilder::new()
        .layer(PolicyLayer::new(CircuitBreaker::new(
            2,
            Duration::from_secs(30),
        )))
        .service(inner.clone());
    let (mut a, mut b) = (service.clone(), service.clone());
    assert_eq!(
        a.ready().await.unwrap().call("/x").await,
        Err(DoOverError::Inner(503))
    );
    assert_eq!(
        b.ready().await.unwrap().call("/x").await,
        Err(DoOverError::Inner(503))
    );
    // Two failures through two clones opened the one breaker: a third clone is rejected.
    let mut c = service.clone();
    assert_eq!(
        c.ready().await.unwrap().call("/x").await,
        Err(DoOverError::CircuitOpen)
    );
    assert_eq!(
        inner.calls.load(Ordering::SeqCst),
        2,
        "the rejected call never reached the service"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stack_works_as_one_layer() {
    let inner = flaky(1);
    let calls = inner.calls.clone();
    let stack = Wrap::new(
        CircuitBreaker::new(5, Duration::from_secs(30)),
        RetryPolicy::exponential(2, Duration::from_millis(5), 2.0),
    );
    let service = ServiceBuilder::new()
        .layer(PolicyLayer::new(stack))
        .service(inner);
    assert_eq!(service.oneshot("/y").await, Ok("200 /y".to_string()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
