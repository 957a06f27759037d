//! Observability on the manual clock: each policy reports exactly the events it should, with
//! exact virtual durations, and the reference `Metrics` hook counts what it should.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use do_over_core::budget::RetryBudget;
use do_over_core::bulkhead::Bulkhead;
use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
use do_over_core::error::{DoOverError, Rejection};
use do_over_core::hedge::Hedge;
use do_over_core::observe::{Event, Listener, Metrics, ObserveExt};
use do_over_core::policy::Policy;
use do_over_core::rate_limit::RateLimiter;
use do_over_core::retry::RetryPolicy;
use do_over_core::time::{ManualClock, Timer};
use do_over_core::timeout::TimeoutPolicy;
use do_over_core::wrap::Wrap;

type E = DoOverError<&'static str>;
const MS: Duration = Duration::from_millis(1);

/// Records every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Listener for Recorder {
    fn on_event(&self, event: &Event) {
        self.0.lock().unwrap().push(*event);
    }
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        core::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn poll_once<F: Future>(fut: core::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn retry_reports_each_retry_with_its_delay_and_cause_then_the_outcome() {
    let clock = ManualClock::new();
    let events = Recorder::default();
    let policy = Wrap::new(
        RetryPolicy::fixed_with_timer(3, 10 * MS, &clock).observe(&events),
        TimeoutPolicy::new_with_timer(50 * MS, &clock),
    );
    let calls = AtomicU32::new(0);
    let out: Result<u32, E> = clock.run(policy.execute(|| async {
        match calls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(DoOverError::Inner("refused")),
            1 => {
                (&clock).sleep(100 * MS).await; // times out at 50 ms
                Ok(0)
            }
            n => Ok(n),
        }
    }));
    assert_eq!(out, Ok(2));
    assert_eq!(
        events.take(),
        [
            Event::Retry {
                attempt: 1,
                delay: 10 * MS,
                cause: None
            },
            Event::Retry {
                attempt: 2,
                delay: 10 * MS,
                cause: Some(Rejection::Timeout)
            },
            // 10 ms wait + 50 ms timed-out attempt + 10 ms wait.
            Event::Success { duration: 70 * MS },
        ]
    );
}

#[test]
fn giving_up_is_a_failure_and_a_timeout_outcome_is_a_rejection() {
    let clock = ManualClock::new();
    let events = Recorder::default();
    let retry = RetryPolicy::fixed_with_timer(1, 5 * MS, &clock).observe(&events);
    let out: Result<(), E> = clock.run(retry.execute(|| async { Err(DoOverError::Inner("down")) }));
    assert_eq!(out, Err(DoOverError::Inner("down")));
    assert_eq!(events.take()[1..], [Event::Failure { duration: 5 * MS }]);

    let timeout = TimeoutPolicy::new_with_timer(20 * MS, &clock).observe(&events);
    let out: Result<(), E> = clock.run(timeout.execute(|| async {
        (&clock).sleep(MS * 1000).await;
        Ok(())
    }));
    assert_eq!(out, Err(DoOverError::Timeout));
    assert_eq!(
        events.take(),
        [Event::Rejected {
            rejection: Rejection::Timeout,
            duration: 20 * MS
        }]
    );
}

#[test]
fn breaker_reports_transitions_and_open_rejections() {
    let clock = ManualClock::new();
    let events = Recorder::default();
    let breaker = CircuitBreaker::new_with_timer(2, 100 * MS, &clock).observe(&events);
    for _ in 0..2 {
        let _ = clock.run(breaker.execute(|| async { Err::<(), E>(DoOverError::Inner("x")) }));
    }
    let out = clock.run(breaker.execute(|| async { Ok::<_, E>(()) }));
    assert!(matches!(out, Err(DoOverError::CircuitOpen)), "{out:?}");
    clock.advance(100 * MS);
    assert_eq!(
        clock.run(breaker.execute(|| async { Ok::<_, E>(1) })),
        Ok(1)
    );
    let got = events.take();
    let transitions: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Event::CircuitTransition { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        [
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Closed),
        ]
    );
    let names: Vec<_> = got.iter().map(|e| (e.name(), e.detail())).collect();
    assert!(names.contains(&("rejected", "circuit_open")), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.0 == "failure").count(), 2);
    assert_eq!(names.iter().filter(|n| n.0 == "success").count(), 1);
}

#[test]
fn bulkhead_and_limiter_report_rejections_by_kind() {
    let clock = ManualClock::new();
    let events = Recorder::default();
    let bulkhead = Bulkhead::new_with_timer(1, &clock).observe(&events);
    let mut holder = pin!(bulkhead.execute(|| async {
        (&clock).sleep(10 * MS).await;
        Ok::<_, E>(())
    }));
    assert!(poll_once(holder.as_mut()).is_pending());
    let second = clock.run(bulkhead.execute(|| async { Ok::<_, E>(()) }));
    assert_eq!(second, Err(DoOverError::BulkheadFull));
    clock.advance(10 * MS);
    assert_eq!(poll_once(holder.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(
        events.take(),
        [
            Event::Rejected {
                rejection: Rejection::BulkheadFull,
                duration: Duration::ZERO
            },
            Event::Success { duration: 10 * MS },
        ]
    );

    let limiter = RateLimiter::new_with_timer(1, 100 * MS, &clock).observe(&events);
    assert_eq!(
        clock.run(limiter.execute(|| async { Ok::<_, E>(()) })),
        Ok(())
    );
    assert!(
        clock
            .run(limiter.execute(|| async { Ok::<_, E>(()) }))
            .is_err()
    );
    let got = events.take();
    assert_eq!(got[0].name(), "success");
    assert_eq!(
        (got[1].name(), got[1].detail()),
        ("rejected", "rate_limited")
    );
}

/// A budget that refuses after `n` withdrawals.
struct Allow(AtomicU32);

impl RetryBudget for Allow {
    fn deposit(&self) {}
    fn withdraw(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[test]
fn hedges_and_budget_refusals_are_reported() {
    let clock = ManualClock::new();
    let events = Recorder::default();
    let hedge = Hedge::new_with_timer(10 * MS, &clock)
        .with_max_hedged_attempts(2)
        .with_budget(Allow(AtomicU32::new(1)))
        .observe(&events);
    let out: Result<u32, E> = clock.run(hedge.execute(|| async {
        (&clock).sleep(50 * MS).await;
        Ok(7)
    }));
    assert_eq!(out, Ok(7));
    assert_eq!(
        events.take(),
        [
            Event::Hedge,
            Event::RetryBudgetExhausted,
            Event::Success { duration: 50 * MS },
        ]
    );

    let retry = RetryPolicy::fixed_with_timer(5, MS, &clock)
        .with_budget(Allow(AtomicU32::new(0)))
        .observe(&events);
    let _ = clock.run(retry.execute(|| async { Err::<(), E>(DoOverError::Inner("x")) }));
    assert_eq!(
        events.take(),
        [
            Event::RetryBudgetExhausted,
            Event::Failure {
                duration: Duration::ZERO
            }
        ]
    );
}

#[derive(Default)]
struct Counts {
    ok: AtomicU32,
    failed: AtomicU32,
    retries: AtomicU32,
}

impl Metrics for Counts {
    fn on_success(&self) {
        self.ok.fetch_add(1, Ordering::SeqCst);
    }
    fn on_failure(&self) {
        self.failed.fetch_add(1, Ordering::SeqCst);
    }
    fn on_retry(&self) {
        self.retries.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn reference_metrics_hook_counts_calls_and_retries_on_every_policy() {
    let clock = ManualClock::new();
    let m = Counts::default();
    let retry = RetryPolicy::fixed_with_timer(2, MS, &clock).with_metrics(&m);
    let _ = clock.run(retry.execute(|| async { Err::<(), E>(DoOverError::Inner("x")) }));
    let _ = clock.run(retry.execute(|| async { Ok::<_, E>(()) }));
    assert_eq!(m.retries.load(Ordering::SeqCst), 2);
    assert_eq!(m.failed.load(Ordering::SeqCst), 1);
    assert_eq!(m.ok.load(Ordering::SeqCst), 1);

    let m = Counts::default();
    let timeout = TimeoutPolicy::new_with_timer(MS, &clock).with_metrics(&m);
    let breaker = CircuitBreaker::new_with_timer(5, MS, &clock).with_metrics(&m);
    let bulkhead = Bulkhead::new_with_timer(1, &clock).with_metrics(&m);
    let limiter = RateLimiter::new_with_timer(10, MS, &clock).with_metrics(&m);
    let hedge = Hedge::new_with_timer(MS, &clock).with_metrics(&m);
    let ok = || async { Ok::<_, E>(()) };
    assert!(clock.run(timeout.execute(ok)).is_ok());
    assert!(clock.run(breaker.execute(ok)).is_ok());
    assert!(clock.run(bulkhead.execute(ok)).is_ok());
    assert!(clock.run(limiter.execute(ok)).is_ok());
    assert!(clock.run(hedge.execute(ok)).is_ok());
    assert_eq!(m.ok.load(Ordering::SeqCst), 5);

    // A whole stack, observed from outside.
    let stack = Wrap::new(
        Bulkhead::new_with_timer(1, &clock),
        TimeoutPolicy::new_with_timer(MS, &clock),
    )
    .observe_with_clock(do_over_core::observe::MetricsListener(&m), &clock);
    let _ = clock.run(stack.execute(|| async {
        (&clock).sleep(5 * MS).await;
        Ok::<_, E>(())
    }));
    assert_eq!(m.failed.load(Ordering::SeqCst), 1);
}
