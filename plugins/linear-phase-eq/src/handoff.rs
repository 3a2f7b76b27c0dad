//! A lock-free triple buffer: one writer thread hands whole values (settings, kernel sets) to one
//! reader thread without locks, without allocation and without copying.
//!
//! Three slots: the writer owns one (`back`), the reader owns one (`front`), and the third
//! (`middle`) is exchanged through one atomic. Publishing swaps `back` with `middle` and marks it
//! new; the reader swaps `front` with `middle` only when it is new. The newest value always wins;
//! values the reader never saw return to the writer to be overwritten.

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set in `middle` when it holds a value the reader has not taken.
const NEW: usize = 4;
/// Slot index bits.
const INDEX: usize = 3;

/// The shared slots.
struct Shared<T> {
    /// The three values.
    slots: [UnsafeCell<T>; 3],
    /// Index of the middle slot, plus [`NEW`].
    middle: AtomicUsize,
}

// SAFETY: each slot is accessed by exactly one side at a time: the writer only touches `back`,
// the reader only `front`, and ownership of a slot changes hands only through the atomic swap
// of `middle` (AcqRel), which orders the accesses.
unsafe impl<T: Send> Sync for Shared<T> {}
unsafe impl<T: Send> Send for Shared<T> {}

/// The writing end.
pub struct Writer<T> {
    /// Shared slots.
    shared: Arc<Shared<T>>,
    /// Slot owned by the writer.
    back: usize,
}

/// The reading end.
pub struct Reader<T> {
    /// Shared slots.
    shared: Arc<Shared<T>>,
    /// Slot owned by the reader.
    front: usize,
}

/// A triple buffer with three initial values (allocates; build it off the audio thread).
pub fn triple_buffer<T: Send>(a: T, b: T, c: T) -> (Writer<T>, Reader<T>) {
    let shared = Arc::new(Shared {
        slots: [UnsafeCell::new(a), UnsafeCell::new(b), UnsafeCell::new(c)],
        middle: AtomicUsize::new(1),
    });
    (
        Writer {
            shared: shared.clone(),
            back: 0,
        },
        Reader { shared, front: 2 },
    )
}

impl<T> Writer<T> {
    /// The value being prepared (the slot may hold any older value).
    pub fn back_mut(&mut self) -> &mut T {
        // SAFETY: `back` is owned by this writer until `publish` hands it over.
        unsafe { &mut *self.shared.slots[self.back].get() }
    }

    /// Hands the prepared value to the reader (replacing one it has not taken yet). Lock-free and
    /// allocation-free.
    pub fn publish(&mut self) {
        self.back = self.shared.middle.swap(self.back | NEW, Ordering::AcqRel) & INDEX;
    }
}

impl<T> Reader<T> {
    /// Takes the newest published value if there is one; returns whether `front` changed.
    /// Lock-free and allocation-free.
    pub fn update(&mut self) -> bool {
        if self.shared.middle.load(Ordering::Relaxed) & NEW == 0 {
            return false;
        }
        self.front = self.shared.middle.swap(self.front, Ordering::AcqRel) & INDEX;
        true
    }

    /// The value last taken.
    pub fn front_mut(&mut self) -> &mut T {
        // SAFETY: `front` is owned by this reader until the next `update`.
        unsafe { &mut *self.shared.slots[self.front].get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_sees_only_the_newest_value_once() {
        let (mut w, mut r) = triple_buffer(0, 0, 0);
        assert!(!r.update());
        *w.back_mut() = 1;
        w.publish();
        *w.back_mut() = 2;
        w.publish();
        assert!(r.update());
        assert_eq!(*r.front_mut(), 2);
        assert!(!r.update());
    }

    #[test]
    fn values_cross_threads_intact() {
        let (mut w, mut r) = triple_buffer([0u64; 64], [0; 64], [0; 64]);
        let t = std::thread::spawn(move || {
            for i in 1..=20_000u64 {
                w.back_mut().fill(i);
                w.publish();
            }
        });
        let mut last = 0;
        while last < 20_000 {
            if r.update() {
                let v = r.front_mut();
                assert!(v.iter().all(|&x| x == v[0]), "torn value");
                assert!(v[0] > last);
                last = v[0];
            }
        }
        t.join().unwrap();
    }
}
