//! Helpers shared by the channel strip's tests (included with `mod common;`).
#![allow(dead_code)]

use postmix_channel_strip::strip::{Settings, Strip};
use realfft::RealFftPlanner;

/// Runs `input` (1 or 2 channels) through a fresh strip at `fs` in host blocks of `block`
/// samples with fixed settings; returns the output.
pub fn run(fs: f32, s: &Settings, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
    let mut strip = Strip::new(block.max(1));
    strip.set_sample_rate(fs);
    let mut out: Vec<Vec<f32>> = input.to_vec();
    let n = out[0].len();
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        if out.len() == 2 {
            let (l, r) = out.split_at_mut(1);
            let mut bufs = [&mut l[0][start..end], &mut r[0][start..end]];
            strip.process(&mut bufs, None, || *s);
        } else {
            let mut bufs = [&mut out[0][start..end]];
            strip.process(&mut bufs, None, || *s);
        }
        start = end;
    }
    out
}

/// The strip's latency at `fs`.
pub fn latency(fs: f32) -> usize {
    let mut strip = Strip::new(64);
    strip.set_sample_rate(fs);
    strip.latency()
}

/// Magnitude response in dB of the strip (mono) with settings `s` at `fs`: impulse response of
/// `n` samples (after the latency), FFT; returns (bin spacing Hz, dB per bin).
pub fn response_db(fs: f32, s: &Settings, n: usize) -> (f64, Vec<f64>) {
    let lat = latency(fs);
    let mut x = vec![0.0f32; n + lat];
    x[0] = 1.0;
    let y = run(fs, s, &[x], 512);
    let mut h: Vec<f64> = y[0][lat..].iter().map(|&v| v as f64).collect();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut spec = fft.make_output_vec();
    fft.process(&mut h, &mut spec).unwrap();
    let db = spec
        .iter()
        .map(|c| 20.0 * (c.norm() + 1e-300).log10())
        .collect();
    (fs as f64 / n as f64, db)
}

/// Peak-amplitude level in dBFS of a steady tone (RMS * sqrt 2).
pub fn tone_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64;
    10.0 * (2.0 * ms + 1e-300).log10()
}

/// A sine of peak `amp` at `f` Hz, `n` samples, starting at sample `offset` of the phase.
pub fn sine(fs: f64, f: f64, amp: f64, n: usize, offset: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * f * (i + offset) as f64 / fs).sin()) as f32)
        .collect()
}
