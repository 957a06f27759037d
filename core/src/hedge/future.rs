//! The hedge policy's future: up to `CAP` attempts stored inline and polled together.

use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::Hedge;
use crate::budget::RetryBudget;
use crate::time::{Instant, Timer};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::CancelLosers {}
    #[cfg(feature = "alloc")]
    impl<S> Sealed for super::DetachLosers<S> {}
}

/// What happens to the attempts that lost (or were still running when the future is dropped).
///
/// Sealed: its implementations receive slots whose futures are pinned, and only the two in
/// this crate ([`CancelLosers`] drops in place, `DetachLosers` moves out boxed, `Unpin`
/// attempts) respect that.
pub trait Losers<Fut>: sealed::Sealed {
    /// Disposes of a losing attempt's slot.
    fn dispose(&self, slot: &mut Option<Fut>);
}

/// The default: losing attempts are dropped (cancelled) in place.
#[derive(Copy, Clone, Debug, Default)]
pub struct CancelLosers;

impl<Fut> Losers<Fut> for CancelLosers {
    #[inline]
    fn dispose(&self, slot: &mut Option<Fut>) {
        *slot = None;
    }
}

/// Losing attempts are handed to a [`Spawn`](crate::spawn::Spawn)er and run to completion
/// (their results are discarded). Used by [`Hedge::execute_detached`].
#[cfg(feature = "alloc")]
#[derive(Copy, Clone, Debug)]
pub struct DetachLosers<S>(pub S);

#[cfg(feature = "alloc")]
impl<S, X> Losers<core::pin::Pin<alloc::boxed::Box<X>>> for DetachLosers<S>
where
    S: crate::spawn::Spawn,
    X: Future + Send + 'static + ?Sized,
{
    fn dispose(&self, slot: &mut Option<core::pin::Pin<alloc::boxed::Box<X>>>) {
        if let Some(attempt) = slot.take() {
            self.0.spawn(async move {
                let _ = attempt.await;
            });
        }
    }
}

/// The future of [`Hedge::call`]. Its attempts live inside it (so it is `!Unpin`); dropping it
/// cancels every attempt still running (or, in detached mode, lets them finish).
#[must_use = "futures do nothing unless polled"]
pub struct HedgeFuture<
    'a,
    T: Timer,
    const CAP: usize,
    G,
    F,
    Fut: Future,
    D: Losers<Fut> = CancelLosers,
> {
    hedge: &'a Hedge<T, CAP, G>,
    op: F,
    attempts: [Option<Fut>; CAP],
    started_at: [Instant; CAP],
    started: usize,
    live: usize,
    total: usize,
    delay: Duration,
    last_failure: Option<Fut::Output>,
    sleep: Option<T::Sleep>,
    losers: D,
    _pinned: PhantomPinned,
}

impl<T: Timer, const CAP: usize, G, F, Fut: Future, D: Losers<Fut>> Drop
    for HedgeFuture<'_, T, CAP, G, F, Fut, D>
{
    fn drop(&mut self) {
        for slot in self.attempts.iter_mut() {
            self.losers.dispose(slot);
        }
    }
}

impl<'a, T: Timer, const CAP: usize, G, F, Fut: Future, D: Losers<Fut>>
    HedgeFuture<'a, T, CAP, G, F, Fut, D>
{
    pub(super) fn new(hedge: &'a Hedge<T, CAP, G>, op: F, losers: D) -> Self {
        HedgeFuture {
            hedge,
            op,
            attempts: [const { None }; CAP],
            started_at: [Instant::ZERO; CAP],
            started: 0,
            live: 0,
            total: 0,
            delay: Duration::ZERO,
            last_failure: None,
            sleep: None,
            losers,
            _pinned: PhantomPinned,
        }
    }

    fn start_next(&mut self)
    where
        F: Fn() -> Fut,
    {
        let i = self.started;
        if self.hedge.adaptive.is_some() {
            self.started_at[i] = self.hedge.timer.now();
        }
        // Slot `i` is empty: filling it moves nothing that is pinned.
        self.attempts[i] = Some((self.op)());
        self.started += 1;
        self.live += 1;
    }
}

impl<T, const CAP: usize, G, F, Fut, V, E, D> Future for HedgeFuture<'_, T, CAP, G, F, Fut, D>
where
    T: Timer,
    G: RetryBudget,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, E>>,
    D: Losers<Fut>,
{
    type Output = Result<V, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: attempts and the sleep are never moved out; they are dropped in place or
        // written while empty.
        let this = unsafe { self.get_unchecked_mut() };
        let h = this.hedge;
        if this.started == 0 {
            this.total = 1 + h.max_hedged as usize;
            this.delay = h.current_delay();
            this.start_next();
            if this.delay.is_zero() {
                while this.started < this.total && h.budget.withdraw() {
                    this.start_next();
                }
                this.total = this.started;
            }
        }
        'outer: loop {
            for i in 0..this.started {
                let Some(attempt) = this.attempts[i].as_mut() else {
                    continue;
                };
                // SAFETY: the attempt is pinned inside this pinned future.
                match unsafe { Pin::new_unchecked(attempt) }.poll(cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(v)) => {
                        if h.adaptive.is_some() {
                            h.histogram.record(
                                h.timer.now().saturating_duration_since(this.started_at[i]),
                            );
                        }
                        this.attempts[i] = None;
                        for a in this.attempts.iter_mut() {
                            this.losers.dispose(a); // cancel (or detach) the losers now
                        }
                        this.sleep = None;
                        this.live = 0;
                        h.budget.deposit();
                        return Poll::Ready(Ok(v));
                    }
                    Poll::Ready(Err(e)) => {
                        this.attempts[i] = None;
                        this.live -= 1;
                        this.last_failure = Some(Err(e));
                        if this.started < this.total {
                            if h.budget.withdraw() {
                                // A failure is not an answer: start the next attempt now, and
                                // time the following hedge from this start.
                                this.start_next();
                                this.sleep = None;
                                continue 'outer;
                            }
                            this.total = this.started;
                        }
                    }
                }
            }
            if this.live == 0 {
                this.sleep = None;
                let Some(failure) = this.last_failure.take() else {
                    panic!("HedgeFuture polled after completion");
                };
                return Poll::Ready(failure);
            }
            if this.started < this.total {
                let sleep = this.sleep.get_or_insert_with(|| h.timer.sleep(this.delay));
                // SAFETY: the sleep is pinned inside this pinned future.
                if unsafe { Pin::new_unchecked(sleep) }.poll(cx).is_ready() {
                    this.sleep = None;
                    if h.budget.withdraw() {
                        this.start_next();
                        continue 'outer;
                    }
                    this.total = this.started;
                }
            }
            return Poll::Pending;
        }
    }
}
