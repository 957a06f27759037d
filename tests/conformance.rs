//! One behaviour, every runtime: the same scenarios — retry counts and delays, timeout
//! cancellation, breaker transitions and the dropped probe, bulkhead limit/queue/FIFO,
//! rate-limit burst and refill, hedging — written once, generic over the time source, and run
//! on the manual clock, Tokio (paused), smol and async-std (async-io's real timer), and
//! Embassy (mock driver).
//!
//! On the virtual clocks every duration is asserted exactly. On async-io, which has no virtual
//! time, only what cannot be flaky is asserted: the same counts and order, and durations at
//! least as long as configured (a sleep never ends early).

mod common;
use common::join;

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use do_over::core::bulkhead::Bulkhead;
use do_over::core::circuit_breaker::{CircuitBreaker, CircuitState};
use do_over::core::hedge::Hedge;
use do_over::core::rate_limit::RateLimiter;
use do_over::core::retry::RetryPolicy;
use do_over::core::timeout::TimeoutPolicy;
use do_over::core::wrap::Wrap;
use do_over::error::DoOverError;
use do_over::policy::LocalPolicy;
use do_over::time::{Clock, Instant, ManualClock, Timer};

type E = DoOverError<&'static str>;
const MS: Duration = Duration::from_millis(1);

/// A time source and the way to run a future on it.
trait Runtime {
    type T: Timer + Copy;
    /// Whether time is virtual (durations can be asserted exactly).
    const VIRTUAL: bool;
    fn timer() -> Self::T;
    fn block_on<F: Future>(timer: Self::T, f: F) -> F::Output;
}

struct Manual;
impl Runtime for Manual {
    type T = &'static ManualClock;
    const VIRTUAL: bool = true;
    fn timer() -> Self::T {
        Box::leak(Box::new(ManualClock::new()))
    }
    fn block_on<F: Future>(clock: Self::T, f: F) -> F::Output {
        clock.run(f)
    }
}

struct Tokio;
impl Runtime for Tokio {
    type T = do_over::time::TokioTimer;
    const VIRTUAL: bool = true;
    fn timer() -> Self::T {
        do_over::time::TokioTimer
    }
    fn block_on<F: Future>(_: Self::T, f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(f)
    }
}

struct Smol;
impl Runtime for Smol {
    type T = do_over_async_std::AsyncIoTimer;
    const VIRTUAL: bool = false;
    fn timer() -> Self::T {
        do_over_async_std::AsyncIoTimer
    }
    fn block_on<F: Future>(_: Self::T, f: F) -> F::Output {
        smol::block_on(f)
    }
}

struct AsyncStd;
impl Runtime for AsyncStd {
    type T = do_over_async_std::AsyncIoTimer;
    const VIRTUAL: bool = false;
    fn timer() -> Self::T {
        do_over_async_std::AsyncIoTimer
    }
    fn block_on<F: Future>(_: Self::T, f: F) -> F::Output {
        async_std::task::block_on(f)
    }
}

/// The mock driver is process-global: Embassy scenarios take turns.
static EMBASSY: Mutex<()> = Mutex::new(());

struct Embassy;
impl Runtime for Embassy {
    type T = do_over_embassy::EmbassyTimer;
    const VIRTUAL: bool = true;
    fn timer() -> Self::T {
        do_over_embassy::EmbassyTimer
    }
    fn block_on<F: Future>(_: Self::T, f: F) -> F::Output {
        let _turn = EMBASSY.lock().unwrap_or_else(|e| e.into_inner());
        let driver = embassy_time::MockDriver::get();
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
            driver.advance(embassy_time::Duration::from_micros(100));
        }
    }
}

/// Milliseconds since `t0` on `timer`.
fn ms_since<T: Clock>(timer: &T, t0: Instant) -> u64 {
    (timer.now() - t0).as_millis() as u64
}

/// Exact on virtual clocks; at least `expected` (and in the same order) on real ones.
fn assert_times<R: Runtime>(actual: &[u64], expected: &[u64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        if R::VIRTUAL {
            assert_eq!(a, e, "{actual:?} vs {expected:?}");
        } else {
            assert!(a >= e, "{actual:?} should be at least {expected:?}");
        }
    }
}

fn retry_counts_and_delays<R: Runtime>() {
    let t = R::timer();
    let retry = RetryPolicy::exponential_with_timer(3, 10 * MS, 2.0, t);
    let times = RefCell::new(Vec::new());
    let out = R::block_on(t, async {
        let t0 = t.now();
        retry
            .execute_local(|| async {
                times.borrow_mut().push(ms_since(&t, t0));
                Err::<(), E>(DoOverError::Inner("down"))
            })
            .await
    });
    assert_eq!(out, Err(DoOverError::Inner("down")));
    assert_times::<R>(&times.borrow(), &[0, 10, 30, 70]);
}

fn timeout_cancels<R: Runtime>() {
    let t = R::timer();
    let timeout = TimeoutPolicy::new_with_timer(20 * MS, t);
    let dropped = AtomicU32::new(0);
    struct OnDrop<'a>(&'a AtomicU32);
    impl Drop for OnDrop<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (out, took) = R::block_on(t, async {
        let t0 = t.now();
        let out = timeout
            .execute_local(|| async {
                let _guard = OnDrop(&dropped);
                t.sleep(Duration::from_secs(10)).await;
                Ok::<_, E>(())
            })
            .await;
        (out, ms_since(&t, t0))
    });
    assert_eq!(out, Err(DoOverError::Timeout));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the operation was cancelled"
    );
    assert_times::<R>(&[took], &[20]);
}

fn breaker_transitions_and_the_dropped_probe<R: Runtime>() {
    let t = R::timer();
    let breaker = CircuitBreaker::new_with_timer(1, 30 * MS, t);
    let caller_timeout = TimeoutPolicy::new_with_timer(5 * MS, t);
    R::block_on(t, async {
        let fail = || async { Err::<(), E>(DoOverError::Inner("down")) };
        assert_eq!(
            breaker.execute_local(fail).await,
            Err(DoOverError::Inner("down"))
        );
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(
            breaker.execute_local(fail).await,
            Err(DoOverError::CircuitOpen)
        );
        t.sleep(30 * MS).await;
        // The probe hangs and the caller's own timeout drops it: its slot comes back.
        let hung = Wrap::new(&caller_timeout, &breaker)
            .execute_local(|| async {
                t.sleep(Duration::from_secs(10)).await;
                Ok::<_, E>(())
            })
            .await;
        assert_eq!(hung, Err(DoOverError::Timeout));
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert_eq!(
            breaker.execute_local(|| async { Ok::<_, E>(()) }).await,
            Ok(())
        );
        assert_eq!(breaker.state(), CircuitState::Closed);
    });
}

fn bulkhead_limit_queue_and_fifo<R: Runtime>() {
    let t = R::timer();
    let bulkhead = Bulkhead::new_with_timer(1, t).with_queue_timeout(Duration::from_secs(1));
    let log = RefCell::new(Vec::new());
    R::block_on(t, async {
        let t0 = t.now();
        let call = |id: u32| {
            let (log, bulkhead) = (&log, &bulkhead);
            async move {
                bulkhead
                    .execute_local(|| async move {
                        log.borrow_mut().push((id, ms_since(&t, t0)));
                        t.sleep(10 * MS).await;
                        Ok::<_, E>(id)
                    })
                    .await
            }
        };
        let ((a, b), c) = join(join(call(1), call(2)), call(3)).await;
        assert_eq!((a, b, c), (Ok(1), Ok(2), Ok(3)));
        assert_eq!(bulkhead.available(), 1);
    });
    let log = log.into_inner();
    assert_eq!(
        log.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2, 3],
        "FIFO"
    );
    assert_times::<R>(
        &log.iter().map(|(_, ms)| *ms).collect::<Vec<_>>(),
        &[0, 10, 20],
    );
}

fn rate_limit_burst_and_refill<R: Runtime>() {
    let t = R::timer();
    let limiter = RateLimiter::new_with_timer(2, 100 * MS, t);
    R::block_on(t, async {
        let hit = || limiter.execute_local(|| async { Ok::<_, E>(()) });
        assert_eq!(hit().await, Ok(()));
        assert_eq!(hit().await, Ok(()));
        match hit().await {
            Err(DoOverError::RateLimited { retry_after }) => {
                assert!(
                    retry_after <= 50 * MS && retry_after > Duration::ZERO,
                    "{retry_after:?}"
                );
                if R::VIRTUAL {
                    assert_eq!(retry_after, 50 * MS);
                }
                t.sleep(retry_after).await;
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert_eq!(hit().await, Ok(()), "one token refilled");
    });
}

fn hedge_first_success_wins<R: Runtime>() {
    let t = R::timer();
    let hedge = Hedge::new_with_timer(20 * MS, t);
    let attempt = AtomicU32::new(0);
    let (out, took) = R::block_on(t, async {
        let t0 = t.now();
        let out = hedge
            .execute_local(|| async {
                let n = attempt.fetch_add(1, Ordering::SeqCst);
                t.sleep(if n == 0 {
                    Duration::from_secs(10)
                } else {
                    5 * MS
                })
                .await;
                Ok::<_, E>(n)
            })
            .await;
        (out, ms_since(&t, t0))
    });
    assert_eq!(out, Ok(1));
    assert_times::<R>(&[took], &[25]);
}

macro_rules! conformance {
    ($($module:ident: $runtime:ident),*) => {
        $(
            mod $module {
                use super::*;
                #[test] fn retry() { retry_counts_and_delays::<super::$runtime>() }
                #[test] fn timeout() { timeout_cancels::<super::$runtime>() }
                #[test] fn circuit_breaker() { breaker_transitions_and_the_dropped_probe::<super::$runtime>() }
                #[test] fn bulkhead() { bulkhead_limit_queue_and_fifo::<super::$runtime>() }
                #[test] fn rate_limit() { rate_limit_burst_and_refill::<super::$runtime>() }
                #[test] fn hedge() { hedge_first_success_wins::<super::$runtime>() }
            }
        )*
    };
}

conformance!(manual: Manual, tokio_paused: Tokio, smol_: Smol, async_std_: AsyncStd, embassy_mock: Embassy);
