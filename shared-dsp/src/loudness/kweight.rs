//! BS.1770 K-weighting: a high shelf ("head" stage) followed by a high-pass ("RLB" stage), both
//! derived for any sample rate from their analog prototypes and run in `f64`.

use crate::util::flush_denormal;
use std::f64::consts::PI;

/// Normalised biquad coefficients (`a0 = 1`): `y = b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiquadCoeffs {
    /// Feed-forward coefficient of `x[n]`.
    pub b0: f64,
    /// Feed-forward coefficient of `x[n-1]`.
    pub b1: f64,
    /// Feed-forward coefficient of `x[n-2]`.
    pub b2: f64,
    /// Feedback coefficient of `y[n-1]`.
    pub a1: f64,
    /// Feedback coefficient of `y[n-2]`.
    pub a2: f64,
}

/// Analog prototype of stage 1 (high shelf), from ITU-R BS.1770 as given in the reference notes.
const SHELF_F0: f64 = 1681.974450955533;
const SHELF_GAIN_DB: f64 = 3.999843853973347;
const SHELF_Q: f64 = 0.7071752369554196;
const SHELF_VB_EXP: f64 = 0.4996667741545416;
/// Analog prototype of stage 2 (RLB high-pass).
const HP_F0: f64 = 38.13547087602444;
const HP_Q: f64 = 0.5003270373238773;

/// The two K-weighting stages for sample rate `fs` (bilinear transform with `K = tan(pi f0 / fs)`).
///
/// At 48 kHz this reproduces the BS.1770 coefficient table to better than 1e-8.
pub fn k_weighting_coeffs(fs: f64) -> [BiquadCoeffs; 2] {
    let mut c = bilinear_stages(fs);
    // NOTE: BS.1770 defines the filter (and calibrates its -0.691 dB constant) at 48 kHz only.
    // Derived at another rate, the cascade's 1 kHz gain drifts by up to 0.02 dB (the RLB
    // numerator is tabulated un-normalised, [1, -2, 1], and the shelf's bilinear warping at
    // 1 kHz changes with fs), which would read a 1 kHz tone 0.01-0.02 LU off. The RLB numerator
    // is therefore scaled so that the 1 kHz gain equals the 48 kHz table's at every rate; at
    // 48 kHz the factor is exactly 1 and the table is untouched.
    let g =
        cascade_gain(&bilinear_stages(48_000.0), 1000.0, 48_000.0) / cascade_gain(&c, 1000.0, fs);
    c[1].b0 *= g;
    c[1].b1 *= g;
    c[1].b2 *= g;
    c
}

/// Magnitude response of a biquad cascade at `f` Hz.
pub fn cascade_gain(c: &[BiquadCoeffs], f: f64, fs: f64) -> f64 {
    let w = 2.0 * PI * f / fs;
    let (cos1, sin1, cos2, sin2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
    let mut g = 1.0;
    for c in c {
        let nr = c.b0 + c.b1 * cos1 + c.b2 * cos2;
        let ni = -(c.b1 * sin1 + c.b2 * sin2);
        let dr = 1.0 + c.a1 * cos1 + c.a2 * cos2;
        let di = -(c.a1 * sin1 + c.a2 * sin2);
        g *= ((nr * nr + ni * ni) / (dr * dr + di * di)).sqrt();
    }
    g
}

/// Both stages straight from the analog prototypes (the BS.1770 table's form).
fn bilinear_stages(fs: f64) -> [BiquadCoeffs; 2] {
    let k = (PI * SHELF_F0 / fs).tan();
    let vh = 10f64.powf(SHELF_GAIN_DB / 20.0);
    let vb = vh.powf(SHELF_VB_EXP);
    let a0 = 1.0 + k / SHELF_Q + k * k;
    let shelf = BiquadCoeffs {
        b0: (vh + vb * k / SHELF_Q + k * k) / a0,
        b1: 2.0 * (k * k - vh) / a0,
        b2: (vh - vb * k / SHELF_Q + k * k) / a0,
        a1: 2.0 * (k * k - 1.0) / a0,
        a2: (1.0 - k / SHELF_Q + k * k) / a0,
    };
    let k = (PI * HP_F0 / fs).tan();
    let a0 = 1.0 + k / HP_Q + k * k;
    let hp = BiquadCoeffs {
        b0: 1.0,
        b1: -2.0,
        b2: 1.0,
        a1: 2.0 * (k * k - 1.0) / a0,
        a2: (1.0 - k / HP_Q + k * k) / a0,
    };
    [shelf, hp]
}

/// State of the two cascaded transposed-direct-form-II stages of one channel.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KState {
    /// `[s1, s2]` of stage 1 then `[s1, s2]` of stage 2.
    pub s: [f64; 4],
}

impl KState {
    /// Flushes denormal-range state to zero (call once per segment).
    #[inline]
    pub fn flush(&mut self) {
        for v in &mut self.s {
            *v = flush_denormal(*v);
        }
    }
}

/// Sanitised `f32 -> f64`: non-finite input counts as silence so it never reaches the state.
#[inline(always)]
fn clean(x: f32) -> f64 {
    if x.is_finite() { x as f64 } else { 0.0 }
}

/// One K-weighting step; returns the filtered sample. With `FMA` the multiply-adds on the
/// feedback path fuse, shortening the loop-carried dependency chain.
#[inline(always)]
fn step<const FMA: bool>(c: &[BiquadCoeffs; 2], s: &mut [f64; 4], x: f64) -> f64 {
    use crate::simd::madd64 as ma;
    let (p, q) = (&c[0], &c[1]);
    let y1 = ma::<FMA>(p.b0, x, s[0]);
    s[0] = ma::<FMA>(-p.a1, y1, ma::<FMA>(p.b1, x, s[1]));
    s[1] = ma::<FMA>(-p.a2, y1, p.b2 * x);
    let y2 = ma::<FMA>(q.b0, y1, s[2]);
    s[2] = ma::<FMA>(-q.a1, y2, ma::<FMA>(q.b1, y1, s[3]));
    s[3] = ma::<FMA>(-q.a2, y2, q.b2 * y1);
    y2
}

/// Filters `x` through the K-weighting and returns the sum of squares of the output.
pub(crate) fn kweight_sum_sq(c: &[BiquadCoeffs; 2], st: &mut KState, x: &[f32]) -> f64 {
    #[inline(always)]
    fn body<const FMA: bool>(c: &[BiquadCoeffs; 2], st: &mut KState, x: &[f32]) -> f64 {
        let mut s = st.s;
        let mut acc = 0.0;
        for &v in x {
            let y = step::<FMA>(c, &mut s, clean(v));
            acc += y * y;
        }
        st.s = s;
        acc
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fused(c: &[BiquadCoeffs; 2], st: &mut KState, x: &[f32]) -> f64 {
        body::<true>(c, st, x)
    }
    #[cfg(target_arch = "x86_64")]
    let acc = if crate::simd::avx2_fma() {
        // SAFETY: the CPU supports the features `fused` is compiled for.
        unsafe { fused(c, st, x) }
    } else {
        body::<false>(c, st, x)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let acc = body::<false>(c, st, x);
    st.flush();
    acc
}

/// Two channels at once: the two recursions are independent, so interleaving them hides the
/// latency of each one's feedback chain (about twice the throughput of two single passes).
pub(crate) fn kweight_sum_sq2(
    c: &[BiquadCoeffs; 2],
    sa: &mut KState,
    sb: &mut KState,
    xa: &[f32],
    xb: &[f32],
) -> (f64, f64) {
    #[inline(always)]
    fn body<const FMA: bool>(
        c: &[BiquadCoeffs; 2],
        sa: &mut KState,
        sb: &mut KState,
        xa: &[f32],
        xb: &[f32],
    ) -> (f64, f64) {
        let (mut s0, mut s1) = (sa.s, sb.s);
        let (mut acc0, mut acc1) = (0.0, 0.0);
        for (&a, &b) in xa.iter().zip(xb) {
            let y0 = step::<FMA>(c, &mut s0, clean(a));
            let y1 = step::<FMA>(c, &mut s1, clean(b));
            acc0 += y0 * y0;
            acc1 += y1 * y1;
        }
        sa.s = s0;
        sb.s = s1;
        (acc0, acc1)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fused(
        c: &[BiquadCoeffs; 2],
        sa: &mut KState,
        sb: &mut KState,
        xa: &[f32],
        xb: &[f32],
    ) -> (f64, f64) {
        body::<true>(c, sa, sb, xa, xb)
    }
    #[cfg(target_arch = "x86_64")]
    let r = if crate::simd::avx2_fma() {
        // SAFETY: the CPU supports the features `fused` is compiled for.
        unsafe { fused(c, sa, sb, xa, xb) }
    } else {
        body::<false>(c, sa, sb, xa, xb)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let r = body::<false>(c, sa, sb, xa, xb);
    sa.flush();
    sb.flush();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BS.1770-5 Annex 1, Tables 1 and 2 (48 kHz).
    #[test]
    fn derivation_reproduces_bs1770_48k_table() {
        let [s1, s2] = k_weighting_coeffs(48_000.0);
        let want1 = [
            1.53512485958697,
            -2.69169618940638,
            1.19839281085285,
            -1.69065929318241,
            0.73248077421585,
        ];
        let got1 = [s1.b0, s1.b1, s1.b2, s1.a1, s1.a2];
        for (g, w) in got1.iter().zip(want1) {
            assert!((g - w).abs() < 1e-8, "stage 1: {g} vs {w}");
        }
        let want2 = [1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621];
        let got2 = [s2.b0, s2.b1, s2.b2, s2.a1, s2.a2];
        for (g, w) in got2.iter().zip(want2) {
            assert!((g - w).abs() < 1e-8, "stage 2: {g} vs {w}");
        }
    }

    /// The pass-band (1 kHz) gain must not depend on the sample rate: a stereo 1 kHz sine at
    /// A dBFS reads A LUFS at every rate (BS.1770 check value).
    #[test]
    fn k_weighting_gain_at_1khz_is_rate_independent() {
        let gain = |fs: f64| 20.0 * cascade_gain(&k_weighting_coeffs(fs), 1000.0, fs).log10();
        let g48 = gain(48_000.0);
        // A 0 dBFS stereo sine: L = -0.691 + 10 log10(2 * 0.5 * g^2) = -0.691 + g (dB) = 0.
        assert!((-0.691 + g48).abs() < 0.01, "48k: {g48}");
        for fs in [44_100.0, 88_200.0, 96_000.0, 192_000.0] {
            assert!((gain(fs) - g48).abs() < 1e-9, "{fs}: {} vs {g48}", gain(fs));
        }
    }

    #[test]
    fn nan_input_never_reaches_state() {
        let c = k_weighting_coeffs(48_000.0);
        let mut st = KState::default();
        let x = [0.5, f32::NAN, f32::INFINITY, -0.5, 0.25];
        let e = kweight_sum_sq(&c, &mut st, &x);
        assert!(e.is_finite());
        assert!(st.s.iter().all(|v| v.is_finite()));
    }
}
