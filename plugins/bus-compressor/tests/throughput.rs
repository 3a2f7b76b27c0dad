//! Throughput of the whole audio path (`Processor`), as "x realtime" (seconds of 48 kHz stereo
//! audio per CPU second). Ignored by default: run with
//! `cargo test -p postmix-bus-compressor --release --test throughput -- --ignored --nocapture`.

use postmix_bus_compressor::processor::{Processor, Settings};
use shared_dsp::dynamics::{DetectorMode, Dynamics};
use shared_dsp::signal::programme;
use shared_dsp::testing::CpuTimer;

fn x_realtime(seconds: f64, f: impl FnOnce()) -> f64 {
    let t = CpuTimer::start();
    f();
    seconds / t.seconds()
}

#[test]
#[ignore]
fn processor_throughput_x_realtime() {
    let fs = 48_000.0;
    let secs = 20.0;
    let [l, r] = programme(fs as f64, secs, 1);
    let s = Settings {
        detector: DetectorMode::Rms,
        auto_release: true,
        threshold_db: -24.0,
        ..Settings::default()
    };
    for block in [64usize, 1024] {
        for factor in [1usize, 2, 4] {
            let (mut a, mut b) = (l.clone(), r.clone());
            let mut p = Processor::new(block);
            p.set_sample_rate(fs);
            p.set_oversampling(factor);
            let x = x_realtime(secs, || {
                for (ca, cb) in a.chunks_mut(block).zip(b.chunks_mut(block)) {
                    let mut audio = [ca, cb];
                    p.process(&mut audio, None, |_| s);
                }
            });
            println!("Processor block {block:5} oversampling {factor}x: {x:8.0} x realtime");
        }
        // Reference in the same run: the bare engine.
        let (mut a, mut b) = (l.clone(), r.clone());
        let mut e = Dynamics::new(2, block);
        e.set_sample_rate(fs);
        e.set_detector(DetectorMode::Rms);
        e.set_auto_release(true);
        e.set_threshold_db(-24.0);
        let x = x_realtime(secs, || {
            for (ca, cb) in a.chunks_mut(block).zip(b.chunks_mut(block)) {
                e.process_stereo(ca, cb);
            }
        });
        println!("Dynamics  block {block:5} (reference)     : {x:8.0} x realtime");
    }
}
