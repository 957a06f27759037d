//! The full stack: bulkhead → circuit breaker → retry → timeout around a trivial operation,
//! for do-over and its peers, in two scenarios measured in the same run:
//!
//! * `happy`: every attempt succeeds on its first poll;
//! * `flaky`: the first attempt of every 10th call fails (deterministically); the retry, with a
//!   zero delay, recovers it. The breaker never sees a failure (it sits outside the retry), so
//!   it stays closed; the bulkhead (64 slots) never fills. Every call of every stack row
//!   succeeds: rows that do not are reported at the end of the run.
//!
//! Rows (each in both scenarios; divan's argument is the scenario):
//!
//! * `bare`: the operation awaited directly (in `flaky`, every 10th call returns its error);
//! * `do_over`: `Wrap` of `Bulkhead`, `CircuitBreaker`, `RetryPolicy`, `TimeoutPolicy` through
//!   `Policy::execute`;
//! * `do_over_0_1_0`: the same `Wrap` stack of do-over 0.1.0 from crates.io;
//! * `tower_resilience`: tower-resilience 0.13's `BulkheadLayer`, `CircuitBreakerLayer`,
//!   `RetryLayer`, `TimeLimiterLayer` in a `ServiceBuilder` around a `service_fn`;
//! * `seatbelt`: seatbelt 0.11's `Breaker`, `Retry`, `Timeout` around `Execute` (seatbelt has
//!   no bulkhead), compared with `do_over_no_bulkhead`;
//! * `tower`: a hand-built tower stack, `ConcurrencyLimit` → `Retry` (a `tower::retry::Policy`
//!   with no delay) → `tower::timeout::Timeout` around a `service_fn` (tower has no breaker),
//!   compared with `do_over_no_breaker`;
//! * `do_over_policy_layer`, `do_over_policy_layer_no_breaker`: the do-over stacks as tower
//!   middleware (`do_over::tower::PolicyLayer`) around the same `service_fn`: the tower-layer
//!   comparison with `tower` and `tower_resilience`.
//!
//! Every tower service (tower, tower-resilience, `PolicyLayer`) is called as a caller drives
//! one: `ServiceExt::ready().await`, then `call`, then the response awaited, in one `async`
//! block.
//!
//! Driving: one Tokio current-thread runtime per benchmark (built outside the measurement and
//! entered, as in `overhead.rs`). Each call's future is polled once with a no-op waker; a
//! future still pending after that poll (a zero-length `tokio::time::sleep` between attempts,
//! which Tokio's timer only fires on its next millisecond tick) is finished with
//! `Runtime::block_on` on the same runtime, so it costs what it costs a caller.
//!
//! Run: `CARGO_TARGET_DIR=/work/target cargo bench -p do-over-benches --bench full_stack`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use divan::{Bencher, black_box};
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;
use common::WARM_UP_CALLS;

fn main() {
    common::run_divan();
    let failed = FAILED_BY_ROW.lock().expect("not poisoned");
    for (row, n) in failed.iter() {
        eprintln!("{row}: {n} calls failed");
    }
    if failed.iter().all(|(row, _)| row.starts_with("bare")) {
        eprintln!("every call of every stack succeeded");
    }
}

/// Slots of every bulkhead / concurrency limit (never all taken: one call runs at a time).
const MAX_CONCURRENT: usize = 64;
/// Consecutive failures that open every breaker (never reached: the retry is inside it).
const BREAKER_FAILURES: u32 = 5;
/// How long an open breaker stays open (never reached).
const BREAK: Duration = Duration::from_secs(30);
/// Retries after the first attempt, in every stack.
const RETRIES: u32 = 3;
/// Delay before each retry: none, so that the rows measure overhead, not sleeping.
const RETRY_DELAY: Duration = Duration::ZERO;
/// Per-attempt timeout of every stack (never reached).
const TIMEOUT: Duration = Duration::from_secs(1);

/// The scenario: divan's argument of every row.
#[derive(Clone, Copy)]
enum Scenario {
    /// Every attempt succeeds.
    Happy,
    /// The first attempt of every 10th call fails.
    Flaky,
}

impl Scenario {
    /// Every how many calls one fails its first attempt (0: never).
    fn fail_every(self) -> u32 {
        match self {
            Scenario::Happy => 0,
            Scenario::Flaky => 10,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Happy => "happy",
            Scenario::Flaky => "flaky",
        })
    }
}

const SCENARIOS: [Scenario; 2] = [Scenario::Happy, Scenario::Flaky];

/// Calls per sample, fixed rather than tuned by divan: a multiple of 10, so that in `flaky`
/// every sample holds exactly 10 failed first attempts. (Tuned from a first call that sleeps,
/// divan would time a few calls per sample, and the samples would differ in how many
/// failures they hold.)
const SAMPLE_SIZE: u32 = 100;

/// Set before a call that must fail its first attempt; the attempt that sees it clears it.
static FAIL_NEXT: AtomicBool = AtomicBool::new(false);

/// One attempt of the operation: `Ok(1)`, or the error if this call was picked to fail.
/// `io::Error::from(ErrorKind)` does not allocate.
#[inline(always)]
fn attempt() -> Result<u64, io::Error> {
    if FAIL_NEXT.load(Ordering::Relaxed) {
        FAIL_NEXT.store(false, Ordering::Relaxed);
        Err(io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(black_box(1))
    }
}

/// The error type of the do-over stacks.
type Error = do_over::error::DoOverError<io::Error>;
/// The error type of the do-over 0.1.0 stack (its bulkhead, breaker and timeout only implement
/// `Policy<DoOverError<E>>`).
type OldError = do_over_old::error::DoOverError<io::Error>;

/// Picks the calls that fail their first attempt: every `fail_every`-th.
struct Calls {
    every: u32,
    n: u32,
}

impl Calls {
    fn new(scenario: Scenario) -> Self {
        Calls {
            every: scenario.fail_every(),
            n: 0,
        }
    }

    #[inline(always)]
    fn next(&mut self) {
        if self.every != 0 {
            self.n += 1;
            if self.n == self.every {
                self.n = 0;
                FAIL_NEXT.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Calls that returned an error in the row being measured.
static FAILED: AtomicU64 = AtomicU64::new(0);
/// The rows that ever returned an error, and how many; printed at the end of the run.
static FAILED_BY_ROW: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

#[cold]
#[inline(never)]
fn note_failure() {
    FAILED.fetch_add(1, Ordering::Relaxed);
}

/// The value of a call; a failed call is counted (every row goes through this branch).
#[inline(always)]
fn check<T, E>(r: Result<T, E>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(_) => {
            note_failure();
            None
        }
    }
}

/// Polls `f` once with a no-op waker; if it is still pending, finishes it on `rt`.
///
/// Always inlined, so the future is built in place (see `common::poll_ready`).
#[inline(always)]
fn drive<F: Future>(rt: &Runtime, f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => block_on_rest(rt, f),
    }
}

#[cold]
#[inline(never)]
fn block_on_rest<F: Future>(rt: &Runtime, f: Pin<&mut F>) -> F::Output {
    rt.block_on(f)
}

/// A current-thread Tokio runtime with the time driver.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread Tokio runtime")
}

/// How long each row calls its body before measuring, at least (and at least
/// `WARM_UP_CALLS` times). On the benchmark machine (a 2-vCPU KVM guest) a CPU that has
/// been idle (before the run, or while a `flaky` row of a peer sleeps) runs 1.3–1.5× slower
/// for the next second or so, and whichever row ran then came out in that slow mode. Keeping
/// the CPU busy for a second first removes most of that.
const WARM_UP_TIME: Duration = Duration::from_secs(1);

/// Warms `body` up, then measures it; `row` names the benchmark in the failure report.
/// Call it inside the runtime's context (`runtime.enter()`).
fn measure<O>(row: &str, scenario: Scenario, bencher: Bencher, mut body: impl FnMut() -> O) {
    let until = Instant::now() + WARM_UP_TIME;
    let mut calls = 0;
    while calls < WARM_UP_CALLS || Instant::now() < until {
        for _ in 0..100 {
            black_box(body());
        }
        calls += 100;
    }
    FAILED.store(0, Ordering::Relaxed);
    bencher.bench_local(&mut body);
    let n = FAILED.swap(0, Ordering::Relaxed);
    if n != 0 {
        let row = format!("{row} ({scenario})");
        let mut rows = FAILED_BY_ROW.lock().expect("not poisoned");
        match rows.iter_mut().find(|(r, _)| *r == row) {
            Some((_, m)) => *m += n,
            None => rows.push((row, n)),
        }
    }
}

/// Calls a tower service as a caller does: `ready().await`, `call`, the response awaited.
#[inline(always)]
async fn tower_call<S: Service<()>>(svc: &mut S) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(()).await
}

/// The do-over stacks.
mod stacks {
    use super::*;
    use do_over::bulkhead::Bulkhead;
    use do_over::circuit_breaker::CircuitBreaker;
    use do_over::retry::RetryPolicy;
    use do_over::timeout::TimeoutPolicy;
    use do_over::wrap::Wrap;

    /// Bulkhead → breaker → retry → timeout.
    pub fn full() -> Wrap<Bulkhead, Wrap<CircuitBreaker, Wrap<RetryPolicy, TimeoutPolicy>>> {
        Wrap::new(
            Bulkhead::new(MAX_CONCURRENT),
            Wrap::new(
                CircuitBreaker::new(BREAKER_FAILURES, BREAK),
                retry_timeout(),
            ),
        )
    }

    /// Breaker → retry → timeout (seatbelt's stack: it has no bulkhead).
    pub fn no_bulkhead() -> Wrap<CircuitBreaker, Wrap<RetryPolicy, TimeoutPolicy>> {
        Wrap::new(
            CircuitBreaker::new(BREAKER_FAILURES, BREAK),
            retry_timeout(),
        )
    }

    /// Bulkhead → retry → timeout (tower's stack: it has no breaker).
    pub fn no_breaker() -> Wrap<Bulkhead, Wrap<RetryPolicy, TimeoutPolicy>> {
        Wrap::new(Bulkhead::new(MAX_CONCURRENT), retry_timeout())
    }

    fn retry_timeout() -> Wrap<RetryPolicy, TimeoutPolicy> {
        Wrap::new(
            RetryPolicy::fixed(RETRIES, RETRY_DELAY),
            TimeoutPolicy::new(TIMEOUT),
        )
    }
}

/// The operation awaited directly: the baseline.
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn bare(bencher: Bencher, scenario: Scenario) {
    let rt = runtime();
    let _context = rt.enter();
    let op = || async { attempt() };
    let mut calls = Calls::new(scenario);
    measure("bare", scenario, bencher, || {
        calls.next();
        check(drive(&rt, op()))
    });
}

/// do-over: `Wrap` of bulkhead, breaker, retry, timeout through `Policy::execute`.
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn do_over(bencher: Bencher, scenario: Scenario) {
    use do_over::policy::Policy;
    let rt = runtime();
    let _context = rt.enter();
    let policy = stacks::full();
    let op = || async { Ok::<u64, Error>(attempt()?) };
    let mut calls = Calls::new(scenario);
    measure("do_over", scenario, bencher, || {
        calls.next();
        check(drive(&rt, policy.execute(op)))
    });
}

/// do-over without the bulkhead: breaker, retry, timeout (the seatbelt comparison).
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn do_over_no_bulkhead(bencher: Bencher, scenario: Scenario) {
    use do_over::policy::Policy;
    let rt = runtime();
    let _context = rt.enter();
    let policy = stacks::no_bulkhead();
    let op = || async { Ok::<u64, Error>(attempt()?) };
    let mut calls = Calls::new(scenario);
    measure("do_over_no_bulkhead", scenario, bencher, || {
        calls.next();
        check(drive(&rt, policy.execute(op)))
    });
}

/// do-over without the breaker: bulkhead, retry, timeout (the tower comparison).
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn do_over_no_breaker(bencher: Bencher, scenario: Scenario) {
    use do_over::policy::Policy;
    let rt = runtime();
    let _context = rt.enter();
    let policy = stacks::no_breaker();
    let op = || async { Ok::<u64, Error>(attempt()?) };
    let mut calls = Calls::new(scenario);
    measure("do_over_no_breaker", scenario, bencher, || {
        calls.next();
        check(drive(&rt, policy.execute(op)))
    });
}

/// do-over 0.1.0: the same `Wrap` stack (its retry sleeps even for a zero delay).
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn do_over_0_1_0(bencher: Bencher, scenario: Scenario) {
    use do_over_old::policy::Policy;
    use do_over_old::{
        bulkhead::Bulkhead, circuit_breaker::CircuitBreaker, retry::RetryPolicy,
        timeout::TimeoutPolicy, wrap::Wrap,
    };
    let rt = runtime();
    let _context = rt.enter();
    let policy = Wrap::new(
        Bulkhead::new(MAX_CONCURRENT),
        Wrap::new(
            CircuitBreaker::new(BREAKER_FAILURES as usize, BREAK),
            Wrap::new(
                RetryPolicy::fixed(RETRIES as usize, RETRY_DELAY),
                TimeoutPolicy::new(TIMEOUT),
            ),
        ),
    );
    let op = || async { attempt().map_err(OldError::Inner) };
    let mut calls = Calls::new(scenario);
    measure("do_over_0_1_0", scenario, bencher, || {
        calls.next();
        check(drive(&rt, policy.execute(op)))
    });
}

/// tower-resilience: bulkhead, breaker, retry, time limiter layers in a `ServiceBuilder`.
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn tower_resilience(bencher: Bencher, scenario: Scenario) {
    use tower_resilience::bulkhead::BulkheadLayer;
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;
    use tower_resilience::retry::RetryLayer;
    use tower_resilience::timelimiter::{TimeLimiterError, TimeLimiterLayer};
    let rt = runtime();
    let _context = rt.enter();
    let mut svc = ServiceBuilder::new()
        .layer(
            BulkheadLayer::builder()
                .max_concurrent_calls(MAX_CONCURRENT)
                .build()
                .expect("a valid bulkhead"),
        )
        .layer(
            CircuitBreakerLayer::builder()
                .consecutive_failures(BREAKER_FAILURES as usize)
                .wait_duration_in_open(BREAK)
                .build()
                .expect("a valid breaker"),
        )
        .layer(
            RetryLayer::<(), u64, TimeLimiterError<io::Error>>::builder()
                .max_attempts(RETRIES as usize + 1)
                .fixed_backoff(RETRY_DELAY)
                .build(),
        )
        .layer(
            TimeLimiterLayer::builder()
                .timeout_duration(TIMEOUT)
                .build(),
        )
        .service(tower::service_fn(|()| async { attempt() }));
    let mut calls = Calls::new(scenario);
    measure("tower_resilience", scenario, bencher, || {
        calls.next();
        check(drive(&rt, tower_call(&mut svc)))
    });
}

/// seatbelt: breaker, retry, timeout (it has no bulkhead) around `Execute`.
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn seatbelt(bencher: Bencher, scenario: Scenario) {
    use layered::{Execute, Service as _, Stack};
    use seatbelt::breaker::Breaker;
    use seatbelt::retry::{Backoff, Retry};
    use seatbelt::timeout::Timeout;
    use seatbelt::{RecoveryInfo, ResilienceContext};
    let rt = runtime();
    let _context = rt.enter();
    let clock = tick::Clock::new_tokio();
    let context = ResilienceContext::<(), Result<u64, io::Error>>::new(&clock);
    let classify = |r: &Result<u64, io::Error>| match r {
        Ok(_) => RecoveryInfo::never(),
        Err(_) => RecoveryInfo::retry(),
    };
    let svc = (
        Breaker::layer("breaker", &context)
            .recovery_with(move |r, _| classify(r))
            .rejected_input_error(|_, _| io::ErrorKind::ConnectionRefused.into())
            .break_duration(BREAK),
        Retry::layer("retry", &context)
            .clone_input()
            .recovery_with(move |r, _| classify(r))
            .max_retry_attempts(RETRIES)
            .backoff(Backoff::Constant)
            .base_delay(RETRY_DELAY)
            .use_jitter(false),
        Timeout::layer("timeout", &context)
            .timeout(TIMEOUT)
            .timeout_error(|_| io::ErrorKind::TimedOut.into()),
        Execute::new(|()| async { attempt() }),
    )
        .into_service();
    let mut calls = Calls::new(scenario);
    measure("seatbelt", scenario, bencher, || {
        calls.next();
        check(drive(&rt, svc.execute(())))
    });
}

/// A `tower::retry::Policy`: up to `RETRIES` retries of any error, with no delay.
#[derive(Clone, Copy)]
struct RetryErrors(u32);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for RetryErrors {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 0 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower, hand-built: `ConcurrencyLimit` → `Retry` → `Timeout` (no breaker in tower).
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn tower(bencher: Bencher, scenario: Scenario) {
    let rt = runtime();
    let _context = rt.enter();
    let mut svc = ServiceBuilder::new()
        .concurrency_limit(MAX_CONCURRENT)
        .retry(RetryErrors(RETRIES))
        .timeout(TIMEOUT)
        .service_fn(|()| async { attempt() });
    let mut calls = Calls::new(scenario);
    measure("tower", scenario, bencher, || {
        calls.next();
        check(drive(&rt, tower_call(&mut svc)))
    });
}

/// do-over's full stack as tower middleware: `PolicyLayer` around the same `service_fn`.
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn do_over_policy_layer(bencher: Bencher, scenario: Scenario) {
    use do_over::tower::PolicyLayer;
    let rt = runtime();
    let _context = rt.enter();
    let mut svc = ServiceBuilder::new()
        .layer(PolicyLayer::new(stacks::full()))
        .service_fn(|()| async { attempt() });
    let mut calls = Calls::new(scenario);
    measure("do_over_policy_layer", scenario, bencher, || {
        calls.next();
        check(drive(&rt, tower_call(&mut svc)))
    });
}

/// do-over's bulkhead → retry → timeout as tower middleware (tower's stack, no breaker).
#[divan::bench(args = SCENARIOS, sample_size = SAMPLE_SIZE)]
fn do_over_policy_layer_no_breaker(bencher: Bencher, scenario: Scenario) {
    use do_over::tower::PolicyLayer;
    let rt = runtime();
    let _context = rt.enter();
    let mut svc = ServiceBuilder::new()
        .layer(PolicyLayer::new(stacks::no_breaker()))
        .service_fn(|()| async { attempt() });
    let mut calls = Calls::new(scenario);
    measure("do_over_policy_layer_no_breaker", scenario, bencher, || {
        calls.next();
        check(drive(&rt, tower_call(&mut svc)))
    });
}
