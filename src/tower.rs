//! Tower middleware: any policy or stack as a [`Layer`] (feature `tower`).
//!
//! ```
//! use do_over::retry::RetryPolicy;
//! use do_over::tower::PolicyLayer;
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(PolicyLayer::new(RetryPolicy::fixed(2, Duration::from_millis(10))))
//!     .service(service_fn(|name: &'static str| async move {
//!         Ok::<_, std::io::Error>(format!("hello, {name}"))
//!     }));
//! assert_eq!(service.oneshot("world").await.unwrap(), "hello, world");
//! # }
//! ```
//!
//! # The `Service` contract
//!
//! * Every attempt — the first call and each retry or hedge — waits for the inner service's
//!   `poll_ready` before its `call`, on its own clone of the inner service: there is no mutex
//!   around the inner service, and an attempt never calls a service that did not say it was
//!   ready.
//! * The policy is shared (an `Arc`), never copied: a breaker or limiter in the layer sees
//!   every request of every clone of the service.
//! * `poll_ready` of the outer service is always ready: readiness is awaited per attempt,
//!   inside the policy (so a bulkhead or timeout around it also bounds the wait for
//!   readiness).
//! * Errors: `DoOverError<S::Error>`, so a policy's rejections (timeout, open circuit, full
//!   bulkhead, rate limit) and the service's own errors stay distinguishable.
//! * Each attempt sends a clone of the request (requests must be `Clone`), and each call
//!   boxes its future once: tower's `Service::Future` must be nameable. The policies
//!   themselves still allocate nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tower::{Layer, Service, ServiceExt};
use do_over_core::error::DoOverError;
use do_over_core::policy::Policy;

/// Wraps services in a policy (or stack). See the [module docs](self).
#[derive(Debug)]
pub struct PolicyLayer<P> {
    policy: Arc<P>,
}

impl<P> Clone for PolicyLayer<P> {
    fn clone(&self) -> Self {
        PolicyLayer {
            policy: self.policy.clone(),
        }
    }
}

impl<P> PolicyLayer<P> {
    /// A layer running every request through `policy`.
    pub fn new(policy: P) -> Self {
        PolicyLayer {
            policy: Arc::new(policy),
        }
    }

    /// A layer sharing an existing policy (for instance one breaker for several routes).
    pub fn shared(policy: Arc<P>) -> Self {
        PolicyLayer { policy }
    }
}

impl<P, S> Layer<S> for PolicyLayer<P> {
    type Service = PolicyService<P, S>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            policy: self.policy.clone(),
            inner,
        }
    }
}

/// A service whose every request runs through a policy. Made by [`PolicyLayer`].
#[derive(Debug)]
pub struct PolicyService<P, S> {
    policy: Arc<P>,
    inner: S,
}

impl<P, S: Clone> Clone for PolicyService<P, S> {
    fn clone(&self) -> Self {
        PolicyService {
            policy: self.policy.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<P, S> PolicyService<P, S> {
    /// The shared policy.
    pub fn policy(&self) -> &Arc<P> {
        &self.policy
    }
}

/// The boxed future of [`PolicyService`].
pub type PolicyFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, DoOverError<E>>> + Send>>;

impl<P, S, Req> Service<Req> for PolicyService<P, S>
where
    P: Policy<DoOverError<S::Error>> + 'static,
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = DoOverError<S::Error>;
    type Future = PolicyFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let policy = self.policy.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            policy
                .execute(|| {
                    let svc = inner.clone();
                    let req = req.clone();
                    async move {
                        let mut svc = svc;
                        let ready = svc.ready().await.map_err(DoOverError::Inner)?;
                        ready.call(req).await.map_err(DoOverError::Inner)
                    }
                })
                .await
        })
    }
}
