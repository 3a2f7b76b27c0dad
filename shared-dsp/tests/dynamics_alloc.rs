//! Real-time safety of the dynamics engine: `process`, `compute_gain`, `apply_gain`,
//! `set_sample_rate`, `reset` and the setters never allocate. A counting global allocator
//! (this test binary only) proves it.

use shared_dsp::dynamics::{DetectorMode, Dynamics, Lower, StereoMode};
use shared_dsp::signal::programme;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn process_setters_reset_and_sample_rate_never_allocate() {
    let [mut l, mut r] = programme(48_000.0, 1.0, 5);
    let sc = programme(48_000.0, 1.0, 6);
    let mut gl = vec![0.0f32; l.len()];
    let mut gr = vec![0.0f32; l.len()];
    let mut d = Dynamics::new(2, 512);
    let before = ALLOCS.load(Ordering::SeqCst);
    for (i, mode) in [DetectorMode::Rms, DetectorMode::Peak]
        .into_iter()
        .enumerate()
    {
        d.set_sample_rate(if i == 0 { 48_000.0 } else { 192_000.0 });
        d.reset();
        d.set_detector(mode);
        d.set_auto_release(i == 0);
        d.set_lookahead_ms(5.0);
        d.set_sidechain_hpf_hz(Some(120.0));
        d.set_stereo_link_percent(30.0);
        d.set_auto_makeup(true);
        d.set_lower(Lower::Gate {
            open_db: -50.0,
            close_db: -60.0,
            hold_ms: 10.0,
            range_db: 40.0,
        });
        for (lc, rc) in l.chunks_mut(1000).zip(r.chunks_mut(1000)) {
            d.process_stereo(lc, rc);
        }
        d.set_stereo_mode(StereoMode::MidSide);
        d.process(
            &mut [&mut l[..], &mut r[..]],
            Some(&[&sc[0][..], &sc[1][..]]),
        );
        d.compute_gain(&[&l[..], &r[..]], None, &mut [&mut gl[..], &mut gr[..]]);
        d.apply_gain(&mut [&mut l[..], &mut r[..]], &[&gl[..], &gr[..]]);
        let _ = (d.curve(-10.0), d.gain_reduction_db(), d.latency());
    }
    assert_eq!(ALLOCS.load(Ordering::SeqCst) - before, 0);
}
