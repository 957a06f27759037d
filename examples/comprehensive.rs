//! A small order-processing system: each order reserves stock (inventory), charges the card
//! (payment) and gets a shipping quote (shipping), and each service has a stack suited to it:
//!
//! * inventory — breaker → retry (exponential, jitter) → 60 ms timeout per attempt;
//! * payment — bulkhead (2, with a queue) → breaker → one retry, for 503s only (a charge is
//!   not idempotent, so a timed-out charge is never retried) → 150 ms timeout;
//! * shipping — fallback to a flat rate around rate limiter → hedge → 200 ms timeout.
//!
//! Fifteen orders arrive in waves of three while failures and latency are injected: a slow
//! inventory replica, a version conflict, a payment gateway outage, slow and failing carrier
//! quotes, an out-of-stock item and a declined card. The timeline shows what each policy did;
//! a summary follows. Run with `cargo run --example comprehensive`.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use do_over::bulkhead::Bulkhead;
use do_over::circuit_breaker::{CircuitBreaker, Transition};
use do_over::error::DoOverError;
use do_over::fallback::{Fallback, FallbackHandler, HandlePredicate};
use do_over::hedge::Hedge;
use do_over::policy::Policy;
use do_over::rate_limit::RateLimiter;
use do_over::retry::{Jitter, RetryEvent, RetryPolicy};
use do_over::timeout::TimeoutPolicy;
use do_over::wrap::Wrap;

/// What the services can answer besides success.
#[derive(Debug, Clone, PartialEq)]
enum Fault {
    /// 503: the service could not take the request (transient).
    Unavailable,
    /// Optimistic-locking conflict on the stock row (transient).
    Conflict,
    /// A business answer, not a service failure.
    OutOfStock,
    /// A business answer, not a service failure.
    Declined,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Unavailable => "503 unavailable",
            Fault::Conflict => "409 version conflict",
            Fault::OutOfStock => "out of stock",
            Fault::Declined => "card declined",
        })
    }
}

type Err = DoOverError<Fault>;

/// The flat shipping rate used when no quote can be had, in cents.
const FLAT_RATE: u32 = 1_500;

/// The shared clock: prints `[+ 123 ms] service   message`.
struct Timeline(Instant);

impl Timeline {
    fn log(&self, who: &str, message: fmt::Arguments<'_>) {
        println!(
            "   [+{:>4} ms] {who:<9} {message}",
            self.0.elapsed().as_millis()
        );
    }
}

/// Counters for one service.
#[derive(Default)]
struct Stats {
    calls: AtomicU32,
    retries: AtomicU32,
    /// Attempts cut off: by a timeout, or a hedge's losing attempt.
    cut_off: AtomicU32,
    /// Calls rejected by a policy without reaching the service.
    rejected: AtomicU32,
    /// Calls that waited for a bulkhead slot or a rate-limit token.
    waited: AtomicU32,
    hedges: AtomicU32,
    fallbacks: AtomicU32,
}

fn inc(counter: &AtomicU32) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn get(counter: &AtomicU32) -> u32 {
    counter.load(Ordering::Relaxed)
}

/// Everything the services and hooks share.
struct Ctx {
    tl: Timeline,
    inventory: Stats,
    payment: Stats,
    shipping: Stats,
    /// Distinct breaker transitions, for the summary.
    transitions: Mutex<Vec<String>>,
}

/// Logs and counts an attempt dropped before it finished.
struct CutOffWatch<'a> {
    ctx: &'a Ctx,
    stats: &'a Stats,
    who: &'static str,
    why: &'static str,
    order: u32,
    attempt: u32,
    done: bool,
}

impl Drop for CutOffWatch<'_> {
    fn drop(&mut self) {
        if !self.done {
            inc(&self.stats.cut_off);
            self.ctx.tl.log(
                self.who,
                format_args!(
                    "order {}: attempt {} {}",
                    self.order, self.attempt, self.why
                ),
            );
        }
    }
}

/// Runs one simulated request: `latency_ms`, then `outcome`, unless dropped first.
async fn simulate<T>(
    watch: CutOffWatch<'_>,
    latency_ms: u64,
    outcome: Result<T, Fault>,
) -> Result<T, Err> {
    let mut watch = watch;
    tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    watch.done = true;
    outcome.map_err(DoOverError::Inner)
}

/// Inventory: reserve stock in 10 to 20 ms. Order 2 hits a slow replica, order 7 a version
/// conflict, order 11 is out of stock.
async fn reserve_stock(ctx: &Ctx, order: u32, attempt: u32) -> Result<(), Err> {
    let (ms, outcome) = match (order, attempt) {
        (2, 1) => (300, Ok(())),
        (7, 1) => (10, Err(Fault::Conflict)),
        (11, _) => (10, Err(Fault::OutOfStock)),
        _ => (10 + 5 * u64::from(order % 3), Ok(())),
    };
    let watch = CutOffWatch {
        ctx,
        stats: &ctx.inventory,
        who: "inventory",
        why: "cut off by the 60 ms timeout",
        order,
        attempt,
        done: false,
    };
    simulate(watch, ms, outcome).await
}

/// Payment: charge the card. The gateway is down for orders 5 and 6; order 12 is declined.
async fn charge(ctx: &Ctx, order: u32, attempt: u32) -> Result<(), Err> {
    let (ms, outcome) = match order {
        5 | 6 => (20, Err(Fault::Unavailable)),
        12 => (30, Err(Fault::Declined)),
        _ => (40, Ok(())),
    };
    let watch = CutOffWatch {
        ctx,
        stats: &ctx.payment,
        who: "payment",
        why: "cut off by the 150 ms timeout",
        order,
        attempt,
        done: false,
    };
    simulate(watch, ms, outcome).await
}

/// Shipping: a carrier quote in cents. The first quote for orders 3 and 9 is slow; the carrier
/// fails every quote for order 10.
async fn quote(ctx: &Ctx, order: u32, attempt: u32) -> Result<u32, Err> {
    let (ms, outcome) = match (order, attempt) {
        (3 | 9, 1) => (400, Ok(899)),
        (10, _) => (20, Err(Fault::Unavailable)),
        _ => (30, Ok(899)),
    };
    let watch = CutOffWatch {
        ctx,
        stats: &ctx.shipping,
        who: "shipping",
        why: "cancelled: the hedge answered first",
        order,
        attempt,
        done: false,
    };
    simulate(watch, ms, outcome).await
}

/// How an order ended.
enum Outcome {
    Confirmed {
        shipping: u32,
    },
    /// A business answer (out of stock, declined).
    Rejected(String),
    /// A policy refused the call (open breaker, full bulkhead): try again later.
    Deferred(String),
    /// The service kept failing.
    Failed(String),
}

fn classify(stage: &str, e: Err) -> Outcome {
    match e {
        DoOverError::Inner(f @ (Fault::OutOfStock | Fault::Declined)) => {
            Outcome::Rejected(format!("{stage}: {f}"))
        }
        // `DoOverError::CircuitOpen` does not keep the rejection's retry_after.
        DoOverError::CircuitOpen => Outcome::Deferred(format!("{stage}: circuit open")),
        e if e.rejection().is_some() && !matches!(e, DoOverError::Timeout) => {
            Outcome::Deferred(format!("{stage}: {e}"))
        }
        e => Outcome::Failed(format!("{stage}: {e}")),
    }
}

/// Processes one order through the three services' stacks.
async fn process<S, H, Q>(
    ctx: &Ctx,
    order: u32,
    inventory: &impl Policy<Err>,
    payment: &impl Policy<Err>,
    shipping: &Fallback<S, H, Q>,
) -> Outcome
where
    S: Policy<Err>,
    H: FallbackHandler<u32, Err>,
    Q: HandlePredicate<Err>,
{
    inc(&ctx.inventory.calls);
    let attempt = AtomicU32::new(0);
    let reserved = inventory
        .execute(|| reserve_stock(ctx, order, attempt.fetch_add(1, Ordering::SeqCst) + 1))
        .await;
    if let Err(e) = reserved {
        return classify("inventory", e);
    }

    inc(&ctx.payment.calls);
    let attempt = AtomicU32::new(0);
    let arrived = Instant::now();
    let charged = payment
        .execute(|| {
            let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
            let waited = arrived.elapsed().as_millis();
            if n == 1 && waited >= 5 {
                inc(&ctx.payment.waited);
                let msg = format_args!("order {order}: waited {waited} ms for a bulkhead slot");
                ctx.tl.log("payment", msg);
            }
            charge(ctx, order, n)
        })
        .await;
    if let Err(e) = charged {
        if e.rejection().is_some() {
            inc(&ctx.payment.rejected);
        }
        return classify("payment", e);
    }

    inc(&ctx.shipping.calls);
    let attempt = AtomicU32::new(0);
    let arrived = Instant::now();
    let quoted = shipping
        .execute(|| {
            let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
            let waited = arrived.elapsed().as_millis();
            if n == 1 && waited >= 5 {
                inc(&ctx.shipping.waited);
                let msg = format_args!("order {order}: waited {waited} ms for a carrier API token");
                ctx.tl.log("shipping", msg);
            }
            if n > 1 {
                inc(&ctx.shipping.hedges);
                ctx.tl
                    .log("shipping", format_args!("order {order}: hedge quote sent"));
            }
            quote(ctx, order, n)
        })
        .await;
    match quoted {
        Ok(shipping) => Outcome::Confirmed { shipping },
        Err(e) => classify("shipping", e),
    }
}

fn log_transition(ctx: &Ctx, who: &str, t: &Transition) {
    ctx.tl
        .log(who, format_args!("breaker {:?} -> {:?}", t.from, t.to));
    let mut seen = ctx.transitions.lock().unwrap_or_else(|p| p.into_inner());
    seen.push(format!("{who} {:?}->{:?}", t.from, t.to));
}

fn log_retry(ctx: &Ctx, who: &str, stats: &Stats, ev: &RetryEvent<'_, Err>) {
    inc(&stats.retries);
    let msg = format_args!(
        "retry {} in {} ms (after: {})",
        ev.retry,
        ev.delay.as_millis(),
        ev.error
    );
    ctx.tl.log(who, msg);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("=== do-over: comprehensive (order processing) ===\n");
    let ctx = Ctx {
        tl: Timeline(Instant::now()),
        inventory: Stats::default(),
        payment: Stats::default(),
        shipping: Stats::default(),
        transitions: Mutex::new(Vec::new()),
    };
    let ctx = &ctx;

    // Inventory: a read-modify-write that is safe to repeat. Out of stock is an answer, not
    // a failure: neither retried nor counted by the breaker.
    let inv_breaker = CircuitBreaker::new(3, Duration::from_millis(300))
        .failure_if(|e: &Err| !matches!(e, DoOverError::Inner(Fault::OutOfStock)))
        .on_transition(|t: &Transition| log_transition(ctx, "inventory", t));
    let inv_retry = RetryPolicy::builder()
        .max_retries(2)
        .exponential(Duration::from_millis(20), 2.0)
        .jitter(Jitter::Equal)
        .build()?
        .retry_if(|e: &Err| !matches!(e, DoOverError::Inner(Fault::OutOfStock)))
        .on_retry(|ev: &RetryEvent<'_, Err>| log_retry(ctx, "inventory", &ctx.inventory, ev));
    let inv_timeout = TimeoutPolicy::new(Duration::from_millis(60));
    let inventory = Wrap::new(&inv_breaker, Wrap::new(&inv_retry, &inv_timeout));

    // Payment: at most 2 charges in flight (others queue up to 100 ms). Retry only a 503: a
    // timed-out charge may have gone through. Two half-open probes must succeed to close.
    let pay_bulkhead = Bulkhead::new(2).with_queue_timeout(Duration::from_millis(100));
    let pay_breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .break_duration(Duration::from_millis(300))
        .half_open_probes(2)
        .build()?
        .failure_if(|e: &Err| !matches!(e, DoOverError::Inner(Fault::Declined)))
        .on_transition(|t: &Transition| log_transition(ctx, "payment", t));
    let pay_retry = RetryPolicy::fixed(1, Duration::from_millis(30))
        .retry_if(|e: &Err| matches!(e, DoOverError::Inner(Fault::Unavailable)))
        .on_retry(|ev: &RetryEvent<'_, Err>| log_retry(ctx, "payment", &ctx.payment, ev));
    let pay_timeout = TimeoutPolicy::new(Duration::from_millis(150));
    let payment = Wrap::new(
        &pay_bulkhead,
        Wrap::new(&pay_breaker, Wrap::new(&pay_retry, &pay_timeout)),
    );

    // Shipping: the carrier allows 2 quotes per 300 ms (wait up to 200 ms for a token); hedge
    // a slow quote after 50 ms (the limiter is outside the hedge, so a hedge costs no token);
    // if all else fails, charge the flat rate.
    let ship_limiter =
        RateLimiter::new(2, Duration::from_millis(300)).with_max_wait(Duration::from_millis(200));
    let ship_hedge = Hedge::new(Duration::from_millis(50));
    let ship_timeout = TimeoutPolicy::new(Duration::from_millis(200));
    let shipping = Fallback::new(
        Wrap::new(&ship_limiter, Wrap::new(&ship_hedge, &ship_timeout)),
        |e: Err| {
            inc(&ctx.shipping.fallbacks);
            ctx.tl.log(
                "shipping",
                format_args!("fallback: flat rate (quote failed: {e})"),
            );
            async { Ok(FLAT_RATE) }
        },
    );

    let mut confirmed = Vec::new();
    let mut rejected = Vec::new();
    let mut deferred = Vec::new();
    let mut failed = Vec::new();
    let orders: Vec<u32> = (1..=15).collect();
    for (wave, ids) in orders.chunks(3).enumerate() {
        // A wave of three orders every 250 ms.
        let due = ctx.tl.0 + Duration::from_millis(250 * wave as u64);
        tokio::time::sleep_until(due.into()).await;
        ctx.tl.log(
            "orders",
            format_args!("wave {}: orders {:?}", wave + 1, ids),
        );
        let (a, b, c) = tokio::join!(
            process(ctx, ids[0], &inventory, &payment, &shipping),
            process(ctx, ids[1], &inventory, &payment, &shipping),
            process(ctx, ids[2], &inventory, &payment, &shipping),
        );
        for (id, outcome) in ids.iter().zip([a, b, c]) {
            let line = match &outcome {
                Outcome::Confirmed { shipping } => format!(
                    "confirmed (shipping ${}.{:02})",
                    shipping / 100,
                    shipping % 100
                ),
                Outcome::Rejected(why) => format!("rejected: {why}"),
                Outcome::Deferred(why) => format!("deferred, retry later: {why}"),
                Outcome::Failed(why) => format!("FAILED: {why}"),
            };
            ctx.tl.log("orders", format_args!("order {id}: {line}"));
            match outcome {
                Outcome::Confirmed { shipping } => confirmed.push((*id, shipping)),
                Outcome::Rejected(_) => rejected.push(*id),
                Outcome::Deferred(_) => deferred.push(*id),
                Outcome::Failed(_) => failed.push(*id),
            }
        }
    }

    let flat: Vec<u32> = confirmed
        .iter()
        .filter(|(_, s)| *s == FLAT_RATE)
        .map(|(id, _)| *id)
        .collect();
    let ids: Vec<u32> = confirmed.iter().map(|(id, _)| *id).collect();
    println!(
        "\nSummary: {} orders in {} ms",
        orders.len(),
        ctx.tl.0.elapsed().as_millis()
    );
    println!(
        "   confirmed {:>2} {ids:?} (flat-rate shipping: {flat:?})",
        ids.len()
    );
    println!(
        "   rejected  {:>2} {rejected:?} (business answers)",
        rejected.len()
    );
    println!(
        "   deferred  {:>2} {deferred:?} (refused by a policy)",
        deferred.len()
    );
    println!("   failed    {:>2} {failed:?}", failed.len());
    let (i, p, s) = (&ctx.inventory, &ctx.payment, &ctx.shipping);
    println!(
        "   inventory: {} calls, {} retries, {} attempt(s) timed out; breaker {:?}",
        get(&i.calls),
        get(&i.retries),
        get(&i.cut_off),
        inv_breaker.state()
    );
    println!(
        "   payment:   {} calls, {} retries, {} rejected fast, {} queued for a slot; breaker {:?}",
        get(&p.calls),
        get(&p.retries),
        get(&p.rejected),
        get(&p.waited),
        pay_breaker.state()
    );
    println!(
        "   shipping:  {} quotes, {} hedged ({} loser(s) cancelled), {} waited for a token, {} fell back",
        get(&s.calls),
        get(&s.hedges),
        get(&s.cut_off),
        get(&s.waited),
        get(&s.fallbacks)
    );
    let transitions = ctx.transitions.lock().unwrap_or_else(|p| p.into_inner());
    println!("   breaker transitions: {}", transitions.join(", "));
    Ok(())
}
