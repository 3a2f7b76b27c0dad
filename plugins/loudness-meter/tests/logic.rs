//! Pure-logic tests of the plugin crate: history ring, run control and transport link, presets,
//! scales, readout formatting, playback normalisation, and the metering glue (block-size
//! invariance of what reaches the editor). The loudness DSP itself is tested in shared-dsp.

use nice_plug::prelude::Params;
use postmix_loudness_meter::metering::{Metering, history_hop, layout_for_channels};
use postmix_loudness_meter::readings::{HistoryRing, Readings, command};
use postmix_loudness_meter::transport::{BlockActions, RunControl};
use postmix_loudness_meter::{
    HISTORY_MAX_POINTS, HistoryLength, LoudnessMeterParams, MeterScale, PlaybackGain, ReadoutUnit,
    TargetPreset, format_loudness, one_decimal, playback_gain, playback_gain_note,
    playback_gain_text,
};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use std::sync::atomic::Ordering;

// ---------------------------------------------------------------- history ring

#[test]
fn history_ring_empty_read_is_all_nan() {
    let ring = HistoryRing::new();
    let mut out = vec![[0.0f32; 2]; 300];
    assert_eq!(ring.read_latest(&mut out), 0);
    assert!(out.iter().all(|p| p[0].is_nan() && p[1].is_nan()));
}

#[test]
fn history_ring_returns_newest_points_oldest_first_padded_with_nan() {
    let ring = HistoryRing::new();
    for k in 0..10 {
        ring.push(Some(-(k as f64)), Some(-100.0 - k as f64));
    }
    let mut out = vec![[0.0f32; 2]; 16];
    assert_eq!(ring.read_latest(&mut out), 10);
    assert!(out[..6].iter().all(|p| p[0].is_nan() && p[1].is_nan()));
    for k in 0..10 {
        assert_eq!(out[6 + k], [-(k as f32), -100.0 - k as f32]);
    }
    // A read shorter than what was written gets the newest points.
    let mut short = vec![[0.0f32; 2]; 3];
    ring.read_latest(&mut short);
    assert_eq!(short, vec![[-7.0, -107.0], [-8.0, -108.0], [-9.0, -109.0]]);
}

#[test]
fn history_ring_keeps_order_across_the_wrap() {
    let ring = HistoryRing::new();
    let total = 2 * HistoryRing::CAPACITY + 123;
    for k in 0..total {
        ring.push(Some(k as f64), Some(0.5 * k as f64));
    }
    let mut out = vec![[0.0f32; 2]; HISTORY_MAX_POINTS];
    assert_eq!(ring.read_latest(&mut out), total as u64);
    for (i, p) in out.iter().enumerate() {
        let k = (total - HISTORY_MAX_POINTS + i) as f32;
        assert_eq!(*p, [k, 0.5 * k], "point {i}");
    }
}

#[test]
fn history_ring_stores_undefined_as_nan_per_curve() {
    let ring = HistoryRing::new();
    ring.push(None, Some(-20.0));
    ring.push(Some(-30.0), None);
    let mut out = vec![[0.0f32; 2]; 2];
    ring.read_latest(&mut out);
    assert!(out[0][0].is_nan() && out[0][1] == -20.0);
    assert!(out[1][0] == -30.0 && out[1][1].is_nan());
}

#[test]
fn history_ring_holds_ten_minutes_at_10_hz() {
    assert_eq!(HISTORY_MAX_POINTS, 6000);
    const { assert!(HistoryRing::CAPACITY > HISTORY_MAX_POINTS) };
    assert_eq!(HistoryLength::M10.points(), HISTORY_MAX_POINTS);
}

#[test]
fn history_ring_reader_sees_consistent_points_while_the_writer_runs() {
    // One writer thread pushes (k, -k); the reader must only ever see pairs that belong
    // together, in increasing order.
    let ring = std::sync::Arc::new(HistoryRing::new());
    let w = ring.clone();
    let writer = std::thread::spawn(move || {
        for k in 0..200_000u32 {
            w.push(Some(k as f64), Some(-(k as f64)));
        }
    });
    let mut out = vec![[0.0f32; 2]; 600];
    while !writer.is_finished() {
        ring.read_latest(&mut out);
        let mut last = -1.0f32;
        for p in out.iter().filter(|p| !p[0].is_nan()) {
            assert_eq!(p[1], -p[0], "torn pair");
            assert!(p[0] > last, "out of order");
            last = p[0];
        }
    }
    writer.join().unwrap();
}

// ---------------------------------------------------------------- run control / transport

const NONE: u8 = 0;

#[test]
fn meter_runs_by_default_and_buttons_start_pause_and_reset() {
    let mut rc = RunControl::new();
    assert!(rc.running());
    let a = rc.step(command::PAUSE, false, false);
    assert_eq!(
        a,
        BlockActions {
            reset: false,
            running: false
        }
    );
    assert!(!rc.step(NONE, false, false).running);
    let a = rc.step(command::RESET, false, false);
    assert!(a.reset && !a.running, "reset does not start a paused meter");
    let a = rc.step(command::START, false, false);
    assert!(!a.reset && a.running);
}

#[test]
fn transport_start_resets_and_runs_and_stop_pauses_when_linked() {
    let mut rc = RunControl::new();
    rc.step(command::PAUSE, true, false);
    let a = rc.step(NONE, true, true);
    assert!(a.reset && a.running, "transport start: reset and run");
    let a = rc.step(NONE, true, true);
    assert!(!a.reset && a.running, "still playing: no second reset");
    let a = rc.step(NONE, true, false);
    assert!(!a.reset && !a.running, "transport stop: pause");
    let a = rc.step(NONE, true, false);
    assert!(!a.reset && !a.running);
    let a = rc.step(NONE, true, true);
    assert!(a.reset && a.running, "next start resets again");
}

#[test]
fn transport_changes_do_nothing_when_not_linked() {
    let mut rc = RunControl::new();
    for playing in [true, false, true, false] {
        let a = rc.step(NONE, false, playing);
        assert!(!a.reset && a.running);
    }
}

#[test]
fn linking_mid_playback_does_not_reset_and_buttons_still_work() {
    let mut rc = RunControl::new();
    rc.step(NONE, false, true);
    let a = rc.step(NONE, true, true);
    assert!(
        !a.reset && a.running,
        "enabling the link while playing is not a start"
    );
    let a = rc.step(command::PAUSE, true, true);
    assert!(!a.running, "pause button works while linked and playing");
    assert!(
        !rc.step(NONE, true, true).running,
        "stays paused until the next edge"
    );
}

#[test]
fn click_in_the_same_block_as_a_transport_change_wins() {
    let mut rc = RunControl::new();
    let a = rc.step(command::PAUSE, true, true);
    assert!(a.reset && !a.running);
}

#[test]
fn activation_with_transport_already_playing_counts_as_a_start() {
    let mut rc = RunControl::new();
    rc.step(NONE, true, true);
    rc.activate();
    let a = rc.step(NONE, true, true);
    assert!(a.reset && a.running, "offline bounce starts with a reset");
}

#[test]
fn latest_start_or_pause_click_wins_when_both_are_pending() {
    let r = Readings::default();
    r.send(command::START);
    r.send(command::PAUSE);
    assert_eq!(r.take_commands(), command::PAUSE);
    r.send(command::PAUSE);
    r.send(command::RESET);
    r.send(command::START);
    assert_eq!(r.take_commands(), command::START | command::RESET);
    assert_eq!(r.take_commands(), 0);
}

// ---------------------------------------------------------------- presets, scales, params

#[test]
fn presets_have_the_published_targets_and_true_peak_limits() {
    // EBU R 128 v4.0; ATSC A/85:2013 (-24 LKFS, -2 dBTP); streaming -14; Apple Music and
    // podcasts -16; -1 dBTP elsewhere (shared/reference/loudness.md).
    let expect = [
        (TargetPreset::EbuR128, -23.0, -1.0, false),
        (TargetPreset::AtscA85, -24.0, -2.0, false),
        (TargetPreset::Streaming, -14.0, -1.0, true),
        (TargetPreset::AppleMusic, -16.0, -1.0, true),
        (TargetPreset::Podcast, -16.0, -1.0, true),
        (TargetPreset::Custom, -18.5, -1.0, false),
    ];
    assert_eq!(TargetPreset::ALL.len(), expect.len());
    for (p, lufs, tp, streaming) in expect {
        assert_eq!(p.target_lufs(-18.5), lufs, "{p:?}");
        assert_eq!(p.max_true_peak_dbtp(), tp, "{p:?}");
        assert_eq!(p.is_streaming(), streaming, "{p:?}");
    }
}

#[test]
fn scales_are_ebu_plus_9_and_plus_18() {
    assert_eq!(MeterScale::Ebu9.range_lu(), (-18.0, 9.0));
    assert_eq!(MeterScale::Ebu18.range_lu(), (-36.0, 18.0));
}

#[test]
fn history_lengths_are_30_s_to_10_min_at_10_points_per_second() {
    let pts: Vec<usize> = HistoryLength::ALL.iter().map(|h| h.points()).collect();
    assert_eq!(pts, vec![300, 600, 1800, 6000]);
}

#[test]
fn parameter_ids_are_the_permanent_ones() {
    let params = LoudnessMeterParams::default();
    let mut ids: Vec<String> = params
        .param_map()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "bypass",
            "custom_lufs",
            "history",
            "out_gain",
            "scale",
            "target",
            "transport",
            "unit"
        ]
    );
    // Defaults: EBU R 128, EBU +9, LUFS, 1 min, not linked.
    assert_eq!(params.target.value(), TargetPreset::EbuR128);
    assert_eq!(params.scale.value(), MeterScale::Ebu9);
    assert_eq!(params.unit.value(), ReadoutUnit::Lufs);
    assert_eq!(params.history.value(), HistoryLength::M1);
    assert!(!params.transport_link.value());
    assert_eq!(params.target_lufs(), -23.0);
}

// ---------------------------------------------------------------- formatting

#[test]
fn readouts_have_one_decimal_a_unit_and_a_dash_when_undefined() {
    assert_eq!(
        format_loudness(Some(-23.04), ReadoutUnit::Lufs, -23.0),
        ("-23.0".into(), "LUFS")
    );
    assert_eq!(
        format_loudness(Some(-20.96), ReadoutUnit::Lu, -23.0),
        ("+2.0".into(), "LU")
    );
    assert_eq!(
        format_loudness(Some(-26.25), ReadoutUnit::Lu, -23.0),
        ("-3.3".into(), "LU")
    );
    assert_eq!(
        format_loudness(None, ReadoutUnit::Lu, -23.0),
        ("\u{2014}".into(), "LU")
    );
    // Never "-0.0" or "+0.0".
    assert_eq!(
        format_loudness(Some(-23.02), ReadoutUnit::Lu, -23.0).0,
        "0.0"
    );
    assert_eq!(one_decimal(-0.04, false), "0.0");
}

// ---------------------------------------------------------------- normalisation

#[test]
fn louder_than_target_is_turned_down_by_the_difference() {
    let g = playback_gain(-14.0, Some(-10.8), Some(-0.2), -1.0).unwrap();
    assert!((g.gain_db + 3.2).abs() < 1e-12);
    assert!(!g.peak_limited);
    assert_eq!(playback_gain_text(Some(g)), "-3.2 dB on playback");
}

#[test]
fn quieter_than_target_is_turned_up_only_as_far_as_the_true_peak_allows() {
    // Enough headroom: the full 4 dB.
    let g = playback_gain(-14.0, Some(-18.0), Some(-6.0), -1.0).unwrap();
    assert_eq!(
        g,
        PlaybackGain {
            gain_db: 4.0,
            to_target_db: 4.0,
            peak_limited: false
        }
    );
    assert_eq!(playback_gain_text(Some(g)), "+4.0 dB on playback");
    assert_eq!(playback_gain_note(Some(g)), None);
    // True peak at -2.5 dBTP: only 1.5 dB up to -1 dBTP.
    let g = playback_gain(-14.0, Some(-18.0), Some(-2.5), -1.0).unwrap();
    assert!((g.gain_db - 1.5).abs() < 1e-12 && g.peak_limited);
    assert_eq!(playback_gain_text(Some(g)), "+1.5 dB on playback");
    assert_eq!(
        playback_gain_note(Some(g)).as_deref(),
        Some("peak-limited: +4.0 dB would reach the target")
    );
    // Already over the limit: no boost at all.
    let g = playback_gain(-16.0, Some(-20.0), Some(0.3), -1.0).unwrap();
    assert_eq!(g.gain_db, 0.0);
    assert!(g.peak_limited);
    // No true-peak reading: no boost.
    assert_eq!(
        playback_gain(-16.0, Some(-20.0), None, -1.0)
            .unwrap()
            .gain_db,
        0.0
    );
}

#[test]
fn no_integrated_loudness_gives_no_normalisation() {
    assert_eq!(playback_gain(-14.0, None, Some(-3.0), -1.0), None);
    assert_eq!(playback_gain_text(None), "\u{2014} dB on playback");
}

#[test]
fn exactly_on_target_reads_zero_without_sign() {
    let g = playback_gain(-14.0, Some(-14.0), Some(-3.0), -1.0);
    assert_eq!(playback_gain_text(g), "0.0 dB on playback");
}

// ---------------------------------------------------------------- metering glue

#[test]
fn layouts_follow_the_channel_count() {
    assert_eq!(layout_for_channels(1), ChannelLayout::Mono);
    assert_eq!(layout_for_channels(2), ChannelLayout::Stereo);
    assert_eq!(layout_for_channels(5), ChannelLayout::Surround50);
    assert_eq!(layout_for_channels(6), ChannelLayout::Surround51);
    assert_eq!(history_hop(48_000.0), 4800);
    assert_eq!(history_hop(44_100.0), 4410);
}

/// Runs `x` through a fresh [`Metering`] in blocks of `block`; returns the readings.
fn run_blocks(x: &[Vec<f32>; 2], fs: f64, block: usize) -> Readings {
    let r = Readings::default();
    let mut m = Metering::new(fs);
    m.activate(ChannelLayout::Stereo, fs);
    let mut pos = 0;
    while pos < x[0].len() {
        let end = (pos + block).min(x[0].len());
        m.process(&[&x[0][pos..end], &x[1][pos..end]], &r, false, false);
        pos = end;
    }
    r
}

#[test]
fn readings_and_history_do_not_depend_on_the_host_block_size() {
    let fs = 48_000.0;
    let x = shared_dsp::signal::programme(fs, 8.05, 11);
    // Oracle: the engine driven directly with the whole signal in one call.
    let mut engine = LoudnessMeter::new(2, ChannelLayout::Stereo, fs);
    engine.process(&[&x[0], &x[1]]);
    let reference = run_blocks(&x, fs, 512);
    let mut ref_hist = vec![[0.0f32; 2]; 80];
    assert_eq!(
        reference.history.read_latest(&mut ref_hist),
        80,
        "8.05 s -> 80 points"
    );
    assert_eq!(reference.integrated.load(), engine.integrated());
    assert_eq!(reference.true_peak_max.load(), engine.true_peak_max());
    assert_eq!(reference.max_momentary.load(), engine.max_momentary());
    assert_eq!(reference.short_term.load(), engine.short_term());
    assert!(reference.integrated.load().is_some());
    // M defined from 0.4 s, S from 3 s: points 4.. and 30.. carry values.
    assert!(ref_hist[2][0].is_nan() && ref_hist[5][0].is_finite());
    assert!(ref_hist[28][1].is_nan() && ref_hist[31][1].is_finite());
    for block in [1, 17, 4800, 9000] {
        let r = run_blocks(&x, fs, block);
        let mut hist = vec![[0.0f32; 2]; 80];
        assert_eq!(r.history.read_latest(&mut hist), 80, "block {block}");
        // NaN != NaN, so compare bits.
        let bits = |h: &[[f32; 2]]| -> Vec<[u32; 2]> {
            h.iter().map(|p| [p[0].to_bits(), p[1].to_bits()]).collect()
        };
        assert_eq!(bits(&hist), bits(&ref_hist), "history, block {block}");
        assert_eq!(
            r.integrated.load(),
            reference.integrated.load(),
            "block {block}"
        );
        assert_eq!(r.loudness_range.load(), reference.loudness_range.load());
        assert_eq!(r.true_peak_max.load(), reference.true_peak_max.load());
    }
}

#[test]
fn reset_command_clears_integrated_lra_and_maxima_but_not_momentary() {
    let fs = 48_000.0;
    let x = shared_dsp::signal::programme(fs, 4.0, 5);
    let r = Readings::default();
    let mut m = Metering::new(fs);
    m.activate(ChannelLayout::Stereo, fs);
    m.process(&[&x[0], &x[1]], &r, false, false);
    assert!(r.integrated.load().is_some() && r.max_momentary.load().is_some());
    assert!(r.true_peak_max.load().is_some());
    r.send(command::RESET);
    m.process(&[&x[0][..0], &x[1][..0]], &r, false, false);
    assert_eq!(r.integrated.load(), None);
    assert_eq!(r.loudness_range.load(), None);
    assert_eq!(r.max_momentary.load(), None);
    assert_eq!(r.max_short_term.load(), None);
    assert_eq!(r.true_peak_max.load(), None);
    assert!(r.momentary.load().is_some(), "M stays live");
    assert_eq!(r.integration_s.load(), Some(0.0));
    assert!(!r.lra_stable.load(Ordering::Relaxed));
}

#[test]
fn pause_freezes_integrated_while_momentary_follows_the_input() {
    let fs = 48_000.0;
    let loud = shared_dsp::signal::programme(fs, 4.0, 6);
    let r = Readings::default();
    let mut m = Metering::new(fs);
    m.activate(ChannelLayout::Stereo, fs);
    m.process(&[&loud[0], &loud[1]], &r, false, false);
    let i = r.integrated.load();
    let t = r.integration_s.load();
    r.send(command::PAUSE);
    let quiet: Vec<f32> = loud[0].iter().map(|v| v * 0.01).collect();
    m.process(&[&quiet, &quiet], &r, false, false);
    assert!(!r.running.load(Ordering::Relaxed));
    assert_eq!(r.integrated.load(), i, "frozen while paused");
    assert_eq!(r.integration_s.load(), t);
    let mom = r.momentary.load().unwrap();
    assert!(mom < i.unwrap() - 30.0, "M follows the quiet input: {mom}");
}

#[test]
fn reactivation_with_the_same_rate_keeps_the_measurement_and_a_new_rate_clears_it() {
    let fs = 48_000.0;
    let x = shared_dsp::signal::programme(fs, 2.0, 8);
    let r = Readings::default();
    let mut m = Metering::new(fs);
    m.activate(ChannelLayout::Stereo, fs);
    m.process(&[&x[0], &x[1]], &r, false, false);
    let i = r.integrated.load();
    assert!(i.is_some());
    m.activate(ChannelLayout::Stereo, fs);
    m.publish(&r);
    assert_eq!(r.integrated.load(), i);
    m.activate(ChannelLayout::Stereo, 44_100.0);
    m.publish(&r);
    assert_eq!(r.integrated.load(), None);
}

#[test]
fn surround_51_publishes_six_channel_true_peaks() {
    let fs = 48_000.0;
    let x = shared_dsp::signal::programme(fs, 0.5, 9);
    let r = Readings::default();
    let mut m = Metering::new(fs);
    m.activate(ChannelLayout::Surround51, fs);
    let silent = vec![0.0f32; x[0].len()];
    let ch: [&[f32]; 6] = [&x[0], &x[1], &silent, &silent, &x[0], &x[1]];
    m.process(&ch, &r, false, false);
    assert_eq!(r.channels.load(Ordering::Relaxed), 6);
    assert!(r.true_peak[0].load().is_some() && r.true_peak[5].load().is_some());
    assert_eq!(r.true_peak[2].load(), None, "silent centre has no peak");
}
