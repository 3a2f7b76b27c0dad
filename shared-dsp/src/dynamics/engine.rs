//! The dynamics engine: detector -> gain computer -> log-domain ballistics -> gain signal.

use super::computer::{Compression, GainComputer, Lower};
use super::fastmath::{self, DB_PER_LOG2, LOG2_PER_DB};
use crate::filter::ButterworthHighPass;
use crate::simd::{madd, madd64};
use crate::smoothing::OnePole;
use crate::util::{flush_denormal, flush_denormal_f32};
use biquad::{Biquad, Coefficients, DirectForm2Transposed};
use std::ops::Range;

/// Samples processed per internal pass. Scratch lives in the struct, sized for this.
const CHUNK: usize = 64;

/// Highest sample rate the look-ahead delay is sized for in [`Dynamics::new`].
pub const MAX_SAMPLE_RATE: f32 = 384_000.0;
/// Longest look-ahead in milliseconds.
pub const MAX_LOOKAHEAD_MS: f32 = 5.0;
/// Longest detector window (RMS time constant / peak window) in milliseconds.
pub const MAX_DETECTOR_MS: f32 = 300.0;
/// Slow-stage charge time constant of the automatic release, in milliseconds (see
/// [`Dynamics::set_auto_release`]).
pub const AUTO_RELEASE_SUSTAIN_MS: f32 = 300.0;
/// Fast-stage release of the automatic release as a fraction of the release time.
pub const AUTO_RELEASE_FAST_FRACTION: f32 = 0.1;

/// Smallest linear detector value converted to dB (-300 dB for amplitude, -600 dB for power...
/// far below any threshold), so that `log2` never sees 0.
const LEVEL_FLOOR: f32 = 1e-30;
/// Largest linear detector value (+300 dB): keeps absurd finite input from overflowing to inf.
const LEVEL_CEIL: f32 = 1e30;
/// Detector input is clamped to +-this (+180 dBFS) so that `x * x` stays finite.
const INPUT_CLAMP: f32 = 1e9;
/// Detector input below this magnitude (-300 dBFS) is treated as 0 (its square is denormal).
const TINY_INPUT: f32 = 1e-15;
/// Added to every detector power sample (see [`power`]).
const POWER_BIAS: f32 = 1e-25;
/// Added to every gain-reduction / attenuation target (dB). The ballistics states then settle
/// at 1e-20 instead of decaying towards 0 through the denormal range (a classic anti-denormal
/// offset); 1e-20 dB changes no gain (exp2 rounds it to exactly 1) and meters read it as 0.
const TARGET_BIAS_DB: f32 = 1e-20;

/// What the detector measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectorMode {
    /// Sample peak: the largest `|x|` over a sliding window of between `detector_ms / 2` and
    /// `detector_ms` (two half-window peak registers; 0 ms = instantaneous `|x|`). For a steady
    /// periodic signal whose period is at most `detector_ms / 2` this is its sample peak.
    Peak,
    /// Mean square averaged by a one-pole filter with time constant `detector_ms`
    /// (`ms += (1 - exp(-1/(tau fs))) (x^2 - ms)`), reported as `10 log10(2 ms)` dB: RMS + 3.01 dB
    /// (the AES17 convention), so that a steady sine of peak level L dBFS reads L dB.
    Rms,
}

/// How channels are detected and gains applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StereoMode {
    /// Each channel is detected and gained as is (stereo link blends the detection levels).
    LeftRight,
    /// Stereo only: detect on mid `(L+R)/2` and side `(L-R)/2`; gain channel 0 is the mid gain,
    /// channel 1 the side gain, and [`Dynamics::apply_gain`] gains M and S and decodes to L/R.
    /// With another channel count the unit behaves as [`StereoMode::LeftRight`].
    MidSide,
}

/// Per-channel detector state.
#[derive(Clone, Debug)]
struct DetectorState {
    /// Sidechain high-pass filter (f64: a 20 Hz biquad at 192 kHz needs it).
    hpf: DirectForm2Transposed<f64>,
    /// RMS: the mean square. Peak: unused.
    ms: f32,
    /// Peak: maximum of the current half window.
    peak_cur: f32,
    /// Peak: maximum of the previous half window.
    peak_prev: f32,
    /// Peak: samples left in the current half window.
    peak_left: u32,
}

/// Per-path ballistics state (a path is one independently detected channel, or the linked one).
#[derive(Clone, Copy, Debug, Default)]
struct BallisticsState {
    /// Upper section gain reduction in dB (>= 0): the fast stage (the only one without auto).
    // NOTE: the ballistics state is `f64`: in `f32` a one-pole step below half an ulp of the
    // state is lost, so a 4 s release at 192 kHz stopped 0.37 dB short of its target (and a
    // 200 ms release at 48 kHz 0.005 dB short at 13.5 dB of reduction). The recursion costs the
    // same in `f64` (one fused multiply-add and one max per sample).
    fast: f64,
    /// Auto release slow stage, dB.
    slow: f64,
    /// Lower section attenuation in dB (>= 0).
    lower: f64,
    /// Gate open?
    gate_open: bool,
    /// Gate hold samples left.
    gate_hold: u32,
}

impl BallisticsState {
    /// The state with denormal-range dB values flushed (once per chunk).
    fn flushed(mut self) -> Self {
        self.fast = flush_denormal(self.fast);
        self.slow = flush_denormal(self.slow);
        self.lower = flush_denormal(self.lower);
        self
    }
}

/// Per-block coefficients, recomputed when a setter marked the unit dirty.
#[derive(Clone, Copy, Debug, Default)]
struct Coeffs {
    /// RMS one-pole coefficient.
    a_rms: f32,
    /// Peak half-window length in samples (0 = instantaneous).
    peak_half: u32,
    /// Attack / release one-pole coefficients (`f64`, like the ballistics state).
    a_att: f64,
    a_rel: f64,
    /// Auto release: fast-stage release, slow-stage charge and release coefficients.
    a_fast: f64,
    a_charge: f64,
    /// `1 - a` of each of the above (the pole, computed directly, not as `1 - a`).
    k_att: f64,
    k_rel: f64,
    k_fast: f64,
    k_charge: f64,
    /// Which of each coefficient pair is the larger (selects max or min in [`toward`]).
    att_ge_rel: bool,
    att_ge_fast: bool,
    charge_ge_rel: bool,
    /// Gate thresholds (dB) and hold in samples.
    gate_open_db: f32,
    gate_close_db: f32,
    gate_hold: u32,
    /// Gate attenuation when closed, dB.
    gate_range: f32,
    /// Look-ahead in samples.
    lookahead: usize,
    /// Total makeup target in dB.
    makeup_db: f32,
}

/// One-pole coefficient for time constant `ms` at `fs`: reaches 1 - 1/e of a step after `ms`.
///
/// Time constants under 0.07 samples (pole below 1e-6) are instantaneous (`a = 1`), so that
/// `state * (1 - a)` never lands in the denormal range.
fn one_pole(ms: f32, fs: f32) -> f32 {
    one_pole_f64(ms, fs).0 as f32
}

/// [`one_pole`] in `f64`: `(a, k)` with the pole `k` computed directly (`1 - a` rounded would
/// lose the low bits of a pole close to 1).
fn one_pole_f64(ms: f32, fs: f32) -> (f64, f64) {
    let k = if ms <= 0.0 {
        0.0
    } else {
        (-1000.0 / (ms as f64 * fs as f64)).exp()
    };
    if k < 1e-6 { (1.0, 0.0) } else { (1.0 - k, k) }
}

/// Detector power of one sample, `x^2 + POWER_BIAS`, with tiny `x` flushed first.
///
/// NOTE: anti-denormal design. Squares of |x| < 1e-15 would be denormal, and a mean square that
/// decays towards 0 would become denormal between the per-chunk flushes; the bias keeps every
/// operand of the averager >= ~1e-32 (a -247 dB floor, far below any threshold).
#[inline(always)]
fn power(x: f32) -> f32 {
    let x = if x.abs() < TINY_INPUT { 0.0 } else { x };
    x * x + POWER_BIAS
}

/// The shared dynamics engine (compressor, expander, gate).
///
/// Signal flow per sample: detector (optional sidechain high-pass, peak or RMS, on the input, on
/// an external sidechain, or on mid/side) -> stereo link -> level in dB -> static gain computer
/// ([`GainComputer`]) -> ballistics on the dB gain reduction -> makeup -> linear gain. The gain
/// goes into a caller buffer ([`Self::compute_gain`]); [`Self::apply_gain`] delays the audio by
/// the look-ahead and multiplies. [`Self::process`] does both.
///
/// # Ballistics (exact definitions)
/// Upper section, gain reduction `r` in dB, target `t` from the computer, per sample:
/// `r += a (t - r)` with `a = 1 - exp(-1 / (tau fs))`, `tau = attack` while `t > r` and
/// `tau = release` otherwise. So after a step the gain reduction covers 1 - 1/e = 63.2 % of the
/// change in dB after exactly the attack (release) time. (Measured from the input, the
/// detector adds its own lag: up to `detector_ms` of peak hold, or the RMS averager's time
/// constant; the tests use a 2 ms peak window.) The implementation evaluates both candidates
/// `r (1 - a) + t a` and keeps the larger or smaller (see `toward`), which is the same law
/// without a data-dependent branch.
///
/// Auto release ([`Self::set_auto_release`]): two stages run on the same target. The fast stage
/// attacks with the attack time and releases with `release * AUTO_RELEASE_FAST_FRACTION`; the
/// slow stage charges with `max(attack, AUTO_RELEASE_SUSTAIN_MS)` and releases with `release`.
/// The gain reduction is `max(fast, slow)`. After compression sustained for a time `d`, the slow
/// stage holds `1 - exp(-d / 300 ms)` of the gain reduction: after a short transient the
/// reduction recovers at the fast rate, after sustained compression at the slow one, with a
/// blend in between.
///
/// Lower section (expander / gate), attenuation `e` in dB: attack is the *opening* (attenuation
/// falling) time, release the *closing* time, same one-pole law and the same two settings.
/// The gate's state (open / closed with hysteresis and hold) is per path; its target is 0 dB
/// when open and `range_db` when closed.
///
/// # Gains and makeup
/// The gain is `makeup - r - e` in dB, converted to linear with a polynomial `exp2`
/// ([`super::fastmath`]). Makeup (manual + auto, [`Self::auto_makeup_db`]) moves through a
/// 20 ms one-pole in dB. Threshold, ratio, knee and range changes move the computer's target and
/// are smoothed by the ballistics, so they do not click.
///
/// # Look-ahead
/// The detector sees the input undelayed; the audio is delayed by [`Self::latency`] samples in
/// [`Self::apply_gain`]. The gain written by [`Self::compute_gain`] for input sample `n` applies to
/// the audio sample `n - latency`. Changing the look-ahead changes the latency (hosts restart).
///
/// # Example: a stereo bus compressor
/// ```
/// use shared_dsp::dynamics::{DetectorMode, Dynamics};
/// let mut comp = Dynamics::new(2, 1024);
/// comp.set_sample_rate(48_000.0);
/// comp.set_detector(DetectorMode::Rms);
/// comp.set_threshold_db(-20.0);
/// comp.set_ratio(4.0);
/// comp.set_auto_release(true);
/// let [mut l, mut r] = shared_dsp::signal::programme(48_000.0, 1.0, 1);
/// comp.process_stereo(&mut l, &mut r);
/// assert!(comp.gain_reduction_db() >= 0.0);
/// ```
#[derive(Debug)]
pub struct Dynamics {
    max_channels: usize,
    max_block: usize,
    fs: f32,
    dirty: bool,
    // Settings (recorded by the setters).
    detector: DetectorMode,
    detector_ms: f32,
    link: f32,
    stereo_mode: StereoMode,
    sc_hpf_hz: Option<f32>,
    attack_ms: f32,
    release_ms: f32,
    auto_release: bool,
    compression: Compression,
    lower: Lower,
    lookahead_ms: f32,
    makeup_db: f32,
    auto_makeup: bool,
    auto_makeup_ref_db: f32,
    /// The static curve with precomputed constants.
    computer: GainComputer,
    /// Derived per-block coefficients.
    co: Coeffs,
    /// Sidechain high-pass coefficients when enabled.
    hpf_coeffs: Option<Coefficients<f64>>,
    /// Detector state per detection channel.
    det: Vec<DetectorState>,
    /// Ballistics state per path.
    bal: Vec<BallisticsState>,
    /// Makeup gain smoother (dB domain, 20 ms).
    makeup: OnePole,
    /// Scratch: detector input, then level in dB, per detection channel.
    x_buf: Vec<[f32; CHUNK]>,
    /// Scratch: linear level, then upper target, then total gain dB, per channel.
    lvl_buf: Vec<[f32; CHUNK]>,
    /// Scratch: lower target per channel.
    low_buf: Vec<[f32; CHUNK]>,
    /// Scratch: makeup per sample of the chunk.
    mk_buf: [f32; CHUNK],
    /// Look-ahead delay lines (power-of-two rings), one per channel.
    delay: Vec<Vec<f32>>,
    /// Ring index mask.
    delay_mask: usize,
    /// Ring write position.
    delay_pos: usize,
    /// Gain scratch for [`Self::process`], `max_channels` x `max_block`.
    gain_scratch: Vec<Vec<f32>>,
    /// Current total gain reduction (upper + lower) per path, for meters.
    gr_db: Vec<f32>,
    /// Number of paths in the last block.
    last_paths: usize,
    /// Every gain written by the last [`Self::compute_impl`] call is exactly 1 (a settled,
    /// open gate or expander): [`Self::process`] then skips the multiply.
    unity: bool,
    /// Linear detector level from which an expander's attenuation is exactly 0, when the upper
    /// section is constant too (the strip's gate instance): a chunk at or above it everywhere
    /// needs neither the dB conversion nor the curve. Infinite otherwise. Set by `update`.
    open_level: f32,
    /// The CPU runs the AVX2 + FMA instance of the per-sample loops ([`crate::simd`]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by x86-64 dispatch only
    fma: bool,
    /// The CPU runs the AVX-512 instance ([`crate::simd::avx512`]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by x86-64 dispatch only
    avx512: bool,
}

impl Dynamics {
    /// A unit for up to `max_channels` audio (and sidechain) channels; [`Self::process`] works in
    /// sub-blocks of at most `max_block` samples. Allocates everything, including the look-ahead
    /// delay for [`MAX_LOOKAHEAD_MS`] at [`MAX_SAMPLE_RATE`]. Defaults: 48 kHz, RMS 10 ms,
    /// threshold -18 dB, ratio 4, knee 6 dB, attack 10 ms, release 100 ms, link 100 %.
    ///
    /// # Panics
    /// If `max_channels` or `max_block` is 0.
    pub fn new(max_channels: usize, max_block: usize) -> Self {
        assert!(max_channels > 0 && max_block > 0);
        let nch = max_channels.max(2);
        let delay_len =
            ((MAX_LOOKAHEAD_MS * 0.001 * MAX_SAMPLE_RATE).ceil() as usize + 1).next_power_of_two();
        let unity = Coefficients {
            a1: 0.0,
            a2: 0.0,
            b0: 1.0,
            b1: 0.0,
            b2: 0.0,
        };
        let det = DetectorState {
            hpf: DirectForm2Transposed::<f64>::new(unity),
            ms: 0.0,
            peak_cur: 0.0,
            peak_prev: 0.0,
            peak_left: 0,
        };
        let compression = Compression::default();
        let mut s = Self {
            max_channels,
            max_block,
            fs: 48_000.0,
            dirty: true,
            detector: DetectorMode::Rms,
            detector_ms: 10.0,
            link: 1.0,
            stereo_mode: StereoMode::LeftRight,
            sc_hpf_hz: None,
            attack_ms: 10.0,
            release_ms: 100.0,
            auto_release: false,
            compression,
            lower: Lower::Off,
            lookahead_ms: 0.0,
            makeup_db: 0.0,
            auto_makeup: false,
            auto_makeup_ref_db: 0.0,
            computer: GainComputer::new(compression, Lower::Off),
            co: Coeffs::default(),
            open_level: f32::INFINITY,
            hpf_coeffs: None,
            det: vec![det; nch],
            bal: vec![BallisticsState::default(); nch],
            makeup: OnePole::new(0.0, 20.0),
            x_buf: vec![[0.0; CHUNK]; nch],
            lvl_buf: vec![[0.0; CHUNK]; nch],
            low_buf: vec![[0.0; CHUNK]; nch],
            mk_buf: [0.0; CHUNK],
            delay: vec![vec![0.0; delay_len]; nch],
            delay_mask: delay_len - 1,
            delay_pos: 0,
            gain_scratch: vec![vec![0.0; max_block]; max_channels],
            gr_db: vec![0.0; nch],
            last_paths: 1,
            unity: false,
            fma: crate::simd::avx2_fma(),
            avx512: crate::simd::avx512(),
        };
        s.set_sample_rate(48_000.0);
        s
    }

    /// Sets the sample rate (no allocation). Look-ahead beyond the preallocated delay (above
    /// [`MAX_SAMPLE_RATE`]) is clamped.
    pub fn set_sample_rate(&mut self, fs: f32) {
        self.fs = fs;
        self.makeup.set_sample_rate(fs);
        self.dirty = true;
        self.update();
    }

    /// Clears all state (no allocation).
    pub fn reset(&mut self) {
        for d in &mut self.det {
            d.hpf.reset_state();
            d.ms = 0.0;
            d.peak_cur = 0.0;
            d.peak_prev = 0.0;
            d.peak_left = 0;
        }
        for b in &mut self.bal {
            *b = BallisticsState::default();
        }
        for g in &mut self.gr_db {
            *g = 0.0;
        }
        for d in &mut self.delay {
            d.fill(0.0);
        }
        self.delay_pos = 0;
        self.update();
        self.makeup.reset(self.co.makeup_db);
    }

    /// Detector mode (default RMS).
    pub fn set_detector(&mut self, mode: DetectorMode) {
        self.dirty |= store(&mut self.detector, mode);
    }
    /// RMS time constant or peak window in ms, 0 to [`MAX_DETECTOR_MS`] (default 10 ms).
    pub fn set_detector_ms(&mut self, ms: f32) {
        self.dirty |= store(&mut self.detector_ms, ms.clamp(0.0, MAX_DETECTOR_MS));
    }
    /// Stereo link 0-100 %: 0 = independent channels, 100 = every channel uses the largest
    /// channel level. In between, each channel's linear detector value (amplitude or mean square)
    /// moves that fraction of the way to the largest.
    pub fn set_stereo_link_percent(&mut self, percent: f32) {
        self.dirty |= store(&mut self.link, (percent * 0.01).clamp(0.0, 1.0));
    }
    /// Left/right or mid/side operation.
    pub fn set_stereo_mode(&mut self, mode: StereoMode) {
        self.dirty |= store(&mut self.stereo_mode, mode);
    }
    /// Sidechain high-pass (12 dB/oct Butterworth, RBJ biquad, Q = 0.7071) at 20-500 Hz, or off.
    pub fn set_sidechain_hpf_hz(&mut self, hz: Option<f32>) {
        self.dirty |= store(&mut self.sc_hpf_hz, hz.map(|f| f.clamp(20.0, 500.0)));
    }
    /// Compressor threshold in dB.
    pub fn set_threshold_db(&mut self, db: f32) {
        self.dirty |= store(&mut self.compression.threshold_db, db);
    }
    /// Compressor ratio, 1 to `f32::INFINITY`.
    pub fn set_ratio(&mut self, ratio: f32) {
        self.dirty |= store(&mut self.compression.ratio, ratio.max(1.0));
    }
    /// Knee width 0-24 dB.
    pub fn set_knee_db(&mut self, db: f32) {
        self.dirty |= store(&mut self.compression.knee_db, db.clamp(0.0, 24.0));
    }
    /// Maximum compressor gain reduction in dB (`f32::INFINITY` = unlimited).
    pub fn set_range_db(&mut self, db: f32) {
        self.dirty |= store(&mut self.compression.range_db, db.max(0.0));
    }
    /// The whole upper section at once.
    pub fn set_compression(&mut self, c: Compression) {
        self.dirty |= store(&mut self.compression, c);
    }
    /// The lower section (off, expander, gate).
    pub fn set_lower(&mut self, lower: Lower) {
        self.dirty |= store(&mut self.lower, lower);
    }
    /// Attack time constant in ms (see the type docs for the exact definition).
    pub fn set_attack_ms(&mut self, ms: f32) {
        self.dirty |= store(&mut self.attack_ms, ms.max(0.0));
    }
    /// Release time constant in ms.
    pub fn set_release_ms(&mut self, ms: f32) {
        self.dirty |= store(&mut self.release_ms, ms.max(0.0));
    }
    /// Programme-dependent (dual-stage) release, see the type docs.
    pub fn set_auto_release(&mut self, on: bool) {
        self.dirty |= store(&mut self.auto_release, on);
    }
    /// Look-ahead 0 to [`MAX_LOOKAHEAD_MS`] ms.
    pub fn set_lookahead_ms(&mut self, ms: f32) {
        self.dirty |= store(&mut self.lookahead_ms, ms.clamp(0.0, MAX_LOOKAHEAD_MS));
    }
    /// Manual makeup gain in dB (added to the auto makeup when that is on).
    pub fn set_makeup_db(&mut self, db: f32) {
        self.dirty |= store(&mut self.makeup_db, db);
    }
    /// Auto makeup: adds [`Self::auto_makeup_db`].
    pub fn set_auto_makeup(&mut self, on: bool) {
        self.dirty |= store(&mut self.auto_makeup, on);
    }
    /// Reference level for auto makeup (default 0 dBFS, as Giannoulis et al. 2012 suggest).
    pub fn set_auto_makeup_reference_db(&mut self, db: f32) {
        self.dirty |= store(&mut self.auto_makeup_ref_db, db);
    }

    /// Latency in samples: the look-ahead, rounded to samples (at most 1984 samples, i.e. 5 ms up
    /// to 396.8 kHz).
    pub fn latency(&self) -> usize {
        let la = (self.lookahead_ms as f64 * 0.001 * self.fs as f64).round() as usize;
        la.min(self.delay_mask + 1 - CHUNK)
    }

    /// The auto makeup gain in dB: the static curve's gain reduction at the reference level,
    /// `M = -gain_db(ref)` (Giannoulis et al. 2012, section 2.4, with ref = 0 dBFS): a signal
    /// peaking at the reference comes out at the reference.
    pub fn auto_makeup_db(&self) -> f32 {
        let gc = GainComputer::new(self.compression, self.lower);
        -gc.gain_db(self.auto_makeup_ref_db)
    }

    /// The static curve for the editor: output level in dB for a steady input level in dB
    /// (the detector's calibration: a sine's peak dBFS), including the makeup gain.
    pub fn curve(&self, level_db: f32) -> f32 {
        let gc = GainComputer::new(self.compression, self.lower);
        gc.curve(level_db) + self.total_makeup_db()
    }

    /// Current gain reduction in dB (>= 0, upper + lower sections, largest over channels) at the
    /// end of the last block, for meters.
    pub fn gain_reduction_db(&self) -> f32 {
        self.gr_db[..self.last_paths]
            .iter()
            .fold(0.0f32, |m, &g| m.max(g))
    }

    /// Current gain reduction in dB of gain channel `channel` (in mid/side mode 0 = mid,
    /// 1 = side) at the end of the last block.
    pub fn gain_reduction_db_channel(&self, channel: usize) -> f32 {
        self.gr_db[channel.min(self.last_paths - 1)]
    }

    fn total_makeup_db(&self) -> f32 {
        self.makeup_db
            + if self.auto_makeup {
                self.auto_makeup_db()
            } else {
                0.0
            }
    }

    /// Recomputes coefficients if a setter changed something.
    fn update(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let fs = self.fs;
        self.computer.set(self.compression, self.lower);
        let lookahead = self.latency();
        let makeup_db = self.total_makeup_db();
        let co = &mut self.co;
        co.a_rms = one_pole(self.detector_ms, fs);
        co.peak_half = (self.detector_ms * 0.0005 * fs).round() as u32;
        (co.a_att, co.k_att) = one_pole_f64(self.attack_ms, fs);
        (co.a_rel, co.k_rel) = one_pole_f64(self.release_ms, fs);
        (co.a_fast, co.k_fast) = one_pole_f64(self.release_ms * AUTO_RELEASE_FAST_FRACTION, fs);
        (co.a_charge, co.k_charge) = one_pole_f64(self.attack_ms.max(AUTO_RELEASE_SUSTAIN_MS), fs);
        co.att_ge_rel = co.a_att >= co.a_rel;
        co.att_ge_fast = co.a_att >= co.a_fast;
        co.charge_ge_rel = co.a_charge >= co.a_rel;
        if let Lower::Gate {
            open_db,
            close_db,
            hold_ms,
            ..
        } = self.lower
        {
            co.gate_open_db = open_db;
            co.gate_close_db = close_db.min(open_db);
            co.gate_hold = (hold_ms.max(0.0) * 0.001 * fs).round() as u32;
        }
        co.gate_range = self.computer.l_range;
        if co.lookahead != lookahead {
            // A new delay starts from silence rather than from stale samples (no allocation).
            for line in &mut self.delay {
                line.fill(0.0);
            }
            self.delay_pos = 0;
        }
        co.lookahead = lookahead;
        co.makeup_db = makeup_db;
        self.hpf_coeffs = self
            .sc_hpf_hz
            .map(|f| ButterworthHighPass::coefficients(f, fs));
        if let Some(c) = self.hpf_coeffs {
            for d in &mut self.det {
                d.hpf.update_coefficients(c);
            }
        }
        self.makeup.set_target(co.makeup_db);
        self.open_level = self.expander_open_level();
    }

    /// Detector level to dB: `dB = scale log2(level) + offset`.
    fn db_scale_offset(&self) -> (f32, f32) {
        match self.detector {
            // 10 log10(2 ms) = 3.0103 (log2(ms) + 1).
            DetectorMode::Rms => (0.5 * DB_PER_LOG2, 0.5 * DB_PER_LOG2),
            DetectorMode::Peak => (DB_PER_LOG2, 0.0),
        }
    }

    /// See [`Self::open_level`]: the level is at least 0.01 dB above threshold + half knee, far
    /// beyond the error of the polynomial log2.
    fn expander_open_level(&self) -> f32 {
        let gc = self.computer;
        let upper_const = gc.u_slope == 0.0 && gc.u_thr.is_finite();
        match self.lower {
            Lower::Expander { .. } if upper_const => {
                let (scale, offset) = self.db_scale_offset();
                let db = gc.l_thr as f64 + gc.l_hw as f64 + 0.01;
                let v = ((db - offset as f64) / scale as f64).exp2() as f32;
                // NaN thresholds never take the shortcut.
                if v.is_nan() { f32::INFINITY } else { v }
            }
            _ => f32::INFINITY,
        }
    }

    /// Computes the linear gain for every sample of `input` into `gain` (one slice per input
    /// channel; in mid/side mode channel 0 is the mid gain, 1 the side gain). When `sidechain`
    /// is given, detection runs on it instead of the input (a mono sidechain controls all
    /// channels). The gain for input sample `n` applies to audio sample `n - latency()`.
    ///
    /// # Panics
    /// If `input` is empty or has more than `max_channels` channels, if the sidechain has no or
    /// more than `max_channels` channels, if `gain` has fewer channels than `input`, or if any
    /// slice is shorter than `input[0]`.
    pub fn compute_gain(
        &mut self,
        input: &[&[f32]],
        sidechain: Option<&[&[f32]]>,
        gain: &mut [&mut [f32]],
    ) {
        let n = input.first().map_or(0, |c| c.len());
        self.compute_impl(input, sidechain, 0..n, gain);
    }

    /// Delays `audio` by the look-ahead and multiplies it by `gain` (from [`Self::compute_gain`]
    /// on the same block); in mid/side mode gains mid and side and decodes back to L/R.
    /// Non-finite samples become 0.
    ///
    /// # Panics
    /// If `audio` has more than `max_channels` channels, `gain` fewer than `audio`, or slices are
    /// shorter than `audio[0]`.
    pub fn apply_gain(&mut self, audio: &mut [&mut [f32]], gain: &[&[f32]]) {
        let n = audio.first().map_or(0, |c| c.len());
        self.apply_impl(audio, 0..n, gain);
    }

    /// Computes and applies the gain in place, in sub-blocks of at most `max_block` samples.
    ///
    /// # Panics
    /// As [`Self::compute_gain`] and [`Self::apply_gain`].
    pub fn process(&mut self, audio: &mut [&mut [f32]], sidechain: Option<&[&[f32]]>) {
        let n = audio.first().map_or(0, |c| c.len());
        let mut gain = std::mem::take(&mut self.gain_scratch);
        let mut start = 0;
        while start < n {
            let end = (start + self.max_block).min(n);
            self.compute_impl(&*audio, sidechain, start..end, &mut gain);
            // NOTE: `x * 1.0 == x` for every `x`, so a unity gain without look-ahead needs no
            // multiply (mid/side would still re-encode, so it always runs).
            let ms_mode = self.stereo_mode == StereoMode::MidSide && audio.len() == 2;
            if !(self.unity && self.co.lookahead == 0 && !ms_mode) {
                self.apply_impl(audio, start..end, &gain);
            }
            start = end;
        }
        self.gain_scratch = gain;
    }

    /// [`Self::process`] on a stereo pair without sidechain: the entry point for benchmarks.
    pub fn process_stereo(&mut self, left: &mut [f32], right: &mut [f32]) {
        let mut audio: [&mut [f32]; 2] = [left, right];
        self.process(&mut audio, None);
    }

    /// Computes the gain for `range`, with the AVX2 + FMA instance when the CPU has it.
    fn compute_impl<A: AsRef<[f32]>, G: AsMut<[f32]>>(
        &mut self,
        input: &[A],
        sidechain: Option<&[&[f32]]>,
        range: Range<usize>,
        gain: &mut [G],
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: `avx512` is set only when the CPU has AVX-512 F/VL/DQ, AVX2 and FMA.
            unsafe { self.compute_avx512(input, sidechain, range, gain) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.fma {
            // SAFETY: `fma` is set only when the CPU has AVX2 and FMA.
            unsafe { self.compute_fma(input, sidechain, range, gain) };
            return;
        }
        self.compute_body::<A, G, false>(input, sidechain, range, gain);
    }

    /// [`Self::compute_body`] compiled for AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn compute_fma<A: AsRef<[f32]>, G: AsMut<[f32]>>(
        &mut self,
        input: &[A],
        sidechain: Option<&[&[f32]]>,
        range: Range<usize>,
        gain: &mut [G],
    ) {
        self.compute_body::<A, G, true>(input, sidechain, range, gain);
    }

    /// [`Self::compute_body`] compiled for AVX-512 (the vectorised passes use 16 lanes; the
    /// arithmetic per sample is the FMA instance's, so the result is the same bit for bit).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
    unsafe fn compute_avx512<A: AsRef<[f32]>, G: AsMut<[f32]>>(
        &mut self,
        input: &[A],
        sidechain: Option<&[&[f32]]>,
        range: Range<usize>,
        gain: &mut [G],
    ) {
        self.compute_body::<A, G, true>(input, sidechain, range, gain);
    }

    /// The per-sample work of [`Self::compute_impl`]; `FMA` fuses the multiply-adds of the
    /// recursive chains (the RMS averager and the ballistics), which halves their latency.
    #[inline(always)]
    fn compute_body<A: AsRef<[f32]>, G: AsMut<[f32]>, const FMA: bool>(
        &mut self,
        input: &[A],
        sidechain: Option<&[&[f32]]>,
        range: Range<usize>,
        gain: &mut [G],
    ) {
        self.update();
        let n_out = input.len();
        assert!(
            n_out >= 1 && n_out <= self.max_channels,
            "bad channel count"
        );
        assert!(gain.len() >= n_out, "gain needs one slice per channel");
        let n_det = sidechain.map_or(n_out, |s| s.len());
        assert!(n_det >= 1 && n_det <= self.max_channels, "bad sidechain");
        let ms_mode = self.stereo_mode == StereoMode::MidSide && n_out == 2;
        let ms_det = ms_mode && n_det == 2;
        let linked = self.link >= 1.0 || n_det == 1;
        let paths = if linked { 1 } else { n_det };
        // Paths that start now (link dropped below 100 %, more sidechain channels) continue from
        // the linked path's state instead of a stale one.
        for q in self.last_paths..paths {
            self.bal[q] = self.bal[0];
        }
        self.last_paths = paths;
        let co = self.co;
        self.unity = true;
        let (scale, offset) = self.db_scale_offset();
        let gc = self.computer;
        let upper_const = gc.u_slope == 0.0 && gc.u_thr.is_finite();
        let open_level = self.open_level;
        let mut pos = range.start;
        while pos < range.end {
            let m = CHUNK.min(range.end - pos);
            let out_off = pos - range.start;
            let hpf_on = self.hpf_coeffs.is_some();
            // Linked peak detection with aligned half windows (the usual case) reads the input
            // itself when there is nothing to do to it first (it sanitises as it reads).
            let linked_peak_case = self.detector == DetectorMode::Peak
                && linked
                && co.peak_half > 0
                && self.det[1..n_det]
                    .iter()
                    .all(|st| st.peak_left == self.det[0].peak_left);
            let direct = linked_peak_case && !hpf_on && !ms_det && n_det <= 2;
            // 1. Detector input: sanitised, optionally mid/side, optionally high-passed.
            for d in (0..n_det).filter(|_| !direct) {
                let xb = &mut self.x_buf[d][..m];
                let src = |k: usize| -> &[f32] {
                    match sidechain {
                        Some(s) => &s[k][pos..pos + m],
                        None => &input[k].as_ref()[pos..pos + m],
                    }
                };
                if ms_det {
                    let (a, b) = (src(0), src(1));
                    let sign = if d == 0 { 0.5 } else { -0.5 };
                    for i in 0..m {
                        xb[i] = clean(0.5 * a[i] + sign * b[i]);
                    }
                } else {
                    for (o, &x) in xb.iter_mut().zip(src(d)) {
                        *o = clean(x);
                    }
                }
            }
            // NOTE: with the RMS detector the high-pass runs fused into the mean-square loop
            // below (its recursive chain then overlaps the averager's).
            if hpf_on && self.detector == DetectorMode::Peak {
                // Channels in pairs, so that the two biquads' recursive chains overlap.
                let mut d = 0;
                while d < n_det {
                    if d + 1 < n_det {
                        let (x0, x1) = pair(&mut self.x_buf, d);
                        let (s0, s1) = pair(&mut self.det, d);
                        let (h0, h1) = (&mut s0.hpf, &mut s1.hpf);
                        for i in 0..m {
                            x0[i] = h0.run(x0[i] as f64) as f32;
                            x1[i] = h1.run(x1[i] as f64) as f32;
                        }
                        d += 2;
                    } else {
                        let h = &mut self.det[d].hpf;
                        for x in self.x_buf[d][..m].iter_mut() {
                            *x = h.run(*x as f64) as f32;
                        }
                        d += 1;
                    }
                }
                for st in &mut self.det[..n_det] {
                    st.hpf.s1 = crate::util::flush_denormal(st.hpf.s1);
                    st.hpf.s2 = crate::util::flush_denormal(st.hpf.s2);
                }
            }
            // 2. Envelope: linear detector value per detection channel.
            let mut linked_done = false;
            if self.detector == DetectorMode::Rms {
                // NOTE: `ms = k ms + a x^2` (k = 1 - a) is the one-pole of the docs with a
                // 2-operation recursive chain; channels are run in pairs so that the two
                // independent chains overlap (the loop is latency-bound, not throughput-bound).
                let (a, k) = (co.a_rms, 1.0 - co.a_rms);
                let mut d = 0;
                while d < n_det {
                    if d + 1 < n_det {
                        let (x0, x1) = pair(&mut self.x_buf, d);
                        let (l0, l1) = pair(&mut self.lvl_buf, d);
                        let (s0, s1) = pair(&mut self.det, d);
                        let (mut m0, mut m1) = (s0.ms, s1.ms);
                        if hpf_on {
                            let (h0, h1) = (&mut s0.hpf, &mut s1.hpf);
                            for i in 0..m {
                                let y0 = h0.run(x0[i] as f64) as f32;
                                let y1 = h1.run(x1[i] as f64) as f32;
                                m0 = madd::<FMA>(m0, k, a * power(y0));
                                m1 = madd::<FMA>(m1, k, a * power(y1));
                                l0[i] = m0;
                                l1[i] = m1;
                            }
                        } else {
                            for i in 0..m {
                                m0 = madd::<FMA>(m0, k, a * power(x0[i]));
                                m1 = madd::<FMA>(m1, k, a * power(x1[i]));
                                l0[i] = m0;
                                l1[i] = m1;
                            }
                        }
                        s0.ms = flush_denormal_f32(m0);
                        s1.ms = flush_denormal_f32(m1);
                        d += 2;
                    } else {
                        let (xb, lv, st) = (&self.x_buf[d], &mut self.lvl_buf[d], &mut self.det[d]);
                        let mut ms = st.ms;
                        if hpf_on {
                            for i in 0..m {
                                let y = st.hpf.run(xb[i] as f64) as f32;
                                ms = madd::<FMA>(ms, k, a * power(y));
                                lv[i] = ms;
                            }
                        } else {
                            for i in 0..m {
                                ms = madd::<FMA>(ms, k, a * power(xb[i]));
                                lv[i] = ms;
                            }
                        }
                        st.ms = flush_denormal_f32(ms);
                        d += 1;
                    }
                }
                if hpf_on {
                    for st in &mut self.det[..n_det] {
                        st.hpf.s1 = crate::util::flush_denormal(st.hpf.s1);
                        st.hpf.s2 = crate::util::flush_denormal(st.hpf.s2);
                    }
                }
            } else if linked_peak_case {
                // Linked peak detection: writes the linked level straight into lvl_buf[0]
                // (step 3 is then the identity).
                let (det, out) = (&mut self.det[..n_det], &mut self.lvl_buf[0][..m]);
                if direct {
                    let src = |k: usize| -> &[f32] {
                        match sidechain {
                            Some(s) => &s[k][pos..pos + m],
                            None => &input[k].as_ref()[pos..pos + m],
                        }
                    };
                    let srcs = [src(0), src(n_det - 1)];
                    linked_peak::<FMA, _>(det, &srcs[..n_det], out, co.peak_half);
                } else {
                    linked_peak::<FMA, _>(det, &self.x_buf[..n_det], out, co.peak_half);
                }
                linked_done = true;
            } else {
                for d in 0..n_det {
                    let xb = &self.x_buf[d][..m];
                    let lv = &mut self.lvl_buf[d][..m];
                    let st = &mut self.det[d];
                    if co.peak_half == 0 {
                        for (o, &x) in lv.iter_mut().zip(xb) {
                            *o = x.abs();
                        }
                    } else {
                        let (mut cur, mut prev, mut left) =
                            (st.peak_cur, st.peak_prev, st.peak_left);
                        for (o, &x) in lv.iter_mut().zip(xb) {
                            if left == 0 {
                                prev = cur;
                                cur = 0.0;
                                left = co.peak_half;
                            }
                            left -= 1;
                            cur = cur.max(x.abs());
                            *o = cur.max(prev);
                        }
                        st.peak_cur = cur;
                        st.peak_prev = prev;
                        st.peak_left = left;
                    }
                }
            }
            // 3. Stereo link.
            if n_det > 1 && self.link > 0.0 && !linked_done {
                let link = self.link;
                let (first, rest) = self.lvl_buf.split_at_mut(1);
                let l0 = &mut first[0];
                for i in 0..m {
                    let mut mx = l0[i];
                    for r in rest[..n_det - 1].iter() {
                        mx = mx.max(r[i]);
                    }
                    if linked {
                        l0[i] = mx;
                    } else {
                        l0[i] += link * (mx - l0[i]);
                        for r in rest[..n_det - 1].iter_mut() {
                            r[i] += link * (mx - r[i]);
                        }
                    }
                }
            }
            // 4. Level in dB (into x_buf) and the computer's targets.
            // NOTE: a ratio-1 upper section (the strip's gate instance) has the constant target
            // `0 + TARGET_BIAS_DB` (exactly what `upper_gr_db` returns for a finite threshold).
            for p in 0..paths {
                let lv = &mut self.lvl_buf[p][..m];
                let xd = &mut self.x_buf[p][..m];
                let lo = &mut self.low_buf[p][..m];
                if open_level < f32::INFINITY && min_of(lv) >= open_level {
                    // Expander open over the whole chunk: both targets are the bias (what the
                    // loops below give); the level in dB is only needed by a gate.
                    lv.fill(TARGET_BIAS_DB);
                    lo.fill(TARGET_BIAS_DB);
                    continue;
                }
                levels_and_targets(
                    lv,
                    xd,
                    lo,
                    (scale, offset),
                    &gc,
                    upper_const,
                    matches!(self.lower, Lower::Expander { .. }),
                );
            }
            // 5. Makeup per sample (the smoother is deterministic, so block-size invariant).
            let mk_const = self.makeup.is_steady();
            {
                // NOTE: at the smoother's fixed point the whole chunk is constant (exactly what
                // stepping per sample would give).
                if mk_const {
                    self.mk_buf[..m].fill(self.makeup.value());
                } else {
                    for o in self.mk_buf[..m].iter_mut() {
                        *o = self.makeup.next();
                    }
                }
            }
            // 6. Ballistics per path (pairs of paths interleaved); the total gain in dB goes
            // into lvl_buf.
            if matches!(self.lower, Lower::Gate { .. }) {
                for p in 0..paths {
                    let (st, xd) = (&mut self.bal[p], &self.x_buf[p][..m]);
                    gate_targets(st, &co, xd, &mut self.low_buf[p][..m]);
                }
            }
            // Paths whose whole chunk has one gain (both sections settled, see below).
            let mut const_paths = 0;
            let mut p = 0;
            while p < paths {
                let n = if p + 1 < paths { 2 } else { 1 };
                let auto = self.auto_release;
                let lower = !matches!(self.lower, Lower::Off);
                let upper = !(upper_const
                    && self.bal[p..p + n].iter().all(|st| {
                        if auto {
                            upper_settled::<true, FMA>(st, &co)
                        } else {
                            upper_settled::<false, FMA>(st, &co)
                        }
                    }));
                let mk = &self.mk_buf[..m];
                // NOTE: with both sections at the fixed point of their step for a target that
                // is constant over the chunk (an open, settled gate) and steady makeup, every
                // sample's gain is the same: `makeup - (r + e)`, bit for bit what the loop gives.
                let settled = lower
                    && !upper
                    && mk_const
                    && (p..p + n)
                        .all(|q| lower_settled::<FMA>(&self.bal[q], &co, &self.low_buf[q][..m]));
                if settled {
                    for q in p..p + n {
                        let st = &mut self.bal[q];
                        let r = if auto { st.fast.max(st.slow) } else { st.fast };
                        self.lvl_buf[q][..m].fill(mk[0] - (r + st.lower) as f32);
                        *st = st.flushed();
                    }
                    const_paths += n;
                }
                let args = (
                    &mut self.bal[p..p + n],
                    &mut self.lvl_buf[p..p + n],
                    &self.low_buf[p..p + n],
                );
                match (auto, lower, upper) {
                    _ if settled => {}
                    (false, false, _) => ballistics::<false, false, true, FMA>(&co, args, mk, m),
                    (true, false, _) => ballistics::<true, false, true, FMA>(&co, args, mk, m),
                    (false, true, true) => ballistics::<false, true, true, FMA>(&co, args, mk, m),
                    (true, true, true) => ballistics::<true, true, true, FMA>(&co, args, mk, m),
                    (false, true, false) => ballistics::<false, true, false, FMA>(&co, args, mk, m),
                    (true, true, false) => ballistics::<true, true, false, FMA>(&co, args, mk, m),
                }
                for q in p..p + n {
                    let st = &self.bal[q];
                    let v = (st.fast.max(st.slow) + st.lower) as f32;
                    // The anti-denormal target bias (1e-20 dB) reads as 0.
                    self.gr_db[q] = if v < 1e-6 { 0.0 } else { v };
                }
                p += n;
            }
            // 7. Linear gain into the caller's buffer (computed once per path, then copied).
            for c in 0..n_out {
                let p = if linked { 0 } else { c.min(paths - 1) };
                if p < c {
                    let (done, rest) = gain.split_at_mut(c);
                    rest[0].as_mut()[out_off..out_off + m]
                        .copy_from_slice(&done[p].as_mut()[out_off..out_off + m]);
                } else {
                    let out = &mut gain[c].as_mut()[out_off..out_off + m];
                    if const_paths == paths {
                        let g = fastmath::exp2(self.lvl_buf[p][0] * LOG2_PER_DB);
                        self.unity &= g == 1.0;
                        out.fill(g);
                    } else {
                        self.unity = false;
                        for (o, &db) in out.iter_mut().zip(&self.lvl_buf[p][..m]) {
                            *o = fastmath::exp2(db * LOG2_PER_DB);
                        }
                    }
                }
            }
            pos += m;
        }
    }

    fn apply_impl<C: AsMut<[f32]>, G: AsRef<[f32]>>(
        &mut self,
        audio: &mut [C],
        range: Range<usize>,
        gain: &[G],
    ) {
        let n_ch = audio.len();
        assert!(n_ch <= self.max_channels && gain.len() >= n_ch);
        let la = self.co.lookahead;
        let len = range.len();
        if la > 0 {
            // NOTE: the ring is written and read in contiguous runs of at most CHUNK samples
            // (memcpy speed instead of a masked index per sample). Writing a run before reading
            // is safe because `latency()` keeps `la <= size - CHUNK`.
            let mask = self.delay_mask;
            let size = mask + 1;
            for (c, ch) in audio.iter_mut().enumerate() {
                let line = &mut self.delay[c];
                let mut w = self.delay_pos;
                for seg in ch.as_mut()[range.clone()].chunks_mut(CHUNK) {
                    let n = seg.len();
                    let first = n.min(size - w);
                    let (a, b) = seg.split_at(first);
                    for (d, &x) in line[w..w + first].iter_mut().zip(a) {
                        *d = if x.is_finite() { x } else { 0.0 };
                    }
                    for (d, &x) in line[..n - first].iter_mut().zip(b) {
                        *d = if x.is_finite() { x } else { 0.0 };
                    }
                    let r = (w + size - la) & mask;
                    let first = n.min(size - r);
                    seg[..first].copy_from_slice(&line[r..r + first]);
                    seg[first..].copy_from_slice(&line[..n - first]);
                    w = (w + n) & mask;
                }
            }
            self.delay_pos = (self.delay_pos + len) & mask;
        }
        let ms_mode = self.stereo_mode == StereoMode::MidSide && n_ch == 2;
        if ms_mode {
            let (l, r) = audio.split_at_mut(1);
            let (l, r) = (&mut l[0].as_mut()[range.clone()], &mut r[0].as_mut()[range]);
            let (gm, gs) = (&gain[0].as_ref()[..len], &gain[1].as_ref()[..len]);
            for i in 0..len {
                if !(l[i].is_finite() && r[i].is_finite()) {
                    l[i] = if l[i].is_finite() { l[i] } else { 0.0 };
                    r[i] = if r[i].is_finite() { r[i] } else { 0.0 };
                }
                let mid = 0.5 * (l[i] + r[i]) * gm[i];
                let side = 0.5 * (l[i] - r[i]) * gs[i];
                l[i] = mid + side;
                r[i] = mid - side;
            }
        } else {
            for (ch, g) in audio.iter_mut().zip(gain) {
                for (x, &g) in ch.as_mut()[range.clone()]
                    .iter_mut()
                    .zip(&g.as_ref()[..len])
                {
                    *x *= g;
                }
            }
        }
    }
}

/// Step 4 of `compute_body` over one chunk of one path: the detector level `lv` (linear) to dB
/// in `xd` (`scale * log2 + offset`), the upper section's target into `lv` (the constant bias
/// when `upper_const`), the expander's into `lo` when `expander`.
///
/// NOTE: a function of its own so that the slices are distinct arguments: written inline over
/// buffers reached through `self`, the compiler could not rule out aliasing and left the loops
/// scalar.
#[inline(always)]
fn levels_and_targets(
    lv: &mut [f32],
    xd: &mut [f32],
    lo: &mut [f32],
    (scale, offset): (f32, f32),
    gc: &GainComputer,
    upper_const: bool,
    expander: bool,
) {
    let m = lv.len();
    let (xd, lo) = (&mut xd[..m], &mut lo[..m]);
    if upper_const {
        for (l, x) in lv.iter_mut().zip(xd.iter_mut()) {
            let v = l.clamp(LEVEL_FLOOR, LEVEL_CEIL);
            *x = fastmath::log2(v) * scale + offset;
            *l = TARGET_BIAS_DB;
        }
    } else {
        for (l, x) in lv.iter_mut().zip(xd.iter_mut()) {
            let v = l.clamp(LEVEL_FLOOR, LEVEL_CEIL);
            let db = fastmath::log2(v) * scale + offset;
            *x = db;
            *l = gc.upper_gr_db(db) + TARGET_BIAS_DB;
        }
    }
    if expander {
        for (o, &x) in lo.iter_mut().zip(xd.iter()) {
            *o = gc.expander_db(x) + TARGET_BIAS_DB;
        }
    }
}

/// `a > b ? a : b`: the same as `f32::max` for the non-NaN values the detector sees, and one
/// instruction (no NaN fix-up) on x86.
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// Smallest value of `x` (+inf when empty; eight independent accumulators, so that it
/// vectorises). For NaN-free `x`.
#[inline(always)]
fn min_of(x: &[f32]) -> f32 {
    let mut acc = [f32::INFINITY; 8];
    let mut it = x.chunks_exact(8);
    for c in &mut it {
        for j in 0..8 {
            acc[j] = if c[j] < acc[j] { c[j] } else { acc[j] };
        }
    }
    let mut r = f32::INFINITY;
    for &v in it.remainder() {
        r = if v < r { v } else { r };
    }
    acc.iter().fold(r, |m, &a| if a < m { a } else { m })
}

/// Largest `clean(x).abs()` of `x` and `init` (eight independent accumulators, so that it
/// vectorises).
#[inline(always)]
fn abs_max(init: f32, x: &[f32]) -> f32 {
    let mut acc = [init; 8];
    let mut it = x.chunks_exact(8);
    for c in &mut it {
        for j in 0..8 {
            acc[j] = fmax(acc[j], clean_abs(c[j]));
        }
    }
    let mut r = init;
    for &v in it.remainder() {
        r = fmax(r, clean_abs(v));
    }
    acc.iter().fold(r, |m, &a| fmax(m, a))
}

/// Peak detection of every channel in `x` (two half-window registers each, windows aligned:
/// all `peak_left` equal) and the stereo link at 100 %: `out` gets the largest channel's level,
/// `max_d max(cur_d, prev_d)`, exactly as the per-channel detector followed by the link.
///
/// NOTE: between window boundaries each channel's `cur` only needs the run's maximum (a
/// reduction), and the linked level is a running maximum of `max_d |x_d|` over the run on top
/// of `max_d max(cur_d, prev_d)` at the run's start. Max is exact, so the result is bit-identical
/// to the per-sample detector. The running maximum is a scan; per 8 samples it takes three
/// shift-and-max steps (a log-step prefix maximum, which vectorises) and one max with the
/// carried level, instead of seven dependent scalar maxima. Inlined, so that it is compiled
/// with the caller's (AVX2 or AVX-512) features.
/// `AVX2`: the caller is compiled with AVX2 (the running maximum then uses lane permutes, which
/// the compiler does not find by itself; the result is the same bit for bit).
#[inline(always)]
fn linked_peak<const AVX2: bool, X: AsRef<[f32]>>(
    det: &mut [DetectorState],
    x: &[X],
    out: &mut [f32],
    half: u32,
) {
    let m = out.len();
    let mut left = det[0].peak_left;
    let mut i = 0;
    while i < m {
        if left == 0 {
            for st in det.iter_mut() {
                st.peak_prev = st.peak_cur;
                st.peak_cur = 0.0;
            }
            left = half;
        }
        let run = (left as usize).min(m - i);
        let mut level = 0.0f32;
        for st in det.iter() {
            level = fmax(level, fmax(st.peak_cur, st.peak_prev));
        }
        // Largest |x| over the channels, per sample, into `out`; each channel's `cur`.
        let o = &mut out[i..i + run];
        for (d, (st, xd)) in det.iter_mut().zip(x).enumerate() {
            let xs = &xd.as_ref()[i..i + run];
            if d == 0 {
                for (v, &y) in o.iter_mut().zip(xs) {
                    *v = clean_abs(y);
                }
            } else {
                for (v, &y) in o.iter_mut().zip(xs) {
                    *v = fmax(*v, clean_abs(y));
                }
            }
            st.peak_cur = abs_max(st.peak_cur, xs);
        }
        // Running maximum: a prefix maximum per 8 samples (log steps, 0 shifted in: every
        // value is >= 0), then the carried level.
        let mut it = o.chunks_exact_mut(8);
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: `AVX2` is only true in the instances compiled for AVX2 (the caller's
            // contract).
            level = unsafe { x86_running_max8(&mut it, level) };
        }
        for c in &mut it {
            let mut v = [0.0f32; 8];
            v.copy_from_slice(c);
            for shift in [1, 2, 4] {
                let mut s = [0.0f32; 8];
                s[shift..].copy_from_slice(&v[..8 - shift]);
                for j in 0..8 {
                    v[j] = fmax(v[j], s[j]);
                }
            }
            for j in 0..8 {
                c[j] = fmax(level, v[j]);
            }
            level = c[7];
        }
        for v in it.into_remainder() {
            level = fmax(level, *v);
            *v = level;
        }
        left -= run as u32;
        i += run;
    }
    for st in det.iter_mut() {
        st.peak_left = left;
    }
}

/// The running maximum of [`linked_peak`] in place over every chunk of 8 values (all >= 0) that
/// `chunks` yields, starting from `level`; returns the new level (the last value). Per chunk a
/// log-step prefix maximum with lane permutes: a lane takes the maximum with the lane `shift`
/// below it, or with lane 0 where there is none (as every partial result is a prefix maximum,
/// lane 0 is no larger, so this equals shifting in 0). The level stays broadcast in a register
/// from chunk to chunk. Each `max` is `a > b ? a : b`, as [`fmax`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn x86_running_max8(chunks: &mut std::slice::ChunksExactMut<'_, f32>, level: f32) -> f32 {
    use std::arch::x86_64::{
        _mm_cvtss_f32, _mm256_castps256_ps128, _mm256_loadu_ps, _mm256_max_ps,
        _mm256_permutevar8x32_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32,
        _mm256_storeu_ps,
    };
    // SAFETY: AVX2 (caller's contract); every chunk holds 8 values.
    unsafe {
        let (s1, s2, s4) = (
            _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6),
            _mm256_setr_epi32(0, 0, 0, 1, 2, 3, 4, 5),
            _mm256_setr_epi32(0, 0, 0, 0, 0, 1, 2, 3),
        );
        let last = _mm256_set1_epi32(7);
        let mut lv = _mm256_set1_ps(level);
        for c in chunks {
            let mut v = _mm256_loadu_ps(c.as_ptr());
            v = _mm256_max_ps(v, _mm256_permutevar8x32_ps(v, s1));
            v = _mm256_max_ps(v, _mm256_permutevar8x32_ps(v, s2));
            v = _mm256_max_ps(v, _mm256_permutevar8x32_ps(v, s4));
            let out = _mm256_max_ps(lv, v);
            _mm256_storeu_ps(c.as_mut_ptr(), out);
            lv = _mm256_permutevar8x32_ps(out, last);
        }
        _mm_cvtss_f32(_mm256_castps256_ps128(lv))
    }
}

/// Stores `v` in `field`; true if the value changed (setters then mark the unit dirty, so that
/// a host re-sending unchanged settings every block costs no coefficient update).
#[inline(always)]
fn store<T: PartialEq>(field: &mut T, v: T) -> bool {
    if *field == v {
        false
    } else {
        *field = v;
        true
    }
}

/// Mutable references to elements `d` and `d + 1`.
#[inline(always)]
fn pair<T>(v: &mut [T], d: usize) -> (&mut T, &mut T) {
    let (a, b) = v.split_at_mut(d + 1);
    (&mut a[d], &mut b[0])
}

/// `clean(x).abs()` (branch-free, so that it vectorises).
#[inline(always)]
fn clean_abs(x: f32) -> f32 {
    let a = x.abs();
    if a <= INPUT_CLAMP {
        a
    } else if a.is_finite() {
        INPUT_CLAMP
    } else {
        0.0
    }
}

/// Non-finite -> 0, huge -> clamped, so the detector state stays finite.
#[inline(always)]
fn clean(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-INPUT_CLAMP, INPUT_CLAMP)
    } else {
        0.0
    }
}

/// One-pole step of `y` toward `t` with coefficient `a1` (k1 = 1 - a1) when the step goes
/// the "first" way and `a2` otherwise, without a data-dependent branch: both candidates
/// `y k + t a` are computed and the right one is their max (`use_max`) or min. (For `t > y` the
/// candidate with the larger coefficient is the larger, for `t < y` the smaller, so which of
/// max / min picks `a1` for rising targets follows from `a1 >= a2`, decided once per block.)
#[inline(always)]
fn toward<const FMA: bool>(
    y: f64,
    t: f64,
    k1: f64,
    a1: f64,
    k2: f64,
    a2: f64,
    use_max: bool,
) -> f64 {
    let c1 = madd64::<FMA>(y, k1, t * a1);
    let c2 = madd64::<FMA>(y, k2, t * a2);
    if use_max {
        select_max(c1, c2)
    } else {
        select_min(c1, c2)
    }
}

/// `a > b ? a : b`, as one `maxsd` on x86-64.
///
/// NOTE: written as a plain comparison, the compiler turned the select on the ballistics'
/// recursion into a branch, which mispredicts whenever the programme switches between attack
/// and release. `maxss` computes exactly `a > b ? a : b`, so the result is the same bit for bit.
#[inline(always)]
fn select_max(a: f64, b: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cvtsd_f64, _mm_max_sd, _mm_set_sd};
        // SAFETY: SSE2 is part of x86-64.
        unsafe { _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(a), _mm_set_sd(b))) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if a > b { a } else { b }
    }
}

/// `a < b ? a : b`, as one `minsd` on x86-64 (see [`select_max`]).
#[inline(always)]
fn select_min(a: f64, b: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cvtsd_f64, _mm_min_sd, _mm_set_sd};
        // SAFETY: SSE2 is part of x86-64.
        unsafe { _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(a), _mm_set_sd(b))) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if a < b { a } else { b }
    }
}

/// The upper section's step toward target `t`; returns the gain reduction `r` in dB.
#[inline(always)]
fn upper_step<const AUTO: bool, const FMA: bool>(
    st: &mut BallisticsState,
    co: &Coeffs,
    t: f64,
) -> f64 {
    // Attack when the target rises above the state.
    if AUTO {
        st.fast = toward::<FMA>(
            st.fast,
            t,
            co.k_att,
            co.a_att,
            co.k_fast,
            co.a_fast,
            co.att_ge_fast,
        );
        st.slow = toward::<FMA>(
            st.slow,
            t,
            co.k_charge,
            co.a_charge,
            co.k_rel,
            co.a_rel,
            co.charge_ge_rel,
        );
        if st.fast > st.slow { st.fast } else { st.slow }
    } else {
        st.fast = toward::<FMA>(
            st.fast,
            t,
            co.k_att,
            co.a_att,
            co.k_rel,
            co.a_rel,
            co.att_ge_rel,
        );
        st.fast
    }
}

/// Whether the upper section sits at the fixed point of its step for the constant target of a
/// ratio-1 (or zero-range) section, `TARGET_BIAS_DB`: then every further step returns the same
/// state bit for bit, and the chunk can skip the upper ballistics (see [`ballistics`]).
#[inline(always)]
fn upper_settled<const AUTO: bool, const FMA: bool>(st: &BallisticsState, co: &Coeffs) -> bool {
    let mut probe = *st;
    upper_step::<AUTO, FMA>(&mut probe, co, TARGET_BIAS_DB as f64);
    probe.fast.to_bits() == st.fast.to_bits() && probe.slow.to_bits() == st.slow.to_bits()
}

/// Whether the lower section's target `te` is constant over the chunk and the state sits at the
/// fixed point of its step for it (so that the whole chunk keeps the state bit for bit).
#[inline(always)]
fn lower_settled<const FMA: bool>(st: &BallisticsState, co: &Coeffs, te: &[f32]) -> bool {
    let t = te[0].to_bits();
    let next = toward::<FMA>(
        st.lower,
        te[0] as f64,
        co.k_att,
        co.a_att,
        co.k_rel,
        co.a_rel,
        !co.att_ge_rel,
    );
    // NOTE: a fold without early exit, so that the scan vectorises.
    next.to_bits() == st.lower.to_bits() && te.iter().fold(true, |ok, v| ok & (v.to_bits() == t))
}

/// Gate state machine over one chunk of one path: per sample level `xd` (dB) in, the lower
/// section's attenuation target out (`TARGET_BIAS_DB` open, the range closed).
///
/// NOTE: a pass of its own, before the ballistics: its branches follow the programme (mostly
/// above or below the thresholds) and predict well, which breaks the state's dependency chain;
/// a branch-free form (select chains on `open` and `hold`) measured slower.
#[inline(always)]
fn gate_targets(st: &mut BallisticsState, co: &Coeffs, xd: &[f32], te: &mut [f32]) {
    let (mut open, mut hold) = (st.gate_open, st.gate_hold);
    for (t, &x) in te.iter_mut().zip(xd) {
        if x >= co.gate_open_db {
            open = true;
            hold = co.gate_hold;
        } else if x >= co.gate_close_db {
            if open {
                hold = co.gate_hold;
            }
        } else if hold > 0 {
            hold -= 1;
        } else {
            open = false;
        }
        *t = if open { TARGET_BIAS_DB } else { co.gate_range };
    }
    st.gate_open = open;
    st.gate_hold = hold;
}

/// One ballistics step of one path; returns the total reduction `r + e` in dB. Without `UPPER`
/// the upper section is settled (see [`upper_settled`]) and `r` is the constant `r_const`.
#[inline(always)]
fn step<const AUTO: bool, const LOWER: bool, const UPPER: bool, const FMA: bool>(
    st: &mut BallisticsState,
    co: &Coeffs,
    t: f32,
    te: f32,
    r_const: f64,
) -> f64 {
    let r = if UPPER {
        upper_step::<AUTO, FMA>(st, co, t as f64)
    } else {
        r_const
    };
    if !LOWER {
        return r;
    }
    // Lower section: attack (opening) when the attenuation target falls below the state, so
    // the attack candidate is the smaller one when attack is the faster coefficient.
    st.lower = toward::<FMA>(
        st.lower,
        te as f64,
        co.k_att,
        co.a_att,
        co.k_rel,
        co.a_rel,
        !co.att_ge_rel,
    );
    r + st.lower
}

/// One or two paths' ballistics state, upper-target / gain buffers and lower targets.
type PathSlices<'a> = (
    &'a mut [BallisticsState],
    &'a mut [[f32; CHUNK]],
    &'a [[f32; CHUNK]],
);

/// Ballistics over one chunk for one or two paths (two are interleaved so that their recursive
/// chains overlap). Per path: `tu` upper target in, total gain dB (makeup - r - e) out; `lo`
/// lower-section target (expander curve or gate state); `mk` makeup dB. `LOWER`: a lower
/// section is on; `UPPER`: the upper section moves (else it is settled, see [`upper_settled`]).
#[inline(always)]
fn ballistics<const AUTO: bool, const LOWER: bool, const UPPER: bool, const FMA: bool>(
    co: &Coeffs,
    (st, tu, lo): PathSlices<'_>,
    mk: &[f32],
    m: usize,
) {
    let r_const = |s: &BallisticsState| if AUTO { s.fast.max(s.slow) } else { s.fast };
    if st.len() == 2 {
        let (mut s0, mut s1) = (st[0], st[1]);
        let (r0, r1) = (r_const(&s0), r_const(&s1));
        let (t0, t1) = tu.split_at_mut(1);
        let (t0, t1) = (&mut t0[0], &mut t1[0]);
        for i in 0..m {
            let g0 = step::<AUTO, LOWER, UPPER, FMA>(&mut s0, co, t0[i], lo[0][i], r0);
            let g1 = step::<AUTO, LOWER, UPPER, FMA>(&mut s1, co, t1[i], lo[1][i], r1);
            t0[i] = mk[i] - g0 as f32;
            t1[i] = mk[i] - g1 as f32;
        }
        st[0] = s0.flushed();
        st[1] = s1.flushed();
    } else {
        let mut s0 = st[0];
        let r0 = r_const(&s0);
        let t0 = &mut tu[0];
        for i in 0..m {
            let g0 = step::<AUTO, LOWER, UPPER, FMA>(&mut s0, co, t0[i], lo[0][i], r0);
            t0[i] = mk[i] - g0 as f32;
        }
        st[0] = s0.flushed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Rng;

    /// The per-channel peak detector of `compute_body` (two half-window registers) followed by
    /// the 100 % link, sample by sample.
    fn reference(det: &mut [DetectorState], x: &[[f32; CHUNK]], out: &mut [f32], half: u32) {
        for (i, o) in out.iter_mut().enumerate() {
            let mut level = 0.0f32;
            for (st, xd) in det.iter_mut().zip(x) {
                if st.peak_left == 0 {
                    st.peak_prev = st.peak_cur;
                    st.peak_cur = 0.0;
                    st.peak_left = half;
                }
                st.peak_left -= 1;
                st.peak_cur = st.peak_cur.max(xd[i].abs());
                level = level.max(st.peak_cur.max(st.peak_prev));
            }
            *o = level;
        }
    }

    fn detector() -> DetectorState {
        DetectorState {
            hpf: DirectForm2Transposed::<f64>::new(crate::filter::design::IDENTITY),
            ms: 0.0,
            peak_cur: 0.0,
            peak_prev: 0.0,
            peak_left: 0,
        }
    }

    /// [`linked_peak`]'s AVX2 instance, compiled as in the engine's AVX2 and AVX-512 instances.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn linked_peak_avx2(
        det: &mut [DetectorState],
        x: &[[f32; CHUNK]],
        out: &mut [f32],
        half: u32,
    ) {
        linked_peak::<true, _>(det, x, out, half);
    }

    /// An instance of [`linked_peak`].
    type LinkedPeak = fn(&mut [DetectorState], &[[f32; CHUNK]], &mut [f32], u32);

    /// The instances of [`linked_peak`] this CPU can run.
    fn linked_peak_instances() -> Vec<LinkedPeak> {
        #[allow(unused_mut)] // pushed to on x86-64 only
        let mut v: Vec<LinkedPeak> = vec![linked_peak::<false, [f32; CHUNK]>];
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA.
            v.push(|d, x, o, h| unsafe { linked_peak_avx2(d, x, o, h) });
        }
        v
    }

    #[test]
    fn linked_peak_equals_per_channel_detectors_and_link_bit_for_bit() {
        for linked_peak in linked_peak_instances() {
            linked_peak_matches_reference(linked_peak);
        }
    }

    fn linked_peak_matches_reference(linked_peak: LinkedPeak) {
        let mut rng = Rng::new(11);
        for channels in 1..=3 {
            for half in [1u32, 3, 7, 8, 48, 120, 500] {
                let mut fast = vec![detector(); channels];
                let mut slow = fast.clone();
                for chunk in 0..40 {
                    let m = [CHUNK, 1, 17, 63, 8, 9][chunk % 6];
                    // Bursts and silence, so that levels rise and fall across windows.
                    let scale = if chunk % 5 == 0 {
                        0.0
                    } else {
                        rng.bipolar().abs() as f32
                    };
                    // Raw input (the detector reads the host's samples): now and then NaN,
                    // inf or a huge value, which must count as `clean` makes them.
                    let x: Vec<[f32; CHUNK]> = (0..channels)
                        .map(|_| {
                            std::array::from_fn(|_| match (rng.bipolar() * 40.0) as i32 {
                                39 => f32::NAN,
                                38 => f32::NEG_INFINITY,
                                37 => -3e12,
                                _ => rng.bipolar() as f32 * scale,
                            })
                        })
                        .collect();
                    let cleaned: Vec<[f32; CHUNK]> = x.iter().map(|c| c.map(clean)).collect();
                    let (mut a, mut b) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
                    linked_peak(&mut fast, &x, &mut a[..m], half);
                    reference(&mut slow, &cleaned, &mut b[..m], half);
                    let same = a[..m]
                        .iter()
                        .zip(&b[..m])
                        .all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(
                        same,
                        "{channels} channels, half {half}, chunk {chunk} ({m})"
                    );
                    for (p, q) in fast.iter().zip(&slow) {
                        assert_eq!(p.peak_cur.to_bits(), q.peak_cur.to_bits());
                        assert_eq!(p.peak_prev.to_bits(), q.peak_prev.to_bits());
                        assert_eq!(p.peak_left, q.peak_left);
                    }
                }
            }
        }
    }
}
