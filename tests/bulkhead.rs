//! The bulkhead on Tokio's paused clock: the limit, rejection, FIFO queueing, queue caps and
//! timeouts, and that every way of leaving gives the slot or queue place back.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use do_over::bulkhead::Bulkhead;
use do_over::error::DoOverError;
use do_over::policy::Policy;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep};

type E = DoOverError<&'static str>;
const MS: Duration = Duration::from_millis(1);

/// Spawns a call that holds its slot for `hold`, recording when it started.
fn spawn_call(
    b: &Arc<Bulkhead>,
    id: u32,
    hold: Duration,
    log: &Arc<Mutex<Vec<(u32, u128)>>>,
) -> tokio::task::JoinHandle<Result<u32, E>> {
    let (b, log) = (b.clone(), log.clone());
    let start = Instant::now();
    tokio::spawn(async move {
        b.execute(|| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((id, start.elapsed().as_millis()));
                sleep(hold).await;
                Ok(id)
            }
        })
        .await
    })
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn rejects_at_once_beyond_the_limit_without_running_the_operation() {
    let b = Arc::new(Bulkhead::new(2));
    let log = Arc::new(Mutex::new(Vec::new()));
    let h1 = spawn_call(&b, 1, 100 * MS, &log);
    let h2 = spawn_call(&b, 2, 100 * MS, &log);
    settle().await;
    assert_eq!((b.in_flight(), b.available()), (2, 0));
    let ran = AtomicU32::new(0);
    let out: Result<(), E> = b
        .execute(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert_eq!(out, Err(DoOverError::BulkheadFull));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!((h1.await.unwrap(), h2.await.unwrap()), (Ok(1), Ok(2)));
    assert_eq!(b.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn slots_come_back_after_success_error_panic_and_cancellation() {
    let b = Arc::new(Bulkhead::new(1));
    let ok: Result<u8, E> = b.execute(|| async { Ok(1) }).await;
    assert_eq!(ok, Ok(1));
    let err: Result<u8, E> = b.execute(|| async { Err(DoOverError::Inner("bad")) }).await;
    assert_eq!(err, Err(DoOverError::Inner("bad")));
    let b2 = b.clone();
    let panicked = tokio::spawn(async move {
        b2.execute(|| async {
            if true {
                panic!("operation bug");
            }
            Ok::<(), E>(())
        })
        .await
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    let cancelled = tokio::time::timeout(
        10 * MS,
        b.execute(|| async {
            sleep(Duration::from_secs(60)).await;
            Ok::<(), E>(())
        }),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(b.available(), 1, "every slot came back");
    assert_eq!(b.execute(|| async { Ok::<_, E>(2) }).await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn waiters_get_slots_in_fifo_order() {
    let b = Arc::new(Bulkhead::new(1).with_queue_timeout(Duration::from_secs(10)));
    let log = Arc::new(Mutex::new(Vec::new()));
    let first = spawn_call(&b, 0, 100 * MS, &log);
    settle().await;
    let mut waiters = Vec::new();
    for id in 1..=4 {
        waiters.push(spawn_call(&b, id, 100 * MS, &log));
        settle().await; // queue them in id order
    }
    assert_eq!(b.queued(), 4);
    first.await.unwrap().unwrap();
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        [(0, 0), (1, 100), (2, 200), (3, 300), (4, 400)]
    );
}

#[tokio::test(start_paused = true)]
async fn newcomers_do_not_overtake_waiters() {
    let b = Arc::new(Bulkhead::new(1).with_queue_timeout(Duration::from_secs(10)));
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = spawn_call(&b, 0, 100 * MS, &log);
    settle().await;
    let waiter = spawn_call(&b, 1, 10 * MS, &log);
    settle().await;
    holder.await.unwrap().unwrap();
    // The slot was handed to the waiter; a newcomer arriving now must queue behind it.
    let newcomer = spawn_call(&b, 2, 10 * MS, &log);
    waiter.await.unwrap().unwrap();
    newcomer.await.unwrap().unwrap();
    let order: Vec<u32> = log.lock().unwrap().iter().map(|(id, _)| *id).collect();
    assert_eq!(order, [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn queue_timeout_rejects_after_waiting_exactly_that_long() {
    let b = Arc::new(Bulkhead::new(1).with_queue_timeout(250 * MS));
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = spawn_call(&b, 0, Duration::from_secs(5), &log);
    settle().await;
    let start = Instant::now();
    let out: Result<(), E> = b.execute(|| async { Ok(()) }).await;
    assert_eq!(out, Err(DoOverError::BulkheadFull));
    assert_eq!(start.elapsed(), 250 * MS);
    assert_eq!(b.queued(), 0, "the timed-out waiter left the queue");
    holder.await.unwrap().unwrap();
    assert_eq!(b.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_queued_caps_the_waiters() {
    let b = Arc::new(
        Bulkhead::new(1)
            .with_queue_timeout(Duration::from_secs(1))
            .with_max_queued(2),
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = spawn_call(&b, 0, 100 * MS, &log);
    settle().await;
    let w1 = spawn_call(&b, 1, MS, &log);
    let w2 = spawn_call(&b, 2, MS, &log);
    settle().await;
    assert_eq!(b.queued(), 2);
    let start = Instant::now();
    let over: Result<(), E> = b.execute(|| async { Ok(()) }).await;
    assert_eq!(over, Err(DoOverError::BulkheadFull));
    assert_eq!(start.elapsed(), Duration::ZERO, "rejected at once");
    holder.await.unwrap().unwrap();
    assert_eq!((w1.await.unwrap(), w2.await.unwrap()), (Ok(1), Ok(2)));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_leaves_passes_its_slot_on() {
    let b = Arc::new(Bulkhead::new(1).with_queue_timeout(Duration::from_secs(10)));
    let release = Arc::new(Notify::new());
    // The holder keeps its slot until told.
    let (b0, r0) = (b.clone(), release.clone());
    let holder = tokio::spawn(async move {
        b0.execute(|| {
            let r0 = r0.clone();
            async move {
                r0.notified().await;
                Ok::<_, E>(0)
            }
        })
        .await
    });
    settle().await;
    // Waiter A queues first, then B.
    let a_started = Arc::new(AtomicUsize::new(0));
    let (ba, aa) = (b.clone(), a_started.clone());
    let a = tokio::spawn(async move {
        ba.execute(|| {
            let aa = aa.clone();
            async move {
                aa.fetch_add(1, Ordering::SeqCst);
                Ok::<_, E>(1)
            }
        })
        .await
    });
    settle().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let bw = spawn_call(&b, 2, MS, &log);
    settle().await;
    assert_eq!(b.queued(), 2);
    // Free the slot: it is handed to A. Abort A before it can run: A's future is dropped
    // holding a granted slot, which must pass to B.
    release.notify_one();
    a.abort();
    holder.await.unwrap().unwrap();
    let _ = a.await;
    assert_eq!(bw.await.unwrap(), Ok(2), "B got the slot: nothing stranded");
    assert_eq!(b.available(), 1);
    assert_eq!(b.queued(), 0);
    let _ = a_started.load(Ordering::SeqCst); // A may or may not have run; either is fine
}

#[tokio::test(start_paused = true)]
async fn a_dropped_queued_waiter_leaves_the_queue() {
    let b = Arc::new(Bulkhead::new(1).with_queue_timeout(Duration::from_secs(10)));
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = spawn_call(&b, 0, 100 * MS, &log);
    settle().await;
    let w = spawn_call(&b, 1, MS, &log);
    settle().await;
    assert_eq!(b.queued(), 1);
    w.abort();
    let _ = w.await;
    assert_eq!(b.queued(), 0);
    holder.await.unwrap().unwrap();
    assert_eq!(b.available(), 1);
    assert_eq!(log.lock().unwrap().len(), 1, "the dropped waiter never ran");
}

#[tokio::test(start_paused = true)]
async fn reference_bulkhead_snippets() {
    let bulkhead = Bulkhead::new(10);
    let result = bulkhead
        .execute(|| async { Ok::<_, E>("expensive result") })
        .await;
    assert_eq!(result, Ok("expensive result"));

    let bulkhead = Bulkhead::new(10).with_queue_timeout(Duration::from_secs(1));
    let outcome = match bulkhead.execute(|| async { Ok::<_, E>(1) }).await {
        Ok(_) => "executed",
        Err(DoOverError::BulkheadFull) => "no capacity available",
        Err(_) => "operation failed",
    };
    assert_eq!(outcome, "executed");
}
