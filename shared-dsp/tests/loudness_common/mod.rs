//! Signal builders shared by the loudness integration tests (EBU Tech 3341 / 3342 cases).
#![allow(dead_code)]

use shared_dsp::signal::{dbfs, fade};
use std::f64::consts::PI;

/// Rates every fs-independent case runs at.
pub const RATES: [f64; 3] = [48_000.0, 44_100.0, 96_000.0];

/// A 1 kHz sine (phase-continuous) through segments of `(seconds, level dBFS peak)`; `None` level
/// is digital silence.
pub fn tone_segments(fs: f64, segs: &[(f64, Option<f64>)]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut n0 = 0usize;
    for &(secs, level) in segs {
        let len = (secs * fs).round() as usize;
        let a = level.map_or(0.0, dbfs);
        out.extend((0..len).map(|i| (a * (2.0 * PI * 1000.0 * (n0 + i) as f64 / fs).sin()) as f32));
        n0 += len;
    }
    out
}

/// Tech 3341 cases 15-19: a sine at `fs * frac` of amplitude `amp`, start phase `phase_deg`,
/// 10 ms raised-cosine fades, 1 s long.
pub fn tp_sine(fs: f64, frac: f64, amp: f64, phase_deg: f64) -> Vec<f32> {
    let len = fs as usize;
    let mut x: Vec<f32> = (0..len)
        .map(|n| (amp * (2.0 * PI * frac * n as f64 + phase_deg.to_radians()).sin()) as f32)
        .collect();
    fade(&mut x, (0.01 * fs) as usize);
    x
}

/// Tech 3341 cases 20-23: built at 4 fs, an fs/6 sine of amplitude 0.5 carrying one period of an
/// fs/4 sine of amplitude 1.0 (both start at a rising zero crossing, so the joins are
/// phase-continuous), low-passed (Kaiser windowed sinc, cutoff 0.45 fs, 1025 taps) and
/// decimated by 4 starting at `offset` (0..=3). 1 s at fs, burst in the middle, 10 ms fades.
pub fn tp_burst(fs: f64, offset: usize) -> Vec<f32> {
    let len4 = 4 * fs as usize;
    // fs/6 at 4 fs: 24 samples per period; fs/4 at 4 fs: 16 samples per period.
    let burst_at = (len4 / 2 / 24) * 24;
    let mut hi = vec![0.0f64; len4];
    for (n, v) in hi.iter_mut().enumerate() {
        *v = if n < burst_at {
            0.5 * (2.0 * PI * n as f64 / 24.0).sin()
        } else if n < burst_at + 16 {
            (2.0 * PI * (n - burst_at) as f64 / 16.0).sin()
        } else {
            0.5 * (2.0 * PI * (n - burst_at - 16) as f64 / 24.0).sin()
        };
    }
    // Low-pass at 0.45 fs = 0.1125 of the 4 fs rate.
    let taps = 1025usize;
    let half = (taps / 2) as isize;
    let fc = 0.1125;
    let beta: f64 = 10.0;
    let i0 = |x: f64| {
        let (mut s, mut t) = (1.0f64, 1.0f64);
        for k in 1..80 {
            t *= x * x / 4.0 / (k * k) as f64;
            s += t;
        }
        s
    };
    let h: Vec<f64> = (0..taps as isize)
        .map(|j| {
            let t = (j - half) as f64;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * PI * fc * t).sin() / (PI * t)
            };
            let r = t / half as f64;
            sinc * i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0(beta)
        })
        .collect();
    let norm: f64 = h.iter().sum();
    let mut out = Vec::with_capacity(len4 / 4);
    let mut n = offset;
    while n < len4 {
        let mut acc = 0.0;
        for (j, hj) in h.iter().enumerate() {
            let k = n as isize + half - j as isize;
            if k >= 0 && (k as usize) < len4 {
                acc += hj * hi[k as usize];
            }
        }
        out.push((acc / norm) as f32);
        n += 4;
    }
    fade(&mut out, (0.01 * fs) as usize);
    out
}
