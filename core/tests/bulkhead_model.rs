//! The bulkhead against a reference model of its documented semantics (limit, FIFO queue
//! with timeout and cap, hand-off on release, cancellation anywhere), over random sequences.
//! Skipped under Miri (too slow there).
#![cfg(not(miri))]

use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;

use do_over_core::bulkhead::Bulkhead;
use do_over_core::error::DoOverError;
use do_over_core::policy::LocalPolicy;
use do_over_core::time::ManualClock;
use proptest::prelude::*;

type E = DoOverError<()>;
type Call<'a> = Pin<Box<dyn Future<Output = Result<(), E>> + 'a>>;

#[derive(Copy, Clone, Debug)]
enum Op {
    Start,
    Finish(usize),
    Cancel(usize),
    Advance(u64),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Status {
    Queued,
    Running,
    Done,
    Rejected,
    Cancelled,
}

struct Model {
    max: usize,
    max_queued: usize,
    timeout: u64,
    now: u64,
    running: Vec<usize>,
    queue: VecDeque<(usize, u64)>,
    status: Vec<Status>,
}

impl Model {
    fn hand_off(&mut self) {
        while self.running.len() < self.max {
            let Some((id, _)) = self.queue.pop_front() else {
                break;
            };
            self.running.push(id);
            self.status[id] = Status::Running;
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Start => {
                let id = self.status.len();
                if self.running.len() < self.max && self.queue.is_empty() {
                    self.running.push(id);
                    self.status.push(Status::Running);
                } else if self.queue.len() < self.max_queued {
                    self.queue.push_back((id, self.now + self.timeout));
                    self.status.push(Status::Queued);
                } else {
                    self.status.push(Status::Rejected);
                }
            }
            Op::Finish(id) => {
                if self.status[id] == Status::Running {
                    self.running.retain(|r| *r != id);
                    self.status[id] = Status::Done;
                    self.hand_off();
                }
            }
            Op::Cancel(id) => match self.status[id] {
                Status::Running => {
                    self.running.retain(|r| *r != id);
                    self.status[id] = Status::Cancelled;
                    self.hand_off();
                }
                Status::Queued => {
                    self.queue.retain(|(q, _)| *q != id);
                    self.status[id] = Status::Cancelled;
                }
                _ => {}
            },
            Op::Advance(ms) => {
                self.now += ms;
                let now = self.now;
                for (id, deadline) in self.queue.iter() {
                    if *deadline <= now {
                        self.status[*id] = Status::Rejected;
                    }
                }
                self.queue.retain(|(_, d)| *d > now);
            }
        }
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Start),
        2 => (0usize..64).prop_map(Op::Finish),
        1 => (0usize..64).prop_map(Op::Cancel),
        1 => (0u64..150).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn behaves_like_the_reference_model(
        max in 1usize..4,
        max_queued in 0usize..4,
        ops in prop::collection::vec(op_strategy(), 1..80),
    ) {
        let clock = ManualClock::new();
        let bulkhead = Bulkhead::new_with_timer(max, &clock)
            .with_queue_timeout(Duration::from_millis(100))
            .with_max_queued(max_queued);
        let mut model = Model {
            max, max_queued, timeout: 100, now: 0,
            running: Vec::new(), queue: VecDeque::new(), status: Vec::new(),
        };
        // Per call: may it finish, has it started, and its future (None once over).
        let gates: Vec<Cell<bool>> = (0..ops.len()).map(|_| Cell::new(false)).collect();
        let started: Vec<Cell<bool>> = (0..ops.len()).map(|_| Cell::new(false)).collect();
        let mut calls: Vec<Option<Call<'_>>> = Vec::new();
        let mut outcome: Vec<Status> = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());

        for op in ops {
            let n = calls.len();
            let op = match op {
                Op::Finish(i) | Op::Cancel(i) if n == 0 => { let _ = i; continue }
                Op::Finish(i) => Op::Finish(i % n),
                Op::Cancel(i) => Op::Cancel(i % n),
                other => other,
            };
            match op {
                Op::Start => {
                    let (gate, start) = (&gates[n], &started[n]);
                    calls.push(Some(Box::pin(bulkhead.execute_local(move || async move {
                        start.set(true);
                        core::future::poll_fn(|_| if gate.get() { Poll::Ready(()) } else { Poll::Pending }).await;
                        Ok(())
                    }))));
                    outcome.push(Status::Queued);
                }
                // Only a running operation can finish (a gate opened while queued would let it
                // finish the moment it starts, which the model does not describe).
                Op::Finish(i) if model.status[i] == Status::Running => gates[i].set(true),
                Op::Finish(_) => {}
                Op::Cancel(i) => {
                    if calls[i].take().is_some() {
                        outcome[i] = Status::Cancelled;
                    }
                }
                Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            }
            model.apply(op);
            // Poll every live call until nothing changes (hand-offs can cascade).
            loop {
                let mut progressed = false;
                for (i, slot) in calls.iter_mut().enumerate() {
                    let Some(fut) = slot.as_mut() else { continue };
                    let was_started = started[i].get();
                    match fut.as_mut().poll(&mut cx) {
                        Poll::Ready(Ok(())) => { outcome[i] = Status::Done; *slot = None; progressed = true; }
                        Poll::Ready(Err(DoOverError::BulkheadFull)) => { outcome[i] = Status::Rejected; *slot = None; progressed = true; }
                        Poll::Ready(Err(e)) => panic!("unexpected {e:?}"),
                        Poll::Pending => {
                            outcome[i] = if started[i].get() { Status::Running } else { Status::Queued };
                            progressed |= started[i].get() != was_started;
                        }
                    }
                }
                if !progressed { break }
            }
            prop_assert_eq!(&outcome, &model.status, "after {:?}", op);
            prop_assert_eq!(bulkhead.in_flight(), model.running.len());
            prop_assert_eq!(bulkhead.queued(), model.queue.len());
        }
    }
}
