//! The rate limiter's future.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::RateLimiter;
use crate::error::{FromRejection, Rejection};
use crate::time::Timer;

pin_project! {
    /// The future of [`RateLimiter::call`]: takes a token (or reserves one and sleeps until
    /// it is due), then runs the operation.
    #[must_use = "futures do nothing unless polled"]
    pub struct RateLimitFuture<'a, T: Timer, F, Fut> {
        limiter: &'a RateLimiter<T>,
        op: F,
        started: bool,
        reserved_tat: Option<usize>,
        #[pin]
        sleep: Option<T::Sleep>,
        #[pin]
        fut: Option<Fut>,
    }

    impl<'a, T: Timer, F, Fut> PinnedDrop for RateLimitFuture<'a, T, F, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(tat) = this.reserved_tat.take() {
                this.limiter.unreserve(1, tat); // cancelled while waiting for its token
            }
        }
    }
}

impl<'a, T: Timer, F, Fut> RateLimitFuture<'a, T, F, Fut> {
    pub(super) fn new(limiter: &'a RateLimiter<T>, op: F) -> Self {
        RateLimitFuture {
            limiter,
            op,
            started: false,
            reserved_tat: None,
            sleep: None,
            fut: None,
        }
    }
}

impl<T, F, Fut, V, E> Future for RateLimitFuture<'_, T, F, Fut>
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
        if !*this.started {
            *this.started = true;
            let l = *this.limiter;
            match l.reserve(1, l.max_wait.unwrap_or_default()) {
                Err(retry_after) => {
                    return Poll::Ready(Err(E::from_rejection(Rejection::RateLimited {
                        retry_after,
                    })));
                }
                Ok((wait, _)) if wait.is_zero() => this.fut.set(Some((this.op)())),
                Ok((wait, tat)) => {
                    *this.reserved_tat = Some(tat);
                    this.sleep.set(Some(l.timer.sleep(wait)));
                }
            }
        }
        if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
            ready!(sleep.poll(cx));
            this.sleep.set(None);
            *this.reserved_tat = None; // the token is due: it is ours now
            this.fut.set(Some((this.op)()));
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            panic!("RateLimitFuture polled after completion");
        };
        let out = ready!(fut.poll(cx));
        this.fut.set(None);
        Poll::Ready(out)
    }
}
