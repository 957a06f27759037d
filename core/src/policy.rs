//! The [`Policy`] trait every resilience policy implements, and its single-threaded twin
//! [`LocalPolicy`].
//!
//! # Why two traits
//!
//! A policy's `execute` returns a future, and whether that future is `Send` decides where it
//! can run. Stable Rust cannot make the `Send`-ness of a trait method's returned future depend
//! on the caller's operation, and a policy stack returned as `impl Policy<E>` hides its
//! concrete types. So the choice is made once, in the trait:
//!
//! * [`Policy<E>`] has the reference shape (`F: Fn() -> Fut + Send + Sync`, `Fut: Send`) and
//!   *declares* its future `Send`. Any stack, however deep and however it is returned
//!   (`impl Policy<E> + Send + Sync + 'static`), can be awaited inside `tokio::spawn` or an
//!   axum handler.
//! * [`LocalPolicy<E>`] has the same semantics without any `Send` bound. It is for operations
//!   that are not `Send` — a `RefCell`-borrowed peripheral on Embassy, an `Rc` on a tokio
//!   `LocalSet` — and is called as `execute_local`.
//!
//! Every policy in this crate, and [`Wrap`](crate::wrap::Wrap), implements both; the same
//! policy value can serve both kinds of caller.
//!
//! # Zero allocation
//!
//! Neither trait boxes. Each policy's future is a named, pinned state machine that stores the
//! operation's future inline; `execute` keeps the caller's closure inside its own future and
//! hands every layer a reference to it, so a stack of any depth costs no heap allocation.
//!
//! # Implementing a policy
//!
//! Implement [`run`](Policy::run) (and [`run_local`](LocalPolicy::run_local)); `execute` is
//! provided. `run` receives the operation as a `Copy` closure (a shared reference to the
//! caller's closure, or an outer layer's adapter around one), which the policy may call any
//! number of times.
//!
//! ```
//! use core::future::Future;
//! use do_over_core::policy::Policy;
//!
//! /// Runs the operation once and counts the calls.
//! struct Counting(core::sync::atomic::AtomicUsize);
//!
//! impl<E: Send> Policy<E> for Counting {
//!     fn run<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>> + Send
//!     where
//!         F: Fn() -> Fut + Copy + Send + Sync,
//!         Fut: Future<Output = Result<T, E>> + Send,
//!         T: Send,
//!     {
//!         self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
//!         op()
//!     }
//! }
//!
//! // Also declare how often `run` calls the operation: adapters such as the tower layer
//! // rely on it (a `Once` policy's request is moved into its single attempt, not cloned).
//! // `Once` is a promise: claim it only if `run` never calls `op` twice.
//! impl do_over_core::policy::Attempts for Counting {
//!     type Kind = do_over_core::policy::Once;
//! }
//! ```

use core::future::Future;

/// A resilience policy: runs an async operation and shapes its outcome (retries it, bounds
/// its time, rejects it, ...).
///
/// Call [`execute`](Policy::execute) with a closure that creates the operation's future;
/// policies that re-run the operation (retry) call the closure again for each attempt.
///
/// The returned future is always `Send`, so policies and stacks of policies run inside
/// `tokio::spawn` and axum handlers. For operations that are not `Send`, use
/// [`LocalPolicy::execute_local`]. See the [module docs](self) for why there are two traits.
///
/// Dropping the returned future at any `.await` cancels the operation and releases
/// everything the policy held for it.
pub trait Policy<E>: Send + Sync {
    /// Runs `op` under this policy: the building block that [`execute`](Policy::execute) and
    /// composition ([`Wrap`](crate::wrap::Wrap)) use. `op` is `Copy`, so layers share it.
    fn run<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>> + Send
    where
        F: Fn() -> Fut + Copy + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send;

    /// Runs the operation created by `f` under this policy.
    ///
    /// ```
    /// use core::time::Duration;
    /// use do_over_core::policy::Policy;
    /// use do_over_core::retry::RetryPolicy;
    /// use do_over_core::time::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let retry = RetryPolicy::fixed_with_timer(2, Duration::from_millis(10), &clock);
    /// let out = clock.run(retry.execute(|| async { Ok::<_, std::io::Error>(7) }));
    /// assert_eq!(out.unwrap(), 7);
    /// ```
    fn execute<F, Fut, T>(&self, f: F) -> impl Future<Output = Result<T, E>> + Send
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        async move { self.run(&f).await }
    }
}

/// The single-threaded twin of [`Policy`]: the same semantics with no `Send` bounds, for
/// operations that are not `Send` (Embassy tasks, tokio `LocalSet`, `Rc`/`RefCell` state).
///
/// ```
/// use core::cell::Cell;
/// use core::time::Duration;
/// use do_over_core::policy::LocalPolicy;
/// use do_over_core::retry::RetryPolicy;
/// use do_over_core::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let retry = RetryPolicy::fixed_with_timer(3, Duration::from_millis(10), &clock);
/// let calls = Cell::new(0); // not Sync: its future is not Send
/// let out = clock.run(retry.execute_local(|| async {
///     calls.set(calls.get() + 1);
///     if calls.get() < 3 { Err("flaky") } else { Ok(calls.get()) }
/// }));
/// assert_eq!(out, Ok(3));
/// ```
pub trait LocalPolicy<E> {
    /// Runs `op` under this policy (see [`Policy::run`]).
    fn run_local<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<T, E>>;

    /// Runs the operation created by `f` under this policy (see [`Policy::execute`]).
    fn execute_local<F, Fut, T>(&self, f: F) -> impl Future<Output = Result<T, E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        async move { self.run_local(&f).await }
    }
}

impl<E, P: Policy<E> + ?Sized> Policy<E> for &P {
    fn run<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>> + Send
    where
        F: Fn() -> Fut + Copy + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        (**self).run(op)
    }
}

impl<E, P: LocalPolicy<E> + ?Sized> LocalPolicy<E> for &P {
    fn run_local<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<T, E>>,
    {
        (**self).run_local(op)
    }
}

#[cfg(feature = "alloc")]
impl<E, P: Policy<E> + ?Sized> Policy<E> for alloc::sync::Arc<P> {
    fn run<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>> + Send
    where
        F: Fn() -> Fut + Copy + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        (**self).run(op)
    }
}

#[cfg(feature = "alloc")]
impl<E, P: LocalPolicy<E> + ?Sized> LocalPolicy<E> for alloc::sync::Arc<P> {
    fn run_local<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>>
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = Result<T, E>>,
    {
        (**self).run_local(op)
    }
}

/// Implements [`Policy`], [`LocalPolicy`] and [`Compose`](crate::wrap::Compose) for a policy
/// generic over its timer alone whose `call(op)` returns its named future and which rejects
/// through [`FromRejection`](crate::error::FromRejection).
macro_rules! timer_policy {
    ($policy:ident) => {
        impl<E, T> $crate::policy::Policy<E> for $policy<T>
        where
            E: $crate::error::FromRejection + Send,
            T: $crate::time::Timer + Send + Sync,
            T::Sleep: Send,
        {
            fn run<F, Fut, V>(
                &self,
                op: F,
            ) -> impl core::future::Future<Output = Result<V, E>> + Send
            where
                F: Fn() -> Fut + Copy + Send + Sync,
                Fut: core::future::Future<Output = Result<V, E>> + Send,
                V: Send,
            {
                self.call(op)
            }
        }

        impl<E, T> $crate::policy::LocalPolicy<E> for $policy<T>
        where
            E: $crate::error::FromRejection,
            T: $crate::time::Timer,
        {
            fn run_local<F, Fut, V>(
                &self,
                op: F,
            ) -> impl core::future::Future<Output = Result<V, E>>
            where
                F: Fn() -> Fut + Copy,
                Fut: core::future::Future<Output = Result<V, E>>,
            {
                self.call(op)
            }
        }

        impl<T> $crate::wrap::Compose for $policy<T> {}

        impl<T> $crate::policy::Attempts for $policy<T> {
            type Kind = $crate::policy::Once;
        }
    };
}
pub(crate) use timer_policy;

/// How often a policy may call its operation within one `run`: [`Once`] (timeout, bulkhead,
/// rate limiter, circuit breaker) or [`Many`] (retry, hedge, and any stack containing one).
///
/// Adapters use it to avoid work that only re-issuing policies need: the tower layer clones
/// a request per attempt only when the policy's kind is `Many`, and needs no `Clone` at all
/// otherwise.
///
/// ```
/// use do_over_core::policy::{Attempts, Many, Once};
/// use do_over_core::retry::RetryPolicy;
/// use do_over_core::time::ManualClock;
/// use do_over_core::timeout::TimeoutPolicy;
/// use do_over_core::wrap::Wrap;
///
/// fn kind<P: Attempts>(_: &P) -> &'static str { core::any::type_name::<P::Kind>() }
/// let clock = ManualClock::new();
/// let timeout = TimeoutPolicy::new_with_timer(core::time::Duration::from_secs(1), &clock);
/// assert!(kind(&timeout).ends_with("Once"));
/// let retry = RetryPolicy::fixed_with_timer(2, core::time::Duration::ZERO, &clock);
/// assert!(kind(&Wrap::new(retry, timeout)).ends_with("Many"));
/// ```
pub trait Attempts {
    /// [`Once`] or [`Many`].
    type Kind: AttemptKind;
}

/// The policy calls its operation at most once per `run`.
#[derive(Copy, Clone, Debug, Default)]
pub struct Once;

/// The policy may call its operation several times per `run` (possibly concurrently, for
/// hedging).
#[derive(Copy, Clone, Debug, Default)]
pub struct Many;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Once {}
    impl Sealed for super::Many {}
}

/// [`Once`] or [`Many`]; `Or` combines two policies' kinds (for [`Wrap`](crate::wrap::Wrap)).
pub trait AttemptKind: sealed::Sealed + Send + Sync + 'static {
    /// `Many` if either is `Many`.
    type Or<K: AttemptKind>: AttemptKind;
}

impl AttemptKind for Once {
    type Or<K: AttemptKind> = K;
}

impl AttemptKind for Many {
    type Or<K: AttemptKind> = Many;
}

impl<P: Attempts + ?Sized> Attempts for &P {
    type Kind = P::Kind;
}

#[cfg(feature = "alloc")]
impl<P: Attempts + ?Sized> Attempts for alloc::sync::Arc<P> {
    type Kind = P::Kind;
}
