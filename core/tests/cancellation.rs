//! Cancellation at every poll point: each future is dropped after k polls, for every k until
//! it completes, and afterwards nothing is left behind — no registered sleep, no held slot or
//! queue place, no half-open probe, no spent reservation that blocks the next call, no waker.
//!
//! Every poll gets a fresh counting waker, and no wake-up may be lost: when a poll returns
//! `Pending` and the clock is then advanced to the next deadline, the waker passed to *that*
//! poll (not an older one a future kept) must have been woken before the next poll.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::task::Wake;

use do_over_core::bulkhead::Bulkhead;
use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
use do_over_core::error::DoOverError;
use do_over_core::hedge::Hedge;
use do_over_core::policy::Policy;
use do_over_core::rate_limit::RateLimiter;
use do_over_core::retry::RetryPolicy;
use do_over_core::time::{ManualClock, Timer};
use do_over_core::timeout::TimeoutPolicy;
use do_over_core::wrap::Wrap;

type E = DoOverError<()>;
const MS: Duration = Duration::from_millis(1);

/// A waker that counts how often it (or any clone of it) was woken.
#[derive(Default)]
struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The polls of one future so far: every waker handed out, and the last poll's waker if
/// that poll returned `Pending`.
#[derive(Default)]
struct Polls {
    wakers: Vec<Arc<CountingWaker>>,
    pending: Option<Arc<CountingWaker>>,
    /// How many polls followed a `Pending` one (each checked for a lost wake-up).
    wake_checks: usize,
}

/// Polls `fut` once with a fresh counting waker. If the previous poll returned `Pending`,
/// first advances `clock` to its next deadline (if any) and asserts that the previous
/// poll's waker has been woken by then (during that poll itself, or by the advance): a
/// future that stays pending must be able to wake the task that polled it last.
fn step<F: Future>(clock: &ManualClock, fut: Pin<&mut F>, polls: &mut Polls) -> Poll<F::Output> {
    let n = polls.wakers.len();
    if let Some(last) = polls.pending.take() {
        let deadline = clock.next_deadline();
        if let Some(d) = deadline {
            clock.advance_to(d);
        }
        assert!(
            last.wakes() > 0,
            "lost wake-up: poll {n} returned Pending, the clock was advanced to {deadline:?}, \
             and the waker of that poll was never woken"
        );
        polls.wake_checks += 1;
    }
    let cw = Arc::new(CountingWaker::default());
    let waker = Waker::from(cw.clone());
    let p = fut.poll(&mut Context::from_waker(&waker));
    drop(waker);
    if p.is_pending() {
        polls.pending = Some(cw.clone());
    }
    polls.wakers.push(cw);
    p
}

/// For k = 0, 1, 2, ...: build a future, poll it k times, drop it, check that it kept no
/// waker, run `check`. Stops once a future completes within k polls (every poll point has
/// then been a drop point).
fn drop_at_every_poll<F: Future>(
    clock: &ManualClock,
    make: impl Fn() -> F,
    check: impl Fn(usize),
) -> usize {
    for k in 0.. {
        let mut fut = Box::pin(make());
        let mut polls = Polls::default();
        let mut done = false;
        for _ in 0..k {
            if step(clock, fut.as_mut(), &mut polls).is_ready() {
                done = true;
                break;
            }
        }
        drop(fut);
        polls.pending = None; // our own handle on the last waker
        for (i, w) in polls.wakers.iter().enumerate() {
            assert_eq!(
                Arc::strong_count(w),
                1,
                "the waker of poll {} outlived the future dropped after {k} polls",
                i + 1
            );
        }
        check(k);
        if done {
            assert!(
                polls.wake_checks > 0,
                "the future never waited: no wake-up was checked"
            );
            return k;
        }
        assert!(k < 10_000, "the future never completed");
    }
    unreachable!()
}

#[test]
fn the_full_stack_leaves_nothing_behind_wherever_it_is_dropped() {
    let clock = ManualClock::new();
    let timer = &clock;
    let bulkhead = Bulkhead::new_with_timer(2, &clock).with_queue_timeout(Duration::from_secs(1));
    let breaker = CircuitBreaker::new_with_timer(100, Duration::from_secs(1), &clock);
    let limiter = RateLimiter::new_with_timer(1000, Duration::from_secs(1), &clock)
        .with_max_wait(Duration::from_secs(1));
    let retry = RetryPolicy::exponential_with_timer(3, 10 * MS, 2.0, &clock);
    let timeout = TimeoutPolicy::new_with_timer(50 * MS, &clock);
    let stack = Wrap::new(
        &bulkhead,
        Wrap::new(&breaker, Wrap::new(&limiter, Wrap::new(&retry, &timeout))),
    );
    let calls = AtomicU32::new(0);
    let polls = drop_at_every_poll(
        &clock,
        || {
            stack.execute(|| async {
                // Alternate: time out, fail, then succeed after a short sleep.
                match calls.fetch_add(1, Ordering::Relaxed) % 3 {
                    0 => timer.sleep(Duration::from_secs(1)).await,
                    1 => return Err(DoOverError::Inner(())),
                    _ => timer.sleep(5 * MS).await,
                }
                Ok::<_, E>(())
            })
        },
        |k| {
            assert_eq!(
                clock.pending_sleeps(),
                0,
                "a sleep left registered after {k} polls"
            );
            assert_eq!(
                (bulkhead.available(), bulkhead.queued()),
                (2, 0),
                "after {k} polls"
            );
            assert_eq!(breaker.metrics().probes_running, 0);
        },
    );
    assert!(polls >= 3, "{polls}");
}

#[test]
fn a_queued_bulkhead_waiter_dropped_at_any_point_passes_the_slot_on() {
    let clock = ManualClock::new();
    let timer = &clock;
    let bulkhead = Bulkhead::new_with_timer(1, &clock).with_queue_timeout(Duration::from_secs(1));
    drop_at_every_poll(
        &clock,
        || {
            // A holder and a waiter polled together; the pair is dropped at each point.
            let holder = bulkhead.execute(|| async {
                timer.sleep(10 * MS).await;
                Ok::<_, E>(())
            });
            let waiter = bulkhead.execute(|| async {
                timer.sleep(10 * MS).await;
                Ok::<_, E>(())
            });
            async move {
                let (mut h, mut w) = (Box::pin(holder), Box::pin(waiter));
                let (mut hd, mut wd) = (false, false);
                core::future::poll_fn(move |cx| {
                    if !hd {
                        hd = h.as_mut().poll(cx).is_ready();
                    }
                    if !wd {
                        wd = w.as_mut().poll(cx).is_ready();
                    }
                    if hd && wd {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await
            }
        },
        |k| {
            assert_eq!(
                (bulkhead.available(), bulkhead.queued()),
                (1, 0),
                "after {k} polls"
            );
            assert_eq!(clock.pending_sleeps(), 0);
        },
    );
}

#[test]
fn a_half_open_probe_dropped_at_any_point_never_wedges_the_breaker() {
    let clock = ManualClock::new();
    let timer = &clock;
    let breaker = CircuitBreaker::new_with_timer(1, 10 * MS, &clock);
    let _ = clock.run(breaker.execute(|| async { Err::<(), E>(DoOverError::Inner(())) }));
    clock.advance(10 * MS);
    drop_at_every_poll(
        &clock,
        || {
            breaker.execute(|| async {
                timer.sleep(5 * MS).await;
                Err::<(), E>(DoOverError::Inner(()))
            })
        },
        |k| {
            let m = breaker.metrics();
            assert_eq!(m.probes_running, 0, "after {k} polls");
            if m.state == CircuitState::Open {
                // The probe completed and failed: wait out the break for the next round.
                clock.advance(breaker.retry_after().unwrap_or_default());
            }
            assert!(
                breaker.try_acquire().is_ok(),
                "the breaker admits a probe after {k} polls"
            );
        },
    );
}

#[test]
fn a_hedge_dropped_at_any_point_cancels_every_attempt() {
    let clock = ManualClock::new();
    let timer = &clock;
    let hedge = Hedge::new_with_timer(10 * MS, &clock).with_max_hedged_attempts(2);
    let started = AtomicU32::new(0);
    let finished = AtomicU32::new(0);
    drop_at_every_poll(
        &clock,
        || {
            hedge.execute(|| async {
                let n = started.fetch_add(1, Ordering::Relaxed);
                timer
                    .sleep(if n % 3 == 2 {
                        MS
                    } else {
                        Duration::from_secs(1)
                    })
                    .await;
                finished.fetch_add(1, Ordering::Relaxed);
                Ok::<_, E>(())
            })
        },
        |k| {
            assert_eq!(
                clock.pending_sleeps(),
                0,
                "an attempt or timer survived {k} polls"
            )
        },
    );
}

#[test]
fn a_waiting_rate_limited_call_dropped_at_any_point_returns_its_reservation() {
    let clock = ManualClock::new();
    let limiter =
        RateLimiter::new_with_timer(1, 100 * MS, &clock).with_max_wait(Duration::from_secs(1));
    drop_at_every_poll(
        &clock,
        || {
            // The first call takes the token; the second waits for the next one.
            let first = limiter.execute(|| async { Ok::<_, E>(()) });
            let second = limiter.execute(|| async { Ok::<_, E>(()) });
            async move {
                first.await.unwrap();
                second.await.unwrap();
            }
        },
        |k| {
            // Whatever was cancelled, a full interval later exactly one token is back.
            clock.advance(100 * MS);
            assert_eq!(limiter.available(), 1, "after {k} polls");
        },
    );
}

/// The harness itself: a future that leaves a sleep registered with the waker of an earlier
/// poll, and returns `Pending` from a later poll without registering that poll's waker, is a
/// lost wake-up (a real executor may never poll it again), and `step` must catch it.
#[test]
#[should_panic(expected = "lost wake-up")]
fn the_harness_catches_a_future_that_keeps_a_stale_waker() {
    let clock = ManualClock::new();
    let timer = &clock;
    drop_at_every_poll(
        &clock,
        || {
            let (mut short, mut long) = (Box::pin(timer.sleep(MS)), Box::pin(timer.sleep(2 * MS)));
            let mut polls = 0;
            core::future::poll_fn(move |cx| {
                polls += 1;
                match polls {
                    // Both sleeps get this poll's waker.
                    1 => {
                        let _ = short.as_mut().poll(cx);
                        let _ = long.as_mut().poll(cx);
                        Poll::Pending
                    }
                    // Bug: only the short sleep (now due) is polled; the long one keeps the
                    // first poll's waker, and this poll's waker is registered nowhere.
                    2 => {
                        let _ = short.as_mut().poll(cx);
                        Poll::Pending
                    }
                    _ => Poll::Ready(()),
                }
            })
        },
        |_| {},
    );
}
