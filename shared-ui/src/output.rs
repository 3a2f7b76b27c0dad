//! The output section every Postmix plugin carries: bypass, output gain and the output meter.
//!
//! NOTE: this is parameter-bound glue rather than a widget, but it is the same in all five
//! plugins and shared-ui is the shared crate that already depends on nice-plug, so it lives here
//! instead of being written five times.

use nice_plug::prelude::*;
use shared_dsp::smoothing::LinearRamp;
use shared_dsp::util::{db_to_gain, sanitize};

use crate::meter::MeterValue;

/// Output gain range in dB.
pub const OUTPUT_GAIN_MIN_DB: f32 = -24.0;
/// Output gain range in dB.
pub const OUTPUT_GAIN_MAX_DB: f32 = 24.0;
/// Bypass crossfade time: long enough to be click-free, short enough to feel instant.
pub const BYPASS_FADE_MS: f32 = 10.0;

/// Output gain range (linear gain, dB display): -24 to +24 dB, centred on 0 dB.
pub fn output_gain_range() -> FloatRange {
    FloatRange::Skewed {
        min: db_to_gain(OUTPUT_GAIN_MIN_DB),
        max: db_to_gain(OUTPUT_GAIN_MAX_DB),
        factor: FloatRange::gain_skew_factor(OUTPUT_GAIN_MIN_DB, OUTPUT_GAIN_MAX_DB),
    }
}

/// Bypass and output gain. IDs are permanent: `bypass`, `out_gain`.
#[derive(Params)]
pub struct OutputParams {
    /// Host-visible bypass (flagged as the plugin's bypass parameter).
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Output gain, stored as linear gain, shown in dB, smoothed logarithmically.
    #[id = "out_gain"]
    pub output_gain: FloatParam,
}

impl Default for OutputParams {
    fn default() -> Self {
        Self {
            bypass: BoolParam::new("Bypass", false)
                .with_value_to_string(formatters::v2s_bool_bypass())
                .with_string_to_value(formatters::s2v_bool_bypass())
                .make_bypass(),
            output_gain: FloatParam::new("Output Gain", 1.0, output_gain_range())
                .with_smoother(SmoothingStyle::Logarithmic(50.0))
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_gain_to_db(2))
                .with_string_to_value(formatters::s2v_f32_gain_to_db()),
        }
    }
}

/// Runs the output section on the audio thread: input sanitising, output gain, click-free bypass
/// and the output meter. Allocation-free.
#[derive(Debug)]
pub struct OutputStage {
    /// 0 = processed signal, 1 = bypassed; ramps linearly so bypass never clicks and lands
    /// exactly on the dry signal.
    bypass_mix: LinearRamp,
    /// Non-finite input samples replaced with silence since activation.
    nonfinite_count: u64,
}

impl Default for OutputStage {
    fn default() -> Self {
        Self {
            bypass_mix: LinearRamp::new(0.0, BYPASS_FADE_MS),
            nonfinite_count: 0,
        }
    }
}

impl OutputStage {
    /// Prepares for a sample rate and jumps to the current bypass state.
    pub fn activate(&mut self, sample_rate: f32, params: &OutputParams) {
        self.bypass_mix.set_sample_rate(sample_rate);
        self.bypass_mix
            .reset(if params.bypass.value() { 1.0 } else { 0.0 });
    }

    /// Replaces NaN/inf input with silence (and flushes denormals) so nothing non-finite reaches
    /// the DSP. Returns the number of samples replaced in this call.
    pub fn sanitize_input(&mut self, buffer: &mut Buffer) -> usize {
        let mut bad = 0;
        for channel in buffer.as_slice() {
            bad += sanitize(channel);
        }
        self.nonfinite_count += bad as u64;
        bad
    }

    /// Non-finite input samples replaced since activation.
    pub fn nonfinite_count(&self) -> u64 {
        self.nonfinite_count
    }

    /// Applies output gain and bypass to `buffer`, which holds the processed signal, then feeds
    /// the meter. `dry` holds the latency-aligned unprocessed input, one slice per channel, each at
    /// least as long as the buffer; `None` means the buffer itself is still the dry signal (a
    /// plugin whose only processing is this stage).
    pub fn process<D: AsRef<[f32]>>(
        &mut self,
        buffer: &mut Buffer,
        params: &OutputParams,
        meter: &MeterValue,
        dry: Option<&[D]>,
    ) {
        self.bypass_mix
            .set_target(if params.bypass.value() { 1.0 } else { 0.0 });
        let mut peak = 0.0f32;
        // NOTE: the steady case (no gain glide, no bypass fade) runs per channel slice, which
        // the compiler vectorises; it gives exactly what the per-sample loop below would.
        if !params.output_gain.smoothed.is_smoothing() && !self.bypass_mix.is_moving() {
            let gain = params.output_gain.smoothed.next();
            let bypassed = self.bypass_mix.value() == 1.0;
            for (ch, channel) in buffer.as_slice().iter_mut().enumerate() {
                match (bypassed, dry) {
                    (true, Some(d)) => channel.copy_from_slice(&d[ch].as_ref()[..channel.len()]),
                    (true, None) => {}
                    (false, _) if gain == 1.0 => {}
                    (false, _) => channel.iter_mut().for_each(|x| *x *= gain),
                }
                peak = peak.max(shared_dsp::util::peak_abs(channel));
            }
            meter.raise(peak);
            return;
        }
        for (i, channel_samples) in buffer.iter_samples().enumerate() {
            let gain = params.output_gain.smoothed.next();
            let mix = self.bypass_mix.next();
            for (ch, sample) in channel_samples.into_iter().enumerate() {
                let dry_sample = match dry {
                    Some(d) => d[ch].as_ref()[i],
                    None => *sample,
                };
                let wet = *sample * gain;
                *sample = if mix == 0.0 {
                    wet
                } else if mix == 1.0 {
                    dry_sample
                } else {
                    wet + (dry_sample - wet) * mix
                };
                peak = peak.max(sample.abs());
            }
        }
        meter.raise(peak);
    }
}
