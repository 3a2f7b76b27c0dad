//! Throughput of the partitioned convolver (stereo, medium-mode kernel) beside a bare
//! overlap-save reference, in "x realtime" (seconds of 48 kHz stereo audio per CPU second).
//!
//! Run: `cargo test --release -p shared-dsp --test fir_bench -- --ignored --nocapture`

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;
use shared_dsp::fir::{DesignScratch, PartitionedConvolver, Resolution, design_linear_phase};
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

/// Stereo convolution of `input` with `kernel`, host blocks of `host_block`; returns x realtime.
fn bench_convolver(
    input: &[Vec<f32>; 2],
    kernel: &[f32],
    partition: usize,
    host_block: usize,
) -> f64 {
    let mut conv = PartitionedConvolver::new(2, kernel.len(), partition);
    conv.set_kernel(kernel);
    let mut l = input[0].clone();
    let mut r = input[1].clone();
    let start = CpuTimer::start();
    for (a, b) in l.chunks_mut(host_block).zip(r.chunks_mut(host_block)) {
        conv.process(&mut [a, b]);
    }
    let secs = start.seconds();
    std::hint::black_box((&l, &r));
    SECONDS / secs
}

/// Bare overlap-save with one FFT of 2 x `taps` (hop `taps`), stereo: the reference.
fn bench_overlap_save(input: &[Vec<f32>; 2], taps: usize) -> f64 {
    let n = 2 * taps;
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let h: Vec<f32> = (0..taps)
        .map(|i| ((i * 7919) % 101) as f32 * 1e-4)
        .collect();
    let mut t = vec![0.0f32; n];
    t[..taps].copy_from_slice(&h);
    let mut hs = fwd.make_output_vec();
    fwd.process(&mut t, &mut hs).unwrap();
    let mut scratch =
        vec![Complex::new(0.0, 0.0); fwd.get_scratch_len().max(inv.get_scratch_len())];
    let mut window = [vec![0.0f32; n], vec![0.0f32; n]];
    let mut spec = fwd.make_output_vec();
    let mut out = [input[0].clone(), input[1].clone()];
    let start = CpuTimer::start();
    for (ch, o) in out.iter_mut().enumerate() {
        for block in o.chunks_mut(taps) {
            let w = &mut window[ch];
            w.copy_within(taps.., 0);
            w[taps..taps + block.len()].copy_from_slice(block);
            t.copy_from_slice(w);
            fwd.process_with_scratch(&mut t, &mut spec, &mut scratch)
                .unwrap();
            for (s, k) in spec.iter_mut().zip(&hs) {
                *s *= k;
            }
            inv.process_with_scratch(&mut spec, &mut t, &mut scratch)
                .unwrap();
            block.copy_from_slice(&t[taps..taps + block.len()]);
        }
    }
    let secs = start.seconds();
    std::hint::black_box(&out);
    SECONDS / secs
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn throughput_medium_kernel_stereo() {
    let input = programme(FS, SECONDS, 1);
    let taps = Resolution::Medium.taps(FS);
    let mut scratch = DesignScratch::new(taps);
    let mut kernel = vec![0.0f32; taps];
    let a: f64 = 10f64.powf(6.0 / 40.0);
    let t0 = std::time::Instant::now();
    design_linear_phase(
        |f| {
            let w = f / 1000.0;
            (1.0 - w * w).hypot(w * a) / (1.0 - w * w).hypot(w / a)
        },
        taps,
        FS,
        &mut kernel,
        &mut scratch,
    );
    println!(
        "design of {taps} taps: {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let reference = best_of(|| bench_overlap_save(&input, 8192));
    println!("reference overlap-save 8192 taps: {reference:.0}x realtime");
    // FIR_BENCH_PARTITION=512 restricts the run to one partition size (for profiling).
    let only: Option<usize> = std::env::var("FIR_BENCH_PARTITION")
        .ok()
        .and_then(|v| v.parse().ok());
    for partition in [256, 512, 1024, 2048, 4096] {
        if only.is_some_and(|p| p != partition) {
            continue;
        }
        for host in [64, 1024] {
            let x = best_of(|| bench_convolver(&input, &kernel, partition, host));
            println!(
                "partition {partition:5} host block {host:5}: {x:6.0}x realtime = {:.2} x reference (total latency {} samples)",
                x / reference,
                (taps - 1) / 2 + partition
            );
        }
    }
}
