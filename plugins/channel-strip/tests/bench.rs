//! Throughput of the whole strip (run with
//! `cargo test -p postmix-channel-strip --release --test bench -- --ignored --nocapture`).
//!
//! Prints "x realtime" = seconds of 48 kHz stereo audio per CPU second (thread CPU time) at host
//! blocks of 64 and 1024, for the full strip with every section in (filters, 4 bands,
//! compressor, gate, 2x saturation) and for each section alone, so the cost can be attributed.
//! Issue 7 target: >= 800x for the full strip.

use postmix_channel_strip::strip::{
    AttackMode, EqBand, EqShape, GateMode, HpfSlope, LpfSlope, Settings, Strip, process_stereo,
};
use shared_dsp::saturation::Character;
use shared_dsp::signal::programme;
use shared_dsp::testing::CpuTimer;

fn full() -> Settings {
    let b = |f, g, q| EqBand {
        freq_hz: f,
        gain_db: g,
        q,
    };
    Settings {
        filters_bypass: false,
        hpf: HpfSlope::Db24,
        hpf_hz: 60.0,
        lpf: LpfSlope::Db24,
        lpf_hz: 16_000.0,
        eq_bypass: false,
        lf_shape: EqShape::Bell,
        lf: b(100.0, 3.0, 1.0),
        lmf: b(500.0, -4.0, 2.0),
        hmf: b(3_000.0, 2.0, 1.0),
        hf_shape: EqShape::Bell,
        hf: b(10_000.0, 3.0, 0.7),
        comp_bypass: false,
        comp_threshold_db: -24.0,
        comp_attack_mode: AttackMode::Manual,
        gate_bypass: false,
        gate_mode: GateMode::Gate,
        gate_threshold_db: -50.0,
        sat_bypass: false,
        sat_drive_db: 12.0,
        sat_character: Character::Tape,
        ..Settings::default()
    }
}

fn measure(label: &str, s: &Settings, seconds: f64) {
    let [l0, r0] = programme(48_000.0, seconds, 3);
    let mut line = format!("{label:<34}");
    for block in [64usize, 1024] {
        let mut strip = Strip::new(block);
        strip.set_sample_rate(48_000.0);
        let (mut l, mut r) = (l0.clone(), r0.clone());
        // Warm up (settle fades, page in).
        process_stereo(&mut strip, &mut l[..48_000], &mut r[..48_000], block, s);
        // NOTE: the thread CPU clock ticks in 4 ms steps on this machine, so repeat the
        // programme until at least 2 CPU seconds have passed.
        let t = CpuTimer::start();
        let mut done = 0.0;
        let mut cpu = 0.0;
        while cpu < 2.0 {
            let (mut l, mut r) = (l0.clone(), r0.clone());
            process_stereo(&mut strip, &mut l, &mut r, block, s);
            std::hint::black_box(&l);
            done += seconds;
            cpu = t.seconds();
        }
        line += &format!("  block {block:>4}: {:>7.0}x", done / cpu);
    }
    println!("{line}");
}

#[test]
#[ignore = "benchmark: run in --release"]
fn full_strip_throughput_at_blocks_64_and_1024() {
    let secs = 20.0;
    let f = full();
    let off = Settings::all_bypassed();
    measure("all bypassed (delay only)", &off, secs);
    measure(
        "filters (HP24 + LP24)",
        &Settings {
            filters_bypass: false,
            hpf: f.hpf,
            hpf_hz: f.hpf_hz,
            lpf: f.lpf,
            lpf_hz: f.lpf_hz,
            ..off
        },
        secs,
    );
    measure(
        "EQ (4 bells)",
        &Settings {
            eq_bypass: false,
            ..Settings { ..f }
        }
        .with_only_eq(),
        secs,
    );
    measure(
        "gate",
        &Settings {
            gate_bypass: false,
            gate_mode: GateMode::Gate,
            gate_threshold_db: -50.0,
            ..off
        },
        secs,
    );
    measure(
        "compressor",
        &Settings {
            comp_bypass: false,
            comp_threshold_db: -24.0,
            ..off
        },
        secs,
    );
    measure(
        "saturation 2x",
        &Settings {
            sat_bypass: false,
            sat_drive_db: 12.0,
            ..off
        },
        secs,
    );
    measure("FULL STRIP (every section in)", &f, secs);
}

trait OnlyEq {
    fn with_only_eq(self) -> Self;
}

impl OnlyEq for Settings {
    fn with_only_eq(self) -> Self {
        Settings {
            filters_bypass: true,
            comp_bypass: true,
            gate_bypass: true,
            sat_bypass: true,
            ..self
        }
    }
}

/// The settings `postmix-bench` gives the plugin (tests/src/bin/postmix-bench.rs, issue 7):
/// 12 dB/oct HPF and LPF at their defaults, LF/HMF/HF +3.6 dB, LMF -3.6 dB (shelves at the
/// ends), expander and compressor at their defaults, 2x tape saturation at 6 dB drive.
fn host_bench() -> Settings {
    let d = Settings::default();
    Settings {
        hpf: HpfSlope::Db12,
        lpf: LpfSlope::Db12,
        lf: EqBand {
            gain_db: 3.6,
            ..d.lf
        },
        lmf: EqBand {
            gain_db: -3.6,
            ..d.lmf
        },
        hmf: EqBand {
            gain_db: 3.6,
            ..d.hmf
        },
        hf: EqBand {
            gain_db: 3.6,
            ..d.hf
        },
        gate_bypass: false,
        comp_bypass: false,
        sat_bypass: false,
        ..d
    }
}

/// Best of `runs` wall-clock timings of `seconds` of programme (on a shared machine the fastest
/// run is the one least disturbed; the thread CPU clock is too coarse for runs this short).
fn measure_best(label: &str, s: &Settings, seconds: f64, runs: usize) {
    let [l0, r0] = programme(48_000.0, seconds, 3);
    let mut line = format!("{label:<34}");
    for block in [64usize, 1024] {
        let mut strip = Strip::new(block);
        strip.set_sample_rate(48_000.0);
        let (mut l, mut r) = (l0.clone(), r0.clone());
        process_stereo(&mut strip, &mut l[..48_000], &mut r[..48_000], block, s);
        let mut best = f64::INFINITY;
        for _ in 0..runs {
            let (mut l, mut r) = (l0.clone(), r0.clone());
            let t = std::time::Instant::now();
            process_stereo(&mut strip, &mut l, &mut r, block, s);
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(&l);
        }
        line += &format!("  block {block:>4}: {:>7.0}x", seconds / best);
    }
    println!("{line}");
}

#[test]
#[ignore = "benchmark: run in --release"]
fn host_bench_settings_throughput_at_blocks_64_and_1024() {
    measure_best(
        "postmix-bench settings (strip only)",
        &host_bench(),
        10.0,
        25,
    );
}

#[test]
#[ignore = "benchmark: run in --release"]
fn host_bench_sections() {
    let h = host_bench();
    let off = Settings::all_bypassed();
    measure_best("bypassed", &off, 10.0, 15);
    measure_best(
        "filters+eq",
        &Settings {
            filters_bypass: false,
            ..h.with_only_eq()
        },
        10.0,
        15,
    );
    measure_best(
        "gate",
        &Settings {
            gate_bypass: false,
            ..off
        },
        10.0,
        15,
    );
    measure_best(
        "comp",
        &Settings {
            comp_bypass: false,
            ..off
        },
        10.0,
        15,
    );
    measure_best(
        "sat",
        &Settings {
            sat_bypass: false,
            ..off
        },
        10.0,
        15,
    );
    measure_best("full", &h, 10.0, 15);
}
