//! Postmix Channel Strip: A track channel: filters, 4-band EQ, dynamics, saturation and routing in one window.
//!
//! Glue only: parameters to DSP settings, the process loop and meters for the editor. The DSP
//! lives in `shared-dsp`, the editor pieces in `shared-ui`.

use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState};
use shared_ui::editor::{PluginEditorApp, create_editor, default_state};
use shared_ui::meter::MeterValue;
use shared_ui::output::OutputStage;
use std::sync::Arc;

mod params;
pub use params::ChannelStripParams;

/// The plugin instance.
pub struct ChannelStrip {
    /// Parameters shared with the host and the editor.
    params: Arc<ChannelStripParams>,
    /// Output gain, bypass and input sanitising.
    output: OutputStage,
    /// Output peak for the editor's meter.
    output_meter: Arc<MeterValue>,
    /// Editor window size and open state.
    editor_state: Arc<EguiEditorState>,
}

impl Default for ChannelStrip {
    fn default() -> Self {
        Self {
            params: Arc::new(ChannelStripParams::default()),
            output: OutputStage::default(),
            output_meter: Arc::new(MeterValue::new()),
            editor_state: default_state(),
        }
    }
}

impl Plugin for ChannelStrip {
    const NAME: &'static str = "Postmix Channel Strip";
    const VENDOR: &'static str = "Postmix";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "postmix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[new_nonzero_u32(2)],
            names: PortNames {
                layout: Some("Stereo"),
                aux_inputs: &["Sidechain"],
                ..PortNames::const_default()
            },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            aux_input_ports: &[new_nonzero_u32(2)],
            names: PortNames {
                layout: Some("Mono"),
                aux_inputs: &["Sidechain"],
                ..PortNames::const_default()
            },
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = EguiEditor<PluginEditorApp<ChannelStripParams>>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        create_editor(
            Self::NAME,
            self.params.clone(),
            self.output_meter.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.output
            .activate(buffer_config.sample_rate, &self.params.output);
        true
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.output.sanitize_input(buffer);
        self.output
            .process::<&[f32]>(buffer, &self.params.output, &self.output_meter, None);
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
