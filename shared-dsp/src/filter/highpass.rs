//! A 12 dB/oct Butterworth high-pass ([`ButterworthHighPass`]).

use crate::util::flush_denormal;
use biquad::{Biquad, Coefficients, DirectForm2Transposed};

/// A 12 dB/oct Butterworth high-pass: the RBJ Audio EQ Cookbook high-pass with Q = 1/sqrt(2),
/// cutoff limited to 0.45 fs, one transposed direct form II section with `f64` state.
///
/// Used by the dynamics detector's sidechain filter (and a plugin's sidechain *listen* output,
/// so that what the user hears is what the detector hears) and by the Limiter's DC filter.
#[derive(Debug, Clone, Copy)]
pub struct ButterworthHighPass {
    /// Transposed direct form II section (f64 state).
    filter: DirectForm2Transposed<f64>,
}

impl Default for ButterworthHighPass {
    fn default() -> Self {
        Self::new()
    }
}

impl ButterworthHighPass {
    /// A filter that passes everything until [`Self::set`] is called.
    pub fn new() -> Self {
        Self {
            filter: DirectForm2Transposed::<f64>::new(Coefficients {
                a1: 0.0,
                a2: 0.0,
                b0: 1.0,
                b1: 0.0,
                b2: 0.0,
            }),
        }
    }

    /// Coefficients for cutoff `hz` at sample rate `fs`.
    pub fn coefficients(hz: f32, fs: f32) -> Coefficients<f64> {
        let f = (hz as f64).min(0.45 * fs as f64);
        let w0 = 2.0 * std::f64::consts::PI * f / fs as f64;
        let (sn, cs) = w0.sin_cos();
        let alpha = sn / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        Coefficients {
            b0: (1.0 + cs) / 2.0 / a0,
            b1: -(1.0 + cs) / a0,
            b2: (1.0 + cs) / 2.0 / a0,
            a1: -2.0 * cs / a0,
            a2: (1.0 - alpha) / a0,
        }
    }

    /// A filter at cutoff `hz` for sample rate `fs`, state cleared.
    pub fn with_cutoff(hz: f32, fs: f32) -> Self {
        let mut f = Self::new();
        f.set(hz, fs);
        f
    }

    /// Sets the cutoff (keeps the state).
    pub fn set(&mut self, hz: f32, fs: f32) {
        self.filter.update_coefficients(Self::coefficients(hz, fs));
    }

    /// Filters one sample.
    #[inline]
    pub fn run(&mut self, x: f32) -> f32 {
        self.filter.run(x as f64) as f32
    }

    /// Flushes denormal-range state (call once per block).
    pub fn flush(&mut self) {
        self.filter.s1 = flush_denormal(self.filter.s1);
        self.filter.s2 = flush_denormal(self.filter.s2);
    }

    /// Clears the state.
    pub fn reset(&mut self) {
        self.filter.reset_state();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removes DC and passes the band with the analytic Butterworth gain
    /// `(f/fc)^2 / sqrt(1 + (f/fc)^4)`: at 5 Hz (the Limiter's DC filter), 100 Hz is within 2e-4
    /// of 0.99984 (-0.0014 dB).
    #[test]
    fn removes_dc_and_passes_the_band_with_the_butterworth_gain() {
        let (fs, fc) = (48_000.0f32, 5.0f32);
        let n = 48_000 * 2;
        let mut f = ButterworthHighPass::with_cutoff(fc, fs);
        let mut last = 0.0f32;
        for _ in 0..n {
            last = f.run(0.5);
        }
        assert!(last.abs() < 1e-4, "DC left after 2 s: {last}");
        let mut f = ButterworthHighPass::with_cutoff(fc, fs);
        let mut peak = 0.0f32;
        for i in 0..n {
            let x = (2.0 * std::f64::consts::PI * 100.0 * i as f64 / fs as f64).sin() as f32;
            let y = f.run(x);
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        let r = 100.0 / fc as f64;
        let want = (r * r) / (1.0 + r.powi(4)).sqrt();
        assert!((peak as f64 - want).abs() < 2e-4, "{peak} vs {want}");
    }
}
