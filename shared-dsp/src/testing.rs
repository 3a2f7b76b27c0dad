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

/// CPU time of the calling thread in seconds (`CLOCK_THREAD_CPUTIME_ID` on Linux), or `None`
/// where there is no such clock. Benchmarks time with it because the machines they run on are
/// shared: wall time would count other processes' work.
pub fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            tv_sec: i64,
            tv_nsec: i64,
        }
        unsafe extern "C" {
            fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a plain libc call writing into a properly laid out timespec (64-bit Linux).
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// A stopwatch on the calling thread's CPU time ([`thread_cpu_seconds`]), falling back to wall
/// time where there is no thread clock.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimer {
    /// Thread CPU time at the start.
    start_cpu: Option<f64>,
    /// Wall time at the start (fallback).
    start_wall: std::time::Instant,
}

impl CpuTimer {
    /// Starts the stopwatch.
    pub fn start() -> Self {
        Self {
            start_cpu: thread_cpu_seconds(),
            start_wall: std::time::Instant::now(),
        }
    }

    /// Seconds since [`Self::start`].
    pub fn seconds(&self) -> f64 {
        match (self.start_cpu, thread_cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => self.start_wall.elapsed().as_secs_f64(),
        }
    }
}
