//! EQ and filter responses through the strip's own path (trim, filters, EQ, the saturation's
//! latency delay) against the analog prototypes, at 44.1, 48 and 96 kHz.
//!
//! Method: impulse response of the whole strip (every other section bypassed), 2^17-point FFT,
//! compared bin by bin from 20 Hz to 20 kHz with the exact analog magnitude
//! (`shared_dsp::filter::curve_db` of the same bands: the independent oracle). Bins where the
//! analog response is below -40 dB (deep in a cut filter's stopband) are skipped: there the
//! dB difference measures numerical noise, not the filter. Tolerance 0.5 dB (issue 7).

mod common;

use postmix_channel_strip::strip::{EqBand, EqShape, HpfSlope, LpfSlope, Settings};
use shared_dsp::filter::curve_db;

const RATES: [f32; 3] = [44_100.0, 48_000.0, 96_000.0];
const N: usize = 1 << 17;

/// Worst |digital - analog| in dB over 20 Hz-20 kHz where analog >= -40 dB, and its frequency.
fn worst_error(fs: f32, s: &Settings) -> (f64, f64) {
    let mut bands = Vec::new();
    if !s.filters_bypass {
        bands.extend(s.filter_bands());
    }
    if !s.eq_bypass {
        bands.extend(s.eq_bands());
    }
    let (df, db) = response_db(fs, s, N);
    let mut worst = (0.0f64, 0.0f64);
    for (k, &d) in db.iter().enumerate() {
        let f = k as f64 * df;
        if !(20.0..=20_000.0).contains(&f) {
            continue;
        }
        let a = curve_db(&bands, f);
        if a < -40.0 {
            continue;
        }
        let e = (d - a).abs();
        if e > worst.0 {
            worst = (e, f);
        }
    }
    worst
}

use common::response_db;

fn eq_only() -> Settings {
    Settings {
        filters_bypass: true,
        ..Settings::all_bypassed()
    }
}

/// The cases: (label, settings).
fn cases() -> Vec<(String, Settings)> {
    let mut v = Vec::new();
    let base = Settings {
        eq_bypass: false,
        ..eq_only()
    };
    let flat = EqBand {
        freq_hz: 1000.0,
        gain_db: 0.0,
        q: 1.0,
    };
    // Bells on every band position, extreme gains and Qs, up to 20 kHz.
    for (f, g, q) in [
        (30.0, 18.0, 0.3),
        (100.0, -18.0, 8.0),
        (1_000.0, 12.0, 2.0),
        (5_000.0, -12.0, 0.7),
        (10_000.0, 18.0, 1.0),
        (16_000.0, -18.0, 4.0),
        (19_000.0, 18.0, 8.0),
        (20_000.0, 12.0, 0.3),
    ] {
        let b = EqBand {
            freq_hz: f,
            gain_db: g,
            q,
        };
        v.push((
            format!("bell {f} Hz {g:+} dB Q {q}"),
            Settings { lmf: b, ..base },
        ));
    }
    // Shelves, Q 0.3 to 8 (resonant above 0.707).
    for (f, g, q) in [
        (30.0, 18.0, 0.7),
        (200.0, -18.0, 2.0),
        (1_000.0, 12.0, 0.3),
        (500.0, 18.0, 8.0),
    ] {
        v.push((
            format!("low shelf {f} Hz {g:+} dB Q {q}"),
            Settings {
                lf_shape: EqShape::Shelf,
                lf: EqBand {
                    freq_hz: f,
                    gain_db: g,
                    q,
                },
                ..base
            },
        ));
    }
    for (f, g, q) in [
        (1_000.0, 18.0, 0.7),
        (8_000.0, -18.0, 2.0),
        (10_000.0, 18.0, 8.0),
        (16_000.0, 18.0, 1.0),
        (16_000.0, -18.0, 4.0),
        (20_000.0, -12.0, 0.3),
    ] {
        v.push((
            format!("high shelf {f} Hz {g:+} dB Q {q}"),
            Settings {
                hf_shape: EqShape::Shelf,
                hf: EqBand {
                    freq_hz: f,
                    gain_db: g,
                    q,
                },
                ..base
            },
        ));
    }
    // All four bands at once (LF/HF as bells).
    v.push((
        "four bells".into(),
        Settings {
            lf_shape: EqShape::Bell,
            lf: EqBand {
                freq_hz: 80.0,
                gain_db: 6.0,
                q: 1.0,
            },
            lmf: EqBand {
                freq_hz: 400.0,
                gain_db: -8.0,
                q: 3.0,
            },
            hmf: EqBand {
                freq_hz: 3_000.0,
                gain_db: 5.0,
                q: 1.5,
            },
            hf_shape: EqShape::Bell,
            hf: EqBand {
                freq_hz: 12_000.0,
                gain_db: -10.0,
                q: 0.7,
            },
            ..base
        },
    ));
    // Filters.
    let filt = Settings {
        filters_bypass: false,
        lmf: flat,
        ..eq_only()
    };
    for (slope, f) in [
        (HpfSlope::Db12, 16.0),
        (HpfSlope::Db18, 100.0),
        (HpfSlope::Db24, 500.0),
    ] {
        v.push((
            format!("HPF {slope:?} {f} Hz"),
            Settings {
                hpf: slope,
                hpf_hz: f,
                ..filt
            },
        ));
    }
    for (slope, f) in [
        (LpfSlope::Db12, 3_000.0),
        (LpfSlope::Db24, 10_000.0),
        (LpfSlope::Db12, 18_000.0),
        (LpfSlope::Db24, 22_000.0),
    ] {
        v.push((
            format!("LPF {slope:?} {f} Hz"),
            Settings {
                lpf: slope,
                lpf_hz: f,
                ..filt
            },
        ));
    }
    v
}

#[test]
fn eq_and_filters_match_the_analog_prototypes_within_half_a_db_to_20k() {
    let mut failures = Vec::new();
    println!("{:<36} {:>16} {:>16} {:>16}", "case", "44.1k", "48k", "96k");
    for (label, s) in cases() {
        let mut line = format!("{label:<36}");
        for fs in RATES {
            let (e, f) = worst_error(fs, &s);
            line += &format!(" {e:>6.3} dB@{:>5.0}", f);
            if e > 0.5 {
                failures.push(format!("{label} at {fs}: {e:.3} dB at {f:.0} Hz"));
            }
        }
        println!("{line}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn high_pass_is_within_half_a_db_of_its_nominal_slope_one_octave_below_cutoff() {
    // Nominal: -6 dB/oct per order at one octave below the cutoff (-12, -18, -24 dB). The
    // analog Butterworth itself is at -12.30, -18.13, -24.10 dB there.
    let mut failures = Vec::new();
    for fs in RATES {
        for (slope, order) in [
            (HpfSlope::Db12, 2),
            (HpfSlope::Db18, 3),
            (HpfSlope::Db24, 4),
        ] {
            for fc in [16.0f32, 80.0, 500.0] {
                let s = Settings {
                    filters_bypass: false,
                    hpf: slope,
                    hpf_hz: fc,
                    ..Settings::all_bypassed()
                };
                let n = 1 << 18;
                let (df, db) = response_db(fs, &s, n);
                // Interpolate linearly in dB between the two bins around fc/2.
                let x = fc as f64 / 2.0 / df;
                let k = x.floor() as usize;
                let t = x - k as f64;
                let m = db[k] * (1.0 - t) + db[k + 1] * t;
                let nominal = -6.0 * order as f64;
                println!("fs {fs} {slope:?} fc {fc}: {m:.3} dB at fc/2 (nominal {nominal})");
                if (m - nominal).abs() > 0.5 {
                    failures.push(format!("fs {fs} {slope:?} fc {fc}: {m:.3} dB"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
