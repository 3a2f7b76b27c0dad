//! Reporting a latency change that a parameter causes during playback.

use nice_plug::prelude::*;

/// Tells the host that the plugin's latency is now `samples`, from inside `process()`.
///
/// `activate()` must report the same value (with `set_latency_samples`) so that a restart lands
/// on it.
pub fn report_latency_change<P: Plugin>(context: &mut impl ProcessContext<P>, samples: u32) {
    match context.plugin_api() {
        // NOTE: CLAP lets a plugin announce new latency only inside `activate`. nice-plug 0.4.2
        // forwards a change made in `process` through the main thread later, which can land after
        // the host has deactivated the plugin (clap-validator: "clap_host_latency::changed must
        // only be called within clap_plugin::activate"). So ask the host to restart the plugin:
        // it deactivates and reactivates it, and `activate` reports the new latency there.
        PluginApi::Clap => context.request_restart(),
        // VST3 hosts take a latency change at any time (restartComponent(kLatencyChanged)).
        _ => context.set_latency_samples(samples),
    }
}
