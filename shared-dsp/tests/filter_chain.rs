//! Behaviour of the `IirEq` processing unit: transparency, NaN safety, click-free parameter
//! changes, block-size invariance, multi-channel independence, throughput.

use shared_dsp::filter::{Band, BandType, DigitalBand, EqCurve, IirEq, Slope, process_stereo};
use shared_dsp::signal::{Rng, programme, sine};
use shared_dsp::testing::CpuTimer;
use shared_dsp::testing::{Counting, allocations_in};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..len).map(|_| (0.5 * r.bipolar()) as f32).collect()
}

#[test]
fn flat_bands_are_bit_exact_transparent() {
    let mut eq = IirEq::new(2, 256, 6);
    eq.set_sample_rate(48_000.0);
    // 0 dB bell/shelves/tilt, and disabled bands of every type.
    eq.set_band(0, Band::new(BandType::Bell, 1000.0, 0.0, 2.0));
    eq.set_band(1, Band::new(BandType::LowShelf, 100.0, 0.0, 0.7));
    eq.set_band(2, Band::new(BandType::HighShelf, 8000.0, 0.0, 0.7));
    eq.set_band(3, Band::new(BandType::TiltShelf, 800.0, 0.0, 0.7));
    let mut cut = Band::new(BandType::LowCut, 100.0, 0.0, 0.7).with_slope(Slope::Db48);
    cut.enabled = false;
    eq.set_band(4, cut);
    let mut bell = Band::new(BandType::Bell, 3000.0, 12.0, 1.0);
    bell.enabled = false;
    eq.set_band(5, bell);
    let l0 = noise(10_000, 1);
    let r0 = noise(10_000, 2);
    let (mut l, mut r) = (l0.clone(), r0.clone());
    process_stereo(&mut eq, &mut l, &mut r, 333);
    assert!(l == l0 && r == r0, "flat EQ changed the signal");
}

#[test]
fn band_returning_to_0db_becomes_bit_exact_transparent_after_the_ramp() {
    let mut eq = IirEq::new(1, 512, 1);
    eq.set_sample_rate(48_000.0);
    eq.set_band(0, Band::new(BandType::Bell, 1000.0, 6.0, 1.0));
    let mut x = noise(4800, 3);
    eq.process(&mut [&mut x[..]]);
    eq.set_band(0, Band::new(BandType::Bell, 1000.0, 0.0, 1.0));
    // Ramp (10 ms = 480 samples) plus the tail of the old state.
    let mut y = noise(48_000, 4);
    eq.process(&mut [&mut y[..]]);
    let x0 = noise(4800, 5);
    let mut x1 = x0.clone();
    eq.process(&mut [&mut x1[..]]);
    assert!(x1 == x0, "not bit-exact after the ramp");
}

#[test]
fn nan_and_inf_input_never_reach_output_or_state() {
    let mut eq = IirEq::new(2, 64, 3);
    eq.set_sample_rate(44_100.0);
    eq.set_band(0, Band::new(BandType::Bell, 16_000.0, 18.0, 8.0));
    eq.set_band(
        1,
        Band::new(BandType::HighCut, 10_000.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db96),
    );
    eq.set_band(2, Band::new(BandType::LowShelf, 30.0, -18.0, 0.3));
    let mut l = noise(1000, 6);
    let mut r = noise(1000, 7);
    l[10] = f32::NAN;
    l[500] = f32::INFINITY;
    r[20] = f32::NEG_INFINITY;
    process_stereo(&mut eq, &mut l, &mut r, 64);
    assert!(l.iter().chain(r.iter()).all(|v| v.is_finite()));
    assert_eq!(eq.take_non_finite_count(), 3);
    // State survived: the next block of a sine is still a clean, finite, non-silent signal.
    let mut s = sine(1000.0, 0.5, 0.0, 44_100.0, 4410);
    eq.process(&mut [&mut s[..]]);
    assert!(s.iter().all(|v| v.is_finite()));
    assert!(s.iter().skip(2000).any(|v| v.abs() > 0.1));
}

#[test]
fn nan_or_absurd_parameters_give_finite_stable_filters() {
    let mut eq = IirEq::new(1, 256, 8);
    eq.set_sample_rate(44_100.0);
    let bad = [
        Band::new(BandType::Bell, f64::NAN, 6.0, 1.0),
        Band::new(BandType::Bell, 1000.0, f64::NAN, 1.0),
        Band::new(BandType::Bell, 1000.0, 6.0, f64::NAN),
        Band::new(BandType::LowShelf, 1e9, 18.0, 1.0),
        Band::new(BandType::HighShelf, -5.0, 18.0, 0.0),
        Band::new(BandType::Bell, 30_000.0, 18.0, 8.0),
        Band::new(BandType::LowCut, 0.001, 0.0, 100.0).with_slope(Slope::Db96),
        Band::new(BandType::HighCut, 21_000.0, 0.0, 40.0).with_slope(Slope::Db96),
    ];
    for (i, b) in bad.into_iter().enumerate() {
        eq.set_band(i, b);
    }
    let mut x = noise(44_100, 8);
    eq.process(&mut [&mut x[..]]);
    assert!(x.iter().all(|v| v.is_finite()));
    assert!(x.iter().all(|v| v.abs() < 1e4), "unstable output");
}

/// Largest sample-to-sample jump of a sine after its first `skip` samples.
fn max_jump(y: &[f32], skip: usize) -> f64 {
    y.windows(2)
        .skip(skip)
        .map(|w| (w[1] as f64 - w[0] as f64).abs())
        .fold(0.0, f64::max)
}

/// 1 kHz sine at 48 kHz through a 1 kHz bell whose gain is set every 64-sample block by
/// `gain_at(block)`. Returns (max jump, bound): a sine of peak P at f changes by at most
/// P * 2 pi f / fs per sample; P is at most 0.5 * 10^(18/20) here.
fn click_run(gain_at: impl Fn(usize) -> f64, smoothing_ms: f64) -> (f64, f64) {
    let fs = 48_000.0;
    let f = 1000.0;
    let mut eq = IirEq::new(1, 64, 1);
    eq.set_sample_rate(fs);
    eq.set_smoothing_ms(smoothing_ms);
    eq.set_band(0, Band::new(BandType::Bell, f, gain_at(0), 1.0));
    eq.reset();
    let mut x = sine(f, 0.5, 0.0, fs, 96_000);
    for (i, block) in x.chunks_mut(64).enumerate() {
        eq.set_band(0, Band::new(BandType::Bell, f, gain_at(i), 1.0));
        eq.process(&mut [block]);
    }
    let peak = 0.5 * 10f64.powf(18.0 / 20.0);
    (max_jump(&x, 4800), peak * 2.0 * PI * f / fs)
}

#[test]
fn sweeping_gain_does_not_click() {
    // Triangle sweep -18 -> +18 -> -18 dB over 2 s, a new value every block.
    let (jump, bound) = click_run(
        |i| {
            let t = (i % 750) as f64 / 750.0;
            -18.0 + 36.0 * (1.0 - (2.0 * t - 1.0).abs())
        },
        10.0,
    );
    println!("gain sweep: max jump {jump:.4}, sine bound {bound:.4}");
    assert!(jump <= bound * 1.05, "click: jump {jump} > {bound}");
}

#[test]
fn gain_steps_are_smoothed_and_would_click_without_smoothing() {
    // +-18 dB steps every 100 blocks. With the default smoothing the output stays within the
    // slope bound of the loudest sine; with smoothing off the same steps exceed it (so this
    // test can fail).
    let steps = |i: usize| {
        if (i / 100).is_multiple_of(2) {
            -18.0
        } else {
            18.0
        }
    };
    let (jump, bound) = click_run(steps, 10.0);
    let (raw, _) = click_run(steps, 0.0);
    println!("gain steps: smoothed max jump {jump:.4}, unsmoothed {raw:.4}, bound {bound:.4}");
    assert!(jump <= bound * 1.05, "click: jump {jump} > {bound}");
    assert!(
        raw > bound * 1.05,
        "unsmoothed steps did not click ({raw} <= {bound})"
    );
}

#[test]
fn output_does_not_depend_on_block_size() {
    let bands = [
        Band::new(BandType::LowCut, 40.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db36),
        Band::new(BandType::Bell, 2500.0, -6.0, 2.0),
        Band::new(BandType::HighShelf, 9000.0, 4.0, 0.7),
    ];
    let input = noise(20_000, 9);
    let run = |block: usize| {
        let mut eq = IirEq::new(1, 4096, 3);
        eq.set_sample_rate(48_000.0);
        for (i, b) in bands.iter().enumerate() {
            eq.set_band(i, *b);
        }
        eq.reset();
        let mut x = input.clone();
        let mut changed = false;
        for (n, c) in x.chunks_mut(block).enumerate() {
            if !changed && n * block >= 10_000 {
                changed = true;
                // A parameter change mid-way, applied at a block boundary that all block
                // sizes share (10 000 is a multiple of 1 and 16; 17, 64, 4096 land elsewhere,
                // so only compare up to the change for those).
                eq.set_band(1, Band::new(BandType::Bell, 2500.0, 6.0, 2.0));
            }
            eq.process(&mut [c]);
        }
        x
    };
    let reference = run(1);
    for block in [16, 17, 64, 4096] {
        let out = run(block);
        let upto = if 10_000 % block == 0 { 20_000 } else { 10_000 };
        assert!(out[..upto] == reference[..upto], "block {block} differs");
    }
}

#[test]
fn channels_are_independent() {
    let mut eq = IirEq::new(2, 128, 1);
    eq.set_sample_rate(48_000.0);
    eq.set_band(0, Band::new(BandType::Bell, 500.0, 9.0, 1.0));
    eq.reset();
    let mut l = noise(5000, 10);
    let mut r = vec![0.0f32; 5000];
    process_stereo(&mut eq, &mut l, &mut r, 128);
    assert!(r.iter().all(|v| *v == 0.0));
}

#[test]
fn digital_response_follows_curve_model_for_a_typical_eq() {
    // The designed cascade (not the FFT measurement) against the summed analog curve.
    let bands = [
        Band::new(BandType::LowCut, 30.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db24),
        Band::new(BandType::LowShelf, 120.0, 3.0, FRAC_1_SQRT_2),
        Band::new(BandType::Bell, 400.0, -4.0, 1.4),
        Band::new(BandType::Bell, 3000.0, 2.5, 0.8),
        Band::new(BandType::HighShelf, 12_000.0, 4.0, FRAC_1_SQRT_2),
    ];
    let curve = EqCurve::from_bands(&bands);
    for fs in [44_100.0, 48_000.0, 96_000.0] {
        let mut eq = IirEq::new(2, 64, bands.len());
        eq.set_sample_rate(fs);
        for (i, b) in bands.iter().enumerate() {
            eq.set_band(i, *b);
        }
        let mut worst = 0.0f64;
        for i in 0..400 {
            let f = 20.0 * 1000f64.powf(i as f64 / 399.0);
            worst = worst.max((eq.digital_magnitude_db(f) - curve.magnitude_db(f)).abs());
        }
        println!("typical EQ at {fs} Hz: worst {worst:.3} dB");
        assert!(worst < 0.5, "{fs}: {worst}");
    }
}

#[test]
fn curve_evaluation_is_cheap_enough_for_the_gui() {
    let bands: Vec<Band> = (0..8)
        .map(|i| Band::new(BandType::Bell, 50.0 * 2f64.powi(i), 3.0, 1.0))
        .chain([Band::new(BandType::LowCut, 30.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db96)])
        .collect();
    let curve = EqCurve::from_bands(&bands);
    let freqs: Vec<f64> = (0..1000)
        .map(|i| 20.0 * 1000f64.powf(i as f64 / 999.0))
        .collect();
    let mut out = vec![0.0; 1000];
    let t = CpuTimer::start();
    let reps = 100;
    for _ in 0..reps {
        curve.fill_db(&freqs, &mut out);
    }
    let us = t.seconds() * 1e6 / reps as f64;
    println!("EqCurve: 1000 points x 9 bands in {us:.1} us");
    assert!(out.iter().all(|v| v.is_finite()));
    // Generous bound that holds in the debug (opt-level 1) test profile: a 60 fps frame has
    // 16 ms.
    assert!(us < 2000.0, "{us} us");
}

/// Throughput of 4 bells + HP + LP on 48 kHz stereo, printed as x realtime. Meaningful with
/// `--release`.
#[test]
fn throughput_four_bells_hp_lp_stereo_48k() {
    let fs = 48_000.0;
    let [mut l, mut r] = programme(fs, 10.0, 11);
    for block in [64usize, 1024] {
        let mut eq = IirEq::new(2, block, 6);
        eq.set_sample_rate(fs);
        eq.set_band(
            0,
            Band::new(BandType::LowCut, 30.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db12),
        );
        eq.set_band(1, Band::new(BandType::Bell, 200.0, 2.0, 1.0));
        eq.set_band(2, Band::new(BandType::Bell, 800.0, -3.0, 2.0));
        eq.set_band(3, Band::new(BandType::Bell, 3000.0, 1.5, 1.0));
        eq.set_band(4, Band::new(BandType::Bell, 9000.0, 2.0, 0.7));
        eq.set_band(
            5,
            Band::new(BandType::HighCut, 18_000.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db12),
        );
        let t = CpuTimer::start();
        process_stereo(&mut eq, &mut l, &mut r, block);
        let secs = t.seconds();
        // Reference in the same run: a plain f32 copy-and-scale pass over the same audio.
        let t2 = CpuTimer::start();
        for v in l.iter_mut().chain(r.iter_mut()) {
            *v *= 0.999;
        }
        let ref_secs = t2.seconds();
        println!(
            "4 bells + HP + LP, stereo 48 kHz, block {block}: {:.0} x realtime (gain-only reference {:.0} x)",
            10.0 / secs,
            10.0 / ref_secs.max(1e-9)
        );
        assert!(l.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn state_decays_to_exact_zero_in_silence() {
    // Denormal guard: once the input stops, the recursive state is flushed to exactly zero
    // instead of decaying through the denormal range.
    let fs = 48_000.0;
    let mut eq = IirEq::new(2, 512, 3);
    eq.set_sample_rate(fs);
    eq.set_band(0, Band::new(BandType::Bell, 30.0, 12.0, 4.0));
    eq.set_band(1, Band::new(BandType::LowShelf, 80.0, -9.0, 0.7));
    eq.set_band(
        2,
        Band::new(BandType::LowCut, 20.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db96),
    );
    let mut l = noise(48_000, 12);
    let mut r = noise(48_000, 13);
    process_stereo(&mut eq, &mut l, &mut r, 512);
    let mut l = vec![0.0f32; 20 * 48_000];
    let mut r = vec![0.0f32; 20 * 48_000];
    process_stereo(&mut eq, &mut l, &mut r, 512);
    let tail = &l[l.len() - 4800..];
    assert!(
        tail.iter().all(|v| *v == 0.0),
        "state did not flush to zero"
    );
    assert!(r[r.len() - 4800..].iter().all(|v| *v == 0.0));
}

/// Independent oracle: one channel through the designed sections, one scalar `f64`
/// transposed-direct-form-II section after the other (the textbook recursion).
fn reference_cascade(bands: &[Band], fs: f64, x: &[f32]) -> Vec<f32> {
    let mut y: Vec<f64> = x.iter().map(|v| *v as f64).collect();
    for b in bands {
        let d = DigitalBand::design(&b.prototype(), fs);
        for c in d.sections() {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for v in y.iter_mut() {
                let out = s1 + c.b0 * *v;
                s1 = s2 + c.b1 * *v - c.a1 * out;
                s2 = c.b2 * *v - c.a2 * out;
                *v = out;
            }
        }
    }
    y.iter().map(|v| *v as f32).collect()
}

#[test]
fn matches_scalar_reference_for_1_2_3_channels_incl_16hz_cut_at_192k() {
    // 16 Hz at 192 kHz puts the poles within ~5e-4 of z = 1, where an f32 recursion would
    // be audibly wrong; the f64 kernels must agree with the scalar f64 oracle to f32 rounding.
    for fs in [48_000.0, 192_000.0] {
        let bands = [
            Band::new(BandType::LowCut, 16.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db48),
            Band::new(BandType::LowShelf, 60.0, 6.0, 0.7),
            Band::new(BandType::Bell, 1200.0, -9.0, 4.0),
            Band::new(BandType::HighShelf, 12_000.0, 3.0, 0.7),
            Band::new(BandType::HighCut, 18_000.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db18),
        ];
        for nch in 1..=3 {
            let mut eq = IirEq::new(3, 256, bands.len());
            eq.set_sample_rate(fs);
            for (i, b) in bands.iter().enumerate() {
                eq.set_band(i, *b);
            }
            eq.reset();
            let inputs: Vec<Vec<f32>> = (0..nch).map(|c| noise(30_000, 20 + c as u64)).collect();
            let mut out = inputs.clone();
            for start in (0..30_000).step_by(1000) {
                let mut chans: Vec<&mut [f32]> = out
                    .iter_mut()
                    .map(|c| &mut c[start..start + 1000])
                    .collect();
                eq.process(&mut chans);
            }
            for (x, y) in inputs.iter().zip(&out) {
                let want = reference_cascade(&bands, fs, x);
                let err = want
                    .iter()
                    .zip(y)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(err <= 1e-6, "{fs} Hz, {nch} channels: off by {err}");
            }
        }
    }
}

#[test]
fn odd_channel_counts_match_mono_runs_bit_exactly() {
    // Channels run in pairs (a dummy lane for the odd one out); a channel's output must not
    // depend on its lane or partner.
    let bands = [
        Band::new(BandType::LowCut, 40.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db24),
        Band::new(BandType::Bell, 900.0, 5.0, 1.2),
    ];
    let setup = |nch: usize| {
        let mut eq = IirEq::new(nch, 128, 2);
        eq.set_sample_rate(44_100.0);
        for (i, b) in bands.iter().enumerate() {
            eq.set_band(i, *b);
        }
        eq
    };
    let inputs: Vec<Vec<f32>> = (0..3).map(|c| noise(5000, 30 + c as u64)).collect();
    let mut three = inputs.clone();
    let mut eq = setup(3);
    for start in (0..5000).step_by(500) {
        let mut chans: Vec<&mut [f32]> = three
            .iter_mut()
            .map(|c| &mut c[start..start + 500])
            .collect();
        eq.process(&mut chans);
    }
    for (x, y) in inputs.iter().zip(&three) {
        let mut mono = x.clone();
        let mut eq = setup(1);
        for c in mono.chunks_mut(500) {
            eq.process(&mut [c]);
        }
        assert!(mono == *y, "channel differs from its mono run");
    }
}

#[test]
fn ramps_ending_mid_chunk_do_not_depend_on_block_size() {
    // A stereo parameter change at sample 10 240 (a boundary of every block size here); the
    // 10 ms ramp (480 samples) then ends inside a chunk for blocks 64, 100 and 1024, so ramping
    // and steady samples share chunks.
    let input = [noise(20_000, 40), noise(20_000, 41)];
    let run = |block: usize| {
        let mut eq = IirEq::new(2, 256, 3);
        eq.set_sample_rate(48_000.0);
        eq.set_band(0, Band::new(BandType::LowShelf, 120.0, 3.0, 0.7));
        eq.set_band(1, Band::new(BandType::Bell, 2500.0, -6.0, 2.0));
        eq.reset();
        let [mut l, mut r] = input.clone();
        for (n, (a, b)) in l.chunks_mut(block).zip(r.chunks_mut(block)).enumerate() {
            if n * block == 10_240 {
                eq.set_band(1, Band::new(BandType::Bell, 3000.0, 6.0, 1.0));
                eq.set_band(
                    2,
                    Band::new(BandType::HighCut, 9000.0, 0.0, FRAC_1_SQRT_2)
                        .with_slope(Slope::Db24),
                );
            }
            eq.process(&mut [a, b]);
        }
        [l, r]
    };
    let reference = run(1);
    for block in [64, 80, 1024, 2048] {
        assert!(run(block) == reference, "block {block} differs");
    }
}

#[test]
fn process_does_not_allocate_steady_or_ramping() {
    let mut eq = IirEq::new(3, 64, 4);
    eq.set_sample_rate(96_000.0);
    let mut bufs: Vec<Vec<f32>> = (0..3).map(|c| noise(4096, 50 + c as u64)).collect();
    let n = allocations_in(|| {
        for (i, gain) in [3.0, -4.0, 6.0].into_iter().enumerate() {
            eq.set_band(
                i,
                Band::new(BandType::Bell, 500.0 * (i + 1) as f64, gain, 1.0),
            );
            eq.set_band(
                3,
                Band::new(BandType::LowCut, 30.0, 0.0, 0.7).with_slope(Slope::Db36),
            );
            for nch in 1..=3 {
                for size in [1, 17, 64, 1000] {
                    let (a, rest) = bufs.split_at_mut(1);
                    let (b, c) = rest.split_at_mut(1);
                    let mut all = [&mut a[0][..size], &mut b[0][..size], &mut c[0][..size]];
                    eq.process(&mut all[..nch]);
                }
            }
        }
        eq.reset();
    });
    assert_eq!(n, 0, "{n} allocations in process");
}

/// The Channel Strip's filter path: a 12 dB/oct HPF + LPF in one `IirEq` and four
/// bells/shelves in another (6 sections per channel), as the plugin builds them.
fn strip_like(fs: f64, max_block: usize) -> [IirEq; 2] {
    let mut filters = IirEq::new(2, max_block, 2);
    let mut eq = IirEq::new(2, max_block, 4);
    filters.set_sample_rate(fs);
    eq.set_sample_rate(fs);
    filters.set_band(
        0,
        Band::new(BandType::LowCut, 30.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db12),
    );
    filters.set_band(
        1,
        Band::new(BandType::HighCut, 18_000.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db12),
    );
    eq.set_band(0, Band::new(BandType::LowShelf, 100.0, 2.0, 0.7));
    eq.set_band(1, Band::new(BandType::Bell, 400.0, -3.0, 1.4));
    eq.set_band(2, Band::new(BandType::Bell, 3000.0, 1.5, 1.0));
    eq.set_band(3, Band::new(BandType::HighShelf, 10_000.0, 2.0, 0.7));
    filters.reset();
    eq.reset();
    [filters, eq]
}

/// An 8-band EQ (24 dB/oct low cut, low shelf, four bells, high shelf, 12 dB/oct high cut:
/// 9 sections per channel) in one `IirEq`.
fn eight_bands(fs: f64, max_block: usize) -> [IirEq; 1] {
    let mut eq = IirEq::new(2, max_block, 8);
    eq.set_sample_rate(fs);
    let bands = [
        Band::new(BandType::LowCut, 25.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db24),
        Band::new(BandType::LowShelf, 90.0, 2.0, 0.7),
        Band::new(BandType::Bell, 250.0, -2.0, 1.0),
        Band::new(BandType::Bell, 700.0, 1.0, 2.0),
        Band::new(BandType::Bell, 2500.0, -1.5, 1.0),
        Band::new(BandType::Bell, 6000.0, 2.0, 0.8),
        Band::new(BandType::HighShelf, 11_000.0, 1.5, 0.7),
        Band::new(BandType::HighCut, 19_000.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db12),
    ];
    for (i, b) in bands.into_iter().enumerate() {
        eq.set_band(i, b);
    }
    eq.reset();
    [eq]
}

/// Best-of-`reps` x realtime (seconds of 48 kHz stereo per CPU second) of `units` run in
/// series over `secs` of programme material in host blocks of `block`.
fn x_realtime<const N: usize>(
    mut units: [IirEq; N],
    l: &[f32],
    r: &[f32],
    block: usize,
    reps: usize,
) -> f64 {
    let secs = l.len() as f64 / 48_000.0;
    let mut best = f64::INFINITY;
    let (mut a, mut b) = (l.to_vec(), r.to_vec());
    for _ in 0..reps {
        a.copy_from_slice(l);
        b.copy_from_slice(r);
        let t = CpuTimer::start();
        for (ca, cb) in a.chunks_mut(block).zip(b.chunks_mut(block)) {
            for u in &mut units {
                u.process(&mut [&mut ca[..], &mut cb[..]]);
            }
        }
        best = best.min(t.seconds());
        assert!(a.iter().chain(b.iter()).all(|v| v.is_finite()));
    }
    secs / best
}

/// Steady-state throughput of the Channel Strip's filter path and of an 8-band EQ, printed as
/// x realtime beside a gain-only reference measured in the same run. Run with
/// `cargo test --release -p shared-dsp --test filter_chain -- --ignored --nocapture bench_`.
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn bench_iir_eq_x_realtime() {
    let fs = 48_000.0;
    let [l, r] = programme(fs, 5.0, 1);
    let reps = 7;
    for block in [64usize, 1024] {
        let strip = x_realtime(strip_like(fs, 1024), &l, &r, block, reps);
        let eight = x_realtime(eight_bands(fs, 1024), &l, &r, block, reps);
        let mut g = l.clone();
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = CpuTimer::start();
            for c in g.chunks_mut(block) {
                for v in c.iter_mut() {
                    *v *= 0.999;
                }
                std::hint::black_box(&mut *c);
            }
            best = best.min(t.seconds());
        }
        let gain = 0.5 * l.len() as f64 / 48_000.0 / best;
        println!(
            "block {block:4}: strip-like (HPF+LPF 12 dB, 4 bells/shelves; 6 sections) {strip:6.0} x realtime, \
             8 bands (9 sections) {eight:6.0} x realtime (gain-only reference {gain:.0} x)"
        );
    }
}
