//! Throughput of the plugin's audio path (the `Processor` the plugin drives) with the settings
//! of the suite benchmark's limiter rows: true peak, 4x, +5.5 dB of input gain into -1 dBTP
//! (about 6 dB of peak limiting on the programme). Run with
//! `cargo test -p postmix-limiter --release --test bench -- --ignored --nocapture`.

use postmix_limiter::processor::{Processor, Settings};
use shared_dsp::limiter::{Limiter, PeakMode};
use shared_dsp::signal::programme;
use shared_dsp::testing::CpuTimer;
use shared_dsp::util::db_to_gain;

/// Input gain of the benchmark rows (dB).
const DRIVE_DB: f32 = 6.5;

#[test]
#[ignore = "benchmark: run in --release"]
fn true_peak_4x_with_6_db_of_limiting_throughput() {
    let fs = 48_000.0;
    let secs = 30.0;
    let input = programme(fs as f64, secs, 1);
    for block in [64usize, 1024] {
        // Reference: the shared-dsp limiter alone with the same settings and drive.
        let mut lim = Limiter::new(2, block, 16);
        lim.set_sample_rate(fs);
        lim.set_mode(PeakMode::TruePeak);
        lim.set_oversampling(4);
        lim.set_ceiling_db(-1.0);
        let g = db_to_gain(DRIVE_DB);
        let [mut l, mut r] = input.clone();
        for v in l.iter_mut().chain(r.iter_mut()) {
            *v *= g;
        }
        let t = CpuTimer::start();
        for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
            lim.process(&mut [a, b]);
        }
        eprintln!(
            "shared-dsp Limiter alone, block {block}: {:.0}x realtime",
            secs / t.seconds()
        );
        for (label, s) in [
            ("TP 4x", Settings::default()),
            (
                "TP 4x + output loudness meter (editor open)",
                Settings {
                    meter_output: true,
                    ..Settings::default()
                },
            ),
            (
                "TP 4x + unity + 16-bit shaped dither + DC",
                Settings {
                    unity: true,
                    dither_bits: Some(16),
                    noise_shaping: true,
                    dc_filter: true,
                    ..Settings::default()
                },
            ),
        ] {
            let mut p = Processor::new(block);
            p.set_sample_rate(fs);
            p.set_channels(2);
            p.configure(&s);
            let gi = vec![db_to_gain(DRIVE_DB); block];
            let go = vec![1.0f32; block];
            let [mut l, mut r] = input.clone();
            let t = CpuTimer::start();
            let mut max_gr = 0.0f32;
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                let info = p.process(&mut [a, b], &gi, &go);
                max_gr = max_gr.max(info.gain_reduction_db);
            }
            let el = t.seconds();
            eprintln!(
                "{label}, block {block}: {:.0}x realtime, max GR {max_gr:.1} dB, output TP {:.2} dBTP",
                secs / el,
                p.output_meter().true_peak_max().unwrap_or(f64::NAN)
            );
        }
    }
}
