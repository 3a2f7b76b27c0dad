//! Parameters of Postmix Channel Strip. IDs are permanent: renaming a field is fine, changing an
//! ID breaks users' sessions.
//!
//! Ranges and mappings are `pub` so the editor and the tests use the same definitions as the
//! host. No parameter has a nice-plug smoother: the strip glides every continuous value itself
//! per sample (see [`crate::strip`]), so offline use and the plugin sound the same.

use nice_plug::prelude::*;
use shared_dsp::saturation::{Character, MAX_DRIVE_DB};
use shared_dsp::util::{db_to_gain, gain_to_db};
use shared_ui::output::OutputParams;

use crate::strip::{AttackMode, EqBand, EqShape, GateMode, HpfSlope, LpfSlope, Settings};

/// Input trim range, dB.
pub const TRIM_MAX_DB: f32 = 24.0;
/// EQ gain range, dB.
pub const EQ_GAIN_MAX_DB: f32 = 18.0;
/// Q range.
pub const Q_RANGE: (f32, f32) = (0.3, 8.0);
/// The ratio parameter's steps: step `k` (0 to 60) is the slope `1 - 1/ratio = k/60` (1:1 to
/// infinity, exact classic ratios; the same axis as the bus compressor).
pub const RATIO_STEPS: i32 = 60;

/// A frequency range, logarithmic-ish taper.
pub fn freq_range(min: f32, max: f32) -> FloatRange {
    FloatRange::Skewed {
        min,
        max,
        factor: FloatRange::skew_factor(-2.0),
    }
}

/// A time range in ms, skewed towards short times.
pub fn time_range(min: f32, max: f32) -> FloatRange {
    FloatRange::Skewed {
        min,
        max,
        factor: FloatRange::skew_factor(-2.0),
    }
}

/// Input trim: linear gain, +-24 dB, centred on 0 dB.
pub fn trim_range() -> FloatRange {
    FloatRange::Skewed {
        min: db_to_gain(-TRIM_MAX_DB),
        max: db_to_gain(TRIM_MAX_DB),
        factor: FloatRange::gain_skew_factor(-TRIM_MAX_DB, TRIM_MAX_DB),
    }
}

/// EQ gain: +-18 dB, linear in dB.
pub fn eq_gain_range() -> FloatRange {
    FloatRange::Linear {
        min: -EQ_GAIN_MAX_DB,
        max: EQ_GAIN_MAX_DB,
    }
}

/// Q: 0.3 to 8, skewed so 0.7-2 gets most of the travel.
pub fn q_range() -> FloatRange {
    FloatRange::Skewed {
        min: Q_RANGE.0,
        max: Q_RANGE.1,
        factor: FloatRange::skew_factor(-1.5),
    }
}

/// Ratio steps (see [`RATIO_STEPS`]).
pub fn ratio_range() -> IntRange {
    IntRange::Linear {
        min: 0,
        max: RATIO_STEPS,
    }
}

/// The ratio of a step (`f32::INFINITY` at the top).
pub fn ratio_from_step(step: i32) -> f32 {
    let k = step.clamp(0, RATIO_STEPS);
    if k == RATIO_STEPS {
        f32::INFINITY
    } else {
        RATIO_STEPS as f32 / (RATIO_STEPS - k) as f32
    }
}

/// The step nearest to `ratio`.
pub fn step_from_ratio(ratio: f32) -> i32 {
    if ratio.is_infinite() {
        return RATIO_STEPS;
    }
    ((1.0 - 1.0 / ratio.max(1.0)) * RATIO_STEPS as f32)
        .round()
        .clamp(0.0, RATIO_STEPS as f32) as i32
}

/// High-pass slope choice.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpfChoice {
    /// Off.
    #[id = "off"]
    Off,
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
}

/// Low-pass slope choice.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpfChoice {
    /// Off.
    #[id = "off"]
    Off,
    /// 12 dB/oct.
    #[id = "12"]
    #[name = "12 dB/oct"]
    Db12,
    /// 24 dB/oct.
    #[id = "24"]
    #[name = "24 dB/oct"]
    Db24,
}

/// LF/HF band shape.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeChoice {
    /// Shelf.
    #[id = "shelf"]
    Shelf,
    /// Bell.
    #[id = "bell"]
    Bell,
}

/// Compressor attack mode.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackChoice {
    /// The attack knob.
    #[id = "manual"]
    Manual,
    /// 0.1 ms.
    #[id = "fast"]
    Fast,
    /// Programme dependent.
    #[id = "auto"]
    Auto,
}

/// Gate or expander.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateChoice {
    /// Expander with a ratio.
    #[id = "exp"]
    Expander,
    /// Gate with hysteresis and hold.
    #[id = "gate"]
    Gate,
}

/// Saturation curve.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharacterChoice {
    /// Tape: symmetric, odd harmonics.
    #[id = "tape"]
    Tape,
    /// Tube: asymmetric, even and odd harmonics.
    #[id = "tube"]
    Tube,
}

fn freq(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    // NOTE: no unit: the Hz/kHz formatter writes it.
    FloatParam::new(name, default, freq_range(min, max))
        .with_value_to_string(formatters::v2s_f32_hz_then_khz(2))
        .with_string_to_value(formatters::s2v_f32_hz_then_khz())
}

fn gain_db(name: &str) -> FloatParam {
    FloatParam::new(name, 0.0, eq_gain_range())
        .with_unit(" dB")
        .with_value_to_string(formatters::v2s_f32_rounded(1))
}

fn q(name: &str, default: f32) -> FloatParam {
    FloatParam::new(name, default, q_range()).with_value_to_string(formatters::v2s_f32_rounded(2))
}

fn ms(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, time_range(min, max))
        .with_unit(" ms")
        .with_value_to_string(formatters::v2s_f32_rounded(1))
}

fn db(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min, max })
        .with_unit(" dB")
        .with_value_to_string(formatters::v2s_f32_rounded(1))
}

fn switch(name: &str, default: bool) -> BoolParam {
    BoolParam::new(name, default)
}

fn bypass(name: &str, default: bool) -> BoolParam {
    BoolParam::new(name, default)
        .with_value_to_string(formatters::v2s_bool_bypass())
        .with_string_to_value(formatters::s2v_bool_bypass())
}

fn percent(name: &str, default: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min: 0.0, max })
        .with_unit("%")
        .with_value_to_string(formatters::v2s_f32_percentage(0))
        .with_string_to_value(formatters::s2v_f32_percentage())
}

/// Every parameter of Postmix Channel Strip, in signal order.
#[derive(Params)]
pub struct ChannelStripParams {
    // Input.
    /// Input trim, linear gain (dB display).
    #[id = "trim"]
    pub trim: FloatParam,
    /// Polarity invert, left (or mono).
    #[id = "inv_l"]
    pub invert_left: BoolParam,
    /// Polarity invert, right.
    #[id = "inv_r"]
    pub invert_right: BoolParam,

    // Filters.
    /// Filter section bypass.
    #[id = "flt_byp"]
    pub filters_bypass: BoolParam,
    /// High-pass slope.
    #[id = "hpf_slope"]
    pub hpf_slope: EnumParam<HpfChoice>,
    /// High-pass cutoff.
    #[id = "hpf_hz"]
    pub hpf_hz: FloatParam,
    /// Low-pass slope.
    #[id = "lpf_slope"]
    pub lpf_slope: EnumParam<LpfChoice>,
    /// Low-pass cutoff.
    #[id = "lpf_hz"]
    pub lpf_hz: FloatParam,

    // EQ.
    /// EQ section bypass.
    #[id = "eq_byp"]
    pub eq_bypass: BoolParam,
    /// LF shape.
    #[id = "lf_shape"]
    pub lf_shape: EnumParam<ShapeChoice>,
    /// LF frequency.
    #[id = "lf_hz"]
    pub lf_hz: FloatParam,
    /// LF gain.
    #[id = "lf_gain"]
    pub lf_gain_db: FloatParam,
    /// LF Q.
    #[id = "lf_q"]
    pub lf_q: FloatParam,
    /// LMF frequency.
    #[id = "lmf_hz"]
    pub lmf_hz: FloatParam,
    /// LMF gain.
    #[id = "lmf_gain"]
    pub lmf_gain_db: FloatParam,
    /// LMF Q.
    #[id = "lmf_q"]
    pub lmf_q: FloatParam,
    /// HMF frequency.
    #[id = "hmf_hz"]
    pub hmf_hz: FloatParam,
    /// HMF gain.
    #[id = "hmf_gain"]
    pub hmf_gain_db: FloatParam,
    /// HMF Q.
    #[id = "hmf_q"]
    pub hmf_q: FloatParam,
    /// HF shape.
    #[id = "hf_shape"]
    pub hf_shape: EnumParam<ShapeChoice>,
    /// HF frequency.
    #[id = "hf_hz"]
    pub hf_hz: FloatParam,
    /// HF gain.
    #[id = "hf_gain"]
    pub hf_gain_db: FloatParam,
    /// HF Q.
    #[id = "hf_q"]
    pub hf_q: FloatParam,

    // Routing.
    /// Dynamics before the EQ.
    #[id = "dyn_first"]
    pub dynamics_first: BoolParam,
    /// EQ in the compressor's sidechain (out of the audio path).
    #[id = "eq_sc"]
    pub eq_to_sidechain: BoolParam,

    // Gate / expander.
    /// Gate section bypass.
    #[id = "gate_byp"]
    pub gate_bypass: BoolParam,
    /// Gate or expander.
    #[id = "gate_mode"]
    pub gate_mode: EnumParam<GateChoice>,
    /// Threshold.
    #[id = "gate_thr"]
    pub gate_threshold_db: FloatParam,
    /// Range.
    #[id = "gate_range"]
    pub gate_range_db: FloatParam,
    /// Expander ratio.
    #[id = "gate_ratio"]
    pub gate_ratio: FloatParam,
    /// Opening time.
    #[id = "gate_atk"]
    pub gate_attack_ms: FloatParam,
    /// Hold.
    #[id = "gate_hold"]
    pub gate_hold_ms: FloatParam,
    /// Closing time.
    #[id = "gate_rel"]
    pub gate_release_ms: FloatParam,
    /// Hysteresis.
    #[id = "gate_hyst"]
    pub gate_hysteresis_db: FloatParam,
    /// Key filter on.
    #[id = "key_flt"]
    pub key_filter: BoolParam,
    /// Key high-pass.
    #[id = "key_hpf"]
    pub key_hpf_hz: FloatParam,
    /// Key low-pass.
    #[id = "key_lpf"]
    pub key_lpf_hz: FloatParam,
    /// Key from the sidechain input.
    #[id = "key_ext"]
    pub key_external: BoolParam,
    /// Key listen.
    #[id = "key_lsn"]
    pub key_listen: BoolParam,

    // Compressor.
    /// Compressor bypass.
    #[id = "comp_byp"]
    pub comp_bypass: BoolParam,
    /// Threshold.
    #[id = "comp_thr"]
    pub comp_threshold_db: FloatParam,
    /// Ratio step (see [`ratio_from_step`]).
    #[id = "comp_ratio"]
    pub comp_ratio_step: IntParam,
    /// Attack mode.
    #[id = "comp_atk_mode"]
    pub comp_attack_mode: EnumParam<AttackChoice>,
    /// Attack.
    #[id = "comp_atk"]
    pub comp_attack_ms: FloatParam,
    /// Release.
    #[id = "comp_rel"]
    pub comp_release_ms: FloatParam,
    /// Auto release.
    #[id = "comp_auto_rel"]
    pub comp_auto_release: BoolParam,
    /// Knee.
    #[id = "comp_knee"]
    pub comp_knee_db: FloatParam,
    /// Auto makeup.
    #[id = "comp_auto_mk"]
    pub comp_auto_makeup: BoolParam,
    /// Mix.
    #[id = "comp_mix"]
    pub comp_mix: FloatParam,

    // Saturation.
    /// Saturation bypass.
    #[id = "sat_byp"]
    pub sat_bypass: BoolParam,
    /// Drive.
    #[id = "sat_drive"]
    pub sat_drive_db: FloatParam,
    /// Character.
    #[id = "sat_char"]
    pub sat_character: EnumParam<CharacterChoice>,

    // Image.
    /// Width 0-200 %.
    #[id = "width"]
    pub width: FloatParam,
    /// Pan (balance).
    #[id = "pan"]
    pub pan: FloatParam,

    /// Bypass and output gain.
    #[nested(group = "Output")]
    pub output: OutputParams,
}

impl Default for ChannelStripParams {
    fn default() -> Self {
        let d = Settings::default();
        Self {
            trim: FloatParam::new("Input Trim", 1.0, trim_range())
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_gain_to_db(2))
                .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            invert_left: switch("Invert L", false),
            invert_right: switch("Invert R", false),
            filters_bypass: bypass("Filters Bypass", d.filters_bypass),
            hpf_slope: EnumParam::new("HPF Slope", HpfChoice::Off),
            hpf_hz: freq("HPF Freq", d.hpf_hz, 16.0, 500.0),
            lpf_slope: EnumParam::new("LPF Slope", LpfChoice::Off),
            lpf_hz: freq("LPF Freq", d.lpf_hz, 3_000.0, 22_000.0),
            eq_bypass: bypass("EQ Bypass", d.eq_bypass),
            lf_shape: EnumParam::new("LF Shape", ShapeChoice::Shelf),
            lf_hz: freq("LF Freq", d.lf.freq_hz, 20.0, 1_000.0),
            lf_gain_db: gain_db("LF Gain"),
            lf_q: q("LF Q", d.lf.q),
            lmf_hz: freq("LMF Freq", d.lmf.freq_hz, 50.0, 5_000.0),
            lmf_gain_db: gain_db("LMF Gain"),
            lmf_q: q("LMF Q", d.lmf.q),
            hmf_hz: freq("HMF Freq", d.hmf.freq_hz, 300.0, 15_000.0),
            hmf_gain_db: gain_db("HMF Gain"),
            hmf_q: q("HMF Q", d.hmf.q),
            hf_shape: EnumParam::new("HF Shape", ShapeChoice::Shelf),
            hf_hz: freq("HF Freq", d.hf.freq_hz, 1_000.0, 20_000.0),
            hf_gain_db: gain_db("HF Gain"),
            hf_q: q("HF Q", d.hf.q),
            dynamics_first: switch("Dynamics Pre EQ", d.dynamics_first),
            eq_to_sidechain: switch("EQ to Comp Sidechain", d.eq_to_sidechain),
            gate_bypass: bypass("Gate Bypass", d.gate_bypass),
            gate_mode: EnumParam::new("Gate Mode", GateChoice::Expander),
            gate_threshold_db: db("Gate Threshold", d.gate_threshold_db, -80.0, 0.0),
            gate_range_db: db("Gate Range", d.gate_range_db, 0.0, 80.0),
            gate_ratio: FloatParam::new(
                "Expander Ratio",
                d.gate_ratio,
                FloatRange::Skewed {
                    min: 1.0,
                    max: 20.0,
                    factor: FloatRange::skew_factor(-1.5),
                },
            )
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            gate_attack_ms: ms("Gate Attack", d.gate_attack_ms, 0.1, 100.0),
            gate_hold_ms: ms("Gate Hold", d.gate_hold_ms, 0.0, 2_000.0),
            gate_release_ms: ms("Gate Release", d.gate_release_ms, 5.0, 4_000.0),
            gate_hysteresis_db: db("Gate Hysteresis", d.gate_hysteresis_db, 0.0, 20.0),
            key_filter: switch("Key Filter", d.gate_key_filter),
            key_hpf_hz: freq("Key HPF", d.gate_key_hpf_hz, 20.0, 4_000.0),
            key_lpf_hz: freq("Key LPF", d.gate_key_lpf_hz, 200.0, 20_000.0),
            key_external: switch("External Key", d.gate_external_key),
            key_listen: switch("Key Listen", d.gate_listen),
            comp_bypass: bypass("Comp Bypass", d.comp_bypass),
            comp_threshold_db: db("Comp Threshold", d.comp_threshold_db, -60.0, 10.0),
            comp_ratio_step: IntParam::new(
                "Comp Ratio",
                step_from_ratio(d.comp_ratio),
                ratio_range(),
            )
            .with_value_to_string(std::sync::Arc::new(|k| {
                let r = ratio_from_step(k);
                if r.is_infinite() {
                    "inf:1".to_owned()
                } else {
                    format!("{r:.2}:1")
                }
            }))
            .with_string_to_value(std::sync::Arc::new(|s| {
                let t = s.trim().trim_end_matches(":1").trim();
                if t.eq_ignore_ascii_case("inf") {
                    Some(RATIO_STEPS)
                } else {
                    t.parse::<f32>().ok().map(step_from_ratio)
                }
            })),
            comp_attack_mode: EnumParam::new("Comp Attack Mode", AttackChoice::Manual),
            comp_attack_ms: ms("Comp Attack", d.comp_attack_ms, 0.1, 30.0),
            comp_release_ms: ms("Comp Release", d.comp_release_ms, 50.0, 4_000.0),
            comp_auto_release: switch("Comp Auto Release", d.comp_auto_release),
            comp_knee_db: db("Comp Knee", d.comp_knee_db, 0.0, 24.0),
            comp_auto_makeup: switch("Comp Auto Makeup", d.comp_auto_makeup),
            comp_mix: percent("Comp Mix", d.comp_mix, 1.0),
            sat_bypass: bypass("Saturation Bypass", d.sat_bypass),
            sat_drive_db: db("Drive", d.sat_drive_db, 0.0, MAX_DRIVE_DB),
            sat_character: EnumParam::new("Character", CharacterChoice::Tape),
            width: percent("Width", d.width, 2.0),
            pan: FloatParam::new(
                "Pan",
                d.pan,
                FloatRange::Linear {
                    min: -1.0,
                    max: 1.0,
                },
            )
            .with_value_to_string(std::sync::Arc::new(|v| {
                let p = (v * 100.0).round() as i32;
                match p {
                    0 => "C".to_owned(),
                    p if p < 0 => format!("L{}", -p),
                    p => format!("R{p}"),
                }
            }))
            .with_string_to_value(std::sync::Arc::new(|s| {
                let s = s.trim();
                if s.eq_ignore_ascii_case("c") {
                    return Some(0.0);
                }
                let (sign, num) = match s.chars().next()? {
                    'L' | 'l' => (-1.0, &s[1..]),
                    'R' | 'r' => (1.0, &s[1..]),
                    _ => (1.0, s),
                };
                num.trim().parse::<f32>().ok().map(|v| sign * v / 100.0)
            })),
            output: OutputParams::default(),
        }
    }
}

/// The strip settings for the current parameter values.
pub fn settings_from_params(p: &ChannelStripParams) -> Settings {
    let band = |f: &FloatParam, g: &FloatParam, q: &FloatParam| EqBand {
        freq_hz: f.value(),
        gain_db: g.value(),
        q: q.value(),
    };
    let shape = |s: ShapeChoice| match s {
        ShapeChoice::Shelf => EqShape::Shelf,
        ShapeChoice::Bell => EqShape::Bell,
    };
    Settings {
        trim_db: gain_to_db(p.trim.value()),
        invert_left: p.invert_left.value(),
        invert_right: p.invert_right.value(),
        filters_bypass: p.filters_bypass.value(),
        hpf: match p.hpf_slope.value() {
            HpfChoice::Off => HpfSlope::Off,
            HpfChoice::Db12 => HpfSlope::Db12,
            HpfChoice::Db18 => HpfSlope::Db18,
            HpfChoice::Db24 => HpfSlope::Db24,
        },
        hpf_hz: p.hpf_hz.value(),
        lpf: match p.lpf_slope.value() {
            LpfChoice::Off => LpfSlope::Off,
            LpfChoice::Db12 => LpfSlope::Db12,
            LpfChoice::Db24 => LpfSlope::Db24,
        },
        lpf_hz: p.lpf_hz.value(),
        eq_bypass: p.eq_bypass.value(),
        lf_shape: shape(p.lf_shape.value()),
        lf: band(&p.lf_hz, &p.lf_gain_db, &p.lf_q),
        lmf: band(&p.lmf_hz, &p.lmf_gain_db, &p.lmf_q),
        hmf: band(&p.hmf_hz, &p.hmf_gain_db, &p.hmf_q),
        hf_shape: shape(p.hf_shape.value()),
        hf: band(&p.hf_hz, &p.hf_gain_db, &p.hf_q),
        comp_bypass: p.comp_bypass.value(),
        comp_threshold_db: p.comp_threshold_db.value(),
        comp_ratio: ratio_from_step(p.comp_ratio_step.value()),
        comp_attack_mode: match p.comp_attack_mode.value() {
            AttackChoice::Manual => AttackMode::Manual,
            AttackChoice::Fast => AttackMode::Fast,
            AttackChoice::Auto => AttackMode::Auto,
        },
        comp_attack_ms: p.comp_attack_ms.value(),
        comp_release_ms: p.comp_release_ms.value(),
        comp_auto_release: p.comp_auto_release.value(),
        comp_knee_db: p.comp_knee_db.value(),
        comp_auto_makeup: p.comp_auto_makeup.value(),
        comp_mix: p.comp_mix.value(),
        gate_bypass: p.gate_bypass.value(),
        gate_mode: match p.gate_mode.value() {
            GateChoice::Expander => GateMode::Expander,
            GateChoice::Gate => GateMode::Gate,
        },
        gate_threshold_db: p.gate_threshold_db.value(),
        gate_range_db: p.gate_range_db.value(),
        gate_ratio: p.gate_ratio.value(),
        gate_attack_ms: p.gate_attack_ms.value(),
        gate_hold_ms: p.gate_hold_ms.value(),
        gate_release_ms: p.gate_release_ms.value(),
        gate_hysteresis_db: p.gate_hysteresis_db.value(),
        gate_key_filter: p.key_filter.value(),
        gate_key_hpf_hz: p.key_hpf_hz.value(),
        gate_key_lpf_hz: p.key_lpf_hz.value(),
        gate_external_key: p.key_external.value(),
        gate_listen: p.key_listen.value(),
        sat_bypass: p.sat_bypass.value(),
        sat_drive_db: p.sat_drive_db.value(),
        sat_character: match p.sat_character.value() {
            CharacterChoice::Tape => Character::Tape,
            CharacterChoice::Tube => Character::Tube,
        },
        dynamics_first: p.dynamics_first.value(),
        eq_to_sidechain: p.eq_to_sidechain.value(),
        width: p.width.value(),
        pan: p.pan.value(),
    }
}
