//! loom models of the bulkhead and the rate limiter: every interleaving of a few threads.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p do-over-core --test loom_bulkhead_limiter --release`.
#![cfg(loom)]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use do_over_core::bulkhead::Bulkhead;
use do_over_core::error::DoOverError;
use do_over_core::policy::Policy;
use do_over_core::rate_limit::RateLimiter;
use do_over_core::time::ManualClock;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

type E = DoOverError<()>;

fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn clock() -> &'static ManualClock {
    Box::leak(Box::new(ManualClock::new()))
}

/// A bulkhead that outlives the model's threads (futures borrow it across threads).
fn queued_bulkhead() -> &'static Bulkhead<&'static ManualClock> {
    Box::leak(Box::new(
        Bulkhead::new_with_timer(1, clock()).with_queue_timeout(Duration::from_secs(1)),
    ))
}

#[test]
fn bulkhead_never_exceeds_its_limit() {
    loom::model(|| {
        let b = Arc::new(Bulkhead::new_with_timer(1, clock()));
        let running = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (b, running, admitted) = (b.clone(), running.clone(), admitted.clone());
                thread::spawn(move || {
                    let fut = b.execute(|| async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 1, "{now} calls running under a limit of 1");
                        admitted.fetch_add(1, Ordering::SeqCst);
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, E>(())
                    });
                    let mut fut = Box::pin(fut);
                    let _ = poll(fut.as_mut());
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(admitted.load(Ordering::SeqCst) >= 1);
        assert_eq!(b.available(), 1, "every slot came back");
    });
}

#[test]
fn a_released_slot_reaches_a_queued_waiter_even_if_it_is_cancelled_meanwhile() {
    loom::model(|| {
        let b = queued_bulkhead();
        // The holder takes the slot on the main thread and is then released by thread 1.
        let mut holder = Box::pin(b.execute(core::future::pending::<Result<(), E>>));
        assert!(poll(holder.as_mut()).is_pending());
        let mut waiter = Box::pin(b.execute(|| async { Ok::<_, E>(()) }));
        assert!(poll(waiter.as_mut()).is_pending(), "queued");
        let releaser = thread::spawn(move || drop(holder));
        let canceller = thread::spawn(move || drop(waiter));
        releaser.join().unwrap();
        canceller.join().unwrap();
        // Whether the slot was handed to the waiter before or after it left, it is back.
        assert_eq!((b.available(), b.queued()), (1, 0));
    });
}

#[test]
fn a_queued_waiter_is_granted_the_released_slot() {
    loom::model(|| {
        let b = queued_bulkhead();
        let mut holder = Box::pin(b.execute(core::future::pending::<Result<(), E>>));
        assert!(poll(holder.as_mut()).is_pending());
        let waiter = thread::spawn(move || {
            let mut w = Box::pin(b.execute(|| async { Ok::<_, E>(7) }));
            loop {
                if let Poll::Ready(out) = poll(w.as_mut()) {
                    return out;
                }
                thread::yield_now();
            }
        });
        let releaser = thread::spawn(move || drop(holder));
        releaser.join().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(7));
        assert_eq!((b.available(), b.queued()), (1, 0));
    });
}

#[test]
fn rate_limiter_never_over_admits_under_concurrent_cas() {
    // Three threads explore too many interleavings unbounded; 3 preemptions cover every race
    // between the load, the clock read and the compare-and-swap of two contenders.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let l = Arc::new(RateLimiter::new_with_timer(
            2,
            Duration::from_secs(1),
            clock(),
        ));
        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (l, admitted) = (l.clone(), admitted.clone());
                thread::spawn(move || {
                    if l.try_acquire(1).is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            admitted.load(Ordering::SeqCst),
            2,
            "exactly the burst capacity"
        );
    });
}
