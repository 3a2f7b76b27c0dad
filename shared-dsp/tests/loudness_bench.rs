//! Throughput of the whole meter (I, LRA, M, S, true peak) against the `ebur128` crate doing the
//! same (modes I | LRA | M | S | TRUE_PEAK) on 60 s of 48 kHz stereo programme.
//!
//! Run: `cargo test -p shared-dsp --release --test loudness_bench -- --ignored --nocapture`

use ebur128::{EbuR128, Mode};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use shared_dsp::signal::programme;
use std::time::Instant;

/// CPU time of this thread (s), from /proc/thread-self/schedstat (ns on CPU), so that other
/// processes sharing the machine do not inflate the figures; wall clock where unavailable.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// Best of `runs` runs, in CPU seconds.
fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let (c0, t) = (cpu_seconds(), Instant::now());
        f();
        let dt = match (c0, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => t.elapsed().as_secs_f64(),
        };
        best = best.min(dt);
    }
    best
}

#[test]
#[ignore]
fn meter_throughput_vs_ebur128_60s_stereo_48k() {
    let fs = 48_000.0;
    let secs = 60.0;
    let [l, r] = programme(fs, secs, 42);
    for block in [64usize, 1024] {
        let mut result = None;
        let ours = best_of(5, || {
            let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
            for (a, b) in l.chunks(block).zip(r.chunks(block)) {
                m.process(&[a, b]);
            }
            result = Some((m.integrated(), m.loudness_range(), m.true_peak_max()));
        });
        let mut theirs_result = None;
        let theirs = best_of(5, || {
            let mode = Mode::I | Mode::LRA | Mode::M | Mode::S | Mode::TRUE_PEAK;
            let mut e = EbuR128::new(2, 48_000, mode).unwrap();
            for (a, b) in l.chunks(block).zip(r.chunks(block)) {
                e.add_frames_planar_f32(&[a, b]).unwrap();
            }
            theirs_result = Some((
                e.loudness_global().unwrap(),
                e.loudness_range().unwrap(),
                e.true_peak(0).unwrap().max(e.true_peak(1).unwrap()),
            ));
        });
        println!(
            "block {block:5}: LoudnessMeter {:7.0}x realtime ({:.1} ms), ebur128 {:7.0}x realtime ({:.1} ms), ratio {:.2}",
            secs / ours,
            ours * 1e3,
            secs / theirs,
            theirs * 1e3,
            theirs / ours
        );
        println!("  ours {result:?}\n  ebur128 {theirs_result:?}");
    }
}

#[test]
#[ignore]
fn true_peak_detector_throughput() {
    let fs = 48_000.0;
    let [l, r] = programme(fs, 60.0, 42);
    let t = best_of(5, || {
        let mut tp = shared_dsp::loudness::TruePeakDetector::new(2, fs);
        for (a, b) in l.chunks(1024).zip(r.chunks(1024)) {
            tp.process(&[a, b]);
        }
        assert!(tp.max_peak() > 0.0);
    });
    println!(
        "TruePeakDetector alone: {:.0}x realtime ({:.1} ms)",
        60.0 / t,
        t * 1e3
    );
}
