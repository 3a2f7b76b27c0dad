//! Oversampled saturation: a tape-like soft curve and a tube-like asymmetric one.
//!
//! [`Saturator`] raises the rate, drives the signal into a smooth static curve, and comes back
//! down, then removes the DC an asymmetric curve creates. At 2x (the [`RECOMMENDED_FACTOR`]) the
//! rate change is a polyphase IIR half-band ([`HalfbandIir2x`]: minimum phase, 10 allpass
//! coefficients, 106 dB stopband, two channels per pass); other factors use the linear-phase FIR
//! [`Oversampler`]. The output is
//! level compensated: the small-signal gain is exactly 1 at every drive, so the drive changes the
//! amount of colour, not the level of quiet material.
//!
//! # Curves
//! With the drive gain `g` (the curve's input is `u = g x`):
//! - [`Character::Tape`]: `y = tanh(u) / g`, odd harmonics only.
//! - [`Character::Tube`]: `y = (tanh(u + B) - tanh(B)) / ((1 - tanh(B)^2) g)` with bias
//!   [`TUBE_BIAS`]: positive half-waves saturate earlier than negative ones, which adds even
//!   harmonics (and DC, removed afterwards by a 2 Hz first-order high-pass).
//!
//! Both curves are analytic (tanh's nearest singularities are at `u = +-i pi/2`), so the
//! harmonics of a sine of curve-input peak `A` fall off geometrically, roughly as
//! `exp(-n asinh(pi / (2 A)))`. That is what makes a modest oversampling factor enough: at the
//! largest drive a 0 dBFS sine reaches `A = 2`. See `tests/saturation_aliasing.rs` for the measured
//! aliasing per factor.
//!
//! # Drive
//! `drive_db` runs from 0 to [`MAX_DRIVE_DB`]; the curve-input gain is
//! `g = DRIVE_AT_0_DB * 10^(drive_db / 20)`, so a 0 dBFS sine meets the curve at 0.125 (subtle,
//! -56 dB third harmonic) at 0 dB and at 2 (heavy, tanh(2) = 0.96) at 24 dB. The drive gain glides
//! linearly over [`DRIVE_GLIDE_MS`] at the oversampled rate (no zipper noise); a character change
//! crossfades the two curves over the same time.
//!
//! # Latency
//! The IIR half-band has no integer latency: a round trip delays low frequencies by 3.44 samples
//! (3.65 at 5 kHz, 4.41 at 10 kHz, 6.35 at 15 kHz, at 48 kHz; minimum phase, so the impulse
//! response peaks early and rings after). [`Saturator::latency`] reports the peak of the impulse
//! response, 4 samples at 2x.
//!
//! NOTE: 4 rather than 0 because the channel strip crossfades the saturator against a dry path
//! delayed by `latency()` (section bypass and plugin bypass, 10 ms): with 0 the two paths would
//! be 3.4 to 4.4 samples apart below 10 kHz during a fade (a comb with its first notch near
//! 6 kHz); with 4 they are within 0.6 sample up to 10 kHz. 4 also keeps the suite's invariant
//! that an impulse comes out at `latency()` (3, the rounded low-frequency delay, would not), and
//! is a fifth of the FIR path's latency.
//!
//! # Speed
//! At 2x the resampling costs two FMAs per allpass coefficient per base-rate sample for a pair of
//! channels (both paths and both channels share one SSE vector). The curve runs over the whole
//! oversampled block (branch-free `tanh_fast`; compiled for AVX2 + FMA at run time when available,
//! its `exp2` series then fused; else AVX2, else SSE2/portable); per-sample glide work happens
//! only while the drive or character is moving. The DC blocker runs two channels per pass and two samples ahead
//! (four independent dependency chains instead of one per channel); with AVX2 + FMA all four
//! share one 256-bit vector.
//!
//! # Example: a stereo buffer
//! ```
//! use shared_dsp::saturation::{Character, Saturator};
//! let mut sat = Saturator::new(2, 512, 2);
//! sat.set_sample_rate(48_000.0);
//! sat.set_drive_db(12.0);
//! sat.set_character(Character::Tube);
//! let mut l = vec![0.5f32; 1024];
//! let mut r = vec![0.5f32; 1024];
//! sat.process_stereo(&mut l, &mut r);
//! assert_eq!(sat.latency(), 4);
//! ```

use crate::dynamics::fastmath::exp2_k;
use crate::oversampling::Oversampler;
use crate::oversampling::polyphase_iir::{HalfbandIir2x, ROUND_TRIP_LATENCY};
use crate::simd::avx2_fma;
use crate::util::flush_denormal;

/// The lowest oversampling factor that keeps the aliases of a 0 dBFS 5 kHz sine at 48 kHz,
/// driven at [`MAX_DRIVE_DB`], below -90 dBFS in the audio band (measured in
/// `tests/saturation_aliasing.rs`).
pub const RECOMMENDED_FACTOR: usize = 2;
/// Largest drive in dB.
pub const MAX_DRIVE_DB: f32 = 24.0;
/// Curve-input gain at 0 dB drive (a 0 dBFS peak meets the curve at this value).
pub const DRIVE_AT_0_DB: f32 = 0.125;
/// Bias of the tube curve (see the module docs).
pub const TUBE_BIAS: f32 = 0.35;
/// Glide time of drive and character changes, ms.
pub const DRIVE_GLIDE_MS: f32 = 20.0;
/// Corner of the DC-removing high-pass after the curve, Hz.
pub const DC_BLOCK_HZ: f64 = 2.0;

/// The saturation curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Character {
    /// Symmetric tanh: odd harmonics, tape-like.
    Tape,
    /// Biased tanh: even and odd harmonics, tube-like.
    Tube,
}

/// `tanh(x)` for finite `x`, absolute error below 2e-7 (uses the dynamics engine's polynomial
/// `exp2`, so it vectorises).
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    tanh_k::<false>(x)
}

/// [`tanh_fast`]; in the `FMA` instance its `exp2` polynomial runs as fused multiply-adds (only
/// instantiate `FMA = true` inside an `avx2,fma` function). Same error bound (unit-tested).
#[inline(always)]
fn tanh_k<const FMA: bool>(x: f32) -> f32 {
    // tanh|x| = (1 - e) / (1 + e), e = exp(-2|x|); exact for large |x| (e underflows to ~0).
    let a = x.abs().min(40.0);
    let e = exp2_k::<FMA>(a * (-2.0 * std::f32::consts::LOG2_E));
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// [`tape_curve`] on [`tanh_k`].
#[inline(always)]
fn tape_k<const FMA: bool>(u: f32) -> f32 {
    tanh_k::<FMA>(u)
}

/// [`tube_curve`] on [`tanh_k`].
#[inline(always)]
fn tube_k<const FMA: bool>(u: f32) -> f32 {
    let t = tube_offset();
    (tanh_k::<FMA>(u + TUBE_BIAS) - t) * (1.0 / (1.0 - t * t))
}

/// `tanh(TUBE_BIAS)`.
#[inline(always)]
fn tube_offset() -> f32 {
    // tanh(0.35) = 0.336_375_544_336... (Python math.tanh), rounded to f32.
    0.336_375_54
}

/// The tape curve at curve input `u` (small-signal slope 1).
#[inline(always)]
pub fn tape_curve(u: f32) -> f32 {
    tanh_fast(u)
}

/// The tube curve at curve input `u` (small-signal slope 1, zero at 0).
#[inline(always)]
pub fn tube_curve(u: f32) -> f32 {
    let t = tube_offset();
    (tanh_fast(u + TUBE_BIAS) - t) * (1.0 / (1.0 - t * t))
}

/// A linear glide of a value, shared by all channels of a block (copied per channel).
#[derive(Clone, Copy, Debug)]
struct Glide {
    /// Current value.
    value: f32,
    /// Value being approached.
    target: f32,
    /// Increment per step while gliding.
    step: f32,
    /// Steps left (0 = settled on `target`).
    left: u32,
}

impl Glide {
    fn new(v: f32) -> Self {
        Self {
            value: v,
            target: v,
            step: 0.0,
            left: 0,
        }
    }

    fn set(&mut self, target: f32, steps: u32) {
        if target == self.target {
            return;
        }
        self.target = target;
        let steps = steps.max(1);
        self.step = (target - self.value) / steps as f32;
        self.left = steps;
    }

    fn jump(&mut self, v: f32) {
        *self = Self::new(v);
    }

    #[inline(always)]
    fn next(&mut self) -> f32 {
        if self.left > 0 {
            self.left -= 1;
            self.value = if self.left == 0 {
                self.target
            } else {
                self.value + self.step
            };
        }
        self.value
    }
}

/// Oversampled saturation for up to `max_channels` channels.
///
/// Lifecycle: [`Saturator::new`] allocates; [`set_sample_rate`](Self::set_sample_rate),
/// [`reset`](Self::reset) and [`process`](Self::process) never allocate. The output is the
/// input delayed by [`latency`](Self::latency) samples (the oversampler's round trip; at 2x the
/// peak of the minimum-phase IIR half-band's impulse response, see the module docs).
#[derive(Debug, Clone)]
pub struct Saturator {
    /// Oversampling factor.
    factor: usize,
    /// FIR up/down sampler (factors other than 2).
    os: Option<Oversampler>,
    /// IIR half-band up/down sampler, channels in pairs (factor 2).
    iir: Option<HalfbandIir2x>,
    /// Oversampled block of the first channel of a pair (`2 max_block` at 2x, else empty).
    up_a: Vec<f32>,
    /// Oversampled block of the second channel of a pair.
    up_b: Vec<f32>,
    /// Discarded output of the missing partner of an odd last channel (`max_block` at 2x).
    spare: Vec<f32>,
    /// Base sample rate, Hz.
    fs: f32,
    /// Curve-input gain `g`, gliding at the oversampled rate.
    drive: Glide,
    /// Tape (0) to tube (1) crossfade, gliding at the oversampled rate.
    blend: Glide,
    /// DC blocker pole `r`.
    dc_r: f64,
    /// DC blocker state per channel, see [`DcState`].
    dc: Vec<DcState>,
    /// Shaper kernel chosen for this CPU at construction.
    shape: ShapeFn,
    /// The CPU runs the AVX2 + FMA DC blocker ([`dc_block_pair_fma`]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by x86-64 dispatch only
    dc_fma: bool,
    /// Largest block the oversampler accepts per call.
    max_block: usize,
}

impl Saturator {
    /// A saturator for up to `max_channels` channels, processing in chunks of up to `max_block`
    /// samples (any block length is accepted), oversampling by `factor` (1, 2, 4, 8 or 16).
    /// Starts at 48 kHz, 0 dB drive, tape.
    ///
    /// # Panics
    /// If `factor` is not one of 1, 2, 4, 8, 16, or `max_channels`/`max_block` is 0.
    pub fn new(max_channels: usize, max_block: usize, factor: usize) -> Self {
        assert!(
            max_channels > 0 && max_block > 0,
            "max_channels and max_block must be > 0"
        );
        let iir_path = factor == 2;
        let (os, iir) = if iir_path {
            (None, Some(HalfbandIir2x::new(max_channels)))
        } else {
            (
                Some(Oversampler::new(max_channels, max_block, factor)),
                None,
            )
        };
        let up_len = if iir_path { 2 * max_block } else { 0 };
        let mut s = Self {
            factor,
            os,
            iir,
            up_a: vec![0.0; up_len],
            up_b: vec![0.0; up_len],
            spare: vec![0.0; if iir_path { max_block } else { 0 }],
            fs: 48_000.0,
            drive: Glide::new(DRIVE_AT_0_DB),
            blend: Glide::new(0.0),
            dc_r: 0.0,
            dc: vec![DcState::default(); max_channels],
            max_block,
            shape: select_shape(),
            dc_fma: avx2_fma(),
        };
        s.set_sample_rate(48_000.0);
        s
    }

    /// Sets the sample rate (no allocation) and settles the glides.
    pub fn set_sample_rate(&mut self, fs: f32) {
        self.fs = fs;
        self.dc_r = 1.0 - 2.0 * std::f64::consts::PI * DC_BLOCK_HZ / fs as f64;
        self.drive.jump(self.drive.target);
        self.blend.jump(self.blend.target);
    }

    /// Clears the filter state and settles the glides (no allocation).
    pub fn reset(&mut self) {
        if let Some(os) = &mut self.os {
            os.reset();
        }
        if let Some(iir) = &mut self.iir {
            iir.reset();
        }
        self.dc.iter_mut().for_each(|d| *d = DcState::default());
        self.drive.jump(self.drive.target);
        self.blend.jump(self.blend.target);
    }

    /// Oversampling factor.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Latency in samples. At 2x (IIR half-band): where the round trip's impulse response peaks
    /// (4; the group delay is 3.44 samples at low frequencies and grows towards 20 kHz).
    /// Other factors (linear-phase FIR): exact, the output is the saturated input delayed by this
    /// much.
    pub fn latency(&self) -> usize {
        match &self.os {
            Some(os) => os.latency(),
            None => ROUND_TRIP_LATENCY,
        }
    }

    fn glide_steps(&self) -> u32 {
        (DRIVE_GLIDE_MS * 1e-3 * self.fs * self.factor as f32).round() as u32
    }

    /// Drive 0 to [`MAX_DRIVE_DB`] dB (clamped); glides over [`DRIVE_GLIDE_MS`].
    pub fn set_drive_db(&mut self, db: f32) {
        let db = if db.is_finite() {
            db.clamp(0.0, MAX_DRIVE_DB)
        } else {
            0.0
        };
        let g = DRIVE_AT_0_DB * 10f32.powf(db / 20.0);
        let steps = self.glide_steps();
        self.drive.set(g, steps);
    }

    /// Curve; a change crossfades over [`DRIVE_GLIDE_MS`].
    pub fn set_character(&mut self, c: Character) {
        let steps = self.glide_steps();
        self.blend.set(
            match c {
                Character::Tape => 0.0,
                Character::Tube => 1.0,
            },
            steps,
        );
    }

    /// Saturates every channel in place (output delayed by [`Self::latency`]).
    ///
    /// # Panics
    /// If more than `max_channels` channels are given or their lengths differ.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n = channels.first().map_or(0, |c| c.len());
        assert!(channels.iter().all(|c| c.len() == n), "lengths differ");
        let mut start = 0;
        while start < n {
            let len = self.max_block.min(n - start);
            let (drive0, blend0) = (self.drive, self.blend);
            let (mut drive1, mut blend1) = (drive0, blend0);
            if let Some(os) = &mut self.os {
                for (ch, buf) in channels.iter_mut().enumerate() {
                    let x = &mut buf[start..start + len];
                    let mut drive = drive0;
                    let mut blend = blend0;
                    let up = os.upsample(ch, x);
                    (self.shape)(up, &mut drive, &mut blend);
                    os.downsample(ch, x);
                    drive1 = drive;
                    blend1 = blend;
                }
            } else if let Some(iir) = &mut self.iir {
                let (ua, ub) = (&mut self.up_a[..2 * len], &mut self.up_b[..2 * len]);
                for (pair, bufs) in channels.chunks_mut(2).enumerate() {
                    let mut drive = drive0;
                    let mut blend = blend0;
                    match bufs {
                        [a, b] => {
                            let (a, b) = (&mut a[start..start + len], &mut b[start..start + len]);
                            iir.upsample(pair, a, b, ua, ub);
                            (self.shape)(ua, &mut drive, &mut blend);
                            let (mut d, mut bl) = (drive0, blend0);
                            (self.shape)(ub, &mut d, &mut bl);
                            iir.downsample(pair, ua, ub, a, b);
                        }
                        [a] => {
                            // Odd last channel: its lane partner carries a copy, discarded.
                            let a = &mut a[start..start + len];
                            iir.upsample(pair, a, a, ua, ub);
                            (self.shape)(ua, &mut drive, &mut blend);
                            iir.downsample(pair, ua, ua, a, &mut self.spare[..len]);
                        }
                        _ => unreachable!("chunks of 1 or 2"),
                    }
                    drive1 = drive;
                    blend1 = blend;
                }
            }
            // DC blocker, two channels per pass (their dependency chains overlap).
            let r = self.dc_r;
            let mut ch = 0;
            while ch + 1 < channels.len() {
                let (a, b) = channels[ch..].split_at_mut(1);
                let (sa, sb) = self.dc[ch..].split_at_mut(1);
                let (a, b) = (&mut a[0][start..start + len], &mut b[0][start..start + len]);
                #[cfg(target_arch = "x86_64")]
                if self.dc_fma {
                    // SAFETY: `dc_fma` is set only when the CPU has AVX2 and FMA.
                    unsafe { dc_block_pair_fma(r, a, b, &mut sa[0], &mut sb[0]) };
                    ch += 2;
                    continue;
                }
                dc_block(r, [a, b], [&mut sa[0], &mut sb[0]]);
                ch += 2;
            }
            if ch < channels.len() {
                dc_block(
                    r,
                    [&mut channels[ch][start..start + len]],
                    [&mut self.dc[ch]],
                );
            }
            self.drive = drive1;
            self.blend = blend1;
            start += len;
        }
    }

    /// [`Self::process`] on a stereo pair (benchmark entry point).
    pub fn process_stereo(&mut self, left: &mut [f32], right: &mut [f32]) {
        self.process(&mut [left, right]);
    }
}

/// DC blocker state of one channel (`f64`: the pole is within 3e-4 of 1).
#[derive(Clone, Copy, Debug, Default)]
struct DcState {
    /// Previous input `x[n-1]`.
    x1: f64,
    /// Previous input difference `x[n-1] - x[n-2]`.
    d1: f64,
    /// Previous output `y[n-1]`.
    y1: f64,
    /// Output before that, `y[n-2]`.
    y2: f64,
}

/// DC blocker `y[n] = x[n] - x[n-1] + r y[n-1]` over `L` channels in one pass, in place.
///
/// NOTE: computed two steps ahead, `y[n] = r^2 y[n-2] + (d[n] + r d[n-1])` with
/// `d[n] = x[n] - x[n-1]`: even and odd samples form two independent dependency chains, so with
/// two channels four chains overlap instead of one serial multiply-add per sample. Every sample
/// is computed the same way, so the result does not depend on how a block is split.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // sample `i` of every lane in one iteration
fn dc_block<const L: usize>(r: f64, xs: [&mut [f32]; L], st: [&mut DcState; L]) {
    let n = xs.first().map_or(0, |x| x.len());
    let r2 = r * r;
    let mut s: [DcState; L] = std::array::from_fn(|l| *st[l]);
    for i in 0..n {
        for l in 0..L {
            let v = &mut xs[l][i];
            let xi = *v as f64;
            let d = xi - s[l].x1;
            let y = r2 * s[l].y2 + (d + r * s[l].d1);
            s[l] = DcState {
                x1: xi,
                d1: d,
                y1: y,
                y2: s[l].y1,
            };
            *v = y as f32;
        }
    }
    for (dst, mut v) in st.into_iter().zip(s) {
        if !(v.x1.is_finite() && v.d1.is_finite() && v.y1.is_finite() && v.y2.is_finite()) {
            v = DcState::default();
        }
        *dst = DcState {
            x1: flush_denormal(v.x1),
            d1: flush_denormal(v.d1),
            y1: flush_denormal(v.y1),
            y2: flush_denormal(v.y2),
        };
    }
}

/// [`dc_block`] for a pair of channels on AVX2 + FMA: two samples of both channels per 256-bit
/// vector (lanes: channel `a` sample `i`, `i + 1`, channel `b` sample `i`, `i + 1`; the
/// two-ahead recursion makes the two samples independent), the multiply-adds fused. Every
/// sample, including an odd last one, computes `d = x - x[n-1]`,
/// `y = fma(r^2, y[n-2], fma(r, d[n-1], d))`, so the result does not depend on how a block is
/// split. (It differs from the unfused [`dc_block`] in the last bits of the `f64` state.)
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dc_block_pair_fma(
    r: f64,
    a: &mut [f32],
    b: &mut [f32],
    sa: &mut DcState,
    sb: &mut DcState,
) {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let r2 = r * r;
    // SAFETY: AVX2 + FMA (caller's contract); loads and stores stay below `n` (pairs `i + 1 < n`).
    unsafe {
        let (rv, r2v) = (_mm256_set1_pd(r), _mm256_set1_pd(r2));
        // Previous pair's x, d, y (only lanes 1 and 3, the later sample, are read for x and d;
        // y needs both: y[n-2], y[n-1]).
        let mut xp = _mm256_setr_pd(0.0, sa.x1, 0.0, sb.x1);
        let mut dp = _mm256_setr_pd(0.0, sa.d1, 0.0, sb.d1);
        let mut yp = _mm256_setr_pd(sa.y2, sa.y1, sb.y2, sb.y1);
        let (pa, pb) = (a.as_mut_ptr(), b.as_mut_ptr());
        let mut i = 0;
        while i + 1 < n {
            let la = _mm_castpd_ps(_mm_load_sd(pa.add(i) as *const f64));
            let lb = _mm_castpd_ps(_mm_load_sd(pb.add(i) as *const f64));
            let x = _mm256_cvtps_pd(_mm_movelh_ps(la, lb));
            // x[n-1] per lane: [xp1, x0, xp3, x2].
            let d = _mm256_sub_pd(x, _mm256_shuffle_pd::<0b0101>(xp, x));
            let v = _mm256_fmadd_pd(rv, _mm256_shuffle_pd::<0b0101>(dp, d), d);
            let y = _mm256_fmadd_pd(r2v, yp, v);
            let o = _mm256_cvtpd_ps(y);
            _mm_store_sd(pa.add(i) as *mut f64, _mm_castps_pd(o));
            _mm_storeh_pd(pb.add(i) as *mut f64, _mm_castps_pd(o));
            xp = x;
            dp = d;
            yp = y;
            i += 2;
        }
        let lane = |v: __m256d, k: usize| {
            let mut t = [0.0f64; 4];
            _mm256_storeu_pd(t.as_mut_ptr(), v);
            t[k]
        };
        let mut st = [
            DcState {
                x1: lane(xp, 1),
                d1: lane(dp, 1),
                y1: lane(yp, 1),
                y2: lane(yp, 0),
            },
            DcState {
                x1: lane(xp, 3),
                d1: lane(dp, 3),
                y1: lane(yp, 3),
                y2: lane(yp, 2),
            },
        ];
        if i < n {
            for (s, buf) in st.iter_mut().zip([&mut *a, &mut *b]) {
                let x = buf[i] as f64;
                let d = x - s.x1;
                let y = r2.mul_add(s.y2, r.mul_add(s.d1, d));
                *s = DcState {
                    x1: x,
                    d1: d,
                    y1: y,
                    y2: s.y1,
                };
                buf[i] = y as f32;
            }
        }
        for (dst, mut v) in [sa, sb].into_iter().zip(st) {
            if !(v.x1.is_finite() && v.d1.is_finite() && v.y1.is_finite() && v.y2.is_finite()) {
                v = DcState::default();
            }
            *dst = DcState {
                x1: flush_denormal(v.x1),
                d1: flush_denormal(v.d1),
                y1: flush_denormal(v.y1),
                y2: flush_denormal(v.y2),
            };
        }
    }
}

/// Signature of a block shaper (see [`shape`]).
type ShapeFn = fn(&mut [f32], &mut Glide, &mut Glide);

/// Picks the fastest shaper this CPU supports.
fn select_shape() -> ShapeFn {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx512() {
            return shape_avx512;
        }
        if avx2_fma() {
            return shape_fma;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return shape_avx2;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx2_fma;
    shape::<false>
}

/// [`shape`] with fused multiply-adds, compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn shape_fma_impl(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    shape::<true>(buf, drive, blend);
}

/// Safe entry point for [`shape_fma_impl`]; only ever selected after the feature check.
#[cfg(target_arch = "x86_64")]
fn shape_fma(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    // SAFETY: `select_shape` returns this function only when AVX2 and FMA were detected.
    unsafe { shape_fma_impl(buf, drive, blend) }
}

/// [`shape`] with fused multiply-adds, compiled for AVX-512 (16 samples per instruction; the
/// same arithmetic per sample as [`shape_fma_impl`], so the same result bit for bit).
///
/// # Safety
/// The CPU must support AVX-512F/VL/DQ, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn shape_avx512_impl(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    shape::<true>(buf, drive, blend);
}

/// Safe entry point for [`shape_avx512_impl`]; only ever selected after the feature check.
#[cfg(target_arch = "x86_64")]
fn shape_avx512(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    // SAFETY: `select_shape` returns this function only when `simd::avx512` said yes.
    unsafe { shape_avx512_impl(buf, drive, blend) }
}

/// [`shape`] compiled for AVX2 (8 samples per instruction instead of SSE2's 4; the arithmetic,
/// and so the result, is the same: no FMA contraction).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shape_avx2_impl(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    shape::<false>(buf, drive, blend);
}

/// Safe entry point for [`shape_avx2_impl`]; only ever selected after the feature check.
#[cfg(target_arch = "x86_64")]
fn shape_avx2(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    // SAFETY: `select_shape` returns this function only when AVX2 was detected.
    unsafe { shape_avx2_impl(buf, drive, blend) }
}

/// Applies the drive, the (blended) curve and the level compensation to an oversampled block.
#[inline(always)]
fn shape<const FMA: bool>(buf: &mut [f32], drive: &mut Glide, blend: &mut Glide) {
    let steady = drive.left == 0 && blend.left == 0;
    if steady {
        let g = drive.value;
        let inv = 1.0 / g;
        if blend.value == 0.0 {
            for v in buf.iter_mut() {
                *v = tape_k::<FMA>(sanitise(*v) * g) * inv;
            }
        } else if blend.value == 1.0 {
            for v in buf.iter_mut() {
                *v = tube_k::<FMA>(sanitise(*v) * g) * inv;
            }
        } else {
            let b = blend.value;
            for v in buf.iter_mut() {
                let u = sanitise(*v) * g;
                let (a, t) = (tape_k::<FMA>(u), tube_k::<FMA>(u));
                *v = (a + (t - a) * b) * inv;
            }
        }
        return;
    }
    // NOTE: the same arithmetic as the steady branches above for the same `g` and `b` (the
    // curve alone at `b` = 0 or 1, and `* (1 / g)`), so the sample at which a glide settles, which
    // depends on where a block starts, does not change the output (block-size invariance).
    for v in buf.iter_mut() {
        let g = drive.next();
        let b = blend.next();
        let u = sanitise(*v) * g;
        let (a, t) = (tape_k::<FMA>(u), tube_k::<FMA>(u));
        let c = if b == 0.0 {
            a
        } else if b == 1.0 {
            t
        } else {
            a + (t - a) * b
        };
        *v = c * (1.0 / g);
    }
}

/// Non-finite -> 0 (a NaN must not reach the oversampler's history).
#[inline(always)]
fn sanitise(x: f32) -> f32 {
    if x.is_finite() { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_fast_matches_library_tanh() {
        let mut worst = 0.0f64;
        for i in -40_000..=40_000 {
            let x = i as f32 * 1e-3;
            let e = (tanh_fast(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(e);
        }
        assert!(worst < 2e-7, "max error {worst}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fused_tanh_matches_library_tanh() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn worst() -> f64 {
            let mut worst = 0.0f64;
            for i in -40_000..=40_000 {
                let x = i as f32 * 1e-3;
                let e = (tanh_k::<true>(x) as f64 - (x as f64).tanh()).abs();
                worst = worst.max(e);
            }
            worst
        }
        if avx2_fma() {
            // SAFETY: features checked.
            let w = unsafe { worst() };
            assert!(w < 2e-7, "max error {w}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fused_dc_blocker_matches_the_portable_one_and_ignores_the_block_split() {
        if !avx2_fma() {
            return;
        }
        let r = 1.0 - 2.0 * std::f64::consts::PI * DC_BLOCK_HZ / 48_000.0;
        let mut rng = crate::signal::Rng::new(9);
        let input: Vec<[f32; 2]> = (0..5000)
            .map(|_| [rng.bipolar() as f32 + 0.3, rng.bipolar() as f32 - 0.2])
            .collect();
        let run = |chunk: usize, fused: bool| {
            let mut a: Vec<f32> = input.iter().map(|v| v[0]).collect();
            let mut b: Vec<f32> = input.iter().map(|v| v[1]).collect();
            let (mut sa, mut sb) = (DcState::default(), DcState::default());
            for (ca, cb) in a.chunks_mut(chunk).zip(b.chunks_mut(chunk)) {
                if fused {
                    // SAFETY: features checked above.
                    unsafe { dc_block_pair_fma(r, ca, cb, &mut sa, &mut sb) };
                } else {
                    dc_block(r, [ca, cb], [&mut sa, &mut sb]);
                }
            }
            (a, b)
        };
        let reference = run(64, false);
        let fused = run(64, true);
        for chunk in [1, 2, 7, 333, 5000] {
            assert!(run(chunk, true) == fused, "chunks of {chunk}");
        }
        let err = reference
            .0
            .iter()
            .chain(&reference.1)
            .zip(fused.0.iter().chain(&fused.1))
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err < 1e-6, "fused DC blocker off by {err}");
    }

    #[test]
    fn tube_offset_is_tanh_of_bias() {
        assert!((tube_offset() as f64 - (TUBE_BIAS as f64).tanh()).abs() < 1e-7);
    }

    #[test]
    fn curves_have_unit_small_signal_slope() {
        for f in [tape_curve, tube_curve] {
            let d = (f(1e-3) - f(-1e-3)) / 2e-3;
            assert!((d - 1.0).abs() < 1e-3, "{d}");
        }
    }
}
