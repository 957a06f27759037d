//! The retry policy's future.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::backoff::JitterState;
use super::{DelayHint, OnRetry, RetryEvent, RetryEventKind, RetryPolicy, RetryPredicate};
use crate::budget::RetryBudget;
use crate::random::Random;
use crate::time::{Instant, Timer};

pin_project! {
    /// The future of [`RetryPolicy::call`]: runs attempts and sleeps until success or
    /// until the policy gives up. Allocation-free; dropping it cancels the current attempt
    /// or sleep.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<'a, T: Timer, P, D, O, R, G, F, Fut> {
        policy: &'a RetryPolicy<T, P, D, O, R, G>,
        op: F,
        #[pin]
        attempt: Option<Fut>,
        #[pin]
        sleep: Option<T::Sleep>,
        retries: u32,
        started: Option<Instant>,
        jitter: JitterState,
    }
}

impl<'a, T: Timer, P, D, O, R, G, F, Fut> RetryFuture<'a, T, P, D, O, R, G, F, Fut> {
    pub(super) fn new(policy: &'a RetryPolicy<T, P, D, O, R, G>, op: F) -> Self {
        RetryFuture {
            policy,
            op,
            attempt: None,
            sleep: None,
            retries: 0,
            started: None,
            jitter: JitterState::default(),
        }
    }
}

impl<T, P, D, O, R, G, F, Fut, V, E> Future for RetryFuture<'_, T, P, D, O, R, G, F, Fut>
where
    T: Timer,
    P: RetryPredicate<E>,
    D: DelayHint<E>,
    O: OnRetry<E>,
    R: Random,
    G: RetryBudget,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    type Output = Result<V, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let policy = *this.policy;
        let s = &policy.settings;
        loop {
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                ready!(sleep.poll(cx));
                this.sleep.set(None);
            }
            if this.attempt.is_none() {
                if this.started.is_none() && s.max_elapsed.is_some() {
                    *this.started = Some(policy.timer.now());
                }
                this.attempt.set(Some((this.op)()));
            }
            let Some(attempt) = this.attempt.as_mut().as_pin_mut() else {
                unreachable!("an attempt was just started")
            };
            let error = match ready!(attempt.poll(cx)) {
                Ok(v) => {
                    this.attempt.set(None);
                    policy.budget.deposit();
                    return Poll::Ready(Ok(v));
                }
                Err(e) => e,
            };
            this.attempt.set(None);

            if *this.retries >= s.max_retries || !policy.predicate.should_retry(&error) {
                return Poll::Ready(Err(error));
            }
            let retry = *this.retries + 1;
            let delay = match policy.hint.delay_hint(&error) {
                Some(d) => d,
                None => (s.delay_fn)(
                    &s.backoff,
                    s.jitter,
                    s.max_delay,
                    retry,
                    &policy.random,
                    this.jitter,
                ),
            };
            if let (Some(budget), Some(started)) = (s.max_elapsed, *this.started) {
                let elapsed = policy.timer.now().saturating_duration_since(started);
                if elapsed.saturating_add(delay) > budget {
                    return Poll::Ready(Err(error));
                }
            }
            if !policy.budget.withdraw() {
                policy.hook.on_retry(&RetryEvent {
                    retry,
                    delay,
                    error: &error,
                    kind: RetryEventKind::BudgetExhausted,
                });
                return Poll::Ready(Err(error));
            }
            policy.hook.on_retry(&RetryEvent {
                retry,
                delay,
                error: &error,
                kind: RetryEventKind::Retrying,
            });
            drop(error);
            *this.retries = retry;
            if delay > Duration::ZERO {
                this.sleep.set(Some(policy.timer.sleep(delay)));
            }
        }
    }
}
