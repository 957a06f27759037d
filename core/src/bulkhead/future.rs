//! The bulkhead's future: acquire (possibly wait in the queue), run, release.

use core::cell::UnsafeCell;
use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::{Bulkhead, WaitNode, Waiter};
use crate::error::{FromRejection, Rejection};
use crate::time::Timer;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Phase {
    Start,
    Queued,
    Running,
    Done,
}

/// The future of [`Bulkhead::call`]. Holds its queue node inline (so it is `!Unpin`); drop it
/// at any point and its queue place or slot is given back.
#[must_use = "futures do nothing unless polled"]
pub struct BulkheadFuture<'a, T: Timer, F, Fut> {
    bulkhead: &'a Bulkhead<T>,
    op: F,
    phase: Phase,
    node: UnsafeCell<WaitNode>,
    sleep: Option<T::Sleep>,
    fut: Option<Fut>,
    _pinned: PhantomPinned,
}

// SAFETY: `node` (raw list pointers) is only touched under the bulkhead's queue lock, from
// whichever thread; everything else is `Send` when its parts are.
unsafe impl<T, F, Fut> Send for BulkheadFuture<'_, T, F, Fut>
where
    T: Timer + Sync,
    T::Sleep: Send,
    F: Send,
    Fut: Send,
{
}

impl<'a, T: Timer, F, Fut> BulkheadFuture<'a, T, F, Fut> {
    pub(super) fn new(bulkhead: &'a Bulkhead<T>, op: F) -> Self {
        BulkheadFuture {
            bulkhead,
            op,
            phase: Phase::Start,
            node: UnsafeCell::new(WaitNode::new(Waiter::new())),
            sleep: None,
            fut: None,
            _pinned: PhantomPinned,
        }
    }
}

impl<T, F, Fut, V, E> Future for BulkheadFuture<'_, T, F, Fut>
where
    T: Timer,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, E>>,
    E: FromRejection,
{
    type Output = Result<V, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing below moves a pinned field (`node`, `sleep`, `fut`); they are only
        // dropped in place or replaced while empty.
        let this = unsafe { self.get_unchecked_mut() };
        let b = this.bulkhead;
        let full = || Poll::Ready(Err(E::from_rejection(Rejection::BulkheadFull)));
        loop {
            match this.phase {
                Phase::Start => {
                    if b.try_take() {
                        this.start();
                        continue;
                    }
                    let Some(timeout) = b.queue_timeout else {
                        this.phase = Phase::Done;
                        return full();
                    };
                    let n = this.node.get();
                    // Arm the deadline before linking: if creating the sleep panicked after
                    // the node was in the queue, the queue would keep a dangling pointer.
                    let sleep = b.timer.sleep(timeout);
                    {
                        let mut q = b.queue.lock();
                        if q.len() >= b.max_queued {
                            drop(q);
                            this.phase = Phase::Done;
                            return full();
                        }
                        if b.take_or_mark_waiting() {
                            drop(q);
                            this.start();
                            continue;
                        }
                        // SAFETY: `n` is in this pinned future and not linked; it unlinks
                        // itself (under this lock) before the future goes away.
                        unsafe {
                            (*n).value.waker = Some(cx.waker().clone());
                            q.push_back(n);
                        }
                    }
                    this.sleep = Some(sleep);
                    this.phase = Phase::Queued;
                }
                Phase::Queued => {
                    let n = this.node.get();
                    let old_waker = {
                        let _q = b.queue.lock();
                        // SAFETY: under the queue lock.
                        unsafe {
                            if (*n).value.granted {
                                drop(_q);
                                this.sleep = None;
                                this.start();
                                continue;
                            }
                            match &mut (*n).value.waker {
                                Some(w) if w.will_wake(cx.waker()) => None,
                                slot => slot.replace(cx.waker().clone()),
                            }
                        }
                    };
                    drop(old_waker); // outside the lock: dropping a waker may run any code
                    let Some(sleep) = this.sleep.as_mut() else {
                        unreachable!("a queued call has a deadline")
                    };
                    // SAFETY: `sleep` is a pinned field of this pinned future.
                    if unsafe { Pin::new_unchecked(sleep) }.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let mut q = b.queue.lock();
                    // SAFETY: under the queue lock.
                    unsafe {
                        if (*n).value.granted {
                            drop(q);
                            this.sleep = None;
                            this.start(); // the slot arrived just in time
                            continue;
                        }
                        q.remove(n);
                        if q.is_empty() {
                            b.clear_waiting();
                        }
                    }
                    drop(q);
                    // SAFETY: unlinked: nobody else touches the node any more.
                    drop(unsafe { (*n).value.waker.take() });
                    this.sleep = None;
                    this.phase = Phase::Done;
                    return full();
                }
                Phase::Running => {
                    let Some(fut) = this.fut.as_mut() else {
                        unreachable!("a running call has its operation")
                    };
                    // SAFETY: `fut` is a pinned field of this pinned future.
                    let out = match unsafe { Pin::new_unchecked(fut) }.poll(cx) {
                        Poll::Ready(out) => out,
                        Poll::Pending => return Poll::Pending,
                    };
                    this.fut = None;
                    this.phase = Phase::Done;
                    b.release();
                    return Poll::Ready(out);
                }
                Phase::Done => panic!("BulkheadFuture polled after completion"),
            }
        }
    }
}

impl<T: Timer, F, Fut> BulkheadFuture<'_, T, F, Fut> {
    /// We hold a slot: start the operation.
    fn start<V, E>(&mut self)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.phase = Phase::Running;
        self.fut = Some((self.op)());
    }
}

impl<T: Timer, F, Fut> Drop for BulkheadFuture<'_, T, F, Fut> {
    fn drop(&mut self) {
        let b = self.bulkhead;
        match self.phase {
            Phase::Queued => {
                let n = self.node.get();
                let (granted, waker) = {
                    let mut q = b.queue.lock();
                    // SAFETY: under the queue lock; if linked, `n` is in the queue.
                    unsafe {
                        if (*n).is_linked() {
                            q.remove(n);
                            if q.is_empty() {
                                b.clear_waiting();
                            }
                        }
                        ((*n).value.granted, (*n).value.waker.take())
                    }
                };
                drop(waker); // outside the lock
                if granted {
                    b.release(); // hand the slot we were given to the next waiter
                }
            }
            Phase::Running => {
                self.fut = None; // cancel the operation before its slot is reused
                b.release();
            }
            Phase::Start | Phase::Done => {}
        }
    }
}
