//! Zero heap allocations on every policy's call path, counted by a per-thread counting
//! global allocator. Futures are polled by hand with a no-op waker, so nothing but the
//! policy code runs between the two counter reads.

mod common;
use common::join;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use do_over::circuit_breaker::CircuitBreaker;
use do_over::error::DoOverError;
use do_over::policy::{LocalPolicy, Policy};
use do_over::retry::{Jitter, RetryPolicy};
use do_over::time::{ManualClock, Timer};
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::{Compose, Wrap};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only adds a thread-local counter increment.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

/// Allocations made while building and completing the future `make()` returns, driving the
/// manual clock forward whenever it stalls.
fn count_on_manual<F: Future>(clock: &ManualClock, make: impl FnOnce() -> F) -> (u64, F::Output) {
    let before = allocations();
    let out = clock.run(make());
    (allocations() - before, out)
}

/// Allocations made while building and polling once a future that must complete at once.
fn count_ready<F: Future>(make: impl FnOnce() -> F) -> u64 {
    let before = allocations();
    {
        let mut fut = pin!(make());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(_)));
    }
    allocations() - before
}

type E = DoOverError<u32>;

#[test]
fn happy_paths_on_tokio_allocate_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let retry = RetryPolicy::fixed(3, Duration::from_millis(10));
    let timeout = TimeoutPolicy::new(Duration::from_secs(1));
    let stack = Wrap::new(
        RetryPolicy::fixed(3, Duration::from_millis(10)),
        TimeoutPolicy::new(Duration::from_secs(1)),
    );
    // The counter sees allocations at all:
    assert_eq!(count_ready(|| async { drop(Box::new(1u8)) }), 1);
    // Warm up one-time process state (the Tokio timer's anchor instant).
    count_ready(|| timeout.execute(|| async { Ok::<_, E>(1) }));

    assert_eq!(
        count_ready(|| retry.execute(|| async { Ok::<_, E>(1) })),
        0,
        "retry"
    );
    assert_eq!(
        count_ready(|| timeout.execute(|| async { Ok::<_, E>(1) })),
        0,
        "timeout"
    );
    assert_eq!(
        count_ready(|| stack.execute(|| async { Ok::<_, E>(1) })),
        0,
        "retry+timeout"
    );
}

#[test]
fn retry_with_failures_jitter_and_sleeps_allocates_nothing() {
    let clock = ManualClock::new();
    let retry = RetryPolicy::exponential(4, Duration::from_millis(10), 2.0)
        .with_timer(&clock)
        .on_retry(|_: &do_over::retry::RetryEvent<'_, E>| {});
    let jittered = do_over::core::retry::RetryBuilder::new(&clock)
        .max_retries(4)
        .exponential(Duration::from_millis(10), 2.0)
        .jitter(Jitter::Decorrelated)
        .max_elapsed(Duration::from_secs(10))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let op = || async {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        if n % 5 < 4 {
            Err(DoOverError::Inner(n))
        } else {
            Ok(n)
        }
    };
    let (n, out) = count_on_manual(&clock, || retry.execute(op));
    assert_eq!((n, out), (0, Ok(4)));
    let (n, out) = count_on_manual(&clock, || jittered.execute(op));
    assert_eq!((n, out), (0, Ok(9)));
}

#[test]
fn timeout_that_fires_and_wrapped_stacks_allocate_nothing() {
    let clock = ManualClock::new();
    let timer = &clock;
    let timeout = TimeoutPolicy::new(Duration::from_millis(100)).with_timer(&clock);
    let slow = || async {
        timer.sleep(Duration::from_secs(1)).await;
        Ok::<_, E>(0)
    };
    let (n, out) = count_on_manual(&clock, || timeout.execute(slow));
    assert_eq!((n, out), (0, Err(DoOverError::Timeout)));

    let stack = RetryPolicy::fixed(2, Duration::from_millis(5))
        .with_timer(&clock)
        .wrap(TimeoutPolicy::new(Duration::from_millis(100)).with_timer(&clock))
        .wrap(RetryPolicy::fixed(1, Duration::ZERO).with_timer(&clock))
        .wrap(TimeoutPolicy::new(Duration::from_secs(5)).with_timer(&clock));
    let (n, out) = count_on_manual(&clock, || stack.execute(slow));
    assert_eq!((n, out), (0, Err(DoOverError::Timeout)));
    let (n, out) = count_on_manual(&clock, || stack.execute_local(slow));
    assert_eq!((n, out), (0, Err(DoOverError::Timeout)));
}

#[test]
fn circuit_breaker_in_every_state_allocates_nothing() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::new(2, Duration::from_secs(1)).with_timer(&clock);
    let windowed = do_over::core::circuit_breaker::BreakerBuilder::new(&clock)
        .failure_ratio(0.5, Duration::from_secs(10), 2)
        .slow_calls(Duration::from_millis(100), 0.5)
        .build()
        .unwrap();
    let ok = || async { Ok::<_, E>(1) };
    let bad = || async { Err::<u32, E>(DoOverError::Inner(0)) };
    let (n, out) = count_on_manual(&clock, || breaker.execute(ok));
    assert_eq!((n, out), (0, Ok(1)), "closed, success");
    let (n, out) = count_on_manual(&clock, || breaker.execute(bad));
    assert_eq!((n, out), (0, Err(DoOverError::Inner(0))), "closed, failure");
    let (n, out) = count_on_manual(&clock, || breaker.execute(bad));
    assert_eq!(
        (n, out),
        (0, Err(DoOverError::Inner(0))),
        "closed, failure that opens"
    );
    let (n, out) = count_on_manual(&clock, || breaker.execute(bad));
    assert_eq!(
        (n, out),
        (0, Err(DoOverError::CircuitOpen)),
        "open, rejected"
    );
    clock.advance(Duration::from_secs(1));
    let (n, out) = count_on_manual(&clock, || breaker.execute(ok));
    assert_eq!((n, out), (0, Ok(1)), "half-open probe that closes");
    for _ in 0..3 {
        let (n, _) = count_on_manual(&clock, || windowed.execute(bad));
        assert_eq!(n, 0, "time-window trigger");
    }
    let stack = Wrap::new(
        CircuitBreaker::new(5, Duration::from_secs(1)).with_timer(&clock),
        RetryPolicy::fixed(2, Duration::from_millis(5))
            .with_timer(&clock)
            .wrap(TimeoutPolicy::new(Duration::from_millis(100)).with_timer(&clock)),
    );
    let (n, out) = count_on_manual(&clock, || stack.execute(bad));
    assert_eq!((n, out), (0, Err(DoOverError::Inner(0))));
}

#[test]
fn bulkhead_and_rate_limiter_allocate_nothing_even_when_waiting() {
    use do_over::core::bulkhead::Bulkhead;
    use do_over::core::rate_limit::RateLimiter;
    let clock = ManualClock::new();
    let timer = &clock;
    let bulkhead = Bulkhead::new_with_timer(1, &clock).with_queue_timeout(Duration::from_secs(1));
    let limiter = RateLimiter::new_with_timer(1, Duration::from_millis(10), &clock)
        .with_max_wait(Duration::from_secs(1));
    let ok = || async { Ok::<_, E>(1) };
    let (n, out) = count_on_manual(&clock, || bulkhead.execute(ok));
    assert_eq!((n, out), (0, Ok(1)), "bulkhead, free slot");
    let (n, out) = count_on_manual(&clock, || limiter.execute(ok));
    assert_eq!((n, out), (0, Ok(1)), "limiter, token available");
    let (n, out) = count_on_manual(&clock, || limiter.execute(ok));
    assert_eq!(
        (n, out),
        (0, Ok(1)),
        "limiter, waits for its reserved token"
    );

    // A queued bulkhead call: one holds the slot, the other waits in the intrusive queue.
    let before = allocations();
    let both = clock.run(async {
        let holder = bulkhead.execute(|| async {
            timer.sleep(Duration::from_millis(5)).await;
            Ok::<_, E>(1)
        });
        let waiter = bulkhead.execute(ok);
        join(holder, waiter).await
    });
    assert_eq!(
        (allocations() - before, both),
        (0, (Ok(1), Ok(1))),
        "bulkhead, queued"
    );

    let reject = RateLimiter::new_with_timer(1, Duration::from_secs(1), &clock);
    let _ = count_on_manual(&clock, || reject.execute(ok));
    let (n, out) = count_on_manual(&clock, || reject.execute(ok));
    assert_eq!(n, 0, "limiter, rejected");
    assert!(matches!(out, Err(DoOverError::RateLimited { .. })));
}

#[test]
fn the_full_reference_stack_allocates_nothing() {
    use do_over::core::bulkhead::Bulkhead;
    let clock = ManualClock::new();
    let stack = Wrap::new(
        Bulkhead::new_with_timer(10, &clock),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30)).with_timer(&clock),
            Wrap::new(
                RetryPolicy::exponential(3, Duration::from_millis(100), 2.0).with_timer(&clock),
                TimeoutPolicy::new(Duration::from_secs(10)).with_timer(&clock),
            ),
        ),
    );
    let calls = AtomicU32::new(0);
    let (n, out) = count_on_manual(&clock, || {
        stack.execute(|| async {
            if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                Err(DoOverError::Inner(0))
            } else {
                Ok(2)
            }
        })
    });
    assert_eq!((n, out), (0, Ok(2)));
}

#[test]
fn hedge_fallback_and_budget_allocate_nothing() {
    use do_over::core::budget::TpsBudget;
    use do_over::core::fallback::Fallback;
    use do_over::core::hedge::Hedge;
    let clock = ManualClock::new();
    let timer = &clock;
    let hedge = Hedge::new_with_timer(Duration::from_millis(10), &clock)
        .with_max_hedged_attempts(2)
        .with_adaptive_delay(0.9, 5)
        .unwrap();
    let attempt = AtomicU32::new(0);
    let (n, out) = count_on_manual(&clock, || {
        hedge.execute(|| async {
            let k = attempt.fetch_add(1, Ordering::Relaxed);
            timer
                .sleep(Duration::from_millis(if k == 0 { 1000 } else { 5 }))
                .await;
            Ok::<_, E>(k)
        })
    });
    assert_eq!((n, out), (0, Ok(1)), "hedge that wins");
    let (n, out) = count_on_manual(&clock, || hedge.execute(|| async { Ok::<_, E>(7) }));
    assert_eq!((n, out), (0, Ok(7)), "primary that wins");

    let budget = TpsBudget::new_with_timer(Duration::from_secs(10), 10, 0.2, &clock);
    let retry = RetryPolicy::fixed(3, Duration::from_millis(1))
        .with_timer(&clock)
        .with_budget(&budget);
    let fallback = Fallback::value(&retry, 42u32);
    let (n, out) = count_on_manual(&clock, || {
        fallback.execute(|| async { Err::<u32, E>(DoOverError::Inner(0)) })
    });
    assert_eq!((n, out), (0, Ok(42)), "budgeted retries, then the fallback");
}

#[test]
fn observed_stacks_allocate_nothing() {
    use do_over::core::bulkhead::Bulkhead;
    use do_over::core::hedge::Hedge;
    use do_over::observe::{Event, ListenerFn, ObserveExt};
    let clock = ManualClock::new();
    let seen = AtomicU32::new(0);
    let count = ListenerFn(|_: &Event| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let stack = Wrap::new(
        Bulkhead::new_with_timer(10, &clock).observe(&count),
        Wrap::new(
            CircuitBreaker::new(5, Duration::from_secs(30))
                .with_timer(&clock)
                .observe(&count),
            Wrap::new(
                RetryPolicy::exponential(3, Duration::from_millis(100), 2.0)
                    .with_timer(&clock)
                    .observe(&count),
                TimeoutPolicy::new(Duration::from_secs(10))
                    .with_timer(&clock)
                    .observe(&count),
            ),
        ),
    )
    .observe_with_clock(&count, &clock);
    let calls = AtomicU32::new(0);
    let (n, out) = count_on_manual(&clock, || {
        stack.execute(|| async {
            if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                Err(DoOverError::Inner(0))
            } else {
                Ok(2)
            }
        })
    });
    assert_eq!((n, out), (0, Ok(2)));
    // Three timeout outcomes, two retries, one outcome each for retry, breaker, bulkhead and
    // the whole stack.
    assert_eq!(seen.load(Ordering::Relaxed), 3 + 2 + 4);

    let hedge = Hedge::new_with_timer(Duration::from_millis(5), &clock).observe(&count);
    let (n, out) = count_on_manual(&clock, || {
        hedge.execute(|| async {
            (&clock).sleep(Duration::from_millis(20)).await;
            Ok::<_, DoOverError<u8>>(1)
        })
    });
    assert_eq!((n, out), (0, Ok(1)), "observed hedge");
}
