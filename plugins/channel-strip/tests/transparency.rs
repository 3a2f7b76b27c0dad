//! Bit transparency when bypassed, latency, block-size invariance, non-finite safety.

mod common;

use common::latency;
use postmix_channel_strip::strip::{
    AttackMode, EqBand, EqShape, GateMode, HpfSlope, LpfSlope, Settings, Strip,
};
use shared_dsp::saturation::Character;
use shared_dsp::signal::programme;

const FS: f32 = 48_000.0;

/// Every section in, everything moved off neutral.
fn all_in() -> Settings {
    Settings {
        trim_db: 3.0,
        invert_right: true,
        filters_bypass: false,
        hpf: HpfSlope::Db18,
        hpf_hz: 60.0,
        lpf: LpfSlope::Db12,
        lpf_hz: 15_000.0,
        eq_bypass: false,
        lf_shape: EqShape::Shelf,
        lf: EqBand {
            freq_hz: 120.0,
            gain_db: 4.0,
            q: 0.7,
        },
        lmf: EqBand {
            freq_hz: 500.0,
            gain_db: -3.0,
            q: 2.0,
        },
        hmf: EqBand {
            freq_hz: 3_000.0,
            gain_db: 2.0,
            q: 1.0,
        },
        hf_shape: EqShape::Bell,
        hf: EqBand {
            freq_hz: 10_000.0,
            gain_db: 3.0,
            q: 0.7,
        },
        comp_bypass: false,
        comp_threshold_db: -24.0,
        comp_ratio: 4.0,
        comp_attack_mode: AttackMode::Auto,
        comp_auto_release: true,
        comp_auto_makeup: true,
        comp_mix: 0.8,
        gate_bypass: false,
        gate_mode: GateMode::Gate,
        gate_threshold_db: -45.0,
        gate_key_filter: true,
        sat_bypass: false,
        sat_drive_db: 12.0,
        sat_character: Character::Tube,
        width: 1.4,
        pan: -0.3,
        ..Settings::default()
    }
}

fn run_blocks(
    input: &[Vec<f32>; 2],
    block: usize,
    mut settings: impl FnMut(usize) -> Settings,
) -> [Vec<f32>; 2] {
    let mut strip = Strip::new(4096);
    strip.set_sample_rate(FS);
    let [mut l, mut r] = input.clone();
    let mut calls = 0usize;
    for (lc, rc) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        strip.process(&mut [lc, rc], None, || {
            calls += 1;
            settings(calls - 1)
        });
    }
    [l, r]
}

fn assert_delayed_copy(input: &[Vec<f32>; 2], out: &[Vec<f32>; 2], lat: usize, from: usize) {
    for ch in 0..2 {
        for i in from.max(lat)..input[ch].len() {
            assert_eq!(
                out[ch][i].to_bits(),
                input[ch][i - lat].to_bits(),
                "channel {ch} sample {i}"
            );
        }
        if from == 0 {
            assert!(out[ch][..lat].iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn everything_bypassed_is_bit_transparent_delayed_by_the_latency() {
    let input = programme(FS as f64, 2.0, 7);
    let lat = latency(FS);
    println!("latency at {FS} Hz: {lat} samples");
    assert!(lat > 0);
    for block in [1, 64, 333, 1024] {
        let out = run_blocks(&input, block, |_| Settings::all_bypassed());
        assert_delayed_copy(&input, &out, lat, 0);
    }
}

#[test]
fn default_settings_are_bit_transparent_too() {
    // Filters and EQ are in by default but flat: they must add nothing.
    let input = programme(FS as f64, 1.0, 8);
    let out = run_blocks(&input, 512, |_| Settings::default());
    assert_delayed_copy(&input, &out, latency(FS), 0);
}

#[test]
fn sections_switched_in_and_out_again_return_to_bit_transparency() {
    let input = programme(FS as f64, 3.0, 9);
    // In for the first second (750 sub-blocks), bypassed afterwards.
    let out = run_blocks(&input, 256, |k| {
        if k < 750 {
            all_in()
        } else {
            Settings::all_bypassed()
        }
    });
    // After the fades (10 ms) and glides (20 ms), from 1.5 s on.
    assert_delayed_copy(&input, &out, latency(FS), (1.5 * FS) as usize);
}

#[test]
fn output_does_not_depend_on_the_host_block_size() {
    let input = programme(FS as f64, 2.0, 10);
    // Settings change at sub-block 300 (0.4 s): glides, fades and ramps run mid-signal.
    let settings = |k: usize| {
        if k < 300 {
            all_in()
        } else {
            Settings {
                sat_character: Character::Tape,
                dynamics_first: true,
                width: 0.5,
                pan: 0.4,
                trim_db: -2.0,
                ..all_in()
            }
        }
    };
    let reference = run_blocks(&input, 512, settings);
    for block in [1, 17, 64, 1000, 4096] {
        let out = run_blocks(&input, block, settings);
        for ch in 0..2 {
            let d = out[ch]
                .iter()
                .zip(&reference[ch])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let first = out[ch]
                .iter()
                .zip(&reference[ch])
                .position(|(a, b)| (a - b).abs() > 1e-6);
            assert!(
                d <= 1e-6,
                "block {block} channel {ch}: max diff {d}, first at {first:?}"
            );
        }
    }
}

#[test]
fn non_finite_input_gives_finite_output_and_the_strip_recovers() {
    let mut input = programme(FS as f64, 1.0, 11);
    input[0][1000..1100].fill(f32::NAN);
    input[1][1000..1100].fill(f32::INFINITY);
    // The plugin sanitises host input; the strip must still not blow up on its own.
    let out = run_blocks(&input, 128, |_| all_in());
    assert!(out.iter().flatten().all(|v| v.is_finite()));
    let tail = &out[0][out[0].len() / 2..];
    assert!(
        tail.iter().any(|&v| v.abs() > 1e-3),
        "silent after the burst"
    );
}
