//! Happy-path `execute` overhead: the operation succeeds on its first poll.
//!
//! Each stack (`retry`, `timeout`, `wrap` = retry around timeout) is measured for do-over,
//! its closest peer (backon, `tokio::time::timeout`, `tokio::time::timeout` around backon)
//! and do-over 0.1.0 from crates.io (`do_over_0_1_0`), next to a `bare` call that awaits
//! the operation's future directly.
//!
//! Futures are driven by [`poll_ready`] (one poll with a no-op waker) inside a Tokio
//! current-thread runtime's context, so no scheduler work is measured: only building the
//! future, polling it once and dropping it. The runtime context is there because creating a
//! `tokio::time::Sleep` (as `tokio::time::timeout` does) needs one.
//!
//! Run: `CARGO_TARGET_DIR=/work/target cargo bench -p do-over-benches --bench overhead`.

use std::io;
use std::time::Duration;

use divan::{Bencher, black_box};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;
use common::{bench_in_runtime, poll_ready};

fn main() {
    common::run_divan();
}

/// Retry settings shared by every retry stack: 3 retries, 10 ms apart (never reached).
const RETRIES: u32 = 3;
const DELAY: Duration = Duration::from_millis(10);
/// Timeout shared by every timeout stack (never reached).
const TIMEOUT: Duration = Duration::from_secs(1);

/// The error type of the do-over stacks.
type Error = do_over::error::DoOverError<io::Error>;
/// The error type of the do-over 0.1.0 stacks (its timeout only implements
/// `Policy<DoOverError<E>>`).
type OldError = do_over_old::error::DoOverError<io::Error>;

/// The operation, awaited directly: the baseline.
mod bare {
    use super::*;

    #[divan::bench]
    fn call(bencher: Bencher) {
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(op()));
    }
}

/// One retry layer.
mod retry {
    use super::*;

    /// `do_over::retry::RetryPolicy::fixed` through `Policy::execute`.
    #[divan::bench]
    fn do_over(bencher: Bencher) {
        use do_over::policy::Policy;
        let policy = do_over::retry::RetryPolicy::fixed(RETRIES, DELAY);
        let op = || async { Ok::<u64, Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(policy.execute(op)));
    }

    /// backon's `Retryable::retry` with a constant backoff and the Tokio sleeper.
    #[divan::bench]
    fn backon(bencher: Bencher) {
        use backon::{ConstantBuilder, Retryable, TokioSleeper};
        let backoff = ConstantBuilder::default()
            .with_delay(DELAY)
            .with_max_times(RETRIES as usize);
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || {
            poll_ready(op.retry(backoff).sleep(TokioSleeper))
        });
    }

    /// do-over 0.1.0's `RetryPolicy::fixed` through its `Policy::execute`.
    #[divan::bench]
    fn do_over_0_1_0(bencher: Bencher) {
        use do_over_old::policy::Policy;
        let policy = do_over_old::retry::RetryPolicy::fixed(RETRIES as usize, DELAY);
        let op = || async { Ok::<u64, OldError>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(policy.execute(op)));
    }
}

/// One timeout layer.
mod timeout {
    use super::*;

    /// `do_over::timeout::TimeoutPolicy::new` through `Policy::execute`.
    #[divan::bench]
    fn do_over(bencher: Bencher) {
        use do_over::policy::Policy;
        let policy = do_over::timeout::TimeoutPolicy::new(TIMEOUT);
        let op = || async { Ok::<u64, Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(policy.execute(op)));
    }

    /// `tokio::time::timeout`, its `Elapsed` folded into the operation's error as a policy
    /// would.
    #[divan::bench]
    fn tokio(bencher: Bencher) {
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || {
            poll_ready(async { tokio::time::timeout(TIMEOUT, op()).await? })
        });
    }

    /// do-over 0.1.0's `TimeoutPolicy::new` through its `Policy::execute`.
    #[divan::bench]
    fn do_over_0_1_0(bencher: Bencher) {
        use do_over_old::policy::Policy;
        let policy = do_over_old::timeout::TimeoutPolicy::new(TIMEOUT);
        let op = || async { Ok::<u64, OldError>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(policy.execute(op)));
    }
}

/// Two layers: retry outside, timeout inside (each attempt gets its own timeout).
mod wrap {
    use super::*;

    /// `do_over::wrap::Wrap::new(retry, timeout)` through `Policy::execute`.
    #[divan::bench]
    fn do_over(bencher: Bencher) {
        use do_over::policy::Policy;
        let policy = do_over::wrap::Wrap::new(
            do_over::retry::RetryPolicy::fixed(RETRIES, DELAY),
            do_over::timeout::TimeoutPolicy::new(TIMEOUT),
        );
        let op = || async { Ok::<u64, Error>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(policy.execute(op)));
    }

    /// backon retrying `tokio::time::timeout` around each attempt.
    #[divan::bench]
    fn backon_tokio(bencher: Bencher) {
        use backon::{ConstantBuilder, Retryable, TokioSleeper};
        let backoff = ConstantBuilder::default()
            .with_delay(DELAY)
            .with_max_times(RETRIES as usize);
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        let attempt = || async { tokio::time::timeout(TIMEOUT, op()).await? };
        bench_in_runtime(bencher, || {
            poll_ready(attempt.retry(backoff).sleep(TokioSleeper))
        });
    }

    /// `tokio::time::timeout` around backon: one timeout bounding all attempts. Not the same
    /// semantics as the other rows (that is `Wrap::new(timeout, retry)`), measured because it
    /// is the common way to combine the two.
    #[divan::bench]
    fn tokio_backon(bencher: Bencher) {
        use backon::{ConstantBuilder, Retryable, TokioSleeper};
        let backoff = ConstantBuilder::default()
            .with_delay(DELAY)
            .with_max_times(RETRIES as usize);
        let op = || async { Ok::<u64, io::Error>(black_box(1)) };
        bench_in_runtime(bencher, || {
            poll_ready(async {
                tokio::time::timeout(TIMEOUT, op.retry(backoff).sleep(TokioSleeper)).await?
            })
        });
    }

    /// do-over 0.1.0's `Wrap::new(retry, timeout)` through its `Policy::execute`.
    #[divan::bench]
    fn do_over_0_1_0(bencher: Bencher) {
        use do_over_old::policy::Policy;
        let policy = do_over_old::wrap::Wrap::new(
            do_over_old::retry::RetryPolicy::fixed(RETRIES as usize, DELAY),
            do_over_old::timeout::TimeoutPolicy::new(TIMEOUT),
        );
        let op = || async { Ok::<u64, OldError>(black_box(1)) };
        bench_in_runtime(bencher, || poll_ready(policy.execute(op)));
    }
}
