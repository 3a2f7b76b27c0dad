//! Test support shared by every crate's real-time-safety tests: a global allocator that counts
//! the allocations a thread makes while it is watched.
//!
//! A test binary installs it once and then measures any closure:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: shared_dsp::testing::Counting = shared_dsp::testing::Counting;
//!
//! assert_eq!(shared_dsp::testing::allocations_in(|| unit.process(&mut audio)), 0);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Whether allocations on this thread are being counted.
    pub static WATCH: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) counted on this thread.
    pub static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting allocations on threads that set [`WATCH`].
pub struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Counts one allocation if this thread is watched. `try_with`: thread-local storage may
/// already be gone while a thread exits.
fn note_allocation() {
    if WATCH.try_with(|w| w.get()).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

/// Runs `f` with this thread watched; returns how many allocations it made. Only meaningful in
/// a test binary whose global allocator is [`Counting`].
pub fn allocations_in(f: impl FnOnce()) -> usize {
    let before = COUNT.with(|c| c.get());
    WATCH.with(|w| w.set(true));
    f();
    WATCH.with(|w| w.set(false));
    COUNT.with(|c| c.get()) - before
}
