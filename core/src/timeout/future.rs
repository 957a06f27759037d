//! The timeout policy's future.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::TimeoutPolicy;
use crate::error::{FromRejection, Rejection};
use crate::time::{Instant, Timer};

pin_project! {
    /// The future of [`TimeoutPolicy::call`]. Allocation-free; the operation's future is
    /// stored inline and dropped the moment the deadline passes.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutFuture<'a, T: Timer, F, Fut> {
        policy: &'a TimeoutPolicy<T>,
        op: F,
        deadline: Option<Instant>,
        #[pin]
        fut: Option<Fut>,
        #[pin]
        sleep: Option<T::Sleep>,
    }
}

impl<'a, T: Timer, F, Fut> TimeoutFuture<'a, T, F, Fut> {
    pub(super) fn new(policy: &'a TimeoutPolicy<T>, op: F) -> Self {
        TimeoutFuture {
            policy,
            op,
            deadline: None,
            fut: None,
            sleep: None,
        }
    }
}

impl<T, F, Fut, V, E> Future for TimeoutFuture<'_, T, F, Fut>
where
    T: Timer,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, E>>,
    E: FromRejection,
{
    type Output = Result<V, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let deadline = match *this.deadline {
            Some(d) => d,
            None => {
                let d = this.policy.timer.now().saturating_add(this.policy.duration);
                *this.deadline = Some(d);
                this.fut.set(Some((this.op)()));
                d
            }
        };
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            panic!("TimeoutFuture polled after completion");
        };
        if let Poll::Ready(out) = fut.poll(cx) {
            this.fut.set(None);
            this.sleep.set(None);
            return Poll::Ready(out);
        }
        if this.sleep.is_none() {
            this.sleep
                .set(Some(this.policy.timer.sleep_until(deadline)));
        }
        let Some(sleep) = this.sleep.as_mut().as_pin_mut() else {
            unreachable!("the sleep was just armed")
        };
        if sleep.poll(cx).is_ready() {
            this.fut.set(None); // cancel the operation now, not when the caller drops us
            this.sleep.set(None);
            return Poll::Ready(Err(E::from_rejection(Rejection::Timeout)));
        }
        Poll::Pending
    }
}
