//! Integration tests of the shared dynamics engine: static curve, ballistics, expander, gate,
//! look-ahead, sidechain, robustness and block-size invariance.
//!
//! Level convention (documented in `shared_dsp::dynamics`): a steady sine of peak level L dBFS
//! is read by both detectors as L dB, so the analytic curve's input is the sine's dBFS.

use shared_dsp::dynamics::{Compression, DetectorMode, Dynamics, Lower, StereoMode};
use shared_dsp::signal::{dbfs, programme, sine};

const FS: f32 = 48_000.0;

/// Giannoulis, Massberg, Reiss 2012, eq. (4): the reference soft-knee compressor curve.
fn giannoulis(x: f64, t: f64, r: f64, w: f64) -> f64 {
    if 2.0 * (x - t) < -w {
        x
    } else if w > 0.0 && 2.0 * (x - t).abs() <= w {
        x + (1.0 / r - 1.0) * (x - t + w / 2.0).powi(2) / (2.0 * w)
    } else {
        t + (x - t) / r
    }
}

fn rms_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64;
    10.0 * ms.log10()
}

fn peak_db(x: &[f32]) -> f64 {
    20.0 * x.iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64)).log10()
}

/// Runs a mono signal through `process` in blocks of `block`.
fn run_mono(d: &mut Dynamics, x: &mut [f32], block: usize) {
    for chunk in x.chunks_mut(block) {
        d.process(&mut [chunk], None);
    }
}

/// Gain reduction in dB per sample, computed with `compute_gain` on a mono signal.
fn gr_trajectory(d: &mut Dynamics, x: &[f32]) -> Vec<f64> {
    let mut g = vec![0.0f32; x.len()];
    d.compute_gain(&[x], None, &mut [&mut g]);
    g.iter().map(|&v| -20.0 * (v as f64).log10()).collect()
}

fn compressor(det: DetectorMode, t: f32, r: f32, w: f32) -> Dynamics {
    let mut d = Dynamics::new(2, 512);
    d.set_sample_rate(FS);
    d.set_detector(det);
    d.set_compression(Compression {
        threshold_db: t,
        ratio: r,
        knee_db: w,
        range_db: f32::INFINITY,
    });
    d.set_attack_ms(5.0);
    d.set_release_ms(50.0);
    d
}

const CURVE_SETTINGS: [(f32, f32, f32); 4] = [
    (-20.0, 4.0, 6.0),
    (-30.0, 2.0, 0.0),
    (-10.0, f32::INFINITY, 12.0),
    (-40.0, 8.0, 24.0),
];

/// Steady 1 kHz sines from -60 to 0 dBFS: after 1 s of settling, the output level over the last
/// 0.5 s (RMS + 3.01 dB, i.e. the sine's peak level) is within 0.1 dB of the analytic curve.
#[test]
fn static_curve_rms_detector_within_0p1_db_of_giannoulis_curve() {
    let mut worst = 0.0f64;
    for &(t, r, w) in &CURVE_SETTINGS {
        let mut level = -60.0;
        while level <= 0.0 {
            let mut d = compressor(DetectorMode::Rms, t, r, w);
            let mut x = sine(1000.0, dbfs(level), 0.0, FS as f64, 72_000);
            run_mono(&mut d, &mut x, 512);
            let out = rms_db(&x[48_000..]) + 10.0 * 2f64.log10();
            let want = giannoulis(level, t as f64, r as f64, w as f64);
            let err = (out - want).abs();
            worst = worst.max(err);
            assert!(
                err < 0.1,
                "T {t} R {r} W {w} in {level}: out {out:.3} want {want:.3}"
            );
            // The editor's curve is the same function.
            assert!((d.curve(level as f32) as f64 - want).abs() < 2e-3);
            level += 3.0;
        }
    }
    println!("static curve (RMS detector): worst error {worst:.4} dB");
}

/// Same with the peak detector: the output sample peak matches the curve within 0.1 dB.
#[test]
fn static_curve_peak_detector_within_0p1_db_of_giannoulis_curve() {
    let mut worst = 0.0f64;
    for &(t, r, w) in &CURVE_SETTINGS {
        let mut level = -60.0;
        while level <= 0.0 {
            let mut d = compressor(DetectorMode::Peak, t, r, w);
            let mut x = sine(1000.0, dbfs(level), 0.0, FS as f64, 72_000);
            run_mono(&mut d, &mut x, 512);
            let out = peak_db(&x[48_000..]);
            let want = giannoulis(level, t as f64, r as f64, w as f64);
            let err = (out - want).abs();
            worst = worst.max(err);
            assert!(
                err < 0.1,
                "T {t} R {r} W {w} in {level}: out {out:.3} want {want:.3}"
            );
            level += 3.0;
        }
    }
    println!("static curve (peak detector): worst error {worst:.4} dB");
}

/// Time from `start` until the trajectory first crosses `target` (upwards if `rising`).
fn crossing_ms(gr: &[f64], start: usize, target: f64, rising: bool) -> f64 {
    let i = gr[start..]
        .iter()
        .position(|&g| if rising { g >= target } else { g <= target })
        .expect("never crossed");
    i as f64 * 1000.0 / FS as f64
}

/// A +20 dB step (-40 -> -20 dBFS, threshold -30, ratio 4: 0 -> 7.5 dB of gain reduction)
/// reaches 63.2 % of the final gain reduction after the attack time (within 10 %), and the step
/// back recovers 63.2 % after the release time (within 10 %). Peak detector with a 2 ms window so
/// that the detector itself adds at most ~1 ms.
#[test]
fn attack_and_release_reach_63_percent_after_their_time_constants() {
    for &(attack, release) in &[(10.0f32, 100.0f32), (2.0, 300.0), (30.0, 50.0)] {
        let mut d = compressor(DetectorMode::Peak, -30.0, 4.0, 0.0);
        d.set_detector_ms(2.0);
        d.set_attack_ms(attack);
        d.set_release_ms(release);
        let n = FS as usize;
        let mut x = sine(1000.0, dbfs(-40.0), 0.0, FS as f64, 3 * n);
        for v in &mut x[n..2 * n] {
            *v *= 10.0;
        }
        let gr = gr_trajectory(&mut d, &x);
        let final_gr = 7.5;
        assert!((gr[2 * n - 1] - final_gr).abs() < 0.01, "{}", gr[2 * n - 1]);
        let t_att = crossing_ms(&gr, n, final_gr * (1.0 - (-1.0f64).exp()), true);
        let t_rel = crossing_ms(&gr, 2 * n, final_gr * (-1.0f64).exp(), false);
        println!("attack {attack} ms -> {t_att:.2} ms; release {release} ms -> {t_rel:.2} ms");
        assert!((t_att / attack as f64 - 1.0).abs() < 0.1, "attack {t_att}");
        assert!(
            (t_rel / release as f64 - 1.0).abs() < 0.1,
            "release {t_rel}"
        );
    }
}

/// The time constants hold at every common sample rate (44.1 to 192 kHz): attack 10 ms and
/// release 100 ms measured on the same +20 dB step within 10 %.
#[test]
fn time_constants_hold_across_sample_rates() {
    for &fs in &[44_100.0f32, 88_200.0, 96_000.0, 192_000.0] {
        let mut d = Dynamics::new(1, 256);
        d.set_sample_rate(fs);
        d.set_detector(DetectorMode::Peak);
        d.set_detector_ms(2.0);
        d.set_threshold_db(-30.0);
        d.set_ratio(4.0);
        d.set_knee_db(0.0);
        d.set_attack_ms(10.0);
        d.set_release_ms(100.0);
        let n = fs as usize / 2;
        let mut x = sine(1000.0, dbfs(-40.0), 0.0, fs as f64, 3 * n);
        for v in &mut x[n..2 * n] {
            *v *= 10.0;
        }
        let mut g = vec![0.0f32; x.len()];
        d.compute_gain(&[&x], None, &mut [&mut g]);
        let gr: Vec<f64> = g.iter().map(|&v| -20.0 * (v as f64).log10()).collect();
        let to_ms = |i: usize| i as f64 * 1000.0 / fs as f64;
        let e = (-1.0f64).exp();
        let t_att = to_ms(gr[n..].iter().position(|&v| v >= 7.5 * (1.0 - e)).unwrap());
        let t_rel = to_ms(gr[2 * n..].iter().position(|&v| v <= 7.5 * e).unwrap());
        println!("fs {fs}: attack {t_att:.2} ms, release {t_rel:.2} ms");
        assert!((t_att / 10.0 - 1.0).abs() < 0.1 && (t_rel / 100.0 - 1.0).abs() < 0.1);
    }
}

/// `reset` returns the unit to its initial state: processing after a reset gives exactly the
/// output of a fresh unit.
#[test]
fn reset_gives_the_output_of_a_fresh_unit() {
    let make = || {
        let mut d = Dynamics::new(2, 256);
        d.set_sample_rate(FS);
        d.set_threshold_db(-24.0);
        d.set_auto_release(true);
        d.set_lookahead_ms(3.0);
        d.set_sidechain_hpf_hz(Some(60.0));
        d.set_stereo_link_percent(40.0);
        d
    };
    let [l0, r0] = programme(FS as f64, 1.0, 9);
    let (mut l1, mut r1) = (l0.clone(), r0.clone());
    let mut fresh = make();
    fresh.process_stereo(&mut l1, &mut r1);
    let mut used = make();
    let [mut a, mut b] = programme(FS as f64, 0.5, 2);
    used.process_stereo(&mut a, &mut b);
    used.reset();
    let (mut l2, mut r2) = (l0.clone(), r0.clone());
    used.process_stereo(&mut l2, &mut r2);
    assert!(l1 == l2 && r1 == r2);
}

/// Auto release: after sustained compression (2 s) the gain reduction recovers 63 % in about the
/// release time; after a 30 ms transient it recovers much faster (the fast stage).
#[test]
fn auto_release_is_fast_after_transients_and_slow_after_sustained_compression() {
    let release = 200.0;
    let recovery = |burst_ms: f64| {
        let mut d = compressor(DetectorMode::Peak, -30.0, 4.0, 0.0);
        d.set_detector_ms(2.0);
        d.set_attack_ms(1.0);
        d.set_release_ms(release);
        d.set_auto_release(true);
        let n0 = 4800;
        let burst = (burst_ms * 0.001 * FS as f64) as usize;
        let mut x = sine(1000.0, dbfs(-40.0), 0.0, FS as f64, n0 + burst + 96_000);
        for v in &mut x[n0..n0 + burst] {
            *v *= 10.0;
        }
        let gr = gr_trajectory(&mut d, &x);
        let at_end = gr[n0 + burst - 1];
        crossing_ms(&gr, n0 + burst, at_end * (-1.0f64).exp(), false)
    };
    let sustained = recovery(2000.0);
    let transient = recovery(30.0);
    println!("auto release: after 2 s {sustained:.1} ms, after 30 ms {transient:.1} ms");
    assert!(
        (sustained / release as f64 - 1.0).abs() < 0.1,
        "{sustained}"
    );
    assert!(transient < 0.3 * sustained, "{transient} vs {sustained}");
}

/// Downward expander 2:1 below -40 dB, hard knee: steady sines below the threshold come out at
/// Te + 2 (x - Te) within 0.1 dB; the measured slope is 2.
#[test]
fn expander_ratio_measured_on_steady_sines() {
    let mut outs = vec![];
    for &level in &[-55.0f64, -50.0, -45.0, -35.0] {
        let mut d = compressor(DetectorMode::Rms, 0.0, 1.0, 0.0);
        d.set_lower(Lower::Expander {
            threshold_db: -40.0,
            ratio: 2.0,
            knee_db: 0.0,
            range_db: 60.0,
        });
        let mut x = sine(1000.0, dbfs(level), 0.0, FS as f64, 72_000);
        run_mono(&mut d, &mut x, 256);
        let out = peak_db(&x[48_000..]);
        let want = if level < -40.0 {
            -40.0 + 2.0 * (level + 40.0)
        } else {
            level
        };
        assert!(
            (out - want).abs() < 0.1,
            "in {level}: out {out} want {want}"
        );
        outs.push(out);
    }
    let slope = (outs[1] - outs[0]) / 5.0;
    println!("expander slope {slope:.4}");
    assert!((slope - 2.0).abs() < 0.02);
}

/// Gate opening at -40 dB and closing at -50 dB with a 20 ms hold and 80 dB range: a level in
/// the hysteresis band keeps the previous state; the gate opens at the open threshold and
/// closes only after the level has stayed below the close threshold for the hold time.
#[test]
fn gate_opens_and_closes_at_its_thresholds_with_hysteresis_and_hold() {
    let mut d = compressor(DetectorMode::Peak, 0.0, 1.0, 0.0);
    d.set_detector_ms(2.0);
    d.set_attack_ms(0.5);
    d.set_release_ms(5.0);
    d.set_lower(Lower::Gate {
        open_db: -40.0,
        close_db: -50.0,
        hold_ms: 20.0,
        range_db: 80.0,
    });
    let seg = 9600; // 200 ms
    let levels = [-60.0, -45.0, -38.0, -45.0, -55.0, -45.0];
    let mut x = vec![];
    for &l in &levels {
        x.extend(sine(1000.0, dbfs(l), 0.0, FS as f64, seg));
    }
    let gr = gr_trajectory(&mut d, &x);
    let end = |k: usize| gr[(k + 1) * seg - 1];
    assert!((end(0) - 80.0).abs() < 0.1, "closed at -60: {}", end(0));
    assert!(
        (end(1) - 80.0).abs() < 0.1,
        "-45 from closed stays closed: {}",
        end(1)
    );
    assert!(end(2) < 0.01, "-38 opens: {}", end(2));
    assert!(end(3) < 0.01, "-45 from open stays open: {}", end(3));
    assert!(
        (end(5) - 80.0).abs() < 0.1,
        "-45 after closing stays closed: {}",
        end(5)
    );
    // After dropping to -55 (segment 4), nothing happens during the hold (plus the <= 2 ms peak
    // window), then the gate closes.
    let drop = 4 * seg;
    let in_hold = gr[drop..drop + (0.018 * FS) as usize]
        .iter()
        .fold(0.0f64, |m, &g| m.max(g));
    assert!(in_hold < 0.01, "closed during hold: {in_hold}");
    let closed_at = crossing_ms(&gr, drop, 40.0, true);
    println!("gate: starts closing {closed_at:.2} ms after the drop (hold 20 ms)");
    assert!(closed_at > 20.0 && closed_at < 30.0, "{closed_at}");
    assert!((end(4) - 80.0).abs() < 0.1);
}

#[test]
fn lookahead_zero_reports_zero_latency_and_5ms_delays_by_its_latency() {
    let mut d = compressor(DetectorMode::Peak, -20.0, 1.0, 0.0);
    assert_eq!(d.latency(), 0);
    d.set_lookahead_ms(5.0);
    d.process(&mut [&mut [0.0f32; 16][..]], None); // latency is settled per block
    assert_eq!(d.latency(), 240);
    d.set_sample_rate(96_000.0);
    assert_eq!(d.latency(), 480);
    d.reset();
    let mut x = vec![0.0f32; 2000];
    x[100] = 0.5;
    run_mono(&mut d, &mut x, 64);
    let peak = x.iter().enumerate().fold(
        (0, 0.0f32),
        |m, (i, &v)| if v.abs() > m.1 { (i, v.abs()) } else { m },
    );
    assert_eq!(peak.0, 100 + d.latency());
    assert!((peak.1 - 0.5).abs() < 1e-6);
    // Longest delay (5 ms at 384 kHz = 1920 samples) with host blocks longer than the ring.
    let mut d = Dynamics::new(1, 4096);
    d.set_sample_rate(384_000.0);
    d.set_ratio(1.0);
    d.set_lookahead_ms(5.0);
    assert_eq!(d.latency(), 1920);
    let mut x = vec![0.0f32; 12_000];
    for (i, v) in x.iter_mut().enumerate() {
        *v = ((i * 7919) % 1000) as f32 / 1000.0 - 0.5;
    }
    let orig = x.clone();
    run_mono(&mut d, &mut x, 4096);
    assert!(x[..1920].iter().all(|&v| v == 0.0));
    assert_eq!(&x[1920..], &orig[..12_000 - 1920]);
}

/// With look-ahead equal to five attack time constants, a sudden 0 dBFS burst (threshold -30,
/// ratio inf: 30 dB target) is already attenuated by 30 (1 - e^-5) = 29.8 dB when it reaches the
/// output; without look-ahead the first peak (0.25 ms in) only sees 30 (1 - e^-0.25) = 6.6 dB.
#[test]
fn lookahead_catches_the_onset_of_a_burst() {
    let level_of_first_ms = |la: f32| {
        let mut d = compressor(DetectorMode::Peak, -30.0, f32::INFINITY, 0.0);
        d.set_detector_ms(2.0);
        d.set_attack_ms(1.0);
        d.set_lookahead_ms(la);
        let mut x = vec![0.0f32; 4800];
        x.extend(sine(1000.0, 1.0, 0.0, FS as f64, 4800));
        run_mono(&mut d, &mut x, 128);
        let start = 4800 + d.latency();
        peak_db(&x[start..start + 48])
    };
    let without = level_of_first_ms(0.0);
    let with = level_of_first_ms(5.0);
    println!(
        "first ms of a 0 dBFS burst: {without:.2} dB without, {with:.2} dB with 5 ms look-ahead"
    );
    assert!(without > -8.0 && with < -29.5);
}

/// An external sidechain controls the gain: a quiet input (-30 dBFS, under the -20 threshold)
/// is compressed as the loud sidechain (-6 dBFS) dictates (ratio 4: 10.5 dB), and a silent
/// sidechain leaves a loud input untouched.
#[test]
fn external_sidechain_controls_the_gain() {
    let mut d = compressor(DetectorMode::Rms, -20.0, 4.0, 0.0);
    let mut x = sine(1000.0, dbfs(-30.0), 0.0, FS as f64, 72_000);
    let sc = sine(440.0, dbfs(-6.0), 0.0, FS as f64, 72_000);
    for (xc, sc) in x.chunks_mut(500).zip(sc.chunks(500)) {
        d.process(&mut [xc], Some(&[sc]));
    }
    let out = peak_db(&x[48_000..]);
    assert!((out - (-30.0 - 10.5)).abs() < 0.1, "{out}");

    let mut d = compressor(DetectorMode::Rms, -20.0, 4.0, 0.0);
    let mut x = sine(1000.0, dbfs(-6.0), 0.0, FS as f64, 48_000);
    let silent = vec![0.0f32; 48_000];
    d.process(&mut [&mut x[..]], Some(&[&silent[..]]));
    assert!((peak_db(&x[24_000..]) + 6.0).abs() < 1e-3);
    assert_eq!(d.gain_reduction_db(), 0.0);
}

/// The sidechain high-pass (12 dB/oct Butterworth at 200 Hz) attenuates a 50 Hz sine by
/// 10 log10(1 + (200/50)^4) = 24.09 dB before detection (analytic Butterworth magnitude).
#[test]
fn sidechain_highpass_removes_low_frequencies_from_detection() {
    let mut d = compressor(DetectorMode::Rms, -40.0, 4.0, 0.0);
    d.set_detector_ms(100.0);
    d.set_attack_ms(50.0);
    d.set_release_ms(200.0);
    d.set_sidechain_hpf_hz(Some(200.0));
    let x = sine(50.0, dbfs(-6.0), 0.0, FS as f64, 144_000);
    let gr = gr_trajectory(&mut d, &x);
    let detected = -6.0 - 10.0 * (1.0f64 + 4f64.powi(4)).log10();
    let want = 0.75 * (detected + 40.0);
    let mean = gr[96_000..].iter().sum::<f64>() / 48_000.0;
    println!("sidechain HPF: GR {mean:.3} dB, analytic {want:.3} dB");
    assert!((mean - want).abs() < 0.3, "{mean} vs {want}");
}

/// Link 0 %: a quiet right channel is untouched by the loud left; link 100 %: both get the
/// left's gain reduction.
#[test]
fn stereo_link_zero_is_independent_and_hundred_uses_the_loudest_channel() {
    for &(link, want_right) in &[(0.0f32, 0.0f64), (100.0, 10.5)] {
        let mut d = compressor(DetectorMode::Rms, -20.0, 4.0, 0.0);
        d.set_stereo_link_percent(link);
        let mut l = sine(1000.0, dbfs(-6.0), 0.0, FS as f64, 48_000);
        let mut r = sine(1000.0, dbfs(-30.0), 0.0, FS as f64, 48_000);
        d.process_stereo(&mut l, &mut r);
        let gr_r = -30.0 - peak_db(&r[24_000..]);
        let gr_l = -6.0 - peak_db(&l[24_000..]);
        assert!((gr_l - 10.5).abs() < 0.1, "left {gr_l}");
        assert!((gr_r - want_right).abs() < 0.1, "link {link}: right {gr_r}");
    }
}

/// Mid/side mode: a pure-mid signal (L = R) is compressed like mono and stays L = R; a pure-side
/// signal at the same level gets the same reduction with link 0.
#[test]
fn mid_side_mode_compresses_mid_and_side_separately() {
    let mut d = compressor(DetectorMode::Rms, -20.0, 4.0, 0.0);
    d.set_stereo_mode(StereoMode::MidSide);
    d.set_stereo_link_percent(0.0);
    let s = sine(1000.0, dbfs(-6.0), 0.0, FS as f64, 48_000);
    let q = sine(300.0, dbfs(-30.0), 0.0, FS as f64, 48_000);
    // L = mid + side, R = mid - side with a loud mid and a quiet side.
    let mut l: Vec<f32> = s.iter().zip(&q).map(|(a, b)| a + b).collect();
    let mut r: Vec<f32> = s.iter().zip(&q).map(|(a, b)| a - b).collect();
    d.process_stereo(&mut l, &mut r);
    let mid: Vec<f32> = l.iter().zip(&r).map(|(a, b)| 0.5 * (a + b)).collect();
    let side: Vec<f32> = l.iter().zip(&r).map(|(a, b)| 0.5 * (a - b)).collect();
    assert!((-6.0 - rms_db(&mid[24_000..]) - 10.0 * 2f64.log10() - 10.5).abs() < 0.1);
    // Side is below the threshold: untouched.
    assert!((rms_db(&side[24_000..]) + 10.0 * 2f64.log10() + 30.0).abs() < 0.05);
}

/// Downward expander with a 10 dB soft knee (the mirror image of Giannoulis eq. (4) below the
/// threshold: y = x - (Re - 1)(x - Te - W/2)^2 / 2W inside the knee): steady sines through the
/// full unit match within 0.1 dB.
#[test]
fn expander_soft_knee_matches_mirrored_quadratic_knee() {
    let (te, re, w) = (-40.0f64, 3.0f64, 10.0f64);
    let want = |x: f64| {
        if 2.0 * (x - te) > w {
            x
        } else if 2.0 * (x - te).abs() <= w {
            x - (re - 1.0) * (x - te - w / 2.0).powi(2) / (2.0 * w)
        } else {
            te + (x - te) * re
        }
    };
    for &level in &[-60.0f64, -47.0, -44.0, -41.0, -38.0, -36.0, -30.0] {
        let mut d = compressor(DetectorMode::Rms, 0.0, 1.0, 0.0);
        d.set_lower(Lower::Expander {
            threshold_db: te as f32,
            ratio: re as f32,
            knee_db: w as f32,
            range_db: 100.0,
        });
        let mut x = sine(1000.0, dbfs(level), 0.0, FS as f64, 72_000);
        run_mono(&mut d, &mut x, 256);
        let out = peak_db(&x[48_000..]);
        assert!(
            (out - want(level)).abs() < 0.1,
            "in {level}: {out} vs {}",
            want(level)
        );
        assert!((d.curve(level as f32) as f64 - want(level)).abs() < 2e-3);
    }
}

/// Range caps the gain reduction on steady sines: threshold -40, ratio inf, range 12 dB.
#[test]
fn range_caps_gain_reduction_on_steady_sines() {
    for &level in &[-50.0f64, -46.0, -30.0, -10.0] {
        let mut d = compressor(DetectorMode::Rms, -40.0, f32::INFINITY, 0.0);
        d.set_range_db(12.0);
        let mut x = sine(1000.0, dbfs(level), 0.0, FS as f64, 72_000);
        run_mono(&mut d, &mut x, 512);
        let want = level - (level + 40.0).clamp(0.0, 12.0);
        let out = peak_db(&x[48_000..]);
        assert!((out - want).abs() < 0.1, "in {level}: {out} vs {want}");
    }
}

/// Link 50 %: each channel's mean square moves half way to the larger one (the documented
/// law), so the quiet right channel gets the gain reduction of 10 log10(2 (ms_r + ms_l) / 2).
#[test]
fn stereo_link_fifty_percent_blends_mean_squares_halfway() {
    let mut d = compressor(DetectorMode::Rms, -40.0, 4.0, 0.0);
    d.set_stereo_link_percent(50.0);
    let (al, ar) = (dbfs(-10.0), dbfs(-36.0));
    let mut l = sine(1000.0, al, 0.0, FS as f64, 72_000);
    let mut r = sine(1000.0, ar, 0.0, FS as f64, 72_000);
    d.process_stereo(&mut l, &mut r);
    let (ms_l, ms_r) = (al * al / 2.0, ar * ar / 2.0);
    let level_r = 10.0 * (2.0 * (ms_r + 0.5 * (ms_l - ms_r))).log10();
    let want_gr = 0.75 * (level_r + 40.0);
    let gr = -36.0 - peak_db(&r[48_000..]);
    println!("link 50 %: right GR {gr:.3} dB, analytic {want_gr:.3} dB");
    assert!((gr - want_gr).abs() < 0.1);
    assert!((-10.0 - peak_db(&l[48_000..]) - 22.5).abs() < 0.1);
}

/// A threshold jump from -10 to -40 dB during playback does not click: the gain moves at most
/// by the attack coefficient times the target step per sample (30 dB * (1 - e^(-1/(5 ms fs)))),
/// and a makeup jump of 12 dB moves through the 20 ms smoother.
#[test]
fn parameter_jumps_during_playback_move_the_gain_smoothly() {
    let mut d = compressor(DetectorMode::Rms, -10.0, f32::INFINITY, 0.0);
    let x = sine(1000.0, dbfs(-6.0), 0.0, FS as f64, 48_000);
    let mut g = vec![0.0f32; x.len()];
    let (a, b) = x.split_at(24_000);
    let (ga, gb) = g.split_at_mut(24_000);
    d.compute_gain(&[a], None, &mut [ga]);
    d.set_threshold_db(-40.0);
    d.set_makeup_db(12.0);
    d.compute_gain(&[b], None, &mut [gb]);
    let db: Vec<f64> = g.iter().map(|&v| 20.0 * (v as f64).log10()).collect();
    let a_att = 1.0 - (-1.0 / (0.005 * FS as f64)).exp();
    let a_mk = 1.0 - (-1.0 / (0.020 * FS as f64)).exp();
    let max_step = db
        .windows(2)
        .fold(0.0f64, |m, w| m.max((w[1] - w[0]).abs()));
    println!("largest per-sample gain step {max_step:.4} dB");
    assert!(max_step <= 30.0 * a_att + 12.0 * a_mk + 0.05, "{max_step}");
    // And it gets there: -6 dBFS in, threshold -40, ratio inf, +12 dB makeup -> -28 dBFS.
    assert!(
        (db[47_999] - (-40.0 + 6.0 + 12.0)).abs() < 0.1,
        "{}",
        db[47_999]
    );
}

/// Block-size invariance with the stateful per-sample features: peak window, gate hold,
/// mid/side and an external sidechain.
#[test]
fn block_size_invariance_peak_gate_mid_side_sidechain() {
    let [l0, r0] = programme(FS as f64, 2.0, 4);
    let [s0, s1] = programme(FS as f64, 2.0, 8);
    let mut outs = vec![];
    for &block in &[1usize, 17, 64, 4096] {
        let mut d = Dynamics::new(2, 4096);
        d.set_sample_rate(FS);
        d.set_detector(DetectorMode::Peak);
        d.set_detector_ms(7.0);
        d.set_stereo_mode(StereoMode::MidSide);
        d.set_stereo_link_percent(20.0);
        d.set_threshold_db(-18.0);
        d.set_lower(Lower::Gate {
            open_db: -30.0,
            close_db: -36.0,
            hold_ms: 15.0,
            range_db: 30.0,
        });
        let (mut l, mut r) = (l0.clone(), r0.clone());
        let mut pos = 0;
        while pos < l.len() {
            let end = (pos + block).min(l.len());
            d.process(
                &mut [&mut l[pos..end], &mut r[pos..end]],
                Some(&[&s0[pos..end], &s1[pos..end]]),
            );
            pos = end;
        }
        outs.push((l, r));
    }
    for o in &outs[1..] {
        assert!(o.0 == outs[0].0 && o.1 == outs[0].1);
    }
}

/// Block-size invariance of the Channel Strip's two instances (linked peak detector, a ratio-1
/// gate instance whose upper section and settled chunks are skipped, a compressor instance),
/// run in series as the strip does.
#[test]
fn block_size_invariance_strip_gate_and_compressor_linked_peak() {
    let [l0, r0] = programme(FS as f64, 3.0, 5);
    let mut outs = vec![];
    for &block in &[1usize, 17, 64, 4096] {
        let mut gate = Dynamics::new(2, 4096);
        let mut comp = Dynamics::new(2, 4096);
        for d in [&mut gate, &mut comp] {
            d.set_sample_rate(FS);
            d.set_detector(DetectorMode::Peak);
            d.set_stereo_link_percent(100.0);
        }
        gate.set_detector_ms(2.0);
        gate.set_ratio(1.0);
        gate.set_threshold_db(0.0);
        gate.set_lower(Lower::Gate {
            open_db: -40.0,
            close_db: -44.0,
            hold_ms: 20.0,
            range_db: 40.0,
        });
        gate.set_attack_ms(1.0);
        gate.set_release_ms(100.0);
        comp.set_detector_ms(5.0);
        comp.set_threshold_db(-24.0);
        comp.set_ratio(4.0);
        comp.set_attack_ms(10.0);
        comp.set_release_ms(200.0);
        let (mut l, mut r) = (l0.clone(), r0.clone());
        for (lc, rc) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
            gate.process_stereo(lc, rc);
            comp.set_attack_ms(10.0);
            comp.process_stereo(lc, rc);
        }
        outs.push((l, r));
    }
    for o in &outs[1..] {
        assert!(o.0 == outs[0].0 && o.1 == outs[0].1);
    }
    assert_ne!(outs[0].0, l0, "the units must do something");
}

/// A linked peak detector reads the louder channel: a -20 dBFS sine on the left only is
/// compressed exactly as the same sine on both channels.
#[test]
fn linked_peak_detector_follows_the_louder_channel() {
    let x = sine(1000.0, dbfs(-20.0), 0.0, FS as f64, 24_000);
    let run = |left: &[f32], right: &[f32]| {
        let mut d = compressor(DetectorMode::Peak, -30.0, 4.0, 0.0);
        d.set_stereo_link_percent(100.0);
        let (mut l, mut r) = (left.to_vec(), right.to_vec());
        for (lc, rc) in l.chunks_mut(64).zip(r.chunks_mut(64)) {
            d.process_stereo(lc, rc);
        }
        (l, r)
    };
    let silent = vec![0.0; x.len()];
    let both = run(&x, &x);
    assert_eq!(run(&x, &silent).0, both.0);
    assert_eq!(run(&silent, &x).1, both.1);
    assert!(
        peak_db(&both.0[12_000..]) < -20.0 - 5.0,
        "the sine must be compressed"
    );
}

/// NaN and inf in the input (and sidechain) give finite output, and the unit keeps working.
#[test]
fn nan_and_inf_input_give_finite_output_and_unit_recovers() {
    let mut d = compressor(DetectorMode::Rms, -20.0, 4.0, 6.0);
    d.set_lookahead_ms(1.0);
    d.set_sidechain_hpf_hz(Some(100.0));
    d.set_auto_release(true);
    let mut x = sine(1000.0, dbfs(-6.0), 0.0, FS as f64, 96_000);
    x[1000] = f32::NAN;
    x[2000] = f32::INFINITY;
    x[3000] = f32::NEG_INFINITY;
    x[4000] = 3e38;
    run_mono(&mut d, &mut x, 64);
    assert!(x.iter().all(|v| v.is_finite()));
    assert!(d.gain_reduction_db().is_finite());
    // Back to the steady state of a -6 dBFS sine: the curve's output (knee ends at -17).
    let want = giannoulis(-6.0, -20.0, 4.0, 6.0);
    assert!((peak_db(&x[72_000..]) - want).abs() < 0.1);
}

/// Blocks of 1, 17, 64 and 4096 samples give bit-identical output (all features on).
#[test]
fn block_size_invariance_1_17_64_4096() {
    let [l0, r0] = programme(FS as f64, 2.0, 3);
    let mut outs = vec![];
    for &block in &[1usize, 17, 64, 4096] {
        let mut d = Dynamics::new(2, 4096);
        d.set_sample_rate(FS);
        d.set_threshold_db(-24.0);
        d.set_ratio(3.0);
        d.set_knee_db(6.0);
        d.set_auto_release(true);
        d.set_stereo_link_percent(50.0);
        d.set_sidechain_hpf_hz(Some(80.0));
        d.set_lookahead_ms(2.0);
        d.set_auto_makeup(true);
        d.set_lower(Lower::Expander {
            threshold_db: -50.0,
            ratio: 2.0,
            knee_db: 6.0,
            range_db: 40.0,
        });
        let (mut l, mut r) = (l0.clone(), r0.clone());
        for (lc, rc) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
            d.process_stereo(lc, rc);
        }
        outs.push((l, r));
    }
    for o in &outs[1..] {
        assert!(o.0 == outs[0].0 && o.1 == outs[0].1);
    }
    assert_ne!(outs[0].0, l0, "the unit must do something");
}

/// Auto makeup equals the static gain reduction at 0 dBFS (Giannoulis et al. 2012): a 0 dBFS
/// sine comes out at 0 dBFS.
#[test]
fn auto_makeup_restores_a_full_scale_sine() {
    let mut d = compressor(DetectorMode::Rms, -30.0, 4.0, 6.0);
    d.set_auto_makeup(true);
    assert!((d.auto_makeup_db() - 22.5).abs() < 1e-3);
    let mut x = sine(1000.0, 1.0, 0.0, FS as f64, 72_000);
    run_mono(&mut d, &mut x, 512);
    assert!(peak_db(&x[48_000..]).abs() < 0.1);
    assert!(d.curve(0.0).abs() < 1e-3);
}

#[test]
fn open_expander_shortcut_is_bit_exact_with_the_full_computation() {
    // An expander under a ratio-1 upper section (the channel strip's gate instance) skips the
    // dB conversion, the curve and the unity multiply while the level stays above threshold.
    // The same expander under an upper section that can never act but is not constant runs
    // the full computation: the outputs must be identical bit for bit, through openings and
    // closings (a programme with a silent gap, both detectors, stereo linked and unlinked).
    let [mut l0, mut r0] = programme(FS as f64, 3.0, 21);
    for x in l0[60_000..80_000].iter_mut().chain(&mut r0[60_000..80_000]) {
        *x *= 1e-4;
    }
    for det in [DetectorMode::Peak, DetectorMode::Rms] {
        for link in [100.0, 40.0] {
            let make = |ratio: f32, threshold_db: f32| {
                let mut d = Dynamics::new(2, 64);
                d.set_sample_rate(FS);
                d.set_detector(det);
                d.set_detector_ms(2.0);
                d.set_stereo_link_percent(link);
                d.set_ratio(ratio);
                d.set_threshold_db(threshold_db);
                d.set_attack_ms(1.0);
                d.set_release_ms(80.0);
                d.set_lower(Lower::Expander {
                    threshold_db: -45.0,
                    ratio: 2.0,
                    knee_db: 3.0,
                    range_db: 40.0,
                });
                d
            };
            let (mut a, mut b) = (make(1.0, 0.0), make(1.0001, 200.0));
            let (mut la, mut ra) = (l0.clone(), r0.clone());
            let (mut lb, mut rb) = (l0.clone(), r0.clone());
            for (((xa, ya), xb), yb) in la
                .chunks_mut(64)
                .zip(ra.chunks_mut(64))
                .zip(lb.chunks_mut(64))
                .zip(rb.chunks_mut(64))
            {
                a.process(&mut [xa, ya], None);
                b.process(&mut [xb, yb], None);
            }
            let same = la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits())
                && ra.iter().zip(&rb).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{det:?}, link {link} %");
            // The gap was expanded (the shortcut did not keep the expander open).
            assert!(peak_db(&la[70_000..80_000]) < peak_db(&l0[70_000..80_000]) - 10.0);
        }
    }
}

#[test]
fn release_settles_on_the_static_curve_from_above_and_below() {
    // A step from 22.5 dB of reduction (0 dBFS, -30 dB threshold, 4:1) down to 15 dB (-10 dBFS),
    // and from 7.5 dB (-20 dBFS) up to 15 dB, with a 200 ms release: after 50 time constants
    // both must sit on the curve, 0.75 (L + 30) = 15 dB (DC input, so the peak detector reads
    // the level exactly; the polynomial log2 is good to 1.2e-5 dB). A state in f32 stopped
    // 4.6e-3 dB short coming from above (a step below half an ulp of 15 is lost).
    let level = |db: f32| 10f32.powf(db / 20.0);
    for (from_db, to_db) in [(0.0f32, -10.0f32), (-20.0, -10.0)] {
        let mut d = compressor(DetectorMode::Peak, -30.0, 4.0, 0.0);
        d.set_attack_ms(1.0);
        d.set_release_ms(200.0);
        let mut a = vec![level(from_db); FS as usize];
        run_mono(&mut d, &mut a, 512);
        let mut b = vec![level(to_db); 10 * FS as usize];
        run_mono(&mut d, &mut b, 512);
        let expected = 0.75 * (to_db as f64 + 30.0);
        let got = d.gain_reduction_db() as f64;
        assert!(
            (got - expected).abs() < 2e-4,
            "from {from_db} dBFS: {got} dB of reduction, expected {expected}"
        );
    }
}
