//! Parameters of Postmix Limiter. IDs are permanent: renaming a field is fine, changing an ID breaks
//! users' sessions.
//!
//! Ranges and the enum-to-setting mappings are `pub` so the editor and the tests use the same
//! definitions as the host.

use nice_plug::prelude::*;
use shared_dsp::limiter::{Character as DspCharacter, MAX_LOOKAHEAD_MS, MIN_LOOKAHEAD_MS};
use shared_dsp::util::db_to_gain;
use shared_ui::output::OutputParams;
use std::sync::Arc;

/// A value-to-string formatter as nice-plug takes it.
type ValueToString = Arc<dyn Fn(f32) -> String + Send + Sync>;
/// A string-to-value formatter as nice-plug takes it.
type StringToValue = Arc<dyn Fn(&str) -> Option<f32> + Send + Sync>;

/// Input gain range in dB.
pub const INPUT_GAIN_MAX_DB: f32 = 24.0;
/// Ceiling range in dB (dBFS in sample-peak mode, dBTP in true-peak mode).
pub const CEILING_MIN_DB: f32 = -12.0;
/// Ceiling range in dB.
pub const CEILING_MAX_DB: f32 = 0.0;
/// Release range in ms.
pub const RELEASE_MIN_MS: f32 = 1.0;
/// Release range in ms.
pub const RELEASE_MAX_MS: f32 = 1000.0;
/// Base release time used while Auto Release is on (ms): the limiter's own default, at which its
/// programme-dependent release was tuned (the character scales it: Aggressive halves it).
pub const AUTO_RELEASE_MS: f32 = 60.0;
/// Custom loudness target range (LUFS).
pub const TARGET_MIN_LUFS: f32 = -36.0;
/// Custom loudness target range (LUFS).
pub const TARGET_MAX_LUFS: f32 = -6.0;

/// Input gain (linear gain, dB display): 0 to +24 dB.
pub fn input_gain_range() -> FloatRange {
    FloatRange::Skewed {
        min: 1.0,
        max: db_to_gain(INPUT_GAIN_MAX_DB),
        factor: FloatRange::gain_skew_factor(0.0, INPUT_GAIN_MAX_DB),
    }
}

/// Ceiling: -12 to 0 dB, linear in dB.
pub fn ceiling_range() -> FloatRange {
    FloatRange::Linear {
        min: CEILING_MIN_DB,
        max: CEILING_MAX_DB,
    }
}

/// Release: 1 to 1000 ms, skewed (10 ms at about 30 %, 100 ms at about 56 %).
pub fn release_range() -> FloatRange {
    FloatRange::Skewed {
        min: RELEASE_MIN_MS,
        max: RELEASE_MAX_MS,
        factor: FloatRange::skew_factor(-2.0),
    }
}

/// Look-ahead: 0.1 to 10 ms, skewed (1 ms at about 30 %).
pub fn lookahead_range() -> FloatRange {
    FloatRange::Skewed {
        min: MIN_LOOKAHEAD_MS,
        max: MAX_LOOKAHEAD_MS,
        factor: FloatRange::skew_factor(-1.5),
    }
}

/// Stereo link: 0 to 1, shown in percent.
pub fn unit_range() -> FloatRange {
    FloatRange::Linear { min: 0.0, max: 1.0 }
}

/// Custom loudness target: -36 to -6 LUFS.
pub fn target_range() -> FloatRange {
    FloatRange::Linear {
        min: TARGET_MIN_LUFS,
        max: TARGET_MAX_LUFS,
    }
}

/// Oversampling of the limiter's detector and gain stage.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversampling {
    /// None (1x). In true-peak mode the limiter still runs at 2x, its minimum there.
    #[id = "off"]
    #[name = "Off"]
    Off,
    /// 2x.
    #[id = "2x"]
    #[name = "2x"]
    X2,
    /// 4x.
    #[id = "4x"]
    #[name = "4x"]
    X4,
    /// 8x.
    #[id = "8x"]
    #[name = "8x"]
    X8,
    /// 16x.
    #[id = "16x"]
    #[name = "16x"]
    X16,
}

impl Oversampling {
    /// The factor (1, 2, 4, 8 or 16).
    pub fn factor(self) -> usize {
        match self {
            Oversampling::Off => 1,
            Oversampling::X2 => 2,
            Oversampling::X4 => 4,
            Oversampling::X8 => 8,
            Oversampling::X16 => 16,
        }
    }
}

/// Release character.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Character {
    /// Release as set; under sustained limiting the gain is held longer (fewer artefacts).
    #[id = "transparent"]
    #[name = "Transparent"]
    Transparent,
    /// Half the release time and less hold: denser, louder.
    #[id = "aggressive"]
    #[name = "Aggressive"]
    Aggressive,
}

impl Character {
    /// The limiter's setting.
    pub fn dsp(self) -> DspCharacter {
        match self {
            Character::Transparent => DspCharacter::Transparent,
            Character::Aggressive => DspCharacter::Aggressive,
        }
    }
}

/// Output dither word length.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dither {
    /// No dither, float output.
    #[id = "off"]
    #[name = "Off"]
    Off,
    /// 24-bit TPDF.
    #[id = "24"]
    #[name = "24 bit"]
    Bits24,
    /// 20-bit TPDF.
    #[id = "20"]
    #[name = "20 bit"]
    Bits20,
    /// 16-bit TPDF.
    #[id = "16"]
    #[name = "16 bit"]
    Bits16,
}

impl Dither {
    /// Word length in bits, `None` for off.
    pub fn bits(self) -> Option<u32> {
        match self {
            Dither::Off => None,
            Dither::Bits24 => Some(24),
            Dither::Bits20 => Some(20),
            Dither::Bits16 => Some(16),
        }
    }
}

/// Loudness target preset.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// -14 LUFS (streaming platforms).
    #[id = "m14"]
    #[name = "-14 LUFS"]
    Lufs14,
    /// -16 LUFS (Apple Music / podcasts).
    #[id = "m16"]
    #[name = "-16 LUFS"]
    Lufs16,
    /// -23 LUFS (EBU R 128 broadcast).
    #[id = "m23"]
    #[name = "-23 LUFS"]
    Lufs23,
    /// The Custom Target parameter.
    #[id = "custom"]
    #[name = "Custom"]
    Custom,
}

/// Every parameter of Postmix Limiter.
#[derive(Params)]
pub struct LimiterParams {
    /// Drive into the limiter, linear gain with dB display, 0 to +24 dB.
    #[id = "in_gain"]
    pub input_gain: FloatParam,
    /// Ceiling in dB (dBTP in true-peak mode). The limiter glides to a new value over 20 ms.
    #[id = "ceiling"]
    pub ceiling_db: FloatParam,
    /// Release time in ms (the base the character scales; ignored under Auto Release).
    #[id = "rel"]
    pub release_ms: FloatParam,
    /// Auto release: the base release is [`AUTO_RELEASE_MS`] and the release adapts to the
    /// programme.
    #[id = "auto_rel"]
    pub auto_release: BoolParam,
    /// Look-ahead in ms (part of the latency).
    #[id = "look"]
    pub lookahead_ms: FloatParam,
    /// Oversampling factor (part of the latency).
    #[id = "os"]
    pub oversampling: EnumParam<Oversampling>,
    /// True-peak mode: the ceiling holds for the output's inter-sample peaks.
    #[id = "tp"]
    pub true_peak: BoolParam,
    /// Stereo link 0-1.
    #[id = "link"]
    pub stereo_link: FloatParam,
    /// Release character.
    #[id = "char"]
    pub character: EnumParam<Character>,
    /// Output dither word length.
    #[id = "dither"]
    pub dither: EnumParam<Dither>,
    /// Noise shaping of the dither.
    #[id = "shaping"]
    pub noise_shaping: BoolParam,
    /// DC filter (5 Hz high-pass before the limiter).
    #[id = "dc"]
    pub dc_filter: BoolParam,
    /// Unity-gain listening: hear the limiting at the input's loudness.
    #[id = "unity"]
    pub unity_gain: BoolParam,
    /// Loudness target preset for Learn.
    #[id = "target"]
    pub target: EnumParam<Target>,
    /// Custom loudness target in LUFS (used when Target is Custom).
    #[id = "target_lufs"]
    pub custom_target_lufs: FloatParam,
    /// Bypass and output gain (the output trim, after the limiter).
    #[nested(group = "Output")]
    pub output: OutputParams,
}

impl LimiterParams {
    /// The loudness target in LUFS.
    pub fn target_lufs(&self) -> f32 {
        match self.target.value() {
            Target::Lufs14 => -14.0,
            Target::Lufs16 => -16.0,
            Target::Lufs23 => -23.0,
            Target::Custom => self.custom_target_lufs.value(),
        }
    }
}

/// Milliseconds with precision that suits the magnitude (0.1 ms ... 1000 ms).
fn v2s_ms() -> ValueToString {
    Arc::new(|ms| {
        if ms < 1.0 {
            format!("{ms:.2}")
        } else if ms < 10.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.0}")
        }
    })
}

fn s2v_ms() -> StringToValue {
    Arc::new(|s| s.trim().trim_end_matches("ms").trim().parse().ok())
}

fn s2v_db() -> StringToValue {
    Arc::new(|s| {
        s.trim()
            .trim_end_matches("dBTP")
            .trim_end_matches("dB")
            .trim_end_matches("LUFS")
            .trim()
            .parse()
            .ok()
    })
}

impl Default for LimiterParams {
    fn default() -> Self {
        Self {
            input_gain: FloatParam::new("Input Gain", 1.0, input_gain_range())
                .with_smoother(SmoothingStyle::Logarithmic(50.0))
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_gain_to_db(2))
                .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            // NOTE: ceiling, release, link and look-ahead are not smoothed here: the limiter
            // glides the ceiling itself (20 ms), release and link only shape an envelope that is
            // already smooth, and look-ahead is a latency setting the host re-reads.
            ceiling_db: FloatParam::new("Ceiling", -1.0, ceiling_range())
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_rounded(2))
                .with_string_to_value(s2v_db()),
            release_ms: FloatParam::new("Release", 60.0, release_range())
                .with_unit(" ms")
                .with_value_to_string(v2s_ms())
                .with_string_to_value(s2v_ms()),
            auto_release: BoolParam::new("Auto Release", true),
            lookahead_ms: FloatParam::new("Look-ahead", 2.0, lookahead_range())
                .with_unit(" ms")
                .with_value_to_string(v2s_ms())
                .with_string_to_value(s2v_ms()),
            oversampling: EnumParam::new("Oversampling", Oversampling::X4),
            true_peak: BoolParam::new("True Peak", true),
            stereo_link: FloatParam::new("Stereo Link", 1.0, unit_range())
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            character: EnumParam::new("Character", Character::Transparent),
            dither: EnumParam::new("Dither", Dither::Off),
            noise_shaping: BoolParam::new("Noise Shaping", false),
            dc_filter: BoolParam::new("DC Filter", false),
            unity_gain: BoolParam::new("Unity Gain Listen", false),
            target: EnumParam::new("Loudness Target", Target::Lufs14),
            custom_target_lufs: FloatParam::new("Custom Target", -14.0, target_range())
                .with_unit(" LUFS")
                .with_value_to_string(formatters::v2s_f32_rounded(1))
                .with_string_to_value(s2v_db()),
            output: OutputParams::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_mappings() {
        assert_eq!(Oversampling::Off.factor(), 1);
        assert_eq!(Oversampling::X16.factor(), 16);
        assert_eq!(Dither::Bits16.bits(), Some(16));
        assert_eq!(Dither::Off.bits(), None);
        let p = LimiterParams::default();
        assert_eq!(p.target_lufs(), -14.0);
    }

    #[test]
    fn formatters_round_trip() {
        let p = LimiterParams::default();
        let n = p
            .ceiling_db
            .string_to_normalized_value("-0.3 dBTP")
            .unwrap();
        assert!((p.ceiling_db.preview_plain(n) + 0.3).abs() < 1e-5);
        let n = p.input_gain.string_to_normalized_value("6 dB").unwrap();
        assert!((p.input_gain.preview_plain(n) - db_to_gain(6.0)).abs() < 1e-5);
        let n = p.lookahead_ms.string_to_normalized_value("5 ms").unwrap();
        assert!((p.lookahead_ms.preview_plain(n) - 5.0).abs() < 1e-4);
    }
}
