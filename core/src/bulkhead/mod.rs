//! Bulkhead: bound how many calls run at once, optionally with a fair wait queue.
//!
//! # Semantics
//!
//! * At most `max_concurrent` operations run at once. A call that finds no free slot is
//!   rejected at once with [`Rejection::BulkheadFull`](crate::error::Rejection::BulkheadFull) (the operation does not run) —
//!   unless a queue timeout is set.
//! * With [`with_queue_timeout(d)`](Bulkhead::with_queue_timeout) the call waits up to `d` for a
//!   slot, in strict FIFO order: a freed slot is handed to the longest waiter, and a newcomer
//!   never overtakes a waiter. After `d` without a slot the call fails with `BulkheadFull`.
//!   [`with_max_queued(k)`](Bulkhead::with_max_queued) caps the waiters: the `k+1`-th is
//!   rejected at once.
//! * A slot is released when the operation completes, returns an error, panics (unwinding
//!   drops its future) or is cancelled (its future is dropped).
//! * A waiter that leaves — dropped, or timed out at the moment a slot was handed to it —
//!   passes that slot on to the next waiter: no slot is lost and no waiter is stranded.
//! * The queue is intrusive (its nodes live in the waiting futures), so the bulkhead never
//!   allocates and works in `no_std` firmware. [`in_flight`](Bulkhead::in_flight),
//!   [`available`](Bulkhead::available) and [`queued`](Bulkhead::queued) observe it.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::bulkhead::Bulkhead;
//! use do_over_core::error::DoOverError;
//! use do_over_core::policy::Policy;
//! use do_over_core::time::ManualClock;
//!
//! let clock = ManualClock::new();
//! let bulkhead = Bulkhead::new_with_timer(2, &clock);
//! let out = clock.run(bulkhead.execute(|| async { Ok::<_, DoOverError<()>>(bulkhead.in_flight()) }));
//! assert_eq!(out, Ok(1)); // this call held one of the two slots
//! assert_eq!(bulkhead.in_flight(), 0);
//! ```

mod future;

pub use future::BulkheadFuture;

use core::task::Waker;
use core::time::Duration;

use crate::error::{ConfigError, expect_valid};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{List, Node, SpinLock};
use crate::time::Timer;

/// The low bit of `state`: someone is queued, so freed slots go to the queue.
const WAITERS: usize = 1;
/// One free slot, in `state`'s upper bits.
const ONE: usize = 2;

pub(crate) struct Waiter {
    waker: Option<Waker>,
    granted: bool,
}

/// Bounds concurrency, optionally with a FIFO wait queue. See the [module docs](self).
///
/// ```
/// use do_over_core::bulkhead::Bulkhead;
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let bulkhead = Bulkhead::new_with_timer(1, &clock);
/// let out = clock.run(bulkhead.execute(|| async {
///     assert_eq!(bulkhead.available(), 0);
///     // No queue: a second call while the only slot is taken is turned away at once.
///     bulkhead.execute(|| async { Ok::<_, DoOverError<()>>("ran") }).await
/// }));
/// assert_eq!(out, Err(DoOverError::BulkheadFull));
/// assert_eq!(bulkhead.available(), 1); // the slot came back
/// ```
pub struct Bulkhead<T> {
    timer: T,
    max: usize,
    queue_timeout: Option<Duration>,
    max_queued: usize,
    /// `free_slots * 2 | WAITERS`.
    state: AtomicUsize,
    queue: SpinLock<List<Waiter>>,
}

impl<T: core::fmt::Debug> core::fmt::Debug for Bulkhead<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max_concurrent", &self.max)
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .field("queue_timeout", &self.queue_timeout)
            .field("max_queued", &self.max_queued)
            .field("timer", &self.timer)
            .finish()
    }
}

impl<T: Timer + Default> Bulkhead<T> {
    /// At most `max_concurrent` calls at once; a call that finds no slot is rejected.
    ///
    /// # Panics
    /// If `max_concurrent` is 0. [`Bulkhead::try_new`] returns a [`ConfigError`] instead.
    #[track_caller]
    pub fn new(max_concurrent: usize) -> Self {
        expect_valid("Bulkhead::new", Self::try_new(max_concurrent))
    }

    /// [`new`](Bulkhead::new), returning an error for 0.
    ///
    /// # Errors
    /// [`ConfigError`] naming `max_concurrent`.
    pub fn try_new(max_concurrent: usize) -> Result<Self, ConfigError> {
        Self::try_new_with_timer(max_concurrent, T::default())
    }
}

impl<T: Timer> Bulkhead<T> {
    /// [`new`](Bulkhead::new) on the given timer.
    #[track_caller]
    pub fn new_with_timer(max_concurrent: usize, timer: T) -> Self {
        expect_valid(
            "Bulkhead::new",
            Self::try_new_with_timer(max_concurrent, timer),
        )
    }

    /// [`try_new`](Bulkhead::try_new) on the given timer.
    ///
    /// # Errors
    /// [`ConfigError`] naming `max_concurrent`.
    pub fn try_new_with_timer(max_concurrent: usize, timer: T) -> Result<Self, ConfigError> {
        if max_concurrent == 0 {
            return Err(ConfigError::new("max_concurrent", "must be at least 1"));
        }
        if max_concurrent > usize::MAX / 4 {
            return Err(ConfigError::new(
                "max_concurrent",
                "must be below usize::MAX / 4",
            ));
        }
        Ok(Bulkhead {
            timer,
            max: max_concurrent,
            queue_timeout: None,
            max_queued: usize::MAX,
            state: AtomicUsize::new(max_concurrent * ONE),
            queue: SpinLock::new(List::new()),
        })
    }
}

impl<T> Bulkhead<T> {
    /// Lets a call wait up to `timeout` for a slot, in FIFO order (unbounded queue unless
    /// [`with_max_queued`](Self::with_max_queued) caps it). A zero timeout means "do not wait".
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::bulkhead::Bulkhead;
    /// use do_over_core::error::DoOverError;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::time::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let bulkhead = Bulkhead::new_with_timer(1, &clock).with_queue_timeout(Duration::from_millis(100));
    /// let out = clock.run(bulkhead.execute(|| async {
    ///     // The only slot is ours, so this call queues, then gives up after 100 ms.
    ///     let queued = bulkhead.execute(|| async { Ok::<_, DoOverError<()>>(()) }).await;
    ///     assert_eq!(queued, Err(DoOverError::BulkheadFull));
    ///     Ok::<_, DoOverError<()>>(clock.now().since_origin())
    /// }));
    /// assert_eq!(out, Ok(Duration::from_millis(100)));
    /// ```
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// At most `k` calls wait at once; beyond that a call is rejected at once (0: nobody
    /// waits). Only meaningful with a queue timeout; the two settings may be given in either
    /// order.
    pub fn with_max_queued(mut self, k: usize) -> Self {
        self.max_queued = k;
        self
    }

    /// Moves the bulkhead onto another timer (for instance `&ManualClock` in a test).
    pub fn with_timer<T2: Timer>(self, timer: T2) -> Bulkhead<T2> {
        Bulkhead {
            timer,
            max: self.max,
            queue_timeout: self.queue_timeout,
            max_queued: self.max_queued,
            state: self.state,
            queue: self.queue,
        }
    }

    /// The configured limit.
    pub fn max_concurrent(&self) -> usize {
        self.max
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// Slots taken right now (running operations, plus slots just handed to a waiter that
    /// has not started yet).
    pub fn in_flight(&self) -> usize {
        self.max - self.available()
    }

    /// Calls waiting for a slot right now.
    pub fn queued(&self) -> usize {
        self.queue.lock().len()
    }

    /// Runs `op` under this bulkhead, returning the named future.
    pub fn call<F, Fut>(&self, op: F) -> BulkheadFuture<'_, T, F, Fut>
    where
        T: Timer,
        F: Fn() -> Fut,
    {
        BulkheadFuture::new(self, op)
    }

    /// Takes a free slot if there is one and nobody is queued (newcomers never overtake).
    fn try_take(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & WAITERS != 0 || s < ONE {
                return false;
            }
            match self
                .state
                .compare_exchange(s, s - ONE, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Under the queue lock: take a slot, or mark that a waiter is about to queue. Returns
    /// whether a slot was taken.
    fn take_or_mark_waiting(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let (next, took) = if s & WAITERS == 0 && s >= ONE {
                (s - ONE, true)
            } else {
                (s | WAITERS, false)
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return took,
                Err(now) => s = now,
            }
        }
    }

    /// Under the queue lock, after the queue became empty.
    fn clear_waiting(&self) {
        self.state.fetch_and(!WAITERS, Ordering::AcqRel);
    }

    /// Gives a slot back: to the first waiter if anyone is queued, else to the pool.
    fn release(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & WAITERS == 0 {
            match self
                .state
                .compare_exchange(s, s + ONE, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        let waker = {
            let mut q = self.queue.lock();
            match q.pop_front() {
                Some(n) => {
                    if q.is_empty() {
                        self.clear_waiting();
                    }
                    // SAFETY: `n` was linked, so its future is alive and pinned; we hold the
                    // lock that guards its fields.
                    unsafe {
                        (*n).value.granted = true;
                        (*n).value.waker.take()
                    }
                }
                None => {
                    // The last waiter left between our check and the lock; the flag is
                    // already clear (it is only changed under this lock).
                    self.state.fetch_add(ONE, Ordering::Release);
                    None
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

crate::policy::timer_policy!(Bulkhead);

pub(crate) type WaitNode = Node<Waiter>;

impl Waiter {
    pub(crate) const fn new() -> Self {
        Waiter {
            waker: None,
            granted: false,
        }
    }
}

crate::observe::observe_on_own_timer!(Bulkhead);
