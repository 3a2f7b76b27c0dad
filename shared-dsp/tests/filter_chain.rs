//! Behaviour of the `IirEq` processing unit: transparency, NaN safety, click-free parameter
//! changes, block-size invariance, multi-channel independence, throughput.

use shared_dsp::filter::{Band, BandType, EqCurve, IirEq, Slope, process_stereo};
use shared_dsp::signal::{Rng, programme, sine};
use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::time::Instant;

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
    let t = Instant::now();
    let reps = 100;
    for _ in 0..reps {
        curve.fill_db(&freqs, &mut out);
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
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
        let t = Instant::now();
        process_stereo(&mut eq, &mut l, &mut r, block);
        let secs = t.elapsed().as_secs_f64();
        // Reference in the same run: a plain f32 copy-and-scale pass over the same audio.
        let t2 = Instant::now();
        for v in l.iter_mut().chain(r.iter_mut()) {
            *v *= 0.999;
        }
        let ref_secs = t2.elapsed().as_secs_f64();
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
