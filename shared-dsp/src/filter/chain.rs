//! [`IirEq`]: a multi-channel cascade of matched minimum-phase bands with click-free updates.

use super::curve::Band;
use super::design::{DigitalBand, IDENTITY, MAX_DIGITAL_SECTIONS as MAX_SECTIONS};
use crate::util::flush_denormal;
use biquad::{Biquad, Coefficients, DirectForm2Transposed};

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

/// One band's parameters, coefficient ramp and per-channel filter state.
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
    /// Filter state, `channel * MAX_SECTIONS + section`.
    filters: Vec<DirectForm2Transposed<f64>>,
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
    /// `f64` working buffer for one channel chunk.
    scratch: Vec<f64>,
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
            filters: vec![DirectForm2Transposed::new(IDENTITY); max_channels * MAX_SECTIONS],
        };
        let mut eq = Self {
            max_channels,
            max_block,
            fs: 48_000.0,
            ramp_len: 1,
            smoothing_ms: DEFAULT_SMOOTHING_MS,
            redesign_interval: 0,
            slots: vec![slot; max_bands],
            scratch: vec![0.0; max_block],
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
            for f in &mut slot.filters {
                f.reset_state();
            }
        }
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
        let n = slot.filters.len() / MAX_SECTIONS;
        for ch in 0..n {
            for k in slot.active..MAX_SECTIONS {
                slot.filters[ch * MAX_SECTIONS + k].reset_state();
            }
        }
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
                for k in 0..slot.active {
                    if k >= old_active {
                        // A section appearing: starts as the identity with clear state.
                        slot.cur[k] = IDENTITY;
                        let n = slot.filters.len() / MAX_SECTIONS;
                        for ch in 0..n {
                            slot.filters[ch * MAX_SECTIONS + k].reset_state();
                        }
                    }
                    let to = if k < new.len {
                        new.sections[k]
                    } else {
                        IDENTITY
                    };
                    slot.delta[k] = lerp_step(&slot.cur[k], &to, self.ramp_len);
                    slot.start[k] = slot.cur[k];
                }
                slot.ramp_left = self.ramp_len;
                slot.ramp_pos = 0;
            }
        }
    }

    /// Filters every channel in place. Channels beyond the first `max_channels` are not
    /// allowed; all channels must have the same length (any length).
    ///
    /// # Panics
    /// If `channels.len() > max_channels` or the channel lengths differ.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        assert!(
            channels.len() <= self.max_channels,
            "{} channels > max_channels {}",
            channels.len(),
            self.max_channels
        );
        let n = channels.first().map_or(0, |c| c.len());
        assert!(
            channels.iter().all(|c| c.len() == n),
            "channel lengths differ"
        );
        self.update_targets();
        let mut start = 0;
        while start < n {
            let len = self.max_block.min(n - start);
            for (ch, buf) in channels.iter_mut().enumerate() {
                let x = &mut buf[start..start + len];
                if self.slots.iter().all(|s| s.active == 0) {
                    // Transparent: only the non-finite guard.
                    for v in x.iter_mut() {
                        if !v.is_finite() {
                            *v = 0.0;
                            self.non_finite += 1;
                        }
                    }
                    continue;
                }
                let scratch = &mut self.scratch[..len];
                for (s, v) in scratch.iter_mut().zip(x.iter()) {
                    *s = if v.is_finite() {
                        *v as f64
                    } else {
                        self.non_finite += 1;
                        0.0
                    };
                }
                for slot in &mut self.slots {
                    Self::run_slot(slot, ch, scratch);
                }
                for (v, s) in x.iter_mut().zip(scratch.iter()) {
                    *v = *s as f32;
                }
            }
            // Advance the shared ramps once all channels have used them.
            for slot in &mut self.slots {
                Self::advance(slot, len);
            }
            start += len;
        }
        for slot in &mut self.slots {
            slot.holdoff = slot.holdoff.saturating_sub(n);
        }
    }

    /// Runs one slot's sections over one channel chunk.
    #[inline]
    fn run_slot(slot: &mut Slot, ch: usize, buf: &mut [f64]) {
        let ramp = slot.ramp_left.min(buf.len());
        for k in 0..slot.active {
            let f = &mut slot.filters[ch * MAX_SECTIONS + k];
            if ramp > 0 {
                let d = slot.delta[k];
                let c0 = slot.start[k];
                // NOTE: each sample's coefficients are computed from the ramp start (not
                // accumulated), so the output does not depend on how the host splits blocks.
                let mut c = c0;
                for (i, v) in buf[..ramp].iter_mut().enumerate() {
                    c = scaled_add(&c0, &d, (slot.ramp_pos + i + 1) as f64);
                    f.update_coefficients(c);
                    *v = f.run(*v);
                }
                let settled = if slot.ramp_left <= buf.len() {
                    if k < slot.target.len {
                        slot.target.sections[k]
                    } else {
                        IDENTITY
                    }
                } else {
                    c
                };
                f.update_coefficients(settled);
            } else {
                f.update_coefficients(slot.cur[k]);
            }
            for v in buf[ramp..].iter_mut() {
                *v = f.run(*v);
            }
            // NOTE: denormals are flushed once per chunk, not per sample (that would put a
            // compare into the recursion's critical path). The threshold (1e-30) is ~280
            // orders of magnitude above the f64 denormal range, so a decaying state cannot
            // reach it within one chunk unless a pole radius is below ~0.5 *and* the chunk is
            // longer than ~900 samples; even then it only costs time until the chunk ends.
            f.s1 = flush_denormal(f.s1);
            f.s2 = flush_denormal(f.s2);
            // NOTE: stable sections cannot produce non-finite state from finite input, but a
            // guard costs nothing per block and keeps a broken state from persisting.
            if !(f.s1.is_finite() && f.s2.is_finite()) {
                f.reset_state();
            }
        }
    }

    /// Moves a slot's ramp forward by `len` samples.
    fn advance(slot: &mut Slot, len: usize) {
        if slot.ramp_left == 0 {
            return;
        }
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
        let n = slot.filters.len() / MAX_SECTIONS;
        for k in 0..MAX_SECTIONS {
            slot.cur[k] = if k < slot.target.len {
                slot.target.sections[k]
            } else {
                IDENTITY
            };
        }
        for ch in 0..n {
            for k in slot.target.len..slot.active {
                slot.filters[ch * MAX_SECTIONS + k].reset_state();
            }
        }
        slot.active = slot.target.len;
    }
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
