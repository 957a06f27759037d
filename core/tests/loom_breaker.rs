//! Model-checks the circuit breaker's state machine under every thread interleaving (loom).
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=/work/target-loom cargo test -p do-over-core --test loom_breaker --release`
//!
//! Each model builds its breaker inside the model closure (loom atomics must be created per
//! execution) on a leaked `ManualClock`: the clock's spin lock is not a loom primitive, but it
//! is never held across a loom operation, so it cannot block another modelled thread.

#![cfg(loom)]

use core::time::Duration;

use do_over_core::circuit_breaker::{BreakerBuilder, CircuitBreaker, CircuitState, Transition};
use do_over_core::error::MAX_WAIT;
use do_over_core::time::ManualClock;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

const BREAK: Duration = Duration::from_secs(10);

/// A fresh clock for one execution of a model (leaked: a few bytes per execution).
fn clock() -> &'static ManualClock {
    Box::leak(Box::new(ManualClock::new()))
}

/// A breaker that opens on the first failure and admits `probes` half-open probes.
fn breaker(clock: &'static ManualClock, probes: u32) -> CircuitBreaker<&'static ManualClock> {
    BreakerBuilder::new(clock)
        .consecutive_failures(1)
        .break_duration(BREAK)
        .half_open_probes(probes)
        .build()
        .unwrap()
}

/// Trips `b` (one failure) and lets the break pass: the next acquire is a probe.
fn trip_and_wait(b: &CircuitBreaker<&'static ManualClock>, clock: &ManualClock) {
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(BREAK);
}

/// Runs `f` under loom with every interleaving of its threads (no preemption bound: the
/// two-thread models are small enough), unless `LOOM_MAX_PREEMPTIONS` says otherwise.
fn check<F: Fn() + Sync + Send + 'static>(f: F) {
    check_bounded(None, f);
}

/// Runs `f` under loom with at most `bound` preemptions per execution (`None`: exhaustive),
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise.
fn check_bounded<F: Fn() + Sync + Send + 'static>(bound: Option<usize>, f: F) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = bound;
    }
    builder.check(f);
}

/// A spin barrier on loom atomics: returns once `n` threads have arrived.
fn barrier_wait(arrived: &AtomicUsize, n: usize) {
    arrived.fetch_add(1, Ordering::AcqRel);
    while arrived.load(Ordering::Acquire) < n {
        thread::yield_now();
    }
}

/// `threads` threads race for the half-open slots of a breaker with `probes` probes; every
/// winner keeps its probe running. Exactly `probes` of them win.
///
/// Three threads explode the state space, so that model is bounded to 4 preemptions per
/// execution (about 7 s in release; 5 takes about 25 s); two threads are exhaustive.
fn half_open_admits_exactly(probes: u32, threads: usize) {
    let bound = if threads > 2 { Some(4) } else { None };
    check_bounded(bound, move || {
        let clock = clock();
        let b = Arc::new(breaker(clock, probes));
        trip_and_wait(&b, clock);

        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || match b.try_acquire() {
                    Ok(permit) => {
                        assert!(permit.is_probe());
                        // Keep the probe running past the end of the model.
                        core::mem::forget(permit);
                        Ok(())
                    }
                    Err(retry_after) => Err(retry_after),
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        let admitted = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(admitted, probes as usize, "{results:?}");
        for r in &results {
            if let Err(retry_after) = r {
                assert_eq!(
                    *retry_after,
                    Duration::ZERO,
                    "a full half-open breaker says retry now"
                );
            }
        }
        let m = b.metrics();
        assert_eq!(m.state, CircuitState::HalfOpen);
        assert_eq!(m.probes_running, probes);
        assert_eq!(b.try_acquire().err(), Some(Duration::ZERO));
    });
}

#[test]
fn half_open_admits_exactly_one_probe() {
    half_open_admits_exactly(1, 2);
}

#[test]
fn half_open_admits_exactly_two_probes() {
    half_open_admits_exactly(2, 3);
}

/// Thread A takes a probe and loses it (drops the permit unreported) while thread B also
/// tries for a probe and loses it too: afterwards the breaker still admits a probe.
#[test]
fn dropped_probe_never_wedges() {
    check(|| {
        let clock = clock();
        let b = Arc::new(breaker(clock, 1));
        trip_and_wait(&b, clock);

        let a = {
            let b = b.clone();
            thread::spawn(move || {
                let permit = b.try_acquire();
                let got = permit.is_ok();
                drop(permit);
                got
            })
        };
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                let permit = b.try_acquire();
                let got = permit.is_ok();
                drop(permit);
                got
            })
        };
        let (a, other) = (a.join().unwrap(), other.join().unwrap());
        assert!(
            a || other,
            "the first acquire after the break is always a probe"
        );

        let m = b.metrics();
        assert_eq!(m.state, CircuitState::HalfOpen);
        assert_eq!(m.probes_running, 0, "a lost probe gives its slot back");
        let probe = b
            .try_acquire()
            .expect("a lost probe never wedges the breaker");
        assert!(probe.is_probe());
        probe.success();
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

/// Thread A loses its probe while thread B's probe (if B gets one) succeeds: either the
/// breaker closed, or it is half-open with a free slot; never stuck.
#[test]
fn dropped_probe_racing_a_successful_probe() {
    check(|| {
        let clock = clock();
        let b = Arc::new(breaker(clock, 1));
        trip_and_wait(&b, clock);

        let a = {
            let b = b.clone();
            thread::spawn(move || drop(b.try_acquire()))
        };
        let other = {
            let b = b.clone();
            thread::spawn(move || match b.try_acquire() {
                Ok(permit) => {
                    permit.success();
                    true
                }
                Err(_) => false,
            })
        };
        a.join().unwrap();
        let succeeded = other.join().unwrap();

        let m = b.metrics();
        assert_eq!(m.probes_running, 0);
        if succeeded {
            assert_eq!(m.state, CircuitState::Closed);
            assert!(!b.try_acquire().unwrap().is_probe());
        } else {
            assert_eq!(m.state, CircuitState::HalfOpen);
            assert!(b.try_acquire().unwrap().is_probe());
        }
    });
}

/// A probe succeeding while another thread forces the state (`isolate` or `close`): the
/// forced state wins in every interleaving, with no probe slot left taken.
fn probe_success_racing_force(probes: u32, isolate: bool) {
    check(move || {
        let clock = clock();
        let b = Arc::new(breaker(clock, probes));
        trip_and_wait(&b, clock);

        let prober = {
            let b = b.clone();
            thread::spawn(move || {
                // A probe, or a plain call if `close` came first.
                if let Ok(permit) = b.try_acquire() {
                    permit.success();
                }
            })
        };
        let forcer = {
            let b = b.clone();
            thread::spawn(move || if isolate { b.isolate() } else { b.close() })
        };
        prober.join().unwrap();
        forcer.join().unwrap();

        let m = b.metrics();
        assert_eq!(m.probes_running, 0);
        if isolate {
            assert_eq!(m.state, CircuitState::Isolated);
            assert_eq!(b.try_acquire().err(), Some(MAX_WAIT));
        } else {
            assert_eq!(m.state, CircuitState::Closed);
            assert_eq!(m.consecutive_breaks, 0);
            assert!(!b.try_acquire().unwrap().is_probe());
        }
    });
}

#[test]
fn probe_success_racing_isolate() {
    probe_success_racing_force(1, true);
}

#[test]
fn probe_success_racing_close() {
    probe_success_racing_force(1, false);
}

#[test]
fn one_of_two_probes_succeeding_racing_isolate() {
    probe_success_racing_force(2, true);
}

#[test]
fn one_of_two_probes_succeeding_racing_close() {
    probe_success_racing_force(2, false);
}

/// With two probes, both running: one succeeds while the other fails. Closing needs two
/// successes, so the failure reopens the breaker in every interleaving, for a second break.
#[test]
fn failing_probe_always_reopens() {
    check(|| {
        let clock = clock();
        let b = Arc::new(breaker(clock, 2));
        trip_and_wait(&b, clock);
        let both_running = Arc::new(AtomicUsize::new(0));

        let handles: Vec<_> = [false, true]
            .into_iter()
            .map(|fail| {
                let b = b.clone();
                let both_running = both_running.clone();
                thread::spawn(move || {
                    let permit = b.try_acquire().expect("two probe slots for two threads");
                    assert!(permit.is_probe());
                    barrier_wait(&both_running, 2);
                    permit.record(fail);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }

        let m = b.metrics();
        assert_eq!(m.state, CircuitState::Open);
        assert_eq!(m.consecutive_breaks, 2);
        assert_eq!(b.retry_after(), Some(BREAK));
    });
}

/// Threshold 2, two closed calls fail at once: the breaker opens exactly once.
#[test]
fn concurrent_failures_open_once() {
    check(|| {
        let clock = clock();
        let opened = Arc::new(AtomicUsize::new(0));
        let b = {
            let opened = opened.clone();
            Arc::new(
                CircuitBreaker::new_with_timer(2, BREAK, clock).on_transition(
                    move |t: &Transition| {
                        if (t.from, t.to) == (CircuitState::Closed, CircuitState::Open) {
                            opened.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                ),
            )
        };

        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    let permit = b.try_acquire().expect("closed: both calls run");
                    assert!(!permit.is_probe());
                    permit.failure();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }

        let m = b.metrics();
        assert_eq!(m.state, CircuitState::Open);
        assert_eq!(m.consecutive_breaks, 1);
        assert_eq!(opened.load(Ordering::Relaxed), 1);
        assert_eq!(b.retry_after(), Some(BREAK));
    });
}
