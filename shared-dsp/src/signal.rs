//! Deterministic test signals shared by tests, benchmarks and the CLI's self-checks.
//!
//! Everything here is seeded and reproducible: the same call gives the same samples on every
//! machine, so benchmark figures and golden numbers stay comparable between runs.

use std::f64::consts::PI;

/// Small, fast, reproducible PRNG (xorshift64*). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is remapped, xorshift cannot leave the zero state).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next raw 64-bit value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [-1, 1).
    #[inline]
    pub fn bipolar(&mut self) -> f64 {
        self.uniform() * 2.0 - 1.0
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// A sine of `freq` Hz with peak amplitude `amp` and start phase `phase` (radians), `len` samples.
pub fn sine(freq: f64, amp: f64, phase: f64, fs: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (amp * (2.0 * PI * freq * n as f64 / fs + phase).sin()) as f32)
        .collect()
}

/// Peak amplitude for a level in dBFS (peak).
pub fn dbfs(level_db: f64) -> f64 {
    10f64.powf(level_db / 20.0)
}

/// Applies raised-cosine fades of `len` samples to both ends (Tech 3341 uses 10 ms), so a
/// synthesised tone starts and stops without a step that a true-peak meter would read as overshoot.
pub fn fade(x: &mut [f32], len: usize) {
    let len = len.min(x.len() / 2);
    let n = x.len();
    for i in 0..len {
        let g = (0.5 - 0.5 * (PI * i as f64 / len as f64).cos()) as f32;
        x[i] *= g;
        x[n - 1 - i] *= g;
    }
}

/// A deterministic stereo programme-like signal: pink-ish noise shaped like a mix (more energy
/// low, less high), a bass line, periodic drum-like transients, and section level changes from
/// quiet verses to loud choruses. Peaks reach about -0.5 dBFS; long-term loudness is about
/// -14 LUFS in the loud sections and -26 LUFS in the quiet ones.
///
/// Returns `[left, right]`, each `seconds * fs` samples long.
pub fn programme(fs: f64, seconds: f64, seed: u64) -> [Vec<f32>; 2] {
    let len = (seconds * fs).round() as usize;
    let mut rng = Rng::new(seed);
    let mut out = [vec![0.0f32; len], vec![0.0f32; len]];
    // Paul Kellet's economy pink filter state, one per channel.
    let mut pink = [[0.0f64; 3]; 2];
    // Section gains (dB) cycle every 7.5 s: verse, build, chorus, break.
    let sections = [-12.0, -6.0, 0.0, -16.0];
    let beat = 0.5; // 120 bpm
    let mut drum_env = 0.0f64;
    let mut drum_phase = 0.0f64;
    let mut bass_phase = 0.0f64;
    let bass_notes = [55.0, 55.0, 73.42, 65.41];
    let mut section_gain = 0.0f64;
    for n in 0..len {
        let t = n as f64 / fs;
        let section = sections[(t / 7.5) as usize % sections.len()];
        // Smooth section changes over ~50 ms so they are level changes, not clicks.
        let target = 10f64.powf(section / 20.0);
        section_gain += (target - section_gain) * (1.0 / (0.05 * fs)).min(1.0);
        // Drum hit on every beat, a louder one on every bar.
        let beat_pos = t % beat;
        if beat_pos < 1.0 / fs {
            drum_env = if ((t / beat) as usize).is_multiple_of(4) {
                1.0
            } else {
                0.6
            };
            drum_phase = 0.0;
        }
        drum_phase += 2.0 * PI * (60.0 + 90.0 * drum_env) / fs;
        let drum = drum_env * drum_phase.sin() + drum_env * drum_env * 0.3 * rng.bipolar();
        drum_env *= (-1.0 / (0.06 * fs)).exp();
        let note = bass_notes[(t / 2.0) as usize % bass_notes.len()];
        bass_phase += 2.0 * PI * note / fs;
        let bass = 0.25 * (bass_phase.sin() + 0.3 * (2.0 * bass_phase).sin());
        let common = rng.bipolar();
        for (ch, buf) in out.iter_mut().enumerate() {
            let white = 0.7 * common + 0.3 * rng.bipolar();
            let p = &mut pink[ch];
            p[0] = 0.99765 * p[0] + white * 0.0990460;
            p[1] = 0.96300 * p[1] + white * 0.2965164;
            p[2] = 0.57000 * p[2] + white * 1.0526913;
            let pinkish = (p[0] + p[1] + p[2] + white * 0.1848) * 0.05;
            let pan = if ch == 0 { 0.9 } else { 1.0 };
            let x = section_gain * (0.55 * pinkish + bass * pan + 0.45 * drum);
            // Gentle saturation keeps the loudest hits just under full scale, like a mastered mix.
            buf[n] = (0.95 * (1.6 * x).tanh()) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programme_is_deterministic_and_in_range() {
        let a = programme(48_000.0, 30.0, 7);
        let b = programme(48_000.0, 30.0, 7);
        assert_eq!(a, b);
        let peak = a[0].iter().chain(&a[1]).fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.8 && peak <= 0.95, "peak {peak}");
        assert_ne!(a[0], a[1], "channels must differ");
    }

    #[test]
    fn sine_has_requested_amplitude() {
        let s = sine(1000.0, 0.5, 0.0, 48_000.0, 4800);
        let peak = s.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.5).abs() < 1e-3);
    }
}

/// Reference true peak (linear amplitude) by band-limited interpolation at `factor` times the
/// sample rate, computed through the FFT: the spectrum is zero-padded to `factor` times its
/// length, which is exact sinc interpolation of the (zero-padded) signal. Slow and allocating: a
/// test oracle for the real-time detectors, not for use in a plugin.
pub fn true_peak_reference(x: &[f32], factor: usize) -> f64 {
    use realfft::RealFftPlanner;
    use realfft::num_complex::Complex;
    // Zero padding on both sides keeps the circular FFT from wrapping the end onto the start.
    let pad = 4096;
    let n = (x.len() + 2 * pad).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let mut time = vec![0.0f64; n];
    for (t, &s) in time[pad..].iter_mut().zip(x) {
        *t = s as f64;
    }
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut time, &mut spec).expect("fft sizes match");
    let m = n * factor;
    let inv = planner.plan_fft_inverse(m);
    let mut big = inv.make_input_vec();
    big[..spec.len()].copy_from_slice(&spec);
    // The old Nyquist bin becomes an ordinary bin shared by +fs/2 and -fs/2: halve it.
    big[n / 2] = Complex::new(spec[n / 2].re * 0.5, 0.0);
    let mut out = inv.make_output_vec();
    inv.process(&mut big, &mut out).expect("fft sizes match");
    let scale = 1.0 / n as f64;
    out.iter().fold(0.0f64, |m, v| m.max((v * scale).abs()))
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    /// A sine at fs/4 with 45 degree phase has sample peaks at 0.707 of its amplitude; the
    /// reference must find the full amplitude.
    #[test]
    fn reference_true_peak_finds_inter_sample_peak() {
        let fs = 48_000.0;
        let mut x = sine(fs / 4.0, 0.5, PI / 4.0, fs, 4800);
        fade(&mut x, 480);
        let sample_peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        assert!((sample_peak - 0.3536).abs() < 1e-3);
        let tp = true_peak_reference(&x, 32);
        assert!((tp - 0.5).abs() < 5e-3, "tp {tp}");
    }
}
