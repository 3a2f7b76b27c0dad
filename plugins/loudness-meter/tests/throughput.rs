//! Cost of the plugin's audio path (engine + history + publishing), in x realtime (seconds of
//! 48 kHz stereo audio per CPU second). Run with
//! `cargo test -p postmix-loudness-meter --release --test throughput -- --ignored --nocapture`.

use postmix_loudness_meter::metering::Metering;
use postmix_loudness_meter::readings::Readings;
use shared_dsp::loudness::ChannelLayout;
use shared_dsp::testing::CpuTimer;

#[test]
#[ignore = "timing; run in --release"]
fn metering_throughput_at_host_blocks_64_and_1024() {
    let fs = 48_000.0;
    let seconds = 60.0;
    let x = shared_dsp::signal::programme(fs, seconds, 3);
    for block in [64, 1024] {
        let r = Readings::default();
        let mut m = Metering::new(fs);
        m.activate(ChannelLayout::Stereo, fs);
        let t = CpuTimer::start();
        let mut pos = 0;
        while pos < x[0].len() {
            let end = (pos + block).min(x[0].len());
            m.process(&[&x[0][pos..end], &x[1][pos..end]], &r, false, false);
            pos = end;
        }
        let dt = t.seconds();
        assert!(r.integrated.load().is_some());
        println!("block {block}: {:.0}x realtime", seconds / dt);
    }
}
