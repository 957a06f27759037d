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
//! * Requests are cloned only for policies that re-issue them: with a retry or hedge in the
//!   stack (its [`Attempts`] kind is [`Many`]) each attempt sends a clone, so the request must
//!   be `Clone`; with only timeouts, bulkheads, rate limiters and breakers ([`Once`]) the
//!   request is moved into its single attempt and need not be `Clone` — so axum's
//!   `Request<Body>` works, and server-side stacks wrap handlers directly.
//! * Each call boxes its future once: tower's `Service::Future` must be nameable. The
//!   policies themselves still allocate nothing.
//!
//! # As axum middleware
//!
//! axum wants infallible services, so put a `HandleErrorLayer` in front that turns the
//! policy's rejections into responses; with feature `http`,
//! [`rejection_response`](crate::http::rejection_response) answers `503` for a full bulkhead
//! or open circuit, `429` with `Retry-After` when rate limited and `504` on timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::sync::Mutex;

use ::tower::{Layer, Service, ServiceExt};
use do_over_core::error::DoOverError;
use do_over_core::policy::{AttemptKind, Attempts, Many, Once, Policy};

/// How a request reaches a policy's attempts: moved into the single attempt of a [`Once`]
/// policy, cloned for each attempt of a [`Many`] policy.
pub trait RequestSlot<Req>: AttemptKind {
    /// Holds the request until the attempts take it.
    type Slot: Send + Sync;
    /// Stores the request.
    fn fill(req: Req) -> Self::Slot;
    /// The request for one attempt.
    fn take(slot: &Self::Slot) -> Req;
}

impl<Req: Send> RequestSlot<Req> for Once {
    type Slot = Mutex<Option<Req>>;

    fn fill(req: Req) -> Self::Slot {
        Mutex::new(Some(req))
    }

    fn take(slot: &Self::Slot) -> Req {
        slot.lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("a policy whose `Attempts::Kind` is `Once` ran its operation twice")
    }
}

impl<Req: Clone + Send + Sync> RequestSlot<Req> for Many {
    type Slot = Req;

    fn fill(req: Req) -> Self::Slot {
        req
    }

    fn take(slot: &Self::Slot) -> Req {
        slot.clone()
    }
}

/// Wraps services in a policy (or stack). See the [module docs](self).
///
/// One policy can guard several services: [`shared`](Self::shared) keeps a handle on it.
///
/// ```
/// use do_over::circuit_breaker::{CircuitBreaker, CircuitState};
/// use do_over::error::DoOverError;
/// use do_over::tower::PolicyLayer;
/// use std::{sync::Arc, time::Duration};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = Arc::new(CircuitBreaker::new(1, Duration::from_secs(30)));
/// let layer = PolicyLayer::shared(breaker.clone());
/// let orders = layer.layer(service_fn(|_: ()| async { Err::<&str, _>("db down") }));
/// let stock = layer.layer(service_fn(|_: ()| async { Ok::<_, &str>("12 left") }));
/// assert_eq!(orders.oneshot(()).await, Err(DoOverError::Inner("db down")));
/// // One breaker for both routes: the failure opened it for `stock` too.
/// assert_eq!(breaker.state(), CircuitState::Open);
/// assert_eq!(stock.oneshot(()).await, Err(DoOverError::CircuitOpen));
/// # }
/// ```
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
///
/// ```
/// use do_over::timeout::TimeoutPolicy;
/// use do_over::tower::PolicyLayer;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// struct Upload(Vec<u8>); // not `Clone`: fine, a timeout runs its request once
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let service = PolicyLayer::new(TimeoutPolicy::new(Duration::from_secs(5)))
///     .layer(service_fn(|u: Upload| async move { Ok::<_, std::io::Error>(u.0.len()) }));
/// assert_eq!(service.policy().duration(), Duration::from_secs(5));
/// assert_eq!(service.oneshot(Upload(vec![0; 3])).await.unwrap(), 3);
/// # }
/// ```
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
    P: Policy<DoOverError<S::Error>> + Attempts + 'static,
    P::Kind: RequestSlot<Req>,
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Send + 'static,
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
        let slot = <P::Kind as RequestSlot<Req>>::fill(req);
        Box::pin(async move {
            policy
                .execute(|| {
                    let svc = inner.clone();
                    let req = <P::Kind as RequestSlot<Req>>::take(&slot);
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
