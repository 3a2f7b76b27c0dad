//! Output word-length reduction: TPDF dither with optional noise shaping (the Limiter's last
//! stage).
//!
//! Quantisation to `b` bits uses the grid `k / 2^(b-1)` (full scale 1.0), with triangular (TPDF)
//! dither of +-1 LSB peak added before rounding, so the error is signal-independent in its first
//! two moments (Lipshitz, Wannamaker, Vanderkooy, "Quantization and Dither: A Theoretical Survey",
//! JAES 1992). Without shaping the total error is white with variance `LSB^2 / 12` (rounding) plus
//! `2 LSB^2 / 12` (TPDF) = `LSB^2 / 4`: an RMS of half an LSB, `-6.02 b` dBFS.
//!
//! Noise shaping is error feedback through a fixed 3-tap filter, giving the noise transfer
//! `NTF(z) = 1 - 1.623 z^-1 + 0.982 z^-2 - 0.109 z^-3` (the E-weighted 3-tap coefficients of
//! Lipshitz, Vanderkooy, Wannamaker, "Minimally Audible Noise Shaping", JAES 1991, as usually
//! quoted): -12 dB at DC, +11.4 dB at Nyquist, total power x4.61 (+6.6 dB), the noise moved away
//! from the ear's most sensitive region. The coefficients are designed for 44.1/48 kHz; at higher
//! rates the shape stays high-pass and the extra noise lands further above the audio band.

use crate::signal::Rng;

/// Most channels the ditherer keeps state for.
pub const MAX_CHANNELS: usize = 2;

/// Noise-shaping error-feedback coefficients `c_k` (`NTF = 1 - sum c_k z^-k`).
pub const SHAPING: [f64; 3] = [1.623, -0.982, 0.109];

/// Largest error (in LSB) fed back: stops the loop running away while the output clips at full
/// scale. Never reached otherwise (|error| <= 1.5 LSB: 0.5 rounding + 1 dither).
const ERROR_LIMIT_LSB: f64 = 2.0;

/// TPDF ditherer with optional noise shaping, per channel state, allocation-free.
#[derive(Debug, Clone)]
pub struct Ditherer {
    /// Target word length in bits, `None` = off (samples pass untouched).
    bits: Option<u32>,
    /// Noise shaping on.
    shaping: bool,
    /// Dither noise source per channel (separate, so the sequence per channel does not depend
    /// on how the host splits blocks).
    rng: [Rng; MAX_CHANNELS],
    /// Last three quantisation errors per channel (newest first), in LSB.
    err: [[f64; 3]; MAX_CHANNELS],
}

impl Default for Ditherer {
    fn default() -> Self {
        Self::new()
    }
}

impl Ditherer {
    /// A ditherer, off.
    pub fn new() -> Self {
        let mut d = Self {
            bits: None,
            shaping: false,
            rng: [Rng::new(1), Rng::new(2)],
            err: [[0.0; 3]; MAX_CHANNELS],
        };
        d.reset();
        d
    }

    /// Restarts the noise sequences and clears the shaping state.
    pub fn reset(&mut self) {
        for (ch, r) in self.rng.iter_mut().enumerate() {
            *r = Rng::new(0x5eed_d17e + ch as u64);
        }
        self.err = [[0.0; 3]; MAX_CHANNELS];
    }

    /// Word length (`None` = off; otherwise 8 to 24 bits) and noise shaping. A change clears the
    /// shaping state.
    ///
    /// # Panics
    /// If `bits` is outside 8..=24.
    pub fn set(&mut self, bits: Option<u32>, shaping: bool) {
        if let Some(b) = bits {
            assert!((8..=24).contains(&b), "dither word length {b}");
        }
        if bits != self.bits || shaping != self.shaping {
            self.bits = bits;
            self.shaping = shaping;
            self.err = [[0.0; 3]; MAX_CHANNELS];
        }
    }

    /// Word length in use (`None` = off).
    pub fn bits(&self) -> Option<u32> {
        self.bits
    }

    /// Dithers and quantises channel `ch` in place. Output values lie on the `bits` grid within
    /// `[-1, 1 - LSB]`.
    ///
    /// # Panics
    /// If `ch >= MAX_CHANNELS`.
    pub fn process(&mut self, ch: usize, x: &mut [f32]) {
        let Some(bits) = self.bits else { return };
        let scale = (1u64 << (bits - 1)) as f64;
        let inv = 1.0 / scale;
        let (lo, hi) = (-scale, scale - 1.0);
        let rng = &mut self.rng[ch];
        let e = &mut self.err[ch];
        let shaping = self.shaping;
        for s in x.iter_mut() {
            // Work in LSB units, in f64 (the 24-bit grid is finer than f32's ulp near 1.0).
            let mut v = *s as f64 * scale;
            if shaping {
                v -= SHAPING[0] * e[0] + SHAPING[1] * e[1] + SHAPING[2] * e[2];
            }
            let d = rng.uniform() - rng.uniform();
            let q = (v + d).round().clamp(lo, hi);
            if shaping {
                let err = (q - v).clamp(-ERROR_LIMIT_LSB, ERROR_LIMIT_LSB);
                *e = [err, e[0], e[1]];
            }
            *s = (q * inv) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_leaves_samples_untouched() {
        let mut d = Ditherer::new();
        let mut x = [0.1f32, -0.3, 0.123_456_79];
        let y = x;
        d.process(0, &mut x);
        assert_eq!(x, y);
    }

    #[test]
    fn output_lies_on_the_16_bit_grid() {
        let mut d = Ditherer::new();
        d.set(Some(16), true);
        let mut x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin() * 0.9).collect();
        d.process(0, &mut x);
        for v in x {
            let k = v as f64 * 32768.0;
            assert_eq!(k, k.round(), "{v} is not on the 16-bit grid");
        }
    }
}
