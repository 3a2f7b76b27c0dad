//! Branch-free `log2` / `exp2` approximations for the per-sample level and gain conversions.
//!
//! The dynamics engine converts every detector sample to dB and every gain sample back to linear.
//! `f32::log2` / `f32::exp2` are library calls that do not vectorise; these use bit manipulation
//! and short polynomials that the compiler turns into SIMD loops. Accuracy (checked against the
//! `f64` library functions in the tests below): |error| < 2e-6 in log2 (1.2e-5 dB) beyond the f32
//! rounding of the result, and relative
//! error < 5e-7 in exp2 (4e-6 dB), far below the 0.1 dB the static-curve tests demand.

use crate::simd::madd;

/// 20 * log10(2): dB per octave of amplitude. `dB = DB_PER_LOG2 * log2(amplitude)`.
pub const DB_PER_LOG2: f32 = 6.020_6;
/// 1 / [`DB_PER_LOG2`]: `log2(gain) = dB * LOG2_PER_DB`.
pub const LOG2_PER_DB: f32 = 1.0 / DB_PER_LOG2;

/// log2 of a positive, finite, normal `x`.
///
/// NOTE: the exponent split uses the bits of sqrt(1/2) so that the mantissa lands in
/// [sqrt(1/2), sqrt(2)), where the atanh series `ln m = 2 (z + z^3/3 + z^5/5 + z^7/7)`,
/// z = (m-1)/(m+1), |z| <= 0.1716, truncates below 2e-8.
#[inline(always)]
pub fn log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let off = bits.wrapping_sub(0x3f35_04f3);
    let e = ((off as i32) >> 23) as f32;
    let m = f32::from_bits(bits.wrapping_sub(off & 0xff80_0000));
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let ln_m = z * (2.0 + z2 * (2.0 / 3.0 + z2 * (2.0 / 5.0 + z2 * (2.0 / 7.0))));
    e + ln_m * std::f32::consts::LOG2_E
}

/// 2^x for any finite `x`; the argument is clamped to [-126, 126] (the normal `f32` range), so
/// very large attenuations give about 1.2e-38 rather than 0.
///
/// NOTE: rounding uses the 1.5 * 2^23 magic number instead of `round()`, which is a library call
/// on baseline x86-64; the integer part is read back from the same float's bits.
#[inline(always)]
pub fn exp2(x: f32) -> f32 {
    exp2_k::<false>(x)
}

/// [`exp2`]; in the `FMA` instance the series runs as fused multiply-adds (only instantiate
/// `FMA = true` inside an `avx2,fma` function). `exp2_k::<false>` is [`exp2`] bit for bit.
#[inline(always)]
pub fn exp2_k<const FMA: bool>(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-126.0, 126.0);
    let t = x + MAGIC;
    let xi = t - MAGIC;
    let f = x - xi; // in [-0.5, 0.5]
    let i = (t.to_bits() as i32).wrapping_sub(0x4b40_0000);
    let scale = f32::from_bits(((i + 127) as u32) << 23);
    let y = f * std::f32::consts::LN_2;
    // Taylor series of e^y, |y| <= 0.347: truncation error y^7/7! < 1.2e-7.
    let p = madd::<FMA>(y, 1.0 / 720.0, 1.0 / 120.0);
    let p = madd::<FMA>(y, p, 1.0 / 24.0);
    let p = madd::<FMA>(y, p, 1.0 / 6.0);
    let p = madd::<FMA>(y, p, 0.5);
    let p = madd::<FMA>(y, p, 1.0);
    let p = madd::<FMA>(y, p, 1.0);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_matches_library_over_full_range() {
        let mut worst = 0.0f64;
        let mut x = 1e-30f32;
        while x < 1e30 {
            let exact = (x as f64).log2();
            // Approximation error plus the f32 rounding of the result (half an ulp, 6e-8 rel).
            let err = (log2(x) as f64 - exact).abs() - exact.abs() * 6e-8;
            worst = worst.max(err);
            x *= 1.0137;
        }
        assert!(worst < 2e-6, "worst log2 error {worst}");
    }

    #[test]
    fn exp2_matches_library_over_gain_range() {
        let mut worst = 0.0f64;
        let mut x = -100.0f32;
        while x < 20.0 {
            let exact = (x as f64).exp2();
            let rel = ((exp2(x) as f64 - exact) / exact).abs();
            worst = worst.max(rel);
            x += 0.00731;
        }
        assert!(worst < 5e-7, "worst exp2 relative error {worst}");
        assert_eq!(exp2(0.0), 1.0);
        assert!(exp2(-1000.0) > 0.0 && exp2(-1000.0) < 1e-37);
    }
}
