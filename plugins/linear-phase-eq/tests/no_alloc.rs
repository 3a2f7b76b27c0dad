//! The audio half and the design half never allocate after `build`: a counting global allocator
//! watches every `Processor` and `Designer` call while settings, placements and modes change.

use postmix_linear_phase_eq::engine::{BandSetting, EqSettings, Mode, Placement, build};
use shared_dsp::filter::{Band, BandType};
use shared_dsp::fir::Resolution;
use shared_dsp::signal::programme;

use shared_dsp::testing::{COUNT, Counting, WATCH};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn process_and_design_never_allocate() {
    let fs = 48_000.0;
    let [mut l, mut r] = programme(fs, 3.0, 4);
    let mut s = EqSettings {
        mode: Mode::Fir(Resolution::Low),
        ..EqSettings::default()
    };
    let (mut p, mut d) = build(fs, 512, &s);
    let places = [
        Placement::Stereo,
        Placement::Left,
        Placement::Mid,
        Placement::Right,
        Placement::Side,
    ];
    WATCH.with(|w| w.set(true));
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(COUNT.with(|c| c.replace(0)), 1, "the counter works");
    for (k, (lc, rc)) in l.chunks_mut(512).zip(r.chunks_mut(512)).enumerate() {
        if k % 7 == 0 {
            let i = (k / 7) % 24;
            s.bands[i] = BandSetting {
                band: Band::new(BandType::Bell, 100.0 + 50.0 * k as f64, 6.0, 1.0),
                placement: places[k / 7 % places.len()],
            };
            s.auto_gain = k % 3 == 0;
            s.mode = match k / 7 % 9 {
                0 => Mode::ZeroLatency,
                4 => Mode::Fir(Resolution::Medium),
                _ => Mode::Fir(Resolution::Low),
            };
        }
        if p.set_settings(&s) {
            d.run();
        }
        p.process(&mut [lc, rc]);
        if k % 50 == 49 {
            p.reset();
        }
    }
    WATCH.with(|w| w.set(false));
    assert_eq!(
        COUNT.with(|c| c.get()),
        0,
        "allocations in process or design"
    );
    assert!(l.iter().chain(&r).all(|x| x.is_finite()));
}
