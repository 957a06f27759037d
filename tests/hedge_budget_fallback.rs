//! Hedging, the retry budget and fallback on Tokio's paused clock, plus a simulated latency
//! distribution showing what hedging buys (p99) and what it costs (extra load).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use do_over::budget::TpsBudget;
use do_over::error::DoOverError;
use do_over::fallback::Fallback;
use do_over::hedge::Hedge;
use do_over::policy::Policy;
use do_over::retry::{RetryEvent, RetryEventKind, RetryPolicy};
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;
use tokio::time::{Instant, sleep};

type E = DoOverError<String>;
const MS: Duration = Duration::from_millis(1);

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// An operation whose `n`-th attempt (0-based) takes `plan[n].0` and succeeds iff `plan[n].1`.
fn planned(
    plan: &'static [(u64, bool)],
    calls: &Arc<AtomicU32>,
    starts: &Arc<Mutex<Vec<u128>>>,
    t0: Instant,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, E>> + Send>>
+ Send
+ Sync
+ use<> {
    let (calls, starts) = (calls.clone(), starts.clone());
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        starts.lock().unwrap().push(t0.elapsed().as_millis());
        let (ms, ok) = plan[n];
        Box::pin(async move {
            sleep(Duration::from_millis(ms)).await;
            if ok {
                Ok(n)
            } else {
                Err(DoOverError::Inner(format!("attempt {n} failed")))
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_hedge_wins_and_the_primary_is_dropped() {
    let hedge = Hedge::new(100 * MS);
    let dropped = Arc::new(AtomicBool::new(false));
    let calls = AtomicU32::new(0);
    let t0 = Instant::now();
    let d = dropped.clone();
    let out = hedge
        .execute(|| {
            let d = d.clone();
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let _flag = (n == 0).then(|| DropFlag(d));
                sleep(if n == 0 { 10_000 * MS } else { 50 * MS }).await;
                Ok::<_, E>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(1));
    assert_eq!(t0.elapsed(), 150 * MS, "delay + the hedge's own latency");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the slow primary was cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fast_primary_starts_no_hedge() {
    static PLAN: [(u64, bool); 2] = [(50, true), (1, true)];
    let (calls, starts) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let out = Hedge::new(100 * MS)
        .execute(planned(&PLAN, &calls, &starts, Instant::now()))
        .await;
    assert_eq!(out, Ok(0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_early_failure_starts_the_next_attempt_at_once() {
    static PLAN: [(u64, bool); 3] = [(10, false), (30, true), (1, true)];
    let (calls, starts) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let t0 = Instant::now();
    let hedge = Hedge::new(100 * MS).with_max_hedged_attempts(2);
    let out = hedge.execute(planned(&PLAN, &calls, &starts, t0)).await;
    assert_eq!(out, Ok(1));
    assert_eq!(
        *starts.lock().unwrap(),
        [0, 10],
        "attempt 2 started at the failure, not at 100 ms"
    );
    assert_eq!(t0.elapsed(), 40 * MS);
}

#[tokio::test(start_paused = true)]
async fn when_every_attempt_fails_the_last_failure_is_returned() {
    static PLAN: [(u64, bool); 3] = [(300, false), (10, false), (20, false)];
    let (calls, starts) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let t0 = Instant::now();
    let hedge = Hedge::new(100 * MS).with_max_hedged_attempts(2);
    let out = hedge.execute(planned(&PLAN, &calls, &starts, t0)).await;
    // Starts: 0 (fails at 300), 100 (fails at 110, so #3 starts at once), 110 (fails at 130).
    assert_eq!(*starts.lock().unwrap(), [0, 100, 110]);
    assert_eq!(
        out,
        Err(DoOverError::Inner("attempt 0 failed".to_string())),
        "the last to fail"
    );
    assert_eq!(t0.elapsed(), 300 * MS);
}

#[tokio::test(start_paused = true)]
async fn zero_delay_runs_all_attempts_in_parallel() {
    static PLAN: [(u64, bool); 4] = [(90, true), (70, true), (80, true), (1, true)];
    let (calls, starts) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let t0 = Instant::now();
    let out = Hedge::new(Duration::ZERO)
        .with_max_hedged_attempts(2)
        .execute(planned(&PLAN, &calls, &starts, t0))
        .await;
    assert_eq!(out, Ok(1));
    assert_eq!(*starts.lock().unwrap(), [0, 0, 0]);
    assert_eq!(t0.elapsed(), 70 * MS);
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_stops_hedges() {
    static PLAN: [(u64, bool); 2] = [(500, true), (1, true)];
    let budget = TpsBudget::new(Duration::from_secs(10), 0, 0.1);
    let (calls, starts) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let hedge = Hedge::new(100 * MS).with_budget(&budget);
    let out = hedge
        .execute(planned(&PLAN, &calls, &starts, Instant::now()))
        .await;
    assert_eq!(out, Ok(0), "no hedge: the primary's answer at 500 ms");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_stops_retries_and_says_so() {
    // No floor; one retry per two successes.
    let budget = TpsBudget::new(Duration::from_secs(10), 0, 0.5);
    let events = Mutex::new(Vec::new());
    let retry = RetryPolicy::fixed(5, 10 * MS)
        .with_budget(&budget)
        .on_retry(|ev: &RetryEvent<'_, E>| events.lock().unwrap().push(ev.kind));
    // Two successes earn one retry.
    for _ in 0..2 {
        retry.execute(|| async { Ok::<_, E>(()) }).await.unwrap();
    }
    let calls = AtomicU32::new(0);
    let out = retry
        .execute(|| async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(DoOverError::Inner(format!("failure {n}")))
        })
        .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one retry, then the budget is empty"
    );
    assert_eq!(
        out,
        Err(DoOverError::Inner("failure 1".to_string())),
        "the last error"
    );
    assert_eq!(
        *events.lock().unwrap(),
        [RetryEventKind::Retrying, RetryEventKind::BudgetExhausted]
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_floor_allows_retries_without_traffic_and_deposits_expire() {
    let budget = TpsBudget::new(Duration::from_secs(1), 2, 0.5);
    use do_over::budget::RetryBudget;
    // Floor: 2/s over a 1 s window = 2 retries with no deposits at all.
    assert!(budget.withdraw());
    assert!(budget.withdraw());
    assert!(!budget.withdraw());
    budget.deposit();
    budget.deposit();
    assert!(budget.withdraw(), "two successes earned one retry");
    tokio::time::advance(Duration::from_secs(2)).await;
    for _ in 0..4 {
        budget.deposit();
    }
    tokio::time::advance(Duration::from_millis(1500)).await;
    // The deposits have expired and the withdrawals with them; only the floor remains.
    assert!(budget.withdraw());
    assert!(budget.withdraw());
    assert!(!budget.withdraw());
}

#[tokio::test(start_paused = true)]
async fn fallback_around_a_stack() {
    let stack = Wrap::new(RetryPolicy::fixed(2, 10 * MS), TimeoutPolicy::new(100 * MS));
    let calls = AtomicU32::new(0);
    let policy = Fallback::new(
        stack,
        |e: E| async move { Ok(format!("fallback after {e}")) },
    )
    .handle_if(|e: &E| !matches!(e, DoOverError::Inner(m) if m == "bad request"));
    let out = policy
        .execute(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_secs(1)).await;
            Ok::<_, E>("fresh".to_string())
        })
        .await;
    assert_eq!(out, Ok("fallback after operation timed out".to_string()));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the stack ran fully before the fallback"
    );
    let out = policy
        .execute(|| async { Err::<String, _>(DoOverError::Inner("bad request".to_string())) })
        .await;
    assert_eq!(
        out,
        Err(DoOverError::Inner("bad request".to_string())),
        "not handled: passes through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_and_hedge_stacks_run_inside_tokio_spawn() {
    let policy = Arc::new(Fallback::value(
        Wrap::new(Hedge::new(10 * MS), RetryPolicy::fixed(1, MS)),
        "default".to_string(),
    ));
    let p = policy.clone();
    let out = tokio::spawn(async move {
        p.execute(|| async { Err::<String, _>(DoOverError::Inner("down".to_string())) })
            .await
    })
    .await
    .unwrap();
    assert_eq!(out, Ok("default".to_string()));
}

/// A deterministic latency mix: 97 % of attempts take 10–20 ms, 3 % stall for 1 s.
fn latency(seed: &mut u64) -> Duration {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let r = (*seed >> 33) % 1000;
    if r < 30 {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(10 + r % 11)
    }
}

#[tokio::test(start_paused = true)]
async fn hedging_cuts_p99_latency_for_a_little_extra_load() {
    async fn run(hedge: Option<&Hedge>) -> (Duration, f64) {
        let seed = Mutex::new(42u64);
        let attempts = AtomicU32::new(0);
        let mut latencies = Vec::new();
        for _ in 0..2000 {
            let t0 = Instant::now();
            let op = || {
                attempts.fetch_add(1, Ordering::SeqCst);
                let d = latency(&mut seed.lock().unwrap());
                async move {
                    sleep(d).await;
                    Ok::<_, E>(())
                }
            };
            match hedge {
                Some(h) => h.execute(op).await.unwrap(),
                None => op().await.unwrap(),
            }
            latencies.push(t0.elapsed());
        }
        latencies.sort();
        let load = f64::from(attempts.load(Ordering::SeqCst)) / 2000.0;
        (latencies[1979], load)
    }
    let (p99_plain, load_plain) = run(None).await;
    let hedge = Hedge::new(50 * MS);
    let (p99_hedged, load_hedged) = run(Some(&hedge)).await;
    println!(
        "p99 {p99_plain:?} -> {p99_hedged:?}; attempts per call {load_plain} -> {load_hedged:.3}"
    );
    assert_eq!(p99_plain, Duration::from_secs(1));
    assert!(p99_hedged <= 80 * MS, "p99 with hedging: {p99_hedged:?}");
    assert!(load_hedged < 1.05, "extra load: {load_hedged}");
}

#[tokio::test(start_paused = true)]
async fn adaptive_delay_follows_the_observed_percentile() {
    let hedge = Hedge::new(Duration::from_secs(1))
        .with_adaptive_delay(0.9, 20)
        .unwrap();
    for _ in 0..20 {
        hedge
            .execute(|| async {
                sleep(12 * MS).await;
                Ok::<_, E>(())
            })
            .await
            .unwrap();
    }
    // 12 ms falls in the [8.192, 16.384) ms bucket: hedge after its upper edge.
    assert_eq!(hedge.current_delay(), Duration::from_micros(16_384));
    let calls = AtomicU32::new(0);
    let t0 = Instant::now();
    let out = hedge
        .execute(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                sleep(if n == 0 { Duration::from_secs(5) } else { MS }).await;
                Ok::<_, E>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(1));
    // Tokio's timer rounds the 16.384 ms hedge delay up to its 1 ms tick.
    assert_eq!(t0.elapsed(), 17 * MS + MS);
}

#[tokio::test(start_paused = true)]
async fn detached_mode_lets_the_losing_attempt_finish() {
    use do_over::time::TokioTimer;
    let hedge = Hedge::new(100 * MS);
    let finished = Arc::new(AtomicU32::new(0));
    let calls = Arc::new(AtomicU32::new(0));
    let (f, c) = (finished.clone(), calls.clone());
    let out = hedge
        .execute_detached(TokioTimer, move || {
            let (f, n) = (f.clone(), c.fetch_add(1, Ordering::SeqCst));
            async move {
                sleep(if n == 0 { 1000 * MS } else { 10 * MS }).await;
                f.fetch_add(1, Ordering::SeqCst); // must not be cut off half-way
                Ok::<_, E>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(1));
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the primary is still running"
    );
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        2,
        "and it ran to completion on its own task"
    );
}
