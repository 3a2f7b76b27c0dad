//! Measured magnitude of the matched IIR EQ against the exact analog prototypes.
//!
//! Method: an impulse goes through [`IirEq`] (the real processing path, f32 in/out), its
//! response is FFT'd with realfft and compared, bin by bin at log-spaced frequencies from 20 Hz
//! to 20 kHz, with the analog magnitude. The analog side is evaluated twice: by
//! `Band::magnitude_db` and by an independent textbook formula written out below, so a wrong
//! prototype cannot hide behind a matching digital filter.
//!
//! Run with `--nocapture` to see the error table.

use realfft::RealFftPlanner;
use shared_dsp::filter::{Band, BandType, IirEq, Slope};
use std::f64::consts::FRAC_1_SQRT_2;

/// Sample rates of the accuracy requirement.
const RATES: [f64; 3] = [44_100.0, 48_000.0, 96_000.0];

/// Impulse response of a single band through `IirEq`, as magnitude spectrum (linear).
fn measured_spectrum(band: Band, fs: f64, n: usize) -> Vec<f64> {
    let mut eq = IirEq::new(1, 4096, 1);
    eq.set_sample_rate(fs);
    eq.set_band(0, band);
    eq.reset(); // settle on the design, no ramp
    let mut x = vec![0.0f32; n];
    x[0] = 1.0;
    eq.process(&mut [&mut x[..]]);
    let tail = x[n - 64..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        tail < 1e-6,
        "impulse response not decayed ({tail}) for {band:?}"
    );
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let mut input: Vec<f64> = x.iter().map(|v| *v as f64).collect();
    let mut out = fft.make_output_vec();
    fft.process(&mut input, &mut out).unwrap();
    out.iter().map(|c| c.norm()).collect()
}

/// Textbook analog magnitude (RBJ cookbook prototypes, Butterworth), independent of the crate.
fn oracle_db(band: &Band, f: f64) -> f64 {
    let w = f / band.freq_hz;
    let a = 10f64.powf(band.gain_db / 40.0);
    let q = band.q;
    let w2 = w * w;
    // |num|^2 / |den|^2 of (n0 + n1 s + n2 s^2) / (d0 + d1 s + d2 s^2) at s = jw.
    let ratio = |n: [f64; 3], d: [f64; 3]| {
        let nr = n[0] - n[2] * w2;
        let ni = n[1] * w;
        let dr = d[0] - d[2] * w2;
        let di = d[1] * w;
        10.0 * ((nr * nr + ni * ni) / (dr * dr + di * di)).log10()
    };
    match band.kind {
        BandType::Bell => ratio([1.0, a / q, 1.0], [1.0, 1.0 / (a * q), 1.0]),
        BandType::LowShelf => {
            // RBJ: H(s) = A (s^2 + sqrt(A)/Q s + A) / (A s^2 + sqrt(A)/Q s + 1)
            20.0 * a.log10() + ratio([a, a.sqrt() / q, 1.0], [1.0, a.sqrt() / q, a])
        }
        BandType::HighShelf => {
            // RBJ: H(s) = A (A s^2 + sqrt(A)/Q s + 1) / (s^2 + sqrt(A)/Q s + A)
            20.0 * a.log10() + ratio([1.0, a.sqrt() / q, a], [a, a.sqrt() / q, 1.0])
        }
        BandType::TiltShelf => ratio([1.0, a.sqrt() / q, a], [a, a.sqrt() / q, 1.0]),
        BandType::LowCut | BandType::HighCut if (q - FRAC_1_SQRT_2).abs() < 1e-9 => {
            // Butterworth: |H|^2 = 1 / (1 + (f0/f)^2n) (high-pass), 1 / (1 + (f/f0)^2n).
            let n = band.slope.order() as i32;
            let r = if band.kind == BandType::LowCut {
                1.0 / w
            } else {
                w
            };
            -10.0 * (1.0 + r.powi(2 * n)).log10()
        }
        _ => band.magnitude_db(f),
    }
}

/// Worst |measured - analog| in dB over 20 Hz..20 kHz (points where the analog response is
/// above `floor_db`), and the frequency where it occurs.
fn worst_error(band: Band, fs: f64, floor_db: f64) -> (f64, f64) {
    let n = if band.freq_hz < 200.0 {
        1 << 18
    } else {
        1 << 16
    };
    let spec = measured_spectrum(band, fs, n);
    let mut worst = (0.0f64, 0.0);
    let points = 300;
    for i in 0..points {
        let f = 20.0 * 1000f64.powf(i as f64 / (points - 1) as f64);
        let k = (f * n as f64 / fs).round() as usize;
        let fk = k as f64 * fs / n as f64;
        let analog = band.magnitude_db(fk);
        let oracle = oracle_db(&band, fk);
        assert!(
            (analog - oracle).abs() < 1e-9,
            "prototype {analog} != textbook {oracle} at {fk} Hz for {band:?}"
        );
        if analog < floor_db {
            continue;
        }
        let measured = 20.0 * spec[k].log10();
        let e = (measured - analog).abs();
        assert!(e.is_finite(), "non-finite response for {band:?}");
        if e > worst.0 {
            worst = (e, fk);
        }
    }
    worst
}

fn print_row(name: &str, fs: f64, worst: (f64, f64, Band)) {
    let b = worst.2;
    println!(
        "| {name:<22} | {:>6.1} kHz | {:>6.3} dB | at {:>7.0} Hz (f0 {} Hz, {:+} dB, Q {:.3}) |",
        fs / 1000.0,
        worst.0,
        worst.1,
        b.freq_hz,
        b.gain_db,
        b.q
    );
}

/// Q values of the spec range 0.3..8.
const ALL_Q: &[f64] = &[0.3, FRAC_1_SQRT_2, 2.0, 4.0, 8.0];
/// The non-resonant part of that range, sampled more densely.
const SHELF_Q: &[f64] = &[0.3, 0.5, FRAC_1_SQRT_2, 1.0, 1.4, 2.0];
/// Resonant shelves (two digital sections, see the `design` module docs).
const RESONANT_SHELF_Q: &[f64] = &[4.0, 8.0];

/// Spec grid: gains +-18 (and +-6), the given Qs, f0 30 Hz..16 kHz.
fn grid(kind: BandType, qs: &[f64]) -> Vec<Band> {
    let mut v = Vec::new();
    for f0 in [
        30.0, 100.0, 300.0, 1000.0, 3000.0, 6000.0, 10_000.0, 13_000.0, 16_000.0,
    ] {
        for g in [-18.0, -6.0, 6.0, 18.0] {
            for &q in qs {
                v.push(Band::new(kind, f0, g, q));
            }
        }
    }
    v
}

fn check_kind(kind: BandType, qs: &[f64], limit_db: f64) {
    let mut failures = Vec::new();
    for fs in RATES {
        let mut worst = (0.0, 0.0, Band::default());
        for band in grid(kind, qs) {
            let (e, f) = worst_error(band, fs, -200.0);
            if e > worst.0 {
                worst = (e, f, band);
            }
            if e > limit_db {
                failures.push(format!("{fs} Hz {band:?}: {e:.3} dB at {f:.0} Hz"));
            }
        }
        print_row(
            &format!("{kind:?} Q {}..{}", qs[0], qs[qs.len() - 1]),
            fs,
            worst,
        );
    }
    assert!(
        failures.is_empty(),
        "{} cases over {limit_db} dB:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bell_matches_analog_within_half_db_up_to_20k() {
    check_kind(BandType::Bell, ALL_Q, 0.5);
}

#[test]
fn cramping_cases_bell_10k_16k_at_44k1_within_half_db() {
    for f0 in [10_000.0, 16_000.0] {
        for g in [-18.0, 18.0] {
            for q in [0.3, 1.0, 4.0, 8.0] {
                let band = Band::new(BandType::Bell, f0, g, q);
                let (e, f) = worst_error(band, 44_100.0, -200.0);
                println!("bell {f0} Hz {g:+} dB Q {q}: worst {e:.3} dB at {f:.0} Hz");
                assert!(e < 0.5, "{band:?}: {e} dB at {f} Hz");
            }
        }
    }
}

#[test]
fn low_shelf_q_up_to_2_matches_analog_within_half_db_up_to_20k() {
    check_kind(BandType::LowShelf, SHELF_Q, 0.5);
}

#[test]
fn high_shelf_q_up_to_2_matches_analog_within_half_db_up_to_20k() {
    check_kind(BandType::HighShelf, SHELF_Q, 0.5);
}

#[test]
fn tilt_shelf_q_up_to_2_matches_analog_within_half_db_up_to_20k() {
    check_kind(BandType::TiltShelf, SHELF_Q, 0.5);
}

// Resonant shelves: a single biquad missed by 2..16 dB here (resonance near or above Nyquist at
// 44.1/48 kHz); the two-section shelf design (see the `design` module docs) meets the spec.
#[test]
fn resonant_shelves_q4_to_q8_match_analog_within_half_db_up_to_20k() {
    for kind in [BandType::LowShelf, BandType::HighShelf, BandType::TiltShelf] {
        check_kind(kind, RESONANT_SHELF_Q, 0.5);
    }
}

#[test]
fn resonant_shelves_are_stable_and_exact_near_dc() {
    // Besides the 0.5 dB match: a finite, decaying impulse response (checked inside
    // `measured_spectrum`) and the analog gain at the lowest FFT bin (DC match).
    for fs in RATES {
        for band in grid(BandType::LowShelf, RESONANT_SHELF_Q)
            .into_iter()
            .chain(grid(BandType::HighShelf, RESONANT_SHELF_Q))
        {
            let n = if band.freq_hz < 200.0 {
                1 << 18
            } else {
                1 << 16
            };
            let spec = measured_spectrum(band, fs, n);
            let f1 = fs / n as f64;
            let e = 20.0 * spec[1].log10() - band.magnitude_db(f1);
            assert!(e.abs() < 0.1, "{fs} {band:?}: {e:.3} dB at {f1:.2} Hz");
        }
    }
}

#[test]
fn low_cut_slopes_match_butterworth_one_octave_below_cutoff() {
    // Analytic Butterworth high-pass: |H(f)|^2 = 1 / (1 + (fc/f)^(2n)); at f = fc/2 this is
    // -10 log10(1 + 4^n) dB, e.g. -12.30 dB for 12 dB/oct.
    for fs in RATES {
        for fc in [30.0, 100.0, 1000.0, 5000.0] {
            for slope in Slope::ALL {
                let n = slope.order() as i32;
                let band = Band::new(BandType::LowCut, fc, 0.0, FRAC_1_SQRT_2).with_slope(slope);
                let expected = -10.0 * (1.0 + 4f64.powi(n)).log10();
                let len = if fc < 200.0 { 1 << 18 } else { 1 << 16 };
                let spec = measured_spectrum(band, fs, len);
                // Exact bin at fc / 2: choose fc so that it falls on a bin? Use the bin's own
                // frequency in the formula instead.
                let k = (0.5 * fc * len as f64 / fs).round() as usize;
                let fk = k as f64 * fs / len as f64;
                let expected_k = -10.0 * (1.0 + (fc / fk).powi(2 * n)).log10();
                let measured = 20.0 * spec[k].log10();
                if fc == 100.0 && slope == Slope::Db12 && fs == 48_000.0 {
                    println!(
                        "12 dB/oct HP at 100 Hz, 48 kHz: {measured:.3} dB at 50 Hz (analytic {expected:.3})"
                    );
                }
                assert!(
                    (measured - expected_k).abs() < 0.5,
                    "{fs} Hz {fc} Hz {slope:?}: {measured:.3} dB vs {expected_k:.3}"
                );
            }
        }
    }
}

#[test]
fn cut_filters_error_table() {
    // Whole-band error of every cut slope (points above -60 dB), printed for the report; the
    // assertion is the requirement for high-pass slopes above (one octave below cutoff) and a
    // sanity bound here.
    for kind in [BandType::LowCut, BandType::HighCut] {
        for fs in RATES {
            for slope in Slope::ALL {
                let mut worst = (0.0, 0.0, Band::default());
                for f0 in [30.0, 100.0, 1000.0, 5000.0, 10_000.0, 16_000.0] {
                    let band = Band::new(kind, f0, 0.0, FRAC_1_SQRT_2).with_slope(slope);
                    let (e, f) = worst_error(band, fs, -60.0);
                    if e > worst.0 {
                        worst = (e, f, band);
                    }
                }
                print_row(&format!("{kind:?} {slope:?}"), fs, worst);
                assert!(worst.0 < 6.0, "{kind:?} {slope:?} {fs}: {:?}", worst);
            }
        }
    }
}

#[test]
fn notch_and_band_pass_error_table() {
    for kind in [BandType::Notch, BandType::BandPass] {
        for fs in RATES {
            let mut worst = (0.0, 0.0, Band::default());
            for f0 in [30.0, 100.0, 1000.0, 5000.0, 10_000.0, 16_000.0] {
                for q in [0.3, FRAC_1_SQRT_2, 2.0, 8.0] {
                    let band = Band::new(kind, f0, 0.0, q);
                    // Points above -30 dB: the notch depth itself is not a magnitude to match.
                    let (e, f) = worst_error(band, fs, -30.0);
                    if e > worst.0 {
                        worst = (e, f, band);
                    }
                }
            }
            print_row(&format!("{kind:?}"), fs, worst);
            // No spec tolerance for these types; a sanity bound that a broken design fails.
            assert!(worst.0 < 6.0, "{kind:?} {fs}: {:?}", worst);
        }
    }
}
