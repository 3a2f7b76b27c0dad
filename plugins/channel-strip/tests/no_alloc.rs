//! The audio path never allocates after construction: a counting global allocator watches every
//! `Strip` call (all sections in, settings changing every sub-block, sidechain key, bypass
//! fades, routing changes, sample-rate changes).

use postmix_channel_strip::strip::{
    AttackMode, EqShape, GateMode, HpfSlope, LpfSlope, Settings, Strip,
};
use shared_dsp::saturation::Character;
use shared_dsp::signal::programme;

use shared_dsp::testing::{COUNT, Counting, WATCH};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn process_reset_and_setting_changes_never_allocate() {
    let [mut l, mut r] = programme(48_000.0, 2.0, 21);
    let [k0, k1] = programme(48_000.0, 2.0, 22);
    let mut strip = Strip::new(512);
    let mut k = 0u32;
    WATCH.with(|w| w.set(true));
    // The counter itself works.
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(COUNT.with(|c| c.replace(0)), 1);
    strip.set_sample_rate(96_000.0);
    strip.set_sample_rate(48_000.0);
    strip.reset();
    for (block, (lc, rc)) in l.chunks_mut(509).zip(r.chunks_mut(509)).enumerate() {
        let start = block * 509;
        let key: [&[f32]; 2] = [&k0[start..start + lc.len()], &k1[start..start + lc.len()]];
        let mut audio = [lc, rc];
        strip.process(&mut audio, Some(&key), || {
            k += 1;
            let flip = |m: u32| (k / m).is_multiple_of(2);
            Settings {
                trim_db: (k % 13) as f32 - 6.0,
                invert_left: flip(17),
                filters_bypass: flip(40),
                hpf: if flip(5) {
                    HpfSlope::Db24
                } else {
                    HpfSlope::Db12
                },
                hpf_hz: 20.0 + (k % 50) as f32 * 9.0,
                lpf: if flip(7) {
                    LpfSlope::Db24
                } else {
                    LpfSlope::Off
                },
                lpf_hz: 3_000.0 + (k % 30) as f32 * 600.0,
                eq_bypass: flip(45),
                lf_shape: if flip(11) {
                    EqShape::Bell
                } else {
                    EqShape::Shelf
                },
                comp_bypass: flip(33),
                comp_threshold_db: -30.0 + (k % 20) as f32,
                comp_attack_mode: if flip(9) {
                    AttackMode::Auto
                } else {
                    AttackMode::Fast
                },
                comp_auto_makeup: flip(23),
                comp_mix: (k % 10) as f32 / 9.0,
                gate_bypass: flip(29),
                gate_mode: if flip(13) {
                    GateMode::Gate
                } else {
                    GateMode::Expander
                },
                gate_key_filter: flip(6),
                gate_external_key: flip(8),
                gate_listen: flip(50),
                sat_bypass: flip(37),
                sat_drive_db: (k % 24) as f32,
                sat_character: if flip(19) {
                    Character::Tube
                } else {
                    Character::Tape
                },
                dynamics_first: flip(31),
                eq_to_sidechain: flip(27),
                width: (k % 20) as f32 / 10.0,
                pan: ((k % 21) as f32 - 10.0) / 10.0,
                ..Settings::default()
            }
        });
        if block % 50 == 49 {
            strip.reset();
        }
    }
    WATCH.with(|w| w.set(false));
    assert_eq!(COUNT.with(|c| c.get()), 0, "allocations in the audio path");
    assert!(k > 100);
    assert!(l.iter().chain(&r).all(|v| v.is_finite()));
}
