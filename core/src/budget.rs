//! A retry budget shared across calls, so that an outage cannot multiply the load on a
//! dependency: retries (and hedges) spend tokens that successful calls earn.
//!
//! # Semantics (Finagle's and tower's `TpsBudget`)
//!
//! * Every successful call [`deposit`](RetryBudget::deposit)s one unit; each retry or hedge
//!   [`withdraw`](RetryBudget::withdraw)s `1 / retry_ratio` units. So with `retry_ratio = 0.2`
//!   at most one retry is made for every five successful calls. As in tower, the cost is an
//!   integer: for ratios up to 1 it is `1 / retry_ratio` rounded down, so 0.6 behaves like
//!   1.0 and 0.3 like 1/3; pick ratios of the form `1/n` for exact budgets.
//! * Deposits expire after `ttl` (a sliding window of [`BUDGET_SLOTS`] slots).
//! * A floor of `min_per_sec` retries per second is always allowed (a reserve of
//!   `min_per_sec · ttl` retries), so a low-traffic client can still retry.
//! * When the budget is empty the retry policy gives up and returns the *last error*; its
//!   [`OnRetry`](crate::retry::OnRetry) hook hears a
//!   [`RetryEventKind::BudgetExhausted`](crate::retry::RetryEventKind::BudgetExhausted) event.
//!
//! Lock-free: each slot is an atomic counter stamped with its time slice; the balance check
//! and the withdrawal are two atomic steps, so concurrent withdrawals can overdraw by at most
//! one retry each. Time comes from the budget's [`Timer`]; no allocation.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::budget::{RetryBudget, TpsBudget};
//! use do_over_core::time::ManualClock;
//!
//! let clock = ManualClock::new();
//! // No floor, one retry per two successes, deposits kept 10 s.
//! let budget = TpsBudget::new_with_timer(Duration::from_secs(10), 0, 0.5, &clock);
//! assert!(!budget.withdraw()); // nothing earned yet
//! budget.deposit();
//! budget.deposit();
//! assert!(budget.withdraw());
//! assert!(!budget.withdraw());
//! ```

use core::time::Duration;

use crate::error::{ConfigError, expect_valid};
use crate::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use crate::sync::spin_wait;
use crate::time::{Instant, Timer, saturating_nanos};

/// Something retries and hedges draw from.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use core::time::Duration;
/// use do_over_core::budget::RetryBudget;
/// use do_over_core::policy::Policy;
/// use do_over_core::retry::RetryPolicy;
/// use do_over_core::time::ManualClock;
///
/// /// A fixed number of retries for the program's whole life.
/// struct Tickets(AtomicU32);
/// impl RetryBudget for Tickets {
///     fn deposit(&self) {}
///     fn withdraw(&self) -> bool {
///         self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
///     }
/// }
///
/// let clock = ManualClock::new();
/// let tickets = Tickets(AtomicU32::new(1));
/// let retry = RetryPolicy::fixed_with_timer(5, Duration::from_millis(10), &clock)
///     .with_budget(&tickets);
/// let calls = AtomicU32::new(0);
/// let _ = clock.run(retry.execute(|| async {
///     calls.fetch_add(1, Ordering::Relaxed);
///     Err::<(), _>("down")
/// }));
/// assert_eq!(calls.load(Ordering::Relaxed), 2); // one retry, then no tickets left
/// ```
pub trait RetryBudget {
    /// Records a successful call.
    fn deposit(&self);
    /// Takes the cost of one retry; `false` if the budget cannot afford it.
    fn withdraw(&self) -> bool;
}

/// No budget: every retry is allowed (the default).
#[derive(Copy, Clone, Debug, Default)]
pub struct Unlimited;

impl RetryBudget for Unlimited {
    #[inline]
    fn deposit(&self) {}
    #[inline]
    fn withdraw(&self) -> bool {
        true
    }
}

impl<B: RetryBudget + ?Sized> RetryBudget for &B {
    fn deposit(&self) {
        (**self).deposit()
    }
    fn withdraw(&self) -> bool {
        (**self).withdraw()
    }
}

#[cfg(feature = "alloc")]
impl<B: RetryBudget + ?Sized> RetryBudget for alloc::sync::Arc<B> {
    fn deposit(&self) {
        (**self).deposit()
    }
    fn withdraw(&self) -> bool {
        (**self).withdraw()
    }
}

/// Slots in a [`TpsBudget`]'s sliding window.
pub const BUDGET_SLOTS: usize = 10;

const RECYCLING: usize = usize::MAX;
const UNUSED: usize = usize::MAX - 1;
/// Epochs live in the low bits; differences are taken modulo this mask, so the comparison
/// stays right when the epoch counter wraps (on 32-bit targets, after years).
const EPOCH_MASK: usize = usize::MAX >> 2;

/// `a - b` modulo the epoch space.
fn epoch_diff(a: usize, b: usize) -> usize {
    a.wrapping_sub(b) & EPOCH_MASK
}

struct Slot {
    epoch: AtomicUsize,
    balance: AtomicI32,
}

/// The Finagle/tower retry budget, lock-free. See the [module docs](self).
///
/// ```
/// use core::time::Duration;
/// use do_over_core::budget::{RetryBudget, TpsBudget};
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// // A floor of 1 retry per second over a 10 s window: 10 retries in reserve.
/// let budget = TpsBudget::new_with_timer(Duration::from_secs(10), 1, 0.5, &clock);
/// assert_eq!((0..20).filter(|_| budget.withdraw()).count(), 10);
/// budget.deposit();
/// budget.deposit(); // two successes buy one retry at a ratio of 0.5
/// assert!(budget.withdraw());
/// assert!(!budget.withdraw());
/// clock.advance(Duration::from_secs(10)); // that window's spending has expired
/// assert!(budget.withdraw());
/// ```
pub struct TpsBudget<T> {
    timer: T,
    slot_nanos: u64,
    deposit_amount: i32,
    withdraw_amount: i32,
    reserve: i64,
    slots: [Slot; BUDGET_SLOTS],
}

impl<T: core::fmt::Debug> core::fmt::Debug for TpsBudget<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TpsBudget")
            .field(
                "ttl",
                &Duration::from_nanos(self.slot_nanos * BUDGET_SLOTS as u64),
            )
            .field("deposit_amount", &self.deposit_amount)
            .field("withdraw_amount", &self.withdraw_amount)
            .field("reserve", &self.reserve)
            .field("timer", &self.timer)
            .finish()
    }
}

impl<T: Timer + Default> TpsBudget<T> {
    /// A budget keeping deposits for `ttl` (1 s to 60 s), always allowing `min_per_sec`
    /// retries per second, and otherwise `retry_ratio` retries per successful call (0 to 1000).
    ///
    /// # Panics
    /// On values outside those ranges; [`TpsBudget::try_new`] returns a [`ConfigError`].
    #[track_caller]
    pub fn new(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Self {
        expect_valid(
            "TpsBudget::new",
            Self::try_new(ttl, min_per_sec, retry_ratio),
        )
    }

    /// [`new`](TpsBudget::new), returning an error for bad input.
    ///
    /// # Errors
    /// [`ConfigError`] naming `ttl` or `retry_ratio`.
    pub fn try_new(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Result<Self, ConfigError> {
        Self::try_new_with_timer(ttl, min_per_sec, retry_ratio, T::default())
    }
}

impl<T: Timer> TpsBudget<T> {
    /// [`new`](TpsBudget::new) on the given timer.
    #[track_caller]
    pub fn new_with_timer(ttl: Duration, min_per_sec: u32, retry_ratio: f32, timer: T) -> Self {
        expect_valid(
            "TpsBudget::new",
            Self::try_new_with_timer(ttl, min_per_sec, retry_ratio, timer),
        )
    }

    /// [`try_new`](TpsBudget::try_new) on the given timer.
    ///
    /// # Errors
    /// [`ConfigError`] naming `ttl` or `retry_ratio`.
    pub fn try_new_with_timer(
        ttl: Duration,
        min_per_sec: u32,
        retry_ratio: f32,
        timer: T,
    ) -> Result<Self, ConfigError> {
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(60) {
            return Err(ConfigError::new("ttl", "must be between 1 s and 60 s"));
        }
        if !(retry_ratio.is_finite() && (0.0..=1000.0).contains(&retry_ratio)) {
            return Err(ConfigError::new(
                "retry_ratio",
                "must be between 0 and 1000",
            ));
        }
        // Integer units, as tower does: a deposit is worth 1 (or 1000 for ratios above 1),
        // a withdrawal 1/ratio of that.
        let (deposit_amount, withdraw_amount) = if retry_ratio == 0.0 {
            (0, 1)
        } else if retry_ratio <= 1.0 {
            (1, (1.0 / retry_ratio) as i32)
        } else {
            (1000, (1000.0 / retry_ratio) as i32)
        };
        let reserve = i64::from(min_per_sec)
            .saturating_mul(ttl.as_secs() as i64)
            .saturating_mul(i64::from(withdraw_amount));
        Ok(TpsBudget {
            timer,
            slot_nanos: (saturating_nanos(ttl) / BUDGET_SLOTS as u64).max(1),
            deposit_amount,
            withdraw_amount: withdraw_amount.max(1),
            reserve,
            slots: core::array::from_fn(|_| Slot {
                epoch: AtomicUsize::new(UNUSED),
                balance: AtomicI32::new(0),
            }),
        })
    }

    fn epoch(&self, now: Instant) -> usize {
        ((now.as_nanos() / self.slot_nanos) as usize) & EPOCH_MASK
    }

    /// The slot for the current time slice, recycled if it holds an older one.
    fn current(&self, e: usize) -> &Slot {
        let s = &self.slots[e % BUDGET_SLOTS];
        loop {
            let cur = s.epoch.load(Ordering::Acquire);
            if cur == e {
                return s;
            }
            if cur == RECYCLING {
                spin_wait();
                continue;
            }
            if cur != UNUSED && cur != e && epoch_diff(cur, e) < EPOCH_MASK / 2 {
                return s; // a newer slice already owns it: our clock read is slightly stale
            }
            if s.epoch
                .compare_exchange(cur, RECYCLING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                s.balance.store(0, Ordering::Relaxed);
                s.epoch.store(e, Ordering::Release);
                return s;
            }
        }
    }

    /// The balance over the window, including the reserve, in the budget's internal units:
    /// a deposit adds 1 (1000 when `retry_ratio` is above 1) and a retry costs about
    /// `1 / retry_ratio` times that, so this is not a count of affordable retries.
    pub fn balance(&self) -> i64 {
        self.balance_at(self.epoch(self.timer.now()))
    }

    fn balance_at(&self, e: usize) -> i64 {
        let live: i64 = self
            .slots
            .iter()
            .filter(|s| {
                let stamp = s.epoch.load(Ordering::Acquire);
                stamp < UNUSED && epoch_diff(e, stamp) < BUDGET_SLOTS
            })
            .map(|s| i64::from(s.balance.load(Ordering::Relaxed)))
            .sum();
        live + self.reserve
    }
}

impl<T: Timer> RetryBudget for TpsBudget<T> {
    fn deposit(&self) {
        if self.deposit_amount != 0 {
            let e = self.epoch(self.timer.now());
            // Saturating: a slot cannot wrap to a huge debt under very high throughput.
            let amount = self.deposit_amount;
            let _ =
                self.current(e)
                    .balance
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                        Some(b.saturating_add(amount))
                    });
        }
    }

    fn withdraw(&self) -> bool {
        let e = self.epoch(self.timer.now());
        if self.balance_at(e) < i64::from(self.withdraw_amount) {
            return false;
        }
        let amount = self.withdraw_amount;
        let _ = self
            .current(e)
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(amount))
            });
        true
    }
}
