//! Reading audio files (WAV and FLAC, any common bit depth, mono to 5.1, any sample rate) as a
//! stream of planar `f32` blocks, so files of any length are measured in constant memory.

use std::fmt;
use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// What a decoded file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioInfo {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: usize,
    /// Frames decoded.
    pub frames: u64,
}

/// Why a file could not be read; the message names the problem, the caller names the file.
#[derive(Debug)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

fn describe(e: SymError) -> ReadError {
    ReadError(match e {
        SymError::IoError(e) => format!("read error: {e}"),
        SymError::DecodeError(m) => format!("corrupt audio data: {m}"),
        SymError::SeekError(_) => "seek error".to_owned(),
        SymError::Unsupported(m) => format!("unsupported format: {m}"),
        SymError::LimitError(m) => format!("limit exceeded: {m}"),
        SymError::ResetRequired => "stream changed mid-file (not supported)".to_owned(),
    })
}

/// Receives a decoded stream.
pub trait AudioSink {
    /// Called once, before any block, with the sample rate, channel count and the length in
    /// frames if the container states it. An error stops decoding.
    fn start(
        &mut self,
        sample_rate: u32,
        channels: usize,
        frames: Option<u64>,
    ) -> Result<(), ReadError>;
    /// Called for every decoded block: planar, one slice per channel, all the same length.
    fn block(&mut self, channels: &[&[f32]]);
}

/// Decodes `path` into `sink`. Returns what was read.
pub fn decode(path: &Path, sink: &mut impl AudioSink) -> Result<AudioInfo, ReadError> {
    let file = File::open(path).map_err(|e| ReadError(format!("cannot open: {e}")))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(_) => {
                ReadError("not a WAV or FLAC file (or an unsupported variant)".to_owned())
            }
            e => ReadError(format!("reading the header: {}", describe(e))),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| ReadError("no audio track".to_owned()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let sample_rate = params
        .sample_rate
        .ok_or_else(|| ReadError("the file does not state its sample rate".to_owned()))?;
    let channels = params
        .channels
        .map(|c| c.count())
        .ok_or_else(|| ReadError("the file does not state its channel count".to_owned()))?;
    if channels == 0 || channels > 8 {
        return Err(ReadError(format!("{channels} channels (1 to 8 supported)")));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| ReadError(format!("no decoder: {}", describe(e))))?;
    sink.start(sample_rate, channels, params.n_frames)?;

    let mut frames = 0u64;
    let mut samples: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(ReadError(format!("after {frames} frames: {}", describe(e)))),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| ReadError(format!("decoding after {frames} frames: {}", describe(e))))?;
        let n = decoded.frames();
        if n == 0 {
            continue;
        }
        let spec = *decoded.spec();
        if spec.channels.count() != channels {
            return Err(ReadError("channel count changes mid-file".to_owned()));
        }
        let buf = match &mut samples {
            Some(b) if b.capacity() >= decoded.capacity() => b,
            _ => samples.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_planar_ref(decoded);
        let all = &buf.samples()[..n * channels];
        let mut planes: [&[f32]; 8] = [&[]; 8];
        for (c, plane) in planes.iter_mut().enumerate().take(channels) {
            *plane = &all[c * n..(c + 1) * n];
        }
        sink.block(&planes[..channels]);
        frames += n as u64;
    }
    Ok(AudioInfo {
        sample_rate,
        channels,
        frames,
    })
}
