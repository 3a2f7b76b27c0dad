//! Throughput of the dynamics engine in the configurations the plugins use, in "x realtime"
//! (seconds of 48 kHz stereo audio per CPU second of this thread), beside a reference loop
//! measured in the same run.
//!
//! Rows: the Channel Strip's two instances (plugins/channel-strip/src/strip.rs: a gate /
//! expander instance and a compressor instance, both peak-detected and linked, fed in 64-sample
//! pieces with the compressor's attack set before every piece, as the strip's `apply` does),
//! alone and as the pair, and the bus compressor's configuration (RMS, auto release, link 100 %)
//! at host blocks of 64 and 1024.
//!
//! Run: `cargo test --release -p shared-dsp --test dynamics_bench -- --ignored --nocapture`

use shared_dsp::dynamics::{DetectorMode, Dynamics, Lower};
use shared_dsp::signal::programme;
use shared_dsp::testing::CpuTimer;

const FS: f32 = 48_000.0;
const SECONDS: f64 = 10.0;
/// The strip's sub-block (`SUB_BLOCK`).
const PIECE: usize = 64;
/// Each figure is the best of this many runs (the machine is shared).
const RUNS: usize = 5;
/// NOTE: the thread CPU clock may tick in 4 ms steps, so every run repeats its measurement
/// until at least this much CPU time has passed.
const MIN_CPU_SECONDS: f64 = 0.3;

/// Best of [`RUNS`] runs of `f` (which returns CPU seconds for [`SECONDS`] of audio), each
/// repeated for [`MIN_CPU_SECONDS`]; x realtime.
fn best_of(mut f: impl FnMut() -> f64) -> f64 {
    (0..RUNS)
        .map(|_| {
            let (mut cpu, mut done) = (0.0, 0.0);
            while cpu < MIN_CPU_SECONDS {
                cpu += f();
                done += SECONDS;
            }
            done / cpu
        })
        .fold(0.0, f64::max)
}

/// The strip's gate instance (`Strip::new` + `apply` with the full-strip bench settings).
fn strip_gate(mode: Lower) -> Dynamics {
    let mut d = Dynamics::new(2, PIECE);
    d.set_sample_rate(FS);
    d.set_stereo_link_percent(100.0);
    d.set_detector(DetectorMode::Peak);
    d.set_detector_ms(2.0); // GATE_DETECTOR_MS
    d.set_ratio(1.0);
    d.set_threshold_db(0.0);
    d.set_lower(mode);
    d.set_attack_ms(1.0);
    d.set_release_ms(200.0);
    d
}

fn gate_mode() -> Lower {
    Lower::Gate {
        open_db: -50.0,
        close_db: -54.0,
        hold_ms: 50.0,
        range_db: 40.0,
    }
}

fn expander_mode() -> Lower {
    Lower::Expander {
        threshold_db: -50.0,
        ratio: 2.0,
        knee_db: 0.0,
        range_db: 40.0,
    }
}

/// The strip's compressor instance.
fn strip_comp(auto_release: bool) -> Dynamics {
    let mut d = Dynamics::new(2, PIECE);
    d.set_sample_rate(FS);
    d.set_stereo_link_percent(100.0);
    d.set_detector(DetectorMode::Peak);
    d.set_detector_ms(5.0); // COMP_DETECTOR_MS
    d.set_threshold_db(-24.0);
    d.set_ratio(4.0);
    d.set_knee_db(6.0);
    d.set_release_ms(200.0);
    d.set_auto_release(auto_release);
    d
}

/// Runs the strip's dynamics section over the programme in 64-sample pieces; CPU seconds.
fn run_strip(
    input: &[Vec<f32>; 2],
    gate: Option<&mut Dynamics>,
    comp: Option<(&mut Dynamics, f32)>,
) -> f64 {
    let (mut l, mut r) = (input[0].clone(), input[1].clone());
    let mut gate = gate;
    let mut comp = comp;
    let t = CpuTimer::start();
    for (a, b) in l.chunks_mut(PIECE).zip(r.chunks_mut(PIECE)) {
        if let Some(g) = gate.as_deref_mut() {
            g.process(&mut [&mut *a, &mut *b], None);
        }
        if let Some((c, attack_ms)) = comp.as_mut() {
            // The strip sets the attack before every piece (manual, fast or auto).
            c.set_attack_ms(*attack_ms);
            c.process(&mut [&mut *a, &mut *b], None);
        }
    }
    let secs = t.seconds();
    std::hint::black_box((&l, &r));
    secs
}

/// The bus compressor's configuration at host block `block` (RMS, auto release, threshold
/// -20 dB) with stereo link `link` %, optional 100 Hz sidechain high-pass and 5 ms look-ahead;
/// CPU seconds.
fn run_bus(input: &[Vec<f32>; 2], block: usize, link: f32, hpf: bool, lookahead: bool) -> f64 {
    let mut d = Dynamics::new(2, block);
    d.set_sample_rate(FS);
    d.set_detector(DetectorMode::Rms);
    d.set_auto_release(true);
    d.set_threshold_db(-20.0);
    d.set_stereo_link_percent(link);
    d.set_sidechain_hpf_hz(hpf.then_some(100.0));
    d.set_lookahead_ms(if lookahead { 5.0 } else { 0.0 });
    let (mut l, mut r) = (input[0].clone(), input[1].clone());
    let t = CpuTimer::start();
    for (lc, rc) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        d.process_stereo(lc, rc);
    }
    let secs = t.seconds();
    std::hint::black_box((&l, &r));
    secs
}

/// Reference: the textbook per-sample compressor (Giannoulis et al. 2012, fig. 7: linked RMS,
/// log10, hard knee, branching one-pole in dB, powf, multiply) with library maths.
fn run_reference(input: &[Vec<f32>; 2]) -> f64 {
    let (mut l, mut r) = (input[0].clone(), input[1].clone());
    let t = CpuTimer::start();
    let (a_rms, a_att, a_rel) = (1.0 - (-1.0f32 / 480.0).exp(), 0.0021f32, 0.00021f32);
    let (mut ms, mut gr) = (0.0f32, 0.0f32);
    for (x, y) in l.iter_mut().zip(r.iter_mut()) {
        ms += a_rms * (x.abs().max(y.abs()).powi(2) - ms);
        let lvl = 10.0 * (2.0 * ms + 1e-30).log10();
        let target = (lvl + 20.0).max(0.0) * 0.75;
        gr += if target > gr { a_att } else { a_rel } * (target - gr);
        let g = 10f32.powf(-gr / 20.0);
        *x *= g;
        *y *= g;
    }
    let secs = t.seconds();
    std::hint::black_box((&l, &r));
    secs
}

#[test]
#[ignore = "benchmark: run in --release"]
fn dynamics_throughput_strip_and_bus_configurations() {
    let input = programme(FS as f64, SECONDS, 1);
    let row = |name: &str, x: f64| println!("{name:<66} {x:>8.0}x realtime");
    row(
        "reference: textbook loop (libm log10/powf)",
        best_of(|| run_reference(&input)),
    );
    row(
        "strip gate (peak 2 ms, gate, hold 50 ms, hyst 4 dB)",
        best_of(|| run_strip(&input, Some(&mut strip_gate(gate_mode())), None)),
    );
    row(
        "strip compressor (peak 5 ms, 4:1, attack 10 ms)",
        best_of(|| run_strip(&input, None, Some((&mut strip_comp(false), 10.0)))),
    );
    row(
        "strip pair: gate + compressor",
        best_of(|| {
            run_strip(
                &input,
                Some(&mut strip_gate(gate_mode())),
                Some((&mut strip_comp(false), 10.0)),
            )
        }),
    );
    row(
        "strip pair: expander + comp (fast atk, auto rel)",
        best_of(|| {
            run_strip(
                &input,
                Some(&mut strip_gate(expander_mode())),
                Some((&mut strip_comp(true), 0.1)),
            )
        }),
    );
    for block in [64, 1024] {
        for (name, link, hpf, lookahead) in [
            ("link 100 %", 100.0, false, false),
            ("link 0 %", 0.0, false, false),
            ("link 100 %, SC HPF 100 Hz", 100.0, true, false),
            ("link 100 %, look-ahead 5 ms", 100.0, false, true),
        ] {
            row(
                &format!("bus compressor (RMS, auto rel, {name}), block {block}"),
                best_of(|| run_bus(&input, block, link, hpf, lookahead)),
            );
        }
    }
}

/// Prints a digest of the output bits of each benchmarked configuration, so that a speed
/// change can be checked for bit-identical output against the previous commit.
#[test]
#[ignore = "benchmark helper: run in --release"]
fn dynamics_output_digests() {
    let input = programme(FS as f64, 4.0, 1);
    let digest = |l: &[f32], r: &[f32]| {
        l.iter().chain(r).fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
            (h ^ v.to_bits() as u64).wrapping_mul(0x100_0000_01b3)
        })
    };
    // (name, gate instance's lower section, compressor's (auto release, attack ms)).
    type Case = (&'static str, Option<Lower>, Option<(bool, f32)>);
    let cases: [Case; 5] = [
        ("gate", Some(gate_mode()), None),
        ("expander", Some(expander_mode()), None),
        ("comp", None, Some((false, 10.0))),
        ("gate + comp", Some(gate_mode()), Some((false, 10.0))),
        (
            "expander + comp auto",
            Some(expander_mode()),
            Some((true, 0.1)),
        ),
    ];
    for (name, g, c) in cases {
        let mut gate = g.map(strip_gate);
        let mut comp = c.map(|(auto, _)| strip_comp(auto));
        let attack = c.map_or(10.0, |c| c.1);
        let (mut l, mut r) = (input[0].clone(), input[1].clone());
        for (a, b) in l.chunks_mut(PIECE).zip(r.chunks_mut(PIECE)) {
            if let Some(g) = gate.as_mut() {
                g.process(&mut [&mut *a, &mut *b], None);
            }
            if let Some(c) = comp.as_mut() {
                c.set_attack_ms(attack);
                c.process(&mut [&mut *a, &mut *b], None);
            }
        }
        println!("digest {name:<24} {:016x}", digest(&l, &r));
    }
    for block in [64, 1024] {
        let mut d = Dynamics::new(2, block);
        d.set_sample_rate(FS);
        d.set_detector(DetectorMode::Rms);
        d.set_auto_release(true);
        d.set_threshold_db(-20.0);
        let (mut l, mut r) = (input[0].clone(), input[1].clone());
        for (lc, rc) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
            d.process_stereo(lc, rc);
        }
        println!("digest bus {block:<20} {:016x}", digest(&l, &r));
    }
}
