//! The rate limiter on Tokio's paused clock: bursts, continuous refill, retry-after, waiting
//! in FIFO order, weights, quota changes and keys.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use do_over::error::{DoOverError, MAX_WAIT};
use do_over::keyed::Keyed;
use do_over::policy::Policy;
use do_over::rate_limit::RateLimiter;
use tokio::time::{Instant, advance};

type E = DoOverError<&'static str>;
const MS: Duration = Duration::from_millis(1);

async fn hit(l: &RateLimiter) -> Result<(), E> {
    l.execute(|| async { Ok(()) }).await
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_capacity_then_rejections_that_say_when_to_retry() {
    let l = RateLimiter::new(3, Duration::from_secs(3));
    for _ in 0..3 {
        hit(&l).await.unwrap();
    }
    let ran = AtomicU32::new(0);
    let out: Result<(), E> = l
        .execute(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert_eq!(
        out,
        Err(DoOverError::RateLimited {
            retry_after: Duration::from_secs(1)
        })
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    advance(400 * MS).await;
    assert_eq!(
        hit(&l).await,
        Err(DoOverError::RateLimited {
            retry_after: 600 * MS
        })
    );
    advance(600 * MS).await;
    hit(&l).await.unwrap();
    assert_eq!(l.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn refill_is_continuous_not_a_fixed_window() {
    // 10 per second. A fixed window would allow 10 at t=999 ms and 10 more at t=1000 ms.
    let l = RateLimiter::new(10, Duration::from_secs(1));
    advance(999 * MS).await;
    for _ in 0..10 {
        hit(&l).await.unwrap();
    }
    advance(MS).await;
    assert!(
        hit(&l).await.is_err(),
        "only 1 ms worth of refill (0.01 tokens)"
    );
    advance(99 * MS).await;
    hit(&l).await.unwrap(); // 100 ms = one token
    assert!(hit(&l).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn over_any_window_at_most_capacity_plus_rate_times_window_pass() {
    let l = RateLimiter::new(5, Duration::from_secs(1));
    let start = Instant::now();
    let mut admitted = Vec::new();
    // Hammer it every 7 ms for 10 s.
    for _ in 0..1430 {
        if hit(&l).await.is_ok() {
            admitted.push(start.elapsed());
        }
        advance(7 * MS).await;
    }
    for w_ms in [1u64, 100, 250, 1000, 3000] {
        let w = Duration::from_millis(w_ms);
        let bound = 5 + (5 * w_ms / 1000) as usize;
        for (i, t) in admitted.iter().enumerate() {
            let in_window = admitted[i..].iter().take_while(|u| **u < *t + w).count();
            assert!(
                in_window <= bound,
                "{in_window} calls in a {w:?} window from {t:?}"
            );
        }
    }
    // And the sustained rate is reached: ~5/s over 10 s, plus the initial burst.
    assert!((50..=56).contains(&admitted.len()), "{}", admitted.len());
}

#[tokio::test(start_paused = true)]
async fn waiting_callers_reserve_tokens_and_run_in_arrival_order() {
    let l =
        Arc::new(RateLimiter::new(1, Duration::from_secs(1)).with_max_wait(Duration::from_secs(5)));
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..4u32 {
        let (l, log) = (l.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            l.execute(|| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push((id, start.elapsed().as_millis()));
                    Ok::<_, E>(())
                }
            })
            .await
        }));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        [(0, 0), (1, 1000), (2, 2000), (3, 3000)]
    );
    // Beyond max_wait: rejected at once.
    let l = RateLimiter::new(1, Duration::from_secs(10)).with_max_wait(Duration::from_secs(5));
    hit(&l).await.unwrap();
    assert_eq!(
        hit(&l).await,
        Err(DoOverError::RateLimited {
            retry_after: Duration::from_secs(10)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_gives_its_reservation_back() {
    let l = RateLimiter::new(1, Duration::from_secs(1)).with_max_wait(Duration::from_secs(5));
    hit(&l).await.unwrap();
    let waited = tokio::time::timeout(100 * MS, hit(&l)).await;
    assert!(waited.is_err(), "cancelled while waiting for its token");
    // The reservation was returned: the next token is due 1 s after the first call, not 2 s.
    advance(900 * MS).await;
    hit(&l).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn weighted_acquisition_and_runtime_quota_changes() {
    let l = RateLimiter::new(10, Duration::from_secs(1));
    assert_eq!(l.try_acquire(7), Ok(()));
    assert_eq!(l.try_acquire(4), Err(100 * MS));
    assert_eq!(
        l.try_acquire(11),
        Err(MAX_WAIT),
        "more than the capacity can never pass"
    );
    assert_eq!(l.try_acquire(3), Ok(()));

    l.set_quota(2, Duration::from_secs(1)).unwrap();
    assert_eq!(l.capacity(), 2);
    advance(Duration::from_secs(2)).await;
    assert_eq!(l.available(), 2);
    hit(&l).await.unwrap();
    hit(&l).await.unwrap();
    assert_eq!(
        hit(&l).await,
        Err(DoOverError::RateLimited {
            retry_after: 500 * MS
        })
    );
    assert_eq!(
        l.set_quota(0, Duration::from_secs(1))
            .unwrap_err()
            .parameter(),
        "capacity"
    );
}

#[tokio::test(start_paused = true)]
async fn keyed_limiters_are_independent_and_bounded() {
    let limiters = Keyed::new(2, || RateLimiter::new(1, Duration::from_secs(1)));
    hit(&limiters.get(&"alice")).await.unwrap();
    assert!(hit(&limiters.get(&"alice")).await.is_err());
    hit(&limiters.get(&"bob")).await.unwrap();
    hit(&limiters.get(&"carol")).await.unwrap(); // evicts alice (least recently used)
    assert_eq!(limiters.len(), 2);
    hit(&limiters.get(&"alice")).await.unwrap(); // a fresh limiter
}

#[tokio::test(start_paused = true)]
async fn reference_rate_limiter_snippet_reports_rate_limited_not_bulkhead_full() {
    let limiter = RateLimiter::new(100, Duration::from_secs(1));
    let mut outcomes = Vec::new();
    for _ in 0..101 {
        outcomes.push(
            match limiter.execute(|| async { Ok::<_, E>("api result") }).await {
                Ok(_) => "success",
                Err(DoOverError::RateLimited { .. }) => "rate limit exceeded",
                Err(DoOverError::BulkheadFull) => "bulkhead full (the 0.1.0 crate's answer)",
                Err(_) => "error",
            },
        );
    }
    assert_eq!(outcomes.iter().filter(|o| **o == "success").count(), 100);
    assert_eq!(outcomes[100], "rate limit exceeded");
}

#[tokio::test(start_paused = true)]
async fn reservations_by_waiting_callers_bind_callers_that_do_not_wait() {
    // Found in review: a TAT pushed far ahead by waiters was once mistaken for a stale one by
    // a caller with a shorter max_wait, which then passed and rewound the TAT.
    let l =
        Arc::new(RateLimiter::new(1, Duration::from_secs(1)).with_max_wait(Duration::from_secs(2)));
    hit(&l).await.unwrap(); // t=0
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let l = l.clone();
            tokio::spawn(async move { hit(&l).await })
        })
        .collect();
    tokio::task::yield_now().await; // both reserve (t=1 s and t=2 s)
    assert_eq!(
        l.try_acquire(1),
        Err(Duration::from_secs(3)),
        "behind both reservations"
    );
    assert_eq!(l.available(), 0);
    for w in waiters {
        w.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn tokens_spent_count_against_a_smaller_new_quota() {
    let l = RateLimiter::new(10, Duration::from_secs(10));
    for _ in 0..10 {
        hit(&l).await.unwrap();
    }
    l.set_quota(1, Duration::from_secs(1)).unwrap();
    assert_eq!(l.available(), 0);
    assert!(
        hit(&l).await.is_err(),
        "the burst already spent still counts"
    );
}
