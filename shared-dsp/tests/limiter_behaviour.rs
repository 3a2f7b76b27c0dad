//! Limiter behaviour beyond the hard guarantees: programme-dependent release, character,
//! gain-reduction metering, sample-rate sweep of the latency, and real-time safety (no heap
//! allocation inside `process`, checked with a counting global allocator).

use shared_dsp::limiter::{Character, Limiter, PeakMode};
use shared_dsp::signal::sine;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts allocations made by a thread while its `ARMED` flag is set (tests run in parallel, so
/// the flag is per thread).
struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Per-block gain reduction (dB) while processing `x` (mono) in blocks of 64.
fn gr_trace(lim: &mut Limiter, x: &[f32]) -> Vec<f32> {
    let mut buf = x.to_vec();
    buf.chunks_mut(64)
        .map(|c| {
            lim.process(&mut [c]);
            lim.gain_reduction_db()
        })
        .collect()
}

/// Blocks (of 64 samples) from the end of the loud part until the reduction falls below 1 dB.
fn recovery_blocks(trace: &[f32], loud_end_block: usize) -> usize {
    trace[loud_end_block..]
        .iter()
        .position(|&gr| gr < 1.0)
        .expect("gain reduction never recovered")
}

fn lim(fs: f32, character: Character) -> Limiter {
    let mut l = Limiter::new(1, 64, 16);
    l.set_sample_rate(fs);
    l.set_mode(PeakMode::SamplePeak);
    l.set_oversampling(1);
    l.set_ceiling_db(0.0);
    l.set_release_ms(60.0);
    l.set_character(character);
    l
}

/// A 1 kHz tone at +10 dB for `loud_s` seconds, then at -20 dB.
fn burst(fs: f64, loud_s: f64) -> (Vec<f32>, usize) {
    let loud = (loud_s * fs) as usize;
    let total = loud + (2.0 * fs) as usize;
    let mut x = sine(1000.0, 1.0, 0.0, fs, total);
    for (n, v) in x.iter_mut().enumerate() {
        *v *= if n < loud { 3.162 } else { 0.1 };
    }
    (x, loud / 64)
}

#[test]
fn release_is_faster_after_an_isolated_transient_than_after_sustained_limiting() {
    let fs = 48_000.0;
    for character in [Character::Transparent, Character::Aggressive] {
        let (short, end_s) = burst(fs, 0.01);
        let (long, end_l) = burst(fs, 3.0);
        let t_short = recovery_blocks(&gr_trace(&mut lim(fs as f32, character), &short), end_s);
        let t_long = recovery_blocks(&gr_trace(&mut lim(fs as f32, character), &long), end_l);
        let ms = |b: usize| b as f64 * 64.0 / fs * 1000.0;
        eprintln!(
            "{character:?}: recovery to < 1 dB after 10 ms burst {:.0} ms, after 3 s {:.0} ms",
            ms(t_short),
            ms(t_long)
        );
        assert!(
            t_long >= 2 * t_short,
            "{character:?}: {t_short} vs {t_long}"
        );
    }
}

#[test]
fn aggressive_recovers_faster_than_transparent_after_sustained_limiting() {
    let fs = 48_000.0;
    let (long, end) = burst(fs, 3.0);
    let t_tr = recovery_blocks(
        &gr_trace(&mut lim(fs as f32, Character::Transparent), &long),
        end,
    );
    let t_ag = recovery_blocks(
        &gr_trace(&mut lim(fs as f32, Character::Aggressive), &long),
        end,
    );
    assert!(
        t_ag * 2 <= t_tr,
        "aggressive {t_ag} blocks, transparent {t_tr} blocks"
    );
}

/// A steady tone 10 dB over the ceiling reads 10 dB of gain reduction (analytic: 20 log10 of
/// the amplitude ratio).
#[test]
fn gain_reduction_meter_reads_the_excess_level() {
    let fs = 48_000.0;
    let x = sine(500.0, 3.1623, 0.0, fs, 48_000);
    let trace = gr_trace(&mut lim(fs as f32, Character::Transparent), &x);
    let gr = trace[trace.len() - 1];
    assert!((gr - 10.0).abs() < 0.05, "gr {gr}");
}

#[test]
fn latency_is_lookahead_plus_oversampler_and_matches_impulse_at_88_2k_and_192k() {
    for fs in [88_200.0f32, 192_000.0] {
        for factor in [1usize, 4, 16] {
            for la in [0.1f32, 10.0] {
                let mut l = Limiter::new(1, 256, 16);
                l.set_sample_rate(fs);
                l.set_mode(PeakMode::SamplePeak);
                l.set_oversampling(factor);
                l.set_lookahead_ms(la);
                let lat = l.latency();
                let expected_la = ((la * 0.001 * fs).round() as usize).max(2);
                let mut x = vec![0.0f32; lat + 3000];
                x[500] = 0.5;
                for c in x.chunks_mut(256) {
                    l.process(&mut [c]);
                }
                let peak = (0..x.len())
                    .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
                    .unwrap();
                assert_eq!(peak, 500 + lat, "{fs} {factor}x {la} ms");
                assert!(
                    lat >= expected_la,
                    "{fs} {factor}x {la} ms: {lat} < {expected_la}"
                );
            }
        }
    }
}

#[test]
fn process_and_setters_do_not_allocate() {
    let mut l = Limiter::new(2, 512, 16);
    let mut a = sine(1000.0, 4.0, 0.0, 48_000.0, 512);
    let mut b = a.clone();
    ARMED.with(|a| a.set(true));
    for (mode, factor) in [
        (PeakMode::TruePeak, 4usize),
        (PeakMode::SamplePeak, 16),
        (PeakMode::TruePeak, 2),
    ] {
        l.set_sample_rate(96_000.0);
        l.set_mode(mode);
        l.set_oversampling(factor);
        l.set_lookahead_ms(10.0);
        l.set_link(0.5);
        l.set_ceiling_db(-2.0);
        let _ = l.latency();
        for _ in 0..20 {
            l.process(&mut [&mut a[..], &mut b[..]]);
            l.process(&mut [&mut a[..37], &mut b[..37]]);
        }
        l.reset();
    }
    ARMED.with(|a| a.set(false));
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "allocations in the audio path"
    );
}

/// Lowering the ceiling by 6 dB mid-stream glides (no gain step larger than the 20 ms smoother
/// allows: 6 dB over tau = 20 ms gives at most ~5e-4 gain change per sample at 48 kHz) and the
/// new ceiling holds once the glide has settled.
#[test]
fn ceiling_change_glides_without_a_gain_step_and_then_holds() {
    let fs = 48_000.0;
    let x = sine(997.0, 2.0, 0.0, fs, 48_000);
    let mut l = lim(fs as f32, Character::Transparent);
    l.set_ceiling_db(-1.0);
    let lat = l.latency();
    let mut y = x.clone();
    for (i, c) in y.chunks_mut(64).enumerate() {
        if i == 375 {
            l.set_ceiling_db(-7.0);
        }
        l.process(&mut [c]);
    }
    let mut prev_g: Option<f32> = None;
    let mut max_step = 0.0f32;
    for n in lat + 4800..x.len() {
        let xin = x[n - lat];
        if xin.abs() > 0.5 {
            let g = y[n] / xin;
            if let Some(p) = prev_g {
                max_step = max_step.max((g - p).abs());
            }
            prev_g = Some(g);
        } else {
            prev_g = None;
        }
    }
    assert!(max_step < 1e-3, "gain step {max_step}");
    let settled = y[36_000..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let c = 10f32.powf(-7.0 / 20.0);
    assert!(
        settled <= c && settled > 0.99 * c,
        "settled peak {settled} vs {c}"
    );
}
