//! Synchronisation primitives shared by the policies.
//!
//! `atomic` is the one place policies take their atomics from: `portable-atomic` normally
//! (32-bit atomics on every target, no 64-bit ones needed), `loom`'s model-checked atomics
//! when built with `--cfg loom`.

mod spin;
mod wait_list;

pub(crate) use spin::SpinLock;
pub(crate) use wait_list::{List, Node};

pub(crate) mod atomic {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{
        AtomicI32, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence,
    };
    #[cfg(not(loom))]
    pub(crate) use portable_atomic::{
        AtomicI32, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence,
    };
}

/// Tells the scheduler (or loom's model) that this thread is waiting for another.
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
