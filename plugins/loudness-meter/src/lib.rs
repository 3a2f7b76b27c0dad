//! Postmix Loudness Meter: An EBU R 128 / ITU-R BS.1770 loudness and true-peak meter.
//!
//! Glue only: the process loop feeds [`shared_dsp::loudness::LoudnessMeter`] and publishes its
//! readings for the editor ([`readings`]); start/pause/reset and the transport link are the
//! [`transport::RunControl`] state machine; the widgets live in `shared-ui`. Audio passes through
//! untouched (bit-exact at 0 dB output gain); nothing is delayed, so there is no latency.

use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState};
use shared_ui::layouts::layout;
use shared_ui::meter::MeterValue;
use shared_ui::output::OutputStage;
use std::sync::Arc;

mod editor;
pub mod metering;
mod params;
pub mod readings;
pub mod transport;

use metering::{Metering, layout_for_channels};
pub use params::*;
use readings::Readings;

/// Sample rate the meter is built for before the host tells the real one.
const DEFAULT_SAMPLE_RATE: f64 = 48_000.0;

/// The plugin instance.
pub struct LoudnessMeter {
    /// Parameters shared with the host and the editor.
    params: Arc<LoudnessMeterParams>,
    /// Loudness engine, run state and history clock.
    metering: Metering,
    /// Readings, history and commands shared with the editor.
    readings: Arc<Readings>,
    /// Output gain, bypass and input sanitising.
    output: OutputStage,
    /// Output peak (required by the output stage; not shown).
    output_meter: Arc<MeterValue>,
    /// Editor window size and open state.
    editor_state: Arc<EguiEditorState>,
}

impl Default for LoudnessMeter {
    fn default() -> Self {
        Self {
            params: Arc::new(LoudnessMeterParams::default()),
            metering: Metering::new(DEFAULT_SAMPLE_RATE),
            readings: Arc::new(Readings::default()),
            output: OutputStage::default(),
            output_meter: Arc::new(MeterValue::new()),
            editor_state: editor::default_state(),
        }
    }
}

impl Plugin for LoudnessMeter {
    const NAME: &'static str = "Postmix Loudness Meter";
    const VENDOR: &'static str = "Postmix";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "postmix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        layout(2, "Stereo", false),
        layout(1, "Mono", false),
        layout(5, "5.0", false),
        layout(6, "5.1", false),
    ];

    type Editor = EguiEditor<editor::LoudnessMeterEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn filter_state(state: &mut PluginState) {
        shared_ui::state::sanitize_state::<LoudnessMeterParams>(state);
    }

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.readings.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let layout =
            layout_for_channels(audio_io_layout.main_input_channels.map_or(2, |c| c.get()));
        self.metering
            .activate(layout, buffer_config.sample_rate as f64);
        self.metering.publish(&self.readings);
        self.output
            .activate(buffer_config.sample_rate, &self.params.output);
        true
    }

    // NOTE: `Plugin::reset` is deliberately the default no-op. Hosts call it when processing
    // (re)starts; clearing there would throw away the user's integrated reading. The meter's
    // own reset (button or transport link) is the only thing that clears the measurement.

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

        // The meter reads the (sanitised) input; the output stage then applies output gain and
        // bypass, which at 0 dB leave the samples untouched.
        self.metering.process(
            buffer.as_slice_immutable(),
            &self.readings,
            self.params.transport_link.value(),
            context.transport().playing,
        );

        self.output
            .process::<&[f32]>(buffer, &self.params.output, &self.output_meter, None);
        ProcessStatus::Normal
    }
}

impl ClapPlugin for LoudnessMeter {
    const CLAP_ID: &'static str = "org.postmix.loudness-meter";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("An EBU R 128 / ITU-R BS.1770 loudness and true-peak meter.");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Surround,
    ];
}

impl Vst3Plugin for LoudnessMeter {
    // NOTE: never change this ID: hosts identify saved sessions by it.
    const VST3_CLASS_ID: [u8; 16] = *b"PostmixLoudMtr01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(LoudnessMeter);
nice_export_vst3!(LoudnessMeter);
