//! Parameters of Postmix Linear-Phase EQ. IDs are permanent: renaming a field is fine, changing an
//! ID breaks users' sessions.
//!
//! Band `n` (1..=24) has the IDs `b{n}_type`, `b{n}_freq`, `b{n}_gain`, `b{n}_q`, `b{n}_slope`,
//! `b{n}_on` and `b{n}_place`; the global ones are `res` (resolution mode), `auto_gain`, and the
//! output section's `bypass` and `out_gain`.

use nice_plug::prelude::*;
use shared_dsp::filter::{Band, BandType, Slope};
use shared_ui::output::OutputParams;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::engine::{BandSetting, EqSettings, MAX_BANDS, Mode, Placement};

/// Lowest band frequency, Hz.
pub const FREQ_MIN_HZ: f32 = 10.0;
/// Highest band frequency, Hz (clamped below Nyquist at design time).
pub const FREQ_MAX_HZ: f32 = 30_000.0;
/// Band gain range, dB (symmetric).
pub const GAIN_MAX_DB: f32 = 30.0;
/// Lowest Q.
pub const Q_MIN: f32 = 0.1;
/// Highest Q.
pub const Q_MAX: f32 = 40.0;
/// Default Q (Butterworth).
pub const Q_DEFAULT: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Band frequency range: 10 Hz to 30 kHz, skewed so that equal knob travel is close to equal
/// musical intervals (the editor's curve view places nodes on a true log axis).
pub fn freq_range() -> FloatRange {
    FloatRange::Skewed {
        min: FREQ_MIN_HZ,
        max: FREQ_MAX_HZ,
        factor: FloatRange::skew_factor(-2.5),
    }
}

/// Band gain range: -30 to +30 dB, linear in dB.
pub fn gain_range() -> FloatRange {
    FloatRange::Linear {
        min: -GAIN_MAX_DB,
        max: GAIN_MAX_DB,
    }
}

/// Q range: 0.1 to 40, skewed towards the low end (dense where Q is musically used).
pub fn q_range() -> FloatRange {
    FloatRange::Skewed {
        min: Q_MIN,
        max: Q_MAX,
        factor: FloatRange::skew_factor(-2.0),
    }
}

/// Default frequency of band `i` (0-based): spread log-evenly from 30 Hz to 16 kHz so that
/// enabling bands without touching them gives distinct nodes.
pub fn default_freq(i: usize) -> f32 {
    let t = i as f32 / (MAX_BANDS - 1) as f32;
    30.0 * (16_000.0f32 / 30.0).powf(t)
}

/// Band shape (mirrors [`BandType`]).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// Peaking bell.
    #[id = "bell"]
    Bell,
    /// Low shelf.
    #[id = "low_shelf"]
    #[name = "Low Shelf"]
    LowShelf,
    /// High shelf.
    #[id = "high_shelf"]
    #[name = "High Shelf"]
    HighShelf,
    /// High-pass.
    #[id = "low_cut"]
    #[name = "Low Cut"]
    LowCut,
    /// Low-pass.
    #[id = "high_cut"]
    #[name = "High Cut"]
    HighCut,
    /// Band reject.
    #[id = "notch"]
    Notch,
    /// Band pass.
    #[id = "band_pass"]
    #[name = "Band Pass"]
    BandPass,
    /// Tilt shelf.
    #[id = "tilt"]
    #[name = "Tilt Shelf"]
    TiltShelf,
}

impl BandKind {
    /// The DSP band type.
    pub fn band_type(self) -> BandType {
        match self {
            Self::Bell => BandType::Bell,
            Self::LowShelf => BandType::LowShelf,
            Self::HighShelf => BandType::HighShelf,
            Self::LowCut => BandType::LowCut,
            Self::HighCut => BandType::HighCut,
            Self::Notch => BandType::Notch,
            Self::BandPass => BandType::BandPass,
            Self::TiltShelf => BandType::TiltShelf,
        }
    }

    /// Whether the gain parameter acts on this shape.
    pub fn has_gain(self) -> bool {
        matches!(
            self,
            Self::Bell | Self::LowShelf | Self::HighShelf | Self::TiltShelf
        )
    }

    /// Whether the slope parameter acts on this shape.
    pub fn has_slope(self) -> bool {
        matches!(self, Self::LowCut | Self::HighCut)
    }
}

/// Cut slope in dB/octave (mirrors [`Slope`]).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlopeParam {
    /// 6 dB/oct.
    #[id = "6"]
    #[name = "6 dB/oct"]
    Db6,
    /// 12 dB/oct.
    #[id = "12"]
    #[name = "12 dB/oct"]
    Db12,
    /// 18 dB/oct.
    #[id = "18"]
    #[name = "18 dB/oct"]
    Db18,
    /// 24 dB/oct.
    #[id = "24"]
    #[name = "24 dB/oct"]
    Db24,
    /// 36 dB/oct.
    #[id = "36"]
    #[name = "36 dB/oct"]
    Db36,
    /// 48 dB/oct.
    #[id = "48"]
    #[name = "48 dB/oct"]
    Db48,
    /// 72 dB/oct.
    #[id = "72"]
    #[name = "72 dB/oct"]
    Db72,
    /// 96 dB/oct.
    #[id = "96"]
    #[name = "96 dB/oct"]
    Db96,
}

impl SlopeParam {
    /// The DSP slope.
    pub fn slope(self) -> Slope {
        match self {
            Self::Db6 => Slope::Db6,
            Self::Db12 => Slope::Db12,
            Self::Db18 => Slope::Db18,
            Self::Db24 => Slope::Db24,
            Self::Db36 => Slope::Db36,
            Self::Db48 => Slope::Db48,
            Self::Db72 => Slope::Db72,
            Self::Db96 => Slope::Db96,
        }
    }
}

/// Which part of the stereo signal a band processes.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceParam {
    /// Both channels.
    #[id = "stereo"]
    Stereo,
    /// Left channel only.
    #[id = "left"]
    Left,
    /// Right channel only.
    #[id = "right"]
    Right,
    /// Mid, (L + R) / 2.
    #[id = "mid"]
    Mid,
    /// Side, (L - R) / 2.
    #[id = "side"]
    Side,
}

impl PlaceParam {
    /// The engine's placement.
    pub fn placement(self) -> Placement {
        match self {
            Self::Stereo => Placement::Stereo,
            Self::Left => Placement::Left,
            Self::Right => Placement::Right,
            Self::Mid => Placement::Mid,
            Self::Side => Placement::Side,
        }
    }
}

/// Processing mode: minimum-phase zero latency or one of the linear-phase resolutions.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolutionParam {
    /// Minimum-phase analog-matched biquads, no latency.
    #[id = "zero"]
    #[name = "Zero Latency"]
    ZeroLatency,
    /// Linear phase, 3072 samples of latency at 48 kHz (64 ms).
    #[id = "low"]
    Low,
    /// Linear phase, 6144 samples of latency at 48 kHz (128 ms).
    #[id = "medium"]
    Medium,
    /// Linear phase, 24 576 samples of latency at 48 kHz (512 ms).
    #[id = "high"]
    High,
    /// Linear phase, 49 152 samples of latency at 48 kHz (1024 ms).
    #[id = "max"]
    Maximum,
}

impl ResolutionParam {
    /// The engine's mode.
    pub fn mode(self) -> Mode {
        use shared_dsp::fir::Resolution;
        match self {
            Self::ZeroLatency => Mode::ZeroLatency,
            Self::Low => Mode::Fir(Resolution::Low),
            Self::Medium => Mode::Fir(Resolution::Medium),
            Self::High => Mode::Fir(Resolution::High),
            Self::Maximum => Mode::Fir(Resolution::Maximum),
        }
    }
}

/// One band's parameters (IDs get the `b{n}_` prefix from [`BandArray`]).
#[derive(Params)]
pub struct BandParams {
    /// Shape.
    #[id = "type"]
    pub kind: EnumParam<BandKind>,
    /// Centre / corner frequency in Hz.
    #[id = "freq"]
    pub freq_hz: FloatParam,
    /// Gain in dB.
    // NOTE: stored in dB, not as linear gain: it is a curve coordinate (the editor drags it on a
    // dB axis) and never multiplies a signal directly; changes reach the audio through the
    // kernel crossfade (linear phase) or the coefficient glide (zero latency).
    #[id = "gain"]
    pub gain_db: FloatParam,
    /// Q (see `shared_dsp::filter::curve` for its meaning per shape).
    #[id = "q"]
    pub q: FloatParam,
    /// Cut slope.
    #[id = "slope"]
    pub slope: EnumParam<SlopeParam>,
    /// Band on/off.
    #[id = "on"]
    pub enabled: BoolParam,
    /// Stereo placement.
    #[id = "place"]
    pub placement: EnumParam<PlaceParam>,
}

impl BandParams {
    /// Band `i` (0-based) with its default frequency, off.
    pub fn new(i: usize, changed: &Changed) -> Self {
        Self {
            kind: EnumParam::new("Type", BandKind::Bell).with_callback(changed.on_change()),
            // NOTE: no `with_unit`: the Hz/kHz formatter writes the unit itself.
            freq_hz: FloatParam::new("Frequency", default_freq(i), freq_range())
                .with_value_to_string(formatters::v2s_f32_hz_then_khz(2))
                .with_string_to_value(formatters::s2v_f32_hz_then_khz())
                .with_callback(changed.on_change()),
            gain_db: FloatParam::new("Gain", 0.0, gain_range())
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_rounded(2))
                .with_callback(changed.on_change()),
            q: FloatParam::new("Q", Q_DEFAULT, q_range())
                .with_value_to_string(formatters::v2s_f32_rounded(3))
                .with_callback(changed.on_change()),
            slope: EnumParam::new("Slope", SlopeParam::Db24).with_callback(changed.on_change()),
            enabled: BoolParam::new("On", false).with_callback(changed.on_change()),
            placement: EnumParam::new("Placement", PlaceParam::Stereo)
                .with_callback(changed.on_change()),
        }
    }

    /// The band as the engine sees it (values, not smoothed: the engine smooths).
    pub fn setting(&self) -> BandSetting {
        BandSetting {
            band: Band {
                kind: self.kind.value().band_type(),
                freq_hz: self.freq_hz.value() as f64,
                gain_db: self.gain_db.value() as f64,
                q: self.q.value() as f64,
                slope: self.slope.value().slope(),
                enabled: self.enabled.value(),
            },
            placement: self.placement.value().placement(),
        }
    }
}

/// The 24 bands. Implements [`Params`] by hand so that band `n`'s IDs are `b{n}_type` etc.
/// (nice-plug's `#[nested(array)]` would suffix them: `type_1`).
pub struct BandArray(pub Vec<BandParams>);

impl BandArray {
    /// The 24 bands, each reporting its changes to `changed`.
    pub fn new(changed: &Changed) -> Self {
        Self(
            (0..MAX_BANDS)
                .map(|i| BandParams::new(i, changed))
                .collect(),
        )
    }
}

// SAFETY: the pointers returned by `param_map` point into the `BandParams` stored in the `Vec`,
// which is never resized after construction and lives as long as the plugin's `Arc<Params>`.
unsafe impl Params for BandArray {
    fn param_map(&self) -> Vec<(String, ParamPtr, String)> {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, band)| {
                band.param_map().into_iter().map(move |(id, ptr, _)| {
                    (format!("b{}_{id}", i + 1), ptr, format!("Band {}", i + 1))
                })
            })
            .collect()
    }
}

/// Every parameter of Postmix Linear-Phase EQ.
#[derive(Params)]
pub struct LinearPhaseEqParams {
    /// Processing mode and kernel resolution.
    #[id = "res"]
    pub resolution: EnumParam<ResolutionParam>,
    /// Keeps loudness unchanged (see the README for the weighting).
    #[id = "auto_gain"]
    pub auto_gain: BoolParam,
    /// The bands.
    #[nested(group = "Bands")]
    pub bands: BandArray,
    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
    /// Change counter of everything [`Self::settings`] reads.
    pub changed: Changed,
}

impl Default for LinearPhaseEqParams {
    fn default() -> Self {
        let changed = Changed::default();
        Self {
            resolution: EnumParam::new("Resolution", ResolutionParam::Medium)
                .with_callback(changed.on_change()),
            auto_gain: BoolParam::new("Auto Gain", false).with_callback(changed.on_change()),
            bands: BandArray::new(&changed),
            output: OutputParams::default(),
            changed,
        }
    }
}

/// Counts changes of every parameter that [`LinearPhaseEqParams::settings`] reads, so that the
/// audio thread rebuilds the settings only after a change instead of reading ~170 parameters in
/// every block.
///
/// NOTE: nice-plug calls a parameter's callback after storing the new value, whoever sets it
/// (host automation, the editor, a state load). A reader that loads the count *before* reading
/// the values therefore never misses a change: a store it did not see bumps the count again.
#[derive(Debug, Clone, Default)]
pub struct Changed(Arc<AtomicU32>);

impl Changed {
    /// The callback to attach to a parameter.
    fn on_change<T>(&self) -> Arc<dyn Fn(T) + Send + Sync> {
        let count = self.0.clone();
        Arc::new(move |_| {
            count.fetch_add(1, Ordering::Release);
        })
    }

    /// The current count (changes so far, wrapping).
    pub fn count(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }
}

impl LinearPhaseEqParams {
    /// The engine settings for the current parameter values. Allocation-free.
    pub fn settings(&self) -> EqSettings {
        let mut s = EqSettings::default();
        for (out, band) in s.bands.iter_mut().zip(&self.bands.0) {
            *out = band.setting();
        }
        s.mode = self.resolution.value().mode();
        s.auto_gain = self.auto_gain.value();
        s
    }
}
