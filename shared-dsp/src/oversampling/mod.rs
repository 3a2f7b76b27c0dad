//! Linear-phase polyphase oversampling.
//!
//! [`Oversampler`] raises the sample rate by 1x, 2x, 4x, 8x or 16x with a cascade of linear-phase
//! half-band FIR stages (each stage doubles the rate), and brings it back down through the same
//! filters. Half-band filters have every other tap equal to zero, so each 2x stage is two
//! polyphase branches: one a plain delay, the other a short dense FIR. Only the first stage (the
//! one next to the base rate) needs a steep filter; the later stages see a signal that is already
//! band-limited to a small fraction of their rate, so they are short.
//!
//! Filter specification (per stage, Kaiser-windowed half-band, designed in `f64`):
//! - stage 1 (base rate <-> 2x): passband to 20 kHz at 44.1 kHz (0.4535 fs), stopband from
//!   24.1 kHz (0.5465 fs), 120 dB design attenuation. A half-band filter has equal passband and
//!   stopband ripple, so the passband ripple is about 1e-6 (far inside the required 0.01 dB).
//! - later stages: passband to 0.5465 of the base rate (the edge of the first stage's stopband),
//!   stopband from one base rate minus that, 150 dB (short filters: 24, 16 and 14 dense taps; stage 1 has 86).
//!
//! Speed: the dense branch is a block FIR that broadcasts each tap over 32 neighbouring outputs
//! (independent vector accumulators instead of one serial dot product per output), folded on the
//! symmetric taps (one add and one FMA per pair of taps) with two accumulator sets so it is not
//! bound by the FMA latency. One kernel per direction does the whole stage: the upsampling kernel
//! stores the dense and pure-delay branches interleaved, the downsampling kernel adds the odd
//! phase and halves. Each exists twice: portable Rust (SSE2 on x86-64, any other target) and
//! explicit AVX2+FMA intrinsics, chosen at run time. (An AVX-512F variant measured ~8 % slower on
//! the Zen 5 development machine, so there is none.)
//!
//! Latency: a half-band filter of length `4K - 1` delays by `2K - 1` samples of its output rate,
//! so the up/down round trip through one stage is `2K - 1` samples of that stage's *input* rate.
//! For the inner stages that is a fraction of a base-rate sample, so a short compensation delay
//! (fewer than `factor` samples at the top rate) pads the total to a whole number of base-rate
//! samples. [`Oversampler::latency`] is therefore exact: the round trip of a band-limited signal
//! is that signal delayed by `latency()` samples.
//!
//! ```
//! use shared_dsp::oversampling::Oversampler;
//! let mut os = Oversampler::new(2, 512, 16);
//! os.set_factor(4);
//! let input = [0.1f32; 512];
//! let mut out = [0.0f32; 512];
//! for ch in 0..2 {
//!     let up = os.upsample(ch, &input); // 2048 samples at 4x, process them in place
//!     for s in up.iter_mut() {
//!         *s = s.clamp(-1.0, 1.0);
//!     }
//!     os.downsample(ch, &mut out);
//! }
//! assert!(os.latency() > 0);
//! ```

pub mod polyphase_iir;
use std::f64::consts::PI;

/// Factors the oversampler supports.
pub const FACTORS: [usize; 5] = [1, 2, 4, 8, 16];

/// Number of 2x stages for the largest factor (16x).
const MAX_STAGES: usize = 4;

/// Design attenuation of the first half-band stage (dB); also its passband ripple (linear
/// `10^(-A/20)` = 1e-6).
const STAGE1_ATTEN_DB: f64 = 120.0;

/// Design attenuation of the inner stages (dB). They are short, so a deeper design costs little
/// and keeps their passband ripple (~3e-8) out of the round-trip error budget.
const INNER_ATTEN_DB: f64 = 150.0;

/// Passband edge of the first stage relative to the base rate: 20 kHz at 44.1 kHz.
const PASSBAND_EDGE: f64 = 20_000.0 / 44_100.0;

/// Outputs computed per kernel step: 32 outputs in 4 (AVX2) or 8 (SSE2) vector registers, each
/// with two accumulators.
const CHUNK: usize = 32;

/// `N` consecutive outputs of a symmetric FIR folded to its first half:
/// `out[j] = sum_{t < K} half[t] * (win[j + t] + win[j + span - t])`, `K = half.len()`,
/// `span = 2K - 1` (the newest sample of output `j`'s window is `win[j + span]`).
///
/// NOTE: the taps are symmetric, so each pair of samples is added first and multiplied once
/// (an add and an FMA per pair instead of two FMAs: the adds run on separate ports on most
/// x86-64 cores). Even and odd `t` go to two accumulator sets, so each output's dependency chain
/// is half as long and 2 x `N / lanes` independent FMAs are in flight (one set alone leaves the
/// kernel bound by the FMA latency). Every chunk size uses this same order, so the result does
/// not depend on how a block is split (block-size invariance is exact).
#[inline(always)]
fn fold_chunk<const N: usize, const FMA: bool>(half: &[f32], win: &[f32]) -> [f32; N] {
    let k = half.len();
    let span = 2 * k - 1;
    let mut acc0 = [0.0f32; N];
    let mut acc1 = [0.0f32; N];
    // NOTE: a macro, not a closure: a closure is compiled as its own function without the
    // caller's target features (its `mul_add` would become a libm call).
    macro_rules! step {
        ($acc:expr, $t:expr) => {{
            let t = $t;
            let c = half[t];
            let a = &win[t..t + N];
            let b = &win[span - t..span - t + N];
            for j in 0..N {
                let s = a[j] + b[j];
                $acc[j] = if FMA {
                    c.mul_add(s, $acc[j])
                } else {
                    $acc[j] + c * s
                };
            }
        }};
    }
    let mut t = 0;
    while t + 2 <= k {
        step!(acc0, t);
        step!(acc1, t + 1);
        t += 2;
    }
    if t < k {
        step!(acc0, t);
    }
    for j in 0..N {
        acc0[j] += acc1[j];
    }
    acc0
}

/// Upsampling kernel of one 2x stage: `out[2i] = dense(i)`, `out[2i + 1] = win[i + K]` (the
/// pure-delay branch, `x[i - (K - 1)]`), for `i < out.len() / 2`; `win` holds `2K - 1` samples of
/// history before the block.
#[inline(always)]
fn up_generic<const FMA: bool>(half: &[f32], win: &[f32], out: &mut [f32]) {
    let n = out.len() / 2;
    let k = half.len();
    let span = 2 * k - 1;
    assert!(win.len() >= span + n);
    let mut i = 0;
    macro_rules! run {
        ($n:expr) => {
            #[allow(clippy::int_plus_one)]
            while i + $n <= n {
                let d = fold_chunk::<$n, FMA>(half, &win[i..i + span + $n]);
                let p = &win[i + k..i + k + $n];
                let o = &mut out[2 * i..2 * i + 2 * $n];
                for j in 0..$n {
                    o[2 * j] = d[j];
                    o[2 * j + 1] = p[j];
                }
                i += $n;
            }
        };
    }
    run!(CHUNK);
    run!(8);
    run!(1);
}

/// Downsampling kernel of one 2x stage: `out[i] = (dense(i) + odd[i]) / 2`, where `even` holds
/// `2K - 1` samples of history before the block's even-phase samples and `odd` the odd-phase
/// samples delayed by `K`.
#[inline(always)]
fn down_generic<const FMA: bool>(half: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
    let n = out.len();
    let k = half.len();
    let span = 2 * k - 1;
    assert!(even.len() >= span + n && odd.len() >= n);
    let mut i = 0;
    macro_rules! run {
        ($n:expr) => {
            #[allow(clippy::int_plus_one)]
            while i + $n <= n {
                let d = fold_chunk::<$n, FMA>(half, &even[i..i + span + $n]);
                let p = &odd[i..i + $n];
                let o = &mut out[i..i + $n];
                for j in 0..$n {
                    o[j] = 0.5 * (d[j] + p[j]);
                }
                i += $n;
            }
        };
    }
    run!(CHUNK);
    run!(8);
    run!(1);
}

/// Portable upsampling kernel (SSE2 on x86-64).
fn up_portable(half: &[f32], win: &[f32], out: &mut [f32]) {
    up_generic::<false>(half, win, out);
}

/// Portable downsampling kernel (SSE2 on x86-64).
fn down_portable(half: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
    down_generic::<false>(half, even, odd, out);
}

/// Explicit AVX2 + FMA kernels (the auto-vectoriser builds the mirrored loads with shuffles and
/// spills the accumulators).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// `V` vectors (8 V outputs) of [`super::fold_chunk`], same summation order.
    #[allow(clippy::needless_range_loop)] // `acc0[v]`/`acc1[v]` side by side read clearer
    ///
    /// # Safety
    /// AVX2 + FMA; `win` must hold `2 half.len() - 1 + 8 V` samples.
    #[inline(always)]
    unsafe fn fold<const V: usize>(half: &[f32], win: *const f32) -> [__m256; V] {
        let k = half.len();
        let span = 2 * k - 1;
        let h = half.as_ptr();
        // SAFETY (whole body): every load is inside `win[..span + 8 V]`: `t + 8v + 8 <= k + 8V`
        // and `span - t + 8v + 8 <= span + 8V` for `t < k`, `v < V`.
        unsafe {
            let mut acc0 = [_mm256_setzero_ps(); V];
            let mut acc1 = [_mm256_setzero_ps(); V];
            let mut t = 0;
            while t + 2 <= k {
                let c0 = _mm256_broadcast_ss(&*h.add(t));
                let c1 = _mm256_broadcast_ss(&*h.add(t + 1));
                for v in 0..V {
                    let a = _mm256_loadu_ps(win.add(t + 8 * v));
                    let b = _mm256_loadu_ps(win.add(span - t + 8 * v));
                    acc0[v] = _mm256_fmadd_ps(c0, _mm256_add_ps(a, b), acc0[v]);
                    let a = _mm256_loadu_ps(win.add(t + 1 + 8 * v));
                    let b = _mm256_loadu_ps(win.add(span - t - 1 + 8 * v));
                    acc1[v] = _mm256_fmadd_ps(c1, _mm256_add_ps(a, b), acc1[v]);
                }
                t += 2;
            }
            if t < k {
                let c0 = _mm256_broadcast_ss(&*h.add(t));
                for v in 0..V {
                    let a = _mm256_loadu_ps(win.add(t + 8 * v));
                    let b = _mm256_loadu_ps(win.add(span - t + 8 * v));
                    acc0[v] = _mm256_fmadd_ps(c0, _mm256_add_ps(a, b), acc0[v]);
                }
            }
            for v in 0..V {
                acc0[v] = _mm256_add_ps(acc0[v], acc1[v]);
            }
            acc0
        }
    }

    /// One output of [`super::fold_chunk`] (scalar FMA, same summation order as [`fold`]).
    #[inline(always)]
    fn fold1(half: &[f32], win: &[f32]) -> f32 {
        let k = half.len();
        let span = 2 * k - 1;
        let (mut acc0, mut acc1) = (0.0f32, 0.0f32);
        let mut t = 0;
        while t + 2 <= k {
            acc0 = half[t].mul_add(win[t] + win[span - t], acc0);
            acc1 = half[t + 1].mul_add(win[t + 1] + win[span - t - 1], acc1);
            t += 2;
        }
        if t < k {
            acc0 = half[t].mul_add(win[t] + win[span - t], acc0);
        }
        acc0 + acc1
    }

    /// Stores `d` interleaved with the 8 V samples at `p`: `o[2j] = d[j]`, `o[2j + 1] = p[j]`.
    ///
    /// # Safety
    /// AVX2; `p` readable for 8 V samples, `o` writable for 16 V.
    #[inline(always)]
    unsafe fn store_interleaved<const V: usize>(d: [__m256; V], p: *const f32, o: *mut f32) {
        // SAFETY: within the bounds stated above.
        unsafe {
            for (v, &dv) in d.iter().enumerate() {
                let pv = _mm256_loadu_ps(p.add(8 * v));
                let lo = _mm256_unpacklo_ps(dv, pv); // d0 p0 d1 p1 | d4 p4 d5 p5
                let hi = _mm256_unpackhi_ps(dv, pv); // d2 p2 d3 p3 | d6 p6 d7 p7
                _mm256_storeu_ps(o.add(16 * v), _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(o.add(16 * v + 8), _mm256_permute2f128_ps(lo, hi, 0x31));
            }
        }
    }

    /// AVX2 + FMA version of [`super::up_generic`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn up(half: &[f32], win: &[f32], out: &mut [f32]) {
        let n = out.len() / 2;
        let k = half.len();
        let span = 2 * k - 1;
        assert!(win.len() >= span + n);
        let (w, o) = (win.as_ptr(), out.as_mut_ptr());
        let mut i = 0;
        // SAFETY: `i + 8 V <= n` keeps every window read inside `win[..span + n]`, the pure
        // branch read `win[i + k..i + k + 8V]` inside it too (`k <= span`), and the writes
        // inside `out[..2n]`.
        unsafe {
            while i + 32 <= n {
                let d = fold::<4>(half, w.add(i));
                store_interleaved::<4>(d, w.add(i + k), o.add(2 * i));
                i += 32;
            }
            while i + 8 <= n {
                let d = fold::<1>(half, w.add(i));
                store_interleaved::<1>(d, w.add(i + k), o.add(2 * i));
                i += 8;
            }
        }
        while i < n {
            out[2 * i] = fold1(half, &win[i..i + span + 1]);
            out[2 * i + 1] = win[i + k];
            i += 1;
        }
    }

    /// AVX2 + FMA version of [`super::down_generic`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn down(half: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
        let n = out.len();
        let k = half.len();
        let span = 2 * k - 1;
        assert!(even.len() >= span + n && odd.len() >= n);
        let (w, p, o) = (even.as_ptr(), odd.as_ptr(), out.as_mut_ptr());
        let mut i = 0;
        // SAFETY: `i + 8 V <= n` keeps the reads inside `even[..span + n]` and `odd[..n]` and
        // the writes inside `out[..n]`.
        unsafe {
            let half_v = _mm256_set1_ps(0.5);
            while i + 32 <= n {
                let d = fold::<4>(half, w.add(i));
                for (v, &dv) in d.iter().enumerate() {
                    let pv = _mm256_loadu_ps(p.add(i + 8 * v));
                    let y = _mm256_mul_ps(half_v, _mm256_add_ps(dv, pv));
                    _mm256_storeu_ps(o.add(i + 8 * v), y);
                }
                i += 32;
            }
            while i + 8 <= n {
                let [dv] = fold::<1>(half, w.add(i));
                let pv = _mm256_loadu_ps(p.add(i));
                _mm256_storeu_ps(o.add(i), _mm256_mul_ps(half_v, _mm256_add_ps(dv, pv)));
                i += 8;
            }
        }
        while i < n {
            out[i] = 0.5 * (fold1(half, &even[i..i + span + 1]) + odd[i]);
            i += 1;
        }
    }
}

/// Safe entry point for [`avx2::up`]; only ever selected after the feature check.
#[cfg(target_arch = "x86_64")]
fn up_avx2(half: &[f32], win: &[f32], out: &mut [f32]) {
    // SAFETY: `Kernels::select` returns this function only when AVX2 and FMA were detected.
    unsafe { avx2::up(half, win, out) }
}

/// Safe entry point for [`avx2::down`]; only ever selected after the feature check.
#[cfg(target_arch = "x86_64")]
fn down_avx2(half: &[f32], even: &[f32], odd: &[f32], out: &mut [f32]) {
    // SAFETY: `Kernels::select` returns this function only when AVX2 and FMA were detected.
    unsafe { avx2::down(half, even, odd, out) }
}

/// Signature of an upsampling kernel (see [`up_generic`]).
type UpFn = fn(&[f32], &[f32], &mut [f32]);
/// Signature of a downsampling kernel (see [`down_generic`]).
type DownFn = fn(&[f32], &[f32], &[f32], &mut [f32]);

/// The up and down kernels chosen for this CPU.
#[derive(Clone, Copy)]
struct Kernels {
    /// See [`up_generic`].
    up: UpFn,
    /// See [`down_generic`].
    down: DownFn,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kernels")
    }
}

impl Kernels {
    /// Picks the fastest kernels this CPU supports.
    fn select() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::avx2_fma() {
                return Self {
                    up: up_avx2,
                    down: down_avx2,
                };
            }
        }
        Self {
            up: up_portable,
            down: down_portable,
        }
    }
}

/// Modified Bessel function of the first kind, order 0 (power series), for the Kaiser window.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x * 0.25;
    for k in 1..200 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Designs a Kaiser-windowed half-band low-pass and returns its dense polyphase branch
/// `e[l] = 2 h[2l]`, `l = 0..2K`, normalised to unit DC gain (the other branch is the centre tap
/// `2 h[2K-1] = 1`, a pure delay).
///
/// `transition` is the full transition width in cycles per sample of the *output* (2x) rate; the
/// band is symmetric about a quarter of that rate.
pub fn design_halfband(atten_db: f64, transition: f64) -> Vec<f64> {
    let beta = if atten_db > 50.0 {
        0.1102 * (atten_db - 8.7)
    } else {
        0.5842 * (atten_db - 21.0).max(0.0).powf(0.4) + 0.07886 * (atten_db - 21.0).max(0.0)
    };
    // Kaiser's length estimate, rounded up to the half-band form N = 4K - 1.
    let n_est = (atten_db - 7.95) / (2.285 * 2.0 * PI * transition) + 1.0;
    let k = ((n_est + 1.0) / 4.0).ceil().max(1.0) as usize;
    let n = 4 * k - 1;
    let c = (2 * k - 1) as f64;
    let i0b = bessel_i0(beta);
    let h = |j: usize| -> f64 {
        let m = j as f64 - c;
        let sinc = if m == 0.0 {
            1.0
        } else {
            (PI * m * 0.5).sin() / (PI * m * 0.5)
        };
        let r = m / c;
        let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
        0.5 * sinc * w
    };
    let mut e: Vec<f64> = (0..2 * k).map(|l| 2.0 * h(2 * l)).collect();
    debug_assert!(2 * (2 * k - 1) < n);
    let sum: f64 = e.iter().sum();
    for v in e.iter_mut() {
        *v /= sum;
    }
    e
}

/// One 2x half-band stage's coefficients (shared by all channels).
#[derive(Debug, Clone)]
struct Stage {
    /// First half of the (symmetric) dense-branch taps, `e[0..K]`: the dense output is
    /// `sum_{t < K} half[t] * (x[i - t] + x[i - (2K - 1) + t])`.
    half: Vec<f32>,
    /// `K`: the pure-delay branch delays by `K - 1` input samples (upsampling) / `K` samples of
    /// the odd phase (downsampling); the stage's group delay is `2K - 1` output-rate samples.
    k: usize,
}

impl Stage {
    fn new(atten_db: f64, transition: f64) -> Self {
        let e = design_halfband(atten_db, transition);
        let k = e.len() / 2;
        // Symmetric in f64 to ~1e-16; average the mirrored pair so the f32 taps are exactly
        // symmetric (linear phase) before folding.
        let half = (0..k)
            .map(|l| (0.5 * (e[l] + e[2 * k - 1 - l])) as f32)
            .collect();
        Self { half, k }
    }

    /// History kept by the dense branch (samples before the block): `2K - 1`.
    fn hist(&self) -> usize {
        2 * self.k - 1
    }
}

/// Per channel, per stage streaming state: input histories followed by room for one block.
#[derive(Debug, Clone)]
struct StageState {
    /// Upsampler input: `hist` old samples then the block (at the stage's input rate).
    up: Vec<f32>,
    /// Downsampler even-phase input: `hist` old samples then the block (at the stage's output rate / 2).
    down_even: Vec<f32>,
    /// Downsampler odd-phase input: `K` old samples then the block.
    down_odd: Vec<f32>,
}

/// Linear-phase polyphase up/down sampler for 1x, 2x, 4x, 8x and 16x.
///
/// Lifecycle: [`Oversampler::new`] allocates every buffer for the largest factor;
/// [`set_factor`](Oversampler::set_factor) and [`reset`](Oversampler::reset) never allocate.
/// Each channel streams independently: call [`upsample`](Oversampler::upsample) (or
/// [`upsample_into`](Oversampler::upsample_into)) once per block, process the oversampled
/// samples, then [`downsample`](Oversampler::downsample) (or
/// [`downsample_from`](Oversampler::downsample_from)) once per block.
#[derive(Debug, Clone)]
pub struct Oversampler {
    /// Half-band stages, outermost (base rate <-> 2x) first.
    stages: Vec<Stage>,
    /// Streaming state, `state[channel][stage]`.
    state: Vec<Vec<StageState>>,
    /// Per-channel oversampled block owned by the oversampler (for `upsample`/`downsample`).
    os_buf: Vec<Vec<f32>>,
    /// Two ping-pong scratch buffers for the intermediate rates.
    scratch: [Vec<f32>; 2],
    /// Per-channel compensation delay carry-over at the top rate (makes the latency whole).
    comp: Vec<Vec<f32>>,
    /// Compensation delay in top-rate samples for the current factor (`< factor`).
    comp_len: usize,
    /// Current factor (1, 2, 4, 8 or 16).
    factor: usize,
    /// Number of active stages, `log2(factor)`.
    n_stages: usize,
    /// Largest factor allowed by `new`.
    max_factor: usize,
    /// Largest block (base-rate samples) allowed by `new`.
    max_block: usize,
    /// Round-trip latency in base-rate samples for the current factor.
    latency: usize,
    /// Up and down kernels chosen for this CPU at construction.
    kernels: Kernels,
}

impl Oversampler {
    /// Allocates an oversampler for up to `max_channels` channels, blocks of up to `max_block`
    /// base-rate samples and factors up to `max_factor`. The factor starts at `max_factor`.
    ///
    /// # Panics
    /// If `max_factor` is not one of [`FACTORS`], or `max_channels`/`max_block` is zero.
    pub fn new(max_channels: usize, max_block: usize, max_factor: usize) -> Self {
        assert!(
            FACTORS.contains(&max_factor),
            "factor must be 1, 2, 4, 8 or 16"
        );
        assert!(max_channels > 0 && max_block > 0);
        let n_max = max_factor.trailing_zeros() as usize;
        debug_assert!(n_max <= MAX_STAGES);
        let sb1 = 1.0 - PASSBAND_EDGE; // stopband edge of stage 1, relative to the base rate
        let stages: Vec<Stage> = (0..n_max)
            .map(|s| {
                let out_rate = (2usize << s) as f64; // relative to the base rate
                let (pass, stop, atten) = if s == 0 {
                    (PASSBAND_EDGE, sb1, STAGE1_ATTEN_DB)
                } else {
                    (sb1, out_rate * 0.5 - sb1, INNER_ATTEN_DB)
                };
                Stage::new(atten, (stop - pass) / out_rate)
            })
            .collect();
        let state = (0..max_channels)
            .map(|_| {
                stages
                    .iter()
                    .enumerate()
                    .map(|(s, st)| {
                        let n_in = max_block << s; // block length at this stage's input rate
                        StageState {
                            up: vec![0.0; st.hist() + n_in],
                            down_even: vec![0.0; st.hist() + n_in],
                            down_odd: vec![0.0; st.k + n_in],
                        }
                    })
                    .collect()
            })
            .collect();
        let top = max_block * max_factor;
        let mut os = Self {
            stages,
            state,
            os_buf: vec![vec![0.0; top]; max_channels],
            scratch: [vec![0.0; top], vec![0.0; top]],
            comp: vec![vec![0.0; max_factor.max(1)]; max_channels],
            comp_len: 0,
            factor: 1,
            n_stages: 0,
            max_factor,
            max_block,
            latency: 0,
            kernels: Kernels::select(),
        };
        os.set_factor(max_factor);
        os
    }

    /// Selects the factor (1, 2, 4, 8 or 16, at most `max_factor`) and clears the filter state.
    /// Never allocates. The latency changes with the factor.
    ///
    /// # Panics
    /// If `factor` is not allowed.
    pub fn set_factor(&mut self, factor: usize) {
        assert!(
            FACTORS.contains(&factor) && factor <= self.max_factor,
            "unsupported oversampling factor {factor}"
        );
        self.factor = factor;
        self.n_stages = factor.trailing_zeros() as usize;
        let (lat, comp) = self.latency_and_comp(factor);
        self.comp_len = comp;
        self.latency = lat;
        self.reset();
    }

    /// Round-trip latency (base-rate samples) and compensation delay (top-rate samples) for
    /// `factor`.
    fn latency_and_comp(&self, factor: usize) -> (usize, usize) {
        let n = factor.trailing_zeros() as usize;
        // Round trip through stage s is (2K_s - 1) samples of its input rate, which is
        // factor / 2^s samples of the top rate.
        let top: usize = self.stages[..n]
            .iter()
            .enumerate()
            .map(|(s, st)| (2 * st.k - 1) * (factor >> s))
            .sum();
        let comp = (factor - top % factor) % factor;
        ((top + comp) / factor, comp)
    }

    /// The round-trip latency [`latency`](Self::latency) would report after `set_factor(factor)`,
    /// without changing anything (for hosts that ask before the change is applied).
    ///
    /// # Panics
    /// If `factor` is not allowed.
    pub fn latency_for(&self, factor: usize) -> usize {
        assert!(FACTORS.contains(&factor) && factor <= self.max_factor);
        self.latency_and_comp(factor).0
    }

    /// The current factor.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Round-trip (upsample + downsample) latency in base-rate samples; always a whole number.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Latency of the upsampling path alone in top-rate samples (including the compensation
    /// delay): the oversampled signal's sample `m` corresponds to base-rate time
    /// `(m - upsample_delay_top()) / factor`.
    pub fn upsample_delay_top(&self) -> usize {
        let f = self.factor;
        self.stages[..self.n_stages]
            .iter()
            .enumerate()
            .map(|(s, st)| (2 * st.k - 1) * (f >> (s + 1)))
            .sum::<usize>()
            + self.comp_len
    }

    /// Clears all filter histories. Never allocates.
    pub fn reset(&mut self) {
        for ch in self.state.iter_mut() {
            for st in ch.iter_mut() {
                st.up.fill(0.0);
                st.down_even.fill(0.0);
                st.down_odd.fill(0.0);
            }
        }
        for c in self.comp.iter_mut() {
            c.fill(0.0);
        }
    }

    /// Upsamples one block of channel `ch` into the oversampler's own buffer and returns it
    /// (`input.len() * factor` samples) for in-place processing before [`downsample`](Self::downsample).
    ///
    /// # Panics
    /// If `ch >= max_channels` or `input.len() > max_block`.
    pub fn upsample(&mut self, ch: usize, input: &[f32]) -> &mut [f32] {
        let n = input.len() * self.factor;
        let mut buf = std::mem::take(&mut self.os_buf[ch]);
        self.upsample_into(ch, input, &mut buf[..n]);
        self.os_buf[ch] = buf;
        &mut self.os_buf[ch][..n]
    }

    /// Downsamples the block that [`upsample`](Self::upsample) returned for channel `ch` (as
    /// processed in place) into `output` (`output.len()` base-rate samples).
    ///
    /// # Panics
    /// If `ch >= max_channels` or `output.len() > max_block`.
    pub fn downsample(&mut self, ch: usize, output: &mut [f32]) {
        let n = output.len() * self.factor;
        let buf = std::mem::take(&mut self.os_buf[ch]);
        self.downsample_from(ch, &buf[..n], output);
        self.os_buf[ch] = buf;
    }

    /// Upsamples `input` of channel `ch` into `out`, which must hold `input.len() * factor`
    /// samples.
    ///
    /// # Panics
    /// If `ch >= max_channels`, `input.len() > max_block` or `out` has the wrong length.
    pub fn upsample_into(&mut self, ch: usize, input: &[f32], out: &mut [f32]) {
        let n = input.len();
        assert!(n <= self.max_block, "block longer than max_block");
        assert_eq!(
            out.len(),
            n * self.factor,
            "output length must be input * factor"
        );
        if self.n_stages == 0 {
            out.copy_from_slice(input);
            return;
        }
        let [s0, s1] = &mut self.scratch;
        let mut len = n;
        for s in 0..self.n_stages {
            let stage = &self.stages[s];
            let st = &mut self.state[ch][s];
            let hist = stage.hist();
            // Source for this stage: the input or the previous stage's output.
            {
                let src: &[f32] = if s == 0 {
                    input
                } else if s % 2 == 1 {
                    &s0[..len]
                } else {
                    &s1[..len]
                };
                st.up[hist..hist + len].copy_from_slice(src);
            }
            let last = s + 1 == self.n_stages;
            let dst: &mut [f32] = if last {
                &mut *out
            } else if s % 2 == 0 {
                &mut s0[..2 * len]
            } else {
                &mut s1[..2 * len]
            };
            // Dense and pure-delay branches, interleaved by the kernel.
            (self.kernels.up)(&stage.half, &st.up[..hist + len], &mut dst[..2 * len]);
            st.up.copy_within(len..len + hist, 0);
            len *= 2;
        }
        // Compensation delay at the top rate: `cl < factor <= out.len()` samples, so shift the
        // block by `cl` and carry its last `cl` samples over to the next block.
        let cl = self.comp_len;
        let len = out.len();
        if cl > 0 && len > 0 {
            let mut tail = [0.0f32; 16];
            tail[..cl].copy_from_slice(&out[len - cl..]);
            out.copy_within(0..len - cl, cl);
            let carry = &mut self.comp[ch][..cl];
            out[..cl].copy_from_slice(carry);
            carry.copy_from_slice(&tail[..cl]);
        }
    }

    /// Downsamples `input` (`output.len() * factor` top-rate samples) of channel `ch` into
    /// `output`.
    ///
    /// # Panics
    /// If `ch >= max_channels`, `output.len() > max_block` or `input` has the wrong length.
    pub fn downsample_from(&mut self, ch: usize, input: &[f32], output: &mut [f32]) {
        let n = output.len();
        assert!(n <= self.max_block, "block longer than max_block");
        assert_eq!(
            input.len(),
            n * self.factor,
            "input length must be output * factor"
        );
        if self.n_stages == 0 {
            output.copy_from_slice(input);
            return;
        }
        let [s0, s1] = &mut self.scratch;
        let mut len = input.len(); // at the current stage's output (higher) rate
        for s in (0..self.n_stages).rev() {
            let stage = &self.stages[s];
            let st = &mut self.state[ch][s];
            let hist = stage.hist();
            let k = stage.k;
            let half = len / 2;
            {
                let src: &[f32] = if s + 1 == self.n_stages {
                    input
                } else if s % 2 == 0 {
                    &s1[..len]
                } else {
                    &s0[..len]
                };
                let even = &mut st.down_even[hist..hist + half];
                let odd = &mut st.down_odd[k..k + half];
                for ((pair, e), o) in src.chunks_exact(2).zip(even).zip(odd) {
                    *e = pair[0];
                    *o = pair[1];
                }
            }
            let dst: &mut [f32] = if s == 0 {
                &mut *output
            } else if s % 2 == 0 {
                &mut s0[..half]
            } else {
                &mut s1[..half]
            };
            (self.kernels.down)(
                &stage.half,
                &st.down_even[..hist + half],
                &st.down_odd[..half],
                &mut dst[..half],
            );
            st.down_even.copy_within(half..half + hist, 0);
            st.down_odd.copy_within(half..half + k, 0);
            len = half;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfband_has_zero_even_taps_and_unit_dc() {
        let e = design_halfband(120.0, 0.05);
        let sum: f64 = e.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
        // Symmetric dense branch.
        for l in 0..e.len() {
            assert!((e[l] - e[e.len() - 1 - l]).abs() < 1e-15);
        }
    }

    #[test]
    fn latency_is_whole_for_every_factor() {
        let mut os = Oversampler::new(1, 64, 16);
        for f in FACTORS {
            os.set_factor(f);
            let top: usize = os.stages[..os.n_stages]
                .iter()
                .enumerate()
                .map(|(s, st)| (2 * st.k - 1) * (f >> s))
                .sum();
            assert_eq!((top + os.comp_len) % f, 0);
            assert_eq!(os.latency() * f, top + os.comp_len);
        }
    }
}
