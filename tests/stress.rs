//! Bounded stress tests on Tokio's multi-thread runtime (real time, two workers) and on the
//! manual clock from several OS threads: thousands of concurrent calls with injected failures,
//! hangs and latency, then the invariants that must hold whatever the interleaving.
//!
//! Every test is count-limited (a fixed number of calls or clock steps) and each phase runs
//! inside a generous wall-clock hang guard; nothing asserts on how long anything took. Outcomes depend
//! on the scheduling, so only invariants are checked: concurrency never above the limit, every
//! call accounted for exactly once, no slot, queue place or probe leaked, and a rate limiter
//! that never admits more than its quota (exactly its quota on the manual clock).
//!
//! Not run under Miri: real threads, real time and thousands of tasks (the interleavings
//! Miri would explore are covered by `core/tests/cancellation.rs` and the loom models).
#![cfg(not(miri))]

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use do_over::bulkhead::Bulkhead;
use do_over::circuit_breaker::{CircuitBreaker, CircuitState, Transition};
use do_over::core::rate_limit::RateLimiter as CoreRateLimiter;
use do_over::core::time::{Clock, ManualClock};
use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::rate_limit::RateLimiter;
use do_over::retry::RetryPolicy;
use do_over::time::TokioTimer;
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;
use tokio::task::{JoinHandle, yield_now};
use tokio::time::sleep;

/// The operation's own (injected) failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Injected;

type E = DoOverError<Injected>;
const MS: Duration = Duration::from_millis(1);
/// The hang guard: far above the few seconds a debug build needs, far below CI's patience.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// splitmix64: a deterministic pseudo-random value for `(a, b)`.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `fut`, failing the test if it has not finished within [`HANG_GUARD`].
async fn no_hang<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, fut).await {
        Ok(out) => out,
        Err(_) => panic!("hang: {what} did not finish within {HANG_GUARD:?}"),
    }
}

/// Awaits every task under the hang guard; a panicked task fails the test.
async fn join_all<T>(what: &str, tasks: Vec<JoinHandle<T>>) {
    no_hang(what, async {
        for t in tasks {
            t.await.expect("a call panicked");
        }
    })
    .await;
}

/// Runs `f` on its own thread, failing the test if it has not finished within
/// [`HANG_GUARD`] (a deadlocked thread is left behind; the failure is reported).
fn no_hang_sync(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(HANG_GUARD) {
        Err(RecvTimeoutError::Timeout) => {
            panic!("hang: {what} did not finish within {HANG_GUARD:?}")
        }
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Counts operations running at once (the section a bulkhead guards) and the maximum seen.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    entered: AtomicUsize,
    left: AtomicUsize,
}

impl Gauge {
    fn enter(&self) -> GaugeGuard<'_> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        self.entered.fetch_add(1, Ordering::SeqCst);
        GaugeGuard(self)
    }
}

/// Leaves the gauge when dropped: on completion, and also when a timeout cancels the
/// operation.
struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        self.0.left.fetch_add(1, Ordering::SeqCst);
    }
}

/// Outcome counters, one per way a call can end.
#[derive(Default, Debug)]
struct Outcomes {
    ok: AtomicU32,
    inner: AtomicU32,
    timeout: AtomicU32,
    circuit_open: AtomicU32,
    bulkhead_full: AtomicU32,
    cancelled: AtomicU32,
}

impl Outcomes {
    fn record(&self, r: &Result<u32, E>) {
        let c = match r {
            Ok(_) => &self.ok,
            Err(DoOverError::Inner(Injected)) => &self.inner,
            Err(DoOverError::Timeout) => &self.timeout,
            Err(DoOverError::CircuitOpen) => &self.circuit_open,
            Err(DoOverError::BulkheadFull) => &self.bulkhead_full,
            Err(other) => panic!("unexpected outcome {other:?}"),
        };
        c.fetch_add(1, Ordering::SeqCst);
    }

    fn total(&self) -> u32 {
        [
            &self.ok,
            &self.inner,
            &self.timeout,
            &self.circuit_open,
            &self.bulkhead_full,
            &self.cancelled,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
}

/// While `done` is false, samples the bulkhead's counters: free slots never above the limit
/// (a double release), waiters never above the queue cap.
fn spawn_bulkhead_monitor(
    b: Arc<Bulkhead>,
    max_queued: usize,
    done: Arc<AtomicBool>,
) -> JoinHandle<u32> {
    tokio::spawn(async move {
        let mut samples = 0;
        while !done.load(Ordering::SeqCst) {
            let (free, queued) = (b.available(), b.queued());
            assert!(
                free <= b.max_concurrent(),
                "{free} free slots: a slot was released twice"
            );
            assert!(queued <= max_queued, "{queued} waiters, cap {max_queued}");
            samples += 1;
            sleep(MS).await;
        }
        samples
    })
}

/// After a storm: the bulkhead has every slot back and nobody queued, and it admits exactly
/// `max_concurrent` calls at once — they all run together — while one more is turned away.
async fn assert_bulkhead_whole(b: &Arc<Bulkhead>) {
    let limit = b.max_concurrent();
    assert_eq!(
        (b.available(), b.in_flight(), b.queued()),
        (limit, 0, 0),
        "a slot or queue place was leaked"
    );
    let all_in = Arc::new(tokio::sync::Barrier::new(limit + 1));
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let holders: Vec<_> = (0..limit)
        .map(|_| {
            let (b, all_in, release) = (b.clone(), all_in.clone(), release.clone());
            tokio::spawn(async move {
                b.execute(|| async {
                    all_in.wait().await;
                    release.acquire().await.unwrap().forget();
                    Ok::<_, E>(0)
                })
                .await
            })
        })
        .collect();
    // Completes only when `limit` operations are running at the same time.
    no_hang("admitting the full limit at once", all_in.wait()).await;
    assert_eq!(b.available(), 0);
    let extra: Result<u32, E> =
        no_hang("one call over the limit", b.execute(|| async { Ok(1) })).await;
    assert_eq!(
        extra,
        Err(DoOverError::BulkheadFull),
        "a call beyond the limit"
    );
    release.add_permits(limit);
    for h in holders {
        assert_eq!(no_hang("a holder", h).await.unwrap(), Ok(0));
    }
    assert_eq!((b.available(), b.queued()), (limit, 0));
}

static BREAKER_OPENED: AtomicU32 = AtomicU32::new(0);

fn count_opens(t: &Transition) {
    if t.to == CircuitState::Open {
        BREAKER_OPENED.fetch_add(1, Ordering::SeqCst);
    }
}

/// 5,000 calls through Bulkhead → CircuitBreaker → Retry → Timeout on two worker threads.
/// Each attempt fails (15 %), hangs past its timeout (3 %), yields or sleeps, decided
/// pseudo-randomly per call and attempt; calls 1,500..1,800 hit an outage (every attempt
/// fails) that opens the breaker. Arrivals are spread over ~500 ms so that the bulkhead
/// runs, queues, times waiters out and rejects all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_stack_under_load_keeps_every_invariant() {
    const CALLS: u32 = 5_000;
    const LIMIT: usize = 16;
    const MAX_QUEUED: usize = 64;
    const RETRIES: u32 = 2;
    const OUTAGE: std::ops::Range<u32> = 1_500..1_800;

    let bulkhead = Arc::new(
        Bulkhead::new(LIMIT)
            .with_queue_timeout(20 * MS)
            .with_max_queued(MAX_QUEUED),
    );
    let breaker = Arc::new(CircuitBreaker::new(5, 10 * MS).on_transition(count_opens));
    let retry = Arc::new(RetryPolicy::exponential(RETRIES, MS, 2.0));
    let timeout = Arc::new(TimeoutPolicy::new(20 * MS));
    let gauge = Arc::new(Gauge::default());
    let outcomes = Arc::new(Outcomes::default());
    let op_ok = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = spawn_bulkhead_monitor(bulkhead.clone(), MAX_QUEUED, done.clone());

    let tasks: Vec<JoinHandle<()>> = (0..CALLS)
        .map(|id| {
            let (bulkhead, breaker, retry, timeout) = (
                bulkhead.clone(),
                breaker.clone(),
                retry.clone(),
                timeout.clone(),
            );
            let (gauge, outcomes, op_ok) = (gauge.clone(), outcomes.clone(), op_ok.clone());
            tokio::spawn(async move {
                sleep(Duration::from_micros(u64::from(id) * 100)).await; // arrival
                let stack = Wrap::new(
                    &*bulkhead,
                    Wrap::new(&*breaker, Wrap::new(&*retry, &*timeout)),
                );
                let attempts = AtomicU32::new(0);
                let out = stack
                    .execute(|| {
                        let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                        let (gauge, op_ok) = (&*gauge, &*op_ok);
                        async move {
                            let _in = gauge.enter();
                            let r = mix(u64::from(id), u64::from(attempt)) % 100;
                            if OUTAGE.contains(&id) || r < 15 {
                                yield_now().await;
                                return Err(DoOverError::Inner(Injected));
                            }
                            match r {
                                15..=17 => sleep(200 * MS).await, // cut off by the timeout
                                18..=59 => yield_now().await,
                                _ => sleep(MS).await,
                            }
                            op_ok.fetch_add(1, Ordering::SeqCst);
                            Ok(id)
                        }
                    })
                    .await;
                let attempts = attempts.load(Ordering::SeqCst);
                match &out {
                    Ok(v) => {
                        assert_eq!(*v, id);
                        assert!((1..=RETRIES + 1).contains(&attempts), "{attempts}");
                    }
                    Err(DoOverError::Inner(_) | DoOverError::Timeout) => {
                        assert_eq!(attempts, RETRIES + 1, "gave up early")
                    }
                    Err(_) => assert_eq!(attempts, 0, "a rejected call ran its operation"),
                }
                outcomes.record(&out);
            })
        })
        .collect();

    join_all("5,000 calls through the full stack", tasks).await;
    done.store(true, Ordering::SeqCst);
    let samples = monitor.await.unwrap();

    eprintln!(
        "full stack: {outcomes:?}, max in flight {}, breaker opened {} times, {samples} samples",
        gauge.max.load(Ordering::SeqCst),
        BREAKER_OPENED.load(Ordering::SeqCst),
    );
    // Every call ended exactly once, with one of the expected results.
    assert_eq!(outcomes.total(), CALLS);
    assert_eq!(
        outcomes.ok.load(Ordering::SeqCst),
        op_ok.load(Ordering::SeqCst),
        "every successful operation's result reached its caller, and only those"
    );
    // Concurrency inside the bulkhead never exceeded its limit (and there was some).
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(max <= LIMIT, "{max} operations ran at once, limit {LIMIT}");
    assert!(max >= 2, "the load was never concurrent");
    assert_eq!(gauge.now.load(Ordering::SeqCst), 0);
    assert_eq!(
        gauge.entered.load(Ordering::SeqCst),
        gauge.left.load(Ordering::SeqCst),
        "every attempt (completed or cancelled by its timeout) was dropped"
    );
    // The outage opened the breaker, and successes still came through.
    assert!(BREAKER_OPENED.load(Ordering::SeqCst) >= 1);
    assert!(outcomes.ok.load(Ordering::SeqCst) > 0);

    // No probe left behind: once its break is over, the breaker admits a call that closes it.
    assert_eq!(breaker.metrics().probes_running, 0, "a probe slot leaked");
    no_hang("the breaker recovering", async {
        loop {
            if let Some(wait) = breaker.retry_after() {
                sleep(wait + MS).await;
            }
            match breaker.execute(|| async { Ok::<_, E>(0) }).await {
                Ok(_) => break,
                // Only if the break has not quite ended: wait out the rest.
                Err(DoOverError::CircuitOpen) => yield_now().await,
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await;
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().probes_running, 0);

    // No slot or queue place leaked.
    assert_bulkhead_whole(&bulkhead).await;
}

/// 5,000 calls on a bulkhead with a small, capped FIFO queue and a queue timeout, two worker
/// threads. Operations hold their slot for a yield to 3 ms; every seventh call is cancelled
/// by an outer timeout at a pseudo-random moment (queued, just granted, or running). Every
/// call is admitted, rejected or cancelled — none is lost, stranded or counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_bulkhead_under_load_admits_or_rejects_every_call() {
    const CALLS: u32 = 5_000;
    const LIMIT: usize = 8;
    const MAX_QUEUED: usize = 100;

    let bulkhead = Arc::new(
        Bulkhead::new(LIMIT)
            .with_queue_timeout(10 * MS)
            .with_max_queued(MAX_QUEUED),
    );
    let gauge = Arc::new(Gauge::default());
    let outcomes = Arc::new(Outcomes::default());
    let op_ok = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = spawn_bulkhead_monitor(bulkhead.clone(), MAX_QUEUED, done.clone());

    let tasks: Vec<JoinHandle<()>> = (0..CALLS)
        .map(|id| {
            let (bulkhead, gauge, outcomes, op_ok) = (
                bulkhead.clone(),
                gauge.clone(),
                outcomes.clone(),
                op_ok.clone(),
            );
            tokio::spawn(async move {
                sleep(Duration::from_micros(u64::from(id) * 100)).await; // arrival
                let r = mix(u64::from(id), 7);
                let ran = AtomicU32::new(0);
                let call = bulkhead.execute(|| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    let (gauge, op_ok) = (&*gauge, &*op_ok);
                    async move {
                        let _in = gauge.enter();
                        match r % 4 {
                            0 => yield_now().await,
                            n => sleep(MS * n as u32).await,
                        }
                        op_ok.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, E>(id)
                    }
                });
                let out = if id % 7 == 0 {
                    let cancel_after = Duration::from_micros((r >> 8) % 12_000);
                    tokio::time::timeout(cancel_after, call).await.ok()
                } else {
                    Some(call.await)
                };
                let ran = ran.load(Ordering::SeqCst);
                match out {
                    None => {
                        assert!(ran <= 1);
                        outcomes.cancelled.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(out) => {
                        match out {
                            Ok(v) => assert_eq!((v, ran), (id, 1)),
                            Err(DoOverError::BulkheadFull) => {
                                assert_eq!(ran, 0, "a rejected call ran its operation")
                            }
                            Err(ref e) => panic!("unexpected {e:?}"),
                        }
                        outcomes.record(&out);
                    }
                }
            })
        })
        .collect();

    join_all("5,000 calls through a queued bulkhead", tasks).await;
    done.store(true, Ordering::SeqCst);
    let samples = monitor.await.unwrap();

    eprintln!(
        "queued bulkhead: {outcomes:?}, max in flight {}, {samples} samples",
        gauge.max.load(Ordering::SeqCst)
    );
    assert_eq!(outcomes.total(), CALLS, "every call ended exactly once");
    assert_eq!(
        outcomes.ok.load(Ordering::SeqCst),
        op_ok.load(Ordering::SeqCst),
        "every completed operation's result reached its caller"
    );
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(max <= LIMIT, "{max} operations ran at once, limit {LIMIT}");
    assert!(max >= 2, "the load was never concurrent");
    assert_eq!(
        gauge.entered.load(Ordering::SeqCst),
        gauge.left.load(Ordering::SeqCst)
    );
    assert!(outcomes.ok.load(Ordering::SeqCst) > 0);
    assert_bulkhead_whole(&bulkhead).await;
}

/// 4,000 concurrent tasks on two worker threads hammer a limiter of 100 per minute: every
/// call is admitted or rate-limited, at least the burst is admitted, and never more than
/// the burst plus what refilled while the test ran. Then a waiting limiter (2 ms per token,
/// callers wait up to 50 ms, one in five gives up while waiting): every call is admitted,
/// rate-limited or cancelled, and the k-th call to run started no earlier than the quota
/// allowed k calls, measured on the limiter's own clock (a returned reservation may be
/// reused, but never turns into an extra token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiter_under_multi_thread_load_never_exceeds_its_quota() {
    // Rejecting limiter.
    const CALLS: u32 = 4_000;
    const CAP: u32 = 100;
    let per_token = Duration::from_secs(60) / CAP;
    let start = TokioTimer.now();
    let limiter = Arc::new(RateLimiter::new(CAP, Duration::from_secs(60)));
    let admitted = Arc::new(AtomicU32::new(0));
    let limited = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..CALLS)
        .map(|id| {
            let (limiter, admitted, limited) = (limiter.clone(), admitted.clone(), limited.clone());
            tokio::spawn(async move {
                if id % 3 == 0 {
                    yield_now().await;
                }
                let out = limiter
                    .execute(|| async {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, E>(())
                    })
                    .await;
                match out {
                    Ok(()) => {}
                    Err(DoOverError::RateLimited { retry_after }) => {
                        assert!(
                            !retry_after.is_zero() && retry_after <= per_token,
                            "retry_after {retry_after:?} for one token"
                        );
                        limited.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            })
        })
        .collect();
    join_all("4,000 rate-limited calls", tasks).await;
    let elapsed = TokioTimer.now() - start;
    let (ok, rejected) = (
        admitted.load(Ordering::SeqCst),
        limited.load(Ordering::SeqCst),
    );
    let refilled = (elapsed.as_nanos() / per_token.as_nanos()) as u32;
    eprintln!("rate limiter: {ok} admitted, {rejected} limited in {elapsed:?}");
    assert_eq!(ok + rejected, CALLS, "every call ended exactly once");
    assert!(
        ok >= CAP,
        "a rejection while tokens were left: {ok} admitted"
    );
    assert!(
        ok <= CAP + refilled,
        "{ok} admitted, quota {CAP} + {refilled}"
    );

    // Waiting limiter: record when each admitted operation starts, on the limiter's clock.
    const WAITING_CALLS: u32 = 2_000;
    const WCAP: u32 = 50;
    let per_token = Duration::from_millis(100) / WCAP;
    let start = TokioTimer.now();
    let limiter = Arc::new(
        RateLimiter::new(WCAP, Duration::from_millis(100)).with_max_wait(Duration::from_millis(50)),
    );
    let starts = Arc::new(Mutex::new(Vec::new()));
    let limited = Arc::new(AtomicU32::new(0));
    let cancelled = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..WAITING_CALLS)
        .map(|id| {
            let (limiter, starts, limited, cancelled) = (
                limiter.clone(),
                starts.clone(),
                limited.clone(),
                cancelled.clone(),
            );
            tokio::spawn(async move {
                sleep(Duration::from_micros(u64::from(id) * 50)).await; // ~100 ms of arrivals
                let call = limiter.execute(|| async {
                    starts.lock().unwrap().push(TokioTimer.now() - start);
                    Ok::<_, E>(())
                });
                // Every fifth caller gives up after up to 30 ms: a waiter cancelled while it
                // holds a reservation gives it back (if nobody reserved after it).
                let out = if id % 5 == 0 {
                    let patience = Duration::from_micros(mix(u64::from(id), 3) % 30_000);
                    tokio::time::timeout(patience, call).await
                } else {
                    Ok(call.await)
                };
                match out {
                    Ok(Ok(())) => {}
                    Ok(Err(DoOverError::RateLimited { .. })) => {
                        limited.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Err(e)) => panic!("unexpected {e:?}"),
                    Err(_) => {
                        cancelled.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    join_all("2,000 waiting rate-limited calls", tasks).await;
    let mut starts = std::mem::take(&mut *starts.lock().unwrap());
    starts.sort();
    let (rejected, gave_up) = (
        limited.load(Ordering::SeqCst),
        cancelled.load(Ordering::SeqCst),
    );
    eprintln!(
        "waiting rate limiter: {} admitted, {rejected} limited, {gave_up} cancelled, last start {:?}",
        starts.len(),
        starts.last()
    );
    // The operation completes in the poll that starts it, so a cancelled call never ran.
    assert_eq!(starts.len() as u32 + rejected + gave_up, WAITING_CALLS);
    assert!(starts.len() as u32 >= WCAP);
    for (i, t) in starts.iter().enumerate() {
        let k = i as u128 + 1; // k calls had started by `t`
        let quota = u128::from(WCAP) + t.as_nanos() / per_token.as_nanos();
        assert!(
            k <= quota,
            "{k} calls had started {t:?} after the start, quota {quota}"
        );
    }
}

/// The core limiter on a manual clock, hammered by four OS threads at once, checked exactly.
///
/// Lockstep phase: the clock moves by a pseudo-random step (at most the burst window minus
/// one token, so the bucket never overflows), then every thread takes tokens until it is
/// refused; after each step exactly `burst + rate × elapsed` tokens have been admitted — no
/// token lost or invented under contention.
///
/// Free-running phase: one thread advances the clock in small steps (each after the others
/// have made a few more attempts, so that the two interleave) while the others take 1–3
/// tokens at a time as fast as they can; after every admission, the tokens admitted so far
/// are at most `burst + rate × elapsed` on the clock read right after it.
#[test]
fn rate_limiter_on_a_manual_clock_admits_exactly_its_quota_from_many_threads() {
    no_hang_sync(
        "the manual-clock limiter test",
        manual_clock_limiter_from_many_threads,
    );
}

fn manual_clock_limiter_from_many_threads() {
    const THREADS: usize = 4;
    const CAP: u64 = 10;
    const STEPS: u64 = 300;
    const FREE_STEPS: u64 = 5_000;
    let interval = Duration::from_millis(100);
    let per_token = (interval / CAP as u32).as_nanos() as u64; // 10 ms, exact
    let clock = ManualClock::new();
    let limiter = CoreRateLimiter::new_with_timer(CAP as u32, interval, &clock);
    let quota = |now: u64| CAP + now / per_token;

    // Lockstep. A failed check must not strand the other threads at the barrier, so the
    // checks are collected and asserted once every thread is done.
    let admitted = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS + 1);
    let mut mismatches = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..STEPS {
                    barrier.wait(); // the clock has moved
                    while limiter.try_acquire(1).is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                    barrier.wait(); // this thread was refused: the bucket is empty
                }
            });
        }
        for step in 0..STEPS {
            // The first round takes the initial burst at t = 0 (moving the clock first would
            // overflow the full bucket); then up to 90 ms a step (the 100 ms window less one
            // token), nanosecond-grained.
            if step > 0 {
                clock.advance(Duration::from_nanos(mix(step, 1) % (90_000_000 + 1)));
            }
            barrier.wait();
            barrier.wait();
            let now = clock.now().as_nanos();
            let got = admitted.load(Ordering::SeqCst);
            if got != quota(now) {
                mismatches.push((step, now, got, quota(now)));
            }
        }
    });
    assert_eq!(
        mismatches,
        [],
        "(step, ns, admitted, burst + rate × elapsed): admitted must be exactly the quota"
    );
    assert!(admitted.load(Ordering::SeqCst) > CAP + STEPS);

    // Free-running, on a fresh limiter.
    let origin = clock.now().as_nanos();
    let limiter = CoreRateLimiter::new_with_timer(CAP as u32, interval, &clock);
    let tokens = AtomicU64::new(0);
    let admissions = AtomicU64::new(0);
    let attempts = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let violations = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS as u64 - 1 {
            let (limiter, clock, tokens, admissions, attempts, stop, violations) = (
                &limiter,
                &clock,
                &tokens,
                &admissions,
                &attempts,
                &stop,
                &violations,
            );
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let w = 1 + mix(t, i) % 3;
                    i += 1;
                    let ok = limiter.try_acquire(w as u32).is_ok();
                    attempts.fetch_add(1, Ordering::SeqCst);
                    if ok {
                        let total = tokens.fetch_add(w, Ordering::SeqCst) + w;
                        admissions.fetch_add(1, Ordering::SeqCst);
                        let now = clock.now().as_nanos() - origin;
                        if total > quota(now) {
                            violations.lock().unwrap().push((total, now, quota(now)));
                        }
                    } else {
                        std::thread::yield_now();
                    }
                }
            });
        }
        for step in 0..FREE_STEPS {
            clock.advance(Duration::from_nanos(mix(step, 2) % 2_000_000));
            let total = tokens.load(Ordering::SeqCst);
            let now = clock.now().as_nanos() - origin;
            if total > quota(now) {
                violations.lock().unwrap().push((total, now, quota(now)));
            }
            // Let the takers make a few attempts at this time before the next step.
            let seen = attempts.load(Ordering::SeqCst);
            while attempts.load(Ordering::SeqCst) < seen + THREADS as u64 {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
    let (total, now) = (
        tokens.load(Ordering::SeqCst),
        clock.now().as_nanos() - origin,
    );
    eprintln!(
        "manual-clock limiter: {total} tokens in {} admissions over {now} ns (quota {})",
        admissions.load(Ordering::SeqCst),
        quota(now)
    );
    assert_eq!(
        *violations.lock().unwrap(),
        [],
        "(tokens admitted, ns, burst + rate × elapsed): admitted above the quota"
    );
    assert!(total <= quota(now));
    assert!(total > CAP, "the threads took tokens as the clock moved");
}
