//! Composition: a stack of bulkhead → circuit breaker → retry → timeout around a pricing
//! service, in the recommended order, with each layer's activity on one timeline: timeouts
//! cutting attempts, retries re-running them, the breaker counting whole calls, and the
//! bulkhead shedding load. The last scenario flips retry and timeout to show why the timeout
//! belongs inside. Run with `cargo run --example composition`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use do_over::bulkhead::Bulkhead;
use do_over::circuit_breaker::{CircuitBreaker, Transition};
use do_over::error::DoOverError;
use do_over::policy::Policy;
use do_over::retry::{RetryEvent, RetryPolicy};
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;

type Err = DoOverError<&'static str>;

/// A clock shared by every layer's hooks; `restart` begins a new scenario at +0 ms.
struct Timeline(Mutex<Instant>);

impl Timeline {
    fn restart(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Prints `[+ 123 ms] layer    message`.
    fn log(&self, layer: &str, message: std::fmt::Arguments<'_>) {
        let start = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        println!(
            "   [+{:>4} ms] {layer:<8} {message}",
            start.elapsed().as_millis()
        );
    }
}

/// What the service does on one attempt.
#[derive(Clone, Copy)]
enum Step {
    /// Never answers (until cancelled).
    Hang,
    /// Fails after 10 ms.
    Fail,
    /// Answers after the given milliseconds.
    Answer(u64),
}

/// A pricing service that follows a script of steps, then answers in 20 ms.
struct Service {
    script: Mutex<VecDeque<Step>>,
    attempts: AtomicU32,
}

/// Logs "cut off" if the attempt's future is dropped before it finished.
struct CutOffWatch<'a> {
    tl: &'a Timeline,
    n: u32,
    done: bool,
}

impl Drop for CutOffWatch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tl.log(
                "timeout",
                format_args!("attempt {} cut off at its deadline", self.n),
            );
        }
    }
}

impl Service {
    fn script(&self, steps: &[Step]) {
        *self.script.lock().unwrap_or_else(|p| p.into_inner()) = steps.iter().copied().collect();
        self.attempts.store(0, Ordering::SeqCst);
    }

    async fn price(&self, tl: &Timeline) -> Result<&'static str, Err> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let step = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(Step::Answer(20));
        let mut watch = CutOffWatch { tl, n, done: false };
        let result = match step {
            Step::Hang => {
                tl.log("service", format_args!("attempt {n}: hangs"));
                std::future::pending::<()>().await;
                Ok("unreachable")
            }
            Step::Fail => {
                tl.log("service", format_args!("attempt {n}: fails after 10 ms"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err(DoOverError::Inner("503 from pricing"))
            }
            Step::Answer(ms) => {
                tl.log(
                    "service",
                    format_args!("attempt {n}: answers after {ms} ms"),
                );
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok("price: 42.00")
            }
        };
        watch.done = true;
        result
    }
}

/// One caller's request through `stack`, with the outcome logged.
async fn request(name: &str, stack: &impl Policy<Err>, service: &Service, tl: &Timeline) {
    let result = stack.execute(|| service.price(tl)).await;
    match result {
        Ok(v) => tl.log("caller", format_args!("{name}: Ok({v:?})")),
        Err(DoOverError::BulkheadFull) => tl.log(
            "bulkhead",
            format_args!("{name}: rejected, BulkheadFull (nothing below ran)"),
        ),
        Err(DoOverError::CircuitOpen) => tl.log(
            "breaker",
            format_args!("{name}: rejected, CircuitOpen (no attempt made)"),
        ),
        Err(e) => tl.log("caller", format_args!("{name}: failed: {e}")),
    }
}

#[tokio::main]
async fn main() {
    let total = Instant::now();
    println!("=== do-over: composition ===\n");
    println!("Stack, outermost first: bulkhead -> breaker -> retry -> timeout -> service");
    println!("   bulkhead  sheds excess calls before they cost anything (or count as failures)");
    println!(
        "   breaker   sees one outcome per call, after retries; while open, nothing below runs"
    );
    println!("   retry     re-runs failed attempts, including ones the timeout cut off");
    println!("   timeout   innermost, so every attempt gets its own deadline\n");

    let tl = Timeline(Mutex::new(Instant::now()));
    let service = Service {
        script: Mutex::new(VecDeque::new()),
        attempts: AtomicU32::new(0),
    };

    // The layers are plain values; the stack borrows them, so we can inspect them later.
    let bulkhead = Bulkhead::new(2);
    let breaker =
        CircuitBreaker::new(2, Duration::from_millis(500)).on_transition(|t: &Transition| {
            tl.log("breaker", format_args!("{:?} -> {:?}", t.from, t.to))
        });
    let retry =
        RetryPolicy::fixed(2, Duration::from_millis(50)).on_retry(|ev: &RetryEvent<'_, Err>| {
            tl.log(
                "retry",
                format_args!(
                    "retry {} in {} ms (after: {})",
                    ev.retry,
                    ev.delay.as_millis(),
                    ev.error
                ),
            )
        });
    let timeout = TimeoutPolicy::new(Duration::from_millis(100));
    let stack = Wrap::new(&bulkhead, Wrap::new(&breaker, Wrap::new(&retry, &timeout)));
    println!("   bulkhead max 2 | breaker opens after 2 failed calls, 500 ms break");
    println!("   retry 2x, 50 ms apart | timeout 100 ms per attempt\n");

    println!("Scenario 1: a transient blip is absorbed below the breaker");
    tl.restart();
    service.script(&[Step::Hang, Step::Fail, Step::Answer(20)]);
    request("call A", &stack, &service, &tl).await;
    println!(
        "   the breaker saw one successful call: {:?}, {} consecutive failures\n",
        breaker.state(),
        breaker.metrics().stats.consecutive_failures
    );

    println!("Scenario 2: an outage trips the breaker, which then stops the retries too");
    tl.restart();
    service.script(&[Step::Fail; 6]);
    for name in ["call B", "call C", "call D"] {
        request(name, &stack, &service, &tl).await;
    }
    println!(
        "   3 calls, {} attempts: 3 each for B and C, none for D",
        service.attempts.load(Ordering::SeqCst)
    );
    println!("   -- breaker.reset() so that the next scenario starts closed --");
    breaker.reset();
    println!();

    println!("Scenario 3: overload is shed at the door (3 calls at once, bulkhead of 2)");
    tl.restart();
    service.script(&[Step::Answer(80), Step::Answer(80)]);
    tokio::join!(
        request("call E", &stack, &service, &tl),
        request("call F", &stack, &service, &tl),
        request("call G", &stack, &service, &tl),
    );
    println!(
        "   the rejection never reached the breaker: {:?}, {} consecutive failures\n",
        breaker.state(),
        breaker.metrics().stats.consecutive_failures
    );

    println!("Scenario 4: the wrong way round, timeout outside the retry");
    println!("   Wrap(timeout 100ms, retry): the first hanging attempt uses up the whole deadline");
    tl.restart();
    let wrong = Wrap::new(&timeout, &retry);
    service.script(&[Step::Hang, Step::Answer(20)]);
    request("call H", &wrong, &service, &tl).await;
    println!("   the same script through the recommended stack:");
    tl.restart();
    service.script(&[Step::Hang, Step::Answer(20)]);
    request("call I", &stack, &service, &tl).await;
    println!();

    println!("total: {} ms", total.elapsed().as_millis());
}
