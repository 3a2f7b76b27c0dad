//! EBU Tech 3341 (cases 1-6, 9-14; true-peak cases 15-23 are in loudness_true_peak.rs and
//! repeated in the table here) and Tech 3342 (cases 1-4) conformance, synthesised in code, at
//! 48, 44.1 and 96 kHz. Tolerances are the official ones (Tech 3341 table 1: +/-0.1 LU for
//! loudness, +0.2/-0.4 dB for true peak; Tech 3342: +/-1 LU for LRA).
//!
//! `cargo test -p shared-dsp --test loudness_conformance -- --nocapture` prints the table.

mod loudness_common;

use loudness_common::{RATES, tone_segments, tp_burst, tp_sine};
use shared_dsp::loudness::{ChannelLayout, LoudnessMeter};
use shared_dsp::signal::dbfs;
use std::f64::consts::PI;
use std::fmt::Write;

/// Block size used to feed the meter (deliberately not a divisor of the sub-block grid).
const BLOCK: usize = 333;

/// Feeds `chans` to `m` in blocks of `BLOCK`, calling `each(m, samples_done)` after each block.
fn feed(m: &mut LoudnessMeter, chans: &[&[f32]], mut each: impl FnMut(&LoudnessMeter, usize)) {
    let len = chans[0].len();
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let views: Vec<&[f32]> = chans.iter().map(|c| &c[start..end]).collect();
        m.process(&views);
        start = end;
        each(m, end);
    }
}

fn stereo_meter(fs: f64) -> LoudnessMeter {
    LoudnessMeter::new(2, ChannelLayout::Stereo, fs)
}

/// One row of the printed table.
struct Row {
    case: String,
    fs: f64,
    quantity: &'static str,
    expected: String,
    measured: f64,
    pass: bool,
}

#[allow(clippy::too_many_arguments)]
fn check(
    rows: &mut Vec<Row>,
    case: &str,
    fs: f64,
    q: &'static str,
    exp: f64,
    lo: f64,
    hi: f64,
    got: Option<f64>,
) {
    let measured = got.unwrap_or(f64::NAN);
    let pass = measured >= exp + lo && measured <= exp + hi;
    let expected = if lo == -hi {
        format!("{exp:+.1} +/-{hi}")
    } else {
        format!("{exp:+.1} {hi:+}/{lo:+}")
    };
    rows.push(Row {
        case: case.to_string(),
        fs,
        quantity: q,
        expected,
        measured,
        pass,
    });
}

/// Tone segments `(seconds, level)`.
type Segments = Vec<(f64, Option<f64>)>;

/// Keeps in `worst` the value farthest from `target` (NaN, i.e. a missing readout, sticks).
fn track_worst(worst: &mut f64, value: f64, target: f64) {
    if worst.is_nan() {
        return;
    }
    if value.is_nan() || (value - target).abs() > (*worst - target).abs() {
        *worst = value;
    }
}

/// Stereo Tech 3341 cases 1-5 and 9-14 at `fs`.
fn tech3341_loudness_cases(fs: f64, rows: &mut Vec<Row>) {
    let t = 0.1;
    // Cases 1 and 2: M, S, I at the end.
    for (case, level) in [("3341-1", -23.0), ("3341-2", -33.0)] {
        let x = tone_segments(fs, &[(20.0, Some(level))]);
        let mut m = stereo_meter(fs);
        feed(&mut m, &[&x, &x], |_, _| {});
        check(rows, case, fs, "M", level, -t, t, m.momentary());
        check(rows, case, fs, "S", level, -t, t, m.short_term());
        check(rows, case, fs, "I", level, -t, t, m.integrated());
    }
    let cases: [(&str, Segments); 3] = [
        (
            "3341-3",
            vec![
                (10.0, Some(-36.0)),
                (60.0, Some(-23.0)),
                (10.0, Some(-36.0)),
            ],
        ),
        (
            "3341-4",
            vec![
                (10.0, Some(-72.0)),
                (10.0, Some(-36.0)),
                (60.0, Some(-23.0)),
                (10.0, Some(-36.0)),
                (10.0, Some(-72.0)),
            ],
        ),
        (
            "3341-5",
            vec![
                (20.0, Some(-26.0)),
                (20.1, Some(-20.0)),
                (20.0, Some(-26.0)),
            ],
        ),
    ];
    for (case, segs) in cases {
        let x = tone_segments(fs, &segs);
        let mut m = stereo_meter(fs);
        feed(&mut m, &[&x, &x], |_, _| {});
        check(rows, case, fs, "I", -23.0, -t, t, m.integrated());
    }
    // Case 9: S constant at -23 after 3 s (worst reading after 3 s reported).
    {
        let segs: Vec<_> = (0..5)
            .flat_map(|_| [(1.34, Some(-20.0)), (1.66, Some(-30.0))])
            .collect();
        let x = tone_segments(fs, &segs);
        let mut m = stereo_meter(fs);
        let mut worst = -23.0f64;
        feed(&mut m, &[&x, &x], |m, done| {
            if done as f64 >= 3.0 * fs {
                let s = m.short_term().unwrap_or(f64::NAN);
                track_worst(&mut worst, s, -23.0);
            }
        });
        check(
            rows,
            "3341-9",
            fs,
            "S (worst after 3 s)",
            -23.0,
            -t,
            t,
            Some(worst),
        );
    }
    // Case 10: 20 separate signals, max S = -23 each (worst reported).
    {
        let mut worst = -23.0f64;
        for i in 0..20 {
            let x = tone_segments(
                fs,
                &[(i as f64 * 0.15, None), (3.0, Some(-23.0)), (1.0, None)],
            );
            let mut m = stereo_meter(fs);
            feed(&mut m, &[&x, &x], |_, _| {});
            let s = m.max_short_term().unwrap_or(f64::NAN);
            track_worst(&mut worst, s, -23.0);
        }
        check(
            rows,
            "3341-10",
            fs,
            "max S (worst of 20)",
            -23.0,
            -t,
            t,
            Some(worst),
        );
    }
    // Case 11: one signal, max S steps -38 .. -19 (worst deviation reported).
    {
        let mut segs = Vec::new();
        for i in 0..20 {
            let s = i as f64 * 0.15;
            segs.extend([(s, None), (3.0, Some(-38.0 + i as f64)), (3.0 - s, None)]);
        }
        let x = tone_segments(fs, &segs);
        let mut m = stereo_meter(fs);
        let mut dev = 0.0f64;
        // Each segment lasts 6 s; read max S at each segment end (sample-exact boundaries).
        let mut ends: Vec<usize> = Vec::new();
        let mut acc = 0usize;
        for i in 0..20 {
            let s = i as f64 * 0.15;
            acc += (s * fs).round() as usize
                + (3.0 * fs).round() as usize
                + ((3.0 - s) * fs).round() as usize;
            ends.push(acc);
        }
        let mut k = 0;
        let len = x.len();
        let mut start = 0;
        while start < len {
            let end = (start + BLOCK).min(len).min(ends[k]);
            m.process(&[&x[start..end], &x[start..end]]);
            start = end;
            if end == ends[k] {
                let want = -38.0 + k as f64;
                let got = m.max_short_term().unwrap_or(f64::NAN);
                track_worst(&mut dev, got - want, 0.0);
                k += 1;
                if k == ends.len() {
                    break;
                }
            }
        }
        check(
            rows,
            "3341-11",
            fs,
            "max S step error (worst)",
            0.0,
            -t,
            t,
            Some(dev),
        );
    }
    // Case 12: M constant at -23 after 1 s.
    {
        let segs: Vec<_> = (0..25)
            .flat_map(|_| [(0.18, Some(-20.0)), (0.22, Some(-30.0))])
            .collect();
        let x = tone_segments(fs, &segs);
        let mut m = stereo_meter(fs);
        let mut worst = -23.0f64;
        feed(&mut m, &[&x, &x], |m, done| {
            if done as f64 >= 1.0 * fs {
                let s = m.momentary().unwrap_or(f64::NAN);
                track_worst(&mut worst, s, -23.0);
            }
        });
        check(
            rows,
            "3341-12",
            fs,
            "M (worst after 1 s)",
            -23.0,
            -t,
            t,
            Some(worst),
        );
    }
    // Case 13: 20 separate signals, max M = -23 each.
    {
        let mut worst = -23.0f64;
        for i in 0..20 {
            let x = tone_segments(
                fs,
                &[(i as f64 * 0.02, None), (0.4, Some(-23.0)), (1.0, None)],
            );
            let mut m = stereo_meter(fs);
            feed(&mut m, &[&x, &x], |_, _| {});
            let s = m.max_momentary().unwrap_or(f64::NAN);
            track_worst(&mut worst, s, -23.0);
        }
        check(
            rows,
            "3341-13",
            fs,
            "max M (worst of 20)",
            -23.0,
            -t,
            t,
            Some(worst),
        );
    }
    // Case 14: one signal, max M steps -38 .. -19.
    {
        let mut segs = Vec::new();
        let mut ends = Vec::new();
        let mut acc = 0usize;
        for i in 0..20 {
            let s = i as f64 * 0.02;
            segs.extend([(s, None), (0.4, Some(-38.0 + i as f64)), (0.4 - s, None)]);
            acc += (s * fs).round() as usize
                + (0.4 * fs).round() as usize
                + ((0.4 - s) * fs).round() as usize;
            ends.push(acc);
        }
        let x = tone_segments(fs, &segs);
        let mut m = stereo_meter(fs);
        let mut dev = 0.0f64;
        let mut k = 0;
        let mut start = 0;
        while start < x.len() && k < ends.len() {
            let end = (start + BLOCK).min(x.len()).min(ends[k]);
            m.process(&[&x[start..end], &x[start..end]]);
            start = end;
            if end == ends[k] {
                let got = m.max_momentary().unwrap_or(f64::NAN);
                let want = -38.0 + k as f64;
                track_worst(&mut dev, got - want, 0.0);
                k += 1;
            }
        }
        check(
            rows,
            "3341-14",
            fs,
            "max M step error (worst)",
            0.0,
            -t,
            t,
            Some(dev),
        );
    }
}

/// Tech 3341 case 6 (5.0) at `fs`.
fn tech3341_case6(fs: f64, rows: &mut Vec<Row>) {
    let len = (20.0 * fs) as usize;
    let tone = |lvl: f64| -> Vec<f32> {
        (0..len)
            .map(|n| (dbfs(lvl) * (2.0 * PI * 1000.0 * n as f64 / fs).sin()) as f32)
            .collect()
    };
    let (l, c, s) = (tone(-28.0), tone(-24.0), tone(-30.0));
    let mut m = LoudnessMeter::new(5, ChannelLayout::Surround50, fs);
    feed(&mut m, &[&l, &l, &c, &s, &s], |_, _| {});
    check(
        rows,
        "3341-6 (5.0)",
        fs,
        "I",
        -23.0,
        -0.1,
        0.1,
        m.integrated(),
    );
    // The same programme as 5.1 with a loud LFE must read the same (LFE excluded).
    let lfe = tone(0.0);
    let mut m = LoudnessMeter::new(6, ChannelLayout::Surround51, fs);
    feed(&mut m, &[&l, &l, &c, &lfe, &s, &s], |_, _| {});
    check(
        rows,
        "3341-6 as 5.1, LFE 0 dBFS",
        fs,
        "I",
        -23.0,
        -0.1,
        0.1,
        m.integrated(),
    );
}

/// Tech 3341 true-peak cases 15-23 through the whole meter.
fn tech3341_true_peak(fs: f64, rows: &mut Vec<Row>) {
    let cases = [
        ("3341-15", tp_sine(fs, 0.25, 0.5, 0.0), -6.0),
        ("3341-16", tp_sine(fs, 0.25, 0.5, 45.0), -6.0),
        ("3341-17", tp_sine(fs, 1.0 / 6.0, 0.5, 60.0), -6.0),
        ("3341-18", tp_sine(fs, 0.125, 0.5, 67.5), -6.0),
        ("3341-19", tp_sine(fs, 0.25, 1.41, 45.0), 3.0),
        ("3341-20", tp_burst(fs, 0), 0.0),
        ("3341-21", tp_burst(fs, 1), 0.0),
        ("3341-22", tp_burst(fs, 2), 0.0),
        ("3341-23", tp_burst(fs, 3), 0.0),
    ];
    for (case, x, exp) in cases {
        let mut m = stereo_meter(fs);
        feed(&mut m, &[&x, &x], |_, _| {});
        m.flush_true_peak();
        check(rows, case, fs, "TP dBTP", exp, -0.4, 0.2, m.true_peak_max());
    }
}

/// Tech 3342 cases 1-4 at `fs`.
fn tech3342(fs: f64, rows: &mut Vec<Row>) {
    let cases: [(&str, &[f64], f64); 4] = [
        ("3342-1", &[-20.0, -30.0], 10.0),
        ("3342-2", &[-20.0, -15.0], 5.0),
        ("3342-3", &[-40.0, -20.0], 20.0),
        ("3342-4", &[-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
    ];
    for (case, levels, exp) in cases {
        let segs: Vec<_> = levels.iter().map(|&l| (20.0, Some(l))).collect();
        let x = tone_segments(fs, &segs);
        let mut m = stereo_meter(fs);
        feed(&mut m, &[&x, &x], |_, _| {});
        check(rows, case, fs, "LRA", exp, -1.0, 1.0, m.loudness_range());
    }
}

fn print_and_assert(rows: &[Row]) {
    let mut out = String::new();
    writeln!(
        out,
        "| case | fs (Hz) | quantity | expected | measured | pass |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    for r in rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:+.3} | {} |",
            r.case,
            r.fs,
            r.quantity,
            r.expected,
            r.measured,
            if r.pass { "yes" } else { "NO" }
        )
        .unwrap();
    }
    println!("{out}");
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{} @ {}", r.case, r.fs))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[test]
fn tech3341_loudness_cases_1_to_14_at_48k_44k1_96k() {
    let mut rows = Vec::new();
    for fs in RATES {
        tech3341_loudness_cases(fs, &mut rows);
        tech3341_case6(fs, &mut rows);
    }
    print_and_assert(&rows);
}

#[test]
fn tech3341_true_peak_cases_15_to_23_through_meter_at_48k_44k1_96k() {
    let mut rows = Vec::new();
    for fs in RATES {
        tech3341_true_peak(fs, &mut rows);
    }
    print_and_assert(&rows);
}

#[test]
fn tech3342_lra_cases_1_to_4_at_48k_44k1_96k() {
    let mut rows = Vec::new();
    for fs in RATES {
        tech3342(fs, &mut rows);
    }
    print_and_assert(&rows);
}

/// BS.1770 check values: a 997 Hz full-scale sine in one channel reads -3.01 LUFS; a stereo
/// 1 kHz sine at A dBFS per channel reads A LUFS.
#[test]
fn bs1770_check_values_997hz_one_channel_and_stereo_1k() {
    for fs in RATES {
        let len = (10.0 * fs) as usize;
        let x: Vec<f32> = (0..len)
            .map(|n| (2.0 * PI * 997.0 * n as f64 / fs).sin() as f32)
            .collect();
        let z = vec![0.0f32; len];
        let mut m = stereo_meter(fs);
        feed(&mut m, &[&x, &z], |_, _| {});
        let i = m.integrated().unwrap();
        assert!((i + 3.01).abs() < 0.01, "fs {fs}: {i}");
        let mut mono = LoudnessMeter::new(1, ChannelLayout::Mono, fs);
        feed(&mut mono, &[&x], |_, _| {});
        assert!((mono.integrated().unwrap() + 3.01).abs() < 0.01);
        let y = tone_segments(fs, &[(10.0, Some(-12.0))]);
        let mut m = stereo_meter(fs);
        feed(&mut m, &[&y, &y], |_, _| {});
        let i = m.integrated().unwrap();
        assert!((i + 12.0).abs() < 0.01, "fs {fs}: {i}");
    }
}
