//! Throughput of the shared DSP engines, each beside a reference measured in the same run: the
//! figures the plugin issues ask for (`cargo xtask bench` prints them after the plugin table).
//!
//! Every figure is x realtime (seconds of 48 kHz stereo programme per CPU second of the measuring
//! thread), best of [`RUNS`] runs so that other load on a shared machine does not decide it.

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;
use shared_dsp::dynamics::{DetectorMode, Dynamics};
use shared_dsp::filter::{Band, BandType, IirEq, Slope};
use shared_dsp::fir::convolver::RECOMMENDED_PARTITION;
use shared_dsp::fir::{DesignScratch, PartitionedConvolver, Resolution};
use shared_dsp::limiter::{Limiter, PeakMode};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use shared_dsp::signal::{dbfs, fade, programme, true_peak_reference};
use std::f64::consts::FRAC_1_SQRT_2;
use std::time::Instant;

use crate::thread_cpu_seconds;

/// Sample rate of every engine benchmark.
const FS: f64 = 48_000.0;
/// Runs per figure; the best is kept.
const RUNS: usize = 3;

/// One engine figure with its reference.
pub struct EngineRow {
    /// What was measured.
    pub engine: &'static str,
    /// Host block size.
    pub block: usize,
    /// Throughput, x realtime.
    pub x_realtime: f64,
    /// The reference's name.
    pub reference: &'static str,
    /// The reference's throughput in the same run, x realtime.
    pub reference_x: f64,
    /// Anything else measured on the way (e.g. worst true-peak overshoot).
    pub note: String,
}

/// Seconds of CPU time (wall time where the platform has no thread clock) that `f` takes.
fn timed(f: impl FnOnce()) -> f64 {
    let (c0, w0) = (thread_cpu_seconds(), Instant::now());
    f();
    match (c0, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => w0.elapsed().as_secs_f64(),
    }
    .max(1e-9)
}

/// Best (shortest) time of [`RUNS`] runs of `f` on a fresh copy of `input`.
fn best(input: &[Vec<f32>; 2], mut f: impl FnMut(&mut [f32], &mut [f32])) -> f64 {
    (0..RUNS)
        .map(|_| {
            let (mut l, mut r) = (input[0].clone(), input[1].clone());
            let t = timed(|| f(&mut l, &mut r));
            std::hint::black_box((&l, &r));
            t
        })
        .fold(f64::INFINITY, f64::min)
}

/// A plain copy-and-scale pass: the cheapest possible "processing", the floor for the others.
fn copy_reference(input: &[Vec<f32>; 2], block: usize) -> f64 {
    best(input, |l, r| {
        for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
            for v in a.iter_mut().chain(b.iter_mut()) {
                *v *= 0.999;
            }
        }
    })
}

/// Bare overlap-save convolution with one realfft of 2 x `taps`, stereo (issue 6's reference).
fn overlap_save_reference(input: &[Vec<f32>; 2], taps: usize) -> f64 {
    let n = 2 * taps;
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut t = vec![0.0f32; n];
    for (i, v) in t[..taps].iter_mut().enumerate() {
        *v = ((i * 7919) % 101) as f32 * 1e-4;
    }
    let mut kernel = fwd.make_output_vec();
    fwd.process(&mut t, &mut kernel).expect("sizes match");
    let mut scratch =
        vec![Complex::new(0.0, 0.0); fwd.get_scratch_len().max(inv.get_scratch_len())];
    let mut spec = fwd.make_output_vec();
    let mut windows = [vec![0.0f32; n], vec![0.0f32; n]];
    best(input, |l, r| {
        for (ch, data) in [l, r].into_iter().enumerate() {
            let w = &mut windows[ch];
            for block in data.chunks_mut(taps) {
                w.copy_within(taps.., 0);
                w[taps..taps + block.len()].copy_from_slice(block);
                t.copy_from_slice(w);
                fwd.process_with_scratch(&mut t, &mut spec, &mut scratch)
                    .expect("sizes");
                for (s, k) in spec.iter_mut().zip(&kernel) {
                    *s *= k;
                }
                inv.process_with_scratch(&mut spec, &mut t, &mut scratch)
                    .expect("sizes");
                block.copy_from_slice(&t[taps..taps + block.len()]);
            }
        }
    })
}

/// Runs every engine benchmark on `seconds` of programme at the given host block sizes.
pub fn run(seconds: f64, blocks: &[usize]) -> Vec<EngineRow> {
    let input = programme(FS, seconds, 1);
    let mut rows = Vec::new();
    for &block in blocks {
        let copy = copy_reference(&input, block);

        // Loudness meter: I, LRA, M, S and true peak together, against the ebur128 crate doing
        // the same measurement (issue 3).
        let ours = best(&input, |l, r| {
            let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, FS);
            for (a, b) in l.chunks(block).zip(r.chunks(block)) {
                m.process(&[a, b]);
            }
            std::hint::black_box(m.integrated());
        });
        let theirs = best(&input, |l, r| {
            use ebur128::{EbuR128, Mode};
            let mode = Mode::I | Mode::LRA | Mode::M | Mode::S | Mode::TRUE_PEAK;
            let mut e = EbuR128::new(2, FS as u32, mode).expect("valid setup");
            for (a, b) in l.chunks(block).zip(r.chunks(block)) {
                e.add_frames_planar_f32(&[a, b]).expect("valid frames");
            }
            std::hint::black_box(e.loudness_global().ok());
        });
        rows.push(EngineRow {
            engine: "loudness meter (I, LRA, M, S, TP)",
            block,
            x_realtime: seconds / ours,
            reference: "ebur128 crate, same modes",
            reference_x: seconds / theirs,
            note: String::new(),
        });

        // Linear-phase FIR: medium resolution kernel, stereo, default partition (issue 6).
        let taps = Resolution::Medium.taps(FS);
        let mut kernel = vec![0.0f32; taps];
        let mut scratch = DesignScratch::new(taps);
        let bell = |f: f64| {
            let a: f64 = 10f64.powf(6.0 / 40.0);
            let w = f / 1000.0;
            (1.0 - w * w).hypot(w * a) / (1.0 - w * w).hypot(w / a)
        };
        shared_dsp::fir::design_linear_phase(bell, taps, FS, &mut kernel, &mut scratch);
        let mut conv = PartitionedConvolver::new(2, taps, RECOMMENDED_PARTITION);
        conv.set_kernel(&kernel);
        let fir = best(&input, |l, r| {
            conv.reset();
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                conv.process(&mut [a, b]);
            }
        });
        rows.push(EngineRow {
            engine: "FIR convolver, medium kernel",
            block,
            x_realtime: seconds / fir,
            reference: "bare overlap-save, 8192 taps",
            reference_x: seconds / overlap_save_reference(&input, 8192),
            note: format!(
                "{taps} taps, latency {}",
                conv.total_latency((taps - 1) / 2)
            ),
        });

        // Limiter: true-peak mode, 4x, about 6 dB of limiting (issue 4).
        let drive = dbfs(5.5) as f32;
        let driven = [
            input[0].iter().map(|v| v * drive).collect::<Vec<f32>>(),
            input[1].iter().map(|v| v * drive).collect::<Vec<f32>>(),
        ];
        let mut limited = [Vec::new(), Vec::new()];
        let lim_t = best(&driven, |l, r| {
            let mut lim = Limiter::new(2, block, 16);
            lim.set_sample_rate(FS as f32);
            lim.set_mode(PeakMode::TruePeak);
            lim.set_oversampling(4);
            lim.set_ceiling_db(-1.0);
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                lim.process(&mut [a, b]);
            }
            limited = [l.to_vec(), r.to_vec()];
        });
        rows.push(EngineRow {
            engine: "limiter, true peak 4x, ~6 dB GR",
            block,
            x_realtime: seconds / lim_t,
            reference: "copy",
            reference_x: seconds / copy,
            note: format!(
                "worst TP over ceiling {:+.3} dB",
                worst_overshoot(&limited, -1.0)
            ),
        });

        // Dynamics: the bus compressor's configuration (issue 5).
        let dyn_t = best(&input, |l, r| {
            let mut d = Dynamics::new(2, block);
            d.set_sample_rate(FS as f32);
            d.set_detector(DetectorMode::Rms);
            d.set_auto_release(true);
            d.set_threshold_db(-20.0);
            d.set_ratio(4.0);
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                d.process_stereo(a, b);
            }
        });
        rows.push(EngineRow {
            engine: "dynamics, RMS, auto release",
            block,
            x_realtime: seconds / dyn_t,
            reference: "copy",
            reference_x: seconds / copy,
            note: String::new(),
        });

        // IIR EQ: the channel strip's filters and four bells (issue 7).
        let eq_t = best(&input, |l, r| {
            let mut eq = IirEq::new(2, block, 6);
            eq.set_sample_rate(FS);
            let cut = |kind, f| Band::new(kind, f, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db12);
            eq.set_band(0, cut(BandType::LowCut, 30.0));
            eq.set_band(1, Band::new(BandType::Bell, 200.0, 2.0, 1.0));
            eq.set_band(2, Band::new(BandType::Bell, 800.0, -3.0, 2.0));
            eq.set_band(3, Band::new(BandType::Bell, 3000.0, 1.5, 1.0));
            eq.set_band(4, Band::new(BandType::Bell, 9000.0, 2.0, 0.7));
            eq.set_band(5, cut(BandType::HighCut, 18_000.0));
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                eq.process(&mut [a, b]);
            }
        });
        rows.push(EngineRow {
            engine: "IIR EQ, HP + 4 bells + LP",
            block,
            x_realtime: seconds / eq_t,
            reference: "copy",
            reference_x: seconds / copy,
            note: String::new(),
        });
    }
    rows
}

/// Worst true peak above `ceiling_db` (dB), measured with the 32x reference in 10 s segments.
fn worst_overshoot(channels: &[Vec<f32>; 2], ceiling_db: f64) -> f64 {
    let seg = (10.0 * FS) as usize;
    let mut worst = f64::NEG_INFINITY;
    for ch in channels {
        for start in (0..ch.len()).step_by(seg) {
            let mut s = ch[start..(start + seg + 4800).min(ch.len())].to_vec();
            fade(&mut s, 480);
            worst = worst.max(20.0 * true_peak_reference(&s, 32).log10() - ceiling_db);
        }
    }
    worst
}
