//! HTTP (feature `http`): a resilient reqwest client path, and status codes for policy
//! rejections on servers.
//!
//! # Client
//!
//! [`ResilientClient`] sends a `reqwest::Request` through any policy or stack. Each attempt
//! sends a fresh copy of the request and classifies the outcome into an [`HttpError`]:
//!
//! * **Transient** (retried by [`is_retryable`]): connect errors and timeouts, and the
//!   statuses `408`, `429` and every `5xx` — configurable with
//!   [`retry_status`](ResilientClient::retry_status).
//! * **Idempotency**: only `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT` and `DELETE` are
//!   retried; a `POST` or `PATCH` failure is final unless you opt in with
//!   [`retry_non_idempotent`](ResilientClient::retry_non_idempotent). A request whose body
//!   cannot be copied (a stream) is sent once.
//! * **`Retry-After`** (seconds or HTTP-date) on the response becomes the retry's delay
//!   through [`retry_after`] as the policy's delay hint, and can also hold off a
//!   [rate limiter](ResilientClient::hold_off_limiter) so other calls wait too.
//!   A `Retry-After` longer than [`max_retry_after`](ResilientClient::max_retry_after)
//!   (default five minutes) is not waited for: the error goes back to the caller.
//! * Per-attempt timeouts: prefer [`attempt_timeout`](ResilientClient::attempt_timeout)
//!   over an inner `TimeoutPolicy` — it is classified per method (a timed-out `POST` is not
//!   retried), where a `TimeoutPolicy`'s rejection cannot tell what it interrupted.
//! * A request that cannot be repeated (not idempotent, or a streaming body) is sent at most
//!   once: should the policy still run another attempt (a predicate other than
//!   [`is_retryable`], a hedge, an inner `TimeoutPolicy`), that attempt fails with
//!   [`HttpError::NotReplayable`] without sending anything.
//!
//! ```no_run
//! use do_over::http::{ResilientClient, is_retryable, retry_after};
//! use do_over::prelude::*;
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let retry = RetryPolicy::exponential(3, Duration::from_millis(200), 2.0)
//!     .retry_if(is_retryable)
//!     .delay_hint(retry_after);
//! let client = ResilientClient::new(reqwest::Client::new(), retry)
//!     .attempt_timeout(Duration::from_secs(2));
//! let response = client.send(client.inner().get("http://127.0.0.1:8080/users/7")).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Server
//!
//! [`status_for`] and [`rejection_response`] turn a policy's rejection into the response a
//! client expects: `503 Service Unavailable` for a full bulkhead or an open circuit, `429 Too Many Requests` with `Retry-After` when rate limited,
//! `504 Gateway Timeout` on timeout, `500` for the handler's own error. See
//! [`tower`](crate::tower) for axum middleware.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ::http::header::{HeaderValue, RETRY_AFTER};
use ::http::{Method, StatusCode};
use do_over_core::error::{DoOverError, MAX_WAIT};
use do_over_core::policy::Policy;

/// The rate limiter that [`ResilientClient::hold_off_limiter`] feeds.
type Limiter = do_over_core::rate_limit::RateLimiter<do_over_tokio::TokioTimer>;

/// Why one attempt of an HTTP call failed.
///
/// ```
/// use do_over::http::HttpError;
/// use http::StatusCode;
/// use std::time::Duration;
///
/// let busy = http::Response::builder().status(503).body("busy").unwrap();
/// let error = HttpError::Status {
///     response: Box::new(reqwest::Response::from(busy)),
///     retry_after: Some(Duration::from_secs(3)),
///     retryable: true,
/// };
/// assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
/// assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
/// assert_eq!(error.to_string(), "server answered 503 Service Unavailable");
/// assert!(error.is_retryable());
/// assert!(!HttpError::NotReplayable.is_retryable());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpError {
    /// The request did not get a response (connect error, timeout, broken connection...).
    Transport {
        /// reqwest's error.
        error: reqwest::Error,
        /// Whether a retry may send the request again.
        retryable: bool,
    },
    /// The server answered with a status classified as a failure.
    Status {
        /// The response, with its body unread (boxed: it is large, and errors travel far).
        response: Box<reqwest::Response>,
        /// The response's `Retry-After`, if it had a valid one.
        retry_after: Option<Duration>,
        /// Whether a retry may send the request again.
        retryable: bool,
    },
    /// A later attempt could not resend the request: its body is a stream that cannot be
    /// copied, or its method is not idempotent and the retry was not opted in.
    NotReplayable,
}

impl HttpError {
    /// Whether a retry may send the request again (transient and safe to repeat).
    pub fn is_retryable(&self) -> bool {
        match self {
            HttpError::Transport { retryable, .. } | HttpError::Status { retryable, .. } => {
                *retryable
            }
            HttpError::NotReplayable => false,
        }
    }

    /// The server's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The status the server answered, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { response, .. } => Some(response.status()),
            _ => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Transport { error, .. } => write!(f, "request failed: {error}"),
            HttpError::Status { response, .. } => {
                write!(f, "server answered {}", response.status())
            }
            HttpError::NotReplayable => f.write_str("the request cannot be sent again"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Transport { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The retry predicate for [`ResilientClient`] calls: the attempt's [`HttpError`] says
/// whether it may be repeated; an attempt cut short by a `TimeoutPolicy` is retried;
/// other rejections (open circuit, full bulkhead, rate limit) are not.
///
/// ```
/// use do_over::error::DoOverError;
/// use do_over::http::{HttpError, is_retryable};
///
/// assert!(is_retryable(&DoOverError::Timeout));
/// assert!(!is_retryable(&DoOverError::CircuitOpen));
/// assert!(!is_retryable(&DoOverError::Inner(HttpError::NotReplayable)));
/// ```
pub fn is_retryable(error: &DoOverError<HttpError>) -> bool {
    match error {
        DoOverError::Inner(e) => e.is_retryable(),
        DoOverError::Timeout => true,
        _ => false,
    }
}

/// The retry delay hint for [`ResilientClient`] calls: the server's `Retry-After`.
///
/// ```
/// use do_over::error::DoOverError;
/// use do_over::http::{HttpError, retry_after};
/// use std::time::Duration;
///
/// let busy = http::Response::builder().status(429).body("slow down").unwrap();
/// let error = DoOverError::Inner(HttpError::Status {
///     response: Box::new(busy.into()),
///     retry_after: Some(Duration::from_secs(2)),
///     retryable: true,
/// });
/// assert_eq!(retry_after(&error), Some(Duration::from_secs(2)));
/// assert_eq!(retry_after(&DoOverError::Timeout), None); // back to the backoff
/// ```
pub fn retry_after(error: &DoOverError<HttpError>) -> Option<Duration> {
    match error {
        DoOverError::Inner(e) => e.retry_after(),
        _ => None,
    }
}

/// The default transient statuses: `408`, `429` and every `5xx`.
///
/// ```
/// use do_over::http::is_transient_status;
/// use http::StatusCode;
///
/// assert!(is_transient_status(StatusCode::TOO_MANY_REQUESTS));
/// assert!(is_transient_status(StatusCode::BAD_GATEWAY));
/// assert!(!is_transient_status(StatusCode::NOT_FOUND)); // asking again will not help
/// ```
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT` and `DELETE` (RFC 9110, section 9.2.2).
///
/// ```
/// use do_over::http::is_idempotent;
/// use http::Method;
///
/// assert!(is_idempotent(&Method::PUT)); // sending it twice has the effect of once
/// assert!(!is_idempotent(&Method::POST));
/// ```
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Parses a `Retry-After` value, either delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A date in the past is zero.
///
/// ```
/// use do_over::http::parse_retry_after;
/// use http::HeaderValue;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50 GMT
/// let secs = HeaderValue::from_static("120");
/// assert_eq!(parse_retry_after(&secs, now), Some(Duration::from_secs(120)));
/// let date = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
/// assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("soon"), now), None);
/// ```
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A reqwest client whose calls run through a policy. See the [module docs](self).
///
/// ```
/// use do_over::http::{ResilientClient, is_retryable};
/// use do_over::prelude::*;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let retry = RetryPolicy::fixed(2, Duration::from_millis(100)).retry_if(is_retryable);
/// let client = ResilientClient::new(reqwest::Client::new(), retry)
///     .retry_status(|status| status.is_server_error()) // 408 and 429 are final here
///     .attempt_timeout(Duration::from_secs(2));
/// assert_eq!(client.policy().max_retries(), 2);
/// // A request that cannot be built never reaches the policy: it is not retried.
/// let error = client.send(client.inner().get("not a url")).await.unwrap_err();
/// assert!(!is_retryable(&error));
/// # }
/// ```
#[derive(Debug)]
pub struct ResilientClient<P> {
    client: reqwest::Client,
    policy: P,
    transient: fn(StatusCode) -> bool,
    retry_non_idempotent: bool,
    attempt_timeout: Option<Duration>,
    max_retry_after: Duration,
    limiter: Option<Arc<Limiter>>,
}

/// The default [`ResilientClient::max_retry_after`]: five minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

impl<P> ResilientClient<P> {
    /// Calls go through `client` under `policy`.
    pub fn new(client: reqwest::Client, policy: P) -> Self {
        ResilientClient {
            client,
            policy,
            transient: is_transient_status,
            retry_non_idempotent: false,
            attempt_timeout: None,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            limiter: None,
        }
    }

    /// Which statuses are transient failures (default [`is_transient_status`]). Other
    /// non-success statuses are returned as `Ok` responses for the caller to inspect.
    pub fn retry_status(mut self, transient: fn(StatusCode) -> bool) -> Self {
        self.transient = transient;
        self
    }

    /// Also retry methods that are not idempotent (`POST`, `PATCH`): only when the server
    /// de-duplicates (an idempotency key, say).
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.retry_non_idempotent = yes;
        self
    }

    /// Bounds each attempt (reqwest's per-request timeout); a timed-out attempt is a
    /// transient transport error.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The longest `Retry-After` the client will wait for (default
    /// [`DEFAULT_MAX_RETRY_AFTER`]). A response asking for longer is not retried: the caller
    /// gets it, with [`HttpError::retry_after`] set, to decide. A rate limiter fed by
    /// [`hold_off_limiter`](Self::hold_off_limiter) is held off for at most this long.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// When a `429` or `503` carries `Retry-After: d`, holds `limiter` off for `d`
    /// ([`RateLimiter::hold_off`](do_over_core::rate_limit::RateLimiter::hold_off)), so every
    /// call through it waits, not only the one that was told.
    pub fn hold_off_limiter(mut self, limiter: Arc<Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The reqwest client, to build requests with.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    fn classify(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        repeatable: bool,
    ) -> Result<reqwest::Response, HttpError> {
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let transient = error.is_connect() || error.is_timeout();
                return Err(HttpError::Transport {
                    retryable: transient && repeatable,
                    error,
                });
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        if let (Some(limiter), Some(d)) = (&self.limiter, retry_after) {
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) {
                limiter.hold_off(d.min(self.max_retry_after));
            }
        }
        if !(self.transient)(status) {
            return Ok(response);
        }
        let waits_too_long = retry_after.is_some_and(|d| d > self.max_retry_after);
        Err(HttpError::Status {
            response: Box::new(response),
            retry_after,
            retryable: repeatable && !waits_too_long,
        })
    }
}

impl<P: Policy<DoOverError<HttpError>>> ResilientClient<P> {
    /// Sends `request` under the policy. A non-transient response (`200`, `404`, ...) is
    /// `Ok`; a transient one that the policy gave up on is `Err(Inner(HttpError::Status))`,
    /// with the response inside.
    ///
    /// # Errors
    /// The last attempt's [`HttpError`], or the policy's rejection.
    pub async fn execute(
        &self,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response, DoOverError<HttpError>> {
        if let Some(t) = self.attempt_timeout {
            request.timeout_mut().get_or_insert(t);
        }
        let repeatable = (self.retry_non_idempotent || is_idempotent(request.method()))
            && request.try_clone().is_some();
        // The original goes to the first attempt; later attempts send copies.
        let first = Mutex::new(Some(request));
        let template = first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|r| if repeatable { r.try_clone() } else { None });
        self.policy
            .execute(|| {
                let taken = first.lock().unwrap_or_else(|e| e.into_inner()).take();
                let request = taken.or_else(|| template.as_ref().and_then(|r| r.try_clone()));
                async move {
                    let request = request.ok_or(DoOverError::Inner(HttpError::NotReplayable))?;
                    let sent = self.client.execute(request).await;
                    self.classify(sent, repeatable).map_err(DoOverError::Inner)
                }
            })
            .await
    }

    /// Builds `request` and [`execute`](Self::execute)s it.
    ///
    /// # Errors
    /// As [`execute`](Self::execute); a request that fails to build is a non-retryable
    /// transport error.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DoOverError<HttpError>> {
        let request = request.build().map_err(|error| {
            DoOverError::Inner(HttpError::Transport {
                error,
                retryable: false,
            })
        })?;
        self.execute(request).await
    }
}

/// The status a server should answer for `error`: `503` for a full bulkhead or open
/// circuit, `429` when rate limited, `504` on timeout, `500` otherwise.
///
/// ```
/// use do_over::error::DoOverError;
/// use do_over::http::status_for;
/// use http::StatusCode;
///
/// assert_eq!(status_for(&DoOverError::<()>::CircuitOpen), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(status_for(&DoOverError::<()>::Timeout), StatusCode::GATEWAY_TIMEOUT);
/// assert_eq!(status_for(&DoOverError::Inner("db down")), StatusCode::INTERNAL_SERVER_ERROR);
/// ```
pub fn status_for<E>(error: &DoOverError<E>) -> StatusCode {
    match error {
        DoOverError::BulkheadFull | DoOverError::CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
        DoOverError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        DoOverError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The response for a policy's rejection (see [`status_for`]), with `Retry-After` in whole
/// seconds (rounded up) when the policy knows when to come back. The body is the rejection's
/// text (a generic one for the handler's own errors). Made for axum's `HandleErrorLayer`:
///
/// ```
/// use axum::{Router, error_handling::HandleErrorLayer, routing::get};
/// use do_over::{bulkhead::Bulkhead, http::rejection_response, tower::PolicyLayer};
/// use tower::ServiceBuilder;
///
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
///     ServiceBuilder::new()
///         .layer(HandleErrorLayer::new(rejection_response))
///         .layer(PolicyLayer::new(Bulkhead::new(64))),
/// );
/// ```
pub async fn rejection_response<E: fmt::Display>(
    error: DoOverError<E>,
) -> ::http::Response<String> {
    let retry_after = match error {
        DoOverError::RateLimited { retry_after } => Some(retry_after),
        _ => None,
    };
    // The handler's own error text stays on the server: it may describe internals.
    let body = match &error {
        DoOverError::Inner(_) => "internal server error".to_string(),
        rejection => rejection.to_string(),
    };
    let mut response = ::http::Response::new(body);
    *response.status_mut() = status_for(&error);
    if let Some(d) = retry_after.filter(|d| *d < MAX_WAIT) {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
