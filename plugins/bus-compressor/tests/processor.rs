//! The bus compressor's audio path (the same `Processor` the plugin's `process` runs): dry/wet
//! alignment, external sidechain, latency, sidechain listen, block-size invariance.

use postmix_bus_compressor::processor::{Processor, Settings};
use postmix_bus_compressor::{BusCompressorParams, settings_from_params};
use shared_dsp::signal::{dbfs, programme, sine};

const FS: f32 = 48_000.0;

/// Runs `input` (1 or 2 channels) through a fresh processor in blocks of `block`, with constant
/// settings and an optional sidechain. Returns the output and the largest gain reduction seen.
fn run(
    input: &[Vec<f32>],
    sidechain: Option<&[Vec<f32>]>,
    s: Settings,
    lookahead_ms: f32,
    fs: f32,
    block: usize,
) -> (Vec<Vec<f32>>, f32, usize) {
    run_os(input, sidechain, s, lookahead_ms, fs, block, 1)
}

/// [`run`] with the gain stage oversampled by `factor`.
fn run_os(
    input: &[Vec<f32>],
    sidechain: Option<&[Vec<f32>]>,
    s: Settings,
    lookahead_ms: f32,
    fs: f32,
    block: usize,
    factor: usize,
) -> (Vec<Vec<f32>>, f32, usize) {
    let mut p = Processor::new(block);
    p.set_sample_rate(fs);
    p.set_oversampling(factor);
    let latency = p.set_lookahead_ms(lookahead_ms);
    let mut out: Vec<Vec<f32>> = input.to_vec();
    let n = input[0].len();
    let mut gr: f32 = 0.0;
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        let mut chans: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[start..end]).collect();
        let sc: Option<Vec<&[f32]>> =
            sidechain.map(|sc| sc.iter().map(|c| &c[start..end]).collect());
        let info = p.process(&mut chans, sc.as_deref(), |_| s);
        gr = gr.max(info.gain_reduction_db);
        start = end;
    }
    (out, gr, latency)
}

/// Heavy settings: every sample of a programme signal is compressed.
fn heavy() -> Settings {
    Settings {
        threshold_db: -40.0,
        ratio: f32::INFINITY,
        attack_ms: 0.1,
        release_ms: 50.0,
        knee_db: 0.0,
        makeup_db: 12.0,
        ..Settings::default()
    }
}

fn rms_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64;
    10.0 * ms.log10()
}

#[test]
fn mix_zero_equals_dry_input_latency_aligned_exactly() {
    let input = programme(FS as f64, 2.0, 7).to_vec();
    for (lookahead, factor) in [(0.0, 1), (1.3, 1), (5.0, 1), (0.0, 2), (2.0, 4)] {
        let s = Settings {
            mix: 0.0,
            ..heavy()
        };
        let (out, gr, latency) = run_os(&input, None, s, lookahead, FS, 256, factor);
        assert!(gr > 10.0, "the wet path compresses hard: {gr} dB");
        if factor == 1 {
            assert_eq!(latency, (lookahead * 0.001 * FS).round() as usize);
        }
        for (o, x) in out.iter().zip(&input) {
            assert!(o[..latency].iter().all(|&v| v == 0.0));
            // Bit-exact: the output is the input delayed by the latency.
            assert_eq!(
                &o[latency..],
                &x[..x.len() - latency],
                "look-ahead {lookahead}"
            );
        }
    }
}

#[test]
fn mix_one_equals_wet_path_exactly_and_half_mix_is_the_aligned_average() {
    let input = programme(FS as f64, 1.0, 3).to_vec();
    let (wet, _, _) = run(&input, None, heavy(), 2.0, FS, 128);
    let (dry, _, _) = run(
        &input,
        None,
        Settings {
            mix: 0.0,
            ..heavy()
        },
        2.0,
        FS,
        128,
    );
    let (half, _, _) = run(
        &input,
        None,
        Settings {
            mix: 0.5,
            ..heavy()
        },
        2.0,
        FS,
        128,
    );
    for c in 0..2 {
        for i in 0..input[0].len() {
            let want = dry[c][i] + (wet[c][i] - dry[c][i]) * 0.5;
            assert_eq!(half[c][i], want, "channel {c} sample {i}");
        }
    }
}

#[test]
fn impulse_through_half_mix_is_one_peak_at_the_latency() {
    // Ratio 1: the wet gain is exactly 1, so a misaligned dry path would show as two 0.5 peaks.
    for (fs, lookahead) in [(44_100.0, 2.5), (48_000.0, 1.0), (96_000.0, 5.0)] {
        let mut x = vec![0.0f32; 4096];
        x[100] = 1.0;
        let s = Settings {
            ratio: 1.0,
            mix: 0.5,
            ..Settings::default()
        };
        let (out, _, latency) = run(&[x.clone()], None, s, lookahead, fs, 64);
        let want = (lookahead as f64 * 0.001 * fs as f64).round() as usize;
        assert_eq!(latency, want, "fs {fs} look-ahead {lookahead}");
        let peak = out[0]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        assert_eq!(peak.0, 100 + latency);
        assert_eq!(*peak.1, 1.0);
        let energy: f32 = out[0].iter().map(|v| v * v).sum();
        assert_eq!(energy, 1.0, "nothing but the one aligned peak");
    }
}

#[test]
fn oversampled_gain_stage_latency_is_lookahead_plus_filters_and_exact() {
    // Ratio 1 (gain exactly 1): the wet path is the oversampler's round trip plus the
    // look-ahead, so a band-limited signal must come out as itself delayed by `latency`.
    let n = 16_384;
    let input = vec![
        sine(997.0, 0.5, 0.3, FS as f64, n),
        sine(3001.0, 0.25, 1.0, FS as f64, n),
    ];
    for factor in [2, 4] {
        for lookahead in [0.0, 2.0] {
            let s = Settings {
                ratio: 1.0,
                ..Settings::default()
            };
            let (out, _, latency) = run_os(&input, None, s, lookahead, FS, 100, factor);
            let la = (lookahead as f64 * 0.001 * FS as f64).round() as usize;
            assert!(
                latency > la,
                "the filters add latency ({factor}x: {latency})"
            );
            let mut p = Processor::new(64);
            p.set_sample_rate(FS);
            p.set_lookahead_ms(lookahead);
            assert_eq!(
                p.set_oversampling(factor),
                latency,
                "reported = measured setup"
            );
            let mut err = 0.0f32;
            for (o, x) in out.iter().zip(&input) {
                for i in 4096..n {
                    err = err.max((o[i] - x[i - latency]).abs());
                }
            }
            // The half-band cascade's passband ripple is ~1e-6 (oversampling module docs).
            assert!(err < 1e-4, "{factor}x, look-ahead {lookahead}: error {err}");
        }
    }
}

#[test]
fn oversampling_is_limited_by_the_engines_highest_rate() {
    let mut p = Processor::new(64);
    for (fs, asked, used) in [
        (48_000.0, 4, 4),
        (96_000.0, 4, 4),
        (192_000.0, 4, 2),
        (192_000.0, 2, 2),
        (384_000.0, 2, 1),
    ] {
        p.set_sample_rate(fs);
        p.set_oversampling(asked);
        assert_eq!(p.oversampling(), used, "{fs} Hz, {asked}x");
        // The longest look-ahead still fits and stays exact.
        let la = (5.0f64 * 0.001 * fs as f64).round() as usize;
        assert!(p.set_lookahead_ms(5.0) >= la);
    }
}

#[test]
fn zero_latency_when_lookahead_is_zero() {
    for fs in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        let mut p = Processor::new(512);
        p.set_sample_rate(fs);
        assert_eq!(p.set_oversampling(1), 0);
        assert_eq!(p.set_lookahead_ms(0.0), 0);
        assert_eq!(p.latency(), 0);
        // And the signal really is not delayed: an impulse comes out at its own index.
        let mut x = vec![0.0f32; 512];
        x[3] = 0.5;
        let mut chans = [&mut x[..]];
        p.process(&mut chans, None, |_| Settings {
            ratio: 1.0,
            ..Settings::default()
        });
        assert_eq!(x[3], 0.5);
        assert_eq!(x.iter().filter(|&&v| v != 0.0).count(), 1);
    }
}

#[test]
fn latency_equals_lookahead_samples_and_follows_changes() {
    let mut p = Processor::new(512);
    for fs in [44_100.0f32, 48_000.0, 88_200.0, 96_000.0, 192_000.0] {
        p.set_sample_rate(fs);
        for ms in [0.1f32, 0.5, 1.0, 2.5, 5.0] {
            let want = (ms as f64 * 0.001 * fs as f64).round() as usize;
            assert_eq!(p.set_lookahead_ms(ms), want, "fs {fs} look-ahead {ms}");
            assert_eq!(p.latency(), want);
        }
        assert_eq!(p.set_lookahead_ms(0.0), 0);
    }
}

/// A 1 kHz sine of `level_db` dBFS peak.
fn tone(level_db: f64, len: usize) -> Vec<f32> {
    sine(1000.0, dbfs(level_db), 0.0, FS as f64, len)
}

#[test]
fn external_sidechain_controls_gain_when_enabled() {
    let n = FS as usize;
    // Quiet programme (below threshold), loud key: only the key can cause gain reduction.
    let input = vec![tone(-30.0, n), tone(-30.0, n)];
    let key = vec![tone(0.0, n), tone(0.0, n)];
    let s = Settings {
        threshold_db: -20.0,
        ratio: f32::INFINITY,
        knee_db: 0.0,
        attack_ms: 1.0,
        release_ms: 100.0,
        external_sidechain: true,
        ..Settings::default()
    };
    let (out, gr, _) = run(&input, Some(&key), s, 0.0, FS, 256);
    // Static curve (detector reads a sine's peak dBFS): key at 0 dB, threshold -20 dB, ratio inf
    // -> 20 dB of gain reduction, so the -30 dBFS input comes out at -50 dBFS.
    let tail = &out[0][n / 2..];
    let level = rms_db(tail) + 3.0103; // sine peak dBFS
    assert!((level - -50.0).abs() < 0.2, "output level {level:.2} dBFS");
    assert!((gr - 20.0).abs() < 0.2, "GR {gr}");

    // A silent key with a loud input: nothing happens while the external key is selected.
    let loud = vec![tone(0.0, n), tone(0.0, n)];
    let silent = vec![vec![0.0; n], vec![0.0; n]];
    let (out, gr, _) = run(&loud, Some(&silent), s, 0.0, FS, 256);
    assert!(gr < 1e-3, "GR {gr}");
    assert_eq!(out, loud);
}

#[test]
fn external_sidechain_is_ignored_when_disabled() {
    let input = programme(FS as f64, 1.0, 11).to_vec();
    let key = vec![tone(0.0, input[0].len()), tone(0.0, input[0].len())];
    let s = Settings {
        external_sidechain: false,
        ..heavy()
    };
    let (with_key, _, _) = run(&input, Some(&key), s, 1.0, FS, 100);
    let (without, _, _) = run(&input, None, s, 1.0, FS, 100);
    assert_eq!(with_key, without);
}

#[test]
fn mono_track_with_stereo_sidechain_uses_both_key_channels() {
    let n = FS as usize / 2;
    let input = vec![tone(-30.0, n)];
    // Key only on the right channel: a fully linked mono detector still sees it.
    let key = vec![vec![0.0; n], tone(0.0, n)];
    let s = Settings {
        threshold_db: -20.0,
        ratio: f32::INFINITY,
        knee_db: 0.0,
        external_sidechain: true,
        link: 0.0,
        ..Settings::default()
    };
    let (_, gr, _) = run(&input, Some(&key), s, 0.0, FS, 256);
    assert!((gr - 20.0).abs() < 0.2, "GR {gr}");
}

#[test]
fn output_is_independent_of_host_block_size() {
    let input = programme(FS as f64, 1.0, 5).to_vec();
    let s = Settings {
        auto_release: true,
        mix: 0.7,
        sc_hpf_hz: Some(120.0),
        ..heavy()
    };
    let (reference, _, _) = run(&input, None, s, 1.5, FS, 4096);
    for block in [1, 17, 64, 333] {
        let (out, _, _) = run(&input, None, s, 1.5, FS, block);
        assert_eq!(out, reference, "block {block}");
    }
}

#[test]
fn sidechain_listen_outputs_the_key() {
    let n = 4096;
    let input = vec![tone(-6.0, n), tone(-6.0, n)];
    let key = vec![tone(-12.0, n), tone(-18.0, n)];
    let s = Settings {
        external_sidechain: true,
        sc_listen: true,
        ..heavy()
    };
    let (out, _, _) = run(&input, Some(&key), s, 0.0, FS, 256);
    assert_eq!(
        out, key,
        "listening from the first block plays the key itself"
    );

    // Internal key with the high-pass: a 50 Hz tone is attenuated by a 500 Hz 12 dB/oct HPF by
    // about 40 dB (Butterworth: |H| = (f/fc)^2 / sqrt(1 + (f/fc)^4) -> -40.0 dB).
    let low = vec![sine(50.0, 0.5, 0.0, FS as f64, 48_000)];
    let s = Settings {
        sc_listen: true,
        sc_hpf_hz: Some(500.0),
        ..Settings::default()
    };
    let (out, _, _) = run(&low, None, s, 0.0, FS, 256);
    let att = rms_db(&out[0][24_000..]) - rms_db(&low[0][24_000..]);
    let r = 50.0f64 / 500.0;
    let want = 20.0 * (r * r / (1.0 + r.powi(4)).sqrt()).log10();
    assert!(
        (att - want).abs() < 0.1,
        "attenuation {att:.2} dB, want {want:.2}"
    );
}

#[test]
fn nonfinite_sidechain_never_reaches_the_output() {
    let n = 2048;
    let input = vec![tone(-6.0, n), tone(-6.0, n)];
    let mut key = vec![tone(0.0, n), tone(0.0, n)];
    key[0][100] = f32::NAN;
    key[1][200] = f32::INFINITY;
    let s = Settings {
        external_sidechain: true,
        ..heavy()
    };
    let (out, _, _) = run(&input, Some(&key), s, 0.0, FS, 256);
    assert!(out.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn default_parameters_map_to_default_settings() {
    let p = BusCompressorParams::default();
    // The host wrapper resets every smoother to its parameter's value on activation.
    for f in [
        &p.threshold_db,
        &p.attack_ms,
        &p.release_ms,
        &p.knee_db,
        &p.makeup_gain,
        &p.mix,
        &p.range_db,
        &p.sc_hpf_hz,
        &p.stereo_link,
    ] {
        f.smoothed.reset(f.value());
    }
    p.ratio_step.smoothed.reset(p.ratio_step.value());
    assert_eq!(settings_from_params(&p, 32), Settings::default());
}
