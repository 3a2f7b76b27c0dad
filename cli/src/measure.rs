//! `postmix measure`: EBU R 128 / BS.1770 measurement of audio files.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter, LoudnessSummary};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::audio::{self, AudioSink, ReadError};

/// One file's measurement, in the form `--json` prints (keys are part of the CLI's contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The path as given on the command line.
    pub file: String,
    /// Integrated loudness (LUFS); `null` when undefined (silence, shorter than 400 ms).
    pub integrated_lufs: Option<f64>,
    /// Loudness range (LU); `null` when undefined.
    pub loudness_range_lu: Option<f64>,
    /// Maximum true peak over all channels (dBTP); `null` for digital silence.
    pub true_peak_dbtp: Option<f64>,
    /// Maximum sample peak over all channels (dBFS); `null` for digital silence.
    pub sample_peak_dbfs: Option<f64>,
    /// Maximum momentary loudness (LUFS).
    pub max_momentary_lufs: Option<f64>,
    /// Maximum short-term loudness (LUFS).
    pub max_short_term_lufs: Option<f64>,
    /// Length in seconds.
    pub duration_s: f64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
}

/// The BS.1770 layout for a channel count (WAV/FLAC channel order: L R C LFE Ls Rs).
pub fn layout_for(channels: usize) -> Result<ChannelLayout, ReadError> {
    match channels {
        1 => Ok(ChannelLayout::Mono),
        2 => Ok(ChannelLayout::Stereo),
        5 => Ok(ChannelLayout::Surround50),
        6 => Ok(ChannelLayout::Surround51),
        n => Err(ReadError(format!(
            "{n} channels: supported layouts are mono, stereo, 5.0 and 5.1"
        ))),
    }
}

/// Rounds to 0.01 for output: more digits than any meter shows, fewer than noise.
fn round2(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 100.0).round() / 100.0)
}

/// Streams decoded audio into a loudness meter, reporting progress.
struct MeterSink<'a> {
    /// Created once the stream's format is known.
    meter: Option<LoudnessMeter>,
    /// Frames the container announced, if it did.
    expected: Option<u64>,
    /// Frames measured so far.
    done: u64,
    /// Receives the fraction done.
    progress: &'a dyn Fn(f64),
}

impl AudioSink for MeterSink<'_> {
    fn start(&mut self, fs: u32, channels: usize, frames: Option<u64>) -> Result<(), ReadError> {
        self.expected = frames.filter(|&f| f > 0);
        self.meter = Some(LoudnessMeter::new(
            channels,
            layout_for(channels)?,
            fs as f64,
        ));
        Ok(())
    }

    fn block(&mut self, channels: &[&[f32]]) {
        if let Some(m) = self.meter.as_mut() {
            m.process(channels);
            self.done += channels[0].len() as u64;
            if let Some(total) = self.expected {
                (self.progress)(self.done as f64 / total as f64);
            }
        }
    }
}

/// Measures one file, streaming it through the meter. `progress` receives the fraction done.
pub fn measure_file(path: &Path, progress: &dyn Fn(f64)) -> Result<Measurement, ReadError> {
    let mut sink = MeterSink {
        meter: None,
        expected: None,
        done: 0,
        progress,
    };
    let info = audio::decode(path, &mut sink)?;
    let mut meter = sink
        .meter
        .ok_or_else(|| ReadError("no audio decoded".to_owned()))?;
    meter.flush_true_peak();
    let LoudnessSummary {
        integrated,
        loudness_range,
        true_peak_dbtp,
        sample_peak_dbfs,
        max_momentary,
        max_short_term,
    } = meter.summary();
    Ok(Measurement {
        file: path.display().to_string(),
        integrated_lufs: round2(integrated),
        loudness_range_lu: round2(loudness_range),
        true_peak_dbtp: round2(true_peak_dbtp),
        sample_peak_dbfs: round2(sample_peak_dbfs),
        max_momentary_lufs: round2(max_momentary),
        max_short_term_lufs: round2(max_short_term),
        duration_s: info.frames as f64 / info.sample_rate as f64,
        sample_rate: info.sample_rate,
        channels: info.channels,
    })
}

/// Formats a reading with one decimal and its unit, or "n/a" where undefined.
fn show(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(x) => format!("{x:>7.1} {unit}"),
        None => format!("{:>7} {unit}", "n/a"),
    }
}

/// The human-readable table for one file.
pub fn table(m: &Measurement) -> String {
    let minutes = (m.duration_s / 60.0).floor();
    let seconds = m.duration_s - minutes * 60.0;
    format!(
        "{}\n  {} Hz, {} ch, {}:{:04.1}\n  Integrated      {}\n  Loudness range  {}\n  True peak       {}\n  Sample peak     {}\n  Max momentary   {}\n  Max short-term  {}\n",
        m.file,
        m.sample_rate,
        m.channels,
        minutes,
        seconds,
        show(m.integrated_lufs, "LUFS"),
        show(m.loudness_range_lu, "LU"),
        show(m.true_peak_dbtp, "dBTP"),
        show(m.sample_peak_dbfs, "dBFS"),
        show(m.max_momentary_lufs, "LUFS"),
        show(m.max_short_term_lufs, "LUFS"),
    )
}

/// Measures every file, several at once; prints results in the order given. Returns true when
/// every file was measured. Errors go to stderr naming the file; the other files still run.
pub fn run(files: &[PathBuf], json: bool, jobs: usize) -> bool {
    let show_progress = std::io::stderr().is_terminal();
    let bars = MultiProgress::with_draw_target(if show_progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style =
        ProgressStyle::with_template("{bar:30} {percent:>3}% {wide_msg}").expect("static template");
    let results: Vec<Mutex<Option<Result<Measurement, ReadError>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = jobs.clamp(1, files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let bar = bars.add(ProgressBar::new(1000).with_style(style.clone()));
                    bar.set_message(path.display().to_string());
                    let result = measure_file(path, &|f| bar.set_position((f * 1000.0) as u64));
                    bar.finish_and_clear();
                    *results[i].lock().expect("no panics while holding") = Some(result);
                }
            });
        }
    });
    let mut all_ok = true;
    for (path, slot) in files.iter().zip(results) {
        match slot.into_inner().expect("no panics while holding") {
            Some(Ok(m)) if json => {
                println!(
                    "{}",
                    serde_json::to_string(&m).expect("plain data serialises")
                )
            }
            Some(Ok(m)) => println!("{}", table(&m)),
            Some(Err(e)) => {
                eprintln!("postmix: {}: {e}", path.display());
                all_ok = false;
            }
            None => unreachable!("every index is taken by a worker"),
        }
    }
    all_ok
}
