//! Hedging: when a read has not answered within the hedge delay, start a second one and take
//! whichever succeeds first; the loser is cancelled. Shows a slow primary (the hedge wins), a
//! fast primary (no hedge is sent), a failing primary (the hedge starts at once) and two
//! hedges. Hedge only idempotent operations. Run with `cargo run --example hedge`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use do_over::error::DoOverError;
use do_over::hedge::Hedge;
use do_over::policy::Policy;

type Err = DoOverError<String>;

/// `[+ 123 ms]`: the time since `start`.
fn at(start: Instant) -> String {
    format!("[+{:>4} ms]", start.elapsed().as_millis())
}

/// Prints a line if dropped before `done` is set: the hedge cancelled this attempt.
struct CancelWatch {
    n: usize,
    start: Instant,
    done: bool,
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        if !self.done {
            println!(
                "   {} attempt {}: cancelled (lost the race)",
                at(self.start),
                self.n
            );
        }
    }
}

/// What one attempt does: answer (or fail) after `latency_ms`.
#[derive(Clone, Copy)]
struct Plan {
    latency_ms: u64,
    fails: bool,
}

const fn ok(latency_ms: u64) -> Plan {
    Plan {
        latency_ms,
        fails: false,
    }
}

const fn fail(latency_ms: u64) -> Plan {
    Plan {
        latency_ms,
        fails: true,
    }
}

/// Reads from a replica as attempt `n` following `plan`.
async fn read(n: usize, plan: Plan, start: Instant) -> Result<String, Err> {
    let role = if n == 1 { "primary" } else { "hedge" };
    println!(
        "   {} attempt {n}: started ({role}, will take {} ms)",
        at(start),
        plan.latency_ms
    );
    let mut watch = CancelWatch {
        n,
        start,
        done: false,
    };
    tokio::time::sleep(Duration::from_millis(plan.latency_ms)).await;
    watch.done = true;
    if plan.fails {
        println!("   {} attempt {n}: failed (connection reset)", at(start));
        Err(DoOverError::Inner(format!("attempt {n}: connection reset")))
    } else {
        println!("   {} attempt {n}: answered", at(start));
        Ok(format!("row from attempt {n}"))
    }
}

/// Runs one hedged read whose attempts follow `plans` in order.
async fn scenario(hedge: &Hedge, plans: &[Plan]) {
    let start = Instant::now();
    let started = AtomicUsize::new(0);
    let result = hedge
        .execute(|| {
            let n = started.fetch_add(1, Ordering::SeqCst) + 1;
            read(n, plans[(n - 1).min(plans.len() - 1)], start)
        })
        .await;
    println!(
        "   {} result: {result:?} ({} attempt(s) started)\n",
        at(start),
        started.load(Ordering::SeqCst)
    );
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    println!("=== do-over: hedge ===\n");
    let hedge = Hedge::new(Duration::from_millis(100));

    println!("Scenario 1: slow primary, the hedge wins");
    println!("   delay=100ms; the primary hit a slow replica (800 ms), the hedge takes 40 ms");
    scenario(&hedge, &[ok(800), ok(40)]).await;

    println!("Scenario 2: fast primary, no hedge");
    println!("   delay=100ms; the primary answers in 40 ms");
    scenario(&hedge, &[ok(40)]).await;

    println!("Scenario 3: the primary fails early, so the hedge starts at once");
    println!("   delay=100ms; the primary fails after 30 ms, the hedge takes 40 ms");
    scenario(&hedge, &[fail(30), ok(40)]).await;

    println!("Scenario 4: two hedges, one every 100 ms");
    println!("   delay=100ms, max_hedged_attempts=2; attempts take 1000, 1000 and 30 ms");
    let two = Hedge::new(Duration::from_millis(100)).with_max_hedged_attempts(2);
    scenario(&two, &[ok(1_000), ok(1_000), ok(30)]).await;

    println!("Scenario 5: every attempt fails: the last failure is returned");
    println!("   delay=100ms; the primary fails after 20 ms, the hedge after 50 ms");
    scenario(&hedge, &[fail(20), fail(50)]).await;

    println!("total: {} ms", start.elapsed().as_millis());
}
