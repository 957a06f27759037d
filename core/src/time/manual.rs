//! A clock that only moves when told to: deterministic time for tests.

use core::cell::UnsafeCell;
use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::{Clock, Instant, Timer, saturating_nanos};
use crate::sync::{List, Node, SpinLock};

/// A manually driven clock for deterministic tests, usable without `std` or an allocator.
///
/// Time starts at [`Instant::ZERO`] and moves only through [`advance`](Self::advance) (or
/// [`run`](Self::run), which advances to the next pending sleep whenever the future it drives
/// stalls). Policies use it through `&ManualClock`, which implements [`Timer`]:
///
/// ```
/// use core::time::Duration;
/// use do_over_core::time::{Clock, ManualClock, Timer};
///
/// let clock = ManualClock::new();
/// let timer = &clock;
/// let elapsed = clock.run(async {
///     let start = timer.now();
///     timer.sleep(Duration::from_millis(250)).await;
///     timer.now() - start
/// });
/// assert_eq!(elapsed, Duration::from_millis(250));
/// ```
///
/// Sleeps are kept in an intrusive list inside the sleep futures themselves, so the clock
/// never allocates. [`advance`](Self::advance) wakes exactly the sleeps whose deadline has been
/// reached, and a sleep that is dropped before its deadline unregisters itself.
pub struct ManualClock {
    state: SpinLock<State>,
}

struct State {
    now: u64,
    sleepers: List<Sleeper>,
}

struct Sleeper {
    deadline: u64,
    waker: Option<Waker>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("ManualClock")
            .field("now", &Instant::from_nanos(st.now))
            .field("pending_sleeps", &st.sleepers.len())
            .finish()
    }
}

const WAKE_BATCH: usize = 8;

impl ManualClock {
    /// A clock at [`Instant::ZERO`] with no pending sleeps.
    pub const fn new() -> Self {
        ManualClock {
            state: SpinLock::new(State {
                now: 0,
                sleepers: List::new(),
            }),
        }
    }

    /// Moves time forward by `by` (saturating) and wakes every sleep whose deadline is now
    /// reached. Sleeps that are not yet due are not woken.
    ///
    /// For stepping a future by hand (for instance between two polls in a test):
    ///
    /// ```
    /// use core::future::Future;
    /// use core::pin::pin;
    /// use core::task::{Context, Poll, Waker};
    /// use core::time::Duration;
    /// use do_over_core::time::{ManualClock, Timer};
    ///
    /// let clock = ManualClock::new();
    /// let mut sleep = pin!((&clock).sleep(Duration::from_secs(1)));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Pending);
    /// assert_eq!(clock.pending_sleeps(), 1);
    /// clock.advance(Duration::from_millis(999));
    /// assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Pending);
    /// clock.advance(Duration::from_millis(1));
    /// assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Ready(()));
    /// ```
    pub fn advance(&self, by: Duration) {
        {
            let mut st = self.state.lock();
            st.now = st.now.saturating_add(saturating_nanos(by));
        }
        self.wake_due();
    }

    /// Moves time forward to `to` (no-op if `to` is not later than now) and wakes the sleeps
    /// that are due.
    pub fn advance_to(&self, to: Instant) {
        {
            let mut st = self.state.lock();
            st.now = st.now.max(to.as_nanos());
        }
        self.wake_due();
    }

    /// How many sleeps are registered and not yet due.
    pub fn pending_sleeps(&self) -> usize {
        self.state.lock().sleepers.len()
    }

    /// The earliest deadline among the registered sleeps.
    pub fn next_deadline(&self) -> Option<Instant> {
        let st = self.state.lock();
        let mut cur = st.sleepers.head();
        let mut earliest: Option<u64> = None;
        while !cur.is_null() {
            // SAFETY: linked sleepers are valid while the lock is held.
            let (deadline, next) = unsafe { ((*cur).value.deadline, List::next(cur)) };
            earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            cur = next;
        }
        earliest.map(Instant::from_nanos)
    }

    /// Drives `fut` to completion on the current thread, advancing this clock to the next
    /// registered sleep whenever `fut` cannot make progress. Virtual time passes only while
    /// `fut` is blocked on this clock, so durations observed inside are exact.
    ///
    /// # Panics
    /// If `fut` is pending while no sleep is registered on this clock: nothing could ever
    /// wake it, so a real executor would hang.
    pub fn run<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = core::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            match self.next_deadline() {
                Some(deadline) => self.advance_to(deadline),
                None => panic!(
                    "ManualClock::run: the future is pending but no sleep is registered on this clock; it would never wake"
                ),
            }
        }
    }

    fn wake_due(&self) {
        loop {
            let mut batch: [Option<Waker>; WAKE_BATCH] = Default::default();
            let mut taken = 0;
            {
                let mut st = self.state.lock();
                let now = st.now;
                let mut cur = st.sleepers.head();
                while !cur.is_null() && taken < WAKE_BATCH {
                    // SAFETY: linked sleepers are valid while the lock is held.
                    unsafe {
                        let next = List::next(cur);
                        if (*cur).value.deadline <= now {
                            st.sleepers.remove(cur);
                            batch[taken] = (*cur).value.waker.take();
                            taken += 1;
                        }
                        cur = next;
                    }
                }
            }
            // Wake outside the lock: a waker may poll inline and touch this clock.
            for w in batch.iter_mut().take(taken) {
                if let Some(w) = w.take() {
                    w.wake();
                }
            }
            if taken < WAKE_BATCH {
                return;
            }
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.state.lock().now)
    }
}

impl<'a> Timer for &'a ManualClock {
    type Sleep = ManualSleep<'a>;

    fn sleep_until(&self, deadline: Instant) -> ManualSleep<'a> {
        ManualSleep {
            clock: self,
            deadline: deadline.as_nanos(),
            node: UnsafeCell::new(Node::new(Sleeper {
                deadline: deadline.as_nanos(),
                waker: None,
            })),
            _pinned: PhantomPinned,
        }
    }
}

/// The sleep future of [`ManualClock`]: completes once the clock reaches its deadline.
/// Dropping it before then removes it from the clock.
pub struct ManualSleep<'a> {
    clock: &'a ManualClock,
    deadline: u64,
    node: UnsafeCell<Node<Sleeper>>,
    _pinned: PhantomPinned,
}

// SAFETY: `node` is only accessed with the clock's lock held, from whichever thread.
unsafe impl Send for ManualSleep<'_> {}
// SAFETY: as above; `&ManualSleep` exposes nothing else that is not `Sync`.
unsafe impl Sync for ManualSleep<'_> {}

impl ManualSleep<'_> {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        Instant::from_nanos(self.deadline)
    }
}

impl Future for ManualSleep<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this: &Self = self.into_ref().get_ref();
        let n = this.node.get();
        let mut st = this.clock.state.lock();
        // SAFETY: `n` lives in this pinned future and is only touched under the lock.
        unsafe {
            if st.now >= this.deadline {
                if (*n).is_linked() {
                    st.sleepers.remove(n);
                }
                return Poll::Ready(());
            }
            match &mut (*n).value.waker {
                Some(old) if old.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            if !(*n).is_linked() {
                st.sleepers.push_back(n);
            }
        }
        Poll::Pending
    }
}

impl Drop for ManualSleep<'_> {
    fn drop(&mut self) {
        let n = self.node.get();
        let waker = {
            let mut st = self.clock.state.lock();
            // SAFETY: under the lock; if linked, `n` is in the clock's list.
            unsafe {
                if (*n).is_linked() {
                    st.sleepers.remove(n);
                }
                (*n).value.waker.take()
            }
        };
        drop(waker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use core::task::{RawWaker, RawWakerVTable};

    // A waker that counts its wake-ups in a static-lifetime counter (no allocation).
    fn counting_waker(counter: &'static AtomicUsize) -> Waker {
        unsafe fn clone(p: *const ()) -> RawWaker {
            RawWaker::new(p, &VTABLE)
        }
        unsafe fn wake(p: *const ()) {
            // SAFETY: `p` is the `&'static AtomicUsize` this waker was built from.
            unsafe { (*(p as *const AtomicUsize)).fetch_add(1, Ordering::SeqCst) };
        }
        unsafe fn drop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
        // SAFETY: the vtable functions uphold the RawWaker contract for a static pointer.
        unsafe { Waker::from_raw(RawWaker::new(counter as *const _ as *const (), &VTABLE)) }
    }

    #[test]
    fn advance_wakes_exactly_the_due_sleeps() {
        static EARLY: AtomicUsize = AtomicUsize::new(0);
        static LATE: AtomicUsize = AtomicUsize::new(0);
        let clock = ManualClock::new();
        let timer = &clock;
        let mut early = core::pin::pin!(timer.sleep(Duration::from_millis(10)));
        let mut late = core::pin::pin!(timer.sleep(Duration::from_millis(20)));
        let (we, wl) = (counting_waker(&EARLY), counting_waker(&LATE));
        assert!(
            early
                .as_mut()
                .poll(&mut Context::from_waker(&we))
                .is_pending()
        );
        assert!(
            late.as_mut()
                .poll(&mut Context::from_waker(&wl))
                .is_pending()
        );
        assert_eq!(clock.pending_sleeps(), 2);
        assert_eq!(clock.next_deadline(), Some(Instant::from_nanos(10_000_000)));

        clock.advance(Duration::from_millis(9));
        assert_eq!(
            (EARLY.load(Ordering::SeqCst), LATE.load(Ordering::SeqCst)),
            (0, 0)
        );

        clock.advance(Duration::from_millis(1));
        assert_eq!(
            (EARLY.load(Ordering::SeqCst), LATE.load(Ordering::SeqCst)),
            (1, 0)
        );
        assert!(
            early
                .as_mut()
                .poll(&mut Context::from_waker(&we))
                .is_ready()
        );
        assert!(
            late.as_mut()
                .poll(&mut Context::from_waker(&wl))
                .is_pending()
        );
        assert_eq!(clock.pending_sleeps(), 1);

        clock.advance(Duration::from_millis(10));
        assert_eq!(LATE.load(Ordering::SeqCst), 1);
        assert!(late.as_mut().poll(&mut Context::from_waker(&wl)).is_ready());
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn dropped_sleep_unregisters() {
        let clock = ManualClock::new();
        let timer = &clock;
        {
            let mut s = core::pin::pin!(timer.sleep(Duration::from_secs(1)));
            assert!(
                s.as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
            assert_eq!(clock.pending_sleeps(), 1);
        }
        assert_eq!(clock.pending_sleeps(), 0);
        assert_eq!(clock.next_deadline(), None);
        clock.advance(Duration::from_secs(2));
    }

    #[test]
    fn many_sleeps_wake_in_batches() {
        static WOKEN: AtomicUsize = AtomicUsize::new(0);
        let clock = ManualClock::new();
        let timer = &clock;
        let waker = counting_waker(&WOKEN);
        let mut sleeps: [_; 20] =
            core::array::from_fn(|i| timer.sleep(Duration::from_millis(i as u64 + 1)));
        for s in sleeps.iter_mut() {
            // SAFETY: `sleeps` is never moved after this point.
            let s = unsafe { Pin::new_unchecked(s) };
            assert!(s.poll(&mut Context::from_waker(&waker)).is_pending());
        }
        assert_eq!(clock.pending_sleeps(), 20);
        clock.advance(Duration::from_millis(15));
        assert_eq!(WOKEN.load(Ordering::SeqCst), 15);
        assert_eq!(clock.pending_sleeps(), 5);
        clock.advance(Duration::from_millis(5));
        assert_eq!(WOKEN.load(Ordering::SeqCst), 20);
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn run_advances_only_while_blocked() {
        let clock = ManualClock::new();
        let timer = &clock;
        let t = clock.run(async {
            timer.sleep(Duration::from_millis(30)).await;
            timer.sleep_until(Instant::from_nanos(10)).await; // already due: no wait
            timer.sleep(Duration::from_millis(5)).await;
            timer.now()
        });
        assert_eq!(t, Instant::from_nanos(35_000_000));
    }

    #[test]
    #[should_panic(expected = "no sleep is registered")]
    fn run_panics_instead_of_hanging() {
        let clock = ManualClock::new();
        clock.run(core::future::pending::<()>());
    }
}
