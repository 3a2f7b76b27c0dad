//! Parameters of Postmix Loudness Meter, and the pure logic the editor shares with them: target
//! presets, meter scales, readout units, history lengths, readout formatting and the playback
//! normalisation a streaming service would apply.
//!
//! IDs are permanent: renaming a field or a variant is fine, changing an `#[id]` breaks users'
//! sessions. None of these parameters touches the audio, so none is automatable: they are
//! settings of the display, saved with the session.

use nice_plug::prelude::*;
use shared_ui::output::OutputParams;

/// Lowest custom target, LUFS.
pub const CUSTOM_TARGET_MIN_LUFS: f32 = -40.0;
/// Highest custom target, LUFS.
pub const CUSTOM_TARGET_MAX_LUFS: f32 = -5.0;
/// Default custom target, LUFS (EBU R 128).
pub const CUSTOM_TARGET_DEFAULT_LUFS: f32 = -23.0;
/// History points per second (the ring is written at 10 Hz, like Tech 3342's LRA sampling).
pub const HISTORY_RATE_HZ: usize = 10;

/// Delivery targets, each with its integrated-loudness target and its maximum true peak.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPreset {
    /// EBU R 128: -23 LUFS, -1 dBTP.
    #[id = "ebu_r128"]
    #[name = "EBU R 128 (-23 LUFS)"]
    EbuR128,
    /// ATSC A/85 (US broadcast): -24 LKFS, -2 dBTP.
    #[id = "atsc_a85"]
    #[name = "ATSC A/85 (-24 LKFS)"]
    AtscA85,
    /// Music streaming (Spotify, YouTube, Tidal normalise to about -14 LUFS), -1 dBTP.
    #[id = "streaming"]
    #[name = "Streaming (-14 LUFS)"]
    Streaming,
    /// Apple Music (Sound Check): -16 LUFS, -1 dBTP.
    #[id = "apple_music"]
    #[name = "Apple Music (-16 LUFS)"]
    AppleMusic,
    /// Podcasts (Apple Podcasts and most hosts): -16 LUFS, -1 dBTP.
    #[id = "podcast"]
    #[name = "Podcast (-16 LUFS)"]
    Podcast,
    /// The custom target parameter, -1 dBTP.
    #[id = "custom"]
    #[name = "Custom"]
    Custom,
}

impl TargetPreset {
    /// Every preset, in menu order.
    pub const ALL: [TargetPreset; 6] = [
        TargetPreset::EbuR128,
        TargetPreset::AtscA85,
        TargetPreset::Streaming,
        TargetPreset::AppleMusic,
        TargetPreset::Podcast,
        TargetPreset::Custom,
    ];

    /// Integrated-loudness target in LUFS; `custom_lufs` is used by [`TargetPreset::Custom`].
    ///
    /// Sources: EBU R 128 v4.0 (-23 LUFS); ATSC A/85:2013 (-24 LKFS); Spotify, YouTube and
    /// Tidal's published normalisation level (-14 LUFS); Apple's Sound Check and podcast
    /// delivery specs (-16 LUFS).
    pub fn target_lufs(self, custom_lufs: f32) -> f32 {
        match self {
            TargetPreset::EbuR128 => -23.0,
            TargetPreset::AtscA85 => -24.0,
            TargetPreset::Streaming => -14.0,
            TargetPreset::AppleMusic | TargetPreset::Podcast => -16.0,
            TargetPreset::Custom => custom_lufs,
        }
    }

    /// Maximum true peak in dBTP. ATSC A/85:2013 recommends -2 dBTP; EBU R 128 and the
    /// streaming/podcast specs ask for -1 dBTP; the custom target uses -1 dBTP too.
    pub fn max_true_peak_dbtp(self) -> f32 {
        match self {
            TargetPreset::AtscA85 => -2.0,
            _ => -1.0,
        }
    }

    /// Whether a service normalises playback to this target (then the editor shows the gain it
    /// would apply).
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            TargetPreset::Streaming | TargetPreset::AppleMusic | TargetPreset::Podcast
        )
    }

    /// Short name for buttons and menus.
    pub fn short_name(self) -> &'static str {
        match self {
            TargetPreset::EbuR128 => "EBU R 128",
            TargetPreset::AtscA85 => "ATSC A/85",
            TargetPreset::Streaming => "Streaming",
            TargetPreset::AppleMusic => "Apple Music",
            TargetPreset::Podcast => "Podcast",
            TargetPreset::Custom => "Custom",
        }
    }
}

/// Meter scales of EBU Tech 3341, in LU relative to the target.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterScale {
    /// "EBU +9": -18 to +9 LU.
    #[id = "ebu9"]
    #[name = "EBU +9"]
    Ebu9,
    /// "EBU +18": -36 to +18 LU.
    #[id = "ebu18"]
    #[name = "EBU +18"]
    Ebu18,
}

impl MeterScale {
    /// Range (bottom, top) in LU relative to the target.
    pub fn range_lu(self) -> (f32, f32) {
        match self {
            MeterScale::Ebu9 => (-18.0, 9.0),
            MeterScale::Ebu18 => (-36.0, 18.0),
        }
    }

    /// Spacing of the scale marks, LU.
    pub fn tick_lu(self) -> f32 {
        match self {
            MeterScale::Ebu9 => 3.0,
            MeterScale::Ebu18 => 6.0,
        }
    }
}

/// How loudness readouts are shown.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadoutUnit {
    /// Absolute, LUFS.
    #[id = "lufs"]
    #[name = "LUFS"]
    Lufs,
    /// Relative to the target, LU (0 LU = target).
    #[id = "lu"]
    #[name = "LU"]
    Lu,
}

impl ReadoutUnit {
    /// Unit label.
    pub fn label(self) -> &'static str {
        match self {
            ReadoutUnit::Lufs => "LUFS",
            ReadoutUnit::Lu => "LU",
        }
    }
}

/// Span of the loudness history graph.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryLength {
    /// 30 seconds.
    #[id = "30s"]
    #[name = "30 s"]
    S30,
    /// 1 minute.
    #[id = "1m"]
    #[name = "1 min"]
    M1,
    /// 3 minutes.
    #[id = "3m"]
    #[name = "3 min"]
    M3,
    /// 10 minutes.
    #[id = "10m"]
    #[name = "10 min"]
    M10,
}

impl HistoryLength {
    /// Every length, in menu order.
    pub const ALL: [HistoryLength; 4] = [
        HistoryLength::S30,
        HistoryLength::M1,
        HistoryLength::M3,
        HistoryLength::M10,
    ];

    /// Span in seconds.
    pub fn seconds(self) -> usize {
        match self {
            HistoryLength::S30 => 30,
            HistoryLength::M1 => 60,
            HistoryLength::M3 => 180,
            HistoryLength::M10 => 600,
        }
    }

    /// Span in history points (at [`HISTORY_RATE_HZ`]).
    pub fn points(self) -> usize {
        self.seconds() * HISTORY_RATE_HZ
    }

    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            HistoryLength::S30 => "30 s",
            HistoryLength::M1 => "1 min",
            HistoryLength::M3 => "3 min",
            HistoryLength::M10 => "10 min",
        }
    }
}

/// History points the ring must hold: the longest [`HistoryLength`].
pub const HISTORY_MAX_POINTS: usize = 600 * HISTORY_RATE_HZ;

/// Custom target range: -40 to -5 LUFS in 0.1 LU steps.
pub fn custom_target_range() -> FloatRange {
    FloatRange::Linear {
        min: CUSTOM_TARGET_MIN_LUFS,
        max: CUSTOM_TARGET_MAX_LUFS,
    }
}

/// Every parameter of Postmix Loudness Meter.
#[derive(Params)]
pub struct LoudnessMeterParams {
    /// Delivery target preset.
    #[id = "target"]
    pub target: EnumParam<TargetPreset>,
    /// Target for [`TargetPreset::Custom`], LUFS.
    #[id = "custom_lufs"]
    pub custom_target_lufs: FloatParam,
    /// Bar-meter and history scale.
    #[id = "scale"]
    pub scale: EnumParam<MeterScale>,
    /// Readouts in LUFS or in LU relative to the target.
    #[id = "unit"]
    pub unit: EnumParam<ReadoutUnit>,
    /// Span of the loudness history graph.
    #[id = "history"]
    pub history: EnumParam<HistoryLength>,
    /// Reset and run when the host transport starts, pause when it stops.
    #[id = "transport"]
    pub transport_link: BoolParam,
    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
}

impl Default for LoudnessMeterParams {
    fn default() -> Self {
        Self {
            target: EnumParam::new("Target", TargetPreset::EbuR128).non_automatable(),
            custom_target_lufs: FloatParam::new(
                "Custom Target",
                CUSTOM_TARGET_DEFAULT_LUFS,
                custom_target_range(),
            )
            .with_unit(" LUFS")
            .with_value_to_string(formatters::v2s_f32_rounded(1))
            .non_automatable(),
            scale: EnumParam::new("Scale", MeterScale::Ebu9).non_automatable(),
            unit: EnumParam::new("Readout Unit", ReadoutUnit::Lufs).non_automatable(),
            history: EnumParam::new("History Length", HistoryLength::M1).non_automatable(),
            transport_link: BoolParam::new("Reset and Run with Transport", false).non_automatable(),
            output: OutputParams::default(),
        }
    }
}

impl LoudnessMeterParams {
    /// Current target in LUFS.
    pub fn target_lufs(&self) -> f32 {
        self.target
            .value()
            .target_lufs(self.custom_target_lufs.value())
    }
}

/// Formats `x` with one decimal, never as "-0.0"; `signed` adds "+" to positive values.
pub fn one_decimal(x: f64, signed: bool) -> String {
    let r = (x * 10.0).round() / 10.0;
    let r = if r == 0.0 { 0.0 } else { r }; // no "-0.0"
    if signed && r > 0.0 {
        format!("+{r:.1}")
    } else {
        format!("{r:.1}")
    }
}

/// Shown for an undefined reading (silence, too short).
pub const UNDEFINED: &str = "\u{2014}";

/// A loudness reading `lufs` as (number, unit): LUFS as is, or LU relative to `target_lufs`
/// with a sign; [`UNDEFINED`] when there is no reading. The unit is always given.
pub fn format_loudness(
    lufs: Option<f64>,
    unit: ReadoutUnit,
    target_lufs: f32,
) -> (String, &'static str) {
    let text = match (lufs, unit) {
        (None, _) => UNDEFINED.to_owned(),
        (Some(l), ReadoutUnit::Lufs) => one_decimal(l, false),
        (Some(l), ReadoutUnit::Lu) => one_decimal(l - target_lufs as f64, true),
    };
    (text, unit.label())
}

/// A level (LU range, dBTP) as a one-decimal number or [`UNDEFINED`].
pub fn format_value(v: Option<f64>) -> String {
    v.map_or_else(|| UNDEFINED.to_owned(), |v| one_decimal(v, false))
}

/// The gain a normalising service applies on playback, and whether the true peak limited it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaybackGain {
    /// Gain applied, dB (negative: turned down).
    pub gain_db: f64,
    /// Gain that would reach the target exactly, dB (`target - I`).
    pub to_target_db: f64,
    /// The boost was held back so the true peak stays at or below the target's maximum.
    pub peak_limited: bool,
}

/// Playback normalisation for integrated loudness `integrated_lufs`.
///
/// Rule: a programme louder than the target is turned down by the difference (every service
/// does). A quieter one is turned up only as far as its true peak allows: the boost never takes
/// the true peak above `max_tp_dbtp` (Spotify's default mode and Apple's Sound Check behave so;
/// YouTube does not turn up at all). Without a true-peak reading there is no headroom to
/// trust, so no boost. `None` when there is no integrated loudness.
pub fn playback_gain(
    target_lufs: f64,
    integrated_lufs: Option<f64>,
    true_peak_dbtp: Option<f64>,
    max_tp_dbtp: f64,
) -> Option<PlaybackGain> {
    let i = integrated_lufs?;
    let to_target = target_lufs - i;
    if to_target <= 0.0 {
        return Some(PlaybackGain {
            gain_db: to_target,
            to_target_db: to_target,
            peak_limited: false,
        });
    }
    let headroom = true_peak_dbtp.map_or(0.0, |tp| (max_tp_dbtp - tp).max(0.0));
    let gain = to_target.min(headroom);
    Some(PlaybackGain {
        gain_db: gain,
        to_target_db: to_target,
        peak_limited: gain < to_target,
    })
}

/// The normalisation as the editor shows it, e.g. "-3.2 dB on playback"; [`UNDEFINED`] without
/// a reading.
pub fn playback_gain_text(g: Option<PlaybackGain>) -> String {
    match g {
        None => format!("{UNDEFINED} dB on playback"),
        Some(g) => format!("{} dB on playback", one_decimal(g.gain_db, true)),
    }
}

/// A note when the boost was held back by the true peak, e.g.
/// "peak-limited: +4.0 dB would reach the target".
pub fn playback_gain_note(g: Option<PlaybackGain>) -> Option<String> {
    g.filter(|g| g.peak_limited).map(|g| {
        format!(
            "peak-limited: {} dB would reach the target",
            one_decimal(g.to_target_db, true)
        )
    })
}
