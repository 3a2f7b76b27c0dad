//! Throughput of the audio path (8 active stereo bands, medium resolution), as "x realtime"
//! (seconds of 48 kHz stereo audio per CPU second of this thread), at host blocks of
//! 64 and 1024. Run with `cargo test -p postmix-linear-phase-eq --release --test throughput --
//! --ignored --nocapture`. The CLAP-host figure comes from `cargo xtask bench`.

use postmix_linear_phase_eq::engine::{BandSetting, EqSettings, Mode, Placement, SyncEngine};
use shared_dsp::filter::{Band, BandType};
use shared_dsp::fir::Resolution;
use shared_dsp::signal::programme;
use shared_dsp::testing::CpuTimer;
use std::time::Instant;

#[test]
#[ignore = "benchmark"]
fn medium_mode_8_bands_x_realtime() {
    let fs = 48_000.0;
    let seconds = 20.0;
    let [l0, r0] = programme(fs, seconds, 1);
    let mut s = EqSettings {
        mode: Mode::Fir(Resolution::Medium),
        ..EqSettings::default()
    };
    for i in 0..8 {
        s.bands[i] = BandSetting {
            band: Band::new(BandType::Bell, 40.0 * 2f64.powi(i as i32), 3.0, 1.0),
            placement: Placement::Stereo,
        };
    }
    for block in [64, 1024] {
        let mut best = 0.0f64;
        for _ in 0..3 {
            let mut eng = SyncEngine::new(fs, 1024, &s);
            let (mut l, mut r) = (l0.clone(), r0.clone());
            let t = CpuTimer::start();
            eng.process_stereo(&mut l, &mut r, block, &s);
            best = best.max(seconds / t.seconds());
            std::hint::black_box(&l);
        }
        // Reference in the same run: the bare stereo convolver with a medium kernel.
        let mut reference = 0.0f64;
        for _ in 0..3 {
            let taps = Resolution::Medium.taps(fs);
            let mut conv = shared_dsp::fir::PartitionedConvolver::new(
                2,
                taps,
                postmix_linear_phase_eq::engine::PARTITION,
            );
            let mut k = vec![0.0f32; taps];
            k[taps / 2] = 1.0;
            conv.set_kernel(&k);
            let (mut l, mut r) = (l0.clone(), r0.clone());
            let t = CpuTimer::start();
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                conv.process_stereo(a, b);
            }
            reference = reference.max(seconds / t.seconds());
            std::hint::black_box(&l);
        }
        println!(
            "medium, 8 bands, host block {block}: {best:.0}x realtime \
             (bare stereo convolver, same kernel length: {reference:.0}x)"
        );
    }
}

#[test]
#[ignore = "benchmark"]
fn kernel_design_time_per_mode() {
    use postmix_linear_phase_eq::engine::build;
    let fs = 48_000.0;
    for res in Resolution::ALL {
        let mut s = EqSettings {
            mode: Mode::Fir(res),
            ..EqSettings::default()
        };
        let (mut p, mut d) = build(fs, 1024, &s);
        let mut best = f64::INFINITY;
        for k in 0..5 {
            for i in 0..8 {
                s.bands[i] = BandSetting {
                    band: Band::new(
                        BandType::Bell,
                        40.0 * 2f64.powi(i as i32),
                        3.0 + k as f64,
                        1.0,
                    ),
                    placement: Placement::Stereo,
                };
            }
            assert!(p.set_settings(&s));
            let t = Instant::now();
            assert!(d.run());
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{res:?}: 8 stereo bands designed and transformed in {:.1} ms",
            best * 1e3
        );
    }
}

/// What `activate` costs: `engine::build` with flat settings (allocation and FFT planning only)
/// and with 8 bands on left and right (six least-squares designs), per mode, at 48 and 96 kHz;
/// then the same reusing the previous designer's memory (`build_reusing`), as the plugin does.
#[test]
#[ignore = "benchmark"]
fn activation_time_per_mode() {
    use postmix_linear_phase_eq::engine::{build, build_reusing};
    for fs in [48_000.0, 96_000.0] {
        for res in Resolution::ALL {
            let flat = EqSettings {
                mode: Mode::Fir(res),
                ..EqSettings::default()
            };
            let mut busy = flat;
            for i in 0..8 {
                busy.bands[i] = BandSetting {
                    band: Band::new(BandType::Bell, 40.0 * 2f64.powi(i as i32), 4.0, 1.0),
                    placement: if i % 2 == 0 {
                        Placement::Left
                    } else {
                        Placement::Right
                    },
                };
            }
            let fresh = |s: &EqSettings| {
                (0..3)
                    .map(|_| {
                        let t = Instant::now();
                        let pd = build(fs, 1024, s);
                        let e = t.elapsed().as_secs_f64();
                        drop(pd);
                        e
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let reused = |s: &EqSettings| {
                let (_, mut d) = build(fs, 1024, s);
                let mut best = f64::INFINITY;
                for _ in 0..3 {
                    let t = Instant::now();
                    let (p, d2) = build_reusing(fs, 1024, s, Some(d.into_memory()));
                    best = best.min(t.elapsed().as_secs_f64());
                    drop(p);
                    d = d2;
                }
                best
            };
            println!(
                "{fs} Hz {res:?}: activate flat {:.1} ms, 8 L/R bands {:.1} ms; \
                 reusing the designer: {:.1} / {:.1} ms",
                fresh(&flat) * 1e3,
                fresh(&busy) * 1e3,
                reused(&flat) * 1e3,
                reused(&busy) * 1e3
            );
        }
    }
}
