//! Polyphase IIR half-band 2x up/down-sampling (minimum phase, a few multiplies per sample).
//!
//! The half-band low-pass is the sum of two allpass chains in `z^-2` (Valenzuela & Constantinides,
//! "Digital signal processing schemes for efficient interpolation and decimation", IEE Proc.
//! 1983; the same structure as Laurent de Soras' HIIR library):
//!
//! ```text
//! H(z) = 1/2 (A0(z^2) + z^-1 A1(z^2)),   A0 = prod_k S(a_2k),  A1 = prod_k S(a_2k+1),
//! S(a)(z) = (a + z^-1) / (1 + a z^-1)   (at the low rate)
//! ```
//!
//! Each path runs at the *low* rate, so a 2x stage costs one multiply-add (and a subtract) per
//! coefficient per low-rate sample, whatever the direction. The coefficients come from the
//! elliptic (Jacobi theta series) closed form for a given number of coefficients and transition
//! bandwidth ([`design`]); the filter is power complementary (`|H(w)|^2 + |H(pi - w)|^2 = 1`), so
//! the passband error is about the square of the stopband gain.
//!
//! Design used by the saturator ([`COEFS`], [`TRANSITION`]): 10 coefficients, passband edge 20 kHz
//! at 44.1 kHz (0.2268 of the 2x rate, stopband from 0.2732): **106.4 dB** stopband attenuation,
//! passband deviation below 1e-9 dB. At 48 kHz the passband reaches 21.8 kHz.
//!
//! Group delay (minimum phase, no integer latency): an up/down round trip delays low frequencies
//! by [`ROUND_TRIP_DELAY_DC`] = 3.44 base-rate samples (3.44 at 1 kHz, 3.65 at 5 kHz, 4.41 at
//! 10 kHz, 6.35 at 15 kHz, at 48 kHz); its impulse response peaks at [`ROUND_TRIP_LATENCY`] = 4.
//!
//! Layout: two channels are processed together, one `[f32; 4]` vector per allpass section holding
//! `[path 0 ch a, path 0 ch b, path 1 ch a, path 1 ch b]` (both paths and both channels in the
//! lanes of one SSE register). `f32` is enough: the largest coefficient is 0.972, and the round
//! trip's noise is about -140 dB relative to full scale (see `tests/polyphase_iir.rs`).
//!
//! NOTE: section `k`'s previous input is section `k - 1`'s previous output, so the state is one
//! previous input plus one previous output per section (as in HIIR).

use crate::simd::{avx2_fma, madd};

/// Number of allpass coefficients of the saturator's half-band (5 sections per path).
pub const NUM_COEFS: usize = 10;
/// Sections per path.
const SECTIONS: usize = NUM_COEFS / 2;
/// Transition half-width relative to the 2x rate: passband to `0.25 - TRANSITION`, stopband from
/// `0.25 + TRANSITION`. Set so the passband reaches 20 kHz at 44.1 kHz.
pub const TRANSITION: f64 = 0.25 - 20_000.0 / 88_200.0;

/// The coefficients for [`NUM_COEFS`] / [`TRANSITION`], from [`design`] (checked against it in the
/// unit tests), rounded to `f64`.
pub const COEFS: [f64; NUM_COEFS] = [
    0.035_572_986_324_842_93,
    0.132_792_135_945_905_08,
    0.268_223_042_129_096_2,
    0.415_490_782_907_577_6,
    0.554_392_021_336_599,
    0.674_172_987_728_137,
    0.772_192_382_352_193_3,
    0.850_958_174_092_088_5,
    0.915_586_680_728_434_2,
    0.972_370_292_771_376_5,
];

/// Low-frequency group delay of an up/down round trip through [`COEFS`], in base-rate samples
/// (see [`round_trip_delay_dc`]).
pub const ROUND_TRIP_DELAY_DC: f64 = 3.435_232_521_623_928;

/// Index of the peak of an up/down round trip's impulse response (base-rate samples): the
/// whole-sample latency a host is told (measured in `tests/polyphase_iir.rs`).
pub const ROUND_TRIP_LATENCY: usize = 4;

/// Elliptic parameters `(k, q)` of a half-band with the given transition half-width.
fn transition_param(transition: f64) -> (f64, f64) {
    let k = ((1.0 - 2.0 * transition) * std::f64::consts::FRAC_PI_4).tan();
    let k = k * k;
    let kksqrt = (1.0 - k * k).powf(0.25);
    let e = 0.5 * (1.0 - kksqrt) / (1.0 + kksqrt);
    let e4 = e * e * e * e;
    let q = e * (1.0 + e4 * (2.0 + e4 * (15.0 + 150.0 * e4)));
    (k, q)
}

/// Designs `nbr_coefs` allpass coefficients of a half-band with transition half-width
/// `transition` (relative to the 2x rate, `0 < transition < 0.25`), maximising the stopband
/// attenuation (the closed form of the elliptic half-band; de Soras' HIIR
/// `PolyphaseIir2Designer::compute_coefs_spec_order_tbw`). Even-indexed coefficients belong to
/// path 0, odd-indexed ones to path 1.
///
/// # Panics
/// If `nbr_coefs` is 0 or `transition` is out of range.
pub fn design(nbr_coefs: usize, transition: f64) -> Vec<f64> {
    assert!(nbr_coefs > 0 && transition > 0.0 && transition < 0.25);
    let (k, q) = transition_param(transition);
    let order = (2 * nbr_coefs + 1) as f64;
    let pi = std::f64::consts::PI;
    (1..=nbr_coefs)
        .map(|c| {
            let c = c as f64;
            let (mut num, mut sign, mut i) = (0.0, 1.0, 0i32);
            loop {
                let t = q.powi(i * (i + 1)) * ((2 * i + 1) as f64 * c * pi / order).sin() * sign;
                num += t;
                sign = -sign;
                i += 1;
                if t.abs() <= 1e-100 || i > 64 {
                    break;
                }
            }
            let (mut den, mut sign, mut i) = (0.0, -1.0, 1i32);
            loop {
                let t = q.powi(i * i) * ((2 * i) as f64 * c * pi / order).cos() * sign;
                den += t;
                sign = -sign;
                i += 1;
                if t.abs() <= 1e-100 || i > 64 {
                    break;
                }
            }
            let ww = num * q.powf(0.25) / (den + 0.5);
            let w2 = ww * ww;
            let x = ((1.0 - w2 * k) * (1.0 - w2 / k)).sqrt() / (1.0 + w2);
            (1.0 - x) / (1.0 + x)
        })
        .collect()
}

/// Predicted stopband attenuation (dB) of [`design`]`(nbr_coefs, transition)`.
pub fn attenuation_db(nbr_coefs: usize, transition: f64) -> f64 {
    let (_, q) = transition_param(transition);
    let order = (2 * nbr_coefs + 1) as f64;
    let a = 4.0 * (order * 0.5 * q.ln()).exp();
    -10.0 * (a / (1.0 + a)).log10()
}

/// Complex response `(re, im)` of the half-band `H(z)` at `f` (relative to the 2x rate).
pub fn response(coefs: &[f64], f: f64) -> (f64, f64) {
    let w = 2.0 * std::f64::consts::PI * f;
    // z^-2 and z^-1 on the unit circle.
    let (z2r, z2i) = ((2.0 * w).cos(), -(2.0 * w).sin());
    let mul = |a: (f64, f64), b: (f64, f64)| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
    let div = |a: (f64, f64), b: (f64, f64)| {
        let d = b.0 * b.0 + b.1 * b.1;
        ((a.0 * b.0 + a.1 * b.1) / d, (a.1 * b.0 - a.0 * b.1) / d)
    };
    let mut p = [(1.0, 0.0), (w.cos(), -w.sin())];
    for (i, &c) in coefs.iter().enumerate() {
        let s = div((c + z2r, z2i), (1.0 + c * z2r, c * z2i));
        p[i % 2] = mul(p[i % 2], s);
    }
    (0.5 * (p[0].0 + p[1].0), 0.5 * (p[0].1 + p[1].1))
}

/// Low-frequency group delay of an up/down round trip, in base-rate samples.
///
/// A section `(a + z^-2) / (1 + a z^-2)` delays DC by `2 (1 - a) / (1 + a)` samples of the 2x
/// rate; the half-band's DC group delay `g` is the mean of its two paths' (path 1 adds one
/// sample, its `z^-1`). The round trip passes the filter twice (`2 g`), and the decimator keeps
/// the odd-phase samples, one 2x-rate sample after the phase the upsampler starts on, so the
/// delay is `(2 g - 1) / 2` base-rate samples: half the sum of all the sections' delays.
pub fn round_trip_delay_dc(coefs: &[f64]) -> f64 {
    let g = |a: f64| 2.0 * (1.0 - a) / (1.0 + a);
    0.5 * coefs.iter().map(|&a| g(a)).sum::<f64>()
}

/// Lane coefficients of every section: `[a_2k, a_2k, a_2k+1, a_2k+1]` for the upsampler (lanes
/// `[path 0 ch a, path 0 ch b, path 1 ch a, path 1 ch b]`), `[a_2k+1, a_2k+1, a_2k, a_2k]` for the
/// downsampler (lanes `[path 1 a, path 1 b, path 0 a, path 0 b]`: path 1 takes the even input
/// samples, path 0 the odd ones, so a pair of inputs loads straight into the lanes).
fn lane_coefs(down: bool) -> [[f32; 4]; SECTIONS] {
    std::array::from_fn(|k| {
        let (a, b) = (COEFS[2 * k] as f32, COEFS[2 * k + 1] as f32);
        if down { [b, b, a, a] } else { [a, a, b, b] }
    })
}

/// State of one two-channel allpass network (both paths, both channels).
#[derive(Clone, Copy, Debug, Default)]
struct Chains {
    /// Previous input of the first section, per lane.
    x0: [f32; 4],
    /// Previous output of each section, per lane.
    y: [[f32; 4]; SECTIONS],
}

impl Chains {
    /// Zeroes non-finite state and flushes denormals (once per block).
    #[inline(always)]
    fn guard(&mut self) {
        // NOTE: plain loops over the fixed-size rows (a chained iterator stayed a call with a
        // branch per value; this is branch-free and vectorises).
        let mut finite = true;
        for row in std::iter::once(&mut self.x0).chain(self.y.iter_mut()) {
            for v in row.iter_mut() {
                finite &= v.is_finite();
                *v = if v.abs() < 1e-30 { 0.0 } else { *v };
            }
        }
        if !finite {
            *self = Self::default();
        }
    }
}

/// One time step of both chains in all four lanes.
#[inline(always)]
fn step<const FMA: bool>(
    c: &[[f32; 4]; SECTIONS],
    x0: &mut [f32; 4],
    y: &mut [[f32; 4]; SECTIONS],
    input: [f32; 4],
) -> [f32; 4] {
    let mut s = input;
    let mut prev = *x0;
    for k in 0..SECTIONS {
        let old = y[k];
        let mut out = [0.0f32; 4];
        for l in 0..4 {
            // y[n] = a (x[n] - y[n-1]) + x[n-1], as (a x[n] + x[n-1]) - a y[n-1]: only the second
            // multiply-add is on the recursion (one FMA latency per sample instead of a subtract
            // and an FMA).
            let v = madd::<FMA>(c[k][l], s[l], prev[l]);
            out[l] = madd::<FMA>(-c[k][l], old[l], v);
        }
        y[k] = out;
        prev = old;
        s = out;
    }
    *x0 = input;
    s
}

/// Non-finite -> 0 (branch-free select).
#[inline(always)]
fn finite_or_zero(x: f32) -> f32 {
    if x.is_finite() { x } else { 0.0 }
}

#[inline(always)]
fn up_generic<const FMA: bool>(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    a: &[f32],
    b: &[f32],
    oa: &mut [f32],
    ob: &mut [f32],
) {
    let n = a.len();
    let (b, oa, ob) = (&b[..n], &mut oa[..2 * n], &mut ob[..2 * n]);
    let (mut x0, mut y) = (st.x0, st.y);
    for i in 0..n {
        let (xa, xb) = (finite_or_zero(a[i]), finite_or_zero(b[i]));
        let s = step::<FMA>(c, &mut x0, &mut y, [xa, xb, xa, xb]);
        oa[2 * i] = s[0];
        oa[2 * i + 1] = s[2];
        ob[2 * i] = s[1];
        ob[2 * i + 1] = s[3];
    }
    st.x0 = x0;
    st.y = y;
    st.guard();
}

#[inline(always)]
fn down_generic<const FMA: bool>(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    ia: &[f32],
    ib: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    let n = a.len();
    let (b, ia, ib) = (&mut b[..n], &ia[..2 * n], &ib[..2 * n]);
    let (mut x0, mut y) = (st.x0, st.y);
    for i in 0..n {
        let input = [
            finite_or_zero(ia[2 * i]),
            finite_or_zero(ib[2 * i]),
            finite_or_zero(ia[2 * i + 1]),
            finite_or_zero(ib[2 * i + 1]),
        ];
        let s = step::<FMA>(c, &mut x0, &mut y, input);
        a[i] = 0.5 * (s[0] + s[2]);
        b[i] = 0.5 * (s[1] + s[3]);
    }
    st.x0 = x0;
    st.y = y;
    st.guard();
}

type KernelFn = fn(&[[f32; 4]; SECTIONS], &mut Chains, &[f32], &[f32], &mut [f32], &mut [f32]);

/// Explicit SSE kernels (x86-64 baseline; the `FMA` instance is compiled with AVX2 + FMA): a
/// skewed pipeline (see `Net::wave`) and two samples per iteration, so the loads and stores of a
/// pair of channels become two shuffles each instead of per-lane inserts and extracts. Same
/// arithmetic per section and sample as [`step`] (bit-identical to the portable kernels when
/// `FMA` is false).
#[cfg(target_arch = "x86_64")]
mod sse {
    use super::{Chains, SECTIONS};
    use std::arch::x86_64::*;
    use std::marker::PhantomData;

    /// `a * b + c` (one FMA in the `FMA` instance).
    #[inline(always)]
    unsafe fn fmadd<const FMA: bool>(a: __m128, b: __m128, c: __m128) -> __m128 {
        // SAFETY: the FMA instance is only inlined into `avx2,fma` functions.
        unsafe {
            if FMA {
                _mm_fmadd_ps(a, b, c)
            } else {
                _mm_add_ps(_mm_mul_ps(a, b), c)
            }
        }
    }

    /// Non-finite lanes -> 0 (`x - x` is 0 exactly when `x` is finite).
    #[inline(always)]
    pub(super) unsafe fn finite(x: __m128) -> __m128 {
        // SAFETY: SSE is the x86-64 baseline.
        unsafe { _mm_and_ps(x, _mm_cmpeq_ps(_mm_sub_ps(x, x), _mm_setzero_ps())) }
    }

    /// How a kernel reads its input and writes its output, one sample or two at a time (the
    /// pairs load and store with a shuffle or two instead of per-lane inserts and extracts).
    pub(super) trait Io {
        /// Samples per channel at the low rate (the block length).
        fn len(&self) -> usize;
        /// Sample `n` in the lanes' order, non-finite lanes zeroed.
        unsafe fn input(&mut self, n: usize) -> __m128;
        /// Samples `n` and `n + 1`.
        unsafe fn input2(&mut self, n: usize) -> (__m128, __m128);
        /// The last section's output for time `t`.
        unsafe fn emit(&mut self, s: __m128, t: usize);
        /// The last section's outputs for times `t` and `t + 1`.
        unsafe fn emit2(&mut self, s0: __m128, s1: __m128, t: usize);
    }

    /// A kernel's block: two channels in (`ia`, `ib`), two out (`oa`, `ob`), kept as pointers
    /// whose ranges the constructor checked. `DOWN`: the downsampler (the input twice as long
    /// as the output), else the upsampler (the output twice as long as the input).
    pub(super) struct Block<'a, const DOWN: bool> {
        pa: *const f32,
        pb: *const f32,
        qa: *mut f32,
        qb: *mut f32,
        /// Samples per channel at the low rate.
        len: usize,
        _borrow: PhantomData<&'a mut [f32]>,
    }

    /// The upsampler's block: lanes `[path 0 ch a, path 0 ch b, path 1 ch a, path 1 ch b]`,
    /// each input sample in both paths, each time two output samples per channel.
    pub(super) type UpIo<'a> = Block<'a, false>;

    /// The downsampler's block: lanes `[path 1 a, path 1 b, path 0 a, path 0 b]` take input
    /// samples `2n` and `2n + 1` of both channels; the output is the mean of the two paths.
    pub(super) type DownIo<'a> = Block<'a, true>;

    impl<'a, const DOWN: bool> Block<'a, DOWN> {
        /// # Panics
        /// If a slice is shorter than the block needs.
        pub(super) fn new(
            ia: &'a [f32],
            ib: &'a [f32],
            oa: &'a mut [f32],
            ob: &'a mut [f32],
        ) -> Self {
            let len = if DOWN { oa.len() } else { ia.len() };
            let (n_in, n_out) = if DOWN { (2 * len, len) } else { (len, 2 * len) };
            assert!(ia.len() >= n_in && ib.len() >= n_in && oa.len() >= n_out && ob.len() >= n_out);
            Self {
                pa: ia.as_ptr(),
                pb: ib.as_ptr(),
                qa: oa.as_mut_ptr(),
                qb: ob.as_mut_ptr(),
                len,
                _borrow: PhantomData,
            }
        }
    }

    impl Io for UpIo<'_> {
        fn len(&self) -> usize {
            self.len
        }

        #[inline(always)]
        unsafe fn input(&mut self, n: usize) -> __m128 {
            // SAFETY: the kernel reads `n < len` (its contract).
            unsafe {
                let (a, b) = (*self.pa.add(n), *self.pb.add(n));
                finite(_mm_setr_ps(a, b, a, b))
            }
        }

        #[inline(always)]
        unsafe fn input2(&mut self, n: usize) -> (__m128, __m128) {
            // SAFETY: as `input`, for `n + 1`.
            unsafe {
                let la = _mm_castpd_ps(_mm_load_sd(self.pa.add(n) as *const f64));
                let lb = _mm_castpd_ps(_mm_load_sd(self.pb.add(n) as *const f64));
                let t = finite(_mm_unpacklo_ps(la, lb)); // [a0, b0, a1, b1]
                (_mm_movelh_ps(t, t), _mm_movehl_ps(t, t))
            }
        }

        #[inline(always)]
        unsafe fn emit(&mut self, s: __m128, t: usize) {
            // SAFETY: the kernel writes times `t < len`, outputs `2t, 2t + 1 < 2 len`.
            unsafe {
                // [p0 a, p0 b, p1 a, p1 b] -> a: [p0 a, p1 a], b: [p0 b, p1 b].
                let o = _mm_castps_pd(_mm_shuffle_ps::<0b11_01_10_00>(s, s));
                _mm_store_sd(self.qa.add(2 * t) as *mut f64, o);
                _mm_storeh_pd(self.qb.add(2 * t) as *mut f64, o);
            }
        }

        #[inline(always)]
        unsafe fn emit2(&mut self, s0: __m128, s1: __m128, t: usize) {
            // SAFETY: as `emit`, for `t + 1`.
            unsafe {
                _mm_storeu_ps(self.qa.add(2 * t), _mm_shuffle_ps::<0b10_00_10_00>(s0, s1));
                _mm_storeu_ps(self.qb.add(2 * t), _mm_shuffle_ps::<0b11_01_11_01>(s0, s1));
            }
        }
    }

    impl Io for DownIo<'_> {
        fn len(&self) -> usize {
            self.len
        }

        #[inline(always)]
        unsafe fn input(&mut self, n: usize) -> __m128 {
            // SAFETY: the kernel reads `n < len`, inputs `2n, 2n + 1 < 2 len`.
            unsafe {
                let la = _mm_castpd_ps(_mm_load_sd(self.pa.add(2 * n) as *const f64));
                let lb = _mm_castpd_ps(_mm_load_sd(self.pb.add(2 * n) as *const f64));
                // [ia 2n, ib 2n, ia 2n+1, ib 2n+1]
                finite(_mm_unpacklo_ps(la, lb))
            }
        }

        #[inline(always)]
        unsafe fn input2(&mut self, n: usize) -> (__m128, __m128) {
            // SAFETY: as `input`, for `n + 1`.
            unsafe {
                let la = _mm_loadu_ps(self.pa.add(2 * n));
                let lb = _mm_loadu_ps(self.pb.add(2 * n));
                (
                    finite(_mm_unpacklo_ps(la, lb)),
                    finite(_mm_unpackhi_ps(la, lb)),
                )
            }
        }

        #[inline(always)]
        unsafe fn emit(&mut self, s: __m128, t: usize) {
            // SAFETY: the kernel writes times `t < len`.
            unsafe {
                let r = _mm_mul_ps(_mm_add_ps(s, _mm_movehl_ps(s, s)), _mm_set1_ps(0.5));
                *self.qa.add(t) = _mm_cvtss_f32(r);
                *self.qb.add(t) = _mm_cvtss_f32(_mm_shuffle_ps::<0b01_01_01_01>(r, r));
            }
        }

        #[inline(always)]
        unsafe fn emit2(&mut self, s0: __m128, s1: __m128, t: usize) {
            // SAFETY: as `emit`, for `t + 1`.
            unsafe {
                // Lanes [path 1 a, path 1 b, path 0 a, path 0 b] of two samples ->
                // [ya, yb, ya', yb'].
                let u = _mm_movelh_ps(s0, s1);
                let w = _mm_movehl_ps(s1, s0);
                let r = _mm_mul_ps(_mm_add_ps(u, w), _mm_set1_ps(0.5));
                let o = _mm_castps_pd(_mm_shuffle_ps::<0b11_01_10_00>(r, r));
                _mm_store_sd(self.qa.add(t) as *mut f64, o);
                _mm_storeh_pd(self.qb.add(t) as *mut f64, o);
            }
        }
    }

    /// Registers of one network: coefficients, negated coefficients and state.
    struct Net {
        c: [__m128; SECTIONS],
        nc: [__m128; SECTIONS],
        /// Previous input of section 0.
        x0: __m128,
        /// Latest output of each section.
        y: [__m128; SECTIONS],
        /// The output before that (the skewed pipeline's previous input of section `k + 1`).
        z: [__m128; SECTIONS],
    }

    impl Net {
        #[inline(always)]
        unsafe fn load(coefs: &[[f32; 4]; SECTIONS], st: &Chains) -> Self {
            // SAFETY: unaligned loads of `[f32; 4]`s.
            unsafe {
                let c: [__m128; SECTIONS] =
                    std::array::from_fn(|k| _mm_loadu_ps(coefs[k].as_ptr()));
                Self {
                    c,
                    nc: std::array::from_fn(|k| _mm_sub_ps(_mm_setzero_ps(), c[k])),
                    x0: _mm_loadu_ps(st.x0.as_ptr()),
                    y: std::array::from_fn(|k| _mm_loadu_ps(st.y[k].as_ptr())),
                    z: [_mm_setzero_ps(); SECTIONS],
                }
            }
        }

        #[inline(always)]
        unsafe fn store(&self, st: &mut Chains) {
            // SAFETY: unaligned stores into `[f32; 4]`s.
            unsafe {
                _mm_storeu_ps(st.x0.as_mut_ptr(), self.x0);
                for k in 0..SECTIONS {
                    _mm_storeu_ps(st.y[k].as_mut_ptr(), self.y[k]);
                }
            }
        }

        /// One iteration of the skewed pipeline: section `k` (for `lo <= k <= hi`) processes
        /// time `n - k` of iteration `n`, so its input (section `k - 1`'s output at that time)
        /// was computed in the previous iteration and the sections of one iteration are
        /// independent (the out-of-order core overlaps them instead of walking a chain of
        /// 2 x SECTIONS dependent FMAs per sample). Per section and time the arithmetic is
        /// [`super::step`]'s. Returns the last section's output (time `n - SECTIONS + 1`).
        #[inline(always)]
        unsafe fn wave<const FMA: bool>(&mut self, input: __m128, lo: usize, hi: usize) -> __m128 {
            // SAFETY: register arithmetic only.
            unsafe {
                // Descending, so section k reads section k - 1's outputs of the last iteration.
                // NOTE: constant loop bounds and a per-section test (not `lo..=hi`): the loop
                // unrolls to constant indices, so the state stays in registers.
                for k in (1..SECTIONS).rev() {
                    if k < lo || k > hi {
                        continue;
                    }
                    let old = self.y[k];
                    let v = fmadd::<FMA>(self.c[k], self.y[k - 1], self.z[k - 1]);
                    self.z[k] = old;
                    self.y[k] = fmadd::<FMA>(self.nc[k], old, v);
                }
                if lo == 0 {
                    let old = self.y[0];
                    let v = fmadd::<FMA>(self.c[0], input, self.x0);
                    self.z[0] = old;
                    self.y[0] = fmadd::<FMA>(self.nc[0], old, v);
                    self.x0 = input;
                }
                self.y[SECTIONS - 1]
            }
        }
    }

    /// Sections active in iteration `n` of a block of `len` samples.
    #[inline(always)]
    fn active(n: usize, len: usize) -> (usize, usize) {
        ((n + 1).saturating_sub(len), n.min(SECTIONS - 1))
    }

    /// Runs one block of `len` samples through the pipeline: fill (sections starting one by
    /// one), pairs of samples while every section is busy, then single samples and the drain.
    ///
    /// # Safety
    /// `FMA` requires AVX2 + FMA; `io` must accept every `n < len` and `t < len`.
    #[inline(always)]
    unsafe fn run<const FMA: bool>(net: &mut Net, len: usize, io: &mut impl Io) {
        const LAG: usize = SECTIONS - 1;
        // SAFETY: `io` is called for `n < len` and times `n - LAG < len` only.
        unsafe {
            let mut n = 0;
            while n < len + LAG {
                if n >= LAG && n + 2 <= len {
                    let (x0, x1) = io.input2(n);
                    let s0 = net.wave::<FMA>(x0, 0, LAG);
                    let s1 = net.wave::<FMA>(x1, 0, LAG);
                    io.emit2(s0, s1, n - LAG);
                    n += 2;
                    continue;
                }
                let (lo, hi) = active(n, len);
                let t = if lo == 0 {
                    io.input(n)
                } else {
                    _mm_setzero_ps()
                };
                let s = net.wave::<FMA>(t, lo, hi);
                if n >= LAG {
                    io.emit(s, n - LAG);
                }
                n += 1;
            }
        }
    }

    /// Runs one block through a network: `io` says which (see [`UpIo`], [`DownIo`]).
    ///
    /// # Safety
    /// `FMA` requires AVX2 + FMA.
    #[inline(always)]
    pub(super) unsafe fn kernel<const FMA: bool>(
        coefs: &[[f32; 4]; SECTIONS],
        st: &mut Chains,
        io: &mut impl Io,
    ) {
        // SAFETY: `io` checked its slices' lengths; `run` reads and writes inside them.
        unsafe {
            let mut net = Net::load(coefs, st);
            run::<FMA>(&mut net, io.len(), io);
            net.store(st);
        }
        st.guard();
    }
}

/// AVX-512 kernels (32 vector registers): the skewed pipeline of [`sse`] with a skew of *two*
/// samples per section. In iteration `n` section `k` processes time `n - 2k`, so its input
/// (section `k - 1`'s output for that time) was computed two iterations earlier. A section's
/// step is two dependent FMAs; with a skew of one they form a chain across the sections of one
/// iteration per iteration (about 8 cycles per sample), with a skew of two the chain has two
/// iterations to complete and an iteration costs about as much as its ten FMAs (5 cycles). The
/// three outputs each section keeps for that (`h0..h2`) need more than 16 registers, hence
/// AVX-512 (its `xmm16..31`). Same arithmetic per section and time as [`super::step`] with FMA,
/// so the same results bit for bit as the AVX2 + FMA kernels.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::sse::Io;
    use super::{Chains, SECTIONS};
    use std::arch::x86_64::*;

    /// Pipeline lag in iterations: the last section processes time `n - LAG`.
    const LAG: usize = 2 * (SECTIONS - 1);

    /// Registers of one network.
    struct Net {
        c: [__m128; SECTIONS],
        nc: [__m128; SECTIONS],
        /// Previous input of section 0.
        x0: __m128,
        /// Each section's latest output (time `t - 1` when its next time is `t`).
        h0: [__m128; SECTIONS],
        /// The output before that.
        h1: [__m128; SECTIONS],
        /// And the one before that.
        h2: [__m128; SECTIONS],
    }

    impl Net {
        #[inline(always)]
        unsafe fn load(coefs: &[[f32; 4]; SECTIONS], st: &Chains) -> Self {
            // SAFETY: unaligned loads of `[f32; 4]`s.
            unsafe {
                let c: [__m128; SECTIONS] =
                    std::array::from_fn(|k| _mm_loadu_ps(coefs[k].as_ptr()));
                let h0: [__m128; SECTIONS] =
                    std::array::from_fn(|k| _mm_loadu_ps(st.y[k].as_ptr()));
                Self {
                    c,
                    nc: std::array::from_fn(|k| _mm_sub_ps(_mm_setzero_ps(), c[k])),
                    x0: _mm_loadu_ps(st.x0.as_ptr()),
                    h0,
                    // Shifted out before they are read: section `k + 1` first reads section `k`'s
                    // `h1`, `h2` after section `k` has shifted twice (see `wave`).
                    h1: h0,
                    h2: h0,
                }
            }
        }

        #[inline(always)]
        unsafe fn store(&self, st: &mut Chains) {
            // SAFETY: unaligned stores into `[f32; 4]`s.
            unsafe {
                _mm_storeu_ps(st.x0.as_mut_ptr(), self.x0);
                for k in 0..SECTIONS {
                    _mm_storeu_ps(st.y[k].as_mut_ptr(), self.h0[k]);
                }
            }
        }

        /// One iteration of the pipeline: `busy(k)` says what section `k` does (its time is
        /// in the block: [`Busy::Run`]; one iteration past the block's end: [`Busy::Shift`],
        /// its outputs shift once more, so that the next section finds that time's output in
        /// `h1` while its latest, the state, stays in `h0`; otherwise [`Busy::Idle`]). Returns
        /// the last section's output (time `n - LAG` in iteration `n`).
        ///
        /// Section `k` at time `t` reads section `k - 1`'s outputs for `t` (its `h1`: section
        /// `k - 1` has processed `t + 1` since) and `t - 1` (`h2`), and its own for `t - 1`
        /// (`h0`). Descending order, so those are read before section `k - 1` moves on.
        #[inline(always)]
        unsafe fn wave(&mut self, input: __m128, busy: impl Fn(usize) -> Busy) -> __m128 {
            // SAFETY: register arithmetic (AVX-512VL + FMA: caller's contract).
            unsafe {
                for k in (0..SECTIONS).rev() {
                    match busy(k) {
                        Busy::Idle => continue,
                        Busy::Shift => {
                            self.h2[k] = self.h1[k];
                            self.h1[k] = self.h0[k];
                            continue;
                        }
                        Busy::Run => {}
                    }
                    let (s, prev) = if k == 0 {
                        (input, self.x0)
                    } else {
                        (self.h1[k - 1], self.h2[k - 1])
                    };
                    let v = _mm_fmadd_ps(self.c[k], s, prev);
                    let out = _mm_fmadd_ps(self.nc[k], self.h0[k], v);
                    self.h2[k] = self.h1[k];
                    self.h1[k] = self.h0[k];
                    self.h0[k] = out;
                    if k == 0 {
                        self.x0 = input;
                    }
                }
                self.h0[SECTIONS - 1]
            }
        }
    }

    /// What a section does in one iteration (see [`Net::wave`]).
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Busy {
        Run,
        Shift,
        Idle,
    }

    /// What section `k` does in iteration `n` of a block of `len` samples (its time is
    /// `n - 2k`).
    #[inline(always)]
    fn busy(k: usize, n: usize, len: usize) -> Busy {
        if n < 2 * k || n - 2 * k > len {
            Busy::Idle
        } else if n - 2 * k == len {
            Busy::Shift
        } else {
            Busy::Run
        }
    }

    /// Runs one block of `len` samples through the pipeline: `io` gives sample `n < len` and
    /// receives the last section's output for time `t`, from iteration `LAG` on (fill, every
    /// section busy, drain).
    ///
    /// # Safety
    /// The CPU must support AVX-512F/VL, AVX2 and FMA; `io` must accept every `n < len` and
    /// `t < len`.
    #[inline(always)]
    unsafe fn drive(net: &mut Net, len: usize, io: &mut impl Io) {
        // SAFETY: register arithmetic (caller's contract).
        unsafe {
            if len >= LAG {
                // NOTE: the usual case, with the fill and drain iterations unrolled: iteration
                // `n` is a constant there, so what each section does is decided at compile time
                // (the same arithmetic as the general loop below, without its per-section
                // tests). Fill: iteration `I` (no output yet); drain: iteration `len + I`.
                const _: () = assert!(LAG == 8);
                macro_rules! fill {
                    ($($i:literal)*) => {$(
                        net.wave(io.input($i), |k| busy(k, $i, LAG));
                    )*};
                }
                macro_rules! drain {
                    ($($i:literal)*) => {$(
                        let s = net.wave(_mm_setzero_ps(), |k| busy(k, LAG + $i, LAG));
                        io.emit(s, len - LAG + $i);
                    )*};
                }
                fill!(0 1 2 3 4 5 6 7);
                // NOTE: six iterations per loop pass. The state rotates through three outputs
                // per section (`h0..h2`), so after three iterations (and six) every value is
                // back in its register: no register moves. Samples are read and written in
                // pairs (one shuffle per pair instead of inserts and extracts per sample). An
                // iteration is then about its ten FMAs; it was about 40 instructions.
                let mut n = LAG;
                while n + 6 <= len {
                    for j in [0, 2, 4] {
                        let (x0, x1) = io.input2(n + j);
                        let s0 = net.wave(x0, |_| Busy::Run);
                        let s1 = net.wave(x1, |_| Busy::Run);
                        io.emit2(s0, s1, n + j - LAG);
                    }
                    n += 6;
                }
                while n < len {
                    let s = net.wave(io.input(n), |_| Busy::Run);
                    io.emit(s, n - LAG);
                    n += 1;
                }
                drain!(0 1 2 3 4 5 6 7);
                return;
            }
            let mut n = 0;
            while n < len + LAG {
                let x = if n < len {
                    io.input(n)
                } else {
                    _mm_setzero_ps()
                };
                let s = net.wave(x, |k| busy(k, n, len));
                if n >= LAG {
                    io.emit(s, n - LAG);
                }
                n += 1;
            }
        }
    }

    /// Runs one block through a network: `io` says which (see [`super::sse::UpIo`],
    /// [`super::sse::DownIo`]).
    ///
    /// # Safety
    /// The CPU must support AVX-512F/VL, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    pub(super) unsafe fn kernel(coefs: &[[f32; 4]; SECTIONS], st: &mut Chains, io: &mut impl Io) {
        // SAFETY: `io` checked its slices' lengths; `drive` reads and writes inside them
        // (the features: caller's contract).
        unsafe {
            let mut net = Net::load(coefs, st);
            drive(&mut net, io.len(), io);
            net.store(st);
        }
        st.guard();
    }
}

#[cfg(target_arch = "x86_64")]
fn up_avx512(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    a: &[f32],
    b: &[f32],
    oa: &mut [f32],
    ob: &mut [f32],
) {
    // SAFETY: selected only after `simd::avx512()` detected the features.
    unsafe { wide::kernel(c, st, &mut sse::UpIo::new(a, b, oa, ob)) }
}

#[cfg(target_arch = "x86_64")]
fn down_avx512(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    ia: &[f32],
    ib: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    // SAFETY: selected only after `simd::avx512()` detected the features.
    unsafe { wide::kernel(c, st, &mut sse::DownIo::new(ia, ib, a, b)) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn up_fma_impl(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    a: &[f32],
    b: &[f32],
    oa: &mut [f32],
    ob: &mut [f32],
) {
    // SAFETY: this function is compiled with AVX2 + FMA.
    unsafe { sse::kernel::<true>(c, st, &mut sse::UpIo::new(a, b, oa, ob)) }
}

#[cfg(target_arch = "x86_64")]
fn up_fma(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    a: &[f32],
    b: &[f32],
    oa: &mut [f32],
    ob: &mut [f32],
) {
    // SAFETY: selected only after `avx2_fma()` detected the features.
    unsafe { up_fma_impl(c, st, a, b, oa, ob) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn down_fma_impl(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    ia: &[f32],
    ib: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    // SAFETY: this function is compiled with AVX2 + FMA.
    unsafe { sse::kernel::<true>(c, st, &mut sse::DownIo::new(ia, ib, a, b)) }
}

#[cfg(target_arch = "x86_64")]
fn down_fma(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    ia: &[f32],
    ib: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    // SAFETY: selected only after `avx2_fma()` detected the features.
    unsafe { down_fma_impl(c, st, ia, ib, a, b) }
}

#[cfg(target_arch = "x86_64")]
fn up_sse(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    a: &[f32],
    b: &[f32],
    oa: &mut [f32],
    ob: &mut [f32],
) {
    // SAFETY: SSE is the x86-64 baseline; `FMA = false`.
    unsafe { sse::kernel::<false>(c, st, &mut sse::UpIo::new(a, b, oa, ob)) }
}

#[cfg(target_arch = "x86_64")]
fn down_sse(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    ia: &[f32],
    ib: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    // SAFETY: SSE is the x86-64 baseline; `FMA = false`.
    unsafe { sse::kernel::<false>(c, st, &mut sse::DownIo::new(ia, ib, a, b)) }
}

#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
fn up_plain(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    a: &[f32],
    b: &[f32],
    oa: &mut [f32],
    ob: &mut [f32],
) {
    up_generic::<false>(c, st, a, b, oa, ob);
}

#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
fn down_plain(
    c: &[[f32; 4]; SECTIONS],
    st: &mut Chains,
    ia: &[f32],
    ib: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    down_generic::<false>(c, st, ia, ib, a, b);
}

/// A stereo-paired 2x polyphase IIR half-band up- and down-sampler ([`COEFS`]): one allpass
/// network per direction per channel pair. No allocation after [`HalfbandIir2x::new`]; processing
/// is sample by sample, so the output does not depend on how a signal is split into blocks.
#[derive(Clone, Debug)]
pub struct HalfbandIir2x {
    /// Upsampler lane coefficients per section.
    up_coefs: [[f32; 4]; SECTIONS],
    /// Downsampler lane coefficients per section.
    down_coefs: [[f32; 4]; SECTIONS],
    /// Upsampler state per channel pair.
    up: Vec<Chains>,
    /// Downsampler state per channel pair.
    down: Vec<Chains>,
    /// Kernels chosen for this CPU.
    up_fn: KernelFn,
    down_fn: KernelFn,
}

impl HalfbandIir2x {
    /// A resampler for up to `max_channels` channels (processed in pairs).
    pub fn new(max_channels: usize) -> Self {
        let pairs = max_channels.div_ceil(2).max(1);
        #[cfg(target_arch = "x86_64")]
        let (up_fn, down_fn): (KernelFn, KernelFn) = if crate::simd::avx512() {
            (up_avx512, down_avx512)
        } else if avx2_fma() {
            (up_fma, down_fma)
        } else {
            (up_sse, down_sse)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (up_fn, down_fn): (KernelFn, KernelFn) = {
            let _ = avx2_fma;
            (up_plain, down_plain)
        };
        Self {
            up_coefs: lane_coefs(false),
            down_coefs: lane_coefs(true),
            up: vec![Chains::default(); pairs],
            down: vec![Chains::default(); pairs],
            up_fn,
            down_fn,
        }
    }

    /// Clears the state (no allocation).
    pub fn reset(&mut self) {
        self.up.iter_mut().for_each(|c| *c = Chains::default());
        self.down.iter_mut().for_each(|c| *c = Chains::default());
    }

    /// Upsamples channels `2 pair` and `2 pair + 1` (`a`, `b`, same length `n`) into `oa`, `ob`
    /// (at least `2n` each). Non-finite input is treated as 0.
    ///
    /// # Panics
    /// If `pair` is out of range or the lengths do not fit.
    pub fn upsample(&mut self, pair: usize, a: &[f32], b: &[f32], oa: &mut [f32], ob: &mut [f32]) {
        (self.up_fn)(&self.up_coefs, &mut self.up[pair], a, b, oa, ob);
    }

    /// Downsamples `ia`, `ib` (at least `2n` each) into `a`, `b` (`n` each) for channel pair
    /// `pair`. Non-finite input is treated as 0.
    ///
    /// # Panics
    /// If `pair` is out of range or the lengths do not fit.
    pub fn downsample(
        &mut self,
        pair: usize,
        ia: &[f32],
        ib: &[f32],
        a: &mut [f32],
        b: &mut [f32],
    ) {
        (self.down_fn)(&self.down_coefs, &mut self.down[pair], ia, ib, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_coefficients_match_the_design() {
        let d = design(NUM_COEFS, TRANSITION);
        for (a, b) in d.iter().zip(COEFS) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        assert!((round_trip_delay_dc(&COEFS) - ROUND_TRIP_DELAY_DC).abs() < 1e-12);
    }

    #[test]
    fn predicted_attenuation_is_met() {
        let pred = attenuation_db(NUM_COEFS, TRANSITION);
        assert!(pred > 106.0, "{pred}");
        let mut worst = 0.0f64;
        for i in 0..=4000 {
            let f = 0.25 + TRANSITION + (0.25 - TRANSITION) * i as f64 / 4000.0;
            let (re, im) = response(&COEFS, f.min(0.4999));
            worst = worst.max((re * re + im * im).sqrt());
        }
        let db = 20.0 * worst.log10();
        assert!(db < -pred + 0.1, "{db} vs {pred}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse_kernels_match_the_portable_ones_bit_for_bit() {
        // Odd length: the SSE kernels' one-sample tail runs too.
        let n = 257;
        let a: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin() * 0.8).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.11).cos() * 0.5).collect();
        let (uc, dc) = (lane_coefs(false), lane_coefs(true));
        let mut out = Vec::new();
        for sse in [false, true] {
            let (mut su, mut sd) = (Chains::default(), Chains::default());
            let (mut ua, mut ub) = (vec![0.0f32; 2 * n], vec![0.0f32; 2 * n]);
            let (mut ya, mut yb) = (vec![0.0f32; n], vec![0.0f32; n]);
            for _ in 0..2 {
                if sse {
                    up_sse(&uc, &mut su, &a, &b, &mut ua, &mut ub);
                    down_sse(&dc, &mut sd, &ua, &ub, &mut ya, &mut yb);
                } else {
                    up_plain(&uc, &mut su, &a, &b, &mut ua, &mut ub);
                    down_plain(&dc, &mut sd, &ua, &ub, &mut ya, &mut yb);
                }
            }
            out.push((ua, ub, ya, yb));
        }
        assert!(out[0] == out[1]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_kernels_match_the_fma_ones_bit_for_bit() {
        if !crate::simd::avx512() {
            return;
        }
        // Block lengths shorter and longer than either pipeline, state carried across blocks.
        let n = 600;
        let a: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin() * 0.8).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.11).cos() * 0.5).collect();
        let (uc, dc) = (lane_coefs(false), lane_coefs(true));
        for block in [1, 2, 3, 7, 8, 9, 14, 17, 64, 333] {
            let mut out = Vec::new();
            for wide in [false, true] {
                let (mut su, mut sd) = (Chains::default(), Chains::default());
                let (mut ua, mut ub) = (vec![0.0f32; 2 * n], vec![0.0f32; 2 * n]);
                let (mut ya, mut yb) = (vec![0.0f32; n], vec![0.0f32; n]);
                let mut s = 0;
                while s < n {
                    let e = (s + block).min(n);
                    let (ua, ub) = (&mut ua[2 * s..2 * e], &mut ub[2 * s..2 * e]);
                    let (ya, yb) = (&mut ya[s..e], &mut yb[s..e]);
                    if wide {
                        up_avx512(&uc, &mut su, &a[s..e], &b[s..e], ua, ub);
                        down_avx512(&dc, &mut sd, ua, ub, ya, yb);
                    } else {
                        up_fma(&uc, &mut su, &a[s..e], &b[s..e], ua, ub);
                        down_fma(&dc, &mut sd, ua, ub, ya, yb);
                    }
                    s = e;
                }
                out.push((ua, ub, ya, yb, su.y, sd.y));
            }
            assert!(out[0] == out[1], "blocks of {block}");
        }
    }
}
