//! The audio-thread side of the meter, free of the plugin framework so tests can drive it:
//! runs [`LoudnessMeter`](shared_dsp::loudness::LoudnessMeter) over each block, applies the
//! start/pause/reset state machine, writes the 10 Hz history and publishes the readings.

use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use std::sync::atomic::Ordering;

use crate::params::HISTORY_RATE_HZ;
use crate::readings::{MAX_CHANNELS, Readings};
use crate::transport::RunControl;

/// The BS.1770 layout for a main input of `channels` channels (mono, stereo, 5.0, 5.1; anything
/// else is measured as stereo).
pub fn layout_for_channels(channels: u32) -> ChannelLayout {
    match channels {
        1 => ChannelLayout::Mono,
        5 => ChannelLayout::Surround50,
        6 => ChannelLayout::Surround51,
        _ => ChannelLayout::Stereo,
    }
}

/// Samples between history points (10 Hz) at `fs`.
pub fn history_hop(fs: f64) -> usize {
    ((fs / HISTORY_RATE_HZ as f64).round() as usize).max(1)
}

/// Loudness engine, run state and history clock. Allocates only in [`Metering::new`].
#[derive(Debug)]
pub struct Metering {
    /// The loudness engine (allocated for up to 5.1).
    meter: LoudnessMeter,
    /// Start/pause/reset and transport-link state.
    run: RunControl,
    /// Samples between history points.
    hop: usize,
    /// Samples since the last history point.
    hop_fill: usize,
    /// Samples integrated (while running) since the last reset.
    run_samples: u64,
}

impl Metering {
    /// A stereo meter at `fs` (allocates about 0.6 MB).
    pub fn new(fs: f64) -> Self {
        Self {
            meter: LoudnessMeter::new(MAX_CHANNELS, ChannelLayout::Stereo, fs),
            run: RunControl::new(),
            hop: history_hop(fs),
            hop_fill: 0,
            run_samples: 0,
        }
    }

    /// The engine, for reading values directly.
    pub fn meter(&self) -> &LoudnessMeter {
        &self.meter
    }

    /// Prepares for `layout` at `fs` (no allocation). A reactivation with the same rate and
    /// layout keeps the measurement.
    pub fn activate(&mut self, layout: ChannelLayout, fs: f64) {
        // NOTE: hosts reactivate to change the block size or restart processing; that must not
        // throw away the user's integrated reading. Only a new rate or layout clears it.
        if layout != self.meter.layout() || fs != self.meter.sample_rate() {
            self.meter.set_layout(layout);
            self.meter.set_sample_rate(fs);
            self.hop = history_hop(fs);
            self.hop_fill = 0;
            self.run_samples = 0;
        }
        self.run.activate();
        self.meter.set_running(self.run.running());
    }

    /// Meters one block: takes the editor's commands from `readings`, steps the run state with
    /// the transport-link option `link` and the host transport `playing`, runs the engine on
    /// `channels` (one slice per channel, equal lengths; extra channels ignored, too few: not
    /// metered), writes a history point at every 100 ms of audio and publishes the readings.
    /// Real-time safe: no allocation, no locks.
    pub fn process<C: AsRef<[f32]>>(
        &mut self,
        channels: &[C],
        readings: &Readings,
        link: bool,
        playing: bool,
    ) {
        let actions = self.run.step(readings.take_commands(), link, playing);
        if actions.reset {
            self.meter.reset_measurement();
            self.run_samples = 0;
        }
        self.meter.set_running(actions.running);

        let nch = self.meter.layout().channels();
        if channels.len() >= nch {
            let len = channels[0].as_ref().len();
            if actions.running {
                self.run_samples += len as u64;
            }
            let mut pos = 0;
            while pos < len {
                let n = (self.hop - self.hop_fill).min(len - pos);
                let mut view: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
                for (v, c) in view.iter_mut().zip(channels.iter()).take(nch) {
                    *v = &c.as_ref()[pos..pos + n];
                }
                self.meter.process(&view[..nch]);
                pos += n;
                self.hop_fill += n;
                if self.hop_fill >= self.hop {
                    self.hop_fill = 0;
                    readings
                        .history
                        .push(self.meter.momentary(), self.meter.short_term());
                }
            }
        }
        self.publish(readings);
    }

    /// Publishes the current readings (atomics only).
    pub fn publish(&self, r: &Readings) {
        let m = &self.meter;
        r.momentary.store(m.momentary());
        r.short_term.store(m.short_term());
        r.integrated.store(m.integrated());
        r.loudness_range.store(m.loudness_range());
        r.max_momentary.store(m.max_momentary());
        r.max_short_term.store(m.max_short_term());
        r.true_peak_max.store(m.true_peak_max());
        let nch = m.layout().channels();
        for (ch, tp) in r.true_peak.iter().enumerate() {
            tp.store(if ch < nch { m.true_peak(ch) } else { None });
        }
        r.channels.store(nch, Ordering::Relaxed);
        r.lra_stable
            .store(m.loudness_range_stable(), Ordering::Relaxed);
        r.running.store(self.run.running(), Ordering::Relaxed);
        r.integration_s
            .store(Some(self.run_samples as f64 / m.sample_rate()));
    }
}
