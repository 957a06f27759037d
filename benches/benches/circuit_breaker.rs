//! Circuit breaker, closed path: what a breaker costs when the dependency is healthy and the
//! operation succeeds on its first poll.
//!
//! Two scenarios, in the same run:
//!
//! * `single`: one thread. do-over's `CircuitBreaker::new(5, 30 s)` through
//!   `Policy::execute`, its low-level `try_acquire` + `permit.success()` (no future), failsafe
//!   (`failsafe::futures::CircuitBreaker::call`, default config and a consecutive-failures
//!   config like ours), recloser (`AsyncRecloser::call` around `Recloser::default()`) and
//!   do-over 0.1.0's breaker (`do_over_0_1_0`), next to a `bare` call that awaits the
//!   operation's future directly. Futures are driven exactly as in `overhead.rs`: one poll
//!   with a no-op waker inside a Tokio current-thread runtime's context.
//! * `contended`: the same calls with divan's `threads = [1, 2]`: one breaker, built once per
//!   benchmark, shared by reference by every benchmarking thread, which all run the same
//!   sample at the same time (divan synchronises them with a barrier). The time divan reports
//!   is per call *on each thread* (10 000 calls per thread per sample); with 2 threads busy,
//!   aggregate throughput is 2 calls per that time. Futures are polled until ready (do-over
//!   0.1.0's lock can make a call wait for the other thread). No runtime context there: none
//!   of the closed paths needs one (no `Sleep` is created; do-over's closed path does not
//!   even read the clock).
//!
//! Run: `CARGO_TARGET_DIR=/work/target cargo bench -p do-over-benches --bench circuit_breaker`.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use divan::{Bencher, black_box};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;
use common::{WARM_UP_CALLS, bench_in_runtime, poll_ready};

fn main() {
    common::run_divan();
    for (row, pending) in PENDING_BY_ROW.lock().expect("not poisoned").iter() {
        eprintln!("contended::{row}: {pending} polls returned Pending (all thread counts)");
    }
}

/// Consecutive failures that open the do-over, failsafe (consecutive config) and 0.1.0
/// breakers (never reached).
const FAILURES: u32 = 5;
/// How long a breaker stays open (never reached).
const BREAK: Duration = Duration::from_secs(30);

/// The error type of the do-over rows.
type Error = do_over::error::DoOverError<io::Error>;
/// The error type of the do-over 0.1.0 row (its breaker only implements
/// `Policy<DoOverError<E>>`).
type OldError = do_over_old::error::DoOverError<io::Error>;

/// do-over's breaker, as `CircuitBreaker::new(5, 30 s)` builds it.
fn do_over_breaker() -> do_over::circuit_breaker::CircuitBreaker {
    do_over::circuit_breaker::CircuitBreaker::new(FAILURES, BREAK)
}

/// failsafe's default breaker (`Config::new().build()`): an EWMA success rate over a time
/// window, or 5 consecutive failures, with jittered backoff.
fn failsafe_default() -> impl failsafe::futures::CircuitBreaker + Sync {
    failsafe::Config::new().build()
}

/// failsafe configured like ours: 5 consecutive failures, a constant 30 s break.
fn failsafe_consecutive() -> impl failsafe::futures::CircuitBreaker + Sync {
    use failsafe::{backoff, failure_policy};
    let policy = failure_policy::consecutive_failures(FAILURES, backoff::constant(BREAK));
    failsafe::Config::new().failure_policy(policy).build()
}

/// recloser's default breaker (error rate 0.5 over a ring of the last 100 calls, 30 s open),
/// made async as its docs show.
fn recloser() -> recloser::AsyncRecloser {
    recloser::AsyncRecloser::from(recloser::Recloser::default())
}

/// do-over 0.1.0's breaker (its threshold is a `usize`).
fn do_over_0_1_0_breaker() -> do_over_old::circuit_breaker::CircuitBreaker {
    do_over_old::circuit_breaker::CircuitBreaker::new(FAILURES as usize, BREAK)
}

/// Polls of a `contended` future that returned `Pending`, for the row being measured.
static PENDING_POLLS: AtomicU64 = AtomicU64::new(0);
/// The rows whose polls were ever `Pending`, and how many; printed at the end of the run.
static PENDING_BY_ROW: Mutex<Vec<(&str, u64)>> = Mutex::new(Vec::new());

/// Polls `f` with a no-op waker until it is ready, spinning in between, and returns its
/// output: the driver of the `contended` rows.
///
/// Closed-path breakers complete on their first poll, as in [`poll_ready`], except do-over
/// 0.1.0's: its `tokio::sync::RwLock` is write-locked on every success, so under contention
/// a call can find it taken and return `Pending` (queued on the lock; the holder hands it over
/// on release). Spinning keeps that wait in the measurement without a scheduler; each such
/// poll is counted in [`PENDING_POLLS`].
#[inline(always)]
fn poll_until_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        PENDING_POLLS.fetch_add(1, Ordering::Relaxed);
        std::hint::spin_loop();
    }
}

/// Runs `body` on divan's benchmarking threads (as many as the `threads` option says), all
/// sharing whatever `body` borrows. `row` names the benchmark in the `Pending` report.
fn bench_shared<O: Send>(row: &'static str, bencher: Bencher, body: impl Fn() -> O + Sync) {
    for _ in 0..WARM_UP_CALLS {
        black_box(body());
    }
    PENDING_POLLS.store(0, Ordering::Relaxed);
    bencher.bench(body);
    let pending = PENDING_POLLS.swap(0, Ordering::Relaxed);
    if pending != 0 {
        let mut rows = PENDING_BY_ROW.lock().expect("not poisoned");
        match rows.iter_mut().find(|(r, _)| *r == row) {
            Some((_, n)) => *n += pending,
            None => rows.push((row, pending)),
        }
    }
}

/// One thread, one call at a time.
mod single {
    use super::*;

    /// The operation, awaited directly: the baseline.
    #[divan::bench]
    fn bare(bencher: Bencher) {
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(op()));
    }

    /// `do_over::circuit_breaker::CircuitBreaker::new(5, 30 s)` through `Policy::execute`.
    #[divan::bench]
    fn do_over(bencher: Bencher) {
        use do_over::policy::Policy;
        let breaker = do_over_breaker();
        let op = || async { Ok::<u64, Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(breaker.execute(op)));
    }

    /// do-over's low-level interface: `try_acquire()`, run the (synchronous) operation,
    /// `permit.success()`. No future.
    #[divan::bench]
    fn do_over_try_acquire(bencher: Bencher) {
        let breaker = do_over_breaker();
        bench_in_runtime(bencher, || match breaker.try_acquire() {
            Ok(permit) => {
                let out = black_box(1_u64);
                permit.success();
                Some(out)
            }
            Err(_retry_after) => None,
        });
    }

    /// failsafe's `futures::CircuitBreaker::call` on `Config::new().build()`.
    #[divan::bench]
    fn failsafe(bencher: Bencher) {
        use failsafe::futures::CircuitBreaker;
        let breaker = failsafe_default();
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(breaker.call(op())));
    }

    /// failsafe with 5 consecutive failures and a constant 30 s break (our configuration).
    #[divan::bench]
    fn failsafe_consecutive(bencher: Bencher) {
        use failsafe::futures::CircuitBreaker;
        let breaker = super::failsafe_consecutive();
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(breaker.call(op())));
    }

    /// recloser's `AsyncRecloser::call` around `Recloser::default()`.
    #[divan::bench]
    fn recloser(bencher: Bencher) {
        let breaker = super::recloser();
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(breaker.call(op())));
    }

    /// do-over 0.1.0's `CircuitBreaker::new(5, 30 s)` through its `Policy::execute`.
    #[divan::bench]
    fn do_over_0_1_0(bencher: Bencher) {
        use do_over_old::policy::Policy;
        let breaker = do_over_0_1_0_breaker();
        let op = || async { Ok::<u64, OldError>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(breaker.execute(op)));
    }
}

/// One breaker shared by 1 or 2 threads calling it at the same time.
mod contended {
    use super::*;

    /// Thread counts: 1 (the same loop as `single`, without a runtime context) and 2 (both
    /// cores of the benchmark machine).
    const THREADS: [usize; 2] = [1, 2];

    /// Calls per thread per sample, fixed rather than tuned. divan tunes a sample's size by
    /// doubling it until the *slowest* thread's sample takes over 100× the timer's
    /// precision; with 2 threads one late start at the barrier (or a preempted lock holder)
    /// ends the tuning at 1 call per sample, and the threads then barely overlap. 10 000
    /// calls keep both threads busy together for most of each sample.
    const CALLS_PER_SAMPLE: u32 = 10_000;

    /// The operation, awaited directly: the baseline (nothing shared).
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn bare(bencher: Bencher) {
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_shared("bare", bencher, || poll_until_ready(op()));
    }

    /// do-over's `CircuitBreaker::new(5, 30 s)` through `Policy::execute`.
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn do_over(bencher: Bencher) {
        use do_over::policy::Policy;
        let breaker = do_over_breaker();
        let op = || async { Ok::<u64, Error>(black_box(1)) };
        bench_shared("do_over", bencher, || poll_until_ready(breaker.execute(op)));
    }

    /// do-over's `try_acquire()` + `permit.success()`.
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn do_over_try_acquire(bencher: Bencher) {
        let breaker = do_over_breaker();
        bench_shared("do_over_try_acquire", bencher, || {
            match breaker.try_acquire() {
                Ok(permit) => {
                    let out = black_box(1_u64);
                    permit.success();
                    Some(out)
                }
                Err(_retry_after) => None,
            }
        });
    }

    /// failsafe, `Config::new().build()`.
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn failsafe(bencher: Bencher) {
        use failsafe::futures::CircuitBreaker;
        let breaker = failsafe_default();
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_shared("failsafe", bencher, || poll_until_ready(breaker.call(op())));
    }

    /// failsafe, 5 consecutive failures and a constant 30 s break.
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn failsafe_consecutive(bencher: Bencher) {
        use failsafe::futures::CircuitBreaker;
        let breaker = super::failsafe_consecutive();
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_shared("failsafe_consecutive", bencher, || {
            poll_until_ready(breaker.call(op()))
        });
    }

    /// recloser, `AsyncRecloser::from(Recloser::default())`.
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn recloser(bencher: Bencher) {
        let breaker = super::recloser();
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_shared("recloser", bencher, || poll_until_ready(breaker.call(op())));
    }

    /// do-over 0.1.0's `CircuitBreaker::new(5, 30 s)`.
    #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
    fn do_over_0_1_0(bencher: Bencher) {
        use do_over_old::policy::Policy;
        let breaker = do_over_0_1_0_breaker();
        let op = || async { Ok::<u64, OldError>(black_box(1)) };
        bench_shared("do_over_0_1_0", bencher, || {
            poll_until_ready(breaker.execute(op))
        });
    }
}
