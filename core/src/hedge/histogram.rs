//! A fixed-size, lock-free latency histogram for the adaptive hedge delay.

use core::time::Duration;

use crate::sync::atomic::{AtomicU32, Ordering};
use crate::time::saturating_nanos;

const BUCKETS: usize = 40;
/// Counts are halved when the total passes this, so old samples fade.
const DECAY_AT: u32 = 1 << 14;

/// Latencies in power-of-two buckets from 1 µs (bucket `i` holds `[2^i, 2^(i+1))` µs), with
/// exponential decay: when the total reaches 16 384 samples, every count is halved. No
/// allocation, no lock.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::hedge::LatencyHistogram;
///
/// let h = LatencyHistogram::new();
/// assert_eq!(h.percentile(0.5), None);
/// for ms in [3, 3, 3, 40] {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.count(), 4);
/// // 3 ms lands in the [2048, 4096) µs bucket, 40 ms in [32768, 65536) µs.
/// assert_eq!(h.percentile(0.5), Some(Duration::from_micros(4_096)));
/// assert_eq!(h.percentile(0.99), Some(Duration::from_micros(65_536)));
/// ```
pub struct LatencyHistogram {
    buckets: [AtomicU32; BUCKETS],
    total: AtomicU32,
}

impl core::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram {
            buckets: core::array::from_fn(|_| AtomicU32::new(0)),
            total: AtomicU32::new(0),
        }
    }

    /// Records one latency.
    pub fn record(&self, latency: Duration) {
        let micros = (saturating_nanos(latency) / 1_000).max(1);
        let i = (63 - micros.leading_zeros() as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        if self.total.fetch_add(1, Ordering::Relaxed) + 1 >= DECAY_AT {
            let mut t = 0;
            for b in &self.buckets {
                let halved = b.load(Ordering::Relaxed) / 2;
                b.store(halved, Ordering::Relaxed);
                t += halved;
            }
            self.total.store(t, Ordering::Relaxed);
        }
    }

    /// Samples currently counted.
    pub fn count(&self) -> u32 {
        self.total.load(Ordering::Relaxed)
    }

    /// The upper edge of the bucket holding the `p`-th percentile (a conservative
    /// estimate), or `None` with no samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let counts: [u32; BUCKETS] =
            core::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        let total: u64 = counts.iter().map(|c| u64::from(*c)).sum();
        if total == 0 {
            return None;
        }
        let rank = libm::ceil(p * total as f64).max(1.0) as u64;
        let mut seen = 0u64;
        for (i, c) in counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(Duration::from_micros(1u64 << (i + 1)));
            }
        }
        Some(Duration::from_micros(1u64 << BUCKETS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_upper_edges() {
        let h = LatencyHistogram::new();
        assert_eq!(h.percentile(0.5), None);
        for _ in 0..90 {
            h.record(Duration::from_millis(10)); // bucket [8192, 16384) µs
        }
        for _ in 0..10 {
            h.record(Duration::from_secs(1)); // bucket [524288, 1048576) µs
        }
        assert_eq!(h.percentile(0.5), Some(Duration::from_micros(16_384)));
        assert_eq!(h.percentile(0.9), Some(Duration::from_micros(16_384)));
        assert_eq!(h.percentile(0.95), Some(Duration::from_micros(1_048_576)));
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn old_samples_decay() {
        let h = LatencyHistogram::new();
        for _ in 0..DECAY_AT {
            h.record(Duration::from_millis(1));
        }
        assert!(h.count() < DECAY_AT);
        assert!(h.count() >= DECAY_AT / 2 - 1);
    }
}
