//! Circuit breaker: a breaker in front of a flaky inventory service goes closed → open
//! (calls rejected fast with `CircuitOpen`) → half-open after the break → open again on a
//! failed probe → closed on a successful one. Then: breaks that grow while the service stays
//! down, errors that do not count as failures, and manual control with metrics. Every
//! transition is printed by the `on_transition` listener.
//! Run with `cargo run --example circuit_breaker`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use do_over::circuit_breaker::{CircuitBreaker, Transition};
use do_over::error::{DoOverError, MAX_WAIT};
use do_over::policy::Policy;

type Res = Result<(), Box<dyn std::error::Error>>;
type Err = DoOverError<&'static str>;

/// `[+ 123 ms]`: the time since `start`.
fn at(start: Instant) -> String {
    format!("[+{:>4} ms]", start.elapsed().as_millis())
}

/// A simulated inventory service: 10 ms per call, answering with `error` when set.
struct Inventory {
    error: std::sync::Mutex<Option<&'static str>>,
    calls: AtomicU32,
}

impl Inventory {
    fn new() -> Self {
        Inventory {
            error: std::sync::Mutex::new(None),
            calls: AtomicU32::new(0),
        }
    }

    fn fail_with(&self, error: Option<&'static str>) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    async fn stock(&self) -> Result<u32, Err> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        match *self.error.lock().unwrap_or_else(|p| p.into_inner()) {
            None => Ok(42),
            Some(e) => Err(DoOverError::Inner(e)),
        }
    }
}

/// Makes call `n` through `breaker` and prints what happened. `retry_after` reads the
/// breaker's time to the next probe (`DoOverError::CircuitOpen` itself carries none).
async fn call(
    n: u32,
    start: Instant,
    breaker: &impl Policy<Err>,
    retry_after: impl Fn() -> Option<Duration>,
    inventory: &Inventory,
) -> Result<u32, Err> {
    let before = inventory.calls.load(Ordering::SeqCst);
    let result = breaker.execute(|| inventory.stock()).await;
    let called = inventory.calls.load(Ordering::SeqCst) > before;
    let t = at(start);
    match &result {
        Ok(stock) => println!("   {t} call {n:>2}: ok, {stock} in stock"),
        Err(DoOverError::CircuitOpen) => {
            let wait = match retry_after().unwrap_or_default() {
                MAX_WAIT => "isolated until close()".to_string(),
                d => format!("probe in {} ms", d.as_millis()),
            };
            let note = if called { "" } else { ", inventory not called" };
            println!("   {t} call {n:>2}: rejected fast: CircuitOpen ({wait}{note})")
        }
        Err(e) => println!("   {t} call {n:>2}: failed: {e}"),
    }
    result
}

#[tokio::main]
async fn main() -> Res {
    let start = Instant::now();
    println!("=== do-over: circuit_breaker ===\n");
    lifecycle().await?;
    growing_breaks().await?;
    failure_predicate().await;
    manual_control().await;
    println!("total: {} ms", start.elapsed().as_millis());
    Ok(())
}

async fn lifecycle() -> Res {
    println!("Scenario 1: closed -> open -> half-open -> open -> half-open -> closed");
    println!("   consecutive_failures=3, break=300ms, 1 half-open probe");
    let start = Instant::now();
    let inventory = Inventory::new();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(3)
        .break_duration(Duration::from_millis(300))
        .build()?
        .on_transition(move |t: &Transition| {
            println!("   {} breaker: {:?} -> {:?}", at(start), t.from, t.to)
        });
    let retry_after = || breaker.retry_after();

    for n in 1..=2 {
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }
    println!("   -- inventory starts answering 503 --");
    inventory.fail_with(Some("503 from inventory"));
    for n in 3..=7 {
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }

    println!("   -- waiting out the break (the next call after it is the probe) --");
    tokio::time::sleep(retry_after().unwrap_or_default()).await;
    call(8, start, &breaker, retry_after, &inventory).await.ok();
    call(9, start, &breaker, retry_after, &inventory).await.ok();

    println!("   -- inventory recovers; waiting out the second break --");
    inventory.fail_with(None);
    tokio::time::sleep(retry_after().unwrap_or_default()).await;
    for n in 10..=11 {
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }
    println!(
        "   11 calls, {} reached inventory; state now {:?}\n",
        inventory.calls.load(Ordering::SeqCst),
        breaker.state()
    );
    Ok(())
}

async fn growing_breaks() -> Res {
    println!("Scenario 2: growing breaks while the service stays down");
    println!("   consecutive_failures=2, breaks 100ms, then x2 per failed probe, at most 400ms");
    let start = Instant::now();
    let inventory = Inventory::new();
    inventory.fail_with(Some("503 from inventory"));
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .exponential_break(Duration::from_millis(100), 2.0, Duration::from_millis(400))
        .build()?
        .on_transition(move |t: &Transition| {
            println!("   {} breaker: {:?} -> {:?}", at(start), t.from, t.to)
        });
    let retry_after = || breaker.retry_after();

    for n in 1..=2 {
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }
    // A client that honours retry_after: it sleeps until the probe is due, then tries again.
    for n in 3..=5 {
        let wait = retry_after().unwrap_or_default();
        println!("   -- probe due in {} ms: waiting --", wait.as_millis());
        tokio::time::sleep(wait).await;
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }
    println!(
        "   consecutive breaks so far: {}; they reset when the breaker closes\n",
        breaker.metrics().consecutive_breaks
    );
    Ok(())
}

async fn failure_predicate() {
    println!("Scenario 3: not every error is a failure (a 404 means the service is up)");
    println!("   consecutive_failures=2, failure_if: anything but 404");
    let start = Instant::now();
    let inventory = Inventory::new();
    let breaker = CircuitBreaker::new(2, Duration::from_millis(300))
        .failure_if(|e: &Err| !matches!(e, DoOverError::Inner(m) if m.starts_with("404")))
        .on_transition(move |t: &Transition| {
            println!("   {} breaker: {:?} -> {:?}", at(start), t.from, t.to)
        });
    let retry_after = || breaker.retry_after();

    inventory.fail_with(Some("404 unknown product"));
    for n in 1..=4 {
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }
    println!(
        "   four 404s: breaker still {:?}, {} consecutive failures counted",
        breaker.state(),
        breaker.metrics().stats.consecutive_failures
    );
    inventory.fail_with(Some("500 internal error"));
    for n in 5..=7 {
        call(n, start, &breaker, retry_after, &inventory).await.ok();
    }
    println!();
}

async fn manual_control() {
    println!("Scenario 4: manual control and metrics");
    let start = Instant::now();
    let inventory = Inventory::new();
    let breaker =
        CircuitBreaker::new(5, Duration::from_secs(30)).on_transition(move |t: &Transition| {
            println!("   {} breaker: {:?} -> {:?}", at(start), t.from, t.to)
        });
    let retry_after = || breaker.retry_after();

    call(1, start, &breaker, retry_after, &inventory).await.ok();
    println!("   -- isolate() for maintenance: held open until close() --");
    breaker.isolate();
    call(2, start, &breaker, retry_after, &inventory).await.ok();
    println!("   -- close() --");
    breaker.close();
    inventory.fail_with(Some("503 from inventory"));
    call(3, start, &breaker, retry_after, &inventory).await.ok();
    let m = breaker.metrics();
    println!(
        "   metrics: state {:?}, {} consecutive failure(s), {} probe(s) running\n",
        m.state, m.stats.consecutive_failures, m.probes_running
    );
}
