//! Postmix Bus Compressor: A glue compressor for groups and the mix bus.
//!
//! Glue only: parameters to DSP settings, the process loop and meters for the editor. The DSP
//! lives in `shared-dsp` ([`shared_dsp::dynamics::Dynamics`]), the editor pieces in `shared-ui`.
//! [`processor::Processor`] is the framework-free audio path the plugin and the tests share.

use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState};
use shared_dsp::dynamics::DetectorMode;
use shared_dsp::util::{gain_to_db, sanitize};
use shared_ui::meter::MeterValue;
use shared_ui::output::OutputStage;
use std::sync::Arc;

mod editor;
mod params;
pub mod processor;

pub use params::*;
use processor::{MAX_CHANNELS, Processor, Settings};

/// Values the audio thread hands to the editor, lock-free.
#[derive(Debug, Default)]
pub struct Meters {
    /// Input peak (linear), after sanitising.
    pub input: MeterValue,
    /// Output peak (linear), after the output stage.
    pub output: MeterValue,
    /// Largest gain reduction in dB (>= 0) since the editor last looked.
    pub gain_reduction_db: MeterValue,
}

/// Block size the processor is allocated for before the host tells the real one.
const DEFAULT_MAX_BLOCK: usize = 1024;

/// The plugin instance.
pub struct BusCompressor {
    /// Parameters shared with the host and the editor.
    params: Arc<BusCompressorParams>,
    /// The compressor, dry path and sidechain listen.
    processor: Processor,
    /// Output gain, bypass and input sanitising.
    output: OutputStage,
    /// Meters for the editor.
    meters: Arc<Meters>,
    /// Latency last reported to the host, in samples.
    reported_latency: usize,
    /// Editor window size and open state.
    editor_state: Arc<EguiEditorState>,
}

impl Default for BusCompressor {
    fn default() -> Self {
        Self {
            params: Arc::new(BusCompressorParams::default()),
            processor: Processor::new(DEFAULT_MAX_BLOCK),
            output: OutputStage::default(),
            meters: Arc::new(Meters::default()),
            reported_latency: 0,
            editor_state: editor::default_state(),
        }
    }
}

/// The processor settings for the current parameter values, advancing every smoother by `n`
/// samples.
pub fn settings_from_params(p: &BusCompressorParams, n: usize) -> Settings {
    let n = n.max(1) as u32;
    Settings {
        threshold_db: p.threshold_db.smoothed.next_step(n),
        ratio: ratio_from_step(p.ratio_step.smoothed.next_step(n)),
        attack_ms: p.attack_ms.smoothed.next_step(n),
        release_ms: p.release_ms.smoothed.next_step(n),
        auto_release: p.auto_release.value(),
        knee_db: p.knee_db.smoothed.next_step(n),
        makeup_db: gain_to_db(p.makeup_gain.smoothed.next_step(n)),
        auto_makeup: p.auto_makeup.value(),
        mix: p.mix.smoothed.next_step(n),
        range_db: range_db_from_param(p.range_db.smoothed.next_step(n)),
        sc_hpf_hz: sc_hpf_from_param(p.sc_hpf_hz.smoothed.next_step(n)),
        external_sidechain: p.external_sidechain.value(),
        detector: match p.detector.value() {
            Detector::Peak => DetectorMode::Peak,
            Detector::Rms => DetectorMode::Rms,
        },
        link: p.stereo_link.smoothed.next_step(n),
        mid_side: p.mid_side.value(),
        sc_listen: p.sc_listen.value(),
    }
}

impl Plugin for BusCompressor {
    const NAME: &'static str = "Postmix Bus Compressor";
    const VENDOR: &'static str = "Postmix";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "postmix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] =
        shared_ui::layouts::STEREO_AND_MONO_WITH_SIDECHAIN;

    type Editor = EguiEditor<editor::BusCompressorEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn filter_state(state: &mut PluginState) {
        shared_ui::state::sanitize_state::<BusCompressorParams>(state);
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
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        if max_block != self.processor.max_block() {
            self.processor = Processor::new(max_block);
        }
        self.processor.set_sample_rate(buffer_config.sample_rate);
        self.processor
            .set_oversampling(self.params.oversampling.value().factor());
        self.reported_latency = self
            .processor
            .set_lookahead_ms(self.params.lookahead_ms.value());
        context.set_latency_samples(self.reported_latency as u32);
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
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let n = buffer.samples();
        if n == 0 || buffer.channels() == 0 {
            return ProcessStatus::Normal;
        }
        self.output.sanitize_input(buffer);

        // Look-ahead and oversampling are block-level settings; a change is reported as a new
        // latency.
        self.processor
            .set_oversampling(self.params.oversampling.value().factor());
        let latency = self
            .processor
            .set_lookahead_ms(self.params.lookahead_ms.value());
        if latency != self.reported_latency {
            shared_ui::latency::report_latency_change(context, latency as u32);
            self.reported_latency = latency;
        }

        // The external key, when the host provides the sidechain port.
        let mut key: [&[f32]; MAX_CHANNELS] = [&[], &[]];
        let mut n_key = 0;
        if let Some(sc) = aux.inputs.first_mut()
            && sc.samples() >= n
            && sc.channels() > 0
        {
            for ch in sc.as_slice().iter_mut() {
                sanitize(&mut ch[..n]);
            }
            for (k, ch) in key.iter_mut().zip(sc.as_slice_immutable().iter()) {
                *k = &ch[..n];
                n_key += 1;
            }
        }
        let sidechain = (n_key > 0).then_some(&key[..n_key]);

        let params = &self.params;
        let channels = buffer.channels().min(MAX_CHANNELS);
        let info = self
            .processor
            .process(&mut buffer.as_slice()[..channels], sidechain, |len| {
                settings_from_params(params, len)
            });
        self.meters.input.raise(info.input_peak);
        self.meters.gain_reduction_db.raise(info.gain_reduction_db);

        let dry = &self.processor.dry()[..channels];
        self.output
            .process(buffer, &self.params.output, &self.meters.output, Some(dry));
        ProcessStatus::Normal
    }
}

impl ClapPlugin for BusCompressor {
    const CLAP_ID: &'static str = "org.postmix.bus-compressor";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("A glue compressor for groups and the mix bus.");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Compressor,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for BusCompressor {
    // NOTE: never change this ID: hosts identify saved sessions by it.
    const VST3_CLASS_ID: [u8; 16] = *b"PostmixBusComp01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Dynamics];
}

nice_export_clap!(BusCompressor);
nice_export_vst3!(BusCompressor);
