//! Bulkhead and rate limiter, admit path: a slot or a token is always available, and the
//! operation succeeds on its first poll.
//!
//! * `bulkhead`: do-over's `Bulkhead::new(64)` through `Policy::execute`, beside
//!   `tokio::sync::Semaphore::new(64)` (`try_acquire()` around the operation, and
//!   `acquire().await` in an `async` block), tower's `ConcurrencyLimit::new(service_fn(..), 64)`
//!   (`poll_ready` then `call`, as a caller drives a tower service) and a `bare` call.
//! * `rate_limit`: do-over's `RateLimiter::new(1e9, 1 s)`, its low-level `try_acquire(1)` and
//!   `Policy::execute`, beside governor's `RateLimiter::direct(Quota::per_second(1e9))`
//!   (`check()` alone, and `check()` then the operation). The quota is so large (one token per
//!   nanosecond, a burst of 10⁹) that no call is ever rejected: the rows measure the admit
//!   path. Rejections are counted anyway and reported at the end of the run (none expected).
//!
//! Each comes in two scenarios, in the same run:
//!
//! * `single`: one thread, driven as in `overhead.rs`: one poll with a no-op waker inside a
//!   Tokio current-thread runtime's context, 1000 warm-up calls.
//! * `contended`: divan's `threads = [1, 2]` with a fixed sample size (as in
//!   `circuit_breaker.rs`): one bulkhead / semaphore / limiter, built once per benchmark and
//!   shared by every benchmarking thread. The time divan reports is per call *on each thread*.
//!   A tower service is called through `&mut self`, so each thread gets its own clone of the
//!   `ConcurrencyLimit`; the clones share one semaphore, as they do in a server.
//!
//! Run: `CARGO_TARGET_DIR=/work/target cargo bench -p do-over-benches --bench bulkhead_rate_limit`.

use std::cell::{Cell, UnsafeCell};
use std::io;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use divan::{Bencher, black_box};
use nonzero_ext::nonzero;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;
use common::{WARM_UP_CALLS, poll_ready};

fn main() {
    common::run_divan();
    let rejected = REJECTED_BY_ROW.lock().expect("not poisoned");
    for (row, n) in rejected.iter() {
        eprintln!("{row}: {n} calls rejected (all thread counts)");
    }
    if rejected.is_empty() {
        eprintln!("no call was rejected");
    }
}

/// Slots of every bulkhead and semaphore (never all taken: at most 2 calls run at once).
const MAX_CONCURRENT: usize = 64;
/// Tokens per second of every rate limiter: one per nanosecond, so that no call is rejected.
const RATE: NonZeroU32 = nonzero!(1_000_000_000_u32);
/// The interval of do-over's limiter: `RATE` tokens per second, a burst of `RATE`.
const PER: Duration = Duration::from_secs(1);

/// The error type of the do-over rows.
type Error = do_over::error::DoOverError<io::Error>;

/// Calls a tower service as a caller does: `poll_ready` with a no-op waker, then `call`, then
/// one poll of the response future. `None` (counted as a rejection) if the service is not
/// ready, which never happens here.
#[inline(always)]
fn tower_call<S: tower::Service<()>>(svc: &mut S) -> Option<Result<S::Response, S::Error>> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => Some(poll_ready(svc.call(()))),
        Poll::Ready(Err(e)) => Some(Err(e)),
        Poll::Pending => {
            note_rejection();
            None
        }
    }
}

/// Calls rejected (no slot, no token, not ready) in the row being measured.
static REJECTED: AtomicU64 = AtomicU64::new(0);
/// The rows that ever rejected a call, and how many; printed at the end of the run.
static REJECTED_BY_ROW: Mutex<Vec<(&str, u64)>> = Mutex::new(Vec::new());

#[cold]
#[inline(never)]
fn note_rejection() {
    REJECTED.fetch_add(1, Ordering::Relaxed);
}

/// `Some(v)` for an admitted call; a rejection (any `Err`) is counted and gives `None`.
/// Every row goes through it, so the branch costs every row the same.
#[inline(always)]
fn admit<T, E>(r: Result<T, E>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(_) => {
            note_rejection();
            None
        }
    }
}

/// Files the rejections counted since the last call under `row`.
fn record_rejections(row: &'static str) {
    let n = REJECTED.swap(0, Ordering::Relaxed);
    if n != 0 {
        let mut rows = REJECTED_BY_ROW.lock().expect("not poisoned");
        match rows.iter_mut().find(|(r, _)| *r == row) {
            Some((_, m)) => *m += n,
            None => rows.push((row, n)),
        }
    }
}

/// Runs `body` as a single-threaded benchmark, inside the context of a Tokio current-thread
/// runtime with the time driver enabled (built once per benchmark, outside the measurement),
/// as `overhead.rs` does. `row` names the benchmark in the rejection report.
fn bench_in_runtime<O>(row: &'static str, bencher: Bencher, mut body: impl FnMut() -> O) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread Tokio runtime");
    let _context = runtime.enter();
    for _ in 0..WARM_UP_CALLS {
        black_box(body());
    }
    REJECTED.store(0, Ordering::Relaxed);
    bencher.bench_local(body);
    record_rejections(row);
}

/// Runs `body` on divan's benchmarking threads (as many as the `threads` option says), all
/// sharing whatever `body` borrows. No runtime context: none of the admit paths needs one.
fn bench_shared<O: Send>(row: &'static str, bencher: Bencher, body: impl Fn() -> O + Sync) {
    for _ in 0..WARM_UP_CALLS {
        black_box(body());
    }
    REJECTED.store(0, Ordering::Relaxed);
    bencher.bench(body);
    record_rejections(row);
}

/// Thread counts of the `contended` rows: 1 and 2 (both cores of the benchmark machine).
const THREADS: [usize; 2] = [1, 2];

/// Calls per thread per sample in the `contended` rows, fixed rather than tuned (see
/// `circuit_breaker.rs`: divan's tuning stops on the slowest thread, and one late start at the
/// barrier would leave it timing 1 call per sample, with the threads barely overlapping).
const CALLS_PER_SAMPLE: u32 = 10_000;

/// One value per thread, for services that are called through `&mut self` (tower's): each
/// thread that calls [`with`](PerThread::with) claims a slot of its own, once, holding a clone
/// of the same service. Slots are never shared between threads, so no lock is needed.
struct PerThread<S> {
    /// Which `PerThread` a thread's claim (in [`CLAIM`]) refers to.
    id: u64,
    slots: Box<[UnsafeCell<S>]>,
    next: AtomicUsize,
}

// SAFETY: a slot is only ever accessed by the one thread that claimed it (see `with`), so
// sharing a `PerThread` between threads only moves `S` values between them: `S: Send` suffices.
unsafe impl<S: Send> Sync for PerThread<S> {}

/// Source of [`PerThread::id`]s (0 means "no claim").
static NEXT_PER_THREAD_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's claim: the id of a `PerThread` and the slot it holds there.
    static CLAIM: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

impl<S: Clone> PerThread<S> {
    /// `slots` clones of `svc`: enough for the warm-up thread and every benchmarking thread.
    fn new(svc: &S, slots: usize) -> Self {
        PerThread {
            id: NEXT_PER_THREAD_ID.fetch_add(1, Ordering::Relaxed),
            slots: (0..slots).map(|_| UnsafeCell::new(svc.clone())).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on this thread's clone.
    #[inline(always)]
    fn with<O>(&self, f: impl FnOnce(&mut S) -> O) -> O {
        let (id, claimed) = CLAIM.get();
        let slot = if id == self.id {
            claimed
        } else {
            let slot = self.next.fetch_add(1, Ordering::Relaxed);
            assert!(slot < self.slots.len(), "more threads than slots");
            slot
        };
        // Released while `f` runs, so that a nested `with` on this thread claims another slot
        // instead of aliasing this one.
        CLAIM.set((0, 0));
        // SAFETY: `slot` was handed out by `next` to this thread alone, and this thread's claim
        // on it is released until `f` returns: no other `&mut` to it exists.
        let out = f(unsafe { &mut *self.slots[slot].get() });
        CLAIM.set((self.id, slot));
        out
    }
}

/// The bulkhead rows: bound concurrency to 64; a slot is always free.
mod bulkhead {
    use super::*;

    /// do-over's bulkhead.
    fn do_over_bulkhead() -> do_over::bulkhead::Bulkhead {
        do_over::bulkhead::Bulkhead::new(MAX_CONCURRENT)
    }

    /// The tower service: `ConcurrencyLimit` around a `service_fn` running the operation.
    fn tower_limit() -> impl tower::Service<(), Response = u64, Error = io::Error> + Clone + Send {
        tower::limit::ConcurrencyLimit::new(
            tower::service_fn(|()| async { Ok::<u64, io::Error>(black_box(1)) }),
            MAX_CONCURRENT,
        )
    }

    /// One thread, one call at a time.
    mod single {
        use super::*;

        /// The operation, awaited directly: the baseline.
        #[divan::bench]
        fn bare(bencher: Bencher) {
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_in_runtime("bulkhead::single::bare", bencher, || {
                admit(poll_ready(op()))
            });
        }

        /// `do_over::bulkhead::Bulkhead::new(64)` through `Policy::execute`.
        #[divan::bench]
        fn do_over(bencher: Bencher) {
            use do_over::policy::Policy;
            let bulkhead = do_over_bulkhead();
            let op = || async { Ok::<u64, Error>(black_box(1)) };
            bench_in_runtime("bulkhead::single::do_over", bencher, || {
                admit(poll_ready(bulkhead.execute(op)))
            });
        }

        /// `tokio::sync::Semaphore::try_acquire()`, the operation, then the permit dropped.
        #[divan::bench]
        fn tokio_try_acquire(bencher: Bencher) {
            let semaphore = tokio::sync::Semaphore::new(MAX_CONCURRENT);
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_in_runtime("bulkhead::single::tokio_try_acquire", bencher, || {
                let permit = admit(semaphore.try_acquire())?;
                let out = poll_ready(op());
                drop(permit);
                admit(out)
            });
        }

        /// `tokio::sync::Semaphore::acquire().await`, then the operation, in one `async` block.
        #[divan::bench]
        fn tokio_acquire(bencher: Bencher) {
            let semaphore = tokio::sync::Semaphore::new(MAX_CONCURRENT);
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_in_runtime("bulkhead::single::tokio_acquire", bencher, || {
                poll_ready(async {
                    let permit = admit(semaphore.acquire().await)?;
                    let out = op().await;
                    drop(permit);
                    admit(out)
                })
            });
        }

        /// tower's `ConcurrencyLimit::new(service_fn(..), 64)`: `poll_ready`, then `call`.
        #[divan::bench]
        fn tower(bencher: Bencher) {
            let mut svc = tower_limit();
            bench_in_runtime("bulkhead::single::tower", bencher, || {
                admit(tower_call(&mut svc)?)
            });
        }
    }

    /// One bulkhead (semaphore) shared by 1 or 2 threads calling it at the same time.
    mod contended {
        use super::*;

        /// The operation, awaited directly: the baseline (nothing shared).
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn bare(bencher: Bencher) {
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_shared("bulkhead::contended::bare", bencher, || {
                admit(poll_ready(op()))
            });
        }

        /// do-over's `Bulkhead::new(64)` through `Policy::execute`.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn do_over(bencher: Bencher) {
            use do_over::policy::Policy;
            let bulkhead = do_over_bulkhead();
            let op = || async { Ok::<u64, Error>(black_box(1)) };
            bench_shared("bulkhead::contended::do_over", bencher, || {
                admit(poll_ready(bulkhead.execute(op)))
            });
        }

        /// `tokio::sync::Semaphore::try_acquire()` around the operation.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn tokio_try_acquire(bencher: Bencher) {
            let semaphore = tokio::sync::Semaphore::new(MAX_CONCURRENT);
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_shared("bulkhead::contended::tokio_try_acquire", bencher, || {
                let permit = admit(semaphore.try_acquire())?;
                let out = poll_ready(op());
                drop(permit);
                admit(out)
            });
        }

        /// `tokio::sync::Semaphore::acquire().await`, then the operation.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn tokio_acquire(bencher: Bencher) {
            let semaphore = tokio::sync::Semaphore::new(MAX_CONCURRENT);
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_shared("bulkhead::contended::tokio_acquire", bencher, || {
                poll_ready(async {
                    let permit = admit(semaphore.acquire().await)?;
                    let out = op().await;
                    drop(permit);
                    admit(out)
                })
            });
        }

        /// tower's `ConcurrencyLimit`: one clone per thread, all sharing one semaphore.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn tower(bencher: Bencher) {
            // The warm-up thread plus up to 2 benchmarking threads.
            let svcs = PerThread::new(&tower_limit(), 1 + THREADS[1]);
            bench_shared("bulkhead::contended::tower", bencher, || {
                svcs.with(|svc| admit(tower_call(svc)?))
            });
        }
    }
}

/// The rate-limiter rows: 10⁹ tokens per second, a burst of 10⁹; a token is always available.
mod rate_limit {
    use super::*;

    /// do-over's limiter: `RATE` tokens per second.
    fn do_over_limiter() -> do_over::rate_limit::RateLimiter {
        do_over::rate_limit::RateLimiter::new(RATE.get(), PER)
    }

    /// governor's direct (unkeyed) limiter with the same quota, on its default clock (quanta).
    fn governor_limiter() -> governor::DefaultDirectRateLimiter {
        governor::RateLimiter::direct(governor::Quota::per_second(RATE))
    }

    /// One thread, one call at a time.
    mod single {
        use super::*;

        /// The operation, awaited directly: the baseline.
        #[divan::bench]
        fn bare(bencher: Bencher) {
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_in_runtime("rate_limit::single::bare", bencher, || {
                admit(poll_ready(op()))
            });
        }

        /// do-over's `RateLimiter::try_acquire(1)`: the check alone, no operation.
        #[divan::bench]
        fn do_over_try_acquire(bencher: Bencher) {
            let limiter = do_over_limiter();
            bench_in_runtime("rate_limit::single::do_over_try_acquire", bencher, || {
                admit(limiter.try_acquire(1))
            });
        }

        /// do-over's `RateLimiter` through `Policy::execute`: check, then the operation.
        #[divan::bench]
        fn do_over(bencher: Bencher) {
            use do_over::policy::Policy;
            let limiter = do_over_limiter();
            let op = || async { Ok::<u64, Error>(black_box(1)) };
            bench_in_runtime("rate_limit::single::do_over", bencher, || {
                admit(poll_ready(limiter.execute(op)))
            });
        }

        /// governor's `check()`: the check alone.
        #[divan::bench]
        fn governor(bencher: Bencher) {
            let limiter = governor_limiter();
            bench_in_runtime("rate_limit::single::governor", bencher, || {
                admit(limiter.check())
            });
        }

        /// governor's `check()`, then the operation: what `execute` does.
        #[divan::bench]
        fn governor_op(bencher: Bencher) {
            let limiter = governor_limiter();
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_in_runtime("rate_limit::single::governor_op", bencher, || {
                admit(limiter.check())?;
                admit(poll_ready(op()))
            });
        }
    }

    /// The clock reads behind the two limiters, alone: not peers, but they explain the gap.
    mod clock {
        use super::*;

        /// do-over's `TokioTimer::now()`: `tokio::time::Instant::now()` (`clock_gettime`)
        /// converted by `do_over_tokio::from_tokio`. `RateLimiter::reserve` reads it once per
        /// call.
        #[divan::bench]
        fn do_over(bencher: Bencher) {
            use do_over::time::Clock;
            let timer = do_over::time::TokioTimer;
            bench_in_runtime("rate_limit::clock::do_over", bencher, || timer.now());
        }

        /// `std::time::Instant::now()` alone (`clock_gettime(CLOCK_MONOTONIC)` through the vDSO),
        /// which `tokio::time::Instant::now()` calls: the part of the `do_over` row that is
        /// the OS clock rather than the conversion.
        #[divan::bench]
        fn std_instant(bencher: Bencher) {
            bench_in_runtime(
                "rate_limit::clock::std_instant",
                bencher,
                std::time::Instant::now,
            );
        }

        /// governor's default clock (`QuantaClock`: the TSC, scaled), which `check()` reads
        /// once per call.
        #[divan::bench]
        fn governor(bencher: Bencher) {
            use governor::clock::Clock;
            let clock = governor::clock::DefaultClock::default();
            bench_in_runtime("rate_limit::clock::governor", bencher, || clock.now());
        }
    }

    /// One limiter shared by 1 or 2 threads calling it at the same time.
    mod contended {
        use super::*;

        /// do-over's `try_acquire(1)`.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn do_over_try_acquire(bencher: Bencher) {
            let limiter = do_over_limiter();
            bench_shared(
                "rate_limit::contended::do_over_try_acquire",
                bencher,
                || admit(limiter.try_acquire(1)),
            );
        }

        /// do-over's `Policy::execute`.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn do_over(bencher: Bencher) {
            use do_over::policy::Policy;
            let limiter = do_over_limiter();
            let op = || async { Ok::<u64, Error>(black_box(1)) };
            bench_shared("rate_limit::contended::do_over", bencher, || {
                admit(poll_ready(limiter.execute(op)))
            });
        }

        /// governor's `check()`.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn governor(bencher: Bencher) {
            let limiter = governor_limiter();
            bench_shared("rate_limit::contended::governor", bencher, || {
                admit(limiter.check())
            });
        }

        /// governor's `check()`, then the operation.
        #[divan::bench(threads = THREADS, sample_size = CALLS_PER_SAMPLE)]
        fn governor_op(bencher: Bencher) {
            let limiter = governor_limiter();
            let op = || async { Ok::<u64, io::Error>(black_box(1)) };
            bench_shared("rate_limit::contended::governor_op", bencher, || {
                admit(limiter.check())?;
                admit(poll_ready(op()))
            });
        }
    }
}
