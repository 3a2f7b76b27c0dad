//! Postmix Channel Strip: A track channel: filters, 4-band EQ, dynamics, saturation and routing in one window.
//!
//! Glue only: parameters to DSP settings, the process loop and meters for the editor. The DSP
//! lives in `shared-dsp`, the editor pieces in `shared-ui`.

use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState};
use shared_ui::meter::MeterValue;
use shared_ui::output::OutputStage;
use std::sync::Arc;

mod editor;
mod params;
pub mod strip;

pub use params::*;
use strip::{MAX_CHANNELS, Strip};

/// Values the audio thread hands to the editor, lock-free.
#[derive(Debug, Default)]
pub struct Meters {
    /// Input peak (linear), after trim and polarity.
    pub input: MeterValue,
    /// Output peak (linear), after the output stage.
    pub output: MeterValue,
    /// Largest compressor gain reduction in dB since the editor last looked.
    pub comp_gr_db: MeterValue,
    /// Largest gate/expander attenuation in dB since the editor last looked.
    pub gate_gr_db: MeterValue,
}

/// Block size the strip is allocated for before the host tells the real one.
const DEFAULT_MAX_BLOCK: usize = 1024;

/// The plugin instance.
pub struct ChannelStrip {
    /// Parameters shared with the host and the editor.
    params: Arc<ChannelStripParams>,
    /// The audio path.
    strip: Strip,
    /// Output gain, bypass and input sanitising.
    output: OutputStage,
    /// Meters for the editor.
    meters: Arc<Meters>,
    /// Editor window size and open state.
    editor_state: Arc<EguiEditorState>,
}

impl Default for ChannelStrip {
    fn default() -> Self {
        Self {
            params: Arc::new(ChannelStripParams::default()),
            strip: Strip::new(DEFAULT_MAX_BLOCK),
            output: OutputStage::default(),
            meters: Arc::new(Meters::default()),
            editor_state: editor::default_state(),
        }
    }
}

impl Plugin for ChannelStrip {
    const NAME: &'static str = "Postmix Channel Strip";
    const VENDOR: &'static str = "Postmix";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "postmix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] =
        shared_ui::layouts::STEREO_AND_MONO_WITH_SIDECHAIN;

    type Editor = EguiEditor<editor::ChannelStripEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn filter_state(state: &mut PluginState) {
        shared_ui::state::sanitize_state::<ChannelStripParams>(state);
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
        if max_block != self.strip.max_block() {
            self.strip = Strip::new(max_block);
        }
        self.strip.set_sample_rate(buffer_config.sample_rate);
        // NOTE: the latency (the saturation's oversampler) is the same whether or not the
        // saturation is in: a delay line replaces it when bypassed, so hosts never re-align.
        context.set_latency_samples(self.strip.latency() as u32);
        self.output
            .activate(buffer_config.sample_rate, &self.params.output);
        true
    }

    fn reset(&mut self) {
        self.strip.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let n = buffer.samples();
        if n == 0 || buffer.channels() == 0 {
            return ProcessStatus::Normal;
        }
        self.output.sanitize_input(buffer);

        // The external key, when the host provides the sidechain port.
        let mut key: [&[f32]; MAX_CHANNELS] = [&[], &[]];
        let mut n_key = 0;
        // NOTE: not sanitised here: the strip reads it only for a gate keyed from it, and
        // sanitises what it reads.
        if let Some(sc) = aux.inputs.first_mut()
            && sc.samples() >= n
            && sc.channels() > 0
        {
            for (k, ch) in key.iter_mut().zip(sc.as_slice_immutable().iter()) {
                *k = &ch[..n];
                n_key += 1;
            }
        }
        let sidechain = (n_key > 0).then_some(&key[..n_key]);

        let params = &self.params;
        let channels = buffer.channels().min(MAX_CHANNELS);
        let info = self
            .strip
            .process(&mut buffer.as_slice()[..channels], sidechain, || {
                settings_from_params(params)
            });
        self.meters.input.raise(info.input_peak);
        self.meters.comp_gr_db.raise(info.comp_gr_db);
        self.meters.gate_gr_db.raise(info.gate_gr_db);

        let dry = &self.strip.dry()[..channels];
        self.output
            .process(buffer, &self.params.output, &self.meters.output, Some(dry));
        ProcessStatus::Normal
    }
}

impl ClapPlugin for ChannelStrip {
    const CLAP_ID: &'static str = "org.postmix.channel-strip";
    const CLAP_DESCRIPTION: Option<&'static str> = Some(
        "A track channel: filters, 4-band EQ, dynamics, saturation and routing in one window.",
    );
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Equalizer,
        ClapFeature::Compressor,
        ClapFeature::Mono,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for ChannelStrip {
    // NOTE: never change this ID: hosts identify saved sessions by it.
    const VST3_CLASS_ID: [u8; 16] = *b"PostmixChStrip01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[
        Vst3SubCategory::Fx,
        Vst3SubCategory::Eq,
        Vst3SubCategory::Dynamics,
    ];
}

nice_export_clap!(ChannelStrip);
nice_export_vst3!(ChannelStrip);
