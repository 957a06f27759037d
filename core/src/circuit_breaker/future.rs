//! The circuit breaker's future.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{
    BreakDuration, BreakerListener, BreakerPermit, CircuitBreaker, FailurePredicate, Trigger,
};
use crate::error::{FromRejection, Rejection};
use crate::time::Timer;

pin_project! {
    /// The future of [`CircuitBreaker::call`]. Asks for admission on first poll; holds the
    /// permit while the operation runs, so dropping the future mid-call gives a half-open
    /// probe slot back.
    #[must_use = "futures do nothing unless polled"]
    pub struct BreakerFuture<'a, T, S, P, B, L, F, Fut>
    where
        T: Timer,
        S: Trigger,
        B: BreakDuration,
        L: BreakerListener,
    {
        // Declared first so that it is dropped first: a cancelled probe's operation is torn
        // down before its slot is given back.
        #[pin]
        fut: Option<Fut>,
        breaker: &'a CircuitBreaker<T, S, P, B, L>,
        op: F,
        permit: Option<BreakerPermit<'a, T, S, P, B, L>>,
        done: bool,
    }
}

impl<'a, T, S, P, B, L, F, Fut> BreakerFuture<'a, T, S, P, B, L, F, Fut>
where
    T: Timer,
    S: Trigger,
    B: BreakDuration,
    L: BreakerListener,
{
    pub(super) fn new(breaker: &'a CircuitBreaker<T, S, P, B, L>, op: F) -> Self {
        BreakerFuture {
            breaker,
            op,
            permit: None,
            fut: None,
            done: false,
        }
    }
}

impl<T, S, P, B, L, F, Fut, V, E> Future for BreakerFuture<'_, T, S, P, B, L, F, Fut>
where
    T: Timer,
    S: Trigger,
    P: FailurePredicate<E>,
    B: BreakDuration,
    L: BreakerListener,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, E>>,
    E: FromRejection,
{
    type Output = Result<V, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Like other futures: a finished call is never re-run by polling it again.
        assert!(!*this.done, "BreakerFuture polled after completion");
        if this.fut.is_none() {
            match this.breaker.try_acquire() {
                Ok(permit) => {
                    *this.permit = Some(permit);
                    this.fut.set(Some((this.op)()));
                }
                Err(retry_after) => {
                    *this.done = true;
                    return Poll::Ready(Err(E::from_rejection(Rejection::CircuitOpen {
                        retry_after,
                    })));
                }
            }
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            unreachable!("the operation was just started")
        };
        let out = ready!(fut.poll(cx));
        this.fut.set(None);
        if let Some(permit) = this.permit.as_mut() {
            let failed = match &out {
                Ok(_) => false,
                Err(e) => this.breaker.predicate.is_failure(e),
            };
            permit.report(failed);
        }
        *this.done = true;
        Poll::Ready(out)
    }
}
