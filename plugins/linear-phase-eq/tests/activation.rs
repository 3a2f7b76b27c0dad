//! Reactivation: `build_reusing` (what the plugin's `activate` calls with the previous
//! designer's memory) must give exactly what a fresh `build` gives, whatever the previous
//! designer designed last and at whatever sample rate it ran.

use postmix_linear_phase_eq::engine::{
    BandSetting, EqSettings, Mode, Placement, Processor, build, build_reusing,
};
use shared_dsp::filter::{Band, BandType};
use shared_dsp::fir::Resolution;
use shared_dsp::signal::programme;

/// Settings with bands on left and right (cross kernels), mid and stereo.
fn busy(res: Resolution, gain_db: f64) -> EqSettings {
    let mut s = EqSettings {
        mode: Mode::Fir(res),
        ..EqSettings::default()
    };
    let bands = [
        (BandType::Bell, 120.0, Placement::Left),
        (BandType::HighShelf, 6000.0, Placement::Right),
        (BandType::LowShelf, 90.0, Placement::Mid),
        (BandType::Bell, 2500.0, Placement::Stereo),
    ];
    for (i, (kind, f, placement)) in bands.into_iter().enumerate() {
        s.bands[i] = BandSetting {
            band: Band::new(kind, f, gain_db, 1.5),
            placement,
        };
    }
    s
}

/// Output of `p` for one second of programme (stereo), in blocks of 512.
fn render(p: &mut Processor, fs: f64) -> Vec<f32> {
    let [mut l, r] = programme(fs, 1.0, 7);
    let mut r = r;
    for (a, b) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
        p.process(&mut [a, b]);
    }
    l.extend_from_slice(&r);
    l
}

#[test]
fn reusing_the_designer_gives_the_output_of_a_fresh_build() {
    let fs = 48_000.0;
    let a = busy(Resolution::Low, 6.0);
    let b = busy(Resolution::Low, -9.0);
    let c = busy(Resolution::Medium, -9.0);
    let fresh = |s: &EqSettings| {
        let (mut p, _) = build(fs, 512, s);
        render(&mut p, fs)
    };
    let (_, mut d) = build(fs, 512, &a);
    // Same settings (the design is reused), then new gains, then a new resolution, then back.
    for s in [a, b, c, a] {
        let (mut p, d2) = build_reusing(fs, 512, &s, Some(d.into_memory()));
        let got = render(&mut p, fs);
        let want = fresh(&s);
        assert!(
            got == want,
            "reused build differs from a fresh one for {:?}",
            s.mode
        );
        assert!(got.iter().any(|&x| x != 0.0));
        d = d2;
    }
    // Memory from another sample rate is not used for its plans or its design.
    let (_, d44) = build(44_100.0, 512, &a);
    let (mut p, _) = build_reusing(fs, 512, &a, Some(d44.into_memory()));
    assert!(
        render(&mut p, fs) == fresh(&a),
        "memory of 44.1 kHz leaked into 48 kHz"
    );
}
