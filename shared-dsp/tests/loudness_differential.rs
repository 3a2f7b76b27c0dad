//! The meter against independent oracles: the `ebur128` crate (libebur128 port) on random
//! multi-sine programmes, and exact (sorted, unbinned) gating written out here.

use ebur128::{EbuR128, Mode};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter, measure_buffer};
use shared_dsp::signal::{Rng, dbfs, programme};
use std::f64::consts::PI;

/// A stereo programme of random sines (3-8 per channel, 40 Hz-16 kHz) whose level glides (linear
/// in dB) to a new random target between -45 and -15 dBFS every 5-15 s, so both gates and the
/// LRA percentiles are exercised. Gliding rather than jumping keeps the short-term loudness a
/// continuous function, so 1 Hz and 10 Hz sampling of it (ebur128 vs the meter) agree.
fn multi_sine(fs: f64, secs: f64, seed: u64) -> [Vec<f32>; 2] {
    let mut rng = Rng::new(seed);
    let len = (secs * fs) as usize;
    let mut out = [vec![0.0f32; len], vec![0.0f32; len]];
    let mut n = 0;
    let mut level_db = -30.0;
    while n < len {
        let seg = ((5.0 + 10.0 * rng.uniform()) * fs) as usize;
        let target = -45.0 + 30.0 * rng.uniform();
        let from = level_db;
        level_db = target;
        for ch in out.iter_mut() {
            let k = rng.range(3, 8);
            let sines: Vec<(f64, f64, f64)> = (0..k)
                .map(|_| {
                    let f = 40.0 * (400.0f64).powf(rng.uniform());
                    (f, rng.uniform() / k as f64, 2.0 * PI * rng.uniform())
                })
                .collect();
            for (i, v) in ch[n..(n + seg).min(len)].iter_mut().enumerate() {
                let t = (n + i) as f64 / fs;
                let s: f64 = sines
                    .iter()
                    .map(|(f, a, p)| a * (2.0 * PI * f * t + p).sin())
                    .sum();
                let level = dbfs(from + (target - from) * i as f64 / seg as f64);
                *v = (level * s) as f32;
            }
        }
        n += seg;
    }
    out
}

/// Integrated, LRA, max M, max S and max true peak by `ebur128`, querying M and S every
/// `step` samples (the meter's sub-block) so that the maxima are taken on the same grid.
fn ebur128_reference(l: &[f32], r: &[f32], step: usize) -> (f64, f64, f64, f64, f64) {
    let mode = Mode::I | Mode::LRA | Mode::M | Mode::S | Mode::TRUE_PEAK;
    let mut e = EbuR128::new(2, 48_000, mode).unwrap();
    let (mut max_m, mut max_s) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut done = 0;
    for (a, b) in l.chunks(step).zip(r.chunks(step)) {
        e.add_frames_planar_f32(&[a, b]).unwrap();
        done += a.len();
        if done >= 19_200 {
            max_m = max_m.max(e.loudness_momentary().unwrap());
        }
        if done >= 144_000 {
            max_s = max_s.max(e.loudness_shortterm().unwrap());
        }
    }
    let tp = e.true_peak(0).unwrap().max(e.true_peak(1).unwrap());
    (
        e.loudness_global().unwrap(),
        e.loudness_range().unwrap(),
        max_m,
        max_s,
        20.0 * tp.log10(),
    )
}

/// Tolerances: I 0.05 LU (task brief). Max M / max S 0.02 LU: both take them on the same 5 ms
/// grid, the only difference being the K-filter arithmetic. LRA 1 LU (the Tech 3342 tolerance):
/// ebur128 samples the short-term loudness at 1 Hz, the meter at 10 Hz as Tech 3342 asks, so
/// the percentiles come from different (ten times smaller) sets; the exact-gating oracle below
/// is the tight LRA check. True peak: ebur128 uses the informative 4x/48-tap Annex 2 filter,
/// which under-reads by up to about 0.5 dB near Nyquist; the meter must not read lower than it
/// by more than 0.05 dB, nor higher by more than 0.6 dB.
#[test]
fn meter_matches_ebur128_on_random_multi_sine_programmes() {
    let fs = 48_000.0;
    for seed in 1..=3 {
        let [l, r] = multi_sine(fs, 120.0, seed);
        let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
        for (a, b) in l.chunks(1000).zip(r.chunks(1000)) {
            m.process(&[a, b]);
        }
        m.flush_true_peak();
        let (i, lra, mm, ms, tp) = ebur128_reference(&l, &r, 240);
        let (gi, glra, gmm, gms, gtp) = (
            m.integrated().unwrap(),
            m.loudness_range().unwrap(),
            m.max_momentary().unwrap(),
            m.max_short_term().unwrap(),
            m.true_peak_max().unwrap(),
        );
        println!(
            "seed {seed}: I {gi:.3}/{i:.3}  LRA {glra:.2}/{lra:.2}  maxM {gmm:.3}/{mm:.3}  maxS {gms:.3}/{ms:.3}  TP {gtp:.3}/{tp:.3}  (meter/ebur128)"
        );
        assert!((gi - i).abs() < 0.05, "seed {seed}: I {gi} vs {i}");
        assert!((gmm - mm).abs() < 0.02, "seed {seed}: max M {gmm} vs {mm}");
        assert!((gms - ms).abs() < 0.02, "seed {seed}: max S {gms} vs {ms}");
        assert!((glra - lra).abs() < 1.0, "seed {seed}: LRA {glra} vs {lra}");
        assert!(
            gtp >= tp - 0.05 && gtp <= tp + 0.6,
            "seed {seed}: TP {gtp} vs {tp}"
        );
    }
}

/// BS.1770 K-weighting straight from the 48 kHz table (direct form I, f64): the oracle's own
/// filter, independent of the meter's derivation.
fn k_weight_48k(x: &[f32]) -> Vec<f64> {
    let st = [
        (
            [1.53512485958697, -2.69169618940638, 1.19839281085285],
            [-1.69065929318241, 0.73248077421585],
        ),
        ([1.0, -2.0, 1.0], [-1.99004745483398, 0.99007225036621]),
    ];
    let mut y: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (b, a) in st {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        for v in y.iter_mut() {
            let x0 = *v;
            let y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a[0] * y1 - a[1] * y2;
            x2 = x1;
            x1 = x0;
            y2 = y1;
            y1 = y0;
            *v = y0;
        }
    }
    y
}

fn lufs(e: f64) -> f64 {
    -0.691 + 10.0 * e.log10()
}

/// Exact BS.1770 integrated loudness and Tech 3342 LRA of a stereo programme (48 kHz): every
/// 400 ms block on the 100 ms hop and every 3 s short-term value on the same hop, gated by
/// sorting and filtering, no histogram.
fn exact_gating(l: &[f32], r: &[f32]) -> (f64, f64) {
    let (yl, yr) = (k_weight_48k(l), k_weight_48k(r));
    let hop = 4800;
    let hops: Vec<f64> = yl
        .chunks_exact(hop)
        .zip(yr.chunks_exact(hop))
        .map(|(a, b)| a.iter().chain(b).map(|v| v * v).sum::<f64>())
        .collect();
    let window = |k: usize| -> Vec<f64> {
        (k..=hops.len())
            .map(|end| hops[end - k..end].iter().sum::<f64>() / (k * hop) as f64)
            .collect()
    };
    let blocks = window(4);
    let abs: Vec<f64> = blocks.into_iter().filter(|&e| lufs(e) > -70.0).collect();
    let gate = lufs(abs.iter().sum::<f64>() / abs.len() as f64) - 10.0;
    let rel: Vec<f64> = abs.iter().copied().filter(|&e| lufs(e) > gate).collect();
    let integrated = lufs(rel.iter().sum::<f64>() / rel.len() as f64);
    let st: Vec<f64> = window(30)
        .into_iter()
        .filter(|&e| lufs(e) > -70.0)
        .collect();
    let gate = lufs(st.iter().sum::<f64>() / st.len() as f64) - 20.0;
    let mut kept: Vec<f64> = st.iter().map(|&e| lufs(e)).filter(|&v| v > gate).collect();
    kept.sort_by(f64::total_cmp);
    let n = kept.len();
    let lra = kept[((n - 1) as f64 * 0.95).round() as usize]
        - kept[((n - 1) as f64 * 0.10).round() as usize];
    (integrated, lra)
}

/// The constant-memory histogram (0.005 LU bins) against exact gating on 10 minutes of
/// programme with a random level every 5 s: within 0.01 LU for both I and LRA.
#[test]
fn histogram_integrated_and_lra_within_0_01_lu_of_exact_gating() {
    let fs = 48_000.0;
    let secs = 600.0;
    let [mut l, mut r] = programme(fs, secs, 9);
    let mut rng = Rng::new(77);
    for seg in 0..(secs / 5.0) as usize {
        let g = dbfs(-35.0 * rng.uniform()) as f32;
        let range = seg * 240_000..((seg + 1) * 240_000).min(l.len());
        for v in l[range.clone()].iter_mut().chain(r[range].iter_mut()) {
            *v *= g;
        }
    }
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    for (a, b) in l.chunks(4096).zip(r.chunks(4096)) {
        m.process(&[a, b]);
    }
    let (i, lra) = exact_gating(&l, &r);
    let (gi, glra) = (m.integrated().unwrap(), m.loudness_range().unwrap());
    println!("I {gi:.4} vs exact {i:.4}; LRA {glra:.4} vs exact {lra:.4}");
    assert!((gi - i).abs() < 0.01, "I {gi} vs {i}");
    assert!((glra - lra).abs() < 0.01, "LRA {glra} vs {lra}");
    // measure_buffer gives the same figures.
    let s = measure_buffer(&[&l, &r], fs, ChannelLayout::Stereo);
    assert!((s.integrated.unwrap() - gi).abs() < 1e-9);
    assert!((s.loudness_range.unwrap() - glra).abs() < 1e-9);
}
