//! The plugin's audio path without the plugin framework: DC filter, input gain, the shared
//! [`Limiter`], unity-gain listening, output trim, dither, a latency-aligned bypass, and the
//! loudness meters the editor reads. The plugin's `process` and the tests both drive this, so what
//! the tests prove holds for the plugin.
//!
//! Signal flow per block:
//! ```text
//! in -> [DC filter] -> x input gain -> Limiter (look-ahead + oversampling) -> [unity] -> x trim
//!    -> [dither] -> bypass crossfade (with the input delayed by the latency) -> out
//! ```

use shared_dsp::delay::DelayLine;
use shared_dsp::dither::Ditherer;
use shared_dsp::filter::ButterworthHighPass;
use shared_dsp::limiter::{Limiter, MAX_LOOKAHEAD_MS, MAX_SAMPLE_RATE, PeakMode};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use shared_dsp::smoothing::{LinearRamp, OnePole};
use shared_dsp::util::db_to_gain;

use shared_dsp::limiter::Character;

/// Most channels: stereo.
pub const MAX_CHANNELS: usize = 2;
/// Highest oversampling factor.
pub const MAX_FACTOR: usize = 16;
/// Crossfade time for the on/off switches (DC filter, unity, bypass), in ms.
pub const SWITCH_FADE_MS: f32 = 10.0;
/// Cutoff of the DC filter (Hz): -3 dB at 5 Hz, -0.02 dB at 20 Hz (2nd-order Butterworth:
/// `|H|^2 = (f/fc)^4 / (1 + (f/fc)^4)`), so it removes DC and sub-sonic drift without touching
/// the audio band.
pub const DC_CUTOFF_HZ: f32 = 5.0;
/// Unity-gain listening updates its loudness correction at every multiple of this many samples
/// (counted from activation, so the result does not depend on the host's block sizes).
pub const UNITY_CHUNK: usize = 64;
/// Time constant of the unity-gain loudness correction (ms).
pub const UNITY_SMOOTH_MS: f32 = 300.0;

/// Plain-value settings for one block (what the parameters mean, already mapped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Ceiling in dB (dBTP in true-peak mode).
    pub ceiling_db: f32,
    /// Base release in ms (already [`crate::AUTO_RELEASE_MS`] under auto release).
    pub release_ms: f32,
    /// Look-ahead in ms.
    pub lookahead_ms: f32,
    /// Requested oversampling factor (true-peak mode raises 1 to 2).
    pub oversampling: usize,
    /// True-peak mode.
    pub true_peak: bool,
    /// Stereo link 0-1.
    pub link: f32,
    /// Release character.
    pub character: Character,
    /// Dither word length, `None` = off.
    pub dither_bits: Option<u32>,
    /// Noise-shaped dither.
    pub noise_shaping: bool,
    /// DC filter on.
    pub dc_filter: bool,
    /// Unity-gain listening on.
    pub unity: bool,
    /// Bypass on.
    pub bypass: bool,
    /// Measure the input's integrated loudness (for loudness targeting).
    pub learn: bool,
    /// Run the output loudness / true-peak meter (the plugin turns it on while the editor is
    /// open: it costs about a third of the limiter's own CPU time and nothing else reads it).
    pub meter_output: bool,
}

impl Default for Settings {
    /// The plugin's default parameter values.
    fn default() -> Self {
        Self {
            ceiling_db: -1.0,
            release_ms: crate::AUTO_RELEASE_MS,
            lookahead_ms: 2.0,
            oversampling: 4,
            true_peak: true,
            link: 1.0,
            character: Character::Transparent,
            dither_bits: None,
            noise_shaping: false,
            dc_filter: false,
            unity: false,
            bypass: false,
            learn: false,
            meter_output: false,
        }
    }
}

/// What a block did, for the meters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockInfo {
    /// Largest |input| sample (after sanitising, before the input gain).
    pub input_peak: f32,
    /// Largest |sample| going into the limiter (after the input gain).
    pub limiter_input_peak: f32,
    /// Largest |output| sample (the final output).
    pub output_peak: f32,
    /// Largest gain reduction of the block in dB (>= 0).
    pub gain_reduction_db: f32,
}

/// The limiter plugin's audio path. Allocation-free after [`Processor::new`].
pub struct Processor {
    /// The look-ahead / true-peak limiter.
    limiter: Limiter,
    /// Largest block [`Self::process`] accepts.
    max_block: usize,
    /// Sample rate in Hz.
    fs: f32,
    /// Channels of the current layout (1 or 2).
    channels: usize,
    /// Settings last applied (setters run only on change).
    applied: Option<Settings>,
    /// DC filter per channel ([`DC_CUTOFF_HZ`]).
    dc: [ButterworthHighPass; MAX_CHANNELS],
    /// DC filter crossfade: 0 = off, 1 = filtered.
    dc_mix: LinearRamp,
    /// Output dither.
    dither: Ditherer,
    /// Input (before the input gain) per channel, delayed for the latency-aligned bypass.
    dry_line: DelayLine,
    /// Limiter input per channel, delayed for unity-gain listening's loudness comparison.
    pre_line: DelayLine,
    /// Input gain per sample, delayed with the audio for unity-gain listening (starts at 1).
    gain_line: DelayLine,
    /// Latency-aligned dry input of the last block, `max_block` per channel.
    dry: Vec<Vec<f32>>,
    /// Latency-aligned limiter input of the last block, `max_block` per channel.
    pre: Vec<Vec<f32>>,
    /// Latency-aligned input gain of the last block.
    gain_delayed: Vec<f32>,
    /// Scratch: a crossfade value per sample.
    ramp_buf: Vec<f32>,
    /// Unity-gain listening crossfade: 0 = off, 1 = on.
    unity_mix: LinearRamp,
    /// Bypass crossfade: 0 = processed, 1 = dry.
    bypass_mix: LinearRamp,
    /// Loudness of the limiter input, delayed to line up with the output (unity listening).
    unity_in: LoudnessMeter,
    /// Loudness of the limiter output (unity listening).
    unity_out: LoudnessMeter,
    /// Unity listening's loudness correction (dB the limiting took away), smoothed per sample.
    unity_loss: OnePole,
    /// Samples processed since activation, modulo [`UNITY_CHUNK`].
    chunk_pos: usize,
    /// Integrated loudness of the input before the input gain (loudness targeting).
    learn_meter: LoudnessMeter,
    /// Loudness and true peak of the final output (the editor's readouts).
    out_meter: LoudnessMeter,
}

impl Processor {
    /// A processor for up to [`MAX_CHANNELS`] channels and blocks of up to `max_block` samples.
    /// Allocates the limiter for 16x oversampling and the delay rings for the longest latency
    /// at 192 kHz.
    ///
    /// # Panics
    /// If `max_block` is 0.
    pub fn new(max_block: usize) -> Self {
        assert!(max_block > 0);
        let mut limiter = Limiter::new(MAX_CHANNELS, max_block, MAX_FACTOR);
        // The longest latency: 10 ms look-ahead at 192 kHz plus the 16x oversampler.
        limiter.set_sample_rate(MAX_SAMPLE_RATE);
        limiter.set_mode(PeakMode::SamplePeak);
        limiter.set_oversampling(MAX_FACTOR);
        limiter.set_lookahead_ms(MAX_LOOKAHEAD_MS);
        let max_latency = limiter.latency();
        let fs = 48_000.0;
        limiter.set_sample_rate(fs);
        let mut p = Self {
            limiter,
            max_block,
            fs,
            channels: MAX_CHANNELS,
            applied: None,
            dc: [ButterworthHighPass::with_cutoff(DC_CUTOFF_HZ, fs); MAX_CHANNELS],
            dc_mix: LinearRamp::new(0.0, SWITCH_FADE_MS),
            dither: Ditherer::new(),
            dry_line: DelayLine::new(MAX_CHANNELS, max_latency, max_block),
            pre_line: DelayLine::new(MAX_CHANNELS, max_latency, max_block),
            gain_line: DelayLine::new(1, max_latency, max_block),
            dry: vec![vec![0.0; max_block]; MAX_CHANNELS],
            pre: vec![vec![0.0; max_block]; MAX_CHANNELS],
            gain_delayed: vec![1.0; max_block],
            ramp_buf: vec![0.0; max_block],
            unity_mix: LinearRamp::new(0.0, SWITCH_FADE_MS),
            bypass_mix: LinearRamp::new(0.0, SWITCH_FADE_MS),
            unity_in: LoudnessMeter::new(MAX_CHANNELS, ChannelLayout::Stereo, fs as f64),
            unity_out: LoudnessMeter::new(MAX_CHANNELS, ChannelLayout::Stereo, fs as f64),
            unity_loss: OnePole::new(0.0, UNITY_SMOOTH_MS),
            chunk_pos: 0,
            learn_meter: LoudnessMeter::new(MAX_CHANNELS, ChannelLayout::Stereo, fs as f64),
            out_meter: LoudnessMeter::new(MAX_CHANNELS, ChannelLayout::Stereo, fs as f64),
        };
        p.set_sample_rate(fs);
        p
    }

    /// Largest block [`Self::process`] accepts.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Sets the sample rate (no allocation) and clears the state.
    ///
    /// The limiter is built for rates up to 192 kHz; above that it runs as if at 192 kHz, so its
    /// look-ahead and release times shrink by `192 kHz / fs` (the ceiling, which the limiter
    /// holds sample by sample, and the reported latency stay exact).
    pub fn set_sample_rate(&mut self, fs: f32) {
        let fs = if fs.is_finite() && fs > 0.0 {
            fs
        } else {
            48_000.0
        };
        self.fs = fs;
        // NOTE: shared_dsp's limiter asserts fs <= 192 kHz (its delay lines are sized for
        // 10 ms there); hosts do offer 384 and 768 kHz, which must not abort the host.
        self.limiter.set_sample_rate(fs.min(MAX_SAMPLE_RATE));
        self.dc = [ButterworthHighPass::with_cutoff(DC_CUTOFF_HZ, fs); MAX_CHANNELS];
        for r in [&mut self.dc_mix, &mut self.unity_mix, &mut self.bypass_mix] {
            r.set_sample_rate(fs);
        }
        self.unity_loss.set_sample_rate(fs);
        for m in [
            &mut self.unity_in,
            &mut self.unity_out,
            &mut self.learn_meter,
            &mut self.out_meter,
        ] {
            m.set_sample_rate(fs as f64);
        }
        self.reset();
    }

    /// Sets the channel count (1 or 2) the meters measure. No allocation; resets the meters.
    pub fn set_channels(&mut self, channels: usize) {
        let channels = channels.clamp(1, MAX_CHANNELS);
        self.channels = channels;
        let layout = if channels == 1 {
            ChannelLayout::Mono
        } else {
            ChannelLayout::Stereo
        };
        for m in [
            &mut self.unity_in,
            &mut self.unity_out,
            &mut self.learn_meter,
            &mut self.out_meter,
        ] {
            m.set_layout(layout);
        }
        self.applied = None;
    }

    /// Clears all state (no allocation). The next block starts from its settings without ramps.
    pub fn reset(&mut self) {
        self.limiter.reset();
        for f in &mut self.dc {
            f.reset();
        }
        self.dither.reset();
        self.dry_line.reset();
        self.pre_line.reset();
        self.gain_line.fill(1.0);
        self.unity_loss.reset(0.0);
        self.chunk_pos = 0;
        for m in [
            &mut self.unity_in,
            &mut self.unity_out,
            &mut self.learn_meter,
            &mut self.out_meter,
        ] {
            m.reset();
        }
        self.applied = None;
    }

    /// Applies the settings (setters only for what changed) and returns the latency in samples
    /// that the next [`Self::process`] will have: look-ahead plus the oversampler's round trip.
    /// Call once per block before `process`; the plugin reports a changed latency to the host.
    pub fn configure(&mut self, s: &Settings) -> usize {
        let prev = self.applied;
        let l = &mut self.limiter;
        if prev.is_none_or(|p| p.ceiling_db != s.ceiling_db) {
            l.set_ceiling_db(s.ceiling_db);
        }
        if prev.is_none_or(|p| p.release_ms != s.release_ms) {
            l.set_release_ms(s.release_ms);
        }
        if prev.is_none_or(|p| p.lookahead_ms != s.lookahead_ms) {
            l.set_lookahead_ms(s.lookahead_ms);
        }
        if prev.is_none_or(|p| p.character != s.character) {
            l.set_character(s.character);
        }
        if prev.is_none_or(|p| p.link != s.link) {
            l.set_link(s.link);
        }
        if prev.is_none_or(|p| p.true_peak != s.true_peak) {
            l.set_mode(if s.true_peak {
                PeakMode::TruePeak
            } else {
                PeakMode::SamplePeak
            });
        }
        if prev.is_none_or(|p| p.oversampling != s.oversampling) {
            let f = s.oversampling.clamp(1, MAX_FACTOR).next_power_of_two();
            l.set_oversampling(f);
        }
        self.dither.set(s.dither_bits, s.noise_shaping);
        let on = |b: bool| if b { 1.0 } else { 0.0 };
        if prev.is_none() {
            self.dc_mix.reset(on(s.dc_filter));
            self.unity_mix.reset(on(s.unity));
            self.bypass_mix.reset(on(s.bypass));
        }
        if s.unity && prev.is_none_or(|p| !p.unity) && self.unity_mix.value() == 0.0 {
            // Start the loudness comparison afresh (no allocation).
            self.unity_in.reset();
            self.unity_out.reset();
            self.unity_loss.reset(0.0);
        }
        if s.learn && prev.is_some_and(|p| !p.learn) {
            self.learn_meter.reset_measurement();
        }
        self.learn_meter.set_running(s.learn);
        self.dc_mix.set_target(on(s.dc_filter));
        self.unity_mix.set_target(on(s.unity));
        self.bypass_mix.set_target(on(s.bypass));
        self.applied = Some(*s);
        self.latency()
    }

    /// Latency in samples (look-ahead plus oversampling), including pending settings.
    pub fn latency(&self) -> usize {
        self.limiter.latency().min(self.dry_line.max_delay())
    }

    /// Oversampling factor in use (after the true-peak minimum of 2x).
    pub fn oversampling(&self) -> usize {
        self.limiter.oversampling()
    }

    /// Loudness and true peak of the final output.
    pub fn output_meter(&self) -> &LoudnessMeter {
        &self.out_meter
    }

    /// Integrated loudness of the input before the input gain while learning.
    pub fn learn_meter(&self) -> &LoudnessMeter {
        &self.learn_meter
    }

    /// Clears the output meter's integrated loudness and true-peak hold (no allocation).
    pub fn reset_output_measurement(&mut self) {
        self.out_meter.reset_measurement();
    }

    /// Restarts the learn measurement (no allocation).
    pub fn reset_learn(&mut self) {
        self.learn_meter.reset_measurement();
    }

    /// Current unity-gain listening loudness correction in dB (what the limiting took away).
    pub fn unity_correction_db(&self) -> f32 {
        self.unity_loss.value()
    }

    /// The limiter, for inspection.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Processes `audio` in place (1 or 2 channels) with the settings of the last
    /// [`Self::configure`] (which must have been called at least once). `input_gain` and
    /// `output_gain` hold the linear gains per sample (the plugin's smoothed parameters).
    ///
    /// # Panics
    /// If `audio` has 0 or more than [`MAX_CHANNELS`] channels, a block is longer than
    /// [`Self::max_block`], a channel or gain slice is shorter than `audio[0]`, or `configure`
    /// was never called.
    pub fn process(
        &mut self,
        audio: &mut [&mut [f32]],
        input_gain: &[f32],
        output_gain: &[f32],
    ) -> BlockInfo {
        let s = self.applied.expect("configure() before process()");
        let nch = audio.len();
        assert!((1..=MAX_CHANNELS).contains(&nch), "1 or 2 channels");
        let n = audio[0].len();
        assert!(n <= self.max_block, "block longer than max_block");
        let (input_gain, output_gain) = (&input_gain[..n], &output_gain[..n]);
        let mut info = BlockInfo::default();
        if n == 0 {
            return info;
        }
        let lat = self.latency();
        for line in [&mut self.dry_line, &mut self.pre_line, &mut self.gain_line] {
            line.set_delay(lat);
        }

        // 1. Input peak and the dry path (the input delayed by the latency).
        for (c, ch) in audio.iter().enumerate() {
            let x = &ch[..n];
            info.input_peak = info.input_peak.max(shared_dsp::util::peak_abs(x));
            self.dry_line.run(c, x, &mut self.dry[c][..n]);
        }
        self.dry_line.advance(n);

        // 2. DC filter (crossfaded in and out; skipped while off).
        if s.dc_filter || self.dc_mix.value() > 0.0 {
            for m in &mut self.ramp_buf[..n] {
                *m = self.dc_mix.next();
            }
            for (c, ch) in audio.iter_mut().enumerate() {
                let f = &mut self.dc[c];
                for (v, &m) in ch[..n].iter_mut().zip(&self.ramp_buf[..n]) {
                    let y = f.run(*v);
                    *v += (y - *v) * m;
                }
                f.flush();
            }
            if !s.dc_filter && self.dc_mix.value() == 0.0 {
                for f in &mut self.dc {
                    f.reset();
                }
            }
        }

        // 3. Loudness targeting measures the input before the input gain.
        if s.learn {
            let mut bufs: [&[f32]; MAX_CHANNELS] = [&[], &[]];
            for (b, ch) in bufs.iter_mut().zip(audio.iter()) {
                *b = &ch[..n];
            }
            self.learn_meter.process(&bufs[..nch]);
        }

        // 4. Input gain; the limiter input and the gain, delayed for unity listening.
        self.gain_line
            .run(0, input_gain, &mut self.gain_delayed[..n]);
        self.gain_line.advance(n);
        for (c, ch) in audio.iter_mut().enumerate() {
            for (v, &g) in ch[..n].iter_mut().zip(input_gain) {
                *v *= g;
            }
            self.pre_line.run(c, &ch[..n], &mut self.pre[c][..n]);
            let peak = shared_dsp::util::peak_abs(&ch[..n]);
            info.limiter_input_peak = info.limiter_input_peak.max(peak);
        }
        self.pre_line.advance(n);

        // 5. Limit.
        {
            let mut bufs: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
            for (b, ch) in bufs.iter_mut().zip(audio.iter_mut()) {
                *b = &mut ch[..n];
            }
            self.limiter.process(&mut bufs[..nch]);
        }
        info.gain_reduction_db = self.limiter.gain_reduction_db();

        // 6. Unity-gain listening.
        if s.unity || self.unity_mix.value() > 0.0 {
            self.unity(audio, n);
        } else {
            self.chunk_pos = (self.chunk_pos + n) % UNITY_CHUNK;
        }

        // 7. Output trim, then dither (the last word-length reduction).
        for ch in audio.iter_mut() {
            for (v, &g) in ch[..n].iter_mut().zip(output_gain) {
                *v *= g;
            }
        }
        if self.dither.bits().is_some() {
            for (c, ch) in audio.iter_mut().enumerate() {
                self.dither.process(c, &mut ch[..n]);
            }
        }

        // 8. Bypass: crossfade to the latency-aligned input; exactly dry when fully bypassed.
        if s.bypass || self.bypass_mix.value() > 0.0 {
            for m in &mut self.ramp_buf[..n] {
                *m = self.bypass_mix.next();
            }
            for (c, ch) in audio.iter_mut().enumerate() {
                for ((v, &d), &m) in ch[..n]
                    .iter_mut()
                    .zip(&self.dry[c][..n])
                    .zip(&self.ramp_buf[..n])
                {
                    *v = if m >= 1.0 { d } else { *v + (d - *v) * m };
                }
            }
        }

        // 9. No subnormal leaves the plugin (hosts and the next plugin pay for them), then the
        // output meters.
        for ch in audio.iter_mut() {
            for v in ch[..n].iter_mut() {
                if v.abs() < f32::MIN_POSITIVE {
                    *v = 0.0;
                }
            }
        }
        let mut bufs: [&[f32]; MAX_CHANNELS] = [&[], &[]];
        for (b, ch) in bufs.iter_mut().zip(audio.iter()) {
            *b = &ch[..n];
            info.output_peak = info.output_peak.max(shared_dsp::util::peak_abs(b));
        }
        if s.meter_output {
            self.out_meter.process(&bufs[..nch]);
        }
        info
    }

    /// Unity-gain listening: divides out the (latency-aligned) input gain, then restores the
    /// loudness the limiting took away, measured as the short-term loudness difference between
    /// the limiter's output and its (delayed) input. The correction is re-read at fixed
    /// [`UNITY_CHUNK`] boundaries and smoothed, so the output does not depend on block sizes.
    fn unity(&mut self, audio: &mut [&mut [f32]], n: usize) {
        let nch = audio.len();
        let mut i = 0;
        while i < n {
            let end = (i + UNITY_CHUNK - self.chunk_pos).min(n);
            let mut a: [&[f32]; MAX_CHANNELS] = [&[], &[]];
            let mut b: [&[f32]; MAX_CHANNELS] = [&[], &[]];
            for c in 0..nch {
                a[c] = &self.pre[c][i..end];
                b[c] = &audio[c][i..end];
            }
            self.unity_in.process(&a[..nch]);
            self.unity_out.process(&b[..nch]);
            for k in i..end {
                let u = self.unity_mix.next();
                let loss = self.unity_loss.next();
                let comp = db_to_gain(loss) / self.gain_delayed[k].max(1e-6);
                let g = 1.0 + (comp - 1.0) * u;
                for ch in audio.iter_mut() {
                    ch[k] *= g;
                }
            }
            self.chunk_pos = (self.chunk_pos + end - i) % UNITY_CHUNK;
            if self.chunk_pos == 0 {
                // Short-term (3 s) once available, momentary (400 ms) before that.
                let diff = match (self.unity_in.short_term(), self.unity_out.short_term()) {
                    (Some(x), Some(y)) => Some(x - y),
                    _ => match (self.unity_in.momentary(), self.unity_out.momentary()) {
                        (Some(x), Some(y)) => Some(x - y),
                        _ => None,
                    },
                };
                // NOTE: only restores loudness the limiter took away (never attenuates below the
                // gain-matched level) and at most 24 dB.
                let loss = diff
                    .filter(|d| d.is_finite())
                    .map_or(0.0, |d| d.clamp(0.0, 24.0) as f32);
                self.unity_loss.set_target(loss);
            }
            i = end;
        }
    }
}
