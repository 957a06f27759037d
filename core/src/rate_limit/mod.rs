//! Rate limiter: a token bucket with continuous refill, implemented as GCRA (the generic cell
//! rate algorithm) on a single atomic word.
//!
//! # Semantics
//!
//! * `RateLimiter::new(capacity, interval)` allows bursts of up to `capacity` calls and
//!   `capacity` calls per `interval` sustained, refilled continuously (one token every
//!   `interval / capacity`, rounded up to the clock's tick). In any window of length `w` at
//!   most `capacity + capacity·w/interval` calls pass — there is no boundary at which a fixed
//!   window would let twice the rate through.
//! * A call that finds no token is rejected with [`Rejection::RateLimited`](crate::error::Rejection::RateLimited) carrying
//!   `retry_after`, the time until enough tokens will have refilled; the operation does not
//!   run.
//! * [`with_max_wait(d)`](RateLimiter::with_max_wait): a call that would have to wait at most
//!   `d` *reserves* its token and sleeps until it is due, so waiting callers are admitted in
//!   the order they arrived (FIFO). A waiter that is cancelled gives its reservation back if
//!   nobody has reserved after it; otherwise that token is spent.
//! * [`try_acquire(n)`](RateLimiter::try_acquire) takes `n` tokens at once (a weight larger
//!   than `capacity` can never be satisfied and is rejected with `retry_after` =
//!   [`MAX_WAIT`]). [`set_quota`](RateLimiter::set_quota) changes the rate at run time.
//!
//! # Implementation
//!
//! The whole state is the *theoretical arrival time* (TAT) in one `AtomicUsize`, advanced by
//! compare-and-swap; no lock, no allocation, time only from the policy's [`Timer`]. On 64-bit
//! targets a tick is a nanosecond. On 32-bit targets (`thumbv7em`, `thumbv6m`) a tick is a
//! microsecond and the word wraps every ~71.6 minutes. The limiter remembers its *span*, the
//! furthest ahead it ever legitimately set the TAT (`interval` + `max_wait`, or a
//! [`hold_off`](RateLimiter::hold_off)), and reads anything further ahead as stale, so it
//! never over-admits because of the wrap. The one cost: an idle gap that ends within one span
//! before a multiple of ~71.6 minutes makes calls be rejected for at most that span. `interval`
//! must stay under ~17 minutes there.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::policy::Policy;
//! use do_over_core::rate_limit::RateLimiter;
//! use do_over_core::time::ManualClock;
//!
//! let clock = ManualClock::new();
//! let limiter = RateLimiter::new_with_timer(2, Duration::from_secs(1), &clock);
//! let call = || clock.run(limiter.execute(|| async { Ok::<_, DoOverError<()>>(()) }));
//! assert_eq!(call(), Ok(()));
//! assert_eq!(call(), Ok(())); // a burst of 2
//! assert_eq!(call(), Err(DoOverError::RateLimited { retry_after: Duration::from_millis(500) }));
//! clock.advance(Duration::from_millis(500)); // one token refilled
//! assert_eq!(call(), Ok(()));
//! ```

mod future;

pub use future::RateLimitFuture;

use core::time::Duration;

use crate::error::{ConfigError, MAX_WAIT, expect_valid};
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use crate::time::{Instant, Timer, saturating_nanos};

/// Nanoseconds per tick of the TAT word.
const TICK_NANOS: u64 = if usize::BITS >= 64 { 1 } else { 1_000 };
/// The longest span the TAT word can represent unambiguously.
const MAX_SPAN_TICKS: usize = usize::MAX >> 2;

/// Whether a TAT `ahead` ticks after now is in the future. `span` is the furthest ahead any
/// legitimate TAT of this limiter has ever been set (its largest `limit + max_wait`, or a
/// hold-off); anything further is a stale TAT from before a wrap of the clock word (32-bit
/// targets), which counts as "now".
fn is_ahead(ahead: usize, span: usize) -> bool {
    ahead > 0 && ahead <= span
}

fn duration_ticks(d: Duration) -> usize {
    saturating_nanos(d)
        .div_ceil(TICK_NANOS)
        .min(MAX_SPAN_TICKS as u64) as usize
}

fn tick(t: Instant) -> usize {
    (t.as_nanos() / TICK_NANOS) as usize
}

fn ticks_to_duration(t: usize) -> Duration {
    Duration::from_nanos((t as u64).saturating_mul(TICK_NANOS))
}

/// A token-bucket rate limiter (GCRA). See the [module docs](self).
///
/// Calls can also take tokens directly, several at a time:
///
/// ```
/// use core::time::Duration;
/// use do_over_core::error::MAX_WAIT;
/// use do_over_core::rate_limit::RateLimiter;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // 10 per second: one token every 100 ms.
/// let limiter = RateLimiter::new_with_timer(10, Duration::from_secs(1), &clock);
/// assert_eq!(limiter.try_acquire(8), Ok(())); // a call weighing 8 tokens
/// assert_eq!(limiter.try_acquire(4), Err(Duration::from_millis(200))); // 2 short
/// assert_eq!(limiter.try_acquire(11), Err(MAX_WAIT)); // more than the burst: never
/// clock.advance(Duration::from_millis(200));
/// assert_eq!(limiter.available(), 4);
/// ```
pub struct RateLimiter<T> {
    timer: T,
    /// Theoretical arrival time, in ticks.
    tat: AtomicUsize,
    /// Ticks per token.
    emission: AtomicUsize,
    /// `capacity · emission`: how far ahead of now the TAT may run.
    limit: AtomicUsize,
    capacity: AtomicU32,
    max_wait: Option<Duration>,
    /// The furthest ahead of now the TAT has legitimately been set: only grows.
    span: AtomicUsize,
}

impl<T: core::fmt::Debug> core::fmt::Debug for RateLimiter<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("capacity", &self.capacity.load(Ordering::Relaxed))
            .field(
                "per_token",
                &ticks_to_duration(self.emission.load(Ordering::Relaxed)),
            )
            .field("max_wait", &self.max_wait)
            .field("timer", &self.timer)
            .finish()
    }
}

/// Ticks per token and the burst limit for a quota.
fn quota(capacity: u32, interval: Duration) -> Result<(usize, usize), ConfigError> {
    if capacity == 0 {
        return Err(ConfigError::new("capacity", "must be at least 1"));
    }
    if interval.is_zero() {
        return Err(ConfigError::new("interval", "must be greater than 0"));
    }
    let interval_ticks = saturating_nanos(interval).div_ceil(TICK_NANOS);
    let emission = interval_ticks.div_ceil(u64::from(capacity)).max(1);
    let limit = emission.saturating_mul(u64::from(capacity));
    if limit > MAX_SPAN_TICKS as u64 {
        return Err(ConfigError::new(
            "interval",
            "is too long for this target's clock word",
        ));
    }
    Ok((emission as usize, limit as usize))
}

impl<T: Timer + Default> RateLimiter<T> {
    /// Bursts of up to `capacity` calls, `capacity` per `interval` sustained.
    ///
    /// # Panics
    /// If `capacity` is 0 or `interval` is zero (or too long for a 32-bit target).
    /// [`RateLimiter::try_new`] returns a [`ConfigError`] instead.
    #[track_caller]
    pub fn new(capacity: u32, interval: Duration) -> Self {
        expect_valid("RateLimiter::new", Self::try_new(capacity, interval))
    }

    /// [`new`](RateLimiter::new), returning an error for bad input.
    ///
    /// # Errors
    /// [`ConfigError`] naming `capacity` or `interval`.
    pub fn try_new(capacity: u32, interval: Duration) -> Result<Self, ConfigError> {
        Self::try_new_with_timer(capacity, interval, T::default())
    }
}

impl<T: Timer> RateLimiter<T> {
    /// [`new`](RateLimiter::new) on the given timer.
    #[track_caller]
    pub fn new_with_timer(capacity: u32, interval: Duration, timer: T) -> Self {
        expect_valid(
            "RateLimiter::new",
            Self::try_new_with_timer(capacity, interval, timer),
        )
    }

    /// [`try_new`](RateLimiter::try_new) on the given timer.
    ///
    /// # Errors
    /// [`ConfigError`] naming `capacity` or `interval`.
    pub fn try_new_with_timer(
        capacity: u32,
        interval: Duration,
        timer: T,
    ) -> Result<Self, ConfigError> {
        let (emission, limit) = quota(capacity, interval)?;
        let now = tick(timer.now());
        Ok(RateLimiter {
            timer,
            tat: AtomicUsize::new(now),
            emission: AtomicUsize::new(emission),
            limit: AtomicUsize::new(limit),
            capacity: AtomicU32::new(capacity),
            max_wait: None,
            span: AtomicUsize::new(limit),
        })
    }

    /// Takes `n` tokens now, or says how long until they would be available (the operation
    /// is the caller's business). The low-level interface `execute` uses with `n = 1`.
    ///
    /// # Errors
    /// The `retry_after`: the time until `n` tokens will have refilled ([`MAX_WAIT`] if `n`
    /// exceeds the capacity).
    pub fn try_acquire(&self, n: u32) -> Result<(), Duration> {
        match self.reserve(n, Duration::ZERO) {
            Ok(_) => Ok(()),
            Err(retry_after) => Err(retry_after),
        }
    }

    /// Takes `n` tokens, reserving them up to `max_wait` ahead: `Ok((wait, tat))` is how long
    /// the caller must wait before using them (zero if available now) and the TAT its
    /// reservation set.
    pub(crate) fn reserve(
        &self,
        n: u32,
        max_wait: Duration,
    ) -> Result<(Duration, usize), Duration> {
        let emission = self.emission.load(Ordering::Relaxed);
        let limit = self.limit.load(Ordering::Acquire);
        let need = emission.saturating_mul(n as usize);
        if need > limit {
            return Err(MAX_WAIT);
        }
        let max_wait_ticks =
            (saturating_nanos(max_wait) / TICK_NANOS).min(MAX_SPAN_TICKS as u64) as usize;
        let now = tick(self.timer.now());
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            // base = max(tat, now), on a wrapping clock word. A TAT further ahead than any
            // legitimate reservation can be is a stale one from before a wrap: treat as now.
            let ahead = tat.wrapping_sub(now);
            let span = self.span.load(Ordering::Relaxed);
            let base = if is_ahead(ahead, span) { tat } else { now };
            let new_tat = base.wrapping_add(need);
            let over = new_tat.wrapping_sub(now).saturating_sub(limit);
            if over > max_wait_ticks {
                return Err(ticks_to_duration(over));
            }
            match self
                .tat
                .compare_exchange(tat, new_tat, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok((ticks_to_duration(over), new_tat)),
                Err(current) => tat = current,
            }
        }
    }

    /// Gives back `n` tokens reserved by the call that moved the TAT to `reserved_tat`, if no
    /// later call has reserved since (best effort, used when a waiting call is cancelled).
    pub(crate) fn unreserve(&self, n: u32, reserved_tat: usize) {
        let need = self
            .emission
            .load(Ordering::Relaxed)
            .saturating_mul(n as usize);
        let _ = self.tat.compare_exchange(
            reserved_tat,
            reserved_tat.wrapping_sub(need),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// Changes the quota at run time; calls already admitted are not affected, and the
    /// tokens already spent count against the new quota.
    ///
    /// # Errors
    /// [`ConfigError`] naming `capacity` or `interval`.
    pub fn set_quota(&self, capacity: u32, interval: Duration) -> Result<(), ConfigError> {
        let (emission, limit) = quota(capacity, interval)?;
        let max_wait = self.max_wait.map_or(0, duration_ticks);
        self.span.fetch_max(limit + max_wait, Ordering::Relaxed);
        self.emission.store(emission, Ordering::Relaxed);
        // Release: whoever reserves under the new limit also sees the wider span.
        self.limit.store(limit, Ordering::Release);
        self.capacity.store(capacity, Ordering::Relaxed);
        Ok(())
    }

    /// Admits no new call for `d` from now, then one token, refilling at the normal rate: what
    /// a client does when a server answers `429`/`503` with `Retry-After: d`. Calls that
    /// already reserved a token ([`with_max_wait`](Self::with_max_wait)) keep it. Never
    /// shortens an existing wait; `d` is capped at the longest span the limiter can represent,
    /// and [`reset`](Self::reset) lifts it. Zero does nothing.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::rate_limit::RateLimiter;
    /// use do_over_core::time::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let limiter = RateLimiter::new_with_timer(10, Duration::from_secs(1), &clock);
    /// limiter.hold_off(Duration::from_secs(2));
    /// assert_eq!(limiter.try_acquire(1), Err(Duration::from_secs(2)));
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(limiter.try_acquire(1), Ok(()));
    /// assert!(limiter.try_acquire(1).is_err()); // the burst refills at the normal rate
    /// ```
    pub fn hold_off(&self, d: Duration) {
        let emission = self.emission.load(Ordering::Relaxed);
        let limit = self.limit.load(Ordering::Relaxed);
        if d.is_zero() {
            return;
        }
        // A call at now + d then finds exactly one token: new_tat - (now + d) = limit.
        let target_ahead = duration_ticks(d) + limit - emission.min(limit);
        // Published before the TAT that needs it (the CAS below releases it).
        self.span.fetch_max(target_ahead, Ordering::Relaxed);
        let now = tick(self.timer.now());
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let ahead = tat.wrapping_sub(now);
            if is_ahead(ahead, self.span.load(Ordering::Relaxed)) && ahead >= target_ahead {
                return;
            }
            match self.tat.compare_exchange(
                tat,
                now.wrapping_add(target_ahead),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(current) => tat = current,
            }
        }
    }

    /// Forgets every token spent and any [`hold_off`](Self::hold_off): the full burst is
    /// available now. Calls already waiting for a reservation still run when it falls due.
    pub fn reset(&self) {
        let now = tick(self.timer.now());
        self.tat.store(now, Ordering::Release);
    }

    /// Tokens available right now (0 to `capacity`).
    pub fn available(&self) -> u32 {
        let emission = self.emission.load(Ordering::Relaxed).max(1);
        let limit = self.limit.load(Ordering::Relaxed);
        let now = tick(self.timer.now());
        let tat = self.tat.load(Ordering::Acquire);
        let ahead = tat.wrapping_sub(now);
        let used = if is_ahead(ahead, self.span.load(Ordering::Relaxed)) {
            ahead.min(limit)
        } else {
            0
        };
        ((limit - used) / emission) as u32
    }
}

impl<T> RateLimiter<T> {
    /// Lets a call that finds no token wait up to `d` for one (reserving it, FIFO) instead of
    /// being rejected at once.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::error::DoOverError;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::rate_limit::RateLimiter;
    /// use do_over_core::time::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let limiter = RateLimiter::new_with_timer(1, Duration::from_secs(1), &clock)
    ///     .with_max_wait(Duration::from_secs(2));
    /// let call = || clock.run(limiter.execute(|| async {
    ///     Ok::<_, DoOverError<()>>(clock.now().since_origin())
    /// }));
    /// assert_eq!(call(), Ok(Duration::ZERO));
    /// // No token left: instead of a rejection, the call waits for the next one.
    /// assert_eq!(call(), Ok(Duration::from_secs(1)));
    /// ```
    pub fn with_max_wait(mut self, d: Duration) -> Self {
        self.max_wait = (!d.is_zero()).then_some(d);
        let limit = self.limit.load(Ordering::Relaxed);
        let span = self
            .span
            .load(Ordering::Relaxed)
            .max(limit + duration_ticks(d));
        self.span = AtomicUsize::new(span);
        self
    }

    /// Moves the limiter onto another timer (for instance `&ManualClock` in a test). The
    /// limiter's state is in that timer's ticks: move it before use.
    pub fn with_timer<T2: Timer>(self, timer: T2) -> RateLimiter<T2> {
        let now = tick(timer.now());
        RateLimiter {
            timer,
            tat: AtomicUsize::new(now),
            emission: self.emission,
            limit: self.limit,
            capacity: self.capacity,
            max_wait: self.max_wait,
            span: self.span,
        }
    }

    /// The burst capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Runs `op` under this limiter, returning the named future.
    pub fn call<F, Fut>(&self, op: F) -> RateLimitFuture<'_, T, F, Fut>
    where
        T: Timer,
        F: Fn() -> Fut,
    {
        RateLimitFuture::new(self, op)
    }
}

crate::policy::timer_policy!(RateLimiter);

/// One limiter per key (client, endpoint), bounded by capacity with least-recently-used
/// eviction (`alloc`).
#[cfg(feature = "alloc")]
pub type KeyedRateLimiter<K, L, M> = crate::keyed::Keyed<K, L, M>;

crate::observe::observe_on_own_timer!(RateLimiter);
