//! Bulkhead: cap how many calls run at once. Without a queue the extra calls are rejected
//! with `BulkheadFull` at once; with a queue they wait their turn (FIFO) until the queue is
//! full or their queue timeout runs out. The timeline shows each call admitted, queued or
//! rejected. Run with `cargo run --example bulkhead`.

use std::time::{Duration, Instant};

use do_over::bulkhead::Bulkhead;
use do_over::error::DoOverError;
use do_over::policy::Policy;

/// `[+ 123 ms]`: the time since `start`.
fn at(start: Instant) -> String {
    format!("[+{:>4} ms]", start.elapsed().as_millis())
}

/// Call `id` arrives `arrive_ms` after `start` and, once admitted, works for `work_ms`.
async fn job(bulkhead: &Bulkhead, id: u32, arrive_ms: u64, work_ms: u64, start: Instant) {
    if arrive_ms > 0 {
        tokio::time::sleep(Duration::from_millis(arrive_ms)).await;
    }
    let arrived = Instant::now();
    let result = bulkhead
        .execute(|| async move {
            let waited = arrived.elapsed().as_millis();
            let how = if waited == 0 {
                "admitted at once".to_string()
            } else {
                format!("admitted after {waited} ms in the queue")
            };
            println!(
                "   {} call {id}: {how}, running {work_ms} ms ({} in flight)",
                at(start),
                bulkhead.in_flight()
            );
            tokio::time::sleep(Duration::from_millis(work_ms)).await;
            Ok::<_, DoOverError<()>>(())
        })
        .await;
    let waited = arrived.elapsed().as_millis();
    match result {
        Ok(()) => println!("   {} call {id}: done", at(start)),
        Err(DoOverError::BulkheadFull) if waited == 0 => {
            println!("   {} call {id}: rejected at once: BulkheadFull", at(start))
        }
        Err(DoOverError::BulkheadFull) => println!(
            "   {} call {id}: rejected after {waited} ms in the queue: BulkheadFull",
            at(start)
        ),
        Err(e) => println!("   {} call {id}: failed: {e:?}", at(start)),
    }
}

/// Prints the bulkhead's occupancy `after_ms` after `start`.
async fn snapshot(bulkhead: &Bulkhead, after_ms: u64, start: Instant) {
    tokio::time::sleep(Duration::from_millis(after_ms)).await;
    println!(
        "   {} snapshot: {} in flight, {} queued, {} free",
        at(start),
        bulkhead.in_flight(),
        bulkhead.queued(),
        bulkhead.available()
    );
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    println!("=== do-over: bulkhead ===\n");

    println!("Scenario 1: no queue (4 calls at once, 2 slots)");
    println!("   max_concurrent=2; calls beyond it are rejected without running");
    let t = Instant::now();
    let bulkhead = Bulkhead::new(2);
    tokio::join!(
        job(&bulkhead, 1, 0, 200, t),
        job(&bulkhead, 2, 0, 200, t),
        job(&bulkhead, 3, 0, 200, t),
        job(&bulkhead, 4, 0, 200, t),
    );
    println!();

    println!("Scenario 2: a bounded queue (6 calls at once, 2 slots, 2 queue places)");
    println!("   max_concurrent=2, queue_timeout=300ms, max_queued=2; each call works 150 ms");
    let t = Instant::now();
    let bulkhead = Bulkhead::new(2)
        .with_queue_timeout(Duration::from_millis(300))
        .with_max_queued(2);
    tokio::join!(
        job(&bulkhead, 1, 0, 150, t),
        job(&bulkhead, 2, 0, 150, t),
        job(&bulkhead, 3, 0, 150, t),
        job(&bulkhead, 4, 0, 150, t),
        job(&bulkhead, 5, 0, 150, t),
        job(&bulkhead, 6, 0, 150, t),
        snapshot(&bulkhead, 50, t),
    );
    println!();

    println!("Scenario 3: queue timeout (a call waits at most 100 ms for a slot)");
    println!("   max_concurrent=1, queue_timeout=100ms; call 1 holds the slot for 250 ms");
    let t = Instant::now();
    let bulkhead = Bulkhead::new(1).with_queue_timeout(Duration::from_millis(100));
    tokio::join!(
        job(&bulkhead, 1, 0, 250, t),
        job(&bulkhead, 2, 20, 50, t),
        job(&bulkhead, 3, 200, 50, t),
        snapshot(&bulkhead, 60, t),
    );
    println!(
        "   afterwards: {} in flight, {} queued: every slot came back\n",
        bulkhead.in_flight(),
        bulkhead.queued()
    );

    println!("total: {} ms", start.elapsed().as_millis());
}
