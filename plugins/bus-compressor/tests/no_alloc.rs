//! The audio path never allocates after construction: a counting global allocator watches every
//! `Processor` call (all features on, settings changing every sub-block, look-ahead changes).

use postmix_bus_compressor::processor::{Processor, Settings};
use shared_dsp::dynamics::DetectorMode;
use shared_dsp::signal::programme;

use shared_dsp::testing::{COUNT, Counting, WATCH};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn process_reset_and_setting_changes_never_allocate() {
    let [mut l, mut r] = programme(48_000.0, 1.0, 9);
    let [k0, k1] = programme(48_000.0, 1.0, 10);
    let mut p = Processor::new(512);
    let mut k = 0u32;
    WATCH.with(|w| w.set(true));
    // The counter itself works.
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(COUNT.with(|c| c.replace(0)), 1);
    p.set_sample_rate(96_000.0);
    p.set_sample_rate(48_000.0);
    for (block, (lc, rc)) in l.chunks_mut(512).zip(r.chunks_mut(512)).enumerate() {
        let start = block * 512;
        let key: [&[f32]; 2] = [&k0[start..start + lc.len()], &k1[start..start + lc.len()]];
        p.set_lookahead_ms((block % 6) as f32);
        let mut audio = [lc, rc];
        p.process(&mut audio, Some(&key), |_| {
            k += 1;
            Settings {
                threshold_db: -30.0 + (k % 20) as f32,
                ratio: if k.is_multiple_of(7) {
                    f32::INFINITY
                } else {
                    1.0 + (k % 9) as f32
                },
                attack_ms: 0.05 + (k % 30) as f32,
                release_ms: 10.0 + (k % 500) as f32,
                auto_release: k.is_multiple_of(3),
                knee_db: (k % 24) as f32,
                makeup_db: (k % 12) as f32,
                auto_makeup: k.is_multiple_of(5),
                mix: (k % 11) as f32 / 10.0,
                range_db: if k.is_multiple_of(4) {
                    f32::INFINITY
                } else {
                    6.0
                },
                sc_hpf_hz: (k.is_multiple_of(2)).then_some(20.0 + (k % 480) as f32),
                external_sidechain: k % 8 < 4,
                detector: if k % 13 < 6 {
                    DetectorMode::Peak
                } else {
                    DetectorMode::Rms
                },
                link: (k % 5) as f32 / 4.0,
                mid_side: k % 17 < 8,
                sc_listen: k % 19 < 5,
            }
        });
        if block % 10 == 9 {
            p.reset();
        }
    }
    WATCH.with(|w| w.set(false));
    assert_eq!(COUNT.with(|c| c.get()), 0, "allocations in the audio path");
    assert!(l.iter().chain(&r).all(|x| x.is_finite()));
}
