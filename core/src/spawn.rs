//! Spawning: the third runtime capability (after the clock and sleeping), for the few places
//! where work must outlive the call that started it.

use core::future::Future;

/// Runs a future to completion in the background, detached from the caller.
///
/// Each runtime adapter implements it (`do_over_tokio::TokioTimer` spawns with
/// `tokio::spawn`). Policies never spawn on their own; it is only used where a caller opts in,
/// such as `Hedge::execute_detached` (with `alloc`), which lets
/// losing attempts finish instead of cancelling them.
///
/// ```
/// use core::future::Future;
/// use core::pin::Pin;
/// use do_over_core::spawn::Spawn;
/// use std::sync::Mutex;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// /// Queues spawned futures so that a test can run them when it chooses.
/// #[derive(Default)]
/// struct Queue(Mutex<Vec<Pin<Box<dyn Future<Output = ()> + Send>>>>);
///
/// impl Spawn for Queue {
///     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
///         self.0.lock().unwrap().push(Box::pin(future));
///     }
/// }
///
/// static RAN: AtomicU32 = AtomicU32::new(0);
/// let queue = Queue::default();
/// queue.spawn(async { RAN.fetch_add(1, Ordering::SeqCst); });
/// assert_eq!(RAN.load(Ordering::SeqCst), 0); // queued, not run
/// for task in queue.0.lock().unwrap().drain(..) {
///     do_over_core::time::ManualClock::new().run(task);
/// }
/// assert_eq!(RAN.load(Ordering::SeqCst), 1);
/// ```
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
