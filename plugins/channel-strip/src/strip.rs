//! The channel strip's audio path without the plugin framework: plain [`Settings`] in, audio
//! out. The plugin's `process`, the tests and the benchmark all drive [`Strip`], so what they
//! prove holds for the plugin.
//!
//! Signal flow (stereo or mono):
//! ```text
//! input trim + polarity -> filters (HPF, LPF) -> [gate -> compressor] <-> EQ (order switchable)
//!   -> saturation (2x oversampled) -> width, pan -> (plugin: output gain, bypass)
//! ```
//! With "EQ to sidechain" the EQ leaves the audio path and shapes what the compressor hears (as
//! on SSL consoles). The gate can key from the external sidechain, through its own key filter,
//! and the key can be monitored (listen).
//!
//! Every section has a bypass that crossfades over [`FADE_MS`]; a fully bypassed section costs
//! nothing and passes the signal bit for bit. The only latency is the saturation's oversampler;
//! it is constant ([`Strip::latency`]): while saturation is bypassed a delay line of the same
//! length takes its place, so the host compensation never changes.
//!
//! Block-size invariance: settings are read once per [`SUB_BLOCK`] samples at absolute positions
//! (counted from `reset`), and every smoother runs per sample, so the output does not depend on
//! how the host splits its buffers.
//!
//! Routing changes are crossfades too. Switching the order of dynamics and EQ runs both orders
//! side by side: a spare EQ instance warms up on the new order's signal (long enough for the
//! slowest EQ band to settle, see [`ROUTE_WARMUP_TAUS`]), then the output crossfades from the
//! old order to the new one over [`FADE_MS`] and the spare takes over. The gate and compressor
//! stay single units, like a console's one compressor: during the switch their detectors hear
//! the crossfade of the two orders' signals and their gain is applied to both. "EQ to
//! sidechain" crossfades the compressor's key between its input and the EQ'd copy. The
//! listened gate key is delayed by [`Strip::latency`], so it lines up with the audio.

use shared_dsp::delay::DelayLine;
use shared_dsp::dynamics::{DetectorMode, Dynamics, Lower};
use shared_dsp::filter::{Band, BandType, IirEq, Slope};
use shared_dsp::saturation::{Character, RECOMMENDED_FACTOR, Saturator};
use shared_dsp::smoothing::LinearRamp;
use shared_dsp::util::{db_to_gain, gain_to_db, sanitize};

/// Most main (and sidechain) channels.
pub const MAX_CHANNELS: usize = 2;
/// Settings are read once per this many samples (at absolute positions).
pub const SUB_BLOCK: usize = 64;
/// Oversampling factor of the saturation: the lowest that keeps a driven 5 kHz sine's aliases
/// below -90 dBFS at 48 kHz (see shared-dsp's `tests/saturation_aliasing.rs`).
pub const SAT_FACTOR: usize = RECOMMENDED_FACTOR;
/// Section bypass, polarity and listen crossfade time, ms.
pub const FADE_MS: f32 = 10.0;
/// Glide time of trim, width, pan and compressor mix, ms.
pub const GLIDE_MS: f32 = 20.0;
/// Compressor detector: sample peak over a 5 ms window (holds the peak of anything above 400 Hz).
pub const COMP_DETECTOR_MS: f32 = 5.0;
/// Gate detector: sample peak over a 2 ms window (exact for steady tones above 1 kHz).
pub const GATE_DETECTOR_MS: f32 = 2.0;
/// Attack time of the compressor's fast mode, ms.
pub const FAST_ATTACK_MS: f32 = 0.1;
/// Range of the programme-dependent (auto) attack, ms.
pub const AUTO_ATTACK_MS: (f32, f32) = (0.5, 30.0);
/// Routing switch: the spare EQ warms up on the new order for this many time constants of the
/// slowest EQ band (7: its start-up transient is down 61 dB) before the crossfade begins.
pub const ROUTE_WARMUP_TAUS: f64 = 7.0;
/// Longest routing warm-up, ms (reached only by strong, narrow bands below about 60 Hz).
pub const ROUTE_WARMUP_MAX_MS: f64 = 250.0;

/// High-pass slope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpfSlope {
    /// No high-pass.
    Off,
    /// 12 dB/oct Butterworth.
    Db12,
    /// 18 dB/oct Butterworth.
    Db18,
    /// 24 dB/oct Butterworth.
    Db24,
}

/// Low-pass slope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpfSlope {
    /// No low-pass.
    Off,
    /// 12 dB/oct Butterworth.
    Db12,
    /// 24 dB/oct Butterworth.
    Db24,
}

/// Shape of the LF and HF bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EqShape {
    /// Shelf (Q 0.3-8 like the bells; above 0.707 the shelf is resonant).
    Shelf,
    /// Bell.
    Bell,
}

/// Compressor attack mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackMode {
    /// The attack time as set.
    Manual,
    /// [`FAST_ATTACK_MS`].
    Fast,
    /// Programme dependent: long for steady material, short for transients (see
    /// [`auto_attack_ms`]).
    Auto,
}

/// Lower dynamics mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateMode {
    /// Downward expander with a ratio.
    Expander,
    /// Gate with hysteresis and hold.
    Gate,
}

/// One EQ band's values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EqBand {
    /// Centre / corner frequency, Hz.
    pub freq_hz: f32,
    /// Gain, dB.
    pub gain_db: f32,
    /// Q (0.3-8).
    pub q: f32,
}

/// Plain-value settings (what the parameters mean, already mapped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Input trim, dB (+-24).
    pub trim_db: f32,
    /// Invert the polarity of the left (or mono) channel.
    pub invert_left: bool,
    /// Invert the polarity of the right channel.
    pub invert_right: bool,
    /// Filter section bypassed.
    pub filters_bypass: bool,
    /// High-pass slope.
    pub hpf: HpfSlope,
    /// High-pass cutoff, Hz (16-500).
    pub hpf_hz: f32,
    /// Low-pass slope.
    pub lpf: LpfSlope,
    /// Low-pass cutoff, Hz (3k-22k).
    pub lpf_hz: f32,
    /// EQ section bypassed.
    pub eq_bypass: bool,
    /// LF band shape.
    pub lf_shape: EqShape,
    /// LF band.
    pub lf: EqBand,
    /// LMF band (bell).
    pub lmf: EqBand,
    /// HMF band (bell).
    pub hmf: EqBand,
    /// HF band shape.
    pub hf_shape: EqShape,
    /// HF band.
    pub hf: EqBand,
    /// Compressor bypassed.
    pub comp_bypass: bool,
    /// Compressor threshold, dB.
    pub comp_threshold_db: f32,
    /// Compressor ratio, 1 to infinity.
    pub comp_ratio: f32,
    /// Attack mode.
    pub comp_attack_mode: AttackMode,
    /// Manual attack, ms (0.1-30).
    pub comp_attack_ms: f32,
    /// Release, ms (50-4000).
    pub comp_release_ms: f32,
    /// Programme-dependent release.
    pub comp_auto_release: bool,
    /// Knee width, dB.
    pub comp_knee_db: f32,
    /// Auto makeup gain.
    pub comp_auto_makeup: bool,
    /// Dry/wet 0-1.
    pub comp_mix: f32,
    /// Gate/expander bypassed.
    pub gate_bypass: bool,
    /// Gate or expander.
    pub gate_mode: GateMode,
    /// Threshold (gate: opening threshold), dB.
    pub gate_threshold_db: f32,
    /// Largest attenuation, dB (0-80).
    pub gate_range_db: f32,
    /// Expander ratio (1-20).
    pub gate_ratio: f32,
    /// Opening time, ms.
    pub gate_attack_ms: f32,
    /// Hold, ms (gate).
    pub gate_hold_ms: f32,
    /// Closing time, ms.
    pub gate_release_ms: f32,
    /// Hysteresis (gate closes at threshold - hysteresis), dB.
    pub gate_hysteresis_db: f32,
    /// Key filter on.
    pub gate_key_filter: bool,
    /// Key high-pass, Hz.
    pub gate_key_hpf_hz: f32,
    /// Key low-pass, Hz.
    pub gate_key_lpf_hz: f32,
    /// Key from the external sidechain (when connected).
    pub gate_external_key: bool,
    /// Output the (filtered) key instead of the strip.
    pub gate_listen: bool,
    /// Saturation bypassed.
    pub sat_bypass: bool,
    /// Drive, dB (0-24).
    pub sat_drive_db: f32,
    /// Curve.
    pub sat_character: Character,
    /// Dynamics before the EQ (else after).
    pub dynamics_first: bool,
    /// EQ in the compressor's sidechain instead of the audio path.
    pub eq_to_sidechain: bool,
    /// Stereo width 0-2 (1 = unchanged).
    pub width: f32,
    /// Pan (balance) -1 to 1.
    pub pan: f32,
}

impl Default for Settings {
    /// The plugin's defaults: filters and EQ in but flat, dynamics and saturation bypassed.
    fn default() -> Self {
        Self {
            trim_db: 0.0,
            invert_left: false,
            invert_right: false,
            filters_bypass: false,
            hpf: HpfSlope::Off,
            hpf_hz: 80.0,
            lpf: LpfSlope::Off,
            lpf_hz: 16_000.0,
            eq_bypass: false,
            lf_shape: EqShape::Shelf,
            lf: EqBand {
                freq_hz: 100.0,
                gain_db: 0.0,
                q: 0.7,
            },
            lmf: EqBand {
                freq_hz: 400.0,
                gain_db: 0.0,
                q: 1.0,
            },
            hmf: EqBand {
                freq_hz: 2_500.0,
                gain_db: 0.0,
                q: 1.0,
            },
            hf_shape: EqShape::Shelf,
            hf: EqBand {
                freq_hz: 8_000.0,
                gain_db: 0.0,
                q: 0.7,
            },
            comp_bypass: true,
            comp_threshold_db: -18.0,
            comp_ratio: 4.0,
            comp_attack_mode: AttackMode::Manual,
            comp_attack_ms: 10.0,
            comp_release_ms: 200.0,
            comp_auto_release: false,
            comp_knee_db: 6.0,
            comp_auto_makeup: false,
            comp_mix: 1.0,
            gate_bypass: true,
            gate_mode: GateMode::Expander,
            gate_threshold_db: -50.0,
            gate_range_db: 40.0,
            gate_ratio: 2.0,
            gate_attack_ms: 1.0,
            gate_hold_ms: 50.0,
            gate_release_ms: 200.0,
            gate_hysteresis_db: 4.0,
            gate_key_filter: false,
            gate_key_hpf_hz: 100.0,
            gate_key_lpf_hz: 10_000.0,
            gate_external_key: false,
            gate_listen: false,
            sat_bypass: true,
            sat_drive_db: 6.0,
            sat_character: Character::Tape,
            dynamics_first: false,
            eq_to_sidechain: false,
            width: 1.0,
            pan: 0.0,
        }
    }
}

impl Settings {
    /// Every section bypassed and every gain neutral: the strip is a pure delay of
    /// [`Strip::latency`] samples.
    pub fn all_bypassed() -> Self {
        Self {
            filters_bypass: true,
            eq_bypass: true,
            comp_bypass: true,
            gate_bypass: true,
            sat_bypass: true,
            ..Self::default()
        }
    }

    /// The high-pass and low-pass as filter bands (disabled when off).
    pub fn filter_bands(&self) -> [Band; 2] {
        let hp = match self.hpf {
            HpfSlope::Off => None,
            HpfSlope::Db12 => Some(Slope::Db12),
            HpfSlope::Db18 => Some(Slope::Db18),
            HpfSlope::Db24 => Some(Slope::Db24),
        };
        let lp = match self.lpf {
            LpfSlope::Off => None,
            LpfSlope::Db12 => Some(Slope::Db12),
            LpfSlope::Db24 => Some(Slope::Db24),
        };
        let cut = |kind, f: f32, slope: Option<Slope>| {
            let mut b = Band::new(kind, f as f64, 0.0, std::f64::consts::FRAC_1_SQRT_2)
                .with_slope(slope.unwrap_or(Slope::Db12));
            b.enabled = slope.is_some();
            b
        };
        [
            cut(BandType::LowCut, self.hpf_hz, hp),
            cut(BandType::HighCut, self.lpf_hz, lp),
        ]
    }

    /// The four EQ bands as filter bands.
    pub fn eq_bands(&self) -> [Band; 4] {
        let band = |kind: BandType, b: &EqBand| {
            Band::new(kind, b.freq_hz as f64, b.gain_db as f64, b.q as f64)
        };
        let lf = match self.lf_shape {
            EqShape::Shelf => BandType::LowShelf,
            EqShape::Bell => BandType::Bell,
        };
        let hf = match self.hf_shape {
            EqShape::Shelf => BandType::HighShelf,
            EqShape::Bell => BandType::Bell,
        };
        [
            band(lf, &self.lf),
            band(BandType::Bell, &self.lmf),
            band(BandType::Bell, &self.hmf),
            band(hf, &self.hf),
        ]
    }

    /// The gate/expander as the engine's lower section.
    pub fn gate_lower(&self) -> Lower {
        let range_db = self.gate_range_db.clamp(0.0, 80.0);
        match self.gate_mode {
            GateMode::Expander => Lower::Expander {
                threshold_db: self.gate_threshold_db,
                ratio: self.gate_ratio.clamp(1.0, 20.0),
                knee_db: 0.0,
                range_db,
            },
            GateMode::Gate => Lower::Gate {
                open_db: self.gate_threshold_db,
                close_db: self.gate_threshold_db - self.gate_hysteresis_db.max(0.0),
                hold_ms: self.gate_hold_ms,
                range_db,
            },
        }
    }
}

/// Programme-dependent attack from the crest factor (peak over RMS) in dB: 30 ms for a steady
/// sine (3 dB), a tenth of that per 10 dB more crest, limited to [`AUTO_ATTACK_MS`].
pub fn auto_attack_ms(crest_db: f32) -> f32 {
    let a = AUTO_ATTACK_MS.1 * 10f32.powf(-(crest_db - 3.0).max(0.0) / 10.0);
    a.clamp(AUTO_ATTACK_MS.0, AUTO_ATTACK_MS.1)
}

/// Per-sub-block decay of the auto attack's envelopes: ~50 ms release of the peak envelope and
/// ~50 ms averaging of the mean square, per sub-block of 64 samples (1.3 ms at 48 kHz).
fn crest_decay(fs: f32) -> f32 {
    (-(SUB_BLOCK as f32) / (0.05 * fs)).exp()
}

/// What a block did, for the meters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockInfo {
    /// Largest |sample| after trim and polarity.
    pub input_peak: f32,
    /// Largest compressor gain reduction, dB (>= 0).
    pub comp_gr_db: f32,
    /// Largest gate/expander attenuation, dB (>= 0).
    pub gate_gr_db: f32,
}

/// A section's bypass crossfade: 1 = in, 0 = bypassed.
#[derive(Debug, Clone)]
struct Fade {
    /// The crossfade position.
    ramp: LinearRamp,
}

/// What a section does in one piece.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Fully bypassed: skip.
    Skip,
    /// Fully in: process.
    Full,
    /// Crossfading: keep the dry copy, process, mix.
    Mix,
}

impl Fade {
    fn new() -> Self {
        Self {
            ramp: LinearRamp::new(0.0, FADE_MS),
        }
    }

    /// Sets the target; returns how to run the next piece.
    fn begin(&mut self, on: bool) -> Run {
        self.ramp.set_target(if on { 1.0 } else { 0.0 });
        if self.ramp.is_moving() {
            Run::Mix
        } else if self.ramp.value() == 0.0 {
            Run::Skip
        } else {
            Run::Full
        }
    }

    /// True when the section is fully bypassed and stays so.
    fn is_off(&self) -> bool {
        !self.ramp.is_moving() && self.ramp.value() == 0.0
    }
}

/// Saturation section state while it comes in from bypass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SatState {
    /// Bypassed (the oversampler is not running).
    Off,
    /// Running with its output muted until the oversampler's history holds real signal.
    Warming(usize),
    /// Running (fading or fully in).
    On,
}

/// Where a dynamics/EQ order switch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// One order runs (`Strip::eq_dyn_first`).
    Steady,
    /// Both orders run, the output is still the old one; samples of warm-up left.
    Warming(usize),
    /// Both orders run and the output crossfades (`Strip::route`).
    Fading,
}

/// The channel strip's audio path. Allocation-free after [`Strip::new`].
pub struct Strip {
    /// Largest host block.
    max_block: usize,
    /// Sample rate, Hz.
    fs: f32,
    /// Position inside the current settings sub-block.
    phase: usize,
    /// Settings in force.
    settings: Settings,
    /// False until the first settings after `reset` (then everything jumps, no glides).
    primed: bool,
    /// Filters and EQ run in one pass for the current sub-block: both fully in and adjacent
    /// (EQ in the audio path, dynamics after it). Decided at the sub-block start, so it does
    /// not depend on how the host splits its buffers.
    chain_filters_eq: bool,
    /// Trim in dB, gliding.
    trim_db: LinearRamp,
    /// Polarity factor per channel (+1 / -1), crossfading.
    polarity: [LinearRamp; MAX_CHANNELS],
    /// High-pass and low-pass.
    filters: IirEq,
    /// The four EQ bands in the audio path.
    eq: IirEq,
    /// The same four bands, spare: while the order switches it runs the order `eq` does not
    /// run, then takes over (the two are swapped, no allocation).
    eq_spare: IirEq,
    /// The order `eq` runs in (dynamics first?): the order in force outside a switch.
    eq_dyn_first: bool,
    /// Routing switch state.
    route_state: Route,
    /// Routing crossfade: weight of the dynamics-first order (0 = EQ first, 1 = dynamics first).
    route: LinearRamp,
    /// Both orders run in the current sub-block (decided at its start).
    dual: bool,
    /// "EQ to sidechain" key crossfade: 0 = the compressor hears its input, 1 = the EQ'd copy.
    sc_eq: LinearRamp,
    /// Delay that lines the listened key up with the audio (the saturation's latency). It runs
    /// whenever the gate does, so its history is real key when listening starts.
    key_delay: DelayLine,
    /// The key delay ran in the previous piece (else it restarts from silence).
    key_live: bool,
    /// The same four bands for the compressor's key ("EQ to sidechain").
    eq_key: IirEq,
    /// Gate key filter (high-pass and low-pass, 12 dB/oct).
    key_filter: IirEq,
    /// Gate / expander.
    gate: Dynamics,
    /// Compressor.
    comp: Dynamics,
    /// Saturation (oversampled).
    sat: Saturator,
    /// Delay that replaces the saturation while it is bypassed (same latency).
    sat_delay: DelayLine,
    /// Saturation state.
    sat_state: SatState,
    /// Dry path for the plugin's bypass: the input delayed by the latency.
    dry_delay: DelayLine,
    /// Latency-aligned dry input of the last block, `max_block` per channel.
    dry: Vec<Vec<f32>>,
    /// Section fades: filters, EQ, gate, compressor, saturation.
    fade_filters: Fade,
    fade_eq: Fade,
    fade_gate: Fade,
    fade_comp: Fade,
    fade_sat: Fade,
    /// Compressor mix, gliding.
    comp_mix: LinearRamp,
    /// Width 0-2, gliding.
    width: LinearRamp,
    /// Pan -1..1, gliding.
    pan: LinearRamp,
    /// Key listen crossfade.
    listen: LinearRamp,
    /// Auto attack: peak envelope (linear) and mean-square envelope of the compressor input.
    crest_env: (f32, f32),
    /// Auto attack: peak and, per channel, the sum of squares of the current sub-block so far
    /// (per channel so the summation order does not depend on the host's block split).
    crest_acc: (f32, [f32; MAX_CHANNELS]),
    /// Auto attack: the envelopes' per-sub-block decay ([`crest_decay`] at the sample rate).
    crest_k: f32,
    /// Scratch: the dry copy of a section while crossfading.
    dry_scratch: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Scratch: gate key / listen signal.
    key_buf: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Scratch: compressor key.
    comp_key: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Scratch: the per-sample mix of a crossfade.
    mix_buf: [f32; SUB_BLOCK],
    /// Scratch: the per-sample mix of the EQ section's fade while both orders run.
    eq_mix: [f32; SUB_BLOCK],
    /// Scratch: the dynamics-first order's audio while both orders run.
    alt: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Scratch: per-sample weight of the dynamics-first order while both orders run.
    route_buf: [f32; SUB_BLOCK],
    /// Scratch: the compressor's input crossfaded between the two orders.
    mix_key: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Scratch: a dynamics unit's gain while both orders run.
    gain_buf: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// EQ-first order while "EQ to sidechain" crossfades: the EQ section's input, then through
    /// the gate's gain like the audio (what the compressor's input is without the EQ).
    pre_eq: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Scratch: the gate key delayed by the latency (what key listen outputs).
    listen_buf: [[f32; SUB_BLOCK]; MAX_CHANNELS],
}

impl Strip {
    /// A strip for up to [`MAX_CHANNELS`] channels and host blocks of up to `max_block`
    /// samples, at 48 kHz. Allocates everything.
    ///
    /// # Panics
    /// If `max_block` is 0.
    pub fn new(max_block: usize) -> Self {
        assert!(max_block > 0);
        let sat = Saturator::new(MAX_CHANNELS, SUB_BLOCK, SAT_FACTOR);
        let lat = sat.latency();
        let mut s = Self {
            max_block,
            fs: 48_000.0,
            phase: 0,
            settings: Settings::default(),
            primed: false,
            chain_filters_eq: false,
            trim_db: LinearRamp::new(0.0, GLIDE_MS),
            polarity: [LinearRamp::new(1.0, FADE_MS), LinearRamp::new(1.0, FADE_MS)],
            filters: IirEq::new(MAX_CHANNELS, SUB_BLOCK, 2),
            eq: IirEq::new(MAX_CHANNELS, SUB_BLOCK, 4),
            eq_spare: IirEq::new(MAX_CHANNELS, SUB_BLOCK, 4),
            eq_dyn_first: false,
            route_state: Route::Steady,
            route: LinearRamp::new(0.0, FADE_MS),
            dual: false,
            sc_eq: LinearRamp::new(0.0, FADE_MS),
            key_delay: DelayLine::new(MAX_CHANNELS, lat, SUB_BLOCK),
            key_live: false,
            eq_key: IirEq::new(MAX_CHANNELS, SUB_BLOCK, 4),
            key_filter: IirEq::new(MAX_CHANNELS, SUB_BLOCK, 2),
            gate: Dynamics::new(MAX_CHANNELS, SUB_BLOCK),
            comp: Dynamics::new(MAX_CHANNELS, SUB_BLOCK),
            sat,
            sat_delay: DelayLine::new(MAX_CHANNELS, lat, SUB_BLOCK),
            sat_state: SatState::Off,
            dry_delay: DelayLine::new(MAX_CHANNELS, lat, SUB_BLOCK),
            dry: vec![vec![0.0; max_block]; MAX_CHANNELS],
            fade_filters: Fade::new(),
            fade_eq: Fade::new(),
            fade_gate: Fade::new(),
            fade_comp: Fade::new(),
            fade_sat: Fade::new(),
            comp_mix: LinearRamp::new(1.0, GLIDE_MS),
            width: LinearRamp::new(1.0, GLIDE_MS),
            pan: LinearRamp::new(0.0, GLIDE_MS),
            listen: LinearRamp::new(0.0, FADE_MS),
            crest_env: (0.0, 0.0),
            crest_acc: (0.0, [0.0; MAX_CHANNELS]),
            crest_k: crest_decay(48_000.0),
            dry_scratch: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            key_buf: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            comp_key: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            mix_buf: [0.0; SUB_BLOCK],
            eq_mix: [0.0; SUB_BLOCK],
            alt: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            route_buf: [0.0; SUB_BLOCK],
            mix_key: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            gain_buf: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            pre_eq: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            listen_buf: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
        };
        s.sat_delay.set_delay(lat);
        s.dry_delay.set_delay(lat);
        s.key_delay.set_delay(lat);
        s.filters.reserve_chain(s.eq.max_bands());
        for d in [&mut s.gate, &mut s.comp] {
            d.set_stereo_link_percent(100.0);
            d.set_detector(DetectorMode::Peak);
        }
        s.gate.set_detector_ms(GATE_DETECTOR_MS);
        s.comp.set_detector_ms(COMP_DETECTOR_MS);
        // The gate's lower section only: an upper section at ratio 1 never compresses.
        s.gate.set_ratio(1.0);
        s.gate.set_threshold_db(0.0);
        s.set_sample_rate(48_000.0);
        s
    }

    /// Largest host block.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Latency in samples (constant for a sample rate).
    pub fn latency(&self) -> usize {
        self.sat.latency()
    }

    /// Sets the sample rate and clears all state (no allocation).
    pub fn set_sample_rate(&mut self, fs: f32) {
        self.fs = fs;
        self.crest_k = crest_decay(fs);
        for r in [
            &mut self.trim_db,
            &mut self.comp_mix,
            &mut self.width,
            &mut self.pan,
            &mut self.listen,
            &mut self.route,
            &mut self.sc_eq,
        ] {
            r.set_sample_rate(fs);
        }
        for r in &mut self.polarity {
            r.set_sample_rate(fs);
        }
        for f in [
            &mut self.fade_filters,
            &mut self.fade_eq,
            &mut self.fade_gate,
            &mut self.fade_comp,
            &mut self.fade_sat,
        ] {
            f.ramp.set_sample_rate(fs);
        }
        for eq in [
            &mut self.filters,
            &mut self.eq,
            &mut self.eq_spare,
            &mut self.eq_key,
            &mut self.key_filter,
        ] {
            eq.set_sample_rate(fs as f64);
        }
        self.gate.set_sample_rate(fs);
        self.comp.set_sample_rate(fs);
        self.sat.set_sample_rate(fs);
        self.reset();
    }

    /// Clears all state (no allocation). The next settings apply without glides.
    pub fn reset(&mut self) {
        self.phase = 0;
        self.primed = false;
        self.route_state = Route::Steady;
        self.dual = false;
        for eq in [
            &mut self.filters,
            &mut self.eq,
            &mut self.eq_spare,
            &mut self.eq_key,
            &mut self.key_filter,
        ] {
            eq.reset();
        }
        self.gate.reset();
        self.comp.reset();
        self.sat.reset();
        self.sat_delay.reset();
        self.dry_delay.reset();
        self.key_delay.reset();
        self.key_live = false;
        self.crest_env = (0.0, 0.0);
        self.crest_acc = (0.0, [0.0; MAX_CHANNELS]);
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The latency-aligned dry input of the last block, one slice per channel (each
    /// `max_block` long; the first `n` samples belong to a block of `n`).
    pub fn dry(&self) -> &[Vec<f32>] {
        &self.dry
    }

    /// The compressor (for the editor's curve).
    pub fn compressor(&self) -> &Dynamics {
        &self.comp
    }

    /// Hands new settings to the units (only what changed).
    fn apply(&mut self, s: &Settings) {
        let first = !self.primed;
        if !first && *s == self.settings {
            // NOTE: every setter below is idempotent for unchanged settings (they record the
            // value and mark nothing dirty); only the auto attack moves with the programme.
            if s.comp_attack_mode == AttackMode::Auto {
                let attack = self.auto_attack();
                self.comp.set_attack_ms(attack);
            }
            return;
        }
        let p = if first { None } else { Some(self.settings) };
        let fb = s.filter_bands();
        for (i, b) in fb.iter().enumerate() {
            self.filters.set_band(i, *b);
        }
        let eb = s.eq_bands();
        for (i, b) in eb.iter().enumerate() {
            self.eq.set_band(i, *b);
            self.eq_spare.set_band(i, *b);
            self.eq_key.set_band(i, *b);
        }
        let kf = [
            Band::new(
                BandType::LowCut,
                s.gate_key_hpf_hz as f64,
                0.0,
                std::f64::consts::FRAC_1_SQRT_2,
            ),
            Band::new(
                BandType::HighCut,
                s.gate_key_lpf_hz as f64,
                0.0,
                std::f64::consts::FRAC_1_SQRT_2,
            ),
        ];
        for (i, b) in kf.iter().enumerate() {
            self.key_filter.set_band(i, *b);
        }
        // Gate / expander.
        let g = &mut self.gate;
        if p.is_none_or(|p| p.gate_lower() != s.gate_lower()) {
            g.set_lower(s.gate_lower());
        }
        if p.is_none_or(|p| p.gate_attack_ms != s.gate_attack_ms) {
            g.set_attack_ms(s.gate_attack_ms);
        }
        if p.is_none_or(|p| p.gate_release_ms != s.gate_release_ms) {
            g.set_release_ms(s.gate_release_ms);
        }
        // Compressor.
        let c = &mut self.comp;
        if p.is_none_or(|p| p.comp_threshold_db != s.comp_threshold_db) {
            c.set_threshold_db(s.comp_threshold_db);
        }
        if p.is_none_or(|p| p.comp_ratio != s.comp_ratio) {
            c.set_ratio(s.comp_ratio.max(1.0));
        }
        if p.is_none_or(|p| p.comp_knee_db != s.comp_knee_db) {
            c.set_knee_db(s.comp_knee_db);
        }
        if p.is_none_or(|p| p.comp_release_ms != s.comp_release_ms) {
            c.set_release_ms(s.comp_release_ms);
        }
        if p.is_none_or(|p| p.comp_auto_release != s.comp_auto_release) {
            c.set_auto_release(s.comp_auto_release);
        }
        if p.is_none_or(|p| p.comp_auto_makeup != s.comp_auto_makeup) {
            c.set_auto_makeup(s.comp_auto_makeup);
        }
        let attack = match s.comp_attack_mode {
            AttackMode::Manual => s.comp_attack_ms,
            AttackMode::Fast => FAST_ATTACK_MS,
            AttackMode::Auto => self.auto_attack(),
        };
        self.comp.set_attack_ms(attack);
        // Saturation.
        self.sat.set_drive_db(s.sat_drive_db);
        self.sat.set_character(s.sat_character);
        // Glides.
        self.trim_db.set_target(s.trim_db.clamp(-24.0, 24.0));
        self.polarity[0].set_target(if s.invert_left { -1.0 } else { 1.0 });
        self.polarity[1].set_target(if s.invert_right { -1.0 } else { 1.0 });
        self.comp_mix.set_target(s.comp_mix.clamp(0.0, 1.0));
        self.width.set_target(s.width.clamp(0.0, 2.0));
        self.pan.set_target(s.pan.clamp(-1.0, 1.0));
        self.listen.set_target(if s.gate_listen && !s.gate_bypass {
            1.0
        } else {
            0.0
        });
        let keyed = s.eq_to_sidechain && !s.eq_bypass;
        self.sc_eq.set_target(if keyed { 1.0 } else { 0.0 });
        if first {
            // Start exactly on the settings: no glides, no fades, units settled.
            self.trim_db.reset(s.trim_db.clamp(-24.0, 24.0));
            self.polarity[0].reset(if s.invert_left { -1.0 } else { 1.0 });
            self.polarity[1].reset(if s.invert_right { -1.0 } else { 1.0 });
            self.comp_mix.reset(s.comp_mix.clamp(0.0, 1.0));
            self.width.reset(s.width.clamp(0.0, 2.0));
            self.pan.reset(s.pan.clamp(-1.0, 1.0));
            self.listen.reset(if s.gate_listen && !s.gate_bypass {
                1.0
            } else {
                0.0
            });
            let on = |b: bool| if b { 0.0 } else { 1.0 };
            self.fade_filters.ramp.reset(on(s.filters_bypass));
            self.fade_eq
                .ramp
                .reset(on(s.eq_bypass || s.eq_to_sidechain));
            self.fade_gate.ramp.reset(on(s.gate_bypass));
            self.fade_comp.ramp.reset(on(s.comp_bypass));
            self.fade_sat.ramp.reset(on(s.sat_bypass));
            self.eq_dyn_first = s.dynamics_first;
            self.route.reset(if s.dynamics_first { 1.0 } else { 0.0 });
            self.route_state = Route::Steady;
            self.sc_eq.reset(if keyed { 1.0 } else { 0.0 });
            self.sat_state = if s.sat_bypass {
                SatState::Off
            } else {
                SatState::On
            };
            for eq in [
                &mut self.filters,
                &mut self.eq,
                &mut self.eq_spare,
                &mut self.eq_key,
                &mut self.key_filter,
            ] {
                eq.reset();
            }
            self.sat.reset();
            // NOTE: resetting the engines after their setters lands the makeup smoother on its
            // target instead of gliding there from 0 dB.
            self.gate.reset();
            self.comp.reset();
            self.primed = true;
        }
        self.settings = *s;
    }

    /// The programme-dependent attack from the crest envelopes, ms.
    fn auto_attack(&self) -> f32 {
        let (pk, ms) = self.crest_env;
        let crest = if ms > 1e-12 {
            gain_to_db(pk / ms.sqrt())
        } else {
            3.0
        };
        auto_attack_ms(crest)
    }

    /// Processes `audio` in place (1 or 2 channels, at most `max_block` samples).
    /// `settings()` is called at every absolute multiple of [`SUB_BLOCK`] samples since
    /// `reset` (so at most once per `SUB_BLOCK` samples, and always for the first sample after
    /// `reset`). `sidechain` is the external key (1 or 2 channels, at least as long as the
    /// block; it may hold non-finite samples: the strip sanitises what it reads of it).
    /// Afterwards [`Self::dry`] holds the input delayed by [`Self::latency`].
    ///
    /// # Panics
    /// If `audio` has 0 or more than [`MAX_CHANNELS`] channels or channels of different
    /// lengths, the block is longer than `max_block`, or the sidechain is shorter.
    pub fn process<F: FnMut() -> Settings>(
        &mut self,
        audio: &mut [&mut [f32]],
        sidechain: Option<&[&[f32]]>,
        mut settings: F,
    ) -> BlockInfo {
        let nch = audio.len();
        assert!((1..=MAX_CHANNELS).contains(&nch), "1 or 2 channels");
        let n = audio[0].len();
        assert!(audio.iter().all(|c| c.len() == n), "channel lengths differ");
        assert!(n <= self.max_block, "block longer than max_block");
        assert!(sidechain.is_none_or(
            |s| (1..=MAX_CHANNELS).contains(&s.len()) && s.iter().all(|c| c.len() >= n)
        ));
        let mut info = BlockInfo::default();
        let mut start = 0;
        while start < n {
            if self.phase == 0 || !self.primed {
                self.end_sub_block();
                let s = settings();
                self.apply(&s);
                self.plan_route();
                let full = |f: &Fade| !f.ramp.is_moving() && f.ramp.value() == 1.0;
                self.chain_filters_eq = !s.filters_bypass
                    && !s.eq_bypass
                    && !s.eq_to_sidechain
                    && !self.eq_dyn_first
                    && !self.dual
                    && full(&self.fade_filters)
                    && full(&self.fade_eq);
            }
            let len = (SUB_BLOCK - self.phase).min(n - start);
            self.piece(audio, sidechain, start..start + len, &mut info);
            self.phase = (self.phase + len) % SUB_BLOCK;
            start += len;
        }
        info
    }

    /// Sub-block bookkeeping: the auto attack's crest envelopes advance once per sub-block.
    fn end_sub_block(&mut self) {
        let (pk, sq) = self.crest_acc;
        let ms = (sq[0] + sq[1]) / SUB_BLOCK as f32;
        let k = self.crest_k;
        let (ep, em) = self.crest_env;
        let ep = pk.max(ep * k);
        let em = ms + (em - ms) * k;
        self.crest_env = (
            if ep.is_finite() { ep } else { 0.0 },
            if em.is_finite() { em } else { 0.0 },
        );
        self.crest_acc = (0.0, [0.0; MAX_CHANNELS]);
    }

    /// Routing at a sub-block start: starts, advances or ends a dynamics/EQ order switch and
    /// decides whether this sub-block runs both orders.
    fn plan_route(&mut self) {
        let s = self.settings;
        let want = s.dynamics_first;
        let at = |first: bool| if first { 1.0 } else { 0.0 };
        // The order only matters while the EQ is in the audio path and a dynamics section (or
        // the listened key, which is the gate's input) is active: otherwise both orders give
        // the same samples and the switch is immediate (and bit-transparent).
        let idle = |f: &Fade, on: bool| !on && f.is_off();
        let listening = self.listen.is_moving() || self.listen.value() > 0.0;
        let matters = !idle(&self.fade_eq, !s.eq_bypass && !s.eq_to_sidechain)
            && (!idle(&self.fade_gate, !s.gate_bypass)
                || !idle(&self.fade_comp, !s.comp_bypass)
                || listening);
        self.route_state = match self.route_state {
            Route::Steady | Route::Warming(_) if want == self.eq_dyn_first => Route::Steady,
            Route::Steady | Route::Warming(_) if !matters => {
                self.eq_dyn_first = want;
                self.route.reset(at(want));
                Route::Steady
            }
            Route::Steady => {
                // NOTE: the spare starts from clear state and runs the new order while the
                // output still comes from the old one, until its start-up transient has died
                // away. Copying `eq`'s state instead would start it closer, but not on the
                // new order's state (its input differs by the dynamics' gain), and IirEq has
                // no allocation-free state copy (a derived `clone_from` allocates).
                self.eq_spare.reset();
                match self.route_warmup() {
                    0 => {
                        self.route.set_target(at(want));
                        Route::Fading
                    }
                    w => Route::Warming(w),
                }
            }
            Route::Warming(left) => {
                let left = left.saturating_sub(SUB_BLOCK);
                if left == 0 {
                    self.route.set_target(at(want));
                    Route::Fading
                } else {
                    Route::Warming(left)
                }
            }
            Route::Fading => {
                self.route.set_target(at(want));
                if self.route.is_moving() {
                    Route::Fading
                } else {
                    // The fade is over: the instance that ran the order now in force is `eq`.
                    if want != self.eq_dyn_first {
                        std::mem::swap(&mut self.eq, &mut self.eq_spare);
                        self.eq_dyn_first = want;
                    }
                    Route::Steady
                }
            }
        };
        self.dual = self.route_state != Route::Steady;
    }

    /// Warm-up of an order switch in samples: [`ROUTE_WARMUP_TAUS`] time constants of the
    /// slowest pole of the EQ bands (of the analog prototypes: a bell's poles have Q = A q, a
    /// shelf's lie at f / sqrt(A) or f sqrt(A) with Q = q, A = 10^(gain/40)), at most
    /// [`ROUTE_WARMUP_MAX_MS`]. Bands at 0 dB have no sections and need none.
    fn route_warmup(&self) -> usize {
        let s = &self.settings;
        let fs = self.fs as f64;
        let mut tau = 0.0f64;
        let bands = [
            (s.lf_shape == EqShape::Shelf, &s.lf),
            (false, &s.lmf),
            (false, &s.hmf),
            (s.hf_shape == EqShape::Shelf, &s.hf),
        ];
        for (shelf, b) in bands {
            if b.gain_db == 0.0 || !b.gain_db.is_finite() {
                continue;
            }
            let a = 10f64.powf(b.gain_db.clamp(-30.0, 30.0) as f64 / 40.0);
            let q = b.q.clamp(0.3, 8.0) as f64;
            let w0 = (2.0 * std::f64::consts::PI * b.freq_hz.max(1.0) as f64 / fs)
                .min(std::f64::consts::PI);
            let (wp, qp) = if shelf {
                (w0 * a.sqrt().min(1.0 / a.sqrt()), q)
            } else {
                (w0, a * q)
            };
            // Decay time constant of the slower pole: 2Q/w when complex, the slow real pole
            // when overdamped.
            let t = if qp >= 0.5 {
                2.0 * qp / wp
            } else {
                2.0 * qp / (wp * (1.0 - (1.0 - 4.0 * qp * qp).sqrt()))
            };
            tau = tau.max(t);
        }
        let max = ROUTE_WARMUP_MAX_MS * 1e-3 * fs;
        (ROUTE_WARMUP_TAUS * tau).min(max).ceil() as usize
    }

    /// One piece of at most `SUB_BLOCK` samples inside one sub-block.
    fn piece(
        &mut self,
        audio: &mut [&mut [f32]],
        sidechain: Option<&[&[f32]]>,
        r: std::ops::Range<usize>,
        info: &mut BlockInfo,
    ) {
        let nch = audio.len();
        let len = r.len();
        let s = self.settings;
        let mut bufs: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
        for (b, ch) in bufs.iter_mut().zip(audio.iter_mut()) {
            *b = &mut ch[r.clone()];
        }
        let bufs = &mut bufs[..nch];

        // 0. Dry path (plugin bypass).
        for (c, b) in bufs.iter().enumerate() {
            let dry = &mut self.dry[c][r.clone()];
            self.dry_delay.run(c, b, dry);
        }
        self.dry_delay.advance(len);

        // 1. Trim and polarity.
        let moving = self.trim_db.is_moving() || self.polarity.iter().any(|p| p.is_moving());
        if !moving {
            let g = db_to_gain(self.trim_db.value());
            for (c, b) in bufs.iter_mut().enumerate() {
                let gc = g * self.polarity[c].value();
                if gc != 1.0 {
                    b.iter_mut().for_each(|x| *x *= gc);
                }
            }
        } else {
            for i in 0..len {
                let g = db_to_gain(self.trim_db.next());
                for (c, b) in bufs.iter_mut().enumerate() {
                    b[i] *= g * self.polarity[c].next();
                }
                // Keep both polarity ramps in step on mono.
                for p in self.polarity.iter_mut().skip(nch) {
                    p.next();
                }
            }
        }
        for b in bufs.iter() {
            info.input_peak = info.input_peak.max(shared_dsp::util::peak_abs(b));
        }

        // 2. Filters.
        let run = self.fade_filters.begin(!s.filters_bypass);
        let eq_in_path = !s.eq_bypass && !s.eq_to_sidechain;
        if self.chain_filters_eq {
            // Both fully in for the whole sub-block, EQ right after the filters: one pass.
            let eq_run = self.fade_eq.begin(eq_in_path);
            debug_assert!(run == Run::Full && eq_run == Run::Full);
            self.filters.process_chain(&mut self.eq, bufs);
            self.dynamics(bufs, sidechain, r.clone(), info, false);
        } else {
            self.section(run, Section::Filters, bufs, len);
        }

        // 3. Dynamics and EQ in the chosen order.
        if self.chain_filters_eq {
            // Done above.
        } else if self.dual {
            self.both_orders(bufs, sidechain, r.clone(), info);
        } else if self.eq_dyn_first {
            self.dynamics(bufs, sidechain, r.clone(), info, false);
            let run = self.fade_eq.begin(eq_in_path);
            self.section(run, Section::Eq, bufs, len);
        } else {
            let run = self.fade_eq.begin(eq_in_path);
            // While the compressor's key crossfades to or from the EQ'd copy and the EQ is in
            // the audio path (or fading), the key is built from the EQ's input (see
            // `sidechain_eq`), so keep it.
            let pre = run != Run::Skip && (self.sc_eq.is_moving() || self.sc_eq.value() > 0.0);
            if pre {
                for (p, b) in self.pre_eq.iter_mut().zip(bufs.iter()) {
                    p[..len].copy_from_slice(b);
                }
            }
            self.section(run, Section::Eq, bufs, len);
            self.dynamics(bufs, sidechain, r.clone(), info, pre);
        }

        // 4. Saturation (or its latency as a plain delay).
        self.saturation(bufs, len);

        // 5. Width and pan (stereo only).
        if nch == 2 {
            self.image(bufs, len);
        }

        // 6. Key listen, delayed like the audio by the saturation's latency.
        if self.listen.is_moving() || self.listen.value() > 0.0 {
            // `listen_buf` holds the delayed key: listening implies the gate section ran
            // `delay_key` in this piece.
            for i in 0..len {
                let x = self.listen.next();
                for (c, b) in bufs.iter_mut().enumerate() {
                    let k = self.listen_buf[c][i];
                    b[i] = if x >= 1.0 { k } else { b[i] + (k - b[i]) * x };
                }
            }
        }
    }

    /// Runs a zero-latency section with its bypass crossfade.
    fn section(&mut self, run: Run, which: Section, bufs: &mut [&mut [f32]], len: usize) {
        if run == Run::Skip {
            return;
        }
        let fade = match which {
            Section::Filters => &mut self.fade_filters,
            Section::Eq => &mut self.fade_eq,
        };
        if run == Run::Mix {
            if fade.ramp.value() == 0.0 {
                // Coming in from bypass: start from clear state.
                match which {
                    Section::Filters => self.filters.reset(),
                    Section::Eq => self.eq.reset(),
                }
            }
            for (d, b) in self.dry_scratch.iter_mut().zip(bufs.iter()) {
                d[..len].copy_from_slice(b);
            }
            for m in &mut self.mix_buf[..len] {
                *m = fade.ramp.next();
            }
        }
        match which {
            Section::Filters => self.filters.process(bufs),
            Section::Eq => self.eq.process(bufs),
        }
        if run == Run::Mix {
            crossfade(bufs, &self.dry_scratch, &self.mix_buf[..len]);
        }
    }

    /// Gate then compressor, each with its bypass crossfade; the compressor also with its mix.
    /// `pre`: `pre_eq` holds the EQ section's input (EQ-first order), which the gate's gain (and
    /// bypass crossfade) then reaches too, and the compressor's EQ'd key is built from it.
    fn dynamics(
        &mut self,
        bufs: &mut [&mut [f32]],
        sidechain: Option<&[&[f32]]>,
        r: std::ops::Range<usize>,
        info: &mut BlockInfo,
        pre: bool,
    ) {
        let s = self.settings;
        let nch = bufs.len();
        let len = r.len();

        // Gate key: the external sidechain or the gate input, optionally filtered.
        let ext = sidechain.filter(|_| s.gate_external_key);
        let listening = self.listen.is_moving() || self.listen.value() > 0.0;
        let gate_run = self.fade_gate.begin(!s.gate_bypass);
        let need_key = gate_run != Run::Skip || listening;
        let mut key_len = 0;
        if need_key && (s.gate_key_filter || ext.is_some() || listening) {
            match ext {
                Some(sc) => external_key(sc, r.clone(), nch, &mut self.key_buf),
                None => {
                    for (k, b) in self.key_buf.iter_mut().zip(bufs.iter()) {
                        k[..len].copy_from_slice(b);
                    }
                }
            }
            filter_and_delay_key(
                s.gate_key_filter.then_some(&mut self.key_filter),
                &mut self.key_buf,
                (nch, len),
                (&mut self.key_delay, &mut self.key_live, listening),
                &mut self.listen_buf,
            );
            key_len = nch;
        } else if need_key {
            delay_key(
                &mut self.key_delay,
                &mut self.key_live,
                listening,
                bufs,
                &mut self.listen_buf,
            );
        } else {
            self.key_live = false;
        }

        if gate_run != Run::Skip {
            if gate_run == Run::Mix {
                if self.fade_gate.ramp.value() == 0.0 {
                    self.gate.reset();
                }
                for (d, b) in self.dry_scratch.iter_mut().zip(bufs.iter()) {
                    d[..len].copy_from_slice(b);
                }
                for m in &mut self.mix_buf[..len] {
                    *m = self.fade_gate.ramp.next();
                }
            }
            let [k0, k1] = &self.key_buf;
            let keys: [&[f32]; MAX_CHANNELS] = [&k0[..len], &k1[..len]];
            let key = (key_len > 0).then_some(&keys[..key_len]);
            if pre {
                // The same gain (computed once) on the audio and on the EQ's input. (The
                // strip's gate has no look-ahead, so `apply_gain` keeps no state.)
                debug_assert_eq!(self.gate.latency(), 0);
                let [g0, g1] = &mut self.gain_buf;
                let mut gains: [&mut [f32]; MAX_CHANNELS] = [&mut g0[..len], &mut g1[..len]];
                {
                    let ins: [&[f32]; MAX_CHANNELS] = [&*bufs[0], &*bufs[nch - 1]];
                    self.gate.compute_gain(&ins[..nch], key, &mut gains[..nch]);
                }
                let gains: [&[f32]; MAX_CHANNELS] = [&*gains[0], &*gains[1]];
                self.gate.apply_gain(bufs, &gains[..nch]);
                let mix = &self.mix_buf[..len];
                for (p, g) in self.pre_eq[..nch].iter_mut().zip(&gains) {
                    for (i, (x, g)) in p[..len].iter_mut().zip(g.iter()).enumerate() {
                        // With the gate's bypass crossfade as on the audio (`crossfade`).
                        let wet = *x * g;
                        *x = if gate_run == Run::Mix {
                            *x + (wet - *x) * mix[i]
                        } else {
                            wet
                        };
                    }
                }
            } else {
                self.gate.process(bufs, key);
            }
            if gate_run == Run::Mix {
                crossfade(bufs, &self.dry_scratch, &self.mix_buf[..len]);
            }
            info.gate_gr_db = info.gate_gr_db.max(self.gate.gain_reduction_db());
        }

        // Compressor.
        let comp_run = self.fade_comp.begin(!s.comp_bypass);
        if comp_run == Run::Skip {
            // Nothing hears the key: its crossfade lands on its target (the EQ'd key restarts
            // from clear state when the compressor comes back in).
            let keyed = s.eq_to_sidechain && !s.eq_bypass;
            self.sc_eq.reset(if keyed { 1.0 } else { 0.0 });
            return;
        }
        if s.comp_attack_mode == AttackMode::Auto {
            accumulate_crest(&mut self.crest_acc, bufs.iter().map(|b| &b[..]), nch);
        }
        if comp_run == Run::Mix && self.fade_comp.ramp.value() == 0.0 {
            self.comp.reset();
            self.eq_key.reset();
        }
        let mixing =
            comp_run == Run::Mix || self.comp_mix.is_moving() || self.comp_mix.value() != 1.0;
        if mixing {
            for (d, b) in self.dry_scratch.iter_mut().zip(bufs.iter()) {
                d[..len].copy_from_slice(b);
            }
            for m in &mut self.mix_buf[..len] {
                *m = self.fade_comp.ramp.next() * self.comp_mix.next();
            }
        }
        let [p0, p1] = &self.pre_eq;
        let pres: [&[f32]; MAX_CHANNELS] = [&p0[..len], &p1[..len]];
        let pre = pre.then_some(&pres[..nch]);
        if sidechain_eq(
            &mut self.eq_key,
            &mut self.sc_eq,
            bufs,
            pre,
            &mut self.comp_key,
        ) {
            let [k0, k1] = &self.comp_key;
            let keys: [&[f32]; MAX_CHANNELS] = [&k0[..len], &k1[..len]];
            self.comp.process(bufs, Some(&keys[..nch]));
        } else {
            self.comp.process(bufs, None);
        }
        if mixing {
            crossfade(bufs, &self.dry_scratch, &self.mix_buf[..len]);
        }
        info.comp_gr_db = info.comp_gr_db.max(self.comp.gain_reduction_db());
    }

    /// EQ and dynamics in both orders during a routing switch: the EQ-first order in `bufs`,
    /// the dynamics-first order in `alt`, then `bufs = A + (B - A) w` with `w` the
    /// dynamics-first weight (constant while warming, the crossfade while fading). `eq` runs
    /// the order its state belongs to, `eq_spare` the other. The gate and the compressor
    /// detect on the crossfade of their two inputs and apply the same gain to both orders.
    fn both_orders(
        &mut self,
        bufs: &mut [&mut [f32]],
        sidechain: Option<&[&[f32]]>,
        r: std::ops::Range<usize>,
        info: &mut BlockInfo,
    ) {
        let s = self.settings;
        let nch = bufs.len();
        let len = r.len();
        let w = &mut self.route_buf[..len];
        if self.route_state == Route::Fading {
            // NOTE: smoothstep of the linear ramp: an equal-gain crossfade (the two orders are
            // nearly the same signal) whose slope is 0 at both ends, so the two orders'
            // small difference does not put a kink into the output (a linear ramp's kink shows
            // on low tones, where the signal's own curvature is small). Exactly 0 and 1 at
            // the ends.
            w.iter_mut().for_each(|w| {
                let m = self.route.next();
                *w = m * m * (3.0 - 2.0 * m);
            });
        } else {
            w.fill(if self.eq_dyn_first { 1.0 } else { 0.0 });
        }
        for (a, b) in self.alt.iter_mut().zip(bufs.iter()) {
            a[..len].copy_from_slice(b);
        }
        let [a0, a1] = &mut self.alt;
        let mut alt: [&mut [f32]; MAX_CHANNELS] = [&mut a0[..len], &mut a1[..len]];
        let alt = &mut alt[..nch];
        let w = &self.route_buf[..len];

        // EQ section fade, the same for both orders.
        let eq_run = self.fade_eq.begin(!s.eq_bypass && !s.eq_to_sidechain);
        if eq_run == Run::Mix {
            if self.fade_eq.ramp.value() == 0.0 {
                self.eq.reset();
                self.eq_spare.reset();
            }
            for m in &mut self.eq_mix[..len] {
                *m = self.fade_eq.ramp.next();
            }
        }
        let (eq_a, eq_b) = if self.eq_dyn_first {
            (&mut self.eq_spare, &mut self.eq)
        } else {
            (&mut self.eq, &mut self.eq_spare)
        };
        eq_pass(
            eq_a,
            eq_run,
            bufs,
            &mut self.dry_scratch,
            &self.eq_mix[..len],
        );

        // Gate: key from the sidechain or the crossfade of the two orders' gate inputs.
        let ext = sidechain.filter(|_| s.gate_external_key);
        let listening = self.listen.is_moving() || self.listen.value() > 0.0;
        let gate_run = self.fade_gate.begin(!s.gate_bypass);
        if gate_run != Run::Skip || listening {
            match ext {
                Some(sc) => external_key(sc, r.clone(), nch, &mut self.key_buf),
                None => mix_orders(bufs, alt, w, &mut self.key_buf),
            }
            filter_and_delay_key(
                s.gate_key_filter.then_some(&mut self.key_filter),
                &mut self.key_buf,
                (nch, len),
                (&mut self.key_delay, &mut self.key_live, listening),
                &mut self.listen_buf,
            );
        } else {
            self.key_live = false;
        }
        let [g0, g1] = &mut self.gain_buf;
        let mut gains: [&mut [f32]; MAX_CHANNELS] = [&mut g0[..len], &mut g1[..len]];
        let gains = &mut gains[..nch];
        if gate_run != Run::Skip {
            if gate_run == Run::Mix {
                if self.fade_gate.ramp.value() == 0.0 {
                    self.gate.reset();
                }
                for m in &mut self.mix_buf[..len] {
                    *m = self.fade_gate.ramp.next();
                }
            }
            let [k0, k1] = &self.key_buf;
            let keys: [&[f32]; MAX_CHANNELS] = [&k0[..len], &k1[..len]];
            self.gate.compute_gain(&keys[..nch], None, gains);
            let mix = (gate_run == Run::Mix).then_some(&self.mix_buf[..len]);
            gain_pass(&mut self.gate, bufs, gains, mix, &mut self.dry_scratch);
            gain_pass(&mut self.gate, alt, gains, mix, &mut self.dry_scratch);
            info.gate_gr_db = info.gate_gr_db.max(self.gate.gain_reduction_db());
        }

        // Compressor: detects on the crossfade of the two orders' compressor inputs.
        let comp_run = self.fade_comp.begin(!s.comp_bypass);
        if comp_run == Run::Skip {
            let keyed = s.eq_to_sidechain && !s.eq_bypass;
            self.sc_eq.reset(if keyed { 1.0 } else { 0.0 });
        } else {
            mix_orders(bufs, alt, w, &mut self.mix_key);
            if s.comp_attack_mode == AttackMode::Auto {
                let keys = self.mix_key[..nch].iter().map(|k| &k[..len]);
                accumulate_crest(&mut self.crest_acc, keys, nch);
            }
            if comp_run == Run::Mix && self.fade_comp.ramp.value() == 0.0 {
                self.comp.reset();
                self.eq_key.reset();
            }
            let mixing =
                comp_run == Run::Mix || self.comp_mix.is_moving() || self.comp_mix.value() != 1.0;
            if mixing {
                for m in &mut self.mix_buf[..len] {
                    *m = self.fade_comp.ramp.next() * self.comp_mix.next();
                }
            }
            let [m0, m1] = &self.mix_key;
            let plain: [&[f32]; MAX_CHANNELS] = [&m0[..len], &m1[..len]];
            let keyed = sidechain_eq(
                &mut self.eq_key,
                &mut self.sc_eq,
                &plain[..nch],
                // NOTE: during a routing switch the EQ'd key comes from the compressor's mixed
                // input (an EQ-to-sidechain toggle inside a routing switch is not compensated).
                None,
                &mut self.comp_key,
            );
            let [k0, k1] = &self.comp_key;
            let eqd: [&[f32]; MAX_CHANNELS] = [&k0[..len], &k1[..len]];
            let detect = if keyed { &eqd[..nch] } else { &plain[..nch] };
            self.comp.compute_gain(detect, None, gains);
            let mix = mixing.then_some(&self.mix_buf[..len]);
            gain_pass(&mut self.comp, bufs, gains, mix, &mut self.dry_scratch);
            gain_pass(&mut self.comp, alt, gains, mix, &mut self.dry_scratch);
            info.comp_gr_db = info.comp_gr_db.max(self.comp.gain_reduction_db());
        }

        // EQ after the dynamics, then the crossfade of the two orders.
        eq_pass(
            eq_b,
            eq_run,
            alt,
            &mut self.dry_scratch,
            &self.eq_mix[..len],
        );
        for (b, a) in bufs.iter_mut().zip(alt.iter()) {
            for ((x, &y), &w) in b.iter_mut().zip(a.iter()).zip(w) {
                *x = mix_sample(*x, y, w);
            }
        }
    }

    /// Saturation with its bypass crossfade; a plain delay of the same latency when bypassed.
    fn saturation(&mut self, bufs: &mut [&mut [f32]], len: usize) {
        let s = self.settings;
        let want = !s.sat_bypass;
        // Coming in from bypass: run the oversampler muted until its history is real signal.
        if want && self.sat_state == SatState::Off {
            self.sat.reset();
            // NOTE: the 2x polyphase IIR half-bands ring for ~250 samples (to -60 dB) after a
            // reset; warming for 320 samples plus two latencies keeps that out of the fade-in.
            self.sat_state = SatState::Warming(2 * self.sat.latency() + 5 * SUB_BLOCK);
        }
        if !want && self.fade_sat.is_off() {
            self.sat_state = SatState::Off;
        }
        let target_on = want && self.sat_state == SatState::On;
        let run = self.fade_sat.begin(target_on);
        // The delay line always runs (it is the bypassed path and the crossfade's dry side);
        // its output is only read when this piece uses it.
        if self.sat_state == SatState::On && run == Run::Full {
            for (c, b) in bufs.iter().enumerate() {
                self.sat_delay.write(c, b);
            }
        } else {
            for (c, b) in bufs.iter().enumerate() {
                let d = &mut self.dry_scratch[c][..len];
                self.sat_delay.run(c, b, d);
            }
        }
        self.sat_delay.advance(len);
        match self.sat_state {
            SatState::Off => {
                for (b, d) in bufs.iter_mut().zip(&self.dry_scratch) {
                    b.copy_from_slice(&d[..len]);
                }
                return;
            }
            SatState::Warming(left) => {
                self.sat.process(bufs);
                self.sat_state = if left <= len {
                    SatState::On
                } else {
                    SatState::Warming(left - len)
                };
                for (b, d) in bufs.iter_mut().zip(&self.dry_scratch) {
                    b.copy_from_slice(&d[..len]);
                }
                return;
            }
            SatState::On => {}
        }
        self.sat.process(bufs);
        if run != Run::Full {
            for m in &mut self.mix_buf[..len] {
                *m = self.fade_sat.ramp.next();
            }
            crossfade(bufs, &self.dry_scratch, &self.mix_buf[..len]);
        }
    }

    /// Width (mid/side) and pan (balance) on a stereo pair.
    fn image(&mut self, bufs: &mut [&mut [f32]], len: usize) {
        let steady = !self.width.is_moving() && !self.pan.is_moving();
        if steady && self.width.value() == 1.0 && self.pan.value() == 0.0 {
            return;
        }
        let [l, r] = bufs else { return };
        for i in 0..len {
            let w = self.width.next();
            let p = self.pan.next();
            let (gl, gr) = balance(p);
            let m = 0.5 * (l[i] + r[i]);
            let sd = 0.5 * (l[i] - r[i]) * w;
            l[i] = (m + sd) * gl;
            r[i] = (m - sd) * gr;
        }
    }
}

/// Zero-latency sections run through [`Strip::section`].
#[derive(Clone, Copy)]
enum Section {
    Filters,
    Eq,
}

/// Balance gains for pan `p` in -1..1: the far side follows a quarter cosine, the near side stays
/// at unity (centre = both unity).
#[inline]
pub fn balance(p: f32) -> (f32, f32) {
    let c = (p.abs() * std::f32::consts::FRAC_PI_2).cos();
    if p > 0.0 {
        (c, 1.0)
    } else if p < 0.0 {
        (1.0, c)
    } else {
        (1.0, 1.0)
    }
}

/// `a + (b - a) w`, exactly `a` at `w = 0` and exactly `b` at `w = 1`.
#[inline]
fn mix_sample(a: f32, b: f32, w: f32) -> f32 {
    if w == 0.0 {
        a
    } else if w == 1.0 {
        b
    } else {
        a + (b - a) * w
    }
}

/// `out = a + (b - a) w` per sample and channel (the two orders' signals, `w` the weight of the
/// dynamics-first one).
fn mix_orders(
    a: &[&mut [f32]],
    b: &[&mut [f32]],
    w: &[f32],
    out: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
) {
    for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
        for (((o, &a), &b), &w) in o.iter_mut().zip(a.iter()).zip(b.iter()).zip(w) {
            *o = mix_sample(a, b, w);
        }
    }
}

/// The gate key from the external sidechain `sc[r]` for `nch` channels into `key` (a mono key
/// serves both channels; a stereo key on a mono track is its mid), sanitised: the host's
/// sidechain is only read here, so only a key in use costs the pass.
fn external_key(
    sc: &[&[f32]],
    r: std::ops::Range<usize>,
    nch: usize,
    key: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
) {
    let len = r.len();
    for (c, k) in key.iter_mut().enumerate().take(nch.max(sc.len())) {
        let src = sc[c.min(sc.len() - 1)];
        k[..len].copy_from_slice(&src[r.clone()]);
        sanitize(&mut k[..len]);
    }
    if sc.len() > nch {
        let [k0, k1] = key;
        for (a, b) in k0[..len].iter_mut().zip(&k1[..len]) {
            *a = 0.5 * (*a + *b);
        }
    }
}

/// Writes this piece of the gate key into the listen delay and, when `listening`, reads the
/// key delayed by the latency into `out`. Not listening, only the last `latency` samples are
/// kept (the history a listen starting at the next piece reads). After a piece without key
/// the delay restarts from silence.
fn delay_key<P: AsRef<[f32]>>(
    delay: &mut DelayLine,
    live: &mut bool,
    listening: bool,
    key: &[P],
    out: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
) {
    if !*live {
        delay.reset();
        *live = true;
    }
    let len = key[0].as_ref().len();
    for (c, k) in key.iter().enumerate() {
        if listening {
            delay.run(c, k.as_ref(), &mut out[c][..len]);
        } else {
            delay.write_tail(c, k.as_ref());
        }
    }
    delay.advance(len);
}

/// "EQ to sidechain": the compressor's detector input into `key`, the EQ'd copy of `plain`
/// (the compressor's input), crossfading from or to `plain` while `fade` moves. Returns false
/// (nothing written) when the compressor hears `plain` itself.
///
/// `pre`: `plain` is still (partly) EQ'd in the audio path, which the key crossfade replaces
/// (EQ-first order, the EQ section crossfading out of or into the audio path); `pre` is
/// `plain` without the EQ. The key is then `plain + fade (EQ(pre) - pre)`: as the EQ's share in
/// `plain` falls from 1 to 0, so that of the EQ'd key rises, and the compressor hears the EQ'd
/// signal exactly once throughout (filtering `plain` itself would EQ its EQ'd share twice).
fn sidechain_eq<P: AsRef<[f32]>>(
    eq_key: &mut IirEq,
    fade: &mut LinearRamp,
    plain: &[P],
    pre: Option<&[&[f32]]>,
    key: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
) -> bool {
    if !fade.is_moving() && fade.value() == 0.0 {
        return false;
    }
    if fade.value() == 0.0 {
        // Coming in: start from clear state, not from the last time it ran.
        eq_key.reset();
    }
    let nch = plain.len();
    let len = plain[0].as_ref().len();
    for (c, k) in key.iter_mut().take(nch).enumerate() {
        k[..len].copy_from_slice(pre.map_or(plain[c].as_ref(), |p| p[c]));
    }
    let [k0, k1] = key;
    let mut keys: [&mut [f32]; MAX_CHANNELS] = [&mut k0[..len], &mut k1[..len]];
    eq_key.process(&mut keys[..nch]);
    match pre {
        Some(pre) => {
            for i in 0..len {
                let m = fade.next();
                for ((k, p), x) in keys.iter_mut().zip(pre).zip(plain) {
                    k[i] = x.as_ref()[i] + (k[i] - p[i]) * m;
                }
            }
        }
        None if fade.is_moving() => {
            for i in 0..len {
                let m = fade.next();
                for (k, p) in keys.iter_mut().zip(plain) {
                    let x = p.as_ref()[i];
                    k[i] = x + (k[i] - x) * m;
                }
            }
        }
        None => {}
    }
    true
}

/// An EQ instance as a section with its bypass crossfade (`mix` when `run` is [`Run::Mix`]).
fn eq_pass(
    eq: &mut IirEq,
    run: Run,
    bufs: &mut [&mut [f32]],
    dry: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
    mix: &[f32],
) {
    if run == Run::Skip {
        return;
    }
    if run == Run::Mix {
        for (d, b) in dry.iter_mut().zip(bufs.iter()) {
            d[..b.len()].copy_from_slice(b);
        }
    }
    eq.process(bufs);
    if run == Run::Mix {
        crossfade(bufs, dry, mix);
    }
}

/// Applies a dynamics unit's `gain` to `bufs`, crossfaded with the dry signal by `mix` (when
/// given).
fn gain_pass(
    unit: &mut Dynamics,
    bufs: &mut [&mut [f32]],
    gain: &[&mut [f32]],
    mix: Option<&[f32]>,
    dry: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
) {
    if mix.is_some() {
        for (d, b) in dry.iter_mut().zip(bufs.iter()) {
            d[..b.len()].copy_from_slice(b);
        }
    }
    let [g0, g1] = [&gain[0][..], &gain[gain.len() - 1][..]];
    let gains: [&[f32]; MAX_CHANNELS] = [g0, g1];
    unit.apply_gain(bufs, &gains[..bufs.len()]);
    if let Some(m) = mix {
        crossfade(bufs, dry, m);
    }
}

/// The gate key in `key` (`nch` channels, `len` samples) through the key filter (if given),
/// then into the listen delay (see [`delay_key`]).
fn filter_and_delay_key(
    filter: Option<&mut IirEq>,
    key: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
    (nch, len): (usize, usize),
    (delay, live, listening): (&mut DelayLine, &mut bool, bool),
    listen_buf: &mut [[f32; SUB_BLOCK]; MAX_CHANNELS],
) {
    let [k0, k1] = key;
    if let Some(f) = filter {
        let mut keys: [&mut [f32]; MAX_CHANNELS] = [&mut k0[..len], &mut k1[..len]];
        f.process(&mut keys[..nch]);
    }
    let keys: [&[f32]; MAX_CHANNELS] = [&k0[..len], &k1[..len]];
    delay_key(delay, live, listening, &keys[..nch], listen_buf);
}

/// Auto attack: adds the compressor input's channels (`nch` of them) to the sub-block's peak and
/// per-channel sums of squares.
fn accumulate_crest<'a>(
    acc: &mut (f32, [f32; MAX_CHANNELS]),
    channels: impl Iterator<Item = &'a [f32]>,
    nch: usize,
) {
    let (pk, sq) = acc;
    for (b, s) in channels.zip(sq.iter_mut()) {
        for &x in b {
            *pk = pk.max(x.abs());
            *s += x * x / nch as f32;
        }
    }
}

/// `out = dry + (out - dry) * mix`, per sample.
fn crossfade(bufs: &mut [&mut [f32]], dry: &[[f32; SUB_BLOCK]; MAX_CHANNELS], mix: &[f32]) {
    for (b, d) in bufs.iter_mut().zip(dry) {
        for ((w, &x), &m) in b.iter_mut().zip(d.iter()).zip(mix) {
            *w = x + (*w - x) * m;
        }
    }
}

/// Runs a strip over a stereo buffer in host blocks of `block` samples with fixed settings
/// (benchmark helper).
///
/// # Panics
/// If `block > strip.max_block()` or the buffers differ in length.
pub fn process_stereo(
    strip: &mut Strip,
    left: &mut [f32],
    right: &mut [f32],
    block: usize,
    s: &Settings,
) {
    assert_eq!(left.len(), right.len());
    for (l, r) in left.chunks_mut(block).zip(right.chunks_mut(block)) {
        strip.process(&mut [l, r], None, || *s);
    }
}
