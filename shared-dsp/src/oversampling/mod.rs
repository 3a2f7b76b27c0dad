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
//! (independent vector accumulators instead of one serial dot product per output), compiled
//! twice: portable (SSE2 on x86-64) and AVX2+FMA, chosen at run time.
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

/// Dense-branch taps are padded with leading zeros to a multiple of this.
const LANES: usize = 8;

/// Computes `N` consecutive FIR outputs at once: `out[j] = sum_t taps[t] * buf[j + t]`.
///
/// NOTE: one dot product per output serialises on its accumulator (a 4-cycle add/FMA latency
/// per tap chunk). Broadcasting each tap over `N` = 32 neighbouring outputs gives the CPU 4-8
/// independent vector accumulators instead, which is what makes the FIR throughput-bound.
#[inline(always)]
fn fir_chunk<const N: usize, const FMA: bool>(taps: &[f32], buf: &[f32], out: &mut [f32]) {
    let mut acc = [0.0f32; N];
    for (t, &c) in taps.iter().enumerate() {
        let s = &buf[t..t + N];
        for j in 0..N {
            if FMA {
                acc[j] = c.mul_add(s[j], acc[j]);
            } else {
                acc[j] += c * s[j];
            }
        }
    }
    out[..N].copy_from_slice(&acc);
}

/// FIR over a block: `out[i] = sum_t taps[t] * buf[i + t]` for every `i < out.len()`;
/// `buf` holds `taps.len() - 1` samples of history before the block.
#[inline(always)]
fn fir_generic<const FMA: bool>(taps: &[f32], buf: &[f32], out: &mut [f32]) {
    let n = out.len();
    let t = taps.len();
    let mut i = 0;
    while i + 32 <= n {
        fir_chunk::<32, FMA>(taps, &buf[i..i + t + 31], &mut out[i..]);
        i += 32;
    }
    while i + 8 <= n {
        fir_chunk::<8, FMA>(taps, &buf[i..i + t + 7], &mut out[i..]);
        i += 8;
    }
    // Same per-output summation order as the wide chunks, so the result does not depend on
    // how a block is split (block-size invariance is exact).
    while i < n {
        fir_chunk::<1, FMA>(taps, &buf[i..i + t], &mut out[i..]);
        i += 1;
    }
}

/// Portable FIR kernel (SSE2 on x86-64).
fn fir_portable(taps: &[f32], buf: &[f32], out: &mut [f32]) {
    fir_generic::<false>(taps, buf, out);
}

/// AVX2 + FMA FIR kernel, selected at run time.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fir_avx2_fma(taps: &[f32], buf: &[f32], out: &mut [f32]) {
    fir_generic::<true>(taps, buf, out);
}

/// Safe entry point for [`fir_avx2_fma`]; only ever selected after the feature check.
#[cfg(target_arch = "x86_64")]
fn fir_avx2(taps: &[f32], buf: &[f32], out: &mut [f32]) {
    // SAFETY: `select_fir` returns this function only when AVX2 and FMA were detected.
    unsafe { fir_avx2_fma(taps, buf, out) }
}

/// Signature of a block FIR kernel.
type FirFn = fn(&[f32], &[f32], &mut [f32]);

/// Picks the fastest FIR kernel this CPU supports.
fn select_fir() -> FirFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return fir_avx2;
        }
    }
    fir_portable
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
    /// Dense-branch taps reversed (oldest first) and zero-padded at the front to `taps.len()`,
    /// a multiple of [`LANES`]: `out = sum(taps[t] * window[t])` with the newest sample last.
    taps: Vec<f32>,
    /// `K`: the pure-delay branch delays by `K - 1` input samples (upsampling) / `K` samples of
    /// the odd phase (downsampling); the stage's group delay is `2K - 1` output-rate samples.
    k: usize,
}

impl Stage {
    fn new(atten_db: f64, transition: f64) -> Self {
        let e = design_halfband(atten_db, transition);
        let k = e.len() / 2;
        let len = e.len().div_ceil(LANES) * LANES;
        let mut taps = vec![0.0f32; len];
        for (l, &v) in e.iter().enumerate() {
            taps[len - 1 - l] = v as f32;
        }
        Self { taps, k }
    }

    /// History kept by the dense branch (samples before the block).
    fn hist(&self) -> usize {
        self.taps.len() - 1
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
    /// Block FIR kernel chosen for this CPU at construction.
    fir: FirFn,
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
            fir: select_fir(),
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
            let taps = &stage.taps[..];
            let t = taps.len();
            let pure = t - stage.k; // index in the window of x[i - (K - 1)]
            // Dense branch into the upper half, then interleave forwards in place: pair `i`
            // writes indices 2i and 2i+1 <= len + i, so it never overwrites an unread value.
            let dst = &mut dst[..2 * len];
            (self.fir)(taps, &st.up[..t - 1 + len], &mut dst[len..]);
            for i in 0..len {
                let dense = dst[len + i];
                dst[2 * i] = dense;
                dst[2 * i + 1] = st.up[i + pure];
            }
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
                for (i, pair) in src.chunks_exact(2).enumerate() {
                    st.down_even[hist + i] = pair[0];
                    st.down_odd[k + i] = pair[1];
                }
            }
            let dst: &mut [f32] = if s == 0 {
                &mut *output
            } else if s % 2 == 0 {
                &mut s0[..half]
            } else {
                &mut s1[..half]
            };
            let taps = &stage.taps[..];
            let t = taps.len();
            let dst = &mut dst[..half];
            (self.fir)(taps, &st.down_even[..t - 1 + half], dst);
            for (y, &o) in dst.iter_mut().zip(&st.down_odd[..half]) {
                *y = 0.5 * (*y + o);
            }
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
