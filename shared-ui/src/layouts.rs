//! The suite's audio port layouts, one place for the five plugins' `AUDIO_IO_LAYOUTS`.

use nice_plug::prelude::*;

/// The optional sidechain input: one stereo port.
const SIDECHAIN: [NonZeroU32; 1] = [new_nonzero_u32(2)];

/// A layout with `channels` main inputs and outputs named `name`, with or without the stereo
/// sidechain input port.
pub const fn layout(channels: u32, name: &'static str, sidechain: bool) -> AudioIOLayout {
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(channels),
        main_output_channels: NonZeroU32::new(channels),
        aux_input_ports: if sidechain { &SIDECHAIN } else { &[] },
        names: PortNames {
            layout: Some(name),
            aux_inputs: if sidechain { &["Sidechain"] } else { &[] },
            ..PortNames::const_default()
        },
        ..AudioIOLayout::const_default()
    }
}

/// Stereo, then mono.
pub const STEREO_AND_MONO: &[AudioIOLayout] =
    &[layout(2, "Stereo", false), layout(1, "Mono", false)];

/// Stereo, then mono, each with a stereo sidechain input.
///
/// NOTE: nice-plug 0.4.2's VST3 bus check (wrapper/vst3/wrapper.rs, setBusArrangements) compares
/// the sidechain against the main bus, so VST3 hosts refuse the mono layout. A mono key instead
/// is accepted, but JUCE's VST3 hosting then passes the inactive sidechain bus as one channel
/// whose pointer is null, and nice-plug's buffer manager (`create_buffers`) copies from it:
/// a segfault before the plugin runs. CLAP hosts get mono; on VST3 use the stereo layout on mono
/// tracks until nice-plug is fixed.
pub const STEREO_AND_MONO_WITH_SIDECHAIN: &[AudioIOLayout] =
    &[layout(2, "Stereo", true), layout(1, "Mono", true)];
