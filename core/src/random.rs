//! Injectable, seedable randomness for jitter.
//!
//! Policies never read a global random number generator. A policy that jitters holds a
//! [`Random`] source; the default, [`SeededRandom`], is a lock-free generator that can be
//! seeded for reproducible tests.

use portable_atomic::{AtomicU32, Ordering};

/// A source of uniformly distributed random numbers, shared by all calls of a policy.
///
/// Implement it to use the platform's generator, or to pin jitter down in a test:
///
/// ```
/// use core::time::Duration;
/// use do_over_core::policy::Policy;
/// use do_over_core::random::Random;
/// use do_over_core::retry::{Jitter, RetryBuilder};
/// use do_over_core::time::{Clock, ManualClock};
///
/// /// Always the middle of the range.
/// struct Midpoint;
/// impl Random for Midpoint {
///     fn next_u32(&self) -> u32 {
///         1 << 31
///     }
/// }
/// assert_eq!(Midpoint.next_f64(), 0.5);
///
/// let clock = ManualClock::new();
/// let retry = RetryBuilder::new(&clock).max_retries(1).fixed(Duration::from_millis(100))
///     .jitter(Jitter::Full).build().unwrap()
///     .with_random(Midpoint);
/// let _ = clock.run(retry.execute(|| async { Err::<(), ()>(()) }));
/// assert_eq!(clock.now().since_origin(), Duration::from_millis(50)); // full jitter × 0.5
/// ```
pub trait Random {
    /// A uniformly distributed `u32`.
    fn next_u32(&self) -> u32;

    /// A uniformly distributed `f64` in `[0, 1)` (32 bits of resolution).
    fn next_f64(&self) -> f64 {
        f64::from(self.next_u32()) / 4_294_967_296.0
    }
}

impl<R: Random + ?Sized> Random for &R {
    fn next_u32(&self) -> u32 {
        (**self).next_u32()
    }
}

/// A small lock-free generator: a Weyl sequence on one `AtomicU32` passed through an
/// avalanche mix. Concurrent callers each get a distinct sequence element; there is no lock
/// and no 64-bit atomic, so it works the same on `thumbv6m`/`thumbv7em`.
///
/// Not cryptographic: it only spreads retry delays.
///
/// ```
/// use do_over_core::random::{Random, SeededRandom};
///
/// let a = SeededRandom::new(42);
/// let b = SeededRandom::new(42);
/// assert_eq!(a.next_u32(), b.next_u32()); // same seed, same sequence
/// assert!((0.0..1.0).contains(&a.next_f64()));
/// ```
#[derive(Debug)]
pub struct SeededRandom {
    state: AtomicU32,
}

const GOLDEN_GAMMA: u32 = 0x9E37_79B9;

impl SeededRandom {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u32) -> Self {
        SeededRandom {
            state: AtomicU32::new(seed),
        }
    }

    /// A generator seeded from the operating system's randomness (via `std`'s hasher
    /// keys), so that processes do not jitter in lockstep.
    #[cfg(feature = "std")]
    pub fn from_entropy() -> Self {
        extern crate std;
        use core::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(0x5eed);
        let x = h.finish();
        SeededRandom::new((x ^ (x >> 32)) as u32)
    }
}

impl Default for SeededRandom {
    /// With the `std` feature: `SeededRandom::from_entropy`. Without it there is no entropy
    /// source, so the seed is a fixed constant: give each device its own seed (a chip ID,
    /// say) with [`SeededRandom::new`] so a fleet does not retry in lockstep.
    fn default() -> Self {
        #[cfg(feature = "std")]
        {
            SeededRandom::from_entropy()
        }
        #[cfg(not(feature = "std"))]
        {
            SeededRandom::new(0x2545_F491)
        }
    }
}

impl Random for SeededRandom {
    fn next_u32(&self) -> u32 {
        let x = self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        mix32(x)
    }
}

/// A 32-bit avalanche finalizer (xorshift-multiply, constants from Chris Wellons' hash
/// prospector "lowbias32").
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequences_repeat_and_differ_by_seed() {
        let (a, b, c) = (
            SeededRandom::new(1),
            SeededRandom::new(1),
            SeededRandom::new(2),
        );
        let xs: [u32; 4] = core::array::from_fn(|_| a.next_u32());
        let ys: [u32; 4] = core::array::from_fn(|_| b.next_u32());
        let zs: [u32; 4] = core::array::from_fn(|_| c.next_u32());
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn f64_is_roughly_uniform() {
        let r = SeededRandom::new(7);
        let mut buckets = [0u32; 10];
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            buckets[(x * 10.0) as usize] += 1;
        }
        for b in buckets {
            assert!((800..1200).contains(&b), "bucket count {b}");
        }
    }
}
