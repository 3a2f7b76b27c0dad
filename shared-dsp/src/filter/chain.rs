//! [`IirEq`]: a multi-channel cascade of matched minimum-phase bands with click-free updates.
//!
//! # Processing layout
//! Channels are processed in pairs, one channel per lane of a `[f64; 2]` (a dummy lane for an
//! odd channel count), and sample-major: each sample runs through every active section of
//! every band before the next sample starts. A single DF2T section is bound by the latency of
//! its recursion (~8..12 cycles per sample), so running the independent recursions of both
//! channels and of all sections side by side lets the out-of-order core overlap them. In the
//! steady state (no coefficient ramp in the chunk) the sections' coefficients are gathered
//! once per chunk into a flat array and run in passes of at most `PASS_SECTIONS` (6) sections,
//! unrolled for their count so the state stays in registers. On x86-64 CPUs with AVX2 and FMA
//! (detected once, in [`IirEq::new`]) the steady state runs a skewed pipeline instead: two
//! sections share each 256-bit vector and section `k` processes sample `n - k`, so the sections
//! of an iteration are independent (passes of up to 8 sections, bit-identical to the 128-bit FMA
//! kernel); the coefficient ramps use the 128-bit FMA kernel.
//!
//! [`IirEq::process_chain`] runs two EQs (the channel strip's filters and EQ) in one such pass.

use super::curve::Band;
use super::design::{DigitalBand, IDENTITY, MAX_DIGITAL_SECTIONS as MAX_SECTIONS};
use crate::util::flush_denormal;
use biquad::Coefficients;
use std::sync::atomic::{AtomicU64, Ordering};

/// Default length of the coefficient ramp after a parameter change, ms.
pub const DEFAULT_SMOOTHING_MS: f64 = 10.0;

/// Minimum time between two redesigns of one band while its parameters keep moving, ms.
// NOTE: the matched design costs ~15..50 us per band (see `design`); under dense automation one
// redesign per 2 ms is plenty because the coefficients glide linearly towards each new design.
pub const MIN_REDESIGN_INTERVAL_MS: f64 = 2.0;

/// All-zero coefficients (a zero ramp increment).
const ZERO: Coefficients<f64> = Coefficients {
    a1: 0.0,
    a2: 0.0,
    b0: 0.0,
    b1: 0.0,
    b2: 0.0,
};

/// Per-sample increment that takes `a` to `b` in `n` steps.
#[inline]
fn lerp_step(a: &Coefficients<f64>, b: &Coefficients<f64>, n: usize) -> Coefficients<f64> {
    let k = 1.0 / n as f64;
    Coefficients {
        a1: (b.a1 - a.a1) * k,
        a2: (b.a2 - a.a2) * k,
        b0: (b.b0 - a.b0) * k,
        b1: (b.b1 - a.b1) * k,
        b2: (b.b2 - a.b2) * k,
    }
}

#[inline]
fn scaled_add(a: &Coefficients<f64>, d: &Coefficients<f64>, n: f64) -> Coefficients<f64> {
    Coefficients {
        a1: a.a1 + d.a1 * n,
        a2: a.a2 + d.a2 * n,
        b0: a.b0 + d.b0 * n,
        b1: a.b1 + d.b1 * n,
        b2: a.b2 + d.b2 * n,
    }
}

/// Most sections run in one sample-major pass over a chunk.
// NOTE: with FMA one section costs ~2.5 cycles per sample of issue and ~6 cycles of recursion
// latency (see `x86::Fma`), so a pass needs >= 4 sections to keep the core busy; 16 vector registers hold the
// state of ~6. Measured (8-band EQ, 9 sections): passes of 4 (3 passes) are ~12 % slower than
// 6 (5 + 4); 8 is no faster than 6.
const PASS_SECTIONS: usize = 6;

/// One section's coefficients for a channel pair: every value in both lanes, feedback negated.
// NOTE: `s + (-a) * y` is bit-identical to `s - a * y`, so the portable path computes exactly
// what the `biquad` crate's `DirectForm2Transposed` computed.
#[derive(Debug, Clone, Copy)]
struct Coef {
    /// Feed-forward `b0`.
    b0: [f64; 2],
    /// Feed-forward `b1`.
    b1: [f64; 2],
    /// Feed-forward `b2`.
    b2: [f64; 2],
    /// Feedback `-a1`.
    na1: [f64; 2],
    /// Feedback `-a2`.
    na2: [f64; 2],
    /// `b1 - a1 b0`: the input's weight in `s1` once the output is substituted (see
    /// [`x86::Fma`]).
    k1: [f64; 2],
    /// `b2 - a2 b0`: the same for `s2`.
    k2: [f64; 2],
}

impl Coef {
    /// The identity section.
    const IDENTITY: Self = Self::new(&IDENTITY);

    #[inline(always)]
    const fn new(c: &Coefficients<f64>) -> Self {
        Self {
            b0: [c.b0; 2],
            b1: [c.b1; 2],
            b2: [c.b2; 2],
            na1: [-c.a1; 2],
            na2: [-c.a2; 2],
            k1: [c.b1 - c.a1 * c.b0; 2],
            k2: [c.b2 - c.a2 * c.b0; 2],
        }
    }
}

/// Transposed direct form II state of one section for a channel pair (lane = channel).
#[derive(Debug, Clone, Copy, Default)]
struct State {
    /// First state variable, per lane.
    s1: [f64; 2],
    /// Second state variable, per lane.
    s2: [f64; 2],
}

impl State {
    /// Denormal-range values flushed to 0, and a lane whose state is not finite cleared (stable
    /// sections cannot produce non-finite state from finite input, but the guard costs nothing
    /// per block and keeps a broken state from persisting). Branch-free.
    #[inline(always)]
    fn sanitized(self) -> Self {
        let mut out = Self::default();
        for l in 0..2 {
            let (s1, s2) = (flush_denormal(self.s1[l]), flush_denormal(self.s2[l]));
            let ok = s1.is_finite() && s2.is_finite();
            out.s1[l] = if ok { s1 } else { 0.0 };
            out.s2[l] = if ok { s2 } else { 0.0 };
        }
        out
    }
}

/// Two-lane `f64` arithmetic for the kernels: a DF2T step of one section.
///
/// # Safety
/// An implementation may need CPU features (`x86::Fma`); its methods may only run where the
/// CPU has them.
trait Lanes {
    /// Two `f64` lanes.
    type V: Copy;
    /// Loads two lanes.
    unsafe fn load(p: &[f64; 2]) -> Self::V;
    /// Stores two lanes.
    unsafe fn store(v: Self::V, p: &mut [f64; 2]);
    /// One DF2T step: returns the output; updates the state `s1`, `s2`. `c` is what
    /// [`Self::coef`] loads.
    unsafe fn section(c: &[Self::V; 5], s1: &mut Self::V, s2: &mut Self::V, x: Self::V) -> Self::V;
    /// [`Self::section`] is the step with the output substituted into the state update
    /// (see [`x86::Fma`]), so it takes `b1 - a1 b0`, `b2 - a2 b0` in place of `b1`, `b2`.
    const SUBSTITUTED: bool = false;
    /// Loads the coefficients [`Self::section`] uses: `b0, b1, b2, -a1, -a2`, or
    /// `b0, b1 - a1 b0, b2 - a2 b0, -a1, -a2` when [`Self::SUBSTITUTED`].
    #[inline(always)]
    unsafe fn coef(c: &Coef) -> [Self::V; 5] {
        let (c1, c2) = if Self::SUBSTITUTED {
            (&c.k1, &c.k2)
        } else {
            (&c.b1, &c.b2)
        };
        // SAFETY: forwarded to the caller.
        unsafe {
            [
                Self::load(&c.b0),
                Self::load(c1),
                Self::load(c2),
                Self::load(&c.na1),
                Self::load(&c.na2),
            ]
        }
    }
}

/// Plain `[f64; 2]` arithmetic, exactly the `biquad` crate's DF2T per lane (the kernel on
/// CPUs other than x86-64; on x86-64 [`x86::Sse2`] computes the same and is checked against
/// it).
#[cfg(any(test, not(target_arch = "x86_64")))]
struct Portable;

#[cfg(any(test, not(target_arch = "x86_64")))]
impl Lanes for Portable {
    type V = [f64; 2];
    #[inline(always)]
    unsafe fn load(p: &[f64; 2]) -> [f64; 2] {
        *p
    }
    #[inline(always)]
    unsafe fn store(v: [f64; 2], p: &mut [f64; 2]) {
        *p = v;
    }
    #[inline(always)]
    unsafe fn section(
        c: &[[f64; 2]; 5],
        s1: &mut [f64; 2],
        s2: &mut [f64; 2],
        x: [f64; 2],
    ) -> [f64; 2] {
        let [b0, b1, b2, na1, na2] = c;
        let mut y = [0.0; 2];
        for l in 0..2 {
            y[l] = s1[l] + b0[l] * x[l];
            s1[l] = s2[l] + b1[l] * x[l] + na1[l] * y[l];
            s2[l] = b2[l] * x[l] + na2[l] * y[l];
        }
        y
    }
}

/// `std::arch` two-lane kernels (SSE2 is part of x86-64; FMA is detected at run time).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Coef, Lanes, Slot, State};
    use std::arch::x86_64::{
        __m128d, _mm_add_pd, _mm_fmadd_pd, _mm_loadu_pd, _mm_mul_pd, _mm_storeu_pd,
    };

    /// SSE2, the same operations (and results) as [`super::Portable`].
    pub(super) struct Sse2;

    impl Lanes for Sse2 {
        type V = __m128d;
        #[inline(always)]
        unsafe fn load(p: &[f64; 2]) -> __m128d {
            // SAFETY: `p` is two readable `f64`s.
            unsafe { _mm_loadu_pd(p.as_ptr()) }
        }
        #[inline(always)]
        unsafe fn store(v: __m128d, p: &mut [f64; 2]) {
            // SAFETY: `p` is two writable `f64`s.
            unsafe { _mm_storeu_pd(p.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn section(
            c: &[__m128d; 5],
            s1: &mut __m128d,
            s2: &mut __m128d,
            x: __m128d,
        ) -> __m128d {
            let [b0, b1, b2, na1, na2] = *c;
            // SAFETY: SSE2 is part of x86-64.
            unsafe {
                let y = _mm_add_pd(*s1, _mm_mul_pd(b0, x));
                *s1 = _mm_add_pd(_mm_add_pd(*s2, _mm_mul_pd(b1, x)), _mm_mul_pd(na1, y));
                *s2 = _mm_add_pd(_mm_mul_pd(b2, x), _mm_mul_pd(na2, y));
                y
            }
        }
    }

    /// FMA3 on 128-bit vectors, the DF2T step with the output substituted into the state
    /// update: `y = b0 x + s1`, `s1' = (b1 - a1 b0) x + s2 - a1 s1`, `s2' = (b2 - a2 b0) x - a2 s1`
    /// (the same state, rounded differently). 5 operations per section instead of 9, and the
    /// recursion from `s1` to `s1'` is one fused operation (`y` is off it); the longest loop,
    /// `s1 -> s2' -> s1''`, is three over two samples. This kernel family (and the skewed
    /// kernels, which compute exactly this) is checked against [`super::Portable`] within
    /// rounding.
    pub(super) struct Fma;

    impl Lanes for Fma {
        type V = __m128d;
        const SUBSTITUTED: bool = true;
        #[inline(always)]
        unsafe fn load(p: &[f64; 2]) -> __m128d {
            // SAFETY: see `Sse2`.
            unsafe { Sse2::load(p) }
        }
        #[inline(always)]
        unsafe fn store(v: __m128d, p: &mut [f64; 2]) {
            // SAFETY: see `Sse2`.
            unsafe { Sse2::store(v, p) }
        }
        #[inline(always)]
        unsafe fn section(
            c: &[__m128d; 5],
            s1: &mut __m128d,
            s2: &mut __m128d,
            x: __m128d,
        ) -> __m128d {
            let [b0, k1, k2, na1, na2] = *c;
            // SAFETY: the caller runs on a CPU with FMA (trait contract).
            unsafe {
                let y = _mm_fmadd_pd(b0, x, *s1);
                let n1 = _mm_fmadd_pd(na1, *s1, _mm_fmadd_pd(k1, x, *s2));
                *s2 = _mm_fmadd_pd(na2, *s1, _mm_mul_pd(k2, x));
                *s1 = n1;
                y
            }
        }
    }

    /// [`super::run_steady`] compiled for AVX2 + FMA (the reference [`run_steady_skewed`] is
    /// checked against).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(test)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_steady_fma(c: &[Coef], st: &mut [State], buf: &mut [[f64; 2]]) {
        // SAFETY: the CPU has FMA (caller's contract).
        unsafe { super::run_steady::<Fma>(c, st, buf) }
    }

    /// Most sections in one skewed pass ([`skewed`]): four pairs, whose state (`s1`, `s2` and
    /// the last outputs) fills 12 of the 16 `ymm` registers; the coefficients are memory
    /// operands.
    const SKEW_PAIRS: usize = 4;

    /// [`super::run_steady`] for AVX2 + FMA with two sections per 256-bit vector (see
    /// [`skewed`]): the same arithmetic per section and sample as [`Fma`], so the same output
    /// bit for bit, at about half the instructions. Runs passes of at most `2 SKEW_PAIRS`
    /// sections (sizes differing by at most one).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_steady_skewed(c: &[Coef], st: &mut [State], buf: &mut [[f64; 2]]) {
        for r in super::balanced_passes(c.len(), 2 * SKEW_PAIRS) {
            let n = r.len();
            let (c, st) = (&c[r.clone()], &mut st[r]);
            // SAFETY: the CPU has AVX2 and FMA (caller's contract).
            unsafe {
                match n {
                    1 | 2 => super::run_steady::<Fma>(c, st, buf),
                    3 => skewed::<2, true>(c, st, buf),
                    4 => skewed::<2, false>(c, st, buf),
                    5 => skewed::<3, true>(c, st, buf),
                    6 => skewed::<3, false>(c, st, buf),
                    7 => skewed::<4, true>(c, st, buf),
                    _ => skewed::<SKEW_PAIRS, false>(c, st, buf),
                }
            }
        }
    }

    /// Runs `2 P` sections (`2 P - 1` if `ODD`) over `buf` as a skewed pipeline: vector `p`
    /// holds sections `2p` (low half, both channels) and `2p + 1` (high half), and in iteration
    /// `n` section `k` processes sample `n - k`, so its input is the output section `k - 1`
    /// produced in the previous iteration. The sections of one iteration are independent, and
    /// two of them share each 256-bit instruction. Per section and sample the arithmetic is
    /// [`Fma::section`]'s, so the output and state are bit-identical to [`super::pass`] with
    /// [`Fma`]. The first and last `2 P - 1` iterations (pipeline fill and drain) keep the
    /// state of the sections that have no sample to process.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn skewed<const P: usize, const ODD: bool>(
        c: &[Coef],
        st: &mut [State],
        buf: &mut [[f64; 2]],
    ) {
        use std::arch::x86_64::{
            __m256d, _mm_loadu_pd, _mm_setzero_pd, _mm_storeu_pd, _mm256_blend_pd,
            _mm256_castpd128_pd256, _mm256_extractf128_pd, _mm256_fmadd_pd, _mm256_loadu2_m128d,
            _mm256_mul_pd, _mm256_permute2f128_pd, _mm256_setzero_pd, _mm256_storeu2_m128d,
        };
        let sections = 2 * P - usize::from(ODD);
        assert!(c.len() == sections && st.len() == sections);
        let len = buf.len();
        // The missing high section of an odd count: all-zero coefficients and state (its
        // lanes compute zeros and are never stored).
        let zero_coef = Coef {
            b0: [0.0; 2],
            b1: [0.0; 2],
            b2: [0.0; 2],
            na1: [0.0; 2],
            na2: [0.0; 2],
            k1: [0.0; 2],
            k2: [0.0; 2],
        };
        let zero_state = State::default();
        let coef = |k: usize| if k < sections { &c[k] } else { &zero_coef };
        // SAFETY: AVX2 and FMA are available (caller's contract); every pointer below comes
        // from a reference to two `f64`s.
        unsafe {
            let pair = |lo: &[f64; 2], hi: &[f64; 2]| _mm256_loadu2_m128d(hi.as_ptr(), lo.as_ptr());
            let k: [[__m256d; 5]; P] = std::array::from_fn(|p| {
                let (a, b) = (coef(2 * p), coef(2 * p + 1));
                [
                    pair(&a.b0, &b.b0),
                    pair(&a.k1, &b.k1),
                    pair(&a.k2, &b.k2),
                    pair(&a.na1, &b.na1),
                    pair(&a.na2, &b.na2),
                ]
            });
            let state = |j: usize| if j < sections { &st[j] } else { &zero_state };
            let mut s1: [__m256d; P] =
                std::array::from_fn(|p| pair(&state(2 * p).s1, &state(2 * p + 1).s1));
            let mut s2: [__m256d; P] =
                std::array::from_fn(|p| pair(&state(2 * p).s2, &state(2 * p + 1).s2));
            // Each vector's outputs of the previous iteration.
            let mut y: [__m256d; P] = [_mm256_setzero_pd(); P];
            let lag = sections - 1;
            let ptr = buf.as_mut_ptr() as *mut f64;
            // One iteration; `MASKED`: only the sections with a sample in `0..len` update
            // their state.
            #[inline(always)]
            unsafe fn iteration<const P: usize, const MASKED: bool>(
                k: &[[__m256d; 5]; P],
                s1: &mut [__m256d; P],
                s2: &mut [__m256d; P],
                y: &mut [__m256d; P],
                input: __m256d,
                n: usize,
                len: usize,
            ) {
                // SAFETY: register arithmetic (AVX2 + FMA: caller's contract).
                unsafe {
                    // Descending, so that vector `p` reads vector `p - 1`'s previous outputs.
                    for p in (0..P).rev() {
                        // Whether section `i` has a sample (`n - i`) in `0..len`.
                        let busy = |i: usize| n >= i && n - i < len;
                        let (lo, hi) = (busy(2 * p), busy(2 * p + 1));
                        if MASKED && !lo && !hi {
                            // Neither section has a sample: state kept, outputs stale (they
                            // only reach sections that have no sample next iteration either).
                            continue;
                        }
                        // Low half: section 2p's input (section 2p - 1's output, or the new
                        // sample); high half: section 2p + 1's (section 2p's output).
                        let x = if p == 0 {
                            _mm256_permute2f128_pd::<0x20>(input, y[0])
                        } else {
                            _mm256_permute2f128_pd::<0x21>(y[p - 1], y[p])
                        };
                        let [b0, k1, k2, na1, na2] = k[p];
                        let out = _mm256_fmadd_pd(b0, x, s1[p]);
                        let n1 = _mm256_fmadd_pd(na1, s1[p], _mm256_fmadd_pd(k1, x, s2[p]));
                        let n2 = _mm256_fmadd_pd(na2, s1[p], _mm256_mul_pd(k2, x));
                        if MASKED && !hi {
                            s1[p] = _mm256_blend_pd::<0b0011>(s1[p], n1);
                            s2[p] = _mm256_blend_pd::<0b0011>(s2[p], n2);
                        } else if MASKED && !lo {
                            s1[p] = _mm256_blend_pd::<0b1100>(s1[p], n1);
                            s2[p] = _mm256_blend_pd::<0b1100>(s2[p], n2);
                        } else {
                            s1[p] = n1;
                            s2[p] = n2;
                        }
                        y[p] = out;
                    }
                }
            }
            /// Sample `n` of the chunk into the low half (zero past the end).
            #[inline(always)]
            unsafe fn load(ptr: *const f64, n: usize, len: usize) -> __m256d {
                // SAFETY: `n < len` is inside the buffer.
                unsafe {
                    if n < len {
                        _mm256_castpd128_pd256(_mm_loadu_pd(ptr.add(2 * n)))
                    } else {
                        _mm256_castpd128_pd256(_mm_setzero_pd())
                    }
                }
            }
            /// The last section's output of iteration `n` (sample `n - lag`), once there is one.
            #[inline(always)]
            unsafe fn store<const P: usize, const ODD: bool>(
                ptr: *mut f64,
                y: &[__m256d; P],
                n: usize,
                lag: usize,
            ) {
                // SAFETY: the caller runs iterations `n < len + lag` only.
                unsafe {
                    if n >= lag {
                        let v = if ODD {
                            _mm256_extractf128_pd::<0>(y[P - 1])
                        } else {
                            _mm256_extractf128_pd::<1>(y[P - 1])
                        };
                        _mm_storeu_pd(ptr.add(2 * (n - lag)), v);
                    }
                }
            }
            let end = len + lag;
            // Fill (and, for chunks shorter than the pipeline, everything).
            let full_from = lag.min(len);
            let mut n = 0;
            while n < full_from {
                iteration::<P, true>(&k, &mut s1, &mut s2, &mut y, load(ptr, n, len), n, len);
                store::<P, ODD>(ptr, &y, n, lag);
                n += 1;
            }
            // Every section busy.
            while n < len {
                let input = _mm256_castpd128_pd256(_mm_loadu_pd(ptr.add(2 * n)));
                iteration::<P, false>(&k, &mut s1, &mut s2, &mut y, input, n, len);
                store::<P, ODD>(ptr, &y, n, lag);
                n += 1;
            }
            // Drain.
            while n < end {
                iteration::<P, true>(&k, &mut s1, &mut s2, &mut y, load(ptr, n, len), n, len);
                store::<P, ODD>(ptr, &y, n, lag);
                n += 1;
            }
            for p in 0..P {
                let (lo, hi) = (2 * p, 2 * p + 1);
                let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
                _mm256_storeu2_m128d(b.as_mut_ptr(), a.as_mut_ptr(), s1[p]);
                st[lo].s1 = a;
                if hi < sections {
                    st[hi].s1 = b;
                }
                _mm256_storeu2_m128d(b.as_mut_ptr(), a.as_mut_ptr(), s2[p]);
                st[lo].s2 = a;
                if hi < sections {
                    st[hi].s2 = b;
                }
            }
        }
    }

    /// Most vectors of an AVX-512 skewed pass ([`skewed512`]): three vectors of four sections,
    /// whose state and last outputs take 9 of the 32 `zmm` registers and the coefficients 15.
    const SKEW512_VECTORS: usize = 3;

    /// [`super::run_steady`] for AVX-512 with four sections per 512-bit vector (see
    /// [`skewed512`]): the same arithmetic per section and sample as [`Fma`], so the same
    /// output bit for bit. Runs passes of at most `4 SKEW512_VECTORS` sections (sizes
    /// differing by at most one).
    ///
    /// NOTE: with four sections per vector a pass of eight sections is two independent
    /// recursions per iteration (`s1 -> s2' -> s1''`, three fused operations over two
    /// iterations, ~6 cycles each) and 10 vector operations, where the AVX2 kernel issues 20
    /// plus 4 shuffles per iteration.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F/VL/DQ, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
    pub(super) unsafe fn run_steady_skewed512(c: &[Coef], st: &mut [State], buf: &mut [[f64; 2]]) {
        for r in super::balanced_passes(c.len(), 4 * SKEW512_VECTORS) {
            let n = r.len();
            let (c, st) = (&c[r.clone()], &mut st[r]);
            // SAFETY: the CPU has the features (caller's contract).
            unsafe {
                match n {
                    1 | 2 => super::run_steady::<Fma>(c, st, buf),
                    3 | 4 => skewed512::<1>(c, st, buf),
                    5..=8 => skewed512::<2>(c, st, buf),
                    _ => skewed512::<SKEW512_VECTORS>(c, st, buf),
                }
            }
        }
    }

    /// Lane mask over all vectors (lanes `8p..8p + 8` are vector `p`'s; two lanes per section)
    /// of the sections with an index in `lo..=hi`.
    #[inline(always)]
    fn busy_lanes(lo: usize, hi: usize) -> u32 {
        const _: () = assert!(8 * SKEW512_VECTORS <= 32);
        let ones = |k: usize| ((1u64 << (2 * k)) - 1) as u32;
        ones(hi + 1) & !ones(lo)
    }

    /// Runs `c.len()` sections (more than `4 (P - 1)`, at most `4 P`) over `buf` as a skewed
    /// pipeline like [`skewed`], with four sections per vector and a skew of *two* samples per
    /// section: lanes `2j`, `2j + 1` of vector `p` hold section `4p + j`, channels 0 and 1. In
    /// iteration `n` section `k` processes sample `n - 2k`; its input is section `k - 1`'s
    /// output of two iterations earlier, which one lane rotation across two vectors
    /// (`valignq`) puts in place. Lanes past the last section have zero coefficients and state
    /// and are never stored.
    ///
    /// NOTE: the rotation takes about 5 cycles on Zen 5. With a skew of one sample it sat on
    /// the chain from one iteration's outputs to the next's (rotation, then the output's
    /// multiply-add: about 9 cycles per iteration); with a skew of two it has a whole
    /// iteration to complete, and an iteration is bound by each section's own recursion
    /// (see [`Fma`]: about 6 cycles).
    ///
    /// # Safety
    /// The CPU must support AVX-512 F/VL/DQ, AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
    unsafe fn skewed512<const P: usize>(c: &[Coef], st: &mut [State], buf: &mut [[f64; 2]]) {
        use std::arch::x86_64::{
            __m512d, _mm_loadu_pd, _mm_setzero_pd, _mm_storeu_pd, _mm512_alignr_epi64,
            _mm512_broadcast_f64x2, _mm512_castpd_si512, _mm512_castpd512_pd128,
            _mm512_castsi512_pd, _mm512_fmadd_pd, _mm512_loadu_pd, _mm512_mask_blend_pd,
            _mm512_mul_pd, _mm512_permutexvar_pd, _mm512_set_epi64, _mm512_setzero_pd,
            _mm512_storeu_pd,
        };
        let sections = c.len();
        assert!(sections > 4 * (P - 1) && sections <= 4 * P && st.len() == sections);
        let len = buf.len();
        // Coefficient rows (b0, k1, k2, -a1, -a2, as `Fma`) and state rows (s1, s2) per vector.
        let mut rows = [[[0.0f64; 8]; 7]; P];
        for (i, (cc, s)) in c.iter().zip(st.iter()).enumerate() {
            let (p, j) = (i / 4, i % 4);
            for (r, v) in [cc.b0, cc.k1, cc.k2, cc.na1, cc.na2, s.s1, s.s2]
                .iter()
                .enumerate()
            {
                rows[p][r][2 * j] = v[0];
                rows[p][r][2 * j + 1] = v[1];
            }
        }
        /// Registers of the pass: per vector the state and the last two iterations' outputs.
        struct Regs<const P: usize> {
            s1: [__m512d; P],
            s2: [__m512d; P],
            /// Outputs of the previous iteration.
            y1: [__m512d; P],
            /// Outputs of the iteration before that (the inputs of this one).
            y2: [__m512d; P],
        }
        // SAFETY: the CPU has the features (caller's contract); every pointer below points
        // into `rows`, a local array, or `buf` at a sample index below `len`.
        unsafe {
            let k: [[__m512d; 5]; P] = std::array::from_fn(|p| {
                std::array::from_fn(|r| _mm512_loadu_pd(rows[p][r].as_ptr()))
            });
            let mut regs = Regs::<P> {
                s1: std::array::from_fn(|p| _mm512_loadu_pd(rows[p][5].as_ptr())),
                s2: std::array::from_fn(|p| _mm512_loadu_pd(rows[p][6].as_ptr())),
                y1: [_mm512_setzero_pd(); P],
                y2: [_mm512_setzero_pd(); P],
            };
            let last = sections - 1;
            let lag = 2 * last;
            let last_j = last % 4;
            let ptr = buf.as_mut_ptr() as *mut f64;

            /// One iteration; `MASKED`: only the sections in `busy` ([`busy_lanes`] of those
            /// with a sample in `0..len`) update their state.
            #[inline(always)]
            unsafe fn iteration<const P: usize, const MASKED: bool>(
                k: &[[__m512d; 5]; P],
                r: &mut Regs<P>,
                input: __m512d,
                busy: u32,
            ) {
                // SAFETY: register arithmetic (AVX-512: caller's contract).
                unsafe {
                    // Descending, so that vector `p` reads vector `p - 1`'s outputs of two
                    // iterations ago before they shift out.
                    for p in (0..P).rev() {
                        let below = if p == 0 { input } else { r.y2[p - 1] };
                        // [below 6, below 7, y 0, ..., y 5]: each section's input.
                        let x = _mm512_castsi512_pd(_mm512_alignr_epi64::<6>(
                            _mm512_castpd_si512(r.y2[p]),
                            _mm512_castpd_si512(below),
                        ));
                        let [b0, k1, k2, na1, na2] = k[p];
                        let out = _mm512_fmadd_pd(b0, x, r.s1[p]);
                        let n1 = _mm512_fmadd_pd(na1, r.s1[p], _mm512_fmadd_pd(k1, x, r.s2[p]));
                        let n2 = _mm512_fmadd_pd(na2, r.s1[p], _mm512_mul_pd(k2, x));
                        if MASKED {
                            let m = (busy >> (8 * p)) as u8;
                            r.s1[p] = _mm512_mask_blend_pd(m, r.s1[p], n1);
                            r.s2[p] = _mm512_mask_blend_pd(m, r.s2[p], n2);
                        } else {
                            r.s1[p] = n1;
                            r.s2[p] = n2;
                        }
                        // Idle sections' outputs are stale; they only reach sections that
                        // are idle two iterations later too.
                        r.y2[p] = r.y1[p];
                        r.y1[p] = out;
                    }
                }
            }
            let load = |n: usize| {
                if n < len {
                    _mm512_broadcast_f64x2(_mm_loadu_pd(ptr.add(2 * n)))
                } else {
                    _mm512_broadcast_f64x2(_mm_setzero_pd())
                }
            };
            // NOTE: the last section is always in the last vector, and its lanes are moved
            // down by a permutation (not a `match` on the lane: that compiled to a jump table
            // per iteration and kept the outputs in memory).
            let pick = _mm512_set_epi64(0, 0, 0, 0, 0, 0, 2 * last_j as i64 + 1, 2 * last_j as i64);
            let store = |r: &Regs<P>, n: usize| {
                if n >= lag {
                    let o = _mm512_permutexvar_pd(pick, r.y1[P - 1]);
                    _mm_storeu_pd(ptr.add(2 * (n - lag)), _mm512_castpd512_pd128(o));
                }
            };
            // Sections with a sample in `0..len` in iteration `n` (section `k` processes
            // `n - 2k`).
            let busy = |n: usize| {
                let lo = (n + 1).saturating_sub(len).div_ceil(2);
                busy_lanes(lo, (n / 2).min(last))
            };
            let end = len + lag;
            let full_from = lag.min(len);
            let mut n = 0;
            // Fill (and, for chunks shorter than the pipeline, everything).
            while n < full_from {
                iteration::<P, true>(&k, &mut regs, load(n), busy(n));
                store(&regs, n);
                n += 1;
            }
            // Every section busy; two iterations per pass, so that the outputs' rotation
            // through `y1`, `y2` needs no register moves.
            while n + 2 <= len {
                for i in [n, n + 1] {
                    let input = _mm512_broadcast_f64x2(_mm_loadu_pd(ptr.add(2 * i)));
                    iteration::<P, false>(&k, &mut regs, input, 0);
                    store(&regs, i);
                }
                n += 2;
            }
            // Drain.
            while n < end {
                iteration::<P, true>(&k, &mut regs, load(n), busy(n));
                store(&regs, n);
                n += 1;
            }
            for (row, (s1, s2)) in rows.iter_mut().zip(regs.s1.iter().zip(&regs.s2)) {
                _mm512_storeu_pd(row[5].as_mut_ptr(), *s1);
                _mm512_storeu_pd(row[6].as_mut_ptr(), *s2);
            }
        }
        for (i, s) in st.iter_mut().enumerate() {
            let (p, j) = (i / 4, i % 4);
            s.s1 = [rows[p][5][2 * j], rows[p][5][2 * j + 1]];
            s.s2 = [rows[p][6][2 * j], rows[p][6][2 * j + 1]];
        }
    }

    /// [`super::run_ramp`] compiled for AVX2 + FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_ramp_fma(
        slots: &[&[Slot]],
        c: &mut [Coef],
        st: &mut [State],
        buf: &mut [[f64; 2]],
    ) {
        // SAFETY: the CPU has FMA (caller's contract).
        unsafe { super::run_ramp::<Fma>(slots, c, st, buf) }
    }
}

/// Runs `N` sections sample-major over `buf`, coefficients and state in locals for the chunk.
///
/// # Safety
/// As [`Lanes`].
#[inline(always)]
unsafe fn pass<const N: usize, A: Lanes>(c: &[Coef], st: &mut [State], buf: &mut [[f64; 2]]) {
    let (c, st) = (&c[..N], &mut st[..N]);
    // SAFETY: the caller's contract covers `A`'s features.
    unsafe {
        let c: [[A::V; 5]; N] = std::array::from_fn(|j| A::coef(&c[j]));
        let mut s1: [A::V; N] = std::array::from_fn(|j| A::load(&st[j].s1));
        let mut s2: [A::V; N] = std::array::from_fn(|j| A::load(&st[j].s2));
        for v in buf.iter_mut() {
            let mut x = A::load(v);
            for j in 0..N {
                x = A::section(&c[j], &mut s1[j], &mut s2[j], x);
            }
            A::store(x, v);
        }
        for (j, s) in st.iter_mut().enumerate() {
            A::store(s1[j], &mut s.s1);
            A::store(s2[j], &mut s.s2);
        }
    }
}

/// The index ranges of `total` sections split into the fewest passes of at most `max`, their
/// sizes differing by at most one (9 sections in passes of 6 run as 5 + 4, not 6 + 3).
fn balanced_passes(total: usize, max: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let passes = total.div_ceil(max);
    let mut start = 0;
    (0..passes).map(move |p| {
        let n = (total - start) / (passes - p);
        start += n;
        start - n..start
    })
}

/// Steady-state kernel: all sections `c` (state `st`) over `buf`, in balanced passes of at
/// most [`PASS_SECTIONS`].
///
/// # Safety
/// As [`Lanes`].
#[inline(always)]
unsafe fn run_steady<A: Lanes>(c: &[Coef], st: &mut [State], buf: &mut [[f64; 2]]) {
    for r in balanced_passes(c.len(), PASS_SECTIONS) {
        let n = r.len();
        let (c, st) = (&c[r.clone()], &mut st[r]);
        // SAFETY: forwarded to the caller.
        unsafe {
            match n {
                1 => pass::<1, A>(c, st, buf),
                2 => pass::<2, A>(c, st, buf),
                3 => pass::<3, A>(c, st, buf),
                4 => pass::<4, A>(c, st, buf),
                5 => pass::<5, A>(c, st, buf),
                6 => pass::<6, A>(c, st, buf),
                7 => pass::<7, A>(c, st, buf),
                _ => pass::<PASS_SECTIONS, A>(c, st, buf),
            }
        }
    }
}

/// Ramping kernel: sample by sample through all sections, the coefficients of ramping bands
/// recomputed for every sample (from the ramp start, so block splits do not matter). Uses the
/// same [`Lanes::section`] as [`run_steady`], so a sample's output does not depend on which
/// kernel ran it.
///
/// # Safety
/// As [`Lanes`].
#[inline(always)]
unsafe fn run_ramp<A: Lanes>(
    slots: &[&[Slot]],
    c: &mut [Coef],
    st: &mut [State],
    buf: &mut [[f64; 2]],
) {
    let len = buf.len();
    for (i, v) in buf.iter_mut().enumerate() {
        let mut j = 0;
        for slot in slots.iter().flat_map(|g| g.iter()) {
            if slot.ramp_left > 0 {
                let ramp = slot.ramp_left.min(len);
                if i < ramp {
                    let n = (slot.ramp_pos + i + 1) as f64;
                    for k in 0..slot.active {
                        c[j + k] = Coef::new(&scaled_add(&slot.start[k], &slot.delta[k], n));
                    }
                } else if i == ramp {
                    for k in 0..slot.active {
                        c[j + k] = Coef::new(&slot.settled(k));
                    }
                }
            }
            j += slot.active;
        }
        // SAFETY: forwarded to the caller.
        unsafe {
            let mut x = A::load(v);
            for (c, s) in c[..j].iter().zip(st.iter_mut()) {
                let (mut s1, mut s2) = (A::load(&s.s1), A::load(&s.s2));
                x = A::section(&A::coef(c), &mut s1, &mut s2, x);
                A::store(s1, &mut s.s1);
                A::store(s2, &mut s.s2);
            }
            A::store(x, v);
        }
    }
}

/// Runs [`run_ramp`] (if `ramp` gives the bands, in processing order) or [`run_steady`], with
/// FMA if `fma`, the steady kernel with AVX-512 if `avx512` too.
#[inline]
fn run(
    fma: bool,
    avx512: bool,
    ramp: Option<&[&[Slot]]>,
    c: &mut [Coef],
    st: &mut [State],
    buf: &mut [[f64; 2]],
) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `fma` is only true when the CPU has AVX2 and FMA (`has_fma`); SSE2 is part
        // of x86-64.
        unsafe {
            match (fma, ramp) {
                (true, None) if avx512 => x86::run_steady_skewed512(c, st, buf),
                (true, Some(slots)) => x86::run_ramp_fma(slots, c, st, buf),
                (true, None) => x86::run_steady_skewed(c, st, buf),
                (false, Some(slots)) => run_ramp::<x86::Sse2>(slots, c, st, buf),
                (false, None) => run_steady::<x86::Sse2>(c, st, buf),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (fma, avx512);
        // SAFETY: `Portable` needs no CPU feature.
        unsafe {
            match ramp {
                Some(slots) => run_ramp::<Portable>(slots, c, st, buf),
                None => run_steady::<Portable>(c, st, buf),
            }
        }
    }
}

/// Whether every sample of `x` is finite (a branch-free scan that vectorises).
#[inline]
fn all_finite(x: &[f32]) -> bool {
    const EXP: u32 = 0x7f80_0000;
    x.iter()
        .fold(0u32, |m, v| m | u32::from(v.to_bits() & EXP == EXP))
        == 0
}

/// Interleaves `l`, `r` into `buf` as `f64` if every sample is finite (returns false, leaving
/// `buf` to the caller, if not).
#[inline(always)]
fn load_pair_body(l: &[f32], r: &[f32], buf: &mut [[f64; 2]]) -> bool {
    if !(all_finite(l) && all_finite(r)) {
        return false;
    }
    for ((s, l), r) in buf.iter_mut().zip(l).zip(r) {
        *s = [*l as f64, *r as f64];
    }
    true
}

/// De-interleaves `buf` into `l`, `r` as `f32`.
#[inline(always)]
fn store_pair_body(buf: &[[f64; 2]], l: &mut [f32], r: &mut [f32]) {
    for ((s, l), r) in buf.iter().zip(l).zip(r) {
        *l = s[0] as f32;
        *r = s[1] as f32;
    }
}

/// [`load_pair_body`], compiled for AVX2 when `avx2` (the same conversions, wider vectors).
#[inline]
fn load_pair(avx2: bool, l: &[f32], r: &[f32], buf: &mut [[f64; 2]]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn wide(l: &[f32], r: &[f32], buf: &mut [[f64; 2]]) -> bool {
            load_pair_body(l, r, buf)
        }
        // SAFETY: `avx2` is only true when the CPU has AVX2 and FMA (`IirEq::fma`).
        return unsafe { wide(l, r, buf) };
    }
    let _ = avx2;
    load_pair_body(l, r, buf)
}

/// [`store_pair_body`], compiled for AVX2 when `avx2`.
#[inline]
fn store_pair(avx2: bool, buf: &[[f64; 2]], l: &mut [f32], r: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn wide(buf: &[[f64; 2]], l: &mut [f32], r: &mut [f32]) {
            store_pair_body(buf, l, r)
        }
        // SAFETY: as in `load_pair`.
        unsafe { wide(buf, l, r) };
        return;
    }
    let _ = avx2;
    store_pair_body(buf, l, r)
}

/// Copies at least the first `n` (at most [`MAX_SECTIONS`]) filter states from `src` to `dst`
/// as one fixed-size block: two entries (one or two sections, the usual band), else a whole
/// row. Fixed sizes compile to a few vector moves; a copy of exactly `n` entries, or of a whole
/// row every time, is a `memcpy` call per band. Entries past `n` may be overwritten.
///
/// # Panics
/// If `dst` or `src` is shorter than the block.
#[inline(always)]
fn copy_states(dst: &mut [State], src: &[State], n: usize) {
    if n <= 2 {
        dst[..2].copy_from_slice(&src[..2]);
    } else {
        dst[..MAX_SECTIONS].copy_from_slice(&src[..MAX_SECTIONS]);
    }
}

/// `x` as `f64`, or 0 (counted in `bad`) if it is not finite.
#[inline(always)]
fn guard(x: f32, bad: &mut usize) -> f64 {
    let ok = x.is_finite();
    *bad += usize::from(!ok);
    if ok { x as f64 } else { 0.0 }
}

/// One band's parameters, coefficient ramp and per-channel-pair filter state.
#[derive(Debug, Clone)]
struct Slot {
    /// The band as last set.
    band: Band,
    /// `band` changed since its last design.
    dirty: bool,
    /// Samples until the next redesign is allowed.
    holdoff: usize,
    /// Sections of the current design (ramp target).
    target: DigitalBand,
    /// Coefficients in use at the start of the next sample.
    cur: [Coefficients<f64>; MAX_SECTIONS],
    /// Coefficients at the start of the current ramp.
    start: [Coefficients<f64>; MAX_SECTIONS],
    /// Samples of the current ramp already done.
    ramp_pos: usize,
    /// Per-sample coefficient increment while ramping.
    delta: [Coefficients<f64>; MAX_SECTIONS],
    /// Samples left in the ramp (0 = settled on `target`).
    ramp_left: usize,
    /// Sections processed: `max(old, new)` while ramping, `target.len` when settled.
    active: usize,
    /// Filter state per channel pair (channels `2p`, `2p + 1` in the lanes of entry `p`).
    state: Vec<[State; MAX_SECTIONS]>,
}

impl Slot {
    /// Coefficients of section `k` once the ramp is over.
    #[inline]
    fn settled(&self, k: usize) -> Coefficients<f64> {
        if k < self.target.len {
            self.target.sections[k]
        } else {
            IDENTITY
        }
    }

    /// Clears the state of sections `from..to` of every channel.
    fn clear_state(&mut self, from: usize, to: usize) {
        for p in &mut self.state {
            for s in &mut p[from..to] {
                *s = State::default();
            }
        }
    }
}

/// A multi-channel minimum-phase EQ: up to `max_bands` [`Band`]s in series, each realised as
/// magnitude-matched biquads (see [`super::design`]), processed in `f64`.
///
/// # Parameter changes
/// [`IirEq::set_band`] only records the band. At the start of the next `process` call each
/// changed band is redesigned once (at most once per [`MIN_REDESIGN_INTERVAL_MS`] while it keeps
/// moving) and its coefficients then glide *linearly*, sample by sample, from the values in use
/// to the new design over the smoothing time (default [`DEFAULT_SMOOTHING_MS`]). The set of
/// stable `(a1, a2)` is a triangle, which is convex, so every intermediate section is stable;
/// sections that appear or disappear (slope changes, enabling a band) glide from/to the
/// identity. A band at 0 dB (or disabled) has no sections at all once its ramp is over, so a
/// flat EQ is bit-exactly transparent.
///
/// # Example
/// ```
/// use shared_dsp::filter::{Band, BandType, IirEq, Slope};
/// let mut eq = IirEq::new(2, 512, 8);
/// eq.set_sample_rate(48_000.0);
/// eq.set_band(0, Band::new(BandType::LowCut, 40.0, 0.0, 0.7071).with_slope(Slope::Db24));
/// eq.set_band(1, Band::new(BandType::Bell, 3_000.0, -4.0, 1.5));
/// let mut l = vec![0.1f32; 512];
/// let mut r = vec![0.1f32; 512];
/// eq.process(&mut [&mut l[..], &mut r[..]]);
/// ```
#[derive(Debug, Clone)]
pub struct IirEq {
    /// Channels the state was allocated for.
    max_channels: usize,
    /// Samples per internal chunk (size of `scratch`).
    max_block: usize,
    /// Sample rate, Hz.
    fs: f64,
    /// Coefficient ramp length in samples.
    ramp_len: usize,
    /// Smoothing time, ms.
    smoothing_ms: f64,
    /// Redesign hold-off in samples.
    redesign_interval: usize,
    /// The bands, in processing order.
    slots: Vec<Slot>,
    /// Interleaved `f64` working buffer for one channel pair's chunk.
    scratch: Vec<[f64; 2]>,
    /// Coefficients of all active sections of all bands, in processing order (one chunk).
    coefs: Vec<Coef>,
    /// Identifies the coefficients in use: a new value from [`new_stamp`] whenever any band's
    /// coefficients or section count may have changed (unique across instances).
    stamp: u64,
    /// `(stamp, following EQ's stamp or 0)` of the coefficients `coefs` holds, if they are
    /// still those (`None` after a ramp, which rewrites them while running).
    gathered: Option<(u64, u64)>,
    /// State of all active sections for the channel pair being processed.
    work: Vec<State>,
    /// The CPU runs the AVX2 + FMA kernels (detected once, in `new`).
    fma: bool,
    /// The CPU runs the AVX-512 steady kernel (detected once, in `new`).
    avx512: bool,
    /// Non-finite input samples replaced by 0 since the last [`IirEq::take_non_finite_count`].
    non_finite: usize,
}

impl IirEq {
    /// An EQ for up to `max_channels` channels and `max_bands` bands, all disabled, at 48 kHz.
    /// `max_block` is the internal chunk length (any host block length is accepted).
    ///
    /// # Panics
    /// If `max_block` is 0.
    pub fn new(max_channels: usize, max_block: usize, max_bands: usize) -> Self {
        assert!(max_block > 0, "max_block must be > 0");
        let slot = Slot {
            band: Band::default(),
            dirty: false,
            holdoff: 0,
            target: DigitalBand::default(),
            cur: [IDENTITY; MAX_SECTIONS],
            start: [IDENTITY; MAX_SECTIONS],
            ramp_pos: 0,
            delta: [ZERO; MAX_SECTIONS],
            ramp_left: 0,
            active: 0,
            state: vec![[State::default(); MAX_SECTIONS]; max_channels.div_ceil(2)],
        };
        let mut eq = Self {
            max_channels,
            max_block,
            fs: 48_000.0,
            ramp_len: 1,
            smoothing_ms: DEFAULT_SMOOTHING_MS,
            redesign_interval: 0,
            slots: vec![slot; max_bands],
            scratch: vec![[0.0; 2]; max_block],
            coefs: vec![Coef::IDENTITY; max_bands * MAX_SECTIONS],
            stamp: new_stamp(),
            gathered: None,
            work: vec![State::default(); max_bands * MAX_SECTIONS],
            fma: crate::simd::avx2_fma(),
            avx512: crate::simd::avx512(),
            non_finite: 0,
        };
        eq.set_sample_rate(48_000.0);
        eq
    }

    /// Sets the sample rate: every band is redesigned and jumps to its new coefficients (no
    /// ramp); filter state is kept. Never allocates.
    ///
    /// # Panics
    /// If `fs` is not finite and positive.
    pub fn set_sample_rate(&mut self, fs: f64) {
        assert!(fs.is_finite() && fs > 0.0, "invalid sample rate {fs}");
        self.fs = fs;
        self.ramp_len = ((self.smoothing_ms * 1e-3 * fs).round() as usize).max(1);
        self.redesign_interval = (MIN_REDESIGN_INTERVAL_MS * 1e-3 * fs).round() as usize;
        for slot in &mut self.slots {
            slot.target = DigitalBand::design(&slot.band.prototype(), fs);
            slot.dirty = false;
            slot.holdoff = 0;
            Self::jump(slot);
        }
        self.stamp = new_stamp();
    }

    /// Sets the coefficient smoothing time (0 = changes apply at the next block, unsmoothed).
    pub fn set_smoothing_ms(&mut self, ms: f64) {
        self.smoothing_ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        self.ramp_len = ((self.smoothing_ms * 1e-3 * self.fs).round() as usize).max(1);
    }

    /// Clears all filter state and settles every band on its target. Never allocates.
    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            if slot.dirty {
                slot.target = DigitalBand::design(&slot.band.prototype(), self.fs);
                slot.dirty = false;
            }
            slot.holdoff = 0;
            Self::jump(slot);
            slot.clear_state(0, MAX_SECTIONS);
        }
        self.stamp = new_stamp();
    }

    /// Records band `i`; it takes effect (smoothly) from the next `process` call.
    ///
    /// # Panics
    /// If `i >= max_bands`.
    pub fn set_band(&mut self, i: usize, band: Band) {
        let slot = &mut self.slots[i];
        if slot.band != band {
            slot.band = band;
            slot.dirty = true;
        }
    }

    /// Band `i` as last set.
    ///
    /// # Panics
    /// If `i >= max_bands`.
    pub fn band(&self, i: usize) -> Band {
        self.slots[i].band
    }

    /// Number of band slots.
    pub fn max_bands(&self) -> usize {
        self.slots.len()
    }

    /// Latency in samples: always 0 (minimum phase).
    pub fn latency(&self) -> usize {
        0
    }

    /// Non-finite input samples replaced by 0 since the last call (and resets the count).
    pub fn take_non_finite_count(&mut self) -> usize {
        std::mem::take(&mut self.non_finite)
    }

    /// Magnitude in dB at `f` Hz of the digital filter the EQ converges to (the designed
    /// biquads, not the analog curve), for display next to [`super::EqCurve`].
    pub fn digital_magnitude_db(&self, f: f64) -> f64 {
        let mut db = 0.0;
        for slot in &self.slots {
            let d = if slot.dirty {
                DigitalBand::design(&slot.band.prototype(), self.fs)
            } else {
                slot.target
            };
            db += d.magnitude_db(f, self.fs);
        }
        db
    }

    /// Settles a slot on its target immediately.
    fn jump(slot: &mut Slot) {
        slot.cur = slot.target.sections;
        slot.delta = [ZERO; MAX_SECTIONS];
        slot.ramp_left = 0;
        slot.active = slot.target.len;
        slot.clear_state(slot.active, MAX_SECTIONS);
    }

    /// Redesigns dirty bands (respecting the hold-off) and starts their ramps.
    fn update_targets(&mut self) {
        for slot in &mut self.slots {
            if slot.dirty && slot.holdoff == 0 {
                let new = DigitalBand::design(&slot.band.prototype(), self.fs);
                slot.dirty = false;
                slot.holdoff = self.redesign_interval;
                let old_active = slot.active;
                slot.target = new;
                slot.active = old_active.max(new.len);
                // Sections appearing start as the identity with clear state.
                slot.clear_state(old_active, slot.active);
                for k in 0..slot.active {
                    if k >= old_active {
                        slot.cur[k] = IDENTITY;
                    }
                    let to = slot.settled(k);
                    slot.delta[k] = lerp_step(&slot.cur[k], &to, self.ramp_len);
                    slot.start[k] = slot.cur[k];
                }
                slot.ramp_left = self.ramp_len;
                slot.ramp_pos = 0;
                self.stamp = new_stamp();
            }
        }
    }

    /// Filters every channel in place. Channels beyond the first `max_channels` are not
    /// allowed; all channels must have the same length (any length).
    ///
    /// # Panics
    /// If `channels.len() > max_channels` or the channel lengths differ.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        self.process_impl(None, channels);
    }

    /// Makes room for [`Self::process_chain`] with a following EQ of up to `next_bands` bands,
    /// so that it runs both in one pass (allocates; call it next to [`Self::new`]).
    pub fn reserve_chain(&mut self, next_bands: usize) {
        let sections = (self.slots.len() + next_bands) * MAX_SECTIONS;
        if self.coefs.len() < sections {
            self.coefs.resize(sections, Coef::IDENTITY);
            self.work.resize(sections, State::default());
            self.gathered = None;
        }
    }

    /// Filters every channel through `self` and then `next`, in one sample-major pass: the
    /// same as `self.process(channels); next.process(channels)`, without rounding to `f32`
    /// between the two and at the cost of one call (one conversion, one gather and scatter of
    /// coefficients and state). Each EQ keeps its own bands, ramps and state, so a caller may
    /// alternate between this and separate calls. Falls back to the separate calls when
    /// [`Self::reserve_chain`] did not make room for `next`'s bands.
    ///
    /// # Panics
    /// If `channels.len()` exceeds either EQ's `max_channels` or the channel lengths differ.
    pub fn process_chain(&mut self, next: &mut IirEq, channels: &mut [&mut [f32]]) {
        if self.coefs.len() < (self.slots.len() + next.slots.len()) * MAX_SECTIONS {
            self.process(channels);
            next.process(channels);
            return;
        }
        self.process_impl(Some(next), channels);
    }

    /// [`Self::process`], followed in the same pass by `next`'s bands if given.
    fn process_impl(&mut self, mut next: Option<&mut IirEq>, channels: &mut [&mut [f32]]) {
        let max_channels = next
            .as_ref()
            .map_or(self.max_channels, |t| t.max_channels.min(self.max_channels));
        assert!(
            channels.len() <= max_channels,
            "{} channels > max_channels {}",
            channels.len(),
            max_channels
        );
        let n = channels.first().map_or(0, |c| c.len());
        assert!(
            channels.iter().all(|c| c.len() == n),
            "channel lengths differ"
        );
        self.update_targets();
        if let Some(t) = next.as_deref_mut() {
            t.update_targets();
        }
        let mut start = 0;
        while start < n {
            let len = self.max_block.min(n - start);
            self.run_chunk(next.as_deref_mut(), channels, start, len);
            // Advance the shared ramps once all channels have used them.
            self.advance_ramps(len);
            if let Some(t) = next.as_deref_mut() {
                t.advance_ramps(len);
            }
            start += len;
        }
        for slot in &mut self.slots {
            slot.holdoff = slot.holdoff.saturating_sub(n);
        }
        if let Some(t) = next {
            for slot in &mut t.slots {
                slot.holdoff = slot.holdoff.saturating_sub(n);
            }
        }
    }

    /// Filters `start..start + len` of every channel (`len <= max_block`) through `self`'s
    /// bands and then `next`'s (whose sections must fit in `self.coefs`).
    fn run_chunk(
        &mut self,
        next: Option<&mut IirEq>,
        channels: &mut [&mut [f32]],
        start: usize,
        len: usize,
    ) {
        let Self {
            slots: head,
            scratch,
            coefs,
            stamp,
            gathered,
            work,
            fma,
            avx512,
            non_finite,
            ..
        } = self;
        let (tail, tail_stamp): (&mut [Slot], u64) = match next {
            Some(t) => (&mut t.slots, t.stamp),
            None => (&mut [], 0),
        };
        let mut total = 0;
        let mut ramping = false;
        for group in [&*head, &*tail] {
            for slot in group {
                total += slot.active;
                ramping |= slot.ramp_left > 0 && slot.active > 0;
            }
        }
        // Gather the coefficients in use of every active section, in processing order, unless
        // `coefs` still holds them.
        let key = (*stamp, tail_stamp);
        if ramping || *gathered != Some(key) {
            let mut j = 0;
            for group in [&*head, &*tail] {
                for slot in group {
                    for (c, cur) in coefs[j..].iter_mut().zip(&slot.cur[..slot.active]) {
                        *c = Coef::new(cur);
                    }
                    j += slot.active;
                }
            }
        }
        // NOTE: a ramp rewrites `coefs` while it runs.
        *gathered = (!ramping).then_some(key);
        if total == 0 {
            // Transparent: only the non-finite guard.
            for buf in channels.iter_mut() {
                for v in buf[start..start + len].iter_mut() {
                    if !v.is_finite() {
                        *v = 0.0;
                        *non_finite += 1;
                    }
                }
            }
            return;
        }
        for (p, pair) in channels.chunks_mut(2).enumerate() {
            let buf = &mut scratch[..len];
            // Load the pair (a silent dummy lane for an odd channel count) into `f64`.
            let mut bad = 0;
            match pair {
                [l, r] => {
                    let (l, r) = (&l[start..start + len], &r[start..start + len]);
                    if !load_pair(*fma, l, r, buf) {
                        for ((s, l), r) in buf.iter_mut().zip(l).zip(r) {
                            *s = [guard(*l, &mut bad), guard(*r, &mut bad)];
                        }
                    }
                }
                [m] => {
                    for (s, m) in buf.iter_mut().zip(&m[start..start + len]) {
                        *s = [guard(*m, &mut bad), 0.0];
                    }
                }
                _ => unreachable!("chunks of 1 or 2 channels"),
            }
            *non_finite += bad;
            // Gather this pair's state of the active sections (`copy_states`: fixed-size
            // blocks; the entries past a slot's active sections are overwritten by the next
            // slot's, or never read. `work` has a row of room past the last slot's start).
            let mut j = 0;
            for group in [&*head, &*tail] {
                for slot in group {
                    copy_states(&mut work[j..], &slot.state[p], slot.active);
                    j += slot.active;
                }
            }
            let (c, st) = (&mut coefs[..total], &mut work[..total]);
            // NOTE: `run_ramp` sets every coefficient of a ramping band at its first sample,
            // so the next pair needs no regather.
            let groups: [&[Slot]; 2] = [head, tail];
            let ramp = ramping.then_some(&groups[..]);
            run(*fma, *avx512, ramp, c, st, buf);
            // Scatter the state back (a dummy lane's state is not stored).
            // NOTE: denormals are flushed once per chunk, not per sample (that would put a
            // compare into the recursion's critical path). The threshold (1e-30) is ~280 orders
            // of magnitude above the f64 denormal range, so a decaying state cannot reach it
            // within one chunk unless a pole radius is below ~0.5 *and* the chunk is longer than
            // ~900 samples; even then it only costs time until the chunk ends.
            for w in &mut work[..total] {
                *w = w.sanitized();
            }
            // NOTE: fixed-size blocks again for a pair (see the gather): a slot's entries past
            // its active sections then hold other sections' state, which is never read
            // (sections that become active start from clear state, `Slot::clear_state`).
            let mut j = 0;
            for group in [&mut *head, &mut *tail] {
                for slot in group.iter_mut() {
                    let n = slot.active;
                    if pair.len() == 2 {
                        copy_states(&mut slot.state[p], &work[j..], n);
                    } else {
                        let (dst, src) = (&mut slot.state[p][..n], &work[j..j + n]);
                        for (d, s) in dst.iter_mut().zip(src) {
                            (d.s1[0], d.s2[0]) = (s.s1[0], s.s2[0]);
                        }
                    }
                    j += n;
                }
            }
            match pair {
                [l, r] => {
                    let (l, r) = (&mut l[start..start + len], &mut r[start..start + len]);
                    store_pair(*fma, buf, l, r);
                }
                [m] => {
                    for (s, m) in buf.iter().zip(&mut m[start..start + len]) {
                        *m = s[0] as f32;
                    }
                }
                _ => unreachable!("chunks of 1 or 2 channels"),
            }
        }
    }

    /// Moves every ramp forward by `len` samples.
    fn advance_ramps(&mut self, len: usize) {
        for slot in &mut self.slots {
            if slot.ramp_left > 0 {
                Self::advance(slot, len);
                self.stamp = new_stamp();
            }
        }
    }

    /// Moves a slot's ramp (`ramp_left > 0`) forward by `len` samples.
    fn advance(slot: &mut Slot, len: usize) {
        if slot.ramp_left <= len {
            Self::settle(slot);
        } else {
            slot.ramp_pos += len;
            for k in 0..slot.active {
                slot.cur[k] = scaled_add(&slot.start[k], &slot.delta[k], slot.ramp_pos as f64);
            }
            slot.ramp_left -= len;
        }
    }

    /// Ends a ramp: coefficients exactly on target, vanished sections dropped.
    fn settle(slot: &mut Slot) {
        slot.ramp_left = 0;
        for k in 0..MAX_SECTIONS {
            slot.cur[k] = slot.settled(k);
        }
        slot.clear_state(slot.target.len, slot.active);
        slot.active = slot.target.len;
    }
}

/// A value no [`IirEq`] has used as its [`IirEq::stamp`] before.
fn new_stamp() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `eq` over a stereo buffer in host-sized blocks (benchmark helper).
///
/// # Panics
/// If `eq` was built for fewer than 2 channels or the buffers differ in length.
pub fn process_stereo(eq: &mut IirEq, left: &mut [f32], right: &mut [f32], block: usize) {
    assert_eq!(left.len(), right.len());
    let block = block.max(1);
    for (l, r) in left.chunks_mut(block).zip(right.chunks_mut(block)) {
        eq.process(&mut [l, r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::BandType;
    #[cfg(target_arch = "x86_64")]
    use crate::filter::Slope;
    use crate::signal::Rng;
    #[cfg(target_arch = "x86_64")]
    use std::f64::consts::FRAC_1_SQRT_2;

    #[cfg(target_arch = "x86_64")]
    /// Sections of a busy EQ (first- and second-order, low and high, boosts and cuts).
    fn sections(fs: f64) -> Vec<Coef> {
        let bands = [
            Band::new(BandType::LowCut, 16.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db36),
            Band::new(BandType::LowShelf, 90.0, 4.0, 0.7),
            Band::new(BandType::Bell, 700.0, -6.0, 3.0),
            Band::new(BandType::HighCut, 15_000.0, 0.0, FRAC_1_SQRT_2).with_slope(Slope::Db18),
        ];
        bands
            .iter()
            .flat_map(|b| {
                let d = DigitalBand::design(&b.prototype(), fs);
                d.sections().iter().map(Coef::new).collect::<Vec<_>>()
            })
            .collect()
    }

    #[cfg(target_arch = "x86_64")]
    /// Runs `f` (a steady kernel) over stereo noise with every pass size; returns the output.
    fn run_kernel(f: impl Fn(&[Coef], &mut [State], &mut [[f64; 2]])) -> Vec<[f64; 2]> {
        let c = sections(192_000.0);
        let mut rng = Rng::new(3);
        let mut buf: Vec<[f64; 2]> = (0..3000).map(|_| [rng.bipolar(), rng.bipolar()]).collect();
        for n in 1..=c.len() {
            let mut st = vec![State::default(); n];
            for chunk in buf.chunks_mut(333) {
                f(&c[..n], &mut st, chunk);
            }
        }
        buf
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_kernel_is_bit_exact_with_portable_and_fma_is_close() {
        // SAFETY: SSE2 is part of x86-64; `Portable` needs nothing; FMA only if detected.
        let portable = run_kernel(|c, st, b| unsafe { run_steady::<Portable>(c, st, b) });
        let sse2 = run_kernel(|c, st, b| unsafe { run_steady::<x86::Sse2>(c, st, b) });
        assert!(
            portable == sse2,
            "SSE2 kernel differs from the portable one"
        );
        if crate::simd::avx2_fma() {
            let fma = run_kernel(|c, st, b| unsafe { x86::run_steady_fma(c, st, b) });
            let peak = portable
                .iter()
                .flatten()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            let err = portable
                .iter()
                .flatten()
                .zip(fma.iter().flatten())
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= 1e-9 * peak, "FMA kernel off by {err} (peak {peak})");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn skewed_kernels_are_bit_exact_with_the_fma_kernel() {
        if !crate::simd::avx2_fma() {
            return;
        }
        // Every section count (one to two skewed passes, odd and even) and chunk lengths
        // shorter and longer than the pipeline, continuing the state across chunks.
        let mut c = sections(48_000.0);
        c.extend(sections(96_000.0));
        for n in 1..=c.len() {
            for chunk in [1, 2, 3, 4, 5, 7, 8, 9, 23, 64, 333] {
                let mut rng = Rng::new(5);
                let input: Vec<[f64; 2]> =
                    (0..1000).map(|_| [rng.bipolar(), rng.bipolar()]).collect();
                let (mut a, mut b, mut d) = (input.clone(), input.clone(), input);
                let mut sa = vec![State::default(); n];
                let (mut sb, mut sd) = (sa.clone(), sa.clone());
                let wide = crate::simd::avx512();
                for ((ca, cb), cd) in a
                    .chunks_mut(chunk)
                    .zip(b.chunks_mut(chunk))
                    .zip(d.chunks_mut(chunk))
                {
                    // SAFETY: features checked above (AVX-512 only when `wide`).
                    unsafe {
                        x86::run_steady_fma(&c[..n], &mut sa, ca);
                        x86::run_steady_skewed(&c[..n], &mut sb, cb);
                        if wide {
                            x86::run_steady_skewed512(&c[..n], &mut sd, cd);
                        }
                    }
                }
                let same = |b: &[[f64; 2]], sb: &[State]| {
                    a == b && sa.iter().zip(sb).all(|(x, y)| x.s1 == y.s1 && x.s2 == y.s2)
                };
                assert!(same(&b, &sb), "{n} sections, chunks of {chunk}");
                if wide {
                    assert!(same(&d, &sd), "AVX-512: {n} sections, chunks of {chunk}");
                }
            }
        }
    }

    #[test]
    fn steady_and_ramp_kernels_agree_bit_exactly() {
        // A settled slot through `run_ramp` (no coefficient recomputation) must compute what
        // `run_steady` computes, whichever lane arithmetic the CPU gets.
        let fs = 48_000.0;
        let mut eq = IirEq::new(2, 512, 1);
        eq.set_sample_rate(fs);
        eq.set_band(0, Band::new(BandType::Bell, 300.0, 5.0, 2.0));
        eq.reset();
        let slots = &eq.slots[..];
        let mut c: Vec<Coef> = slots[0].cur[..slots[0].active]
            .iter()
            .map(Coef::new)
            .collect();
        let mut rng = Rng::new(4);
        let input: Vec<[f64; 2]> = (0..512).map(|_| [rng.bipolar(), rng.bipolar()]).collect();
        let (mut a, mut b) = (input.clone(), input);
        let mut sa = vec![State::default(); c.len()];
        let mut sb = sa.clone();
        run(eq.fma, eq.avx512, None, &mut c, &mut sa, &mut a);
        run(eq.fma, eq.avx512, Some(&[slots]), &mut c, &mut sb, &mut b);
        assert!(a == b);
    }

    #[test]
    fn chained_pass_equals_separate_passes_across_partner_and_band_changes() {
        // `process_chain(next)` must filter exactly as `process` then `next.process` (up to the
        // f32 rounding between the two it skips), whichever partner it is given and however
        // the bands of either change; this also covers the cached coefficient gather.
        let fs = 48_000.0;
        let make = |bands: &[Band]| {
            let mut eq = IirEq::new(2, 64, 4);
            eq.set_sample_rate(fs);
            eq.set_smoothing_ms(2.0);
            for (i, b) in bands.iter().enumerate() {
                eq.set_band(i, *b);
            }
            eq.reset();
            eq
        };
        let mut head = make(&[
            Band::new(BandType::LowCut, 40.0, 0.0, 0.5),
            Band::new(BandType::Bell, 250.0, 4.0, 1.0),
        ]);
        head.reserve_chain(4);
        // Two partners with the same section count and different coefficients.
        let mut b = make(&[Band::new(BandType::Bell, 1_000.0, 9.0, 2.0)]);
        let mut c = make(&[Band::new(BandType::Bell, 3_000.0, -9.0, 2.0)]);
        let (mut head2, mut b2, mut c2) = (head.clone(), b.clone(), c.clone());
        let mut rng = Rng::new(21);
        let mut worst = 0.0f32;
        for block in 0..120 {
            // Band changes in the head, in a partner, and none, at different times.
            if block == 40 {
                let bell = Band::new(BandType::Bell, 500.0, -6.0, 3.0);
                head.set_band(1, bell);
                head2.set_band(1, bell);
            }
            if block == 70 {
                let shelf = Band::new(BandType::HighShelf, 6_000.0, 6.0, 0.7);
                b.set_band(0, shelf);
                b2.set_band(0, shelf);
            }
            let x: Vec<f32> = (0..64).map(|_| 0.3 * rng.bipolar() as f32).collect();
            let (mut l, mut r) = (x.clone(), x.iter().map(|v| -v).collect::<Vec<_>>());
            let (mut l2, mut r2) = (l.clone(), r.clone());
            let (partner, partner2) = if block % 3 == 1 {
                (&mut c, &mut c2)
            } else {
                (&mut b, &mut b2)
            };
            head.process_chain(partner, &mut [&mut l, &mut r]);
            head2.process(&mut [&mut l2, &mut r2]);
            partner2.process(&mut [&mut l2, &mut r2]);
            for (p, q) in l.iter().chain(&r).zip(l2.iter().chain(&r2)) {
                worst = worst.max((p - q).abs());
            }
        }
        assert!(
            worst < 1e-5,
            "chained and separate passes differ by {worst}"
        );
    }
}
