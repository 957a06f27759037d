//! # do-over-core
//!
//! The `#![no_std]`, runtime-agnostic core of [do-over](https://docs.rs/do-over): every
//! resilience policy, the [`Policy`](policy::Policy) trait, errors, backoff and jitter, the
//! time traits and a manual test clock. No policy allocates on its call path, reads a
//! global clock, or reads a global random number generator.
//!
//! Most applications depend on the `do-over` facade, which binds these policies to a
//! runtime's timer (Tokio by default). Depend on this crate directly for firmware or a
//! runtime of your own: implement [`Timer`](time::Timer) and pass it to each policy.
//!
//! ```
//! use core::time::Duration;
//! use do_over_core::error::DoOverError;
//! use do_over_core::policy::Policy;
//! use do_over_core::retry::RetryPolicy;
//! use do_over_core::time::ManualClock;
//! use do_over_core::timeout::TimeoutPolicy;
//! use do_over_core::wrap::Wrap;
//!
//! let clock = ManualClock::new();
//! let policy = Wrap::new(
//!     RetryPolicy::fixed_with_timer(3, Duration::from_millis(100), &clock),
//!     TimeoutPolicy::new_with_timer(Duration::from_secs(5), &clock),
//! );
//! let out = clock.run(policy.execute(|| async { Ok::<_, DoOverError<()>>(42) }));
//! assert_eq!(out, Ok(42));
//! ```
//!
//! ## Sharing a policy on firmware
//!
//! Policies are lock-free on their fast paths, but a few rare transitions (a breaker opening,
//! a time-window bucket being recycled, the bulkhead's queue, the manual clock) spin for a
//! handful of instructions until another thread finishes its update. On a single core with
//! priority-preemptive executors (Embassy's `InterruptExecutor`, RTIC), do not share one policy
//! between tasks of different priorities: a higher-priority task that preempts a lower one
//! inside such a window would spin forever. Tasks of one priority (one executor) are fine.
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `alloc` | `keyed::Keyed`: one policy per key (per-endpoint breakers, per-client limiters) |
//! | `std` | `FromRejection` for `std::io::Error` and boxed errors; OS-seeded jitter by default |
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod budget;
pub mod bulkhead;
pub mod circuit_breaker;
pub mod error;
pub mod fallback;
pub mod hedge;
#[cfg(feature = "alloc")]
pub mod keyed;
pub mod observe;
pub mod policy;
pub mod random;
pub mod rate_limit;
pub mod retry;
pub mod spawn;
pub(crate) mod sync;
pub mod time;
pub mod timeout;
pub mod wrap;

/// The names most code needs: `use do_over_core::prelude::*;`.
pub mod prelude {
    pub use crate::bulkhead::Bulkhead;
    pub use crate::circuit_breaker::{CircuitBreaker, CircuitState};
    pub use crate::error::{DoOverError, FromRejection, Rejection};
    pub use crate::policy::{LocalPolicy, Policy};
    pub use crate::rate_limit::RateLimiter;
    pub use crate::retry::RetryPolicy;
    pub use crate::time::{Clock, Instant, Timer};
    pub use crate::timeout::TimeoutPolicy;
    pub use crate::wrap::{Compose, Wrap};
}
