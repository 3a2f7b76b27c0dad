//! Linear-phase FIR design: accuracy against analog prototype magnitudes, symmetry, latency.

use shared_dsp::fir::{
    DesignScratch, Resolution, Window, design_linear_phase, design_linear_phase_windowed,
};
use std::f64::consts::PI;

/// Magnitude of the RBJ "Audio EQ Cookbook" analog prototypes (R. Bristow-Johnson), evaluated at
/// s = j f / f0. Independent of the design code: these are the formulas the cookbook's bilinear
/// designs start from.
#[derive(Debug, Clone, Copy)]
enum Analog {
    /// Peaking EQ: H(s) = (s^2 + s A/Q + 1) / (s^2 + s/(A Q) + 1), A = 10^(G/40).
    Bell { f0: f64, q: f64, gain_db: f64 },
    /// Low shelf: H(s) = A (s^2 + s sqrt(A)/Q + A) / (A s^2 + s sqrt(A)/Q + 1).
    LowShelf { f0: f64, q: f64, gain_db: f64 },
    /// High shelf: H(s) = A (A s^2 + s sqrt(A)/Q + 1) / (s^2 + s sqrt(A)/Q + A).
    HighShelf { f0: f64, q: f64, gain_db: f64 },
}

fn cabs(re: f64, im: f64) -> f64 {
    re.hypot(im)
}

impl Analog {
    fn mag(self, f: f64) -> f64 {
        match self {
            Analog::Bell { f0, q, gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                let w = f / f0;
                // s = jw: s^2 = -w^2.
                cabs(1.0 - w * w, w * a / q) / cabs(1.0 - w * w, w / (a * q))
            }
            Analog::LowShelf { f0, q, gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                let w = f / f0;
                let sa = a.sqrt() / q;
                a * cabs(a - w * w, w * sa) / cabs(1.0 - a * w * w, w * sa)
            }
            Analog::HighShelf { f0, q, gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                let w = f / f0;
                let sa = a.sqrt() / q;
                a * cabs(1.0 - a * w * w, w * sa) / cabs(a - w * w, w * sa)
            }
        }
    }
}

/// Zero-phase magnitude of a symmetric kernel at `f` Hz by direct cosine sum (f64), an oracle
/// independent of the FFTs used in the design.
fn kernel_mag(h: &[f32], f: f64, fs: f64) -> f64 {
    let c = (h.len() - 1) / 2;
    let w = 2.0 * PI * f / fs;
    // Chebyshev-style recurrence for cos(k w) keeps this O(taps) without calling cos per tap.
    let (mut c0, mut c1) = (1.0f64, w.cos());
    let two_cos = 2.0 * w.cos();
    let mut sum = h[c] as f64;
    for k in 1..=c {
        let ck = if k == 1 {
            c1
        } else {
            let n = two_cos * c1 - c0;
            c0 = c1;
            c1 = n;
            n
        };
        sum += 2.0 * h[c + k] as f64 * ck;
    }
    sum.abs()
}

/// Log-spaced test frequencies from `lo` to `hi`, plus the target's centre frequency.
fn sweep(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| lo * (hi / lo).powf(i as f64 / (n - 1) as f64))
        .collect()
}

/// Bells and shelves with Q from 0.5 to 4 and gains of +-6, +-12 dB, centre frequencies from 20 Hz
/// to 18 kHz, keeping those whose bandwidth `f0 / Q` is at least `min_bandwidth_hz`.
fn targets(min_bandwidth_hz: f64) -> Vec<Analog> {
    let mut v = Vec::new();
    for &f0 in &[
        20.0, 30.0, 50.0, 70.0, 100.0, 200.0, 1000.0, 10_000.0, 18_000.0,
    ] {
        for &q in &[0.5, 0.707, 1.0, 2.0, 4.0] {
            if f0 / q < min_bandwidth_hz {
                continue;
            }
            for &gain_db in &[-12.0, -6.0, 6.0, 12.0] {
                v.push(Analog::Bell { f0, q, gain_db });
                if f0 <= 10_000.0 {
                    v.push(Analog::LowShelf { f0, q, gain_db });
                    v.push(Analog::HighShelf { f0, q, gain_db });
                }
            }
        }
    }
    v
}

/// Worst |error| in dB over `freqs` and the target where it happens.
fn worst_error(
    res: Resolution,
    fs: f64,
    window: Option<Window>,
    lo: f64,
    targets: &[Analog],
) -> (f64, Analog, f64) {
    let taps = res.taps(fs);
    let mut scratch = DesignScratch::new(taps);
    let mut h = vec![0.0f32; taps];
    let freqs = sweep(lo, 20_000.0, 150);
    let mut worst = (0.0, targets[0], 0.0);
    for &t in targets {
        match window {
            Some(w) => {
                design_linear_phase_windowed(|f| t.mag(f), taps, fs, w, &mut h, &mut scratch)
            }
            None => {
                design_linear_phase(|f| t.mag(f), taps, fs, &mut h, &mut scratch);
            }
        }
        for &f in &freqs {
            let e = 20.0 * (kernel_mag(&h, f, fs) / t.mag(f)).log10();
            if e.abs() > worst.0 {
                worst = (e.abs(), t, f);
            }
        }
    }
    worst
}

fn targets_at(f0: f64) -> Vec<Analog> {
    let mut v = Vec::new();
    for &q in &[0.5, 0.707, 1.0, 2.0, 4.0] {
        for &g in &[-12.0, 12.0] {
            v.push(Analog::Bell { f0, q, gain_db: g });
            v.push(Analog::LowShelf { f0, q, gain_db: g });
            v.push(Analog::HighShelf { f0, q, gain_db: g });
        }
    }
    v
}

/// Worst passband error (dB) of an order-`order` Butterworth high-pass at `f0`, from `2 f0` up.
fn hpf_error(res: Resolution, fs: f64, window: Window, f0: f64, order: i32) -> f64 {
    let taps = res.taps(fs);
    let mut scratch = DesignScratch::new(taps);
    let mut h = vec![0.0f32; taps];
    let mag = |f: f64| 1.0 / (1.0 + (f0 / f).powi(2 * order)).sqrt();
    design_linear_phase_windowed(mag, taps, fs, window, &mut h, &mut scratch);
    sweep(2.0 * f0, 20_000.0, 300)
        .iter()
        .map(|&f| (20.0 * (kernel_mag(&h, f, fs) / mag(f)).log10()).abs())
        .fold(0.0, f64::max)
}

#[test]
#[ignore = "exploration: cargo test --release -p shared-dsp --test fir_design -- --ignored --nocapture"]
fn explore_windows() {
    let fs = 48_000.0;
    let windows = [
        Window::Kaiser { beta: 0.0 },
        Window::Tukey { taper: 0.05 },
        Window::Tukey { taper: 0.1 },
        Window::Tukey { taper: 0.2 },
        Window::Tukey { taper: 0.4 },
        Window::Kaiser { beta: 2.0 },
    ];
    for res in [Resolution::Low, Resolution::Medium, Resolution::High] {
        for w in windows {
            let mut line = format!("{res:?} {w:?}:");
            for f0 in [30.0, 50.0, 70.0, 100.0, 200.0, 1000.0] {
                let (e, _, _) = worst_error(res, fs, Some(w), 20.0, &targets_at(f0));
                line += &format!(" {f0}:{e:.3}");
            }
            for (f0, order) in [(30.0, 4), (30.0, 8), (100.0, 8), (1000.0, 8)] {
                line += &format!(" hpf{order}@{f0}:{:.3}", hpf_error(res, fs, w, f0, order));
            }
            println!("{line}");
        }
    }
}

/// Bandwidth (f0 / Q, Hz) down to which a mode meets 0.1 dB: the frequency resolution of a
/// kernel is set by its length, so the narrowest feature it can reproduce scales with
/// 1 / latency. Measured (`explore_windows`): medium (107 ms half-length) reproduces Q 4 from
/// 100 Hz, i.e. 25 Hz bandwidth; each doubling of the length halves it. High and maximum
/// (491 and 1003 ms) reproduce every target of [`targets`] (Q 4 at 20 Hz: 5 Hz).
fn min_bandwidth_hz(res: Resolution) -> f64 {
    match res {
        // Not in the spec; an overdamped Q 0.5 cut at 30 Hz (real pole near 8 Hz) needs this.
        Resolution::Low => 100.0,
        Resolution::Medium => 25.0,
        Resolution::High | Resolution::Maximum => 0.0,
    }
}

/// 0.1 dB from 20 Hz to 20 kHz (analog RBJ prototypes as the oracle, direct cosine-sum
/// evaluation of the kernel) for every bell and shelf the mode's length can resolve, at 44.1, 48
/// and 96 kHz. Prints the worst error per mode.
fn check_accuracy(res: Resolution, rates: &[f64]) {
    let set = targets(min_bandwidth_hz(res));
    for &fs in rates {
        let (e, t, f) = worst_error(res, fs, None, 20.0, &set);
        println!(
            "{res:?} at {fs} Hz, bandwidth >= {} Hz, 20 Hz..20 kHz: worst {e:.4} dB ({t:?} at {f:.1} Hz)",
            min_bandwidth_hz(res)
        );
        assert!(
            e < 0.1,
            "{res:?} at {fs} Hz: {e:.4} dB at {f:.1} Hz for {t:?}"
        );
    }
}

#[test]
fn design_within_0_1_db_low() {
    check_accuracy(Resolution::Low, &[44_100.0, 48_000.0, 96_000.0]);
}

#[test]
fn design_within_0_1_db_medium() {
    check_accuracy(Resolution::Medium, &[44_100.0, 48_000.0, 96_000.0]);
}

/// The brief's requirement for high and maximum: every bell and shelf with Q up to 4 (gains
/// +-6 and +-12 dB, f0 from 20 Hz), 0.1 dB from 20 Hz.
#[test]
fn design_within_0_1_db_high_every_q4_target() {
    check_accuracy(Resolution::High, &[48_000.0]);
}

/// As for high.
#[test]
fn design_within_0_1_db_maximum_every_q4_target() {
    check_accuracy(Resolution::Maximum, &[48_000.0]);
}

/// The brief's requirement for medium: every bell and shelf with Q up to 4, 0.1 dB from 30 Hz,
/// at 48 kHz. Not met, and as far as every design tried reaches, not reachable with medium's
/// length (the brief's "about 6000 samples" of latency); high and maximum meet theirs (the
/// tests above).
///
/// Measured at 48 kHz with kernels of exactly the modes' lengths (this test's 150-point sweep
/// for the shipped design; `explore_wls` and `explore_lawson_single`, 600-point sweep from
/// 30 / 20 Hz to 20 kHz, for the others):
/// - Shipped design (`DEFAULT_WLS`, one weighted least-squares solve of the relative error, weight
///   0.1 below 20 Hz), 10 241 taps (6144-sample total latency): 2.02 dB from 30 Hz (Q 4 +12 dB
///   bell at 30 Hz). With the former 12 001 taps: 1.55 dB; the former windowed design at that
///   length: 3.67 dB. For comparison, the same design at 22 529 taps (the former high, 12 288
///   in total) reached 0.85 dB from 20 Hz, and at 47 105 taps (high now) 0.063 dB (0.069 dB
///   with the design grid of 4 now).
/// - The explorations below ran with the former 12 001 / 24 001-tap kernels.
/// - Best found for medium, Q 4 targets at 20..70 Hz, +-6/+-12 dB: full weight from 30 Hz,
///   weight 0.01 below, 5..10 Lawson passes towards minimax: 0.37 dB (Q 4 +12 dB bell at 50 Hz).
///   The limit is a target whose whole feature lies above 30 Hz, so the freedom below 30 Hz
///   cannot help it: for the Q 4 +12 dB bell at 50 Hz alone, Lawson (up to 40 passes, envelope
///   weights, exponent 1 and 0.5) with weight 1e-4 below 30 Hz (response below 30 Hz left
///   free: it strays by up to 40 dB) levels off at 0.22 dB, and at 0.24 dB with weight 0.01
///   (within 2.7 dB below 30 Hz). The Q 4 +12 dB bell at 70 Hz reaches 0.08 dB.
/// - 24 001 taps, Q 4 +12 dB bell at 20 Hz: 0.17 dB with weight 0.01 below 20 Hz and Lawson
///   (within 1.8 dB below 20 Hz).
///
/// - The shipped design at longer lengths (`explore_medium_length_for_q4_from_30_hz`, total
///   latency with the 1024 partition: worst from 30 Hz over every Q <= 4 target): 6144: 2.01 dB,
///   8192: 1.15, 10 240: 0.58, 12 288: 0.34, 14 336: 0.19, 16 384: 0.107, 20 480: 0.034 dB. So
///   medium would need about 17 000 samples (2.8x the brief's "about 6000") to meet it.
///
/// So, as far as these designs reach, even a 12 001-tap symmetric kernel (a total latency of
/// 6144 allows at most 12 289 taps, with a convolver of no latency of its own) misses 0.1 dB by a factor of about 2 for Q 4
/// bells at 50 Hz, wherever the error below 30 Hz is allowed to go. The physics: a +12 dB Q 4
/// bell at 30 Hz has poles with a 85 ms time constant (damping w0 / (2 A Q)), and its
/// zero-phase response is cut at +-128 ms.
#[test]
#[ignore = "not met by medium (best found 0.22 dB, Q 4 bell at 50 Hz): see doc; \
            cargo test --release -p shared-dsp --test fir_design design_within_0_1_db_medium_every_q4_target -- --ignored --nocapture"]
fn design_within_0_1_db_medium_every_q4_target() {
    let (e, t, f) = worst_error(Resolution::Medium, 48_000.0, None, 30.0, &targets(0.0));
    println!("Medium from 30 Hz, all targets: worst {e:.4} dB ({t:?} at {f:.1} Hz)");
    assert!(e < 0.1);
}

#[test]
fn kernel_is_exactly_symmetric() {
    for fs in [44_100.0, 48_000.0, 192_000.0] {
        let taps = Resolution::Medium.taps(fs);
        let mut scratch = DesignScratch::new(taps);
        let mut h = vec![0.0f32; taps];
        let t = Analog::HighShelf {
            f0: 3000.0,
            q: 0.707,
            gain_db: 9.0,
        };
        design_linear_phase(|f| t.mag(f), taps, fs, &mut h, &mut scratch);
        let (mut sym, mut anti) = (0.0f64, 0.0f64);
        for n in 0..taps {
            let (a, b) = (h[n] as f64, h[taps - 1 - n] as f64);
            sym += (a + b).powi(2);
            anti += (a - b).powi(2);
        }
        let ratio_db = 10.0 * (anti / sym).log10();
        assert!(
            ratio_db <= -80.0 || anti == 0.0,
            "antisymmetric part {ratio_db:.1} dB"
        );
        // Peak at the centre = latency.
        let peak = h
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert_eq!(peak, Resolution::Medium.latency(fs));
    }
}

#[test]
fn resolution_keeps_latency_in_seconds_across_sample_rates() {
    // With the EQ's 1024-sample partition: 3072 and 6144 samples in total at 48 kHz.
    assert!(Resolution::Low.latency(48_000.0) + 1024 <= 3072);
    assert_eq!(Resolution::Medium.latency(48_000.0) + 1024, 6144);
    for res in Resolution::ALL {
        let base = res.latency(48_000.0) as f64 / 48_000.0;
        for fs in [44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0] {
            let taps = res.taps(fs);
            assert_eq!(taps % 2, 1);
            assert_eq!(res.latency(fs), (taps - 1) / 2);
            let secs = res.latency(fs) as f64 / fs;
            assert!(
                (secs - base).abs() <= 0.5 / fs + 1e-12,
                "{res:?} at {fs}: {secs} s vs {base} s"
            );
        }
    }
    for w in Resolution::ALL.windows(2) {
        assert!(w[0].taps(48_000.0) < w[1].taps(48_000.0));
    }
}

/// A flat target gives a unit impulse at the centre (the identity), to f32 precision.
#[test]
fn flat_target_designs_a_delayed_unit_impulse() {
    let taps = Resolution::Low.taps(48_000.0);
    let mut scratch = DesignScratch::new(taps);
    let mut h = vec![0.0f32; taps];
    design_linear_phase(|_| 1.0, taps, 48_000.0, &mut h, &mut scratch);
    let c = (taps - 1) / 2;
    for (n, &v) in h.iter().enumerate() {
        let want = if n == c { 1.0 } else { 0.0 };
        assert!((v - want).abs() < 1e-6, "tap {n}: {v}");
    }
}

/// Non-finite or negative target values are treated as 0 and never reach the kernel.
#[test]
fn non_finite_target_gives_finite_kernel() {
    let taps = 1001;
    let mut scratch = DesignScratch::new(taps);
    let mut h = vec![0.0f32; taps];
    design_linear_phase(
        |f| {
            if f < 100.0 {
                f64::NAN
            } else if f > 20_000.0 {
                f64::INFINITY
            } else {
                1.0
            }
        },
        taps,
        48_000.0,
        &mut h,
        &mut scratch,
    );
    assert!(h.iter().all(|v| v.is_finite()));
}

/// Q 4 bells and shelves at 20..70 Hz, +-6 and +-12 dB: the targets medium and high miss.
fn hard_targets() -> Vec<Analog> {
    let mut v = Vec::new();
    for &f0 in &[20.0, 30.0, 50.0, 70.0] {
        for &gain_db in &[-12.0, -6.0, 6.0, 12.0] {
            let q = 4.0;
            v.push(Analog::Bell { f0, q, gain_db });
            v.push(Analog::LowShelf { f0, q, gain_db });
            v.push(Analog::HighShelf { f0, q, gain_db });
        }
    }
    v
}

/// (worst |error| dB from `lo` to 20 kHz, worst |error| dB below `lo`, largest boost over the
/// target below `lo`), on a dense log sweep.
fn errors(h: &[f32], t: Analog, lo: f64, fs: f64) -> (f64, f64, f64) {
    let err = |f: f64| 20.0 * (kernel_mag(h, f, fs) / t.mag(f)).log10();
    let care = sweep(lo, 20_000.0, 600)
        .iter()
        .map(|&f| err(f).abs())
        .fold(0.0, f64::max);
    let below: Vec<f64> = sweep(1.0, lo, 200).iter().map(|&f| err(f)).collect();
    let below_abs = below.iter().map(|e| e.abs()).fold(0.0, f64::max);
    let boost = below.iter().copied().fold(0.0, f64::max);
    (care, below_abs, boost)
}

#[test]
#[ignore = "exploration: cargo test --release -p shared-dsp --test fir_design explore_wls -- --ignored --nocapture"]
fn explore_wls() {
    use shared_dsp::fir::design::{WlsParams, design_linear_phase_wls};
    let fs = 48_000.0;
    let only: Option<String> = std::env::var("WLS_ONLY").ok();
    for (res, lo) in [(Resolution::Medium, 30.0), (Resolution::High, 20.0)] {
        let taps = res.taps(fs);
        let mut scratch = DesignScratch::new(taps);
        let mut h = vec![0.0f32; taps];
        let base = WlsParams {
            care_lo_hz: lo,
            care_hi_hz: 20_000.0,
            outside_weight: 0.01,
            lawson_iterations: 0,
            lawson_exponent: 1.0,
            lawson_floor: 1e-3,
            cg_iterations: 500,
            cg_tolerance: 1e-9,
            precondition: true,
            envelope: true,
        };
        let mut sets = vec![("windowed".to_string(), None)];
        for ow in [1.0, 0.1, 0.01, 0.001] {
            for li in [0, 5, 10, 20, 40] {
                for env in [false, true] {
                    if li == 0 && env {
                        continue;
                    }
                    for tol in [1e-6, 1e-9] {
                        let p = WlsParams {
                            outside_weight: ow,
                            lawson_iterations: li,
                            envelope: env,
                            cg_tolerance: tol,
                            ..base
                        };
                        sets.push((
                            format!("wls ow {ow} lawson {li} env {env} tol {tol:e}"),
                            Some(p),
                        ));
                    }
                }
            }
        }
        for (name, p) in sets {
            let full = format!("{res:?} {name}");
            if only
                .as_ref()
                .is_some_and(|o| o.split(',').any(|part| !full.contains(part)))
            {
                continue;
            }
            let (mut worst, mut below, mut boost, mut iters, mut secs) =
                ((0.0, hard_targets()[0]), 0.0f64, 0.0f64, 0, 0.0f64);
            for t in hard_targets() {
                let t0 = std::time::Instant::now();
                match p {
                    Some(p) => {
                        let r = design_linear_phase_wls(
                            |f| t.mag(f),
                            taps,
                            fs,
                            &p,
                            &mut h,
                            &mut scratch,
                        );
                        iters = iters.max(r.cg_iterations);
                    }
                    None => {
                        design_linear_phase(|f| t.mag(f), taps, fs, &mut h, &mut scratch);
                    }
                }
                secs = secs.max(t0.elapsed().as_secs_f64());
                let (c, b, up) = errors(&h, t, lo, fs);
                if c > worst.0 {
                    worst = (c, t);
                }
                below = below.max(b);
                boost = boost.max(up);
            }
            println!(
                "{res:?} from {lo} Hz, {name}: worst {:.3} dB ({:?}), below: |err| {below:.2} dB, boost {boost:.2} dB; max cg {iters}, max time {:.0} ms",
                worst.0,
                worst.1,
                secs * 1e3
            );
        }
    }
}

#[test]
#[ignore = "exploration: cargo test --release -p shared-dsp --test fir_design explore_lawson_single -- --ignored --nocapture"]
fn explore_lawson_single() {
    use shared_dsp::fir::design::{WlsParams, design_linear_phase_wls};
    let fs = 48_000.0;
    let cases = [
        (
            Resolution::Medium,
            30.0,
            Analog::Bell {
                f0: 50.0,
                q: 4.0,
                gain_db: 12.0,
            },
        ),
        (
            Resolution::Medium,
            30.0,
            Analog::Bell {
                f0: 70.0,
                q: 4.0,
                gain_db: 12.0,
            },
        ),
        (
            Resolution::High,
            20.0,
            Analog::Bell {
                f0: 20.0,
                q: 4.0,
                gain_db: 12.0,
            },
        ),
    ];
    for (res, lo, t) in cases {
        let taps = res.taps(fs);
        let mut scratch = DesignScratch::new(taps);
        let mut h = vec![0.0f32; taps];
        for ow in [1e-4, 0.01] {
            for exp in [1.0, 0.5] {
                let mut line = format!("{res:?} {t:?} ow {ow} exp {exp}:");
                for li in [0, 2, 5, 10, 20, 40] {
                    let p = WlsParams {
                        care_lo_hz: lo,
                        care_hi_hz: 20_000.0,
                        outside_weight: ow,
                        lawson_iterations: li,
                        lawson_exponent: exp,
                        lawson_floor: 1e-3,
                        cg_iterations: 2000,
                        cg_tolerance: 1e-10,
                        precondition: true,
                        envelope: true,
                    };
                    let r =
                        design_linear_phase_wls(|f| t.mag(f), taps, fs, &p, &mut h, &mut scratch);
                    let (c, b, _) = errors(&h, t, lo, fs);
                    line += &format!(
                        " {li}:{c:.3}/{:.3}(below {b:.1}, cg {})",
                        r.care_error_db, r.cg_iterations
                    );
                }
                println!("{line}");
            }
        }
    }
}

#[test]
#[ignore = "timing: cargo test --release -p shared-dsp --test fir_design design_time_per_mode -- --ignored --nocapture"]
fn design_time_per_mode() {
    let fs = 48_000.0;
    for res in Resolution::ALL {
        let taps = res.taps(fs);
        let mut scratch = DesignScratch::new(taps);
        let mut h = vec![0.0f32; taps];
        let (mut worst, mut total, mut n) = (0.0f64, 0.0f64, 0);
        let (mut below, mut boost) = (0.0f64, 0.0f64);
        for t in hard_targets().into_iter().chain(targets_at(1000.0)) {
            let t0 = std::time::Instant::now();
            design_linear_phase(|f| t.mag(f), taps, fs, &mut h, &mut scratch);
            let s = t0.elapsed().as_secs_f64();
            let (_, b, up) = errors(&h, t, 20.0, fs);
            below = below.max(b);
            boost = boost.max(up);
            worst = worst.max(s);
            total += s;
            n += 1;
        }
        println!(
            "{res:?} ({taps} taps at 48 kHz): design time mean {:.1} ms, worst {:.1} ms; \
             below 20 Hz: worst |error| {below:.2} dB, largest boost over the target {boost:.2} dB",
            total / n as f64 * 1e3,
            worst * 1e3
        );
    }
}

/// Random "fuzz" curves like a host's parameter fuzzing produces: 24 bands of any type, gains up
/// to +-30 dB, Q 0.1..40, cuts up to 96 dB/oct, 10 Hz..Nyquist.
fn fuzz_curves(n: usize, seed: u64) -> Vec<shared_dsp::filter::EqCurve> {
    use shared_dsp::filter::{Band, BandType, EqCurve, Slope};
    let mut s = seed;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let kinds = [
        BandType::Bell,
        BandType::LowShelf,
        BandType::HighShelf,
        BandType::LowCut,
        BandType::HighCut,
        BandType::Notch,
        BandType::BandPass,
        BandType::TiltShelf,
    ];
    (0..n)
        .map(|_| {
            let bands: Vec<Band> = (0..24)
                .map(|_| Band {
                    kind: kinds[(rnd() * 8.0) as usize % 8],
                    freq_hz: 10.0 * (3000.0f64).powf(rnd()).min(2300.0),
                    gain_db: -30.0 + 60.0 * rnd(),
                    q: 0.1 * 400f64.powf(rnd()),
                    slope: Slope::from_db_per_octave(6 * (1 + (rnd() * 16.0) as u32 % 16))
                        .unwrap_or(Slope::Db12),
                    enabled: rnd() < 0.5,
                })
                .collect();
            EqCurve::from_bands(&bands)
        })
        .collect()
}

#[test]
#[ignore = "timing: cargo test --release -p shared-dsp --test fir_design explore_fuzz_design_time -- --ignored --nocapture"]
fn explore_fuzz_design_time() {
    use shared_dsp::fir::design::{DEFAULT_WLS, WlsParams, design_linear_phase_wls};
    let fs = 44_100.0;
    let curves = fuzz_curves(12, 7);
    for res in Resolution::ALL {
        let taps = res.taps(fs);
        let mut scratch = DesignScratch::new(taps);
        let mut h = vec![0.0f32; taps];
        for cap in [500usize, 100, 50, 25] {
            let p = WlsParams {
                cg_iterations: cap,
                ..DEFAULT_WLS
            };
            let (mut worst, mut total, mut its, mut err) = (0.0f64, 0.0f64, 0usize, 0.0f64);
            for c in &curves {
                let t0 = std::time::Instant::now();
                let r =
                    design_linear_phase_wls(|f| c.magnitude(f), taps, fs, &p, &mut h, &mut scratch);
                let s = t0.elapsed().as_secs_f64();
                worst = worst.max(s);
                total += s;
                its = its.max(r.cg_iterations);
                err = err.max(r.care_error_db);
            }
            println!(
                "{res:?} cap {cap}: mean {:.1} ms worst {:.1} ms, most CG its {its}, worst grid err {err:.2} dB",
                total / curves.len() as f64 * 1e3,
                worst * 1e3
            );
        }
    }
}

/// How long a kernel medium would need for the brief's "Q up to 4 within 0.1 dB from 30 Hz":
/// the shipped design at growing total latencies (kernel latency + the EQ's 1024-sample
/// partition), worst error from 30 Hz over every Q <= 4 target, 48 kHz.
#[test]
#[ignore = "exploration: cargo test --release -p shared-dsp --test fir_design explore_medium_length_for_q4_from_30_hz -- --ignored --nocapture"]
fn explore_medium_length_for_q4_from_30_hz() {
    let fs = 48_000.0;
    let all = targets(0.0);
    let freqs = sweep(30.0, 20_000.0, 150);
    for total in [6144usize, 8192, 10_240, 12_288, 14_336, 16_384, 20_480] {
        let taps = 2 * (total - 1024) + 1;
        let mut scratch = DesignScratch::new(taps);
        let mut h = vec![0.0f32; taps];
        let mut worst = (0.0, all[0]);
        for &t in &all {
            design_linear_phase(|f| t.mag(f), taps, fs, &mut h, &mut scratch);
            for &f in &freqs {
                let e = (20.0 * (kernel_mag(&h, f, fs) / t.mag(f)).log10()).abs();
                if e > worst.0 {
                    worst = (e, t);
                }
            }
        }
        println!(
            "total latency {total} ({taps} taps): worst {:.3} dB from 30 Hz ({:?})",
            worst.0, worst.1
        );
    }
}
