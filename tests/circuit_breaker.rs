//! The circuit breaker on Tokio's paused clock: every transition, lost probes, predicates,
//! windows, manual control, events and sharing.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use do_over::circuit_breaker::{CircuitBreaker, CircuitState, ExcludeRejections, Transition};
use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::retry::RetryPolicy;
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;
use tokio::time::{advance, sleep};

type E = DoOverError<&'static str>;
const S: Duration = Duration::from_secs(1);

async fn fail<P: Policy<E>>(p: &P) -> Result<(), E> {
    p.execute(|| async { Err(DoOverError::Inner("down")) })
        .await
}

async fn succeed<P: Policy<E>>(p: &P) -> Result<(), E> {
    p.execute(|| async { Ok(()) }).await
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_consecutive_failures_and_a_success_resets_the_count() {
    let breaker = CircuitBreaker::new(3, 30 * S);
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    succeed(&breaker).await.unwrap(); // resets
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().stats.consecutive_failures, 2);
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_running_the_operation_and_tells_when_to_retry() {
    let breaker = CircuitBreaker::new(1, 30 * S);
    fail(&breaker).await.unwrap_err();
    advance(10 * S).await;
    let ran = AtomicU32::new(0);
    let out: Result<(), io::Error> = breaker
        .execute(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
    let err = out.unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let rejection = err
        .get_ref()
        .unwrap()
        .downcast_ref::<do_over::error::Rejection>();
    assert_eq!(
        rejection,
        Some(&do_over::error::Rejection::CircuitOpen {
            retry_after: 20 * S
        })
    );
    assert_eq!(breaker.retry_after(), Some(20 * S));
    assert_eq!(fail(&breaker).await, Err(DoOverError::CircuitOpen));
}

#[tokio::test(start_paused = true)]
async fn after_the_break_one_probe_runs_and_others_are_rejected() {
    let breaker = Arc::new(CircuitBreaker::new(1, 5 * S));
    fail(&*breaker).await.unwrap_err();
    advance(5 * S).await;

    let b = breaker.clone();
    let probe = tokio::spawn(async move {
        b.execute(|| async {
            sleep(S).await;
            Ok::<_, E>("probe ok")
        })
        .await
    });
    tokio::task::yield_now().await;
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(breaker.metrics().probes_running, 1);
    assert_eq!(succeed(&*breaker).await, Err(DoOverError::CircuitOpen));
    assert_eq!(breaker.retry_after(), Some(Duration::ZERO));

    assert_eq!(probe.await.unwrap(), Ok("probe ok"));
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().stats.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_another_break() {
    let breaker = CircuitBreaker::new(1, 5 * S);
    fail(&breaker).await.unwrap_err();
    advance(5 * S).await;
    assert_eq!(fail(&breaker).await, Err(DoOverError::Inner("down")));
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(breaker.retry_after(), Some(5 * S));
    assert_eq!(breaker.metrics().consecutive_breaks, 2);
}

#[tokio::test(start_paused = true)]
async fn breaks_grow_exponentially_while_probes_keep_failing() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .exponential_break(S, 2.0, 5 * S)
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    let mut breaks = Vec::new();
    for _ in 0..5 {
        let d = breaker.retry_after().unwrap();
        breaks.push(d.as_secs());
        advance(d).await;
        fail(&breaker).await.unwrap_err(); // failing probe
    }
    assert_eq!(breaks, [1, 2, 4, 5, 5]);
    advance(5 * S).await;
    succeed(&breaker).await.unwrap();
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.retry_after(), Some(S), "growth resets once closed");
}

#[tokio::test(start_paused = true)]
async fn a_probe_cancelled_by_a_caller_timeout_gives_its_slot_back() {
    let breaker = CircuitBreaker::new(1, 5 * S);
    fail(&breaker).await.unwrap_err();
    advance(5 * S).await;
    // The caller's own timeout (outside the breaker) drops the probe mid-flight.
    let hung = tokio::time::timeout(
        S,
        breaker.execute(|| async {
            sleep(60 * S).await;
            Ok::<_, E>(())
        }),
    )
    .await;
    assert!(hung.is_err());
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(breaker.metrics().probes_running, 0, "slot given back");
    // The next call is admitted as the probe and closes the breaker.
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_panics_gives_its_slot_back() {
    let breaker = Arc::new(CircuitBreaker::new(1, 5 * S));
    fail(&*breaker).await.unwrap_err();
    advance(5 * S).await;
    let b = breaker.clone();
    let panicked = tokio::spawn(async move {
        b.execute(|| async {
            if true {
                panic!("operation bug");
            }
            Ok::<_, E>(())
        })
        .await
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    assert_eq!(breaker.metrics().probes_running, 0);
    succeed(&*breaker).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_inside_the_breaker_counts_a_hang_as_a_failure() {
    let policy = Wrap::new(CircuitBreaker::new(2, 30 * S), TimeoutPolicy::new(S));
    for _ in 0..2 {
        let out: Result<(), E> = policy
            .execute(|| async {
                sleep(60 * S).await;
                Ok(())
            })
            .await;
        assert_eq!(out, Err(DoOverError::Timeout));
    }
    assert_eq!(policy.outer.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn half_open_with_several_probes_needs_all_of_them_to_succeed() {
    let breaker = Arc::new(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .break_duration(S)
            .half_open_probes(2)
            .build()
            .unwrap(),
    );
    fail(&*breaker).await.unwrap_err();
    advance(S).await;
    succeed(&*breaker).await.unwrap();
    assert_eq!(
        breaker.state(),
        CircuitState::HalfOpen,
        "one of two probes done"
    );
    succeed(&*breaker).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_failure_predicate_decides_and_other_errors_count_as_success() {
    let breaker = CircuitBreaker::new(2, 30 * S)
        .failure_if(|e: &io::Error| e.kind() != io::ErrorKind::NotFound);
    let call = |kind| {
        let b = &breaker;
        async move {
            b.execute(|| async { Err::<(), _>(io::Error::from(kind)) })
                .await
        }
    };
    call(io::ErrorKind::ConnectionReset).await.unwrap_err();
    call(io::ErrorKind::NotFound).await.unwrap_err(); // a success: resets the count
    call(io::ErrorKind::ConnectionReset).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Closed);
    call(io::ErrorKind::ConnectionReset).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn inner_rejections_can_be_excluded() {
    // An inner timeout rejects; with ExcludeRejections it does not count as a failure.
    let policy = Wrap::new(
        CircuitBreaker::new(1, 30 * S).with_predicate(ExcludeRejections),
        TimeoutPolicy::new(S),
    );
    let out: Result<(), E> = policy
        .execute(|| async {
            sleep(60 * S).await;
            Ok(())
        })
        .await;
    assert_eq!(out, Err(DoOverError::Timeout));
    assert_eq!(policy.outer.state(), CircuitState::Closed);
    fail(&policy).await.unwrap_err();
    assert_eq!(policy.outer.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn outcomes_from_an_earlier_period_are_ignored() {
    let breaker = Arc::new(CircuitBreaker::new(2, S));
    // A slow call admitted while closed...
    let b = breaker.clone();
    let slow = tokio::spawn(async move {
        b.execute(|| async {
            sleep(10 * S).await;
            Err::<(), E>(DoOverError::Inner("late failure"))
        })
        .await
    });
    tokio::task::yield_now().await;
    // ...while the breaker opens, probes and closes again.
    fail(&*breaker).await.unwrap_err();
    fail(&*breaker).await.unwrap_err();
    advance(S).await;
    succeed(&*breaker).await.unwrap();
    fail(&*breaker).await.unwrap_err(); // one failure in the new period
    slow.await.unwrap().unwrap_err(); // the stale failure arrives
    assert_eq!(breaker.metrics().stats.consecutive_failures, 1);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn failure_ratio_over_a_time_window_respects_minimum_throughput() {
    let breaker = CircuitBreaker::builder()
        .failure_ratio(0.5, 10 * S, 4)
        .break_duration(5 * S)
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "3 calls < minimum throughput 4"
    );
    succeed(&breaker).await.unwrap();
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "a success never opens"
    );
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open, "4 of 5 failed");
}

#[tokio::test(start_paused = true)]
async fn old_outcomes_slide_out_of_the_time_window() {
    let breaker = CircuitBreaker::builder()
        .failure_ratio(0.5, 10 * S, 2)
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    advance(11 * S).await; // that failure leaves the window
    succeed(&breaker).await.unwrap();
    succeed(&breaker).await.unwrap();
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.metrics().stats.calls, 3);
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "1 of 3 in the window"
    );
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open, "2 of 4");
}

#[tokio::test(start_paused = true)]
async fn count_window_looks_at_the_last_n_calls() {
    let breaker = CircuitBreaker::builder()
        .count_window::<4>(0.75, 4)
        .build()
        .unwrap();
    for _ in 0..2 {
        fail(&breaker).await.unwrap_err();
    }
    for _ in 0..4 {
        succeed(&breaker).await.unwrap(); // pushes the failures out
    }
    assert_eq!(breaker.metrics().stats.failures, 0);
    for _ in 0..2 {
        fail(&breaker).await.unwrap_err();
    }
    assert_eq!(breaker.state(), CircuitState::Closed, "2 of 4");
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open, "3 of 4");
}

#[tokio::test(start_paused = true)]
async fn slow_calls_count_toward_the_slow_call_ratio() {
    let breaker = CircuitBreaker::builder()
        .count_window::<10>(1.0, 3)
        .slow_calls(2 * S, 0.6)
        .build()
        .unwrap();
    let slow_ok = || async {
        sleep(3 * S).await;
        Ok::<_, E>(())
    };
    breaker.execute(slow_ok).await.unwrap();
    succeed(&breaker).await.unwrap();
    breaker.execute(slow_ok).await.unwrap();
    let m = breaker.metrics();
    assert_eq!(
        (m.stats.calls, m.stats.slow_calls, m.state),
        (3, 2, CircuitState::Open)
    );
}

#[tokio::test(start_paused = true)]
async fn isolate_holds_open_until_closed_and_reset_restores_the_initial_state() {
    let breaker = CircuitBreaker::new(1, S);
    breaker.isolate();
    assert_eq!(breaker.state(), CircuitState::Isolated);
    advance(3600 * S).await;
    assert_eq!(succeed(&breaker).await, Err(DoOverError::CircuitOpen));
    assert_eq!(breaker.retry_after(), Some(do_over::error::MAX_WAIT));
    breaker.close();
    assert_eq!(breaker.state(), CircuitState::Closed);
    succeed(&breaker).await.unwrap();

    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open);
    breaker.reset();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().consecutive_breaks, 0);
}

#[tokio::test(start_paused = true)]
async fn every_transition_reaches_the_listener() {
    let seen = Mutex::new(Vec::new());
    let start = tokio::time::Instant::now();
    let breaker = CircuitBreaker::new(1, 2 * S).on_transition(|t: &Transition| {
        seen.lock().unwrap().push((t.from, t.to));
    });
    fail(&breaker).await.unwrap_err();
    advance(2 * S).await;
    fail(&breaker).await.unwrap_err(); // probe fails
    advance(2 * S).await;
    succeed(&breaker).await.unwrap(); // probe succeeds
    breaker.isolate();
    breaker.close();
    use CircuitState::*;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, Isolated),
            (Isolated, Closed)
        ]
    );
    assert_eq!(start.elapsed(), 4 * S);
}

#[tokio::test(start_paused = true)]
async fn shared_handles_see_one_state() {
    // Not Clone (cloning would split state): share by Arc or reference.
    let breaker = Arc::new(CircuitBreaker::new(2, S));
    let a = breaker.clone();
    let b = breaker.clone();
    fail(&a).await.unwrap_err();
    fail(&b).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(succeed(&&*breaker).await, Err(DoOverError::CircuitOpen));
}

// Compile-time proof that `CircuitBreaker` is not `Clone`.
trait AmbiguousIfClone<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfClone<()> for T {}
#[allow(dead_code)]
struct IsClone;
impl<T: Clone> AmbiguousIfClone<IsClone> for T {}
#[test]
fn circuit_breaker_is_not_clone() {
    // Would fail to compile ("type annotations needed") if CircuitBreaker were Clone.
    <CircuitBreaker as AmbiguousIfClone<_>>::check();
}

// The reference README's breaker snippet, as a test.
#[tokio::test(start_paused = true)]
async fn reference_breaker_example() {
    let breaker = CircuitBreaker::new(5, Duration::from_secs(60));
    async fn external_service_call() -> Result<String, DoOverError<String>> {
        Err(DoOverError::Inner("service unavailable".to_string()))
    }
    let mut log = Vec::new();
    for _ in 0..6 {
        match breaker
            .execute(|| async { external_service_call().await })
            .await
        {
            Ok(result) => log.push(format!("Success: {result:?}")),
            Err(DoOverError::CircuitOpen) => {
                log.push("Circuit is open, not calling service".to_string())
            }
            Err(e) => log.push(format!("Service error: {e:?}")),
        }
    }
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("Service error"))
            .count(),
        5
    );
    assert_eq!(log[5], "Circuit is open, not calling service");
}

#[tokio::test(start_paused = true)]
async fn breaker_in_a_full_stack_inside_tokio_spawn() {
    let policy = Arc::new(Wrap::new(
        CircuitBreaker::new(5, 30 * S),
        Wrap::new(
            RetryPolicy::exponential(3, Duration::from_millis(100), 2.0),
            TimeoutPolicy::new(10 * S),
        ),
    ));
    let calls = Arc::new(AtomicU32::new(0));
    let (p, c) = (policy.clone(), calls.clone());
    let out = tokio::spawn(async move {
        p.execute(|| {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(DoOverError::Inner("flaky"))
                } else {
                    Ok(7)
                }
            }
        })
        .await
    })
    .await
    .unwrap();
    assert_eq!(out, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(policy.outer.state(), CircuitState::Closed);
}
