//! An intrusive, doubly linked FIFO of waiters whose nodes live inside the waiting futures
//! (so queueing never allocates). Every method must be called with the owning lock held.

use core::ptr;

pub(crate) struct Node<T> {
    prev: *mut Node<T>,
    next: *mut Node<T>,
    linked: bool,
    pub(crate) value: T,
}

impl<T> Node<T> {
    pub(crate) const fn new(value: T) -> Self {
        Node {
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            linked: false,
            value,
        }
    }

    pub(crate) fn is_linked(&self) -> bool {
        self.linked
    }
}

pub(crate) struct List<T> {
    head: *mut Node<T>,
    tail: *mut Node<T>,
    len: usize,
}

// SAFETY: the list only holds pointers to nodes that are accessed under the owner's lock.
unsafe impl<T: Send> Send for List<T> {}

impl<T> List<T> {
    pub(crate) const fn new() -> Self {
        List {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first node, or null.
    pub(crate) fn head(&self) -> *mut Node<T> {
        self.head
    }

    /// The node after `n`, or null.
    ///
    /// # Safety
    /// `n` is a valid node of this list.
    pub(crate) unsafe fn next(n: *mut Node<T>) -> *mut Node<T> {
        // SAFETY: per the contract.
        unsafe { (*n).next }
    }

    /// # Safety
    /// `n` is valid, not linked, and stays put (pinned) until it is unlinked.
    pub(crate) unsafe fn push_back(&mut self, n: *mut Node<T>) {
        // SAFETY: per the contract; the tail, if any, is a valid node of this list.
        unsafe {
            (*n).prev = self.tail;
            (*n).next = ptr::null_mut();
            (*n).linked = true;
            if self.tail.is_null() {
                self.head = n;
            } else {
                (*self.tail).next = n;
            }
        }
        self.tail = n;
        self.len += 1;
    }

    /// # Safety
    /// `n` is valid and linked into this list.
    pub(crate) unsafe fn remove(&mut self, n: *mut Node<T>) {
        // SAFETY: per the contract; its neighbours are valid nodes of this list.
        unsafe {
            let (prev, next) = ((*n).prev, (*n).next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*next).prev = prev;
            }
            (*n).prev = ptr::null_mut();
            (*n).next = ptr::null_mut();
            (*n).linked = false;
        }
        self.len -= 1;
    }

    /// Unlinks and returns the first node, if any.
    pub(crate) fn pop_front(&mut self) -> Option<*mut Node<T>> {
        let n = self.head;
        if n.is_null() {
            return None;
        }
        // SAFETY: a non-null head is a valid, linked node of this list.
        unsafe { self.remove(n) };
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_push_pop_and_remove_from_the_middle() {
        let mut nodes: [Node<u32>; 4] = core::array::from_fn(|i| Node::new(i as u32));
        let p: [*mut Node<u32>; 4] = core::array::from_fn(|i| &mut nodes[i] as *mut _);
        let mut list = List::new();
        // SAFETY: the nodes outlive the list operations and do not move.
        unsafe {
            for &n in &p {
                list.push_back(n);
            }
            assert_eq!(list.len(), 4);
            list.remove(p[1]);
            list.remove(p[3]);
            assert!(!(*p[1]).is_linked());
            assert_eq!(list.pop_front().map(|n| (*n).value), Some(0));
            assert_eq!(list.pop_front().map(|n| (*n).value), Some(2));
            assert!(list.pop_front().is_none());
            assert!(list.is_empty());
            list.push_back(p[3]);
            assert_eq!(list.head(), p[3]);
            assert!(List::next(p[3]).is_null());
        }
    }
}
