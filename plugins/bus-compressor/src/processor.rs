//! The plugin's audio path without the plugin framework: settings -> [`Dynamics`], latency-aligned
//! dry/wet mix and sidechain listen. The plugin's `process` and the tests both drive this, so
//! what the tests prove holds for the plugin.

use shared_dsp::delay::DelayLine;
use shared_dsp::dynamics::{DetectorMode, Dynamics, MAX_LOOKAHEAD_MS, MAX_SAMPLE_RATE, StereoMode};
use shared_dsp::filter::ButterworthHighPass;
use shared_dsp::oversampling::Oversampler;
use shared_dsp::smoothing::LinearRamp;
use shared_dsp::util::peak_abs;
use std::ops::Range;

/// Most main (and sidechain) channels: stereo.
pub const MAX_CHANNELS: usize = 2;
/// Settings are read (and smoothed parameters advanced) once per this many samples.
pub const SUB_BLOCK: usize = 64;
/// Largest oversampling factor of the gain stage.
pub const MAX_OVERSAMPLING: usize = 4;
/// Sidechain-listen crossfade time in ms (click-free switching).
pub const LISTEN_FADE_MS: f32 = 10.0;

/// Plain-value settings for one sub-block (what the parameters mean, already mapped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Threshold in dB.
    pub threshold_db: f32,
    /// Ratio, 1 to `f32::INFINITY`.
    pub ratio: f32,
    /// Attack time constant in ms.
    pub attack_ms: f32,
    /// Release time constant in ms.
    pub release_ms: f32,
    /// Programme-dependent release.
    pub auto_release: bool,
    /// Knee width in dB.
    pub knee_db: f32,
    /// Manual makeup in dB.
    pub makeup_db: f32,
    /// Auto makeup on.
    pub auto_makeup: bool,
    /// Dry/wet, 0 (dry) to 1 (wet). The processor ramps linearly from the previous sub-block's
    /// value to this one across the sub-block.
    pub mix: f32,
    /// Maximum gain reduction in dB (`f32::INFINITY` = unlimited).
    pub range_db: f32,
    /// Sidechain high-pass cutoff, or `None` for off.
    pub sc_hpf_hz: Option<f32>,
    /// Detect on the external sidechain (when one is passed to [`Processor::process`]).
    pub external_sidechain: bool,
    /// Peak or RMS detection.
    pub detector: DetectorMode,
    /// Stereo link 0-1.
    pub link: f32,
    /// Mid/side detection and gain (stereo only).
    pub mid_side: bool,
    /// Output the (high-passed) sidechain instead of the compressed signal.
    pub sc_listen: bool,
}

impl Default for Settings {
    /// The plugin's default parameter values.
    fn default() -> Self {
        Self {
            threshold_db: -18.0,
            ratio: 4.0,
            attack_ms: 10.0,
            release_ms: 300.0,
            auto_release: false,
            knee_db: 6.0,
            makeup_db: 0.0,
            auto_makeup: false,
            mix: 1.0,
            range_db: f32::INFINITY,
            sc_hpf_hz: None,
            external_sidechain: false,
            detector: DetectorMode::Rms,
            link: 1.0,
            mid_side: false,
            sc_listen: false,
        }
    }
}

/// What a block did, for the meters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockInfo {
    /// Largest |input| sample of the block (after sanitising, before processing).
    pub input_peak: f32,
    /// Largest gain reduction (dB, >= 0) at the end of any sub-block.
    pub gain_reduction_db: f32,
}

/// The bus compressor's audio path: the shared [`Dynamics`] engine, a latency-aligned dry path
/// for the mix (and the output stage's bypass), and sidechain listen. Allocation-free after
/// [`Processor::new`].
pub struct Processor {
    /// The compressor.
    engine: Dynamics,
    /// Largest block [`Self::process`] accepts.
    max_block: usize,
    /// Sample rate in Hz.
    fs: f32,
    /// Settings last handed to the engine (setters run only on change).
    applied: Option<Settings>,
    /// Channel count of the previous block (mono forces full link).
    applied_channels: usize,
    /// Dry delay line matching the engine's latency (look-ahead and oversampling).
    dry_line: DelayLine,
    /// Latency-aligned dry signal of the last block, `max_block` per channel.
    dry: Vec<Vec<f32>>,
    /// Listen signal scratch, one sub-block per channel.
    listen_buf: [[f32; SUB_BLOCK]; MAX_CHANNELS],
    /// Mix value at the end of the previous sub-block.
    mix_prev: f32,
    /// 0 = compressed output, 1 = sidechain listen; linear crossfade.
    listen: LinearRamp,
    /// Sidechain-listen high-pass per output channel (the engine's detector filter).
    listen_hpf: [ButterworthHighPass; MAX_CHANNELS],
    /// Cutoff the listen filters are set to.
    listen_hpf_hz: Option<f32>,
    /// Up/down sampler of the gain stage: channels 0-1 audio, 2-3 external key.
    os: Oversampler,
    /// Oversampled sub-block per oversampler channel (`SUB_BLOCK * MAX_OVERSAMPLING` each).
    os_buf: Vec<Vec<f32>>,
    /// Oversampling factor asked for (1, 2 or 4).
    os_requested: usize,
    /// Look-ahead asked for, in ms.
    lookahead_ms: f32,
    /// Look-ahead in base-rate samples.
    lookahead: usize,
}

impl Processor {
    /// A processor for up to [`MAX_CHANNELS`] channels and blocks of up to `max_block` samples.
    /// Allocates the dry delay for the longest look-ahead at the engine's highest sample rate.
    ///
    /// # Panics
    /// If `max_block` is 0.
    pub fn new(max_block: usize) -> Self {
        assert!(max_block > 0);
        // Room for the longest look-ahead plus the oversampler's latency.
        let max_delay = (MAX_LOOKAHEAD_MS * 0.001 * MAX_SAMPLE_RATE).ceil() as usize + 512;
        let mut listen = LinearRamp::new(0.0, LISTEN_FADE_MS);
        listen.set_sample_rate(48_000.0);
        let engine = Dynamics::new(MAX_CHANNELS, SUB_BLOCK * MAX_OVERSAMPLING);
        let mut p = Self {
            engine,
            max_block,
            fs: 48_000.0,
            applied: None,
            applied_channels: 0,
            dry_line: DelayLine::new(MAX_CHANNELS, max_delay, SUB_BLOCK),
            dry: vec![vec![0.0; max_block]; MAX_CHANNELS],
            listen_buf: [[0.0; SUB_BLOCK]; MAX_CHANNELS],
            mix_prev: 1.0,
            listen,
            listen_hpf: [ButterworthHighPass::new(); MAX_CHANNELS],
            listen_hpf_hz: None,
            os: Oversampler::new(2 * MAX_CHANNELS, SUB_BLOCK, MAX_OVERSAMPLING),
            os_buf: vec![vec![0.0; SUB_BLOCK * MAX_OVERSAMPLING]; 2 * MAX_CHANNELS],
            os_requested: 1,
            lookahead_ms: 0.0,
            lookahead: 0,
        };
        p.configure();
        p
    }

    /// Applies the block-level settings (oversampling factor, look-ahead) to the oversampler and
    /// the engine. The engine runs at the oversampled rate with a look-ahead of exactly
    /// `factor` times the base-rate look-ahead, so the total latency stays a whole number of
    /// base-rate samples.
    fn configure(&mut self) {
        // NOTE: the engine's look-ahead delay is sized for MAX_SAMPLE_RATE (384 kHz); at 192 kHz
        // 4x becomes 2x, at 384 kHz oversampling is off (the base rate is high enough there).
        let mut factor = self.os_requested;
        while factor > 1 && self.fs * factor as f32 > MAX_SAMPLE_RATE {
            factor /= 2;
        }
        if factor != self.os.factor() {
            self.os.set_factor(factor);
        }
        let fs_top = self.fs * factor as f32;
        self.engine.set_sample_rate(fs_top);
        self.lookahead = (self.lookahead_ms as f64 * 0.001 * self.fs as f64).round() as usize;
        // The same time, i.e. `factor * lookahead` samples at the top rate.
        self.engine
            .set_lookahead_ms(self.lookahead as f32 * 1000.0 / self.fs);
        debug_assert_eq!(self.engine.latency(), self.lookahead * factor);
    }

    /// Largest block [`Self::process`] accepts.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Sets the sample rate (no allocation) and clears the state.
    pub fn set_sample_rate(&mut self, fs: f32) {
        self.fs = fs;
        self.configure();
        self.listen.set_sample_rate(fs);
        self.listen_hpf_hz = None;
        self.reset();
    }

    /// Clears all state (no allocation). The next block starts from its settings without ramps.
    pub fn reset(&mut self) {
        self.engine.reset();
        self.os.reset();
        self.dry_line.reset();
        for f in &mut self.listen_hpf {
            f.reset();
        }
        self.applied = None;
    }

    /// Sets the look-ahead (0 to 5 ms) and returns the resulting latency in samples (0 for 0 ms
    /// without oversampling). A block-level setting: it changes the latency the host compensates.
    pub fn set_lookahead_ms(&mut self, ms: f32) -> usize {
        let ms = ms.clamp(0.0, MAX_LOOKAHEAD_MS);
        if ms != self.lookahead_ms {
            self.lookahead_ms = ms;
            self.configure();
        }
        self.latency()
    }

    /// Sets the oversampling factor of the gain stage (1, 2 or 4; other values are rounded down
    /// to one of these) and returns the resulting latency in samples. At 192 kHz 4x runs as 2x,
    /// at 384 kHz and above oversampling is off. A block-level setting like the look-ahead.
    pub fn set_oversampling(&mut self, factor: usize) -> usize {
        let factor = match factor {
            0 | 1 => 1,
            2 | 3 => 2,
            _ => MAX_OVERSAMPLING,
        };
        if factor != self.os_requested {
            self.os_requested = factor;
            self.configure();
        }
        self.latency()
    }

    /// The oversampling factor in use (after the sample-rate limit).
    pub fn oversampling(&self) -> usize {
        self.os.factor()
    }

    /// Latency in samples: the look-ahead plus, when oversampling, the up/down filters'.
    pub fn latency(&self) -> usize {
        let os = if self.os.factor() > 1 {
            self.os.latency()
        } else {
            0
        };
        (self.lookahead + os).min(self.dry_line.max_delay())
    }

    /// The engine, for the editor's curve or for inspection.
    pub fn engine(&self) -> &Dynamics {
        &self.engine
    }

    /// The latency-aligned dry input of the last block, one slice per channel (each `max_block`
    /// long; the first `n` samples belong to a block of `n`).
    pub fn dry(&self) -> &[Vec<f32>] {
        &self.dry
    }

    fn apply(&mut self, s: &Settings, channels: usize) {
        let prev = self.applied;
        let e = &mut self.engine;
        if prev.is_none_or(|p| p.threshold_db != s.threshold_db) {
            e.set_threshold_db(s.threshold_db);
        }
        if prev.is_none_or(|p| p.ratio != s.ratio) {
            e.set_ratio(s.ratio);
        }
        if prev.is_none_or(|p| p.attack_ms != s.attack_ms) {
            e.set_attack_ms(s.attack_ms);
        }
        if prev.is_none_or(|p| p.release_ms != s.release_ms) {
            e.set_release_ms(s.release_ms);
        }
        if prev.is_none_or(|p| p.auto_release != s.auto_release) {
            e.set_auto_release(s.auto_release);
        }
        if prev.is_none_or(|p| p.knee_db != s.knee_db) {
            e.set_knee_db(s.knee_db);
        }
        if prev.is_none_or(|p| p.makeup_db != s.makeup_db) {
            e.set_makeup_db(s.makeup_db);
        }
        if prev.is_none_or(|p| p.auto_makeup != s.auto_makeup) {
            e.set_auto_makeup(s.auto_makeup);
        }
        if prev.is_none_or(|p| p.range_db != s.range_db) {
            e.set_range_db(s.range_db);
        }
        if prev.is_none_or(|p| p.sc_hpf_hz != s.sc_hpf_hz) {
            e.set_sidechain_hpf_hz(s.sc_hpf_hz);
        }
        if prev.is_none_or(|p| p.detector != s.detector) {
            e.set_detector(s.detector);
            // NOTE: a 2 ms peak window (holds the peak of anything above 1 kHz, and of lower
            // notes within a cycle) and a 10 ms RMS averager: bus-compressor detector speeds.
            e.set_detector_ms(match s.detector {
                DetectorMode::Peak => 2.0,
                DetectorMode::Rms => 10.0,
            });
        }
        // A mono track (or a mono track keyed by a stereo sidechain) is always fully linked.
        let link = if channels < 2 { 1.0 } else { s.link };
        if prev.is_none_or(|p| p.link != s.link) || channels != self.applied_channels {
            e.set_stereo_link_percent(link * 100.0);
        }
        if prev.is_none_or(|p| p.mid_side != s.mid_side) {
            e.set_stereo_mode(if s.mid_side {
                StereoMode::MidSide
            } else {
                StereoMode::LeftRight
            });
        }
        if self.listen_hpf_hz != s.sc_hpf_hz {
            if let Some(hz) = s.sc_hpf_hz {
                for f in &mut self.listen_hpf {
                    f.set(hz, self.fs);
                }
            }
            self.listen_hpf_hz = s.sc_hpf_hz;
        }
        if prev.is_none() {
            self.mix_prev = s.mix.clamp(0.0, 1.0);
            self.listen.reset(if s.sc_listen { 1.0 } else { 0.0 });
        }
        self.listen.set_target(if s.sc_listen { 1.0 } else { 0.0 });
        self.applied = Some(*s);
        self.applied_channels = channels;
    }

    /// Compresses `audio` in place (1 or 2 channels). `settings(n)` is called once per sub-block
    /// of `n <= SUB_BLOCK` samples and returns the settings for it (the plugin advances its
    /// parameter smoothers by `n` there). `sidechain` is the external key (1 or 2 channels); it
    /// is used only while [`Settings::external_sidechain`] is on. Afterwards [`Self::dry`] holds
    /// the input delayed by [`Self::latency`].
    ///
    /// # Panics
    /// If `audio` has 0 or more than [`MAX_CHANNELS`] channels, a block is longer than
    /// [`Self::max_block`], or a channel or the sidechain is shorter than `audio[0]`.
    pub fn process<F: FnMut(usize) -> Settings>(
        &mut self,
        audio: &mut [&mut [f32]],
        sidechain: Option<&[&[f32]]>,
        mut settings: F,
    ) -> BlockInfo {
        let nch = audio.len();
        assert!((1..=MAX_CHANNELS).contains(&nch), "1 or 2 channels");
        let n = audio[0].len();
        assert!(n <= self.max_block, "block longer than max_block");
        assert!(sidechain.is_none_or(|s| (1..=MAX_CHANNELS).contains(&s.len())));
        let mut info = BlockInfo::default();
        for ch in audio.iter() {
            info.input_peak = info.input_peak.max(peak_abs(&ch[..n]));
        }
        let mut start = 0;
        while start < n {
            let end = (start + SUB_BLOCK).min(n);
            let s = settings(end - start);
            self.apply(&s, nch);
            self.sub_block(audio, sidechain, start..end, &s);
            info.gain_reduction_db = info.gain_reduction_db.max(self.engine.gain_reduction_db());
            start = end;
        }
        info
    }

    fn sub_block(
        &mut self,
        audio: &mut [&mut [f32]],
        sidechain: Option<&[&[f32]]>,
        r: Range<usize>,
        s: &Settings,
    ) {
        let nch = audio.len();
        let len = r.len();
        // 1. Dry path: the input delayed by the engine's latency.
        let lat = self.latency();
        self.dry_line.set_delay(lat);
        for (c, ch) in audio.iter().enumerate() {
            self.dry_line
                .run(c, &ch[r.clone()], &mut self.dry[c][r.clone()]);
        }
        self.dry_line.advance(len);

        // 2. Key: the external sidechain when enabled and connected, else the input.
        let key: Option<&[&[f32]]> = if s.external_sidechain {
            sidechain
        } else {
            None
        };
        let mut key_bufs: [&[f32]; MAX_CHANNELS] = [&[], &[]];
        let nkey = match key {
            Some(k) => {
                for (b, ch) in key_bufs.iter_mut().zip(k) {
                    *b = &ch[r.clone()];
                }
                k.len()
            }
            None => 0,
        };

        // 3. Listen signal (before the audio is overwritten), only while it is audible.
        let listening = self.listen.value() > 0.0 || self.listen.is_moving() || s.sc_listen;
        if listening {
            for c in 0..nch {
                let out = &mut self.listen_buf[c][..len];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if nkey == 0 {
                        audio[c][r.start + i]
                    } else if nkey > nch {
                        0.5 * (key_bufs[0][i] + key_bufs[1][i])
                    } else {
                        key_bufs[c.min(nkey - 1)][i]
                    };
                }
                if s.sc_hpf_hz.is_some() {
                    let f = &mut self.listen_hpf[c];
                    for o in out.iter_mut() {
                        *o = f.run(*o);
                    }
                    f.flush();
                }
            }
        }

        // 4. Compress in place, at the oversampled rate when oversampling.
        let factor = self.os.factor();
        if factor == 1 {
            let mut bufs: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
            for (b, ch) in bufs.iter_mut().zip(audio.iter_mut()) {
                *b = &mut ch[r.clone()];
            }
            let key = (nkey > 0).then_some(&key_bufs[..nkey]);
            self.engine.process(&mut bufs[..nch], key);
        } else {
            let top = len * factor;
            for (c, ch) in audio.iter().enumerate() {
                self.os
                    .upsample_into(c, &ch[r.clone()], &mut self.os_buf[c][..top]);
            }
            for (k, key) in key_bufs[..nkey].iter().enumerate() {
                self.os.upsample_into(
                    MAX_CHANNELS + k,
                    key,
                    &mut self.os_buf[MAX_CHANNELS + k][..top],
                );
            }
            let (up_audio, up_key) = self.os_buf.split_at_mut(MAX_CHANNELS);
            let mut bufs: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
            for (b, ch) in bufs.iter_mut().zip(up_audio.iter_mut()) {
                *b = &mut ch[..top];
            }
            let mut keys: [&[f32]; MAX_CHANNELS] = [&[], &[]];
            for (k, ch) in keys.iter_mut().zip(up_key.iter()) {
                *k = &ch[..top];
            }
            let key = (nkey > 0).then_some(&keys[..nkey]);
            self.engine.process(&mut bufs[..nch], key);
            for (c, ch) in audio.iter_mut().enumerate() {
                self.os
                    .downsample_from(c, &self.os_buf[c][..top], &mut ch[r.clone()]);
            }
        }

        // 5. Dry/wet (linear ramp from the previous sub-block's mix). Exactly dry at 0, exactly
        // wet at 1.
        let (m0, m1) = (self.mix_prev, s.mix.clamp(0.0, 1.0));
        self.mix_prev = m1;
        if !(m0 == 1.0 && m1 == 1.0) {
            let step = (m1 - m0) / len as f32;
            for (c, ch) in audio.iter_mut().enumerate() {
                let wet = &mut ch[r.clone()];
                let dry = &self.dry[c][r.clone()];
                if m0 == 0.0 && m1 == 0.0 {
                    wet.copy_from_slice(dry);
                } else {
                    for (i, (w, &d)) in wet.iter_mut().zip(dry).enumerate() {
                        let m = if i + 1 == len {
                            m1
                        } else {
                            m0 + step * (i + 1) as f32
                        };
                        *w = d + (*w - d) * m;
                    }
                }
            }
        }

        // 6. Sidechain listen crossfade.
        if listening {
            for i in 0..len {
                let x = self.listen.next();
                for (ch, l) in audio.iter_mut().zip(&self.listen_buf) {
                    let o = &mut ch[r.start + i];
                    let l = l[i];
                    *o = if x >= 1.0 { l } else { *o + (l - *o) * x };
                }
            }
        }
    }
}
