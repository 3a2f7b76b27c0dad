//! The plugin's audio path ([`Processor`], which the plugin's `process` drives) where the DSP
//! tests in shared-dsp do not already reach: latency through the glue, the ceiling with +24 dB of
//! input gain, dither noise levels, unity-gain listening, bypass and block-size invariance.

use postmix_limiter::processor::{Processor, Settings};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use shared_dsp::signal::{Rng, dbfs, programme, sine};
use shared_dsp::util::db_to_gain;

/// Runs `input` (1 or 2 channels) through a fresh processor at `fs` in blocks of `block`, with
/// constant input and output gains. Returns the output and the latency `configure` reported.
fn run(
    fs: f32,
    s: &Settings,
    input: &[Vec<f32>],
    block: usize,
    in_gain_db: f32,
    out_gain_db: f32,
) -> (Vec<Vec<f32>>, usize) {
    let mut p = Processor::new(1024);
    p.set_sample_rate(fs);
    p.set_channels(input.len());
    let latency = p.configure(s);
    let gi = vec![db_to_gain(in_gain_db); block];
    let go = vec![db_to_gain(out_gain_db); block];
    let mut out: Vec<Vec<f32>> = input.to_vec();
    let len = input[0].len();
    let mut start = 0;
    while start < len {
        let end = (start + block).min(len);
        assert_eq!(
            p.configure(s),
            latency,
            "latency changed without a setting change"
        );
        let mut bufs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[start..end]).collect();
        p.process(&mut bufs, &gi, &go);
        start = end;
    }
    (out, latency)
}

fn argmax_abs(y: &[f32]) -> usize {
    (0..y.len())
        .max_by(|&a, &b| y[a].abs().total_cmp(&y[b].abs()))
        .unwrap()
}

fn peak(y: &[Vec<f32>]) -> f32 {
    y.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()))
}

#[test]
fn reported_latency_equals_impulse_peak_index_for_lookahead_and_oversampling_settings() {
    for fs in [44_100.0f32, 48_000.0, 96_000.0] {
        for (look, os, tp) in [
            (0.1, 1, false),
            (0.1, 1, true), // true peak raises 1x to 2x
            (2.0, 4, true),
            (5.0, 2, false),
            (1.0, 8, true),
            (10.0, 16, true),
        ] {
            let s = Settings {
                lookahead_ms: look,
                oversampling: os,
                true_peak: tp,
                ..Settings::default()
            };
            let at = 3000;
            let mut x = vec![vec![0.0f32; at + 8000]; 2];
            x[0][at] = 0.5;
            x[1][at] = -0.5;
            let (y, latency) = run(fs, &s, &x, 256, 0.0, 0.0);
            let expected_os = if tp { os.max(2) } else { os };
            assert!(latency >= (look * 0.001 * fs).floor() as usize);
            for ch in &y {
                assert_eq!(
                    argmax_abs(ch),
                    at + latency,
                    "{fs} Hz, look-ahead {look} ms, {expected_os}x, tp {tp}: reported {latency}"
                );
            }
        }
    }
}

#[test]
fn latency_change_during_playback_is_reported_and_holds_for_the_next_impulse() {
    let fs = 48_000.0;
    let mut p = Processor::new(512);
    p.set_sample_rate(fs);
    p.set_channels(2);
    let a = Settings::default();
    let b = Settings {
        lookahead_ms: 7.0,
        oversampling: 8,
        ..a
    };
    let lat_a = p.configure(&a);
    let g = vec![1.0f32; 512];
    let mut block = vec![vec![0.0f32; 512]; 2];
    // A few blocks at setting a.
    for _ in 0..4 {
        let mut bufs: Vec<&mut [f32]> = block.iter_mut().map(|c| c.as_mut_slice()).collect();
        p.process(&mut bufs, &g, &g);
    }
    let lat_b = p.configure(&b);
    assert_ne!(lat_a, lat_b, "the setting change must change the latency");
    let mut out = Vec::new();
    for k in 0..8 {
        let mut x = vec![vec![0.0f32; 512]; 2];
        if k == 1 {
            x[0][100] = 0.5;
            x[1][100] = 0.5;
        }
        assert_eq!(p.configure(&b), lat_b);
        let mut bufs: Vec<&mut [f32]> = x.iter_mut().map(|c| c.as_mut_slice()).collect();
        p.process(&mut bufs, &g, &g);
        out.extend_from_slice(&x[0]);
    }
    assert_eq!(argmax_abs(&out), 512 + 100 + lat_b);
}

#[test]
fn sample_peak_mode_never_exceeds_the_ceiling_with_24_db_of_input_gain() {
    let mut worst = f32::NEG_INFINITY;
    for fs in [44_100.0f32, 48_000.0, 96_000.0] {
        let [l, r] = programme(fs as f64, 4.0, 3);
        let n = l.len();
        let square: Vec<f32> = (0..n)
            .map(|i| if (i / 37) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut rng = Rng::new(9);
        let noise: Vec<f32> = (0..n).map(|_| rng.bipolar() as f32).collect();
        let tone = sine(fs as f64 / 4.0, 1.0, 0.3, fs as f64, n);
        let signals = [vec![l, r], vec![square, noise.clone()], vec![tone, noise]];
        for os in [1usize, 2, 4] {
            for ceiling in [-1.0f32, -0.1, -6.0] {
                let s = Settings {
                    true_peak: false,
                    oversampling: os,
                    ceiling_db: ceiling,
                    // Fastest settings the plugin allows: the hardest case for the envelope.
                    lookahead_ms: 0.1,
                    release_ms: 1.0,
                    link: 0.5,
                    ..Settings::default()
                };
                let c = dbfs(ceiling as f64) as f32;
                for x in &signals {
                    let (y, _) = run(fs, &s, x, 333, 24.0, 0.0);
                    let pk = peak(&y);
                    worst = worst.max(20.0 * (pk / c).log10());
                    assert!(
                        pk <= c,
                        "{fs} Hz {os}x ceiling {ceiling} dB: sample peak {pk} > {c}"
                    );
                }
            }
        }
    }
    eprintln!("sample-peak mode, +24 dB input gain: worst peak re ceiling {worst:.4} dB");
}

/// Dither error = (output with dither) - (output without): dither is the last stage, so
/// everything before it is identical in both runs.
fn dither_error(bits: u32, shaping: bool) -> Vec<f64> {
    let fs = 48_000.0;
    let x = vec![sine(997.0, 0.25, 0.0, fs as f64, 96_000); 2];
    let plain = Settings {
        true_peak: false,
        oversampling: 1,
        ..Settings::default()
    };
    let dithered = Settings {
        dither_bits: Some(bits),
        noise_shaping: shaping,
        ..plain
    };
    let (a, _) = run(fs, &plain, &x, 512, 0.0, 0.0);
    let (b, _) = run(fs, &dithered, &x, 512, 0.0, 0.0);
    let scale = 2f64.powi(bits as i32 - 1);
    for v in b.iter().flatten() {
        let k = *v as f64 * scale;
        assert_eq!(k, k.round(), "{bits}-bit output {v} is off the grid");
    }
    a[0].iter()
        .zip(&b[0])
        .map(|(&p, &d)| (d as f64 - p as f64) * scale)
        .collect()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn tpdf_dither_noise_is_half_an_lsb_rms_and_bounded_at_16_20_24_bits() {
    for bits in [16, 20, 24] {
        let e = dither_error(bits, false);
        let r = rms(&e);
        let worst = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // Rounding (LSB^2/12) + TPDF of +-1 LSB (2 LSB^2/12) = LSB^2/4: RMS 0.5 LSB, i.e.
        // -6.02 * bits dBFS.
        eprintln!(
            "{bits} bit TPDF: error RMS {r:.4} LSB ({:.1} dBFS), peak {worst:.3} LSB",
            20.0 * (r / 2f64.powi(bits as i32 - 1)).log10()
        );
        assert!(
            (r - 0.5).abs() < 0.02,
            "{bits} bit: RMS {r} LSB, expected 0.5"
        );
        assert!(worst <= 1.5 + 1e-9, "{bits} bit: error {worst} LSB > 1.5");
        let mean = e.iter().sum::<f64>() / e.len() as f64;
        assert!(mean.abs() < 0.01, "{bits} bit: mean error {mean} LSB");
    }
}

#[test]
fn noise_shaping_moves_the_dither_noise_out_of_the_low_band() {
    for bits in [16, 24] {
        let flat = dither_error(bits, false);
        let shaped = dither_error(bits, true);
        // Total power: LSB^2/4 x sum of NTF taps squared (1 + 1.623^2 + 0.982^2 + 0.109^2 =
        // 4.610).
        let want = 0.5 * 4.610f64.sqrt();
        let r = rms(&shaped);
        assert!(
            (r / want - 1.0).abs() < 0.04,
            "{bits} bit shaped RMS {r}, want {want}"
        );
        // Below ~2 kHz (a 24-sample moving average: first null at 2 kHz at 48 kHz) the shaped
        // noise is much lower: the NTF is -12 dB at DC.
        let lp = |e: &[f64]| -> f64 {
            let avg: Vec<f64> = e
                .windows(24)
                .map(|w| w.iter().sum::<f64>() / 24.0)
                .collect();
            rms(&avg)
        };
        let (lf, ls) = (lp(&flat), lp(&shaped));
        eprintln!(
            "{bits} bit: low-band noise flat {lf:.4}, shaped {ls:.4} LSB ({:.1} dB)",
            20.0 * (ls / lf).log10()
        );
        assert!(
            ls < 0.5 * lf,
            "shaping must lower the low band: {ls} vs {lf}"
        );
        assert!(shaped.iter().all(|v| v.abs() < 8.0), "shaped error bounded");
    }
}

fn delayed(x: &[f32], d: usize) -> Vec<f32> {
    let mut y = vec![0.0; d.min(x.len())];
    y.extend_from_slice(&x[..x.len() - y.len()]);
    y
}

#[test]
fn unity_gain_listening_without_limiting_gives_back_the_input() {
    let fs = 48_000.0;
    // Programme at about -30 dBFS peak, +12 dB of input gain: still 6 dB under the ceiling.
    let x: Vec<Vec<f32>> = programme(fs as f64, 3.0, 5)
        .iter()
        .map(|c| c.iter().map(|v| v * 0.03).collect())
        .collect();
    // Without oversampling the limiter itself is exactly transparent below the ceiling, so
    // unity listening must give back the input sample for sample.
    let s = Settings {
        unity: true,
        true_peak: false,
        oversampling: 1,
        ..Settings::default()
    };
    let (y, latency) = run(fs, &s, &x, 512, 12.0, 0.0);
    for (c, ch) in y.iter().enumerate() {
        let want = delayed(&x[c], latency);
        let worst = ch
            .iter()
            .zip(&want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst < 1e-6,
            "unity output differs from the input by {worst}"
        );
    }
    // With 4x true-peak oversampling the oversampler band-limits the programme's top octave
    // (above 20 kHz); unity listening makes up that loudness too, so the level still matches.
    let s = Settings {
        unity: true,
        ..Settings::default()
    };
    let (y, latency) = run(fs, &s, &x, 512, 12.0, 0.0);
    let n = x[0].len();
    let l_in = loudness(&x, 48_000 - latency, n - latency);
    let l_out = loudness(&y, 48_000, n);
    assert!(
        (l_out - l_in).abs() < 0.05,
        "unity listening at 4x: {l_out:.3} LUFS vs input {l_in:.3} LUFS"
    );
}

/// Short-term-style loudness of `x[a..b]` (both channels), LUFS.
fn loudness(x: &[Vec<f32>], a: usize, b: usize) -> f64 {
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, 48_000.0);
    m.process(&[&x[0][a..b], &x[1][a..b]]);
    m.integrated().unwrap()
}

#[test]
fn unity_gain_listening_matches_the_input_loudness_under_heavy_limiting() {
    let fs = 48_000.0;
    // The first 7.5 s section of the programme is at a steady level.
    let x: Vec<Vec<f32>> = programme(fs as f64, 7.4, 6).to_vec();
    let plain = Settings::default();
    let unity = Settings {
        unity: true,
        ..plain
    };
    for gain_db in [12.0f32, 24.0] {
        let (loud, latency) = run(fs, &plain, &x, 512, gain_db, 0.0);
        let (matched, _) = run(fs, &unity, &x, 512, gain_db, 0.0);
        // Compare 4..7 s of the output with the input it came from.
        let (a, b) = (4 * 48_000, 7 * 48_000);
        let l_in = loudness(&x, a - latency, b - latency);
        let l_loud = loudness(&loud, a, b);
        let l_unity = loudness(&matched, a, b);
        eprintln!(
            "+{gain_db} dB: input {l_in:.2} LUFS, limited {l_loud:.2}, unity listen {l_unity:.2}"
        );
        assert!(l_loud - l_in > 6.0, "the limited output is louder");
        assert!(
            (l_unity - l_in).abs() < 0.5,
            "+{gain_db} dB: unity listening {l_unity:.2} LUFS vs input {l_in:.2} LUFS"
        );
    }
}

#[test]
fn bypass_gives_the_input_delayed_by_the_latency_exactly() {
    let fs = 48_000.0;
    let x = programme(fs as f64, 1.0, 8).to_vec();
    let s = Settings {
        bypass: true,
        dither_bits: Some(16),
        dc_filter: true,
        unity: true,
        ..Settings::default()
    };
    let (y, latency) = run(fs, &s, &x, 300, 18.0, 6.0);
    for (c, ch) in y.iter().enumerate() {
        assert_eq!(ch, &delayed(&x[c], latency));
    }
}

#[test]
fn output_is_identical_for_block_sizes_1_17_64_1024_with_every_stage_on() {
    let fs = 48_000.0;
    let x = programme(fs as f64, 4.0, 11).to_vec();
    let s = Settings {
        dither_bits: Some(16),
        noise_shaping: true,
        dc_filter: true,
        unity: true,
        learn: true,
        meter_output: true,
        link: 0.7,
        ..Settings::default()
    };
    let (reference, _) = run(fs, &s, &x, 1024, 9.0, -1.0);
    for block in [1usize, 17, 64] {
        let (y, _) = run(fs, &s, &x, block, 9.0, -1.0);
        let worst = y
            .iter()
            .flatten()
            .zip(reference.iter().flatten())
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-6, "blocks of {block}: differs by {worst}");
    }
}

#[test]
fn dc_filter_removes_an_offset_before_the_limiter() {
    let fs = 48_000.0;
    let n = 96_000;
    let x: Vec<Vec<f32>> = (0..2)
        .map(|_| {
            sine(440.0, 0.1, 0.0, fs as f64, n)
                .iter()
                .map(|v| v + 0.3)
                .collect()
        })
        .collect();
    let s = Settings {
        dc_filter: true,
        ..Settings::default()
    };
    let (y, _) = run(fs, &s, &x, 512, 0.0, 0.0);
    let tail = &y[0][n - 48_000..];
    let mean = tail.iter().map(|&v| v as f64).sum::<f64>() / tail.len() as f64;
    assert!(mean.abs() < 1e-3, "DC left: {mean}");
}

#[test]
fn learned_loudness_of_the_input_ignores_the_input_gain() {
    let fs = 48_000.0;
    let x = programme(fs as f64, 6.0, 12).to_vec();
    let mut p = Processor::new(512);
    p.set_sample_rate(fs);
    p.set_channels(2);
    let s = Settings {
        learn: false,
        ..Settings::default()
    };
    p.configure(&s);
    let learn = Settings { learn: true, ..s };
    let gi = vec![db_to_gain(10.0); 512];
    let go = vec![1.0f32; 512];
    let mut y = x.clone();
    for (k, (l, r)) in {
        let [a, b] = &mut y[..] else { unreachable!() };
        a.chunks_mut(512).zip(b.chunks_mut(512))
    }
    .enumerate()
    {
        // Learning starts after the first block.
        p.configure(if k == 0 { &s } else { &learn });
        p.process(&mut [l, r], &gi, &go);
    }
    let learned = p.learn_meter().integrated().unwrap();
    let want = loudness(&x, 512, x[0].len());
    assert!(
        (learned - want).abs() < 0.05,
        "learned {learned} LUFS, input {want} LUFS"
    );
}

#[test]
fn default_parameters_map_to_the_default_settings() {
    use postmix_limiter::{LimiterParams, settings_from_params};
    let p = LimiterParams::default();
    assert_eq!(settings_from_params(&p, false, false), Settings::default());
    let mut proc = Processor::new(64);
    proc.set_sample_rate(48_000.0);
    let latency = proc.configure(&Settings::default());
    // 2 ms look-ahead (96 samples) plus the 4x oversampler's round trip.
    eprintln!("default latency at 48 kHz: {latency} samples");
    assert!(latency >= 96);
    assert_eq!(proc.oversampling(), 4);
}

#[test]
fn rates_from_1_khz_to_768_khz_activate_and_give_finite_output_at_the_reported_latency() {
    for fs in [
        1234.5678f32,
        8000.0,
        22_050.0,
        192_000.0,
        384_000.0,
        768_000.0,
    ] {
        let s = Settings {
            unity: true,
            dc_filter: true,
            meter_output: true,
            ..Settings::default()
        };
        let at = 2000;
        let mut x = vec![vec![0.0f32; at + 8000]; 2];
        x[0][at] = 0.5;
        x[1][at] = 0.5;
        let (y, latency) = run(fs, &s, &x, 512, 0.0, 0.0);
        assert!(y.iter().flatten().all(|v| v.is_finite()), "{fs} Hz");
        assert_eq!(argmax_abs(&y[0]), at + latency, "{fs} Hz");
    }
}
