//! The audio path never allocates after construction: a counting global allocator watches every
//! `Processor` call (every stage on, settings and latency changing block by block, resets).

use postmix_limiter::processor::{Processor, Settings};
use shared_dsp::limiter::Character;
use shared_dsp::signal::programme;

use shared_dsp::testing::{COUNT, Counting, WATCH};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn process_configure_reset_and_rate_changes_never_allocate() {
    let [mut l, mut r] = programme(48_000.0, 2.0, 9);
    let mut p = Processor::new(512);
    let gi = vec![4.0f32; 512];
    let go = vec![0.9f32; 512];
    WATCH.with(|w| w.set(true));
    // The counter itself works.
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(COUNT.with(|c| c.replace(0)), 1);
    p.set_sample_rate(192_000.0);
    p.set_sample_rate(44_100.0);
    p.set_channels(1);
    p.set_channels(2);
    for (k, (lc, rc)) in l.chunks_mut(512).zip(r.chunks_mut(512)).enumerate() {
        let s = Settings {
            ceiling_db: -((k % 12) as f32),
            release_ms: 1.0 + (k % 50) as f32 * 20.0,
            lookahead_ms: 0.1 + (k % 7) as f32,
            oversampling: [1, 2, 4, 8, 16][k % 5],
            true_peak: k % 3 == 0,
            link: (k % 5) as f32 / 4.0,
            character: if k % 2 == 0 {
                Character::Transparent
            } else {
                Character::Aggressive
            },
            dither_bits: [None, Some(24), Some(20), Some(16)][k % 4],
            noise_shaping: k % 6 < 3,
            dc_filter: k % 4 < 2,
            unity: k % 8 < 5,
            bypass: k % 11 == 0,
            learn: k % 9 < 6,
            meter_output: k % 2 == 0,
        };
        p.configure(&s);
        p.process(&mut [lc, rc], &gi, &go);
        if k % 10 == 9 {
            p.reset();
            p.reset_learn();
            p.reset_output_measurement();
        }
    }
    WATCH.with(|w| w.set(false));
    assert_eq!(COUNT.with(|c| c.get()), 0, "allocations in the audio path");
    assert!(l.iter().chain(&r).all(|x| x.is_finite()));
}
