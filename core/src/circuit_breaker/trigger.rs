//! What opens a closed breaker: consecutive failures, or a failure (or slow-call) ratio over
//! a sliding time window or over the last N calls.

use core::time::Duration;

use crate::error::ConfigError;
use crate::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use crate::sync::spin_wait;
use crate::time::{Instant, saturating_nanos};

/// How one call admitted while the breaker was closed ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The failure predicate counted it as a failure.
    pub failure: bool,
    /// It took at least the slow-call threshold.
    pub slow: bool,
}

/// The counts a trigger bases its decision on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct WindowStats {
    /// Calls recorded in the window (0 for [`Consecutive`], which keeps no window).
    pub calls: u32,
    /// Failures recorded in the window.
    pub failures: u32,
    /// Slow calls recorded in the window.
    pub slow_calls: u32,
    /// Failures since the last success ([`Consecutive`] only).
    pub consecutive_failures: u32,
}

impl WindowStats {
    /// `failures / calls`, or 0 with no calls.
    pub fn failure_ratio(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// `slow_calls / calls`, or 0 with no calls.
    pub fn slow_call_ratio(&self) -> f64 {
        ratio(self.slow_calls, self.calls)
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// Decides when a closed breaker opens. Implemented by [`Consecutive`], [`TimeWindow`] and
/// [`CountWindow`].
///
/// Implementations are shared by all callers (`&self`) and must be lock-free or close to it:
/// `record` runs on every call's completion.
pub trait Trigger {
    /// Whether [`record`](Trigger::record) and [`stats`](Trigger::stats) need the current
    /// time. When false (and no slow-call threshold is set) the closed path never reads the
    /// clock.
    fn needs_clock(&self) -> bool {
        false
    }

    /// Calls at least this long are slow.
    fn slow_call_threshold(&self) -> Option<Duration> {
        None
    }

    /// Records the outcome of a call admitted while closed; `true` means "open now".
    fn record(&self, outcome: Outcome, now: Instant) -> bool;

    /// Forgets every recorded outcome: a new closed period begins.
    fn reset(&self);

    /// The current counts.
    fn stats(&self, now: Instant) -> WindowStats;
}

/// The settings every trigger is built from (validated by [`BuildTrigger`]).
#[derive(Copy, Clone, Debug, PartialEq)]
#[doc(hidden)]
pub struct TriggerSettings {
    pub consecutive_failures: u32,
    pub failure_ratio: f64,
    pub sampling_window: Duration,
    pub minimum_throughput: u32,
    pub slow_call: Option<(Duration, f64)>,
}

/// Builds a trigger from validated settings.
#[doc(hidden)]
pub trait BuildTrigger: Trigger + Sized {
    fn build(settings: &TriggerSettings) -> Result<Self, ConfigError>;
}

/// Opens after `threshold` failures in a row; any success resets the count. Needs neither
/// the clock nor any window storage.
#[derive(Debug)]
pub struct Consecutive {
    threshold: u32,
    failures: AtomicU32,
}

impl Consecutive {
    /// Opens after `threshold` consecutive failures.
    pub fn new(threshold: u32) -> Self {
        Consecutive {
            threshold,
            failures: AtomicU32::new(0),
        }
    }
}

impl Trigger for Consecutive {
    #[inline]
    fn record(&self, outcome: Outcome, _now: Instant) -> bool {
        if outcome.failure {
            self.failures
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1)
                >= self.threshold
        } else {
            // Read first: a success on a healthy breaker then writes nothing (no cache-line
            // ping-pong between threads on the happy path).
            if self.failures.load(Ordering::Relaxed) != 0 {
                self.failures.store(0, Ordering::Relaxed);
            }
            false
        }
    }

    fn reset(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    fn stats(&self, _now: Instant) -> WindowStats {
        WindowStats {
            consecutive_failures: self.failures.load(Ordering::Relaxed),
            ..WindowStats::default()
        }
    }
}

impl BuildTrigger for Consecutive {
    fn build(s: &TriggerSettings) -> Result<Self, ConfigError> {
        if s.consecutive_failures == 0 {
            return Err(ConfigError::new("failure_threshold", "must be at least 1"));
        }
        if s.slow_call.is_some() {
            return Err(ConfigError::new(
                "slow_call_ratio",
                "needs a failure-ratio window (failure_ratio or count_window)",
            ));
        }
        Ok(Consecutive::new(s.consecutive_failures))
    }
}

fn check_ratio(name: &'static str, r: f64) -> Result<(), ConfigError> {
    if r > 0.0 && r <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::new(name, "must be in (0, 1]"))
    }
}

fn check_slow(slow: Option<(Duration, f64)>) -> Result<(), ConfigError> {
    if let Some((threshold, r)) = slow {
        if threshold.is_zero() {
            return Err(ConfigError::new(
                "slow_call_threshold",
                "must be greater than 0",
            ));
        }
        check_ratio("slow_call_ratio", r)?;
    }
    Ok(())
}

/// Whether the counts call for opening.
fn trips(stats: &WindowStats, min: u32, failure_ratio: f64, slow: Option<(Duration, f64)>) -> bool {
    stats.calls >= min
        && (stats.failure_ratio() >= failure_ratio
            || slow.is_some_and(|(_, r)| stats.slow_call_ratio() >= r))
}

/// Number of buckets a [`TimeWindow`] is split into.
pub const TIME_WINDOW_BUCKETS: usize = 10;

const RESETTING: usize = usize::MAX;
/// Epochs live in the low bits; differences are taken modulo this mask, so comparisons stay
/// right when the epoch counter wraps (on 32-bit targets, after years).
const EPOCH_MASK: usize = usize::MAX >> 1;

/// `a - b` modulo the epoch space.
fn epoch_diff(a: usize, b: usize) -> usize {
    a.wrapping_sub(b) & EPOCH_MASK
}

struct Bucket {
    epoch: AtomicUsize,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            epoch: AtomicUsize::new(RESETTING - 1),
            calls: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            slow: AtomicU32::new(0),
        }
    }
}

/// Opens when, over the last `sampling_window` (a sliding window of
/// [`TIME_WINDOW_BUCKETS`] buckets), at least `minimum_throughput` calls were recorded and the
/// failure ratio (or the slow-call ratio, if configured) reached its threshold. Polly's
/// defaults are a ratio of 0.1 over 30 s with a minimum throughput of 100.
///
/// Lock-free: each bucket is a few atomics stamped with the time slice it counts; the first
/// caller into a new slice recycles the bucket. Counts are exact unless a thread stalls for a
/// whole bucket between reading the clock and recording, in which case its call lands in
/// the next slice.
pub struct TimeWindow {
    failure_ratio: f64,
    minimum_throughput: u32,
    slow: Option<(Duration, f64)>,
    bucket_nanos: u64,
    buckets: [Bucket; TIME_WINDOW_BUCKETS],
}

impl core::fmt::Debug for TimeWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TimeWindow")
            .field("failure_ratio", &self.failure_ratio)
            .field("minimum_throughput", &self.minimum_throughput)
            .field("slow", &self.slow)
            .field(
                "sampling_window",
                &Duration::from_nanos(self.bucket_nanos * TIME_WINDOW_BUCKETS as u64),
            )
            .finish()
    }
}

impl TimeWindow {
    fn epoch(&self, now: Instant) -> usize {
        // Truncation on 32-bit targets only aliases slices 2^31 buckets apart.
        ((now.as_nanos() / self.bucket_nanos) as usize) & EPOCH_MASK
    }
}

impl Trigger for TimeWindow {
    fn needs_clock(&self) -> bool {
        true
    }

    fn slow_call_threshold(&self) -> Option<Duration> {
        self.slow.map(|(d, _)| d)
    }

    fn record(&self, outcome: Outcome, now: Instant) -> bool {
        let e = self.epoch(now);
        let b = &self.buckets[e % TIME_WINDOW_BUCKETS];
        loop {
            let cur = b.epoch.load(Ordering::Acquire);
            if cur == RESETTING {
                spin_wait();
                continue;
            }
            // Newer or equal stamp: count here. (A newer stamp means our clock read is
            // slightly stale; the call lands in the current slice.)
            if cur == e || (cur != RESETTING - 1 && epoch_diff(cur, e) < EPOCH_MASK / 2) {
                break;
            }
            if b.epoch
                .compare_exchange(cur, RESETTING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                b.calls.store(0, Ordering::Relaxed);
                b.failures.store(0, Ordering::Relaxed);
                b.slow.store(0, Ordering::Relaxed);
                b.epoch.store(e, Ordering::Release);
                break;
            }
        }
        b.calls.fetch_add(1, Ordering::Relaxed);
        if outcome.failure {
            b.failures.fetch_add(1, Ordering::Relaxed);
        }
        if outcome.slow {
            b.slow.fetch_add(1, Ordering::Relaxed);
        }
        if !outcome.failure && !outcome.slow {
            return false; // a success cannot raise a ratio
        }
        trips(
            &self.stats(now),
            self.minimum_throughput,
            self.failure_ratio,
            self.slow,
        )
    }

    fn reset(&self) {
        for b in &self.buckets {
            // Stamp as "never used" so the next record recycles it.
            loop {
                let cur = b.epoch.load(Ordering::Acquire);
                if cur == RESETTING {
                    spin_wait();
                    continue;
                }
                if b.epoch
                    .compare_exchange(cur, RESETTING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    b.calls.store(0, Ordering::Relaxed);
                    b.failures.store(0, Ordering::Relaxed);
                    b.slow.store(0, Ordering::Relaxed);
                    b.epoch.store(RESETTING - 1, Ordering::Release);
                    break;
                }
            }
        }
    }

    fn stats(&self, now: Instant) -> WindowStats {
        let e = self.epoch(now);
        let mut s = WindowStats::default();
        for b in &self.buckets {
            let stamp = b.epoch.load(Ordering::Acquire);
            if stamp >= RESETTING - 1 || epoch_diff(e, stamp) >= TIME_WINDOW_BUCKETS {
                continue; // unused, being recycled, or older than the window
            }
            s.calls = s.calls.saturating_add(b.calls.load(Ordering::Relaxed));
            s.failures = s
                .failures
                .saturating_add(b.failures.load(Ordering::Relaxed));
            s.slow_calls = s.slow_calls.saturating_add(b.slow.load(Ordering::Relaxed));
        }
        s
    }
}

impl BuildTrigger for TimeWindow {
    fn build(s: &TriggerSettings) -> Result<Self, ConfigError> {
        check_ratio("failure_ratio", s.failure_ratio)?;
        if s.sampling_window.is_zero() {
            return Err(ConfigError::new(
                "sampling_window",
                "must be greater than 0",
            ));
        }
        if s.minimum_throughput == 0 {
            return Err(ConfigError::new("minimum_throughput", "must be at least 1"));
        }
        check_slow(s.slow_call)?;
        let bucket_nanos =
            (saturating_nanos(s.sampling_window) / TIME_WINDOW_BUCKETS as u64).max(1);
        Ok(TimeWindow {
            failure_ratio: s.failure_ratio,
            minimum_throughput: s.minimum_throughput,
            slow: s.slow_call,
            bucket_nanos,
            buckets: core::array::from_fn(|_| Bucket::new()),
        })
    }
}

const SLOT_USED: u8 = 1;
const SLOT_FAILED: u8 = 2;
const SLOT_SLOW: u8 = 4;

/// Opens when, over the last `N` calls, at least `minimum_throughput` were recorded and the
/// failure ratio (or slow-call ratio) reached its threshold. The window is `N` bytes inline
/// (no allocation); recording is one `fetch_add` and one `swap` plus counter updates.
pub struct CountWindow<const N: usize> {
    failure_ratio: f64,
    minimum_throughput: u32,
    slow: Option<(Duration, f64)>,
    next: AtomicUsize,
    slots: [AtomicU8; N],
    calls: AtomicU32,
    failures: AtomicU32,
    slow_calls: AtomicU32,
}

impl<const N: usize> core::fmt::Debug for CountWindow<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CountWindow")
            .field("size", &N)
            .field("failure_ratio", &self.failure_ratio)
            .field("minimum_throughput", &self.minimum_throughput)
            .field("slow", &self.slow)
            .finish()
    }
}

impl<const N: usize> Trigger for CountWindow<N> {
    fn slow_call_threshold(&self) -> Option<Duration> {
        self.slow.map(|(d, _)| d)
    }

    fn record(&self, outcome: Outcome, _now: Instant) -> bool {
        let mut new = SLOT_USED;
        if outcome.failure {
            new |= SLOT_FAILED;
        }
        if outcome.slow {
            new |= SLOT_SLOW;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % N;
        let old = self.slots[i].swap(new, Ordering::AcqRel);
        if old & SLOT_USED == 0 {
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
        for (bit, counter) in [(SLOT_FAILED, &self.failures), (SLOT_SLOW, &self.slow_calls)] {
            match (old & bit != 0, new & bit != 0) {
                (false, true) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                (true, false) => {
                    counter.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        if !outcome.failure && !outcome.slow {
            return false;
        }
        trips(
            &self.stats(_now),
            self.minimum_throughput,
            self.failure_ratio,
            self.slow,
        )
    }

    fn reset(&self) {
        for s in &self.slots {
            let old = s.swap(0, Ordering::AcqRel);
            if old & SLOT_USED != 0 {
                self.calls.fetch_sub(1, Ordering::Relaxed);
            }
            if old & SLOT_FAILED != 0 {
                self.failures.fetch_sub(1, Ordering::Relaxed);
            }
            if old & SLOT_SLOW != 0 {
                self.slow_calls.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn stats(&self, _now: Instant) -> WindowStats {
        // Counters can be momentarily out of step under concurrency; clamp for sanity.
        let calls = self.calls.load(Ordering::Relaxed).min(N as u32);
        WindowStats {
            calls,
            failures: self.failures.load(Ordering::Relaxed).min(calls),
            slow_calls: self.slow_calls.load(Ordering::Relaxed).min(calls),
            consecutive_failures: 0,
        }
    }
}

impl<const N: usize> BuildTrigger for CountWindow<N> {
    fn build(s: &TriggerSettings) -> Result<Self, ConfigError> {
        if N == 0 || N > u32::MAX as usize {
            return Err(ConfigError::new(
                "count_window",
                "size must be between 1 and u32::MAX",
            ));
        }
        check_ratio("failure_ratio", s.failure_ratio)?;
        if s.minimum_throughput == 0 {
            return Err(ConfigError::new("minimum_throughput", "must be at least 1"));
        }
        if s.minimum_throughput as usize > N {
            return Err(ConfigError::new(
                "minimum_throughput",
                "must not exceed the window size",
            ));
        }
        check_slow(s.slow_call)?;
        Ok(CountWindow {
            failure_ratio: s.failure_ratio,
            minimum_throughput: s.minimum_throughput,
            slow: s.slow_call,
            next: AtomicUsize::new(0),
            slots: core::array::from_fn(|_| AtomicU8::new(0)),
            calls: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            slow_calls: AtomicU32::new(0),
        })
    }
}
