//! Throughput of the saturator (stereo, 2x, driven: IIR half-band resampler), of the 2x and 4x FIR
//! oversampler round trips and of the 2x IIR half-band round trip, in
//! "x realtime" (seconds of 48 kHz stereo audio per CPU second), at host blocks of 64 and 1024,
//! beside a reference measured in the same run (a scalar `f32::tanh` over the same number of
//! oversampled samples: it tracks how loaded the shared machine is).
//!
//! Run: `cargo test --release -p shared-dsp --test oversampling_bench -- --ignored --nocapture`
//! (`OS_BENCH_ONLY=sat` or `OS_BENCH_ONLY=os` runs one half, for profiling).

use shared_dsp::oversampling::Oversampler;
use shared_dsp::oversampling::polyphase_iir::HalfbandIir2x;
use shared_dsp::saturation::{Character, RECOMMENDED_FACTOR, Saturator};
use shared_dsp::signal::programme;

use shared_dsp::testing::CpuTimer;

const FS: f64 = 48_000.0;
const SECONDS: f64 = 10.0;
/// Each figure is the best of this many runs (the machine is shared; the best run is the one
/// least disturbed by other load).
const RUNS: usize = 5;

fn best_of(mut f: impl FnMut() -> f64) -> f64 {
    (0..RUNS).map(|_| f()).fold(0.0, f64::max)
}

/// Reference: scalar library `tanh` over `factor` x the stereo input (what a naive oversampled
/// waveshaper spends on its curve alone).
fn bench_reference(input: &[Vec<f32>; 2], factor: usize) -> f64 {
    let mut buf = vec![0.0f32; 1024 * factor];
    let mut acc = 0.0f32;
    let start = CpuTimer::start();
    for ch in input {
        for block in ch.chunks(1024) {
            for (i, &x) in block.iter().enumerate() {
                for k in 0..factor {
                    buf[i * factor + k] = x;
                }
            }
            for v in buf.iter_mut() {
                *v = (*v * 4.0).tanh();
            }
            acc += buf[7];
        }
    }
    let secs = start.seconds();
    std::hint::black_box(acc);
    SECONDS / secs
}

/// Stereo saturation (2x, drive 12 dB, `character`), `max_block` per oversampler call, host
/// blocks of `host`; returns x realtime.
fn bench_saturator(
    input: &[Vec<f32>; 2],
    character: Character,
    max_block: usize,
    host: usize,
) -> f64 {
    let mut sat = Saturator::new(2, max_block, RECOMMENDED_FACTOR);
    sat.set_sample_rate(FS as f32);
    sat.set_drive_db(12.0);
    sat.set_character(character);
    sat.reset();
    let mut l = input[0].clone();
    let mut r = input[1].clone();
    let start = CpuTimer::start();
    for (a, b) in l.chunks_mut(host).zip(r.chunks_mut(host)) {
        sat.process_stereo(a, b);
    }
    let secs = start.seconds();
    std::hint::black_box((&l, &r));
    SECONDS / secs
}

/// Stereo 4x up/down round trip (a clamp at the top rate), host blocks of `host`.
fn bench_oversampler(input: &[Vec<f32>; 2], factor: usize, host: usize) -> f64 {
    let mut os = Oversampler::new(2, host, 16);
    os.set_factor(factor);
    let mut l = input[0].clone();
    let mut r = input[1].clone();
    let mut top = vec![0.0f32; host * factor];
    let start = CpuTimer::start();
    for (a, b) in l.chunks_mut(host).zip(r.chunks_mut(host)) {
        for (ch, x) in [a, b].into_iter().enumerate() {
            let t = &mut top[..x.len() * factor];
            os.upsample_into(ch, x, t);
            for v in t.iter_mut() {
                *v = v.clamp(-1.0, 1.0);
            }
            os.downsample_from(ch, t, x);
        }
    }
    let secs = start.seconds();
    std::hint::black_box((&l, &r));
    SECONDS / secs
}

/// Stereo 2x round trip through the polyphase IIR half-band (the saturator's resampler at 2x),
/// the same clamp at the top rate, host blocks of `host`.
fn bench_iir_halfband(input: &[Vec<f32>; 2], host: usize) -> f64 {
    let mut hb = HalfbandIir2x::new(2);
    let mut l = input[0].clone();
    let mut r = input[1].clone();
    let mut ta = vec![0.0f32; host * 2];
    let mut tb = vec![0.0f32; host * 2];
    let start = CpuTimer::start();
    for (a, b) in l.chunks_mut(host).zip(r.chunks_mut(host)) {
        let n = a.len();
        let (ta, tb) = (&mut ta[..2 * n], &mut tb[..2 * n]);
        hb.upsample(0, a, b, ta, tb);
        for v in ta.iter_mut().chain(tb.iter_mut()) {
            *v = v.clamp(-1.0, 1.0);
        }
        hb.downsample(0, ta, tb, a, b);
    }
    let secs = start.seconds();
    std::hint::black_box((&l, &r));
    SECONDS / secs
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn throughput_saturator_and_oversampler() {
    let input = programme(FS, SECONDS, 1);
    let only = std::env::var("OS_BENCH_ONLY").unwrap_or_default();
    let reference = best_of(|| bench_reference(&input, RECOMMENDED_FACTOR));
    println!("reference: scalar tanh at 2x: {reference:6.0}x realtime");
    if only.is_empty() || only == "sat" {
        for c in [Character::Tape, Character::Tube] {
            for (max_block, host) in [(64, 64), (1024, 64), (1024, 1024)] {
                let x = best_of(|| bench_saturator(&input, c, max_block, host));
                println!(
                    "saturator {RECOMMENDED_FACTOR}x {c:?} max_block {max_block:4} host block {host:4}: {x:6.0}x realtime = {:.2} x reference",
                    x / reference
                );
            }
        }
    }
    if only.is_empty() || only == "os" {
        for host in [64, 1024] {
            let x = best_of(|| bench_iir_halfband(&input, host));
            println!(
                "IIR half-band 2x round trip host block {host:4}: {x:6.0}x realtime = {:.2} x reference",
                x / reference
            );
        }
        for factor in [2, 4] {
            for host in [64, 1024] {
                let x = best_of(|| bench_oversampler(&input, factor, host));
                println!(
                    "oversampler {factor}x round trip host block {host:4}: {x:6.0}x realtime = {:.2} x reference",
                    x / reference
                );
            }
        }
    }
}
