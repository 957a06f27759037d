//! Spawning: the third runtime capability (after the clock and sleeping), for the few places
//! where work must outlive the call that started it.

use core::future::Future;

/// Runs a future to completion in the background, detached from the caller.
///
/// Each runtime adapter implements it (`do_over_tokio::TokioTimer` spawns with
/// `tokio::spawn`). Policies never spawn on their own; it is only used where a caller opts in,
/// such as `Hedge::execute_detached` (with `alloc`), which lets
/// losing attempts finish instead of cancelling them.
pub trait Spawn {
    /// Starts `future` in the background.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

impl<S: Spawn + ?Sized> Spawn for &S {
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        (**self).spawn(future)
    }
}
