//! Gate and expander through the strip, on steady 1 kHz sines (the gate's 2 ms peak detector
//! reads a steady 1 kHz sine's peak exactly, so levels below are "sine peak dBFS").

mod common;

use common::{latency, sine, tone_db};
use postmix_channel_strip::strip::{GateMode, Settings, Strip};

const FS: f64 = 48_000.0;

fn gate_settings() -> Settings {
    Settings {
        gate_bypass: false,
        gate_mode: GateMode::Gate,
        gate_threshold_db: -30.0,
        gate_hysteresis_db: 6.0,
        gate_range_db: 80.0,
        gate_attack_ms: 0.1,
        gate_hold_ms: 0.0,
        gate_release_ms: 2.0,
        ..Settings::all_bypassed()
    }
}

/// Plays 1 kHz steps at `levels` (dBFS), `step_s` seconds each; returns the gain in dB (output
/// minus input level) measured over the second half of each step.
fn staircase(s: &Settings, levels: &[f64], step_s: f64) -> Vec<f64> {
    let n = (step_s * FS) as usize;
    let mut x = Vec::with_capacity(n * levels.len());
    for &l in levels {
        x.extend(sine(FS, 1000.0, 10f64.powf(l / 20.0), n, x.len()));
    }
    let lat = latency(FS as f32);
    x.extend(std::iter::repeat_n(0.0, lat));
    let mut strip = Strip::new(256);
    strip.set_sample_rate(FS as f32);
    let mut y = x.clone();
    for c in y.chunks_mut(256) {
        strip.process(&mut [c], None, || *s);
    }
    let y = &y[lat..];
    levels
        .iter()
        .enumerate()
        .map(|(i, &l)| tone_db(&y[i * n + n / 2..(i + 1) * n]) - l)
        .collect()
}

#[test]
fn gate_opens_at_threshold_and_closes_at_threshold_minus_hysteresis() {
    let s = gate_settings();
    // Up from -40.5 to -25.5 dBFS in 1 dB steps, then back down to -40.5.
    let up: Vec<f64> = (0..16).map(|k| -40.5 + k as f64).collect();
    let down: Vec<f64> = up.iter().rev().copied().collect();
    let levels: Vec<f64> = up.iter().chain(&down).copied().collect();
    let gains = staircase(&s, &levels, 0.1);
    for (l, g) in levels.iter().zip(&gains) {
        println!("{l:6.1} dBFS -> gain {g:7.2} dB");
    }
    let open = |g: f64| g.abs() < 0.05;
    let closed = |g: f64| g < -79.0;
    for (i, (&l, &g)) in levels.iter().zip(&gains).enumerate() {
        let rising = i < up.len();
        let expect_open = if rising { l > -30.0 } else { l > -36.0 };
        assert!(
            if expect_open { open(g) } else { closed(g) },
            "{} at {l} dBFS: gain {g:.2} dB (expected {})",
            if rising { "rising" } else { "falling" },
            if expect_open { "open" } else { "closed" }
        );
    }
}

#[test]
fn expander_ratio_measured_on_steady_sines() {
    // Below the threshold T the output level is T + (L - T) * ratio (hard knee), i.e. the gain
    // is (L - T) (ratio - 1), until the range is reached.
    for ratio in [2.0f32, 4.0] {
        let s = Settings {
            gate_bypass: false,
            gate_mode: GateMode::Expander,
            gate_threshold_db: -20.0,
            gate_ratio: ratio,
            gate_range_db: 80.0,
            gate_attack_ms: 1.0,
            gate_release_ms: 20.0,
            ..Settings::all_bypassed()
        };
        let levels = [-10.0, -20.5, -25.0, -30.0, -40.0];
        let gains = staircase(&s, &levels, 0.5);
        for (&l, &g) in levels.iter().zip(&gains) {
            let expected = ((l - -20.0) * (ratio as f64 - 1.0)).min(0.0);
            println!("ratio {ratio}: {l} dBFS -> {g:.3} dB (expected {expected:.3})");
            assert!(
                (g - expected).abs() < 0.1,
                "ratio {ratio} at {l} dBFS: gain {g:.3} dB, expected {expected:.3}"
            );
        }
    }
}

#[test]
fn compressor_reduces_a_steady_sine_by_its_static_curve() {
    // Hard knee, 4:1, threshold -20: a -8 dBFS sine comes out at -20 + 12/4 = -17 dBFS.
    let s = Settings {
        comp_bypass: false,
        comp_threshold_db: -20.0,
        comp_ratio: 4.0,
        comp_knee_db: 0.0,
        comp_attack_ms: 1.0,
        comp_release_ms: 100.0,
        ..Settings::all_bypassed()
    };
    let g = staircase(&s, &[-8.0], 1.0)[0];
    assert!((g - -9.0).abs() < 0.1, "gain {g:.3} dB, expected -9");
}
