//! Retry, timeout and wrap on the manual clock: exact virtual timings, and what happens
//! when a call is cancelled part-way.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use do_over_core::error::DoOverError;
use do_over_core::policy::{LocalPolicy, Policy};
use do_over_core::retry::{RetryBuilder, RetryPolicy};
use do_over_core::time::{Clock, Instant, ManualClock, Timer};
use do_over_core::timeout::TimeoutPolicy;
use do_over_core::wrap::Wrap;

const MS: Duration = Duration::from_millis(1);

fn ms(t: Instant) -> u64 {
    t.as_nanos() / 1_000_000
}

#[test]
fn retry_attempts_happen_at_exact_virtual_times() {
    let clock = ManualClock::new();
    let retry = RetryPolicy::exponential_with_timer(3, 10 * MS, 3.0, &clock);
    let times = Mutex::new(Vec::new());
    let out: Result<(), &str> = clock.run(retry.execute(|| async {
        times.lock().unwrap().push(ms(clock.now()));
        Err("nope")
    }));
    assert_eq!(out, Err("nope"));
    assert_eq!(*times.lock().unwrap(), [0, 10, 40, 130]);
}

#[test]
fn zero_delay_retries_run_back_to_back() {
    let clock = ManualClock::new();
    let retry = RetryPolicy::fixed_with_timer(4, Duration::ZERO, &clock);
    let calls = AtomicU32::new(0);
    let out: Result<u32, ()> = clock.run(retry.execute(|| async {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 5 { Err(()) } else { Ok(n) }
    }));
    assert_eq!(out, Ok(5));
    assert_eq!(clock.now(), Instant::ZERO);
}

fn poll_once<F: Future>(f: core::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn dropping_a_retry_during_its_delay_unregisters_the_sleep() {
    let clock = ManualClock::new();
    let retry = RetryPolicy::fixed_with_timer(3, Duration::from_secs(1), &clock);
    let calls = AtomicU32::new(0);
    {
        let mut fut = pin!(retry.execute(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("down")
        }));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(clock.pending_sleeps(), 1, "waiting for the first retry");
    }
    assert_eq!(
        clock.pending_sleeps(),
        0,
        "cancelled: nothing left registered"
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no retry after cancellation"
    );
}

#[test]
fn dropping_a_timeout_mid_operation_cancels_both_operation_and_timer() {
    let clock = ManualClock::new();
    let timer = &clock;
    let timeout = TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock);
    {
        let mut fut = pin!(timeout.execute(|| async {
            timer.sleep(Duration::from_secs(10)).await;
            Ok::<_, DoOverError<()>>(())
        }));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(
            clock.pending_sleeps(),
            2,
            "the operation's sleep and the deadline"
        );
    }
    assert_eq!(clock.pending_sleeps(), 0);
}

#[test]
fn timeout_fires_exactly_at_the_deadline_and_drops_the_operation() {
    let clock = ManualClock::new();
    let timer = &clock;
    let timeout = TimeoutPolicy::new_with_timer(250 * MS, &clock);
    let mut fut = pin!(timeout.execute(|| async {
        timer.sleep(Duration::from_secs(10)).await;
        Ok::<_, DoOverError<()>>(())
    }));
    assert!(poll_once(fut.as_mut()).is_pending());
    clock.advance(249 * MS);
    assert!(poll_once(fut.as_mut()).is_pending());
    clock.advance(MS);
    assert_eq!(
        poll_once(fut.as_mut()),
        Poll::Ready(Err(DoOverError::Timeout))
    );
    assert_eq!(
        clock.pending_sleeps(),
        0,
        "operation dropped at expiry, not later"
    );
}

#[test]
fn operation_that_finishes_at_the_deadline_wins() {
    let clock = ManualClock::new();
    let timer = &clock;
    let timeout = TimeoutPolicy::new_with_timer(100 * MS, &clock);
    let out = clock.run(timeout.execute(|| async {
        timer.sleep(100 * MS).await;
        Ok::<_, DoOverError<()>>("just in time")
    }));
    assert_eq!(out, Ok("just in time"));
}

#[test]
fn budget_counts_attempt_time_too() {
    let clock = ManualClock::new();
    let timer = &clock;
    let retry = RetryBuilder::new(&clock)
        .max_retries(10)
        .fixed(100 * MS)
        .max_elapsed(Duration::from_secs(1))
        .build()
        .unwrap();
    let times = Mutex::new(Vec::new());
    let out: Result<(), &str> = clock.run(retry.execute(|| async {
        times.lock().unwrap().push(ms(clock.now()));
        timer.sleep(200 * MS).await; // each attempt takes 200 ms
        Err("slow failure")
    }));
    assert_eq!(out, Err("slow failure"));
    // Attempts start at 0, 300, 600, 900; after the fourth (ends at 1100) no retry fits.
    assert_eq!(*times.lock().unwrap(), [0, 300, 600, 900]);
}

#[test]
fn local_policy_runs_non_send_operations() {
    let clock = ManualClock::new();
    let stack = Wrap::new(
        RetryPolicy::fixed_with_timer(2, 5 * MS, &clock),
        TimeoutPolicy::new_with_timer(Duration::from_secs(1), &clock),
    );
    let log = RefCell::new(Vec::new()); // !Sync: the operation's future is !Send
    let out = clock.run(stack.execute_local(|| async {
        log.borrow_mut().push(ms(clock.now()));
        if log.borrow().len() < 3 {
            Err(DoOverError::Inner("again"))
        } else {
            Ok(log.borrow().len())
        }
    }));
    assert_eq!(out, Ok(3));
    assert_eq!(*log.borrow(), [0, 5, 10]);
}

mod bulkhead {
    use super::*;
    use do_over_core::bulkhead::Bulkhead;

    type E = DoOverError<()>;

    #[test]
    fn a_granted_waiter_dropped_before_running_hands_its_slot_to_the_next() {
        let clock = ManualClock::new();
        let timer = &clock;
        let b = Bulkhead::new_with_timer(1, &clock).with_queue_timeout(Duration::from_secs(10));
        let a_ran = AtomicU32::new(0);
        let mut holder = pin!(b.execute(|| async {
            timer.sleep(10 * MS).await;
            Ok::<_, E>(0)
        }));
        let mut a = Box::pin(b.execute(|| async {
            a_ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, E>(1)
        }));
        let mut c = pin!(b.execute(|| async { Ok::<_, E>(2) }));
        assert!(poll_once(holder.as_mut()).is_pending());
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(c.as_mut()).is_pending());
        assert_eq!((b.in_flight(), b.queued()), (1, 2));

        clock.advance(10 * MS);
        assert_eq!(poll_once(holder.as_mut()), Poll::Ready(Ok(0)));
        // The slot went to A (first in line); A is dropped before it is polled again.
        assert_eq!(b.queued(), 1);
        drop(a);
        assert_eq!(a_ran.load(Ordering::SeqCst), 0);
        assert_eq!(poll_once(c.as_mut()), Poll::Ready(Ok(2)), "C got A's slot");
        assert_eq!((b.in_flight(), b.queued()), (0, 0));
    }

    #[test]
    fn a_slot_granted_at_the_deadline_is_used_not_lost() {
        let clock = ManualClock::new();
        let timer = &clock;
        let b = Bulkhead::new_with_timer(1, &clock).with_queue_timeout(10 * MS);
        let mut holder = pin!(b.execute(|| async {
            timer.sleep(10 * MS).await;
            Ok::<_, E>(0)
        }));
        let mut w = pin!(b.execute(|| async { Ok::<_, E>(1) }));
        assert!(poll_once(holder.as_mut()).is_pending());
        assert!(poll_once(w.as_mut()).is_pending());
        clock.advance(10 * MS); // the holder finishes and the waiter's deadline passes
        assert_eq!(poll_once(holder.as_mut()), Poll::Ready(Ok(0)));
        assert_eq!(poll_once(w.as_mut()), Poll::Ready(Ok(1)));
        assert_eq!(b.available(), 1);
    }
}

#[test]
fn hedge_capacity_can_be_raised_for_more_hedged_attempts() {
    use do_over_core::hedge::Hedge;
    let clock = ManualClock::new();
    assert!(
        Hedge::new_with_timer(10 * MS, &clock)
            .try_with_max_hedged_attempts(5)
            .is_err(),
        "the default capacity (4) holds 3 hedges"
    );
    let hedge = Hedge::new_with_timer(10 * MS, &clock)
        .with_attempt_capacity::<8>()
        .unwrap()
        .with_max_hedged_attempts(6);
    let started = AtomicU32::new(0);
    let out: Result<u32, DoOverError<()>> = clock.run(hedge.execute(|| async {
        let n = started.fetch_add(1, Ordering::SeqCst);
        (&clock).sleep(if n == 6 { MS } else { 1000 * MS }).await;
        Ok(n)
    }));
    assert_eq!(out, Ok(6), "the sixth hedge (seventh attempt) wins");
    assert_eq!(ms(clock.now()), 61);
    assert!(
        Hedge::new_with_timer(MS, &clock)
            .with_attempt_capacity::<1>()
            .is_err()
    );
}

#[test]
fn bulkhead_queue_settings_do_not_depend_on_their_order() {
    use core::pin::pin;
    use do_over_core::bulkhead::Bulkhead;
    let clock = ManualClock::new();
    for bulkhead in [
        Bulkhead::new_with_timer(1, &clock)
            .with_max_queued(0)
            .with_queue_timeout(50 * MS),
        Bulkhead::new_with_timer(1, &clock)
            .with_queue_timeout(50 * MS)
            .with_max_queued(0),
    ] {
        let mut holder = pin!(bulkhead.execute(|| async {
            (&clock).sleep(10 * MS).await;
            Ok::<_, DoOverError<()>>(())
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(holder.as_mut().poll(&mut cx).is_pending());
        let start = clock.now();
        let out = clock.run(bulkhead.execute(|| async { Ok::<_, DoOverError<()>>(()) }));
        assert_eq!(out, Err(DoOverError::BulkheadFull), "nobody may wait");
        assert_eq!(clock.now(), start, "rejected at once");
        clock.advance(10 * MS);
        assert!(holder.as_mut().poll(&mut cx).is_ready());
    }
}
