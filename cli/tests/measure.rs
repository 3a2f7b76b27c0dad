//! `postmix measure` end to end: real files written with hound / flacenc, the real binary run.

use flacenc::component::BitRepr;
use flacenc::error::Verify;
use serde_json::Value;
use shared_dsp::signal::{dbfs, programme, sine};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh scratch folder per test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("postmix-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes planar channels as WAV: `bits` 16 or 24 (integer) or 32 (float).
fn write_wav(path: &Path, channels: &[Vec<f32>], fs: u32, bits: u16) {
    let float = bits == 32;
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: fs,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let full = ((1i64 << (bits - 1)) - 1) as f32;
    for i in 0..channels[0].len() {
        for c in channels {
            if float {
                w.write_sample(c[i]).unwrap();
            } else {
                w.write_sample((c[i] * full).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

/// Writes planar channels as 24-bit FLAC.
fn write_flac(path: &Path, channels: &[Vec<f32>], fs: usize) {
    let full = ((1i32 << 23) - 1) as f32;
    let mut interleaved = Vec::with_capacity(channels.len() * channels[0].len());
    for i in 0..channels[0].len() {
        for c in channels {
            interleaved.push((c[i] * full).round() as i32);
        }
    }
    let config = flacenc::config::Encoder::default().into_verified().unwrap();
    let source = flacenc::source::MemSource::from_samples(&interleaved, channels.len(), 24, fs);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size).unwrap();
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).unwrap();
    std::fs::write(path, sink.as_slice()).unwrap();
}

fn postmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postmix"))
        .args(args)
        .output()
        .unwrap()
}

/// Parses the `--json` lines.
fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect()
}

/// Integrated loudness by the `ebur128` crate: the independent oracle.
fn ebur128_integrated(channels: &[Vec<f32>], fs: u32) -> f64 {
    let mut m = ebur128::EbuR128::new(channels.len() as u32, fs, ebur128::Mode::I).unwrap();
    if channels.len() == 6 {
        m.set_channel(3, ebur128::Channel::Unused).unwrap();
        m.set_channel(4, ebur128::Channel::LeftSurround).unwrap();
        m.set_channel(5, ebur128::Channel::RightSurround).unwrap();
    }
    let planes: Vec<&[f32]> = channels.iter().map(|c| c.as_slice()).collect();
    m.add_frames_planar_f32(&planes).unwrap();
    m.loudness_global().unwrap()
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let dir = scratch("keys");
    let f = dir.join("tone.wav");
    let s = sine(1000.0, dbfs(-23.0), 0.0, 48_000.0, 48_000 * 5);
    write_wav(&f, &[s.clone(), s], 48_000, 24);
    let out = postmix(&["measure", "--json", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let mut keys: Vec<&str> = lines[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    let mut want = vec![
        "file",
        "integrated_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "max_momentary_lufs",
        "max_short_term_lufs",
        "duration_s",
        "sample_rate",
        "channels",
    ];
    want.sort();
    assert_eq!(keys, want);
    // EBU Tech 3341 case 1 level: a stereo 1 kHz sine at -23 dBFS reads -23.0 LUFS.
    let i = lines[0]["integrated_lufs"].as_f64().unwrap();
    assert!((i + 23.0).abs() <= 0.1, "I = {i}");
    assert_eq!(lines[0]["sample_rate"], 48_000);
    assert_eq!(lines[0]["channels"], 2);
    assert!((lines[0]["duration_s"].as_f64().unwrap() - 5.0).abs() < 1e-9);
}

#[test]
fn agrees_with_ebur128_on_programme_in_every_format() {
    let dir = scratch("formats");
    for (fs, bits) in [(44_100u32, 16u16), (48_000, 24), (96_000, 32)] {
        let [l, r] = programme(fs as f64, 20.0, 3);
        let chans = vec![l, r];
        let f = dir.join(format!("prog-{fs}-{bits}.wav"));
        write_wav(&f, &chans, fs, bits);
        let out = postmix(&["measure", "--json", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = json_lines(&out)[0]["integrated_lufs"].as_f64().unwrap();
        let reference = ebur128_integrated(&chans, fs);
        assert!(
            (ours - reference).abs() <= 0.1,
            "{fs} Hz {bits} bit: {ours} vs {reference}"
        );
    }
}

#[test]
fn flac_and_surround_are_measured() {
    let dir = scratch("flac");
    let fs = 48_000;
    // NOTE: a whole number of flacenc's 4096-frame blocks: flacenc 0.5 writes a STREAMINFO
    // minimum block size that symphonia rejects when the last block is short.
    let [mut l, mut r] = programme(fs as f64, 10.0, 5);
    l.truncate(4096 * 117);
    r.truncate(4096 * 117);
    let c: Vec<f32> = l.iter().zip(&r).map(|(a, b)| 0.5 * (a + b)).collect();
    let lfe = sine(60.0, 0.5, 0.0, fs as f64, l.len());
    let surround = vec![l.clone(), r.clone(), c, lfe, r.clone(), l.clone()];
    let flac = dir.join("surround.flac");
    write_flac(&flac, &surround, fs as usize);
    let out = postmix(&["measure", "--json", flac.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &json_lines(&out)[0];
    assert_eq!(m["channels"], 6);
    let ours = m["integrated_lufs"].as_f64().unwrap();
    let reference = ebur128_integrated(&surround, fs);
    assert!(
        (ours - reference).abs() <= 0.1,
        "5.1 FLAC: {ours} vs {reference}"
    );
}

#[test]
fn silence_and_too_short_input_give_null_not_inf() {
    let dir = scratch("silence");
    let silent = dir.join("silent.wav");
    write_wav(
        &silent,
        &[vec![0.0; 48_000 * 2], vec![0.0; 48_000 * 2]],
        48_000,
        16,
    );
    let short = dir.join("short.wav");
    let s = sine(1000.0, 0.5, 0.0, 48_000.0, 48_000 / 10);
    write_wav(&short, &[s], 48_000, 16);
    let out = postmix(&[
        "measure",
        "--json",
        silent.to_str().unwrap(),
        short.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    for key in [
        "integrated_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
        "max_momentary_lufs",
    ] {
        assert!(
            lines[0][key].is_null(),
            "silence: {key} = {}",
            lines[0][key]
        );
    }
    assert!(
        lines[1]["integrated_lufs"].is_null(),
        "100 ms has no 400 ms block"
    );
    assert!(
        lines[1]["sample_peak_dbfs"].as_f64().is_some(),
        "but it has a peak"
    );
}

#[test]
fn a_bad_file_is_named_and_the_others_are_still_measured() {
    let dir = scratch("bad");
    let good = dir.join("good.wav");
    let s = sine(1000.0, 0.5, 0.0, 48_000.0, 48_000);
    write_wav(&good, &[s], 48_000, 16);
    let garbage = dir.join("garbage.wav");
    std::fs::write(&garbage, b"RIFF this is not audio at all").unwrap();
    let missing = dir.join("missing.flac");
    let out = postmix(&[
        "measure",
        "--json",
        garbage.to_str().unwrap(),
        good.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "a failed file must fail the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("garbage.wav"), "{stderr}");
    assert!(stderr.contains("missing.flac"), "{stderr}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "the good file is still measured");
    assert!(lines[0]["file"].as_str().unwrap().ends_with("good.wav"));
}

#[test]
fn table_output_shows_units_with_one_decimal() {
    let dir = scratch("table");
    let f = dir.join("tone.wav");
    let s = sine(1000.0, dbfs(-20.0), 0.0, 48_000.0, 48_000 * 3);
    write_wav(&f, &[s.clone(), s], 48_000, 24);
    let out = postmix(&["measure", f.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-20.0 LUFS"), "{text}");
    assert!(text.contains("dBTP") && text.contains("LU\n"), "{text}");
}
