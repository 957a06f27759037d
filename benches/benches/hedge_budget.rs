//! Hedging when the primary wins at once (its overhead over a bare call), and the retry
//! budget's deposit and withdraw beside tower's `TpsBudget` (1 and 2 threads).
//!
//! Run: `cargo bench -p do-over-benches --bench hedge_budget`.

use std::io;
use std::time::Duration;

use divan::{Bencher, black_box};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;
use common::{WARM_UP_CALLS, bench_in_runtime, poll_ready};

fn main() {
    common::run_divan();
}

/// Budget settings shared by both budgets: a 10 s window, a floor of 10 retries per second,
/// and a ratio of 1.0 so that a deposit pays for exactly one withdrawal (the balance stays
/// level over a deposit + withdraw pair).
const TTL: Duration = Duration::from_secs(10);
const MIN_PER_SEC: u32 = 10;
const RATIO: f32 = 1.0;

fn bench_shared<O: Send>(bencher: Bencher, body: impl Fn() -> O + Sync) {
    for _ in 0..WARM_UP_CALLS {
        black_box(body());
    }
    bencher.bench(body);
}

/// Hedging, primary succeeds on its first poll: no hedge is ever started.
mod hedge {
    use super::*;

    #[divan::bench]
    fn bare(bencher: Bencher) {
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(op()));
    }

    /// `do_over::hedge::Hedge::new(100 ms)` through `Policy::execute`.
    #[divan::bench]
    fn do_over(bencher: Bencher) {
        use do_over::policy::Policy;
        let hedge = do_over::hedge::Hedge::new(Duration::from_millis(100));
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(hedge.execute(op)));
    }
}

/// A deposit followed by a withdrawal, one shared budget.
mod budget {
    use super::*;

    #[divan::bench(threads = [1, 2], sample_size = 10_000)]
    fn do_over(bencher: Bencher) {
        use do_over::budget::RetryBudget;
        let budget = do_over::budget::TpsBudget::new(TTL, MIN_PER_SEC, RATIO);
        bench_shared(bencher, || {
            budget.deposit();
            budget.withdraw()
        });
    }

    #[divan::bench(threads = [1, 2], sample_size = 10_000)]
    fn tower(bencher: Bencher) {
        use tower::retry::budget::Budget;
        let budget = tower::retry::budget::TpsBudget::new(TTL, MIN_PER_SEC, RATIO);
        bench_shared(bencher, || {
            budget.deposit();
            budget.withdraw()
        });
    }
}

/// The rate limiter's algorithm with the same clock as governor's (quanta's TSC reading), to
/// separate the GCRA update from the cost of the clock. do-over's default Tokio clock reads
/// `tokio::time::Instant` (so paused time drives it), which costs a `clock_gettime` call.
mod same_clock {
    use super::*;
    use do_over::time::{Clock, Instant, Timer};
    use std::num::NonZeroU32;
    use std::sync::OnceLock;

    /// do-over's `Clock` on quanta (sleeps, never reached here, go through Tokio).
    #[derive(Clone, Copy, Default)]
    struct QuantaTimer;

    fn origin() -> &'static (quanta::Clock, quanta::Instant) {
        static ORIGIN: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();
        ORIGIN.get_or_init(|| {
            let clock = quanta::Clock::new();
            let now = clock.now();
            (clock, now)
        })
    }

    impl Clock for QuantaTimer {
        #[inline]
        fn now(&self) -> Instant {
            let (clock, start) = origin();
            Instant::from_nanos(clock.now().duration_since(*start).as_nanos() as u64)
        }
    }

    impl Timer for QuantaTimer {
        type Sleep = tokio::time::Sleep;
        fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
            tokio::time::sleep(deadline - self.now())
        }
    }

    const RATE: u32 = 1_000_000_000;

    #[divan::bench(threads = [1, 2], sample_size = 10_000)]
    fn do_over_try_acquire(bencher: Bencher) {
        let limiter = do_over::core::rate_limit::RateLimiter::new_with_timer(
            RATE,
            Duration::from_secs(1),
            QuantaTimer,
        );
        bench_shared(bencher, || limiter.try_acquire(1).is_ok());
    }

    #[divan::bench(threads = [1, 2], sample_size = 10_000)]
    fn governor(bencher: Bencher) {
        let limiter = governor::RateLimiter::direct(governor::Quota::per_second(
            NonZeroU32::new(RATE).expect("non-zero"),
        ));
        bench_shared(bencher, || limiter.check().is_ok());
    }
}
