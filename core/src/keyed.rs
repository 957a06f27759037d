//! One policy per key (endpoint, tenant, shard), with a bound on how many are kept.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use crate::sync::SpinLock;

/// A registry of policies — circuit breakers, rate limiters — one per key, created on first
/// use and bounded to `capacity` keys: when a new key arrives and the registry is full, the
/// least recently used key is evicted (its policy lives on for callers still holding it, and
/// a later call for that key starts a fresh one). Needs the `alloc` feature.
///
/// Lookups take a short spin lock around a `BTreeMap` (no allocation for a known key; one
/// for a new key). The policies themselves stay lock-free.
///
/// ```
/// use core::time::Duration;
/// use do_over_core::circuit_breaker::{CircuitBreaker, CircuitState};
/// use do_over_core::keyed::Keyed;
/// use do_over_core::error::DoOverError;
/// use do_over_core::policy::Policy;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let breakers = Keyed::new(1000, || {
///     CircuitBreaker::new_with_timer(1, Duration::from_secs(10), &clock)
/// });
/// let b = breakers.get(&"payments.internal");
/// let _ = clock.run(b.execute(|| async { Err::<(), _>(DoOverError::Inner("down")) }));
/// assert_eq!(breakers.get(&"payments.internal").state(), CircuitState::Open);
/// assert_eq!(breakers.get(&"search.internal").state(), CircuitState::Closed);
/// ```
pub struct Keyed<K, B, M> {
    make: M,
    capacity: usize,
    inner: SpinLock<Registry<K, B>>,
}

struct Registry<K, B> {
    tick: u64,
    entries: BTreeMap<K, (Arc<B>, u64)>,
}

impl<K: Ord + Clone, B, M: Fn() -> B> Keyed<K, B, M> {
    /// A registry keeping at most `capacity` keys, creating policies with `make`.
    ///
    /// # Panics
    /// If `capacity` is 0.
    #[track_caller]
    pub fn new(capacity: usize, make: M) -> Self {
        assert!(
            capacity > 0,
            "Keyed::new: invalid `capacity`: must be at least 1"
        );
        Keyed {
            make,
            capacity,
            inner: SpinLock::new(Registry {
                tick: 0,
                entries: BTreeMap::new(),
            }),
        }
    }

    /// The policy for `key`, created if absent (evicting the least recently used key when
    /// full).
    pub fn get(&self, key: &K) -> Arc<B> {
        {
            let mut r = self.inner.lock();
            r.tick += 1;
            let tick = r.tick;
            if let Some((b, used)) = r.entries.get_mut(key) {
                *used = tick;
                return b.clone();
            }
        }
        // Build outside the lock: `make` is user code.
        let fresh = Arc::new((self.make)());
        let mut r = self.inner.lock();
        r.tick += 1;
        let tick = r.tick;
        if let Some((b, used)) = r.entries.get_mut(key) {
            *used = tick; // another caller inserted it meanwhile
            return b.clone();
        }
        if r.entries.len() >= self.capacity {
            let lru = r
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = lru {
                r.entries.remove(&k);
            }
        }
        r.entries.insert(key.clone(), (fresh.clone(), tick));
        fresh
    }

    /// Forgets `key`'s policy.
    pub fn remove(&self, key: &K) -> Option<Arc<B>> {
        self.inner.lock().entries.remove(key).map(|(b, _)| b)
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys kept at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<K, B, M> core::fmt::Debug for Keyed<K, B, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keyed")
            .field("capacity", &self.capacity)
            .field("len", &self.inner.lock().entries.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn evicts_the_least_recently_used_key_when_full() {
        let made = AtomicU32::new(0);
        let reg = Keyed::new(2, || made.fetch_add(1, Ordering::SeqCst));
        assert_eq!(*reg.get(&"a"), 0);
        assert_eq!(*reg.get(&"b"), 1);
        assert_eq!(*reg.get(&"a"), 0); // a is now more recent than b
        assert_eq!(*reg.get(&"c"), 2); // evicts b
        assert_eq!(reg.len(), 2);
        assert_eq!(*reg.get(&"a"), 0);
        assert_eq!(*reg.get(&"b"), 3, "b was evicted and starts fresh");
        assert!(reg.remove(&"a").is_some());
        assert_eq!(reg.len(), 1);
    }
}
