//! LoudnessMeter behaviour: real-time safety (no allocation), block-size invariance, reset,
//! start/pause, undefined readouts, non-finite input, `measure_buffer`.

use shared_dsp::loudness::{ChannelLayout, LoudnessMeter, measure_buffer};
use shared_dsp::signal::{programme, sine};

use shared_dsp::testing::{Counting, allocations_in};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn run(m: &mut LoudnessMeter, l: &[f32], r: &[f32], block: usize) {
    for (a, b) in l.chunks(block).zip(r.chunks(block)) {
        m.process(&[a, b]);
    }
}

#[test]
fn process_reset_and_set_sample_rate_never_allocate() {
    let fs = 48_000.0;
    let [l, r] = programme(fs, 8.0, 1);
    let mut m = LoudnessMeter::new(6, ChannelLayout::Stereo, fs);
    let n = allocations_in(|| {
        for block in [1, 64, 1000, 8192] {
            run(&mut m, &l[..48_000], &r[..48_000], block);
        }
        run(&mut m, &l, &r, 512);
        let _ = (
            m.integrated(),
            m.loudness_range(),
            m.momentary(),
            m.true_peak_max(),
        );
        m.reset_measurement();
        m.set_sample_rate(96_000.0);
        m.set_layout(ChannelLayout::Surround51);
        m.set_layout(ChannelLayout::Stereo);
        m.reset();
        run(&mut m, &l, &r, 333);
        m.flush_true_peak();
    });
    assert_eq!(n, 0, "allocations in the audio path");
}

#[test]
fn readouts_are_block_size_invariant() {
    let fs = 48_000.0;
    let [l, r] = programme(fs, 12.0, 4);
    let summary = |block: usize| {
        let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
        run(&mut m, &l, &r, block);
        [
            m.integrated().unwrap(),
            m.loudness_range().unwrap(),
            m.momentary().unwrap(),
            m.short_term().unwrap(),
            m.max_momentary().unwrap(),
            m.max_short_term().unwrap(),
            m.true_peak_max().unwrap(),
            m.sample_peak_max().unwrap(),
        ]
    };
    let want = summary(4096);
    for block in [1, 17, 64, 240, 1000] {
        let got = summary(block);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "block {block}: {got:?} vs {want:?}");
        }
    }
}

#[test]
fn readouts_are_none_for_silence_and_too_short_input() {
    let fs = 48_000.0;
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    assert_eq!(m.summary(), Default::default());
    let z = vec![0.0f32; 5 * 48_000];
    run(&mut m, &z, &z, 1024);
    assert_eq!(m.momentary(), None);
    assert_eq!(m.short_term(), None);
    assert_eq!(m.summary(), Default::default());
    // 300 ms of tone: no full momentary window, no gating block yet.
    let x = sine(1000.0, 0.5, 0.0, fs, 14_400);
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    run(&mut m, &x, &x, 1000);
    assert_eq!(m.momentary(), None);
    assert_eq!(m.integrated(), None);
    assert_eq!(m.max_momentary(), None);
    assert!(m.sample_peak_max().is_some());
}

#[test]
fn reset_measurement_clears_integrated_lra_maxima_and_peaks_together() {
    let fs = 48_000.0;
    let loud = sine(1000.0, 0.9, 0.0, fs, 5 * 48_000);
    let quiet = sine(1000.0, 0.05, 0.0, fs, 5 * 48_000);
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    run(&mut m, &loud, &loud, 1000);
    assert!(m.integrated().is_some() && m.true_peak_max().is_some());
    // Half a second of silence so the true-peak interpolator (which lags `latency()` samples and
    // rings around steps, as the band-limited waveform does) has left the loud part behind.
    let z = vec![0.0f32; 24_000];
    run(&mut m, &z, &z, 1000);
    m.reset_measurement();
    let s = m.summary();
    assert_eq!(s, Default::default(), "everything cleared together");
    // The short-term window (still holding the loud part) stays live across the measurement reset.
    assert!(m.short_term().is_some());
    run(&mut m, &quiet, &quiet, 1000);
    // Only the quiet part counts now: 0.05 peak = -26.0 dBFS -> -26.0 LUFS stereo.
    assert!((m.integrated().unwrap() + 26.02).abs() < 0.1);
    assert!(
        (m.max_momentary().unwrap() + 26.02).abs() < 0.1,
        "{:?}",
        m.max_momentary()
    );
    assert!((m.true_peak_max().unwrap() + 26.02).abs() < 0.1);
    // Full reset clears the windows too.
    assert!(m.momentary().is_some());
    m.reset();
    assert_eq!(m.momentary(), None);
}

#[test]
fn pause_freezes_integration_maxima_and_holds_but_not_momentary() {
    let fs = 48_000.0;
    let quiet = sine(1000.0, 0.05, 0.0, fs, 5 * 48_000);
    let loud = sine(1000.0, 0.9, 0.0, fs, 5 * 48_000);
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    run(&mut m, &quiet, &quiet, 1000);
    let before = m.summary();
    m.set_running(false);
    assert!(!m.is_running());
    run(&mut m, &loud, &loud, 1000);
    assert_eq!(m.summary(), before, "paused: nothing accumulates");
    assert!((m.momentary().unwrap() + 0.92).abs() < 0.1, "M stays live");
    m.set_running(true);
    run(&mut m, &quiet, &quiet, 1000);
    // Continue: integration resumes, still only quiet audio counted.
    assert!((m.integrated().unwrap() + 26.02).abs() < 0.1);
    assert!(m.max_momentary().unwrap() < -25.0);
}

#[test]
fn lra_is_flagged_stable_after_60_s() {
    let fs = 48_000.0;
    let x = sine(1000.0, 0.1, 0.0, fs, 48_000);
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    for _ in 0..59 {
        run(&mut m, &x, &x, 4800);
    }
    assert!(!m.loudness_range_stable());
    run(&mut m, &x, &x, 4800);
    assert!(m.loudness_range_stable());
}

#[test]
fn non_finite_input_gives_finite_readouts() {
    let fs = 48_000.0;
    let mut x = sine(1000.0, 0.5, 0.0, fs, 48_000);
    for i in (0..x.len()).step_by(997) {
        x[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    run(&mut m, &x, &x, 512);
    let s = m.summary();
    for v in [
        s.integrated,
        s.max_momentary,
        s.true_peak_dbtp,
        s.sample_peak_dbfs,
    ] {
        let v = v.unwrap();
        assert!(v.is_finite() && v < 0.0, "{s:?}");
    }
}

#[test]
fn measure_buffer_matches_meter_and_includes_true_peak_tail() {
    let fs = 44_100.0;
    let [l, r] = programme(fs, 10.0, 8);
    let s = measure_buffer(&[&l, &r], fs, ChannelLayout::Stereo);
    let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    run(&mut m, &l, &r, 777);
    m.flush_true_peak();
    assert_eq!(s.integrated, m.integrated());
    assert_eq!(s.true_peak_dbtp, m.true_peak_max());
    assert!(s.true_peak_dbtp.unwrap() >= s.sample_peak_dbfs.unwrap() - 1e-3);
    // A final-sample impulse is only seen thanks to the flush.
    let mut x = vec![0.0f32; 44_100];
    x[44_099] = 0.7;
    let s = measure_buffer(&[&x], fs, ChannelLayout::Mono);
    assert!(
        (s.true_peak_dbtp.unwrap() - 20.0 * 0.7f64.log10()).abs() < 0.05,
        "{s:?}"
    );
}

/// Sample-rate sweep, including rates whose 100 ms hop has no 5 ms divisor (11025 Hz: hop 1103
/// is prime, so the hop is rounded): a stereo 1 kHz sine at -23 dBFS reads -23 LUFS (BS.1770
/// check value, +/-0.05) for M, S and I, and an fs/4 sine at 45 degrees reads its true peak
/// within 0.15 dB of the 32x reference.
#[test]
fn sample_rate_sweep_reads_tone_level_and_true_peak() {
    use shared_dsp::signal::{dbfs, fade, true_peak_reference};
    for fs in [
        11_025.0, 22_050.0, 32_000.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0, 176_400.0, 192_000.0,
    ] {
        let x = sine(1000.0, dbfs(-23.0), 0.0, fs, (5.0 * fs) as usize);
        let mut m = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
        run(&mut m, &x, &x, 1000);
        for (what, v) in [
            ("M", m.momentary()),
            ("S", m.short_term()),
            ("I", m.integrated()),
        ] {
            let v = v.unwrap();
            assert!((v + 23.0).abs() < 0.05, "fs {fs}: {what} {v}");
        }
        let mut y = sine(
            fs / 4.0,
            0.5,
            std::f64::consts::FRAC_PI_4,
            fs,
            (0.5 * fs) as usize,
        );
        fade(&mut y, (0.01 * fs) as usize);
        let mut m = LoudnessMeter::new(1, ChannelLayout::Mono, fs);
        for c in y.chunks(1000) {
            m.process(&[c]);
        }
        m.flush_true_peak();
        let reference = 20.0 * true_peak_reference(&y, 32).log10();
        let tp = m.true_peak_max().unwrap();
        assert!(
            (tp - reference).abs() < 0.15,
            "fs {fs}: TP {tp} vs {reference}"
        );
    }
}
