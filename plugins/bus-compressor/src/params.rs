//! Parameters of Postmix Bus Compressor. IDs are permanent: renaming a field is fine, changing an
//! ID breaks users' sessions.
//!
//! Ranges, the ratio mapping and the "off" sentinels are `pub` so that the editor and the tests
//! use the same definitions as the host.

use nice_plug::prelude::*;
use shared_dsp::util::db_to_gain;
use shared_ui::output::OutputParams;
use std::sync::Arc;

/// A string-to-value formatter as nice-plug takes it.
type StringToValue = Arc<dyn Fn(&str) -> Option<f32> + Send + Sync>;
/// A value-to-string formatter as nice-plug takes it.
type ValueToString = Arc<dyn Fn(f32) -> String + Send + Sync>;
/// An integer string-to-value formatter.
type StringToInt = Arc<dyn Fn(&str) -> Option<i32> + Send + Sync>;

/// Threshold range in dB.
pub const THRESHOLD_MIN_DB: f32 = -40.0;
/// Threshold range in dB.
pub const THRESHOLD_MAX_DB: f32 = 10.0;
/// Attack range in ms.
pub const ATTACK_MIN_MS: f32 = 0.05;
/// Attack range in ms.
pub const ATTACK_MAX_MS: f32 = 100.0;
/// Release range in ms.
pub const RELEASE_MIN_MS: f32 = 10.0;
/// Release range in ms.
pub const RELEASE_MAX_MS: f32 = 2000.0;
/// Knee width range in dB (0 = hard knee).
pub const KNEE_MAX_DB: f32 = 24.0;
/// Makeup gain range in dB.
pub const MAKEUP_MAX_DB: f32 = 24.0;
/// Range (maximum gain reduction) in dB; the top of the range means unlimited.
pub const RANGE_MAX_DB: f32 = 48.0;
/// Sidechain high-pass range in Hz; values below [`SC_HPF_MIN_HZ`] mean "off".
pub const SC_HPF_MIN_HZ: f32 = 20.0;
/// Sidechain high-pass range in Hz.
pub const SC_HPF_MAX_HZ: f32 = 500.0;
/// The parameter's bottom value, which reads "Off" (just below [`SC_HPF_MIN_HZ`]).
pub const SC_HPF_OFF_HZ: f32 = 19.5;
/// Look-ahead range in ms (the engine's [`shared_dsp::dynamics::MAX_LOOKAHEAD_MS`]).
pub const LOOKAHEAD_MAX_MS: f32 = shared_dsp::dynamics::MAX_LOOKAHEAD_MS;
/// The ratio parameter's number of steps: step `k` (0 to 60) is the slope `1 - 1/ratio = k/60`,
/// which lands exactly on 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 10, 12, 15, 20:1 and infinity.
pub const RATIO_STEPS: i32 = 60;
/// Classic attack times (ms) the editor offers as one-click presets.
pub const CLASSIC_ATTACKS_MS: [f32; 6] = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0];
/// Classic ratios the editor offers as one-click presets (`f32::INFINITY` = limiting).
pub const CLASSIC_RATIOS: [f32; 5] = [1.5, 2.0, 4.0, 10.0, f32::INFINITY];

/// Threshold: -40 to +10 dB, linear in dB.
pub fn threshold_range() -> FloatRange {
    FloatRange::Linear {
        min: THRESHOLD_MIN_DB,
        max: THRESHOLD_MAX_DB,
    }
}

/// Ratio: steps 0 to [`RATIO_STEPS`] of the static curve's slope above the threshold,
/// `s = 1 - 1/ratio = k / RATIO_STEPS`: 0 is 1:1, 30 is 2:1, 45 is 4:1, 57 is 20:1, 60 is inf:1.
///
/// NOTE: a slope axis puts infinity at a finite end of the range and moves the curve evenly all
/// the way there (20:1 to inf:1 is a small change of sound, as it should look). Even steps of
/// slope give half the travel to 1:1 - 2:1 (dense where the ear is sensitive), a quarter to
/// 2:1 - 4:1, and hit every classic ratio exactly. An integer parameter, so that hosts know it
/// is stepped and automation, state and display always agree on an exact ratio.
pub fn ratio_range() -> IntRange {
    IntRange::Linear {
        min: 0,
        max: RATIO_STEPS,
    }
}

/// The ratio of a step of [`ratio_range`] (`f32::INFINITY` at the top).
pub fn ratio_from_step(step: i32) -> f32 {
    let k = step.clamp(0, RATIO_STEPS);
    if k == RATIO_STEPS {
        f32::INFINITY
    } else {
        RATIO_STEPS as f32 / (RATIO_STEPS - k) as f32
    }
}

/// The nearest step of [`ratio_range`] for a ratio (>= 1; infinity gives the top).
pub fn step_from_ratio(ratio: f32) -> i32 {
    if ratio.is_nan() {
        return 0;
    }
    let slope = 1.0 - 1.0 / ratio.max(1.0);
    ((slope * RATIO_STEPS as f32).round() as i32).clamp(0, RATIO_STEPS)
}

/// Attack: 0.05 to 100 ms, skewed (close to logarithmic: 1 ms sits at about 30 %, 10 ms at 56 %).
pub fn attack_range() -> FloatRange {
    FloatRange::Skewed {
        min: ATTACK_MIN_MS,
        max: ATTACK_MAX_MS,
        factor: FloatRange::skew_factor(-2.0),
    }
}

/// Release: 10 to 2000 ms, skewed (100 ms at about 46 %, 1 s at 84 %).
pub fn release_range() -> FloatRange {
    FloatRange::Skewed {
        min: RELEASE_MIN_MS,
        max: RELEASE_MAX_MS,
        factor: FloatRange::skew_factor(-2.0),
    }
}

/// Knee width: 0 to 24 dB.
pub fn knee_range() -> FloatRange {
    FloatRange::Linear {
        min: 0.0,
        max: KNEE_MAX_DB,
    }
}

/// Makeup gain (linear gain, dB display): 0 to +24 dB, 12 dB at the centre.
pub fn makeup_range() -> FloatRange {
    FloatRange::Skewed {
        min: 1.0,
        max: db_to_gain(MAKEUP_MAX_DB),
        factor: FloatRange::gain_skew_factor(0.0, MAKEUP_MAX_DB),
    }
}

/// Dry/wet mix and stereo link: 0 to 1, shown in percent.
pub fn unit_range() -> FloatRange {
    FloatRange::Linear { min: 0.0, max: 1.0 }
}

/// Range (maximum gain reduction): 0 to [`RANGE_MAX_DB`] dB; the top means unlimited.
pub fn range_range() -> FloatRange {
    FloatRange::Linear {
        min: 0.0,
        max: RANGE_MAX_DB,
    }
}

/// The engine's range for a parameter value: unlimited (`f32::INFINITY`) at the top.
pub fn range_db_from_param(value: f32) -> f32 {
    if value >= RANGE_MAX_DB - 1e-3 {
        f32::INFINITY
    } else {
        value.max(0.0)
    }
}

/// Sidechain high-pass cutoff: [`SC_HPF_OFF_HZ`] ("Off") to 500 Hz, skewed towards the bottom.
pub fn sc_hpf_range() -> FloatRange {
    FloatRange::Skewed {
        min: SC_HPF_OFF_HZ,
        max: SC_HPF_MAX_HZ,
        factor: 0.5,
    }
}

/// The engine's sidechain high-pass setting for a parameter value: `None` below 20 Hz.
pub fn sc_hpf_from_param(value: f32) -> Option<f32> {
    (value >= SC_HPF_MIN_HZ).then(|| value.min(SC_HPF_MAX_HZ))
}

/// Look-ahead: 0 to 5 ms (the latency follows it in whole samples).
pub fn lookahead_range() -> FloatRange {
    FloatRange::Linear {
        min: 0.0,
        max: LOOKAHEAD_MAX_MS,
    }
}

/// Detector mode as a host parameter.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    /// Sample peak (2 ms window): tighter, catches transients.
    #[id = "peak"]
    #[name = "Peak"]
    Peak,
    /// RMS (10 ms): smoother, follows loudness; the glue setting.
    #[id = "rms"]
    #[name = "RMS"]
    Rms,
}

/// Oversampling of the gain stage (less aliasing from fast gain changes, at the cost of CPU and
/// latency).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversampling {
    /// The gain stage runs at the host rate.
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
}

impl Oversampling {
    /// The factor: 1, 2 or 4.
    pub fn factor(self) -> usize {
        match self {
            Oversampling::Off => 1,
            Oversampling::X2 => 2,
            Oversampling::X4 => 4,
        }
    }
}

/// Every parameter of Postmix Bus Compressor.
#[derive(Params)]
pub struct BusCompressorParams {
    /// Threshold in dB (detector level; a sine's peak dBFS).
    #[id = "thresh"]
    pub threshold_db: FloatParam,
    /// Ratio as a step of the slope `1 - 1/ratio` (see [`ratio_range`]).
    #[id = "ratio"]
    pub ratio_step: IntParam,
    /// Attack time constant in ms.
    #[id = "atk"]
    pub attack_ms: FloatParam,
    /// Release time constant in ms (the slow stage's under auto release).
    #[id = "rel"]
    pub release_ms: FloatParam,
    /// Programme-dependent release.
    #[id = "auto_rel"]
    pub auto_release: BoolParam,
    /// Knee width in dB.
    #[id = "knee"]
    pub knee_db: FloatParam,
    /// Makeup gain, linear with dB display.
    #[id = "makeup"]
    pub makeup_gain: FloatParam,
    /// Auto makeup (adds the curve's gain reduction at 0 dBFS).
    #[id = "auto_mkup"]
    pub auto_makeup: BoolParam,
    /// Dry/wet mix 0-1 (the dry signal is latency-aligned).
    #[id = "mix"]
    pub mix: FloatParam,
    /// Maximum gain reduction in dB (top = unlimited).
    #[id = "range"]
    pub range_db: FloatParam,
    /// Sidechain high-pass cutoff in Hz (below 20 Hz = off).
    #[id = "sc_hpf"]
    pub sc_hpf_hz: FloatParam,
    /// Detect on the external sidechain input instead of the main input.
    #[id = "ext_sc"]
    pub external_sidechain: BoolParam,
    /// Peak or RMS detector.
    #[id = "det"]
    pub detector: EnumParam<Detector>,
    /// Stereo link 0-1.
    #[id = "link"]
    pub stereo_link: FloatParam,
    /// Mid/side detection and gain instead of left/right.
    #[id = "ms"]
    pub mid_side: BoolParam,
    /// Look-ahead in ms (adds the same latency).
    #[id = "look"]
    pub lookahead_ms: FloatParam,
    /// Output the sidechain signal (after the high-pass) instead of the compressed signal.
    #[id = "sc_listen"]
    pub sc_listen: BoolParam,
    /// Oversampling of the gain stage (adds latency).
    #[id = "os"]
    pub oversampling: EnumParam<Oversampling>,
    /// Bypass and output gain (the output trim).
    #[nested(group = "Output")]
    pub output: OutputParams,
}

/// Smoothing time of the level-type parameters (threshold, ratio, knee, range, makeup, link).
const SMOOTH_MS: f32 = 50.0;

fn v2s_ratio() -> Arc<dyn Fn(i32) -> String + Send + Sync> {
    Arc::new(|step| {
        let r = ratio_from_step(step);
        if r.is_infinite() {
            "inf:1".to_owned()
        } else if r < 10.0 {
            format!("{r:.2}:1")
        } else {
            format!("{r:.1}:1")
        }
    })
}

fn s2v_ratio() -> StringToInt {
    Arc::new(|s| {
        let s = s.trim().trim_end_matches(":1").trim();
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("inf") || s == "∞" {
            return Some(RATIO_STEPS);
        }
        s.parse::<f32>().ok().map(step_from_ratio)
    })
}

/// Milliseconds with precision that suits the magnitude (0.05 ms ... 2000 ms).
fn v2s_ms() -> ValueToString {
    Arc::new(|ms| {
        // Thresholds at the rounding points, so a value that rounds up to 1.0 or 10 is shown
        // (and parsed back) with the precision of its rounded text.
        if ms < 0.995 {
            format!("{ms:.2}")
        } else if ms < 9.95 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.0}")
        }
    })
}

fn s2v_ms() -> StringToValue {
    Arc::new(|s| s.trim().trim_end_matches("ms").trim().parse().ok())
}

fn v2s_range() -> ValueToString {
    Arc::new(|v| {
        if range_db_from_param(v).is_infinite() {
            "Unlimited".to_owned()
        } else {
            format!("{v:.1} dB")
        }
    })
}

fn s2v_range() -> StringToValue {
    Arc::new(|s| {
        let t = s.trim().trim_end_matches("dB").trim();
        if t.to_ascii_lowercase().starts_with("unl") || t.to_ascii_lowercase().starts_with("inf") {
            Some(RANGE_MAX_DB)
        } else {
            t.parse().ok()
        }
    })
}

fn v2s_hpf() -> ValueToString {
    Arc::new(|hz| match sc_hpf_from_param(hz) {
        None => "Off".to_owned(),
        Some(f) => format!("{f:.0} Hz"),
    })
}

fn s2v_hpf() -> StringToValue {
    Arc::new(|s| {
        let t = s.trim();
        if t.eq_ignore_ascii_case("off") {
            Some(SC_HPF_OFF_HZ)
        } else {
            t.trim_end_matches("Hz")
                .trim_end_matches("hz")
                .trim()
                .parse::<f32>()
                .ok()
                .map(|f| f.clamp(SC_HPF_MIN_HZ, SC_HPF_MAX_HZ))
        }
    })
}

impl Default for BusCompressorParams {
    fn default() -> Self {
        Self {
            threshold_db: FloatParam::new("Threshold", -18.0, threshold_range())
                .with_smoother(SmoothingStyle::Linear(SMOOTH_MS))
                .with_unit(" dB"),
            ratio_step: IntParam::new("Ratio", step_from_ratio(4.0), ratio_range())
                .with_smoother(SmoothingStyle::Linear(SMOOTH_MS))
                .with_value_to_string(v2s_ratio())
                .with_string_to_value(s2v_ratio()),
            attack_ms: FloatParam::new("Attack", 10.0, attack_range())
                .with_smoother(SmoothingStyle::Logarithmic(SMOOTH_MS))
                .with_unit(" ms")
                .with_value_to_string(v2s_ms())
                .with_string_to_value(s2v_ms()),
            release_ms: FloatParam::new("Release", 300.0, release_range())
                .with_smoother(SmoothingStyle::Logarithmic(SMOOTH_MS))
                .with_unit(" ms")
                .with_value_to_string(v2s_ms())
                .with_string_to_value(s2v_ms()),
            auto_release: BoolParam::new("Auto Release", false),
            knee_db: FloatParam::new("Knee", 6.0, knee_range())
                .with_smoother(SmoothingStyle::Linear(SMOOTH_MS))
                .with_unit(" dB"),
            makeup_gain: FloatParam::new("Makeup", 1.0, makeup_range())
                .with_smoother(SmoothingStyle::Logarithmic(SMOOTH_MS))
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
                .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            auto_makeup: BoolParam::new("Auto Makeup", false),
            mix: FloatParam::new("Mix", 1.0, unit_range())
                .with_smoother(SmoothingStyle::Linear(20.0))
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            range_db: FloatParam::new("Range", RANGE_MAX_DB, range_range())
                .with_smoother(SmoothingStyle::Linear(SMOOTH_MS))
                .with_value_to_string(v2s_range())
                .with_string_to_value(s2v_range()),
            sc_hpf_hz: FloatParam::new("Sidechain HPF", SC_HPF_OFF_HZ, sc_hpf_range())
                .with_smoother(SmoothingStyle::Logarithmic(SMOOTH_MS))
                .with_value_to_string(v2s_hpf())
                .with_string_to_value(s2v_hpf()),
            external_sidechain: BoolParam::new("External Sidechain", false),
            detector: EnumParam::new("Detector", Detector::Rms),
            stereo_link: FloatParam::new("Stereo Link", 1.0, unit_range())
                .with_smoother(SmoothingStyle::Linear(SMOOTH_MS))
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            mid_side: BoolParam::new("Mid/Side", false),
            // NOTE: not smoothed: it sets the latency, which the host re-reads on change.
            lookahead_ms: FloatParam::new("Look-ahead", 0.0, lookahead_range())
                .with_unit(" ms")
                .with_value_to_string(formatters::v2s_f32_rounded(1)),
            sc_listen: BoolParam::new("Sidechain Listen", false),
            oversampling: EnumParam::new("Oversampling", Oversampling::Off),
            output: OutputParams::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_steps_hit_classic_ratios_exactly() {
        for (k, want) in [(20, 1.5), (30, 2.0), (45, 4.0), (54, 10.0), (57, 20.0)] {
            assert_eq!(ratio_from_step(k), want, "step {k}");
            assert_eq!(step_from_ratio(want), k);
        }
        assert!(ratio_from_step(RATIO_STEPS).is_infinite());
        assert_eq!(step_from_ratio(f32::INFINITY), RATIO_STEPS);
        assert_eq!(ratio_from_step(0), 1.0);
    }

    #[test]
    fn ratio_taper_is_dense_below_two_to_one() {
        // Half of the steps lie between 1:1 and 2:1.
        assert_eq!(step_from_ratio(2.0), RATIO_STEPS / 2);
    }

    #[test]
    fn formatters_round_trip() {
        let p = BusCompressorParams::default();
        let to = p.ratio_step.string_to_normalized_value("inf").unwrap();
        assert_eq!(p.ratio_step.preview_plain(to), RATIO_STEPS);
        let to = p.ratio_step.string_to_normalized_value("4:1").unwrap();
        assert_eq!(ratio_from_step(p.ratio_step.preview_plain(to)), 4.0);
        assert_eq!(p.ratio_step.normalized_value_to_string(1.0, false), "inf:1");
        assert_eq!(p.sc_hpf_hz.normalized_value_to_string(0.0, false), "Off");
        assert_eq!(sc_hpf_from_param(SC_HPF_OFF_HZ), None);
        assert_eq!(sc_hpf_from_param(80.0), Some(80.0));
        assert!(range_db_from_param(RANGE_MAX_DB).is_infinite());
        assert_eq!(range_db_from_param(12.0), 12.0);
    }
}
