//! DC filter: a gentle 2nd-order Butterworth high-pass at [`DC_CUTOFF_HZ`].
//!
//! NOTE: a small piece of DSP in the plugin (shared-dsp was closed to edits while the limiter was
//! written); it belongs in `shared-dsp` (e.g. next to the filter module) and can move as is.

use shared_dsp::util::flush_denormal;

/// Cutoff of the DC filter (Hz): -3 dB at 5 Hz, -0.02 dB at 20 Hz (2nd-order Butterworth:
/// `|H|^2 = (f/fc)^4 / (1 + (f/fc)^4)`), so it removes DC and sub-sonic drift without touching
/// the audio band.
pub const DC_CUTOFF_HZ: f64 = 5.0;

/// One channel of the DC filter (transposed direct form II in f64).
#[derive(Debug, Clone, Copy, Default)]
pub struct DcFilter {
    /// b0, b1, b2, a1, a2 (normalised by a0).
    c: [f64; 5],
    /// Filter state.
    s: [f64; 2],
}

impl DcFilter {
    /// A filter for sample rate `fs` (Hz), state cleared.
    pub fn new(fs: f64) -> Self {
        let mut f = Self::default();
        f.set_sample_rate(fs);
        f
    }

    /// Recomputes the coefficients for `fs` (RBJ cookbook high-pass, Q = 1/sqrt 2) and clears
    /// the state.
    pub fn set_sample_rate(&mut self, fs: f64) {
        let w0 = 2.0 * std::f64::consts::PI * DC_CUTOFF_HZ / fs;
        let (sn, cs) = w0.sin_cos();
        let alpha = sn / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        self.c = [
            (1.0 + cs) / 2.0 / a0,
            -(1.0 + cs) / a0,
            (1.0 + cs) / 2.0 / a0,
            -2.0 * cs / a0,
            (1.0 - alpha) / a0,
        ];
        self.reset();
    }

    /// Clears the state.
    pub fn reset(&mut self) {
        self.s = [0.0; 2];
    }

    /// Filters one sample.
    #[inline]
    pub fn run(&mut self, x: f32) -> f32 {
        let [b0, b1, b2, a1, a2] = self.c;
        let x = x as f64;
        let y = b0 * x + self.s[0];
        self.s[0] = b1 * x - a1 * y + self.s[1];
        self.s[1] = b2 * x - a2 * y;
        y as f32
    }

    /// Flushes denormals from the state (call once per block).
    pub fn flush(&mut self) {
        self.s = [flush_denormal(self.s[0]), flush_denormal(self.s[1])];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_dc_and_passes_100_hz() {
        let fs = 48_000.0;
        let mut f = DcFilter::new(fs);
        let n = 48_000 * 2;
        let mut last = 0.0f32;
        for _ in 0..n {
            last = f.run(0.5);
        }
        assert!(last.abs() < 1e-4, "DC left after 2 s: {last}");
        // 100 Hz sine: analytic gain (f/fc)^2 / sqrt(1 + (f/fc)^4) = 0.99984 (-0.0014 dB).
        let mut f = DcFilter::new(fs);
        let mut peak = 0.0f32;
        for i in 0..n {
            let x = (2.0 * std::f64::consts::PI * 100.0 * i as f64 / fs).sin() as f32;
            let y = f.run(x);
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        let r100 = 100.0 / DC_CUTOFF_HZ;
        let want100 = (r100 * r100) / (1.0 + r100.powi(4)).sqrt();
        assert!((peak as f64 - want100).abs() < 2e-4, "{peak} vs {want100}");
    }
}
