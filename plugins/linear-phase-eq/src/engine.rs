//! The framework-free audio path of the Linear-Phase EQ, shared by the plugin and the tests.
//!
//! Two halves connected by lock-free triple buffers ([`crate::handoff`]):
//! - [`Processor`] runs on the audio thread: it posts changed [`EqSettings`], swaps in kernel
//!   sets the designer hands back (crossfaded by the convolvers), runs the FFT convolvers (or the
//!   zero-latency [`IirEq`]s), and keeps the latency-aligned dry signal for bypass.
//! - [`Designer`] runs on nice-plug's background thread: it designs the linear-phase kernels
//!   for the newest settings into preallocated [`KernelSpectrum`]s and publishes them.
//!
//! Neither half allocates or locks after [`build`].
//!
//! # Stereo placement
//! Bands act in order: stereo, left and right bands first (per channel), then mid and side bands
//! (on `M = (L+R)/2`, `S = (L-R)/2`). The convolvers always run in the mid/side domain so that a
//! placement change never changes a convolver's input (its history stays valid):
//! `M' = P*M + X*S`, `S' = Q*S + Y*M` with `P = Hm (Hl+Hr)/2`, `Q = Hs (Hl+Hr)/2`,
//! `X = Hm (Hl-Hr)/2`, `Y = Hs (Hl-Hr)/2` (`Hl`, `Hr` include the stereo bands). The cross terms
//! `X`, `Y` exist only while a left/right band is active; their signed kernels are designed as
//! differences of two non-negative designs (the design is linear in its target). While no
//! left/right band is active the two cross convolvers are idle (no cost); when one appears they
//! first run on silence-producing zero kernels until their history is full, then all four kernels
//! crossfade together.
//!
//! A mono layout is processed as the mid channel (`P` only).

use shared_dsp::delay::DelayLine;
use shared_dsp::filter::{Band, EqCurve, IirEq};
use shared_dsp::fir::convolver::RECOMMENDED_PARTITION;
use shared_dsp::fir::{
    DesignScratch, KernelSpectrum, PartitionedConvolver, Resolution, WlsReport, design_linear_phase,
};
use shared_dsp::smoothing::LinearRamp;

use crate::handoff::{Reader, Writer, triple_buffer};

/// Number of bands.
pub const MAX_BANDS: usize = 24;
/// Partition size of the FFT convolvers (latency added on top of the kernel's).
pub const PARTITION: usize = RECOMMENDED_PARTITION;
/// Band frequencies are clamped to this fraction of the sample rate at design time.
pub const NYQUIST_FRACTION: f64 = 0.48;
/// Lowest band frequency used at design time, Hz.
pub const MIN_FREQ_HZ: f64 = 10.0;
/// Internal processing chunk (size of the mid/side scratch buffers).
const CHUNK: usize = 1024;
/// Auto-gain ramp time (zero-latency mode), ms.
const AUTO_GAIN_RAMP_MS: f32 = 50.0;

/// Which part of the stereo signal a band processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Both channels.
    Stereo,
    /// Left only.
    Left,
    /// Right only.
    Right,
    /// Mid, (L + R) / 2.
    Mid,
    /// Side, (L - R) / 2.
    Side,
}

/// One band and its placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandSetting {
    /// Shape and parameters.
    pub band: Band,
    /// Stereo placement.
    pub placement: Placement,
}

impl Default for BandSetting {
    fn default() -> Self {
        Self {
            band: Band::default(),
            placement: Placement::Stereo,
        }
    }
}

/// Processing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Minimum-phase analog-matched biquads ([`IirEq`]), no latency.
    ZeroLatency,
    /// Linear-phase FIR of the given resolution.
    Fir(Resolution),
}

/// Everything the audio path needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EqSettings {
    /// The bands (disabled bands are the identity).
    pub bands: [BandSetting; MAX_BANDS],
    /// Processing mode.
    pub mode: Mode,
    /// Loudness compensation (see [`auto_gain`]).
    pub auto_gain: bool,
}

impl Default for EqSettings {
    /// All bands off, medium resolution, no auto gain.
    fn default() -> Self {
        Self {
            bands: [BandSetting::default(); MAX_BANDS],
            mode: Mode::Fir(Resolution::Medium),
            auto_gain: false,
        }
    }
}

/// Latency in samples of `mode` at `fs` (kernel delay plus convolver buffering).
pub fn mode_latency(mode: Mode, fs: f64) -> usize {
    match mode {
        Mode::ZeroLatency => 0,
        Mode::Fir(r) => r.latency(fs) + PARTITION,
    }
}

/// `band` as designed at `fs`: frequency clamped to `[MIN_FREQ_HZ, NYQUIST_FRACTION * fs]`.
/// The editor draws the same clamped band.
pub fn effective_band(band: &Band, fs: f64) -> Band {
    let mut b = *band;
    b.freq_hz = b.freq_hz.clamp(MIN_FREQ_HZ, NYQUIST_FRACTION * fs);
    b
}

/// Placement groups, in the order of [`GroupCurves`].
fn group(p: Placement) -> usize {
    match p {
        Placement::Stereo => 0,
        Placement::Left => 1,
        Placement::Right => 2,
        Placement::Mid => 3,
        Placement::Side => 4,
    }
}

/// The summed analog curve of each placement group (stereo, left, right, mid, side).
/// Allocation-free after [`GroupCurves::new`].
#[derive(Debug, Clone)]
pub struct GroupCurves {
    /// Curves of the stereo, left, right, mid and side bands.
    pub curves: [EqCurve; 5],
    /// Non-identity bands per group.
    pub counts: [usize; 5],
}

impl Default for GroupCurves {
    fn default() -> Self {
        Self::new()
    }
}

impl GroupCurves {
    /// Empty curves with room for every band.
    pub fn new() -> Self {
        Self {
            curves: std::array::from_fn(|_| EqCurve::new(MAX_BANDS)),
            counts: [0; 5],
        }
    }

    /// Rebuilds the curves from `settings` at sample rate `fs`. Allocation-free.
    pub fn set(&mut self, settings: &EqSettings, fs: f64) {
        let mut bands = [[Band::default(); MAX_BANDS]; 5];
        self.counts = [0; 5];
        for b in &settings.bands {
            if b.band.is_identity() {
                continue;
            }
            let g = group(b.placement);
            bands[g][self.counts[g]] = effective_band(&b.band, fs);
            self.counts[g] += 1;
        }
        for g in 0..5 {
            self.curves[g].set_bands(&bands[g][..self.counts[g]]);
        }
    }

    /// Linear magnitudes of the five groups at `f` Hz.
    #[inline]
    pub fn magnitudes(&self, f: f64) -> [f64; 5] {
        std::array::from_fn(|g| {
            if self.counts[g] == 0 {
                1.0
            } else {
                self.curves[g].magnitude(f)
            }
        })
    }

    /// A left- or right-only band is active (the cross terms are needed).
    pub fn has_left_right(&self) -> bool {
        self.counts[1] + self.counts[2] > 0
    }

    /// A mid- or side-only band is active.
    pub fn has_mid_side(&self) -> bool {
        self.counts[3] + self.counts[4] > 0
    }

    /// No band is active.
    pub fn is_flat(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }
}

/// Points of the auto-gain average.
const AUTO_GAIN_POINTS: usize = 121;

/// Loudness compensation gain (linear) for the curves: the inverse RMS of the response over
/// 20 Hz - 20 kHz with pink weighting (equal weight per octave, i.e. the power spectrum of
/// programme material falling ~3 dB/octave), averaged over the four channel paths
/// (L/R x M/S) as if left and right were uncorrelated. A flat curve gives exactly 1.
pub fn auto_gain(curves: &GroupCurves) -> f64 {
    if curves.is_flat() {
        return 1.0;
    }
    let mut acc = 0.0;
    for k in 0..AUTO_GAIN_POINTS {
        let f = 20.0 * 1000f64.powf(k as f64 / (AUTO_GAIN_POINTS - 1) as f64);
        let [st, l, r, m, s] = curves.magnitudes(f);
        let lr2 = 0.5 * ((st * l).powi(2) + (st * r).powi(2));
        acc += lr2 * 0.5 * (m * m + s * s);
    }
    let rms = (acc / AUTO_GAIN_POINTS as f64).sqrt();
    if rms > 1e-9 { 1.0 / rms } else { 1.0 }
}

/// Settings as posted by the audio thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Posted {
    /// The settings.
    settings: EqSettings,
    /// Increments with every change (0 = nothing posted yet).
    generation: u64,
}

/// Four kernels (P, Q, X, Y, see the [module docs](self)) for one settings generation.
pub struct KernelSet {
    /// Kernel spectra for the M->M, S->S, S->M and M->S convolvers.
    spectra: [KernelSpectrum; 4],
    /// X and Y are non-zero.
    cross: bool,
    /// Kernel latency `(taps - 1) / 2`.
    kernel_latency: usize,
    /// How far the set strays from the curve.
    deviation: Deviation,
}

/// What a [`Designer`] keeps from one activation to the next at the same sample rate: the FFT
/// plans and buffers of the FIR design, and the kernels of its last design. Handing it to
/// [`build_reusing`] saves the planning, and the whole design when the settings are the ones last
/// designed (a host that deactivates and reactivates, or a plugin activated with the settings
/// its design thread has just designed). The kernels are the same either way: a design depends
/// only on the settings and the sample rate.
pub struct DesignMemory {
    /// Sample rate, Hz.
    fs: f64,
    /// FFT plans and buffers of the FIR design.
    scratch: DesignScratch,
    /// Kernels P, Q, X, Y of `designed` (see the [module docs](self)), `max_taps` each.
    kernels: [Vec<f32>; 4],
    /// Work kernel (second half of a cross-term difference).
    work: Vec<f32>,
    /// Settings `kernels` hold the design of (`None` before the first design).
    designed: Option<EqSettings>,
    /// X and Y of `designed` are non-zero.
    cross: bool,
    /// Worst audible deviation of P and Q from their targets (see [`Deviation`]).
    deviation: Deviation,
}

/// How far a kernel set's response strays from the curve: the worst |error| of the P and Q
/// designs on their design grids, from 20 Hz up, where the curve is within
/// [`shared_dsp::fir::AUDIBLE_RANGE_DB`] of its peak (`shared_dsp::fir::WlsReport::audible_error_db`). What the
/// editor shows, so that the limits of a resolution are visible rather than a surprise.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Deviation {
    /// Worst deviation, dB.
    pub db: f32,
    /// Where it happens, Hz.
    pub hz: f32,
}

impl Deviation {
    /// The larger of `self` and the report's audible error.
    fn max(self, r: WlsReport) -> Self {
        if r.audible_error_db as f32 > self.db {
            Self {
                db: r.audible_error_db as f32,
                hz: r.audible_error_hz as f32,
            }
        } else {
            self
        }
    }
}

impl std::fmt::Debug for DesignMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesignMemory")
            .field("fs", &self.fs)
            .field("designed", &self.designed.is_some())
            .finish()
    }
}

impl DesignMemory {
    /// Plans and allocates for the longest kernel at `fs` (maximum resolution).
    fn new(fs: f64) -> Self {
        let max_taps = Resolution::Maximum.taps(fs);
        Self {
            fs,
            scratch: DesignScratch::new(max_taps),
            kernels: std::array::from_fn(|_| vec![0.0; max_taps]),
            work: vec![0.0; max_taps],
            designed: None,
            cross: false,
            deviation: Deviation::default(),
        }
    }

    /// Designs the kernels of `s` at resolution `res` unless they are the ones last designed.
    fn design(&mut self, s: &EqSettings, res: Resolution, curves: &mut GroupCurves) {
        if self.designed == Some(*s) {
            return;
        }
        self.designed = None;
        let fs = self.fs;
        curves.set(s, fs);
        let curves = &*curves;
        let taps = res.taps(fs);
        let latency = res.latency(fs);
        let ag = if s.auto_gain { auto_gain(curves) } else { 1.0 };
        let cross = curves.has_left_right();
        let [p, q, x, y] = &mut self.kernels;
        let (p, q) = (&mut p[..taps], &mut q[..taps]);
        let mut deviation = Deviation::default();
        if curves.is_flat() && ag == 1.0 {
            // Exactly transparent: a unit impulse at the centre.
            p.fill(0.0);
            p[latency] = 1.0;
            q.copy_from_slice(p);
        } else {
            // P = Hm (Hl + Hr) / 2.
            deviation = deviation.max(design_linear_phase(
                |f| {
                    let [st, l, r, m, _] = curves.magnitudes(f);
                    ag * st * m * 0.5 * (l + r)
                },
                taps,
                fs,
                p,
                &mut self.scratch,
            ));
            if curves.has_mid_side() || cross {
                // Q = Hs (Hl + Hr) / 2.
                deviation = deviation.max(design_linear_phase(
                    |f| {
                        let [st, l, r, _, s] = curves.magnitudes(f);
                        ag * st * s * 0.5 * (l + r)
                    },
                    taps,
                    fs,
                    q,
                    &mut self.scratch,
                ));
            } else {
                q.copy_from_slice(p);
            }
        }
        if cross {
            // X = Hm (Hl - Hr) / 2 and Y = Hs (Hl - Hr) / 2, as differences of two designs.
            for (a, ms) in [(x, 3), (y, 4)] {
                let (a, b) = (&mut a[..taps], &mut self.work[..taps]);
                design_linear_phase(
                    |f| {
                        let g = curves.magnitudes(f);
                        ag * g[0] * g[ms] * g[1]
                    },
                    taps,
                    fs,
                    a,
                    &mut self.scratch,
                );
                design_linear_phase(
                    |f| {
                        let g = curves.magnitudes(f);
                        ag * g[0] * g[ms] * g[2]
                    },
                    taps,
                    fs,
                    b,
                    &mut self.scratch,
                );
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x = 0.5 * (*x - *y);
                }
            }
        }
        self.cross = cross;
        self.deviation = deviation;
        self.designed = Some(*s);
    }
}

/// The background half: designs kernels for the newest posted settings.
pub struct Designer {
    /// Settings from the audio thread.
    settings: Reader<Posted>,
    /// Kernel sets to the audio thread.
    kernels: Writer<KernelSet>,
    /// Design plans, buffers and the last design.
    memory: DesignMemory,
    /// Curves of the settings being designed.
    curves: GroupCurves,
    /// Generation last designed.
    last_generation: u64,
}

impl std::fmt::Debug for Designer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Designer")
            .field("memory", &self.memory)
            .field("last_generation", &self.last_generation)
            .finish()
    }
}

impl Designer {
    /// Designs the newest posted settings if they have not been designed yet and hands the
    /// kernels to the audio thread. Returns whether a kernel set was published. Allocation-free
    /// and lock-free (a few ms per kernel in medium mode; run it on a background thread).
    pub fn run(&mut self) -> bool {
        self.settings.update();
        let posted = *self.settings.front_mut();
        if posted.generation == self.last_generation {
            return false;
        }
        self.last_generation = posted.generation;
        let Mode::Fir(res) = posted.settings.mode else {
            return false;
        };
        self.design(&posted.settings, res);
        self.kernels.publish();
        true
    }

    /// Designs the four kernels of `s` (unless they are the last designed) and transforms them
    /// into the writer's back slot.
    fn design(&mut self, s: &EqSettings, res: Resolution) {
        self.memory.design(s, res, &mut self.curves);
        let taps = res.taps(self.memory.fs);
        let set = self.kernels.back_mut();
        set.cross = self.memory.cross;
        set.deviation = self.memory.deviation;
        set.kernel_latency = res.latency(self.memory.fs);
        let [p, q, x, y] = &self.memory.kernels;
        set.spectra[0].prepare(&p[..taps]);
        set.spectra[1].prepare(&q[..taps]);
        if set.cross {
            set.spectra[2].prepare(&x[..taps]);
            set.spectra[3].prepare(&y[..taps]);
        } else {
            set.spectra[2].prepare(&[0.0]);
            set.spectra[3].prepare(&[0.0]);
        }
    }

    /// Gives up the design plans, buffers and last design for the next [`build_reusing`].
    pub fn into_memory(self) -> DesignMemory {
        self.memory
    }
}

/// The audio-thread half.
pub struct Processor {
    /// Sample rate, Hz.
    fs: f64,
    /// Longest host block accepted.
    max_block: usize,
    /// Settings to the designer.
    posted: Writer<Posted>,
    /// Kernel sets from the designer.
    kernels: Reader<KernelSet>,
    /// Settings last posted.
    last: EqSettings,
    /// Generation of `last`.
    generation: u64,
    /// Convolvers for M->M (P), S->S (Q), S->M (X), M->S (Y), one channel each.
    conv: [PartitionedConvolver; 4],
    /// The front kernel set waits to be applied (cross warm-up).
    held: bool,
    /// The cross convolvers are running.
    cross_running: bool,
    /// Samples the cross convolvers have run since they started.
    cross_warm: usize,
    /// Samples until idle cross convolvers (faded to zero kernels) stop.
    cross_stop: Option<usize>,
    /// A linear-phase kernel set is in use (else the zero-latency path runs).
    fir_active: bool,
    /// Kernel latency of the set in use.
    kernel_latency: usize,
    /// Deviation of the set in use.
    deviation: Deviation,
    /// Zero-latency sections for stereo, left, right, mid and side bands.
    iir: [IirEq; 5],
    /// Zero-latency auto-gain (linear), ramped.
    iir_gain: LinearRamp,
    /// Curves for the zero-latency auto gain.
    curves: GroupCurves,
    /// Mid work buffer.
    mid: Vec<f32>,
    /// Side work buffer.
    side: Vec<f32>,
    /// Side copy for the S->M convolver.
    x_in: Vec<f32>,
    /// Mid copy for the M->S convolver.
    y_in: Vec<f32>,
    /// The dry path: the input delayed by the latency in effect (up to maximum resolution's).
    dry_line: DelayLine,
    /// Latency-aligned dry input of the last block, per channel.
    dry: [Vec<f32>; 2],
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("fs", &self.fs)
            .field("fir_active", &self.fir_active)
            .field("kernel_latency", &self.kernel_latency)
            .field("cross_running", &self.cross_running)
            .finish()
    }
}

/// Builds the two halves for sample rate `fs` and host blocks of up to `max_block` samples, and
/// applies `settings` at once (designed synchronously, no crossfade). Allocates everything
/// (kernel capacity for the maximum resolution at `fs`): call it from `activate`.
///
/// # Panics
/// If `fs` is not positive or `max_block` is 0.
pub fn build(fs: f64, max_block: usize, settings: &EqSettings) -> (Processor, Designer) {
    build_reusing(fs, max_block, settings, None)
}

/// [`build`], reusing the design plans, buffers and last design of a previous [`Designer`]
/// (see [`DesignMemory`]) when it ran at the same sample rate.
///
/// # Panics
/// As [`build`].
pub fn build_reusing(
    fs: f64,
    max_block: usize,
    settings: &EqSettings,
    memory: Option<DesignMemory>,
) -> (Processor, Designer) {
    assert!(fs > 0.0 && max_block > 0);
    let max_taps = Resolution::Maximum.taps(fs);
    let conv: [PartitionedConvolver; 4] =
        std::array::from_fn(|_| PartitionedConvolver::new(1, max_taps, PARTITION));
    let new_set = || KernelSet {
        spectra: std::array::from_fn(|_| conv[0].new_kernel_spectrum()),
        cross: false,
        kernel_latency: 0,
        deviation: Deviation::default(),
    };
    let (kw, kr) = triple_buffer(new_set(), new_set(), new_set());
    let (sw, sr) = triple_buffer(Posted::default(), Posted::default(), Posted::default());
    let max_latency = mode_latency(Mode::Fir(Resolution::Maximum), fs);
    let iir = [
        IirEq::new(2, CHUNK, MAX_BANDS),
        IirEq::new(1, CHUNK, MAX_BANDS),
        IirEq::new(1, CHUNK, MAX_BANDS),
        IirEq::new(1, CHUNK, MAX_BANDS),
        IirEq::new(1, CHUNK, MAX_BANDS),
    ];
    let mut p = Processor {
        fs,
        max_block,
        posted: sw,
        kernels: kr,
        last: *settings,
        generation: 0,
        conv,
        held: false,
        cross_running: false,
        cross_warm: 0,
        cross_stop: None,
        fir_active: false,
        kernel_latency: 0,
        deviation: Deviation::default(),
        iir,
        iir_gain: LinearRamp::new(1.0, AUTO_GAIN_RAMP_MS),
        curves: GroupCurves::new(),
        mid: vec![0.0; CHUNK],
        side: vec![0.0; CHUNK],
        x_in: vec![0.0; CHUNK],
        y_in: vec![0.0; CHUNK],
        dry_line: DelayLine::new(2, max_latency, max_block),
        dry: [vec![0.0; max_block], vec![0.0; max_block]],
    };
    for eq in &mut p.iir {
        eq.set_sample_rate(fs);
    }
    p.iir_gain.set_sample_rate(fs as f32);
    for c in &mut p.conv {
        c.set_kernel(&[0.0]);
        c.reset();
    }
    let memory = match memory {
        Some(m) if m.fs == fs => m,
        _ => DesignMemory::new(fs),
    };
    let mut d = Designer {
        settings: sr,
        kernels: kw,
        memory,
        curves: GroupCurves::new(),
        last_generation: 0,
    };
    p.post(settings);
    p.update_iir(settings, true);
    d.run();
    p.poll_kernels();
    p.iir_gain.reset(p.iir_gain_target());
    (p, d)
}

impl Processor {
    /// Sample rate, Hz.
    pub fn sample_rate(&self) -> f64 {
        self.fs
    }

    /// Longest host block accepted.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Latency in samples of the path in use (0 in zero-latency mode; kernel latency plus
    /// [`PARTITION`] in linear-phase modes). Changes only when a kernel set of another
    /// resolution is applied or the mode switches to zero latency.
    pub fn latency(&self) -> usize {
        if self.fir_active {
            self.kernel_latency + PARTITION
        } else {
            0
        }
    }

    /// How far the linear-phase kernels in use stray from the curve (`None` on the
    /// zero-latency path, which follows the curve by construction within its documented
    /// limits).
    pub fn deviation(&self) -> Option<Deviation> {
        self.fir_active.then_some(self.deviation)
    }

    /// A linear-phase kernel is in use.
    pub fn fir_active(&self) -> bool {
        self.fir_active
    }

    /// Records `settings`; if they changed, posts them to the designer and returns `true`
    /// (the caller then runs [`Designer::run`] on a background thread, or right away when
    /// rendering offline). Zero-latency bands take effect at the next [`Self::process`].
    /// Allocation-free and lock-free.
    pub fn set_settings(&mut self, settings: &EqSettings) -> bool {
        if *settings == self.last {
            return false;
        }
        self.last = *settings;
        self.post(settings);
        self.update_iir(settings, false);
        matches!(settings.mode, Mode::Fir(_))
    }

    /// Posts `settings` with a new generation.
    fn post(&mut self, settings: &EqSettings) {
        self.generation += 1;
        *self.posted.back_mut() = Posted {
            settings: *settings,
            generation: self.generation,
        };
        self.posted.publish();
    }

    /// Hands the bands to the zero-latency sections and updates its auto gain.
    fn update_iir(&mut self, settings: &EqSettings, jump: bool) {
        for (i, b) in settings.bands.iter().enumerate() {
            let g = group(b.placement);
            let band = effective_band(&b.band, self.fs);
            for (k, eq) in self.iir.iter_mut().enumerate() {
                let mut bb = band;
                bb.enabled &= k == g;
                if !bb.enabled {
                    bb = shared_dsp::filter::Band {
                        enabled: false,
                        ..eq.band(i)
                    };
                }
                eq.set_band(i, bb);
            }
        }
        if settings.mode == Mode::ZeroLatency && self.fir_active {
            // Switch to the zero-latency path at once (latency drops to 0).
            self.fir_active = false;
            self.held = false;
            for eq in &mut self.iir {
                eq.reset();
            }
        }
        self.curves.set(settings, self.fs);
        let g = self.iir_gain_target();
        if jump {
            self.iir_gain.reset(g);
        } else {
            self.iir_gain.set_target(g);
        }
    }

    /// Auto gain of the zero-latency path for the current settings.
    fn iir_gain_target(&self) -> f32 {
        if self.last.auto_gain {
            auto_gain(&self.curves) as f32
        } else {
            1.0
        }
    }

    /// Takes a kernel set from the designer if one arrived and applies it when possible.
    fn poll_kernels(&mut self) {
        if self.kernels.update() {
            self.held = true;
        }
        if !self.held {
            return;
        }
        if self.last.mode == Mode::ZeroLatency {
            self.held = false;
            return;
        }
        let set = self.kernels.front_mut();
        if !self.fir_active || set.kernel_latency != self.kernel_latency {
            // New path or new latency: nothing to crossfade against; start clean.
            for (c, k) in self.conv.iter_mut().zip(set.spectra.iter_mut()) {
                c.swap_kernel(k);
                c.reset();
            }
            self.cross_running = set.cross;
            self.cross_stop = None;
            self.kernel_latency = set.kernel_latency;
            self.deviation = set.deviation;
            self.fir_active = true;
            self.held = false;
            return;
        }
        if set.cross && !self.cross_running {
            // Start the cross convolvers on their zero kernels; apply once their history is full.
            self.conv[2].reset();
            self.conv[3].reset();
            self.cross_running = true;
            self.cross_warm = 0;
            self.cross_stop = None;
            return;
        }
        if set.cross && self.cross_warm < 2 * self.kernel_latency + 1 + PARTITION {
            return;
        }
        let n = if self.cross_running { 4 } else { 2 };
        for (c, k) in self.conv.iter_mut().zip(set.spectra.iter_mut()).take(n) {
            c.swap_kernel(k);
        }
        self.deviation = set.deviation;
        self.cross_stop = if !set.cross && self.cross_running {
            Some(3 * PARTITION)
        } else {
            None
        };
        self.held = false;
    }

    /// Clears all audio state (convolvers, filters, dry history). Allocation-free.
    pub fn reset(&mut self) {
        for c in &mut self.conv {
            c.reset();
        }
        for eq in &mut self.iir {
            eq.reset();
        }
        self.dry_line.reset();
        self.cross_warm = usize::MAX / 2;
    }

    /// The latency-aligned dry input of the last [`Self::process`] call, one slice per channel
    /// (for the output stage's bypass).
    pub fn dry(&self) -> [&[f32]; 2] {
        [&self.dry[0], &self.dry[1]]
    }

    /// Equalises `channels` (1 or 2, equal lengths up to `max_block`) in place. Allocation-free
    /// and lock-free.
    ///
    /// # Panics
    /// If there are more than 2 channels, their lengths differ or exceed `max_block`.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        assert!(channels.len() <= 2, "at most 2 channels");
        let Some(n) = channels.first().map(|c| c.len()) else {
            return;
        };
        assert!(n <= self.max_block, "block of {n} > max_block");
        assert!(channels.iter().all(|c| c.len() == n));
        self.poll_kernels();

        // Dry path, delayed by the latency in effect for this block.
        self.dry_line.set_delay(self.latency());
        for (ch, buf) in channels.iter().enumerate() {
            self.dry_line.run(ch, buf, &mut self.dry[ch][..n]);
        }
        self.dry_line.advance(n);

        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let (first, rest) = channels.split_at_mut(1);
            let a = &mut first[0][start..start + len];
            let b = rest.first_mut().map(|c| &mut c[start..start + len]);
            if self.fir_active {
                self.fir_chunk(a, b);
            } else {
                self.iir_chunk(a, b);
            }
            start += len;
        }
    }

    /// Linear-phase path over one chunk.
    fn fir_chunk(&mut self, a: &mut [f32], b: Option<&mut [f32]>) {
        let len = a.len();
        let Some(b) = b else {
            self.conv[0].process(&mut [a]);
            return;
        };
        let (m, s) = (&mut self.mid[..len], &mut self.side[..len]);
        for ((m, s), (&l, &r)) in m.iter_mut().zip(s.iter_mut()).zip(a.iter().zip(b.iter())) {
            *m = 0.5 * (l + r);
            *s = 0.5 * (l - r);
        }
        if self.cross_running {
            self.x_in[..len].copy_from_slice(s);
            self.y_in[..len].copy_from_slice(m);
        }
        self.conv[0].process(&mut [&mut m[..]]);
        self.conv[1].process(&mut [&mut s[..]]);
        if self.cross_running {
            let (x, y) = (&mut self.x_in[..len], &mut self.y_in[..len]);
            self.conv[2].process(&mut [&mut x[..]]);
            self.conv[3].process(&mut [&mut y[..]]);
            for ((m, s), (&x, &y)) in m.iter_mut().zip(s.iter_mut()).zip(x.iter().zip(y.iter())) {
                *m += x;
                *s += y;
            }
            self.cross_warm = self.cross_warm.saturating_add(len);
            if let Some(left) = self.cross_stop {
                if left <= len {
                    self.cross_running = false;
                    self.cross_stop = None;
                } else {
                    self.cross_stop = Some(left - len);
                }
            }
        }
        for ((l, r), (&m, &s)) in a.iter_mut().zip(b.iter_mut()).zip(m.iter().zip(s.iter())) {
            *l = m + s;
            *r = m - s;
        }
    }

    /// Zero-latency path over one chunk.
    fn iir_chunk(&mut self, a: &mut [f32], b: Option<&mut [f32]>) {
        let len = a.len();
        match b {
            Some(b) => {
                self.iir[0].process(&mut [&mut a[..], &mut b[..]]);
                self.iir[1].process(&mut [&mut a[..]]);
                self.iir[2].process(&mut [&mut b[..]]);
                let (m, s) = (&mut self.mid[..len], &mut self.side[..len]);
                for ((m, s), (&l, &r)) in m.iter_mut().zip(s.iter_mut()).zip(a.iter().zip(b.iter()))
                {
                    *m = 0.5 * (l + r);
                    *s = 0.5 * (l - r);
                }
                self.iir[3].process(&mut [&mut m[..]]);
                self.iir[4].process(&mut [&mut s[..]]);
                for ((l, r), (&m, &s)) in a.iter_mut().zip(b.iter_mut()).zip(m.iter().zip(s.iter()))
                {
                    let g = self.iir_gain.next();
                    *l = (m + s) * g;
                    *r = (m - s) * g;
                }
            }
            None => {
                self.iir[0].process(&mut [&mut a[..]]);
                self.iir[3].process(&mut [&mut a[..]]);
                for x in a.iter_mut() {
                    *x *= self.iir_gain.next();
                }
            }
        }
    }
}

/// The two halves driven synchronously (kernels designed before each block that changed
/// settings): what offline rendering and the tests use.
#[derive(Debug)]
pub struct SyncEngine {
    /// Audio half.
    pub processor: Processor,
    /// Design half.
    pub designer: Designer,
}

impl SyncEngine {
    /// See [`build`].
    pub fn new(fs: f64, max_block: usize, settings: &EqSettings) -> Self {
        let (processor, designer) = build(fs, max_block, settings);
        Self {
            processor,
            designer,
        }
    }

    /// Applies `settings` (designing right away if needed) and processes one block.
    pub fn process(&mut self, channels: &mut [&mut [f32]], settings: &EqSettings) {
        if self.processor.set_settings(settings) {
            self.designer.run();
        }
        self.processor.process(channels);
    }

    /// Processes a whole stereo signal in host blocks of `block` samples with fixed settings.
    pub fn process_stereo(&mut self, l: &mut [f32], r: &mut [f32], block: usize, s: &EqSettings) {
        for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
            self.process(&mut [a, b], s);
        }
    }

    /// Latency in samples.
    pub fn latency(&self) -> usize {
        self.processor.latency()
    }

    /// Applies `settings` at once, without crossfade, and clears all audio state (as after
    /// `activate`). Allocation-free.
    pub fn set_settings_now(&mut self, settings: &EqSettings) {
        if self.processor.set_settings(settings) {
            self.designer.run();
        }
        // Twice: a set that needs the cross convolvers is held for one poll.
        for _ in 0..2 {
            self.processor.process(&mut [&mut [][..]]);
            self.processor.reset();
        }
    }
}
