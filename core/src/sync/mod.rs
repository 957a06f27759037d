//! Synchronisation primitives shared by the policies.

mod spin;

pub(crate) use spin::SpinLock;
