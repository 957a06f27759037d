//! The harness every bench target shares: divan's entry point, the single-poll driver and the
//! runtime-context runner. (Each target uses a subset.)
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use divan::{Bencher, black_box};

/// divan's `main` with 1000 samples by default for stable medians; `--sample-count N` on the
/// command line overrides it.
pub fn run_divan() {
    divan::Divan::default()
        .sample_count(1000)
        .config_with_args()
        .main();
}

/// Calls of the body made before measuring, so that one-time work (lazy statics, the first
/// touch of the runtime's timer, cold caches) stays out of the numbers: divan sizes its
/// samples from the first, and a slow first call would leave it timing one call per sample.
pub const WARM_UP_CALLS: usize = 1_000;

/// Polls `f` once with a no-op waker and returns its output.
///
/// # Panics
/// If `f` is pending: every benchmarked operation completes on its first poll.
///
/// Always inlined, so the future is built in place rather than copied into a separate call
/// frame (as it would be inside a caller's `async fn`): otherwise the harness adds a `memcpy`
/// of the whole future to every row but the bare call.
#[inline(always)]
pub fn poll_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked future was pending on its first poll"),
    }
}

/// Runs `body` as a single-threaded benchmark, inside the context of a Tokio current-thread
/// runtime with the time driver enabled (built once per benchmark, outside the measurement).
pub fn bench_in_runtime<O>(bencher: Bencher, mut body: impl FnMut() -> O) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread Tokio runtime");
    let _context = runtime.enter();
    for _ in 0..WARM_UP_CALLS {
        black_box(body());
    }
    bencher.bench_local(body);
}
