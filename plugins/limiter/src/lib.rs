//! Postmix Limiter: A true-peak-safe mastering limiter.
//!
//! Glue only: parameters to DSP settings, the process loop, latency reporting and meters for the
//! editor. The limiter, oversampling and loudness measurement live in `shared-dsp`
//! ([`shared_dsp::limiter::Limiter`], [`shared_dsp::loudness::LoudnessMeter`]), the editor
//! pieces in `shared-ui`. [`processor::Processor`] is the framework-free audio path the plugin
//! and the tests share; its dither and DC filter are `shared_dsp::dither` and
//! `shared_dsp::filter::ButterworthHighPass`.

use atomic_float::AtomicF32;
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState};
use shared_ui::meter::MeterValue;
use shared_ui::output::OutputStage;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

mod editor;
mod params;
pub mod processor;

pub use params::*;
use processor::{MAX_CHANNELS, Processor, Settings};

/// Values the audio thread hands to the editor (and the editor's requests to the audio thread),
/// lock-free.
#[derive(Debug)]
pub struct Meters {
    /// Input peak (linear), before the input gain.
    pub input: MeterValue,
    /// Limiter input peak (linear), after the input gain: the waveform under the GR history.
    pub limiter_input: MeterValue,
    /// Output peak (linear), the final output.
    pub output: MeterValue,
    /// Largest gain reduction in dB (>= 0) since the editor last looked.
    pub gain_reduction_db: MeterValue,
    /// Output short-term loudness (LUFS), NaN when there is none.
    pub short_term_lufs: AtomicF32,
    /// Output integrated loudness (LUFS), NaN when there is none.
    pub integrated_lufs: AtomicF32,
    /// Output true-peak hold (dBTP), NaN when there is none.
    pub true_peak_db: AtomicF32,
    /// Learned integrated loudness of the input before the input gain (LUFS), NaN when none.
    pub learned_lufs: AtomicF32,
    /// Unity-gain listening's loudness correction in dB.
    pub unity_correction_db: AtomicF32,
    /// Latency in samples as last reported.
    pub latency_samples: AtomicU32,
    /// Sample rate in Hz.
    pub sample_rate: AtomicF32,
    /// Oversampling factor in use.
    pub oversampling: AtomicU32,
    /// Editor -> audio: measure the input's integrated loudness (Learn is on).
    pub learning: AtomicBool,
    /// Editor -> audio: restart the learn measurement.
    pub learn_reset: AtomicBool,
    /// Editor -> audio: reset the output's integrated loudness and true-peak hold.
    pub output_reset: AtomicBool,
    /// Editor -> audio: the editor is open, run the output loudness meter.
    pub editor_open: AtomicBool,
}

impl Default for Meters {
    fn default() -> Self {
        Self {
            input: MeterValue::new(),
            limiter_input: MeterValue::new(),
            output: MeterValue::new(),
            gain_reduction_db: MeterValue::new(),
            short_term_lufs: AtomicF32::new(f32::NAN),
            integrated_lufs: AtomicF32::new(f32::NAN),
            true_peak_db: AtomicF32::new(f32::NAN),
            learned_lufs: AtomicF32::new(f32::NAN),
            unity_correction_db: AtomicF32::new(0.0),
            latency_samples: AtomicU32::new(0),
            sample_rate: AtomicF32::new(48_000.0),
            oversampling: AtomicU32::new(4),
            learning: AtomicBool::new(false),
            learn_reset: AtomicBool::new(false),
            output_reset: AtomicBool::new(false),
            editor_open: AtomicBool::new(false),
        }
    }
}

/// Block size the processor is allocated for before the host tells the real one.
const DEFAULT_MAX_BLOCK: usize = 1024;

/// The plugin instance.
pub struct PostmixLimiter {
    /// Parameters shared with the host and the editor.
    params: Arc<LimiterParams>,
    /// The audio path.
    processor: Processor,
    /// Input sanitising (NaN/inf -> silence).
    output: OutputStage,
    /// Input gain per sample of the current block (smoothed parameter).
    input_gain: Vec<f32>,
    /// Output gain per sample of the current block (smoothed parameter).
    output_gain: Vec<f32>,
    /// Meters for the editor.
    meters: Arc<Meters>,
    /// Latency last reported to the host, in samples.
    reported_latency: usize,
    /// Editor window size and open state.
    editor_state: Arc<EguiEditorState>,
}

impl Default for PostmixLimiter {
    fn default() -> Self {
        Self {
            params: Arc::new(LimiterParams::default()),
            processor: Processor::new(DEFAULT_MAX_BLOCK),
            output: OutputStage::default(),
            input_gain: vec![1.0; DEFAULT_MAX_BLOCK],
            output_gain: vec![1.0; DEFAULT_MAX_BLOCK],
            meters: Arc::new(Meters::default()),
            reported_latency: 0,
            editor_state: editor::default_state(),
        }
    }
}

/// The processor settings for the current parameter values (block-level; gains are per sample).
///
/// `learn` and `meter_output` are editor states (Learn is on; the editor is open), not parameters.
pub fn settings_from_params(p: &LimiterParams, learn: bool, meter_output: bool) -> Settings {
    Settings {
        ceiling_db: p.ceiling_db.value(),
        release_ms: if p.auto_release.value() {
            AUTO_RELEASE_MS
        } else {
            p.release_ms.value()
        },
        lookahead_ms: p.lookahead_ms.value(),
        oversampling: p.oversampling.value().factor(),
        true_peak: p.true_peak.value(),
        link: p.stereo_link.value(),
        character: p.character.value().dsp(),
        dither_bits: p.dither.value().bits(),
        noise_shaping: p.noise_shaping.value(),
        dc_filter: p.dc_filter.value(),
        unity: p.unity_gain.value(),
        bypass: p.output.bypass.value(),
        learn,
        meter_output,
    }
}

/// `Some(v)` as f32, or NaN.
fn opt(v: Option<f64>) -> f32 {
    v.map_or(f32::NAN, |v| v as f32)
}

impl Plugin for PostmixLimiter {
    const NAME: &'static str = "Postmix Limiter";
    const VENDOR: &'static str = "Postmix";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "postmix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = shared_ui::layouts::STEREO_AND_MONO;

    type Editor = EguiEditor<editor::LimiterEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn filter_state(state: &mut PluginState) {
        shared_ui::state::sanitize_state::<LimiterParams>(state);
    }

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.meters.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        if max_block != self.processor.max_block() {
            self.processor = Processor::new(max_block);
            self.input_gain = vec![1.0; max_block];
            self.output_gain = vec![1.0; max_block];
        }
        let channels = audio_io_layout
            .main_output_channels
            .map_or(2, |c| c.get() as usize);
        self.processor.set_sample_rate(buffer_config.sample_rate);
        self.processor.set_channels(channels);
        let learn = self.meters.learning.load(Ordering::Relaxed);
        let metering = self.meters.editor_open.load(Ordering::Relaxed);
        self.reported_latency =
            self.processor
                .configure(&settings_from_params(&self.params, learn, metering));
        context.set_latency_samples(self.reported_latency as u32);
        self.meters
            .latency_samples
            .store(self.reported_latency as u32, Ordering::Relaxed);
        self.meters
            .sample_rate
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        self.output
            .activate(buffer_config.sample_rate, &self.params.output);
        true
    }

    fn reset(&mut self) {
        self.processor.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let n = buffer.samples();
        if n == 0 || buffer.channels() == 0 {
            return ProcessStatus::Normal;
        }
        self.output.sanitize_input(buffer);
        let m = &self.meters;
        if m.learn_reset.swap(false, Ordering::Relaxed) {
            self.processor.reset_learn();
        }
        if m.output_reset.swap(false, Ordering::Relaxed) {
            self.processor.reset_output_measurement();
        }

        // Look-ahead, oversampling and peak mode are block-level settings; a change is reported
        // as a new latency (nice-plug notifies the CLAP or VST3 host).
        let settings = settings_from_params(
            &self.params,
            m.learning.load(Ordering::Relaxed),
            m.editor_open.load(Ordering::Relaxed),
        );
        let latency = self.processor.configure(&settings);
        if latency != self.reported_latency {
            shared_ui::latency::report_latency_change(context, latency as u32);
            self.reported_latency = latency;
            m.latency_samples.store(latency as u32, Ordering::Relaxed);
        }

        self.params
            .input_gain
            .smoothed
            .next_block(&mut self.input_gain[..n], n);
        self.params
            .output
            .output_gain
            .smoothed
            .next_block(&mut self.output_gain[..n], n);
        let channels = buffer.channels().min(MAX_CHANNELS);
        let info = self.processor.process(
            &mut buffer.as_slice()[..channels],
            &self.input_gain[..n],
            &self.output_gain[..n],
        );

        m.input.raise(info.input_peak);
        m.limiter_input.raise(info.limiter_input_peak);
        m.output.raise(info.output_peak);
        m.gain_reduction_db.raise(info.gain_reduction_db);
        let out = self.processor.output_meter();
        m.short_term_lufs
            .store(opt(out.short_term()), Ordering::Relaxed);
        m.integrated_lufs
            .store(opt(out.integrated()), Ordering::Relaxed);
        m.true_peak_db
            .store(opt(out.true_peak_max()), Ordering::Relaxed);
        m.learned_lufs.store(
            opt(self.processor.learn_meter().integrated()),
            Ordering::Relaxed,
        );
        m.unity_correction_db
            .store(self.processor.unity_correction_db(), Ordering::Relaxed);
        m.oversampling
            .store(self.processor.oversampling() as u32, Ordering::Relaxed);
        ProcessStatus::Normal
    }
}

impl ClapPlugin for PostmixLimiter {
    const CLAP_ID: &'static str = "org.postmix.limiter";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("A true-peak-safe mastering limiter.");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Limiter,
        ClapFeature::Mastering,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for PostmixLimiter {
    // NOTE: never change this ID: hosts identify saved sessions by it.
    const VST3_CLASS_ID: [u8; 16] = *b"PostmixLimiter01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Dynamics];
}

nice_export_clap!(PostmixLimiter);
nice_export_vst3!(PostmixLimiter);
