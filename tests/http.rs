//! HTTP end to end on 127.0.0.1: the reqwest client path (`do_over::http`), the tower layer
//! on a hyper client, and the tower layer as axum middleware shedding load.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use axum::routing::{get, post};
use do_over::error::DoOverError;
use do_over::http::{HttpError, ResilientClient, is_retryable, rejection_response, retry_after};
use do_over::prelude::*;
use do_over::retry::RetryEvent;
use do_over::tower::PolicyLayer;
use tower::ServiceBuilder;

/// Serves `app` on an ephemeral port of 127.0.0.1; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A handler that answers `status` (with `headers`) for its first `failures` hits, then 200.
fn flaky(
    hits: Arc<AtomicU32>,
    failures: u32,
    status: StatusCode,
    headers: impl Fn() -> HeaderMap + Clone + Send + Sync + 'static,
) -> impl Fn() -> std::future::Ready<(StatusCode, HeaderMap, &'static str)> + Clone + Send + Sync + 'static
{
    move || {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n < failures {
            (status, headers(), "try again")
        } else {
            (StatusCode::OK, HeaderMap::new(), "ok")
        })
    }
}

fn retry_after_header(value: String) -> impl Fn() -> HeaderMap + Clone + Send + Sync + 'static {
    move || {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, value.parse().unwrap());
        h
    }
}

/// Records each retry's delay.
fn recording_retry(
    max: u32,
    backoff: Duration,
    delays: Arc<Mutex<Vec<Duration>>>,
) -> impl Policy<DoOverError<HttpError>> {
    RetryPolicy::fixed(max, backoff)
        .retry_if(is_retryable)
        .delay_hint(retry_after)
        .on_retry(move |e: &RetryEvent<'_, DoOverError<HttpError>>| {
            delays.lock().unwrap().push(e.delay)
        })
}

#[tokio::test]
async fn flaky_get_is_retried_to_success_and_post_is_not() {
    let hits = Arc::new(AtomicU32::new(0));
    let post_hits = Arc::new(AtomicU32::new(0));
    let base = serve(
        Router::new()
            .route(
                "/flaky",
                get(flaky(
                    hits.clone(),
                    2,
                    StatusCode::SERVICE_UNAVAILABLE,
                    HeaderMap::new,
                )),
            )
            .route(
                "/order",
                post(flaky(
                    post_hits.clone(),
                    2,
                    StatusCode::BAD_GATEWAY,
                    HeaderMap::new,
                )),
            ),
    )
    .await;
    let delays = Arc::new(Mutex::new(Vec::new()));
    let client = ResilientClient::new(
        reqwest::Client::new(),
        recording_retry(3, Duration::from_millis(1), delays.clone()),
    );

    let response = client
        .send(client.inner().get(format!("{base}/flaky")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "two 503s, then success");

    // POST is not idempotent: the first 502 is final.
    let err = client
        .send(client.inner().post(format!("{base}/order")).body("pay 10"))
        .await
        .unwrap_err();
    match err {
        DoOverError::Inner(e) => {
            assert_eq!(e.status(), Some(StatusCode::BAD_GATEWAY));
            assert!(!e.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(post_hits.load(Ordering::SeqCst), 1);

    // Opted in (the server de-duplicates, say): retried like a GET.
    let client = client.retry_non_idempotent(true);
    let response = client
        .send(client.inner().post(format!("{base}/order")).body("pay 10"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(post_hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_a_date_is_the_retry_delay() {
    let hits = Arc::new(AtomicU32::new(0));
    let dated_hits = Arc::new(AtomicU32::new(0));
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
    let base = serve(
        Router::new()
            .route(
                "/limited",
                get(flaky(
                    hits.clone(),
                    1,
                    StatusCode::TOO_MANY_REQUESTS,
                    retry_after_header("1".into()),
                )),
            )
            .route(
                "/dated",
                get(flaky(
                    dated_hits.clone(),
                    1,
                    StatusCode::SERVICE_UNAVAILABLE,
                    retry_after_header(past),
                )),
            ),
    )
    .await;
    let delays = Arc::new(Mutex::new(Vec::new()));
    // The backoff (10 min) would make the test hang if the hint were ignored.
    let client = ResilientClient::new(
        reqwest::Client::new(),
        recording_retry(2, Duration::from_secs(600), delays.clone()),
    );
    let response = client
        .send(client.inner().get(format!("{base}/limited")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .send(client.inner().get(format!("{base}/dated")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        *delays.lock().unwrap(),
        [Duration::from_secs(1), Duration::ZERO],
        "Retry-After: 1, then an HTTP-date in the past"
    );
}

#[tokio::test]
async fn connect_errors_are_transient_and_other_statuses_pass_through() {
    // A port that was just free: connecting to it is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let client = ResilientClient::new(
        reqwest::Client::new(),
        recording_retry(2, Duration::from_millis(1), delays.clone()),
    );
    let err = client
        .send(client.inner().get(format!("http://{addr}/")))
        .await
        .unwrap_err();
    match err {
        DoOverError::Inner(HttpError::Transport { error, retryable }) => {
            assert!(error.is_connect(), "{error}");
            assert!(retryable);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(delays.lock().unwrap().len(), 2, "both retries used");

    let base = serve(Router::new()).await; // every path is 404
    delays.lock().unwrap().clear();
    let response = client
        .send(client.inner().get(format!("{base}/nope")))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(delays.lock().unwrap().is_empty(), "404 is not transient");
}

#[tokio::test]
async fn retry_after_holds_off_the_rate_limiter() {
    let hits = Arc::new(AtomicU32::new(0));
    let base = serve(Router::new().route(
        "/busy",
        get(flaky(
            hits,
            u32::MAX,
            StatusCode::TOO_MANY_REQUESTS,
            retry_after_header("30".into()),
        )),
    ))
    .await;
    let limiter = Arc::new(do_over::rate_limit::RateLimiter::new(
        100,
        Duration::from_secs(1),
    ));
    let client = ResilientClient::new(
        reqwest::Client::new(),
        Wrap::new(limiter.clone(), TimeoutPolicy::new(Duration::from_secs(10))),
    )
    .hold_off_limiter(limiter.clone());
    let err = client
        .send(client.inner().get(format!("{base}/busy")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "server answered 429 Too Many Requests",
        "{err:?}"
    );
    let wait = limiter.try_acquire(1).unwrap_err();
    assert!(
        wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    // The next call is rejected by the limiter without reaching the server.
    let err = client
        .send(client.inner().get(format!("{base}/busy")))
        .await
        .unwrap_err();
    assert!(matches!(err, DoOverError::RateLimited { .. }), "{err:?}");
}

#[derive(Debug)]
enum CallError {
    Status(StatusCode),
    // Read only through `Debug`, in a failing test's message.
    Transport(#[allow(dead_code)] hyper_util::client::legacy::Error),
}

// tower's `MapResult` converts the inner service's readiness errors with `Into`.
impl From<hyper_util::client::legacy::Error> for CallError {
    fn from(e: hyper_util::client::legacy::Error) -> Self {
        CallError::Transport(e)
    }
}

#[tokio::test]
async fn policy_layer_retries_a_flaky_axum_handler_through_a_hyper_client() {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tower::ServiceExt;

    let hits = Arc::new(AtomicU32::new(0));
    let base = serve(
        Router::new()
            .route(
                "/flaky",
                get(flaky(
                    hits.clone(),
                    2,
                    StatusCode::SERVICE_UNAVAILABLE,
                    HeaderMap::new,
                )),
            )
            .route(
                "/down",
                get(flaky(
                    hits.clone(),
                    u32::MAX,
                    StatusCode::BAD_GATEWAY,
                    HeaderMap::new,
                )),
            ),
    )
    .await;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();

    // The policy clones the `Uri` for each attempt; the request is built per attempt.
    let service = ServiceBuilder::new()
        .layer(PolicyLayer::new(RetryPolicy::fixed(
            3,
            Duration::from_millis(1),
        )))
        .map_request(|uri: axum::http::Uri| {
            axum::http::Request::get(uri).body(Empty::new()).unwrap()
        })
        .map_result(|r: Result<axum::http::Response<_>, _>| match r {
            Ok(resp) if resp.status().is_server_error() => Err(CallError::Status(resp.status())),
            Ok(resp) => Ok(resp.status()),
            Err(e) => Err(CallError::from(e)),
        })
        .service(client);

    let uri: axum::http::Uri = format!("{base}/flaky").parse().unwrap();
    let status = service.clone().oneshot(uri).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Always failing: 1 + 3 attempts, then the last error.
    let uri: axum::http::Uri = format!("{base}/down").parse().unwrap();
    let err = service.oneshot(uri).await.unwrap_err();
    assert!(
        matches!(
            err,
            DoOverError::Inner(CallError::Status(StatusCode::BAD_GATEWAY))
        ),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3 + 4);
}

#[tokio::test]
async fn overloaded_axum_routes_shed_load_with_proper_status_codes() {
    let entered = Arc::new(AtomicU32::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (e, g) = (entered.clone(), gate.clone());
    let held = move || {
        let (e, g) = (e.clone(), g.clone());
        async move {
            e.fetch_add(1, Ordering::SeqCst);
            let _permit = g.acquire().await.unwrap();
            "done"
        }
    };
    // Requests are not `Clone`: only non-reissuing policies, so none is needed.
    let app = Router::new()
        .route(
            "/work",
            get(held).layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(rejection_response))
                    .layer(PolicyLayer::new(Bulkhead::new(2))),
            ),
        )
        .route(
            "/limited",
            get(|| async { "ok" }).layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(rejection_response))
                    .layer(PolicyLayer::new(RateLimiter::new(
                        1,
                        Duration::from_secs(60),
                    ))),
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                "late"
            })
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(rejection_response))
                    .layer(PolicyLayer::new(TimeoutPolicy::new(Duration::from_millis(
                        20,
                    )))),
            ),
        );
    let base = serve(app).await;
    let client = reqwest::Client::new();

    let first = tokio::spawn(client.get(format!("{base}/work")).send());
    let second = tokio::spawn(client.get(format!("{base}/work")).send());
    while entered.load(Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    let shed = client.get(format!("{base}/work")).send().await.unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        entered.load(Ordering::SeqCst),
        2,
        "the shed request never ran"
    );
    gate.add_permits(2);
    for admitted in [first, second] {
        let response = admitted.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "done");
    }

    assert_eq!(
        client
            .get(format!("{base}/limited"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let limited = client.get(format!("{base}/limited")).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = limited.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((59..=60).contains(&secs), "Retry-After: {secs}");

    let slow = client.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let hits = Arc::new(AtomicU32::new(0));
    let base = serve(Router::new().route(
        "/maintenance",
        get(flaky(
            hits.clone(),
            u32::MAX,
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after_header("3600".into()),
        )),
    ))
    .await;
    let delays = Arc::new(Mutex::new(Vec::new()));
    let limiter = Arc::new(do_over::rate_limit::RateLimiter::new(
        10,
        Duration::from_secs(1),
    ));
    let client = ResilientClient::new(
        reqwest::Client::new(),
        recording_retry(3, Duration::from_millis(1), delays.clone()),
    )
    .max_retry_after(Duration::from_secs(60))
    .hold_off_limiter(limiter.clone());
    let err = client
        .send(client.inner().get(format!("{base}/maintenance")))
        .await
        .unwrap_err();
    match err {
        DoOverError::Inner(e) => {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
            assert!(!e.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
    assert!(delays.lock().unwrap().is_empty());
    let wait = limiter.try_acquire(1).unwrap_err();
    assert!(
        wait <= Duration::from_secs(60),
        "held off for the cap only: {wait:?}"
    );
    limiter.reset();
    assert_eq!(limiter.try_acquire(1), Ok(()));
}
