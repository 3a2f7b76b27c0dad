//! The polyphase IIR half-band 2x resampler and the saturator built on it: passband flatness of
//! the round trip, stopband attenuation of both directions (measured on the f32 kernels, and on
//! the analytic response of the designed coefficients), the f32 noise floor, block-size
//! invariance, non-finite input, and no allocation while processing.
//!
//! Method: coherent sampling. Tones sit on whole cycles of a one-second window (integer Hz at
//! an integer sample rate), so correlating with a sine/cosine pair at the tone's frequency
//! measures its amplitude exactly, and after a one-second warm-up the IIR transient is gone
//! (the slowest pole, 0.972 at the low rate, decays by 1e-12 within 1000 samples).

use shared_dsp::oversampling::polyphase_iir::{
    COEFS, HalfbandIir2x, NUM_COEFS, ROUND_TRIP_DELAY_DC, ROUND_TRIP_LATENCY, TRANSITION,
    attenuation_db, design, response, round_trip_delay_dc,
};
use shared_dsp::saturation::{Character, Saturator};
use shared_dsp::testing::{Counting, allocations_in};
use std::f64::consts::PI;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Amplitude of the component at `f` (cycles per sample) in `x` (whole cycles assumed).
fn amplitude(x: &[f32], f: f64) -> f64 {
    let (mut c, mut s) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let ph = 2.0 * PI * f * i as f64;
        c += v as f64 * ph.cos();
        s += v as f64 * ph.sin();
    }
    2.0 * (c * c + s * s).sqrt() / x.len() as f64
}

fn tone(fs: usize, f: f64, amp: f64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (2.0 * PI * f * i as f64 / fs as f64).sin()) as f32)
        .collect()
}

/// Up, identity, down, stereo (the same tone in both channels), in blocks of `block`.
fn round_trip(x: &[f32], block: usize) -> [Vec<f32>; 2] {
    let mut hb = HalfbandIir2x::new(2);
    let (mut a, mut b) = (x.to_vec(), x.to_vec());
    let (mut ua, mut ub) = (vec![0.0f32; 2 * block], vec![0.0f32; 2 * block]);
    for (ca, cb) in a.chunks_mut(block).zip(b.chunks_mut(block)) {
        let n = ca.len();
        hb.upsample(0, ca, cb, &mut ua[..2 * n], &mut ub[..2 * n]);
        hb.downsample(0, &ua[..2 * n], &ub[..2 * n], ca, cb);
    }
    [a, b]
}

#[test]
fn designed_attenuation_is_106_db_and_the_coefficients_are_the_design() {
    // Closed form of the elliptic half-band (HIIR's compute_atten): 106.4 dB for 10 coefficients
    // with the passband edge at 20 kHz / 44.1 kHz.
    let a = attenuation_db(NUM_COEFS, TRANSITION);
    assert!((a - 106.4).abs() < 0.1, "{a}");
    let d = design(NUM_COEFS, TRANSITION);
    assert!(d.iter().zip(COEFS).all(|(x, y)| (x - y).abs() < 1e-14));
    // Analytic response: equiripple stopband at -a dB, passband within 1e-9 dB.
    let mut stop = 0.0f64;
    let mut pass = 0.0f64;
    for i in 0..=5000 {
        let t = i as f64 / 5000.0;
        let (re, im) = response(
            &COEFS,
            (0.25 + TRANSITION + (0.25 - TRANSITION) * t).min(0.49999),
        );
        stop = stop.max((re * re + im * im).sqrt());
        let (re, im) = response(&COEFS, (0.25 - TRANSITION) * t);
        pass = pass.max((20.0 * (re * re + im * im).sqrt().log10()).abs());
    }
    let stop_db = 20.0 * stop.log10();
    println!("analytic: stopband {stop_db:.1} dB, passband deviation {pass:.2e} dB");
    assert!(stop_db < -106.0, "{stop_db}");
    assert!(pass < 1e-9, "{pass}");
    assert!((round_trip_delay_dc(&COEFS) - ROUND_TRIP_DELAY_DC).abs() < 1e-12);
}

#[test]
fn round_trip_is_flat_within_0_05_db_to_20k_and_its_noise_is_below_minus_120_db() {
    for fs in [44_100usize, 48_000] {
        let mut worst_gain = 0.0f64;
        let mut worst_noise = -400.0f64;
        for f in [
            20.0, 100.0, 1000.0, 5000.0, 10_000.0, 15_000.0, 18_000.0, 20_000.0,
        ] {
            let amp = 0.5;
            let x = tone(fs, f, amp, 2 * fs);
            let [a, b] = round_trip(&x, 256);
            assert_eq!(a, b, "channels differ");
            let y = &a[fs..];
            let g = amplitude(y, f / fs as f64);
            let db = 20.0 * (g / amp).log10();
            worst_gain = worst_gain.max(db.abs());
            // Residual after removing the tone (least squares on the same cos/sin pair).
            let (mut c, mut s) = (0.0, 0.0);
            for (i, &v) in y.iter().enumerate() {
                let ph = 2.0 * PI * f / fs as f64 * i as f64;
                c += v as f64 * ph.cos();
                s += v as f64 * ph.sin();
            }
            let (c, s) = (2.0 * c / y.len() as f64, 2.0 * s / y.len() as f64);
            let res = (y
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ph = 2.0 * PI * f / fs as f64 * i as f64;
                    (v as f64 - c * ph.cos() - s * ph.sin()).powi(2)
                })
                .sum::<f64>()
                / y.len() as f64)
                .sqrt();
            // Relative to the tone's RMS.
            let noise = 20.0 * (res / (amp / 2f64.sqrt())).log10();
            worst_noise = worst_noise.max(noise);
        }
        println!(
            "{fs} Hz: round trip 20 Hz-20 kHz within {worst_gain:.2e} dB, residual {worst_noise:.1} dB"
        );
        assert!(worst_gain < 0.05, "{fs}: {worst_gain} dB");
        assert!(worst_noise < -120.0, "{fs}: {worst_noise} dB");
    }
}

#[test]
fn upsampler_images_and_downsampler_aliases_are_below_minus_100_db() {
    // Upsampling a tone at f (44.1 kHz) leaves an image at fs - f at the 2x rate (mirrored about
    // the old Nyquist frequency); for f <= 20 kHz it lies in the stopband (>= 24.1 kHz).
    let fs = 44_100usize;
    let mut worst_image = -400.0f64;
    for f in [1000.0, 10_000.0, 19_000.0, 20_000.0] {
        let x = tone(fs, f, 1.0, 2 * fs);
        let mut hb = HalfbandIir2x::new(2);
        let (mut ua, mut ub) = (vec![0.0f32; 4 * fs], vec![0.0f32; 4 * fs]);
        hb.upsample(0, &x, &x, &mut ua, &mut ub);
        let y = &ua[2 * fs..];
        let tone_amp = amplitude(y, f / (2 * fs) as f64);
        let image = amplitude(y, 0.5 - f / (2 * fs) as f64);
        worst_image = worst_image.max(20.0 * (image / tone_amp).log10());
    }
    // Downsampling a tone at F between fs - 20 kHz and fs (at the 2x rate 2 fs) aliases it to
    // fs - F (inside 0-20 kHz); the filter must have removed it first.
    let mut worst_alias = -400.0f64;
    for big_f in [24_100.0, 26_000.0, 35_000.0, 43_000.0] {
        let norm = big_f / (2 * fs) as f64; // cycles per 2x-rate sample
        let x: Vec<f32> = (0..4 * fs)
            .map(|i| (2.0 * PI * norm * i as f64).sin() as f32)
            .collect();
        let mut hb = HalfbandIir2x::new(2);
        let (mut a, mut b) = (vec![0.0f32; 2 * fs], vec![0.0f32; 2 * fs]);
        hb.downsample(0, &x, &x, &mut a, &mut b);
        let alias = amplitude(&a[fs..], 1.0 - 2.0 * norm);
        worst_alias = worst_alias.max(20.0 * alias.log10());
    }
    println!("upsampler image {worst_image:.1} dB, downsampler alias {worst_alias:.1} dB");
    assert!(worst_image < -100.0, "{worst_image}");
    assert!(worst_alias < -100.0, "{worst_alias}");
}

fn saturate(channels: usize, block: usize, x: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut sat = Saturator::new(channels, 64, 2);
    sat.set_sample_rate(48_000.0);
    // Both glide from the first sample (a setter lands at a block start, so a change in the
    // middle would land at different samples for different splits).
    sat.set_drive_db(18.0);
    sat.set_character(Character::Tube);
    let mut y: Vec<Vec<f32>> = x.to_vec();
    let mut start = 0;
    let n = x[0].len();
    while start < n {
        let len = block.min(n - start);
        let mut bufs: Vec<&mut [f32]> = y.iter_mut().map(|c| &mut c[start..start + len]).collect();
        sat.process(&mut bufs);
        start += len;
    }
    y
}

#[test]
fn saturator_output_does_not_depend_on_the_block_split() {
    for channels in [1usize, 2, 3] {
        let x: Vec<Vec<f32>> = (0..channels)
            .map(|c| tone(48_000, 997.0 + 311.0 * c as f64, 0.9, 9000))
            .collect();
        let reference = saturate(channels, 4096, &x);
        for block in [1usize, 17, 64] {
            assert!(
                saturate(channels, block, &x) == reference,
                "{channels} channels, block {block}"
            );
        }
    }
}

#[test]
fn non_finite_input_is_zeroed_and_state_recovers() {
    let mut hb = HalfbandIir2x::new(2);
    let mut a = vec![0.1f32; 64];
    let mut b = vec![0.1f32; 64];
    a[3] = f32::NAN;
    b[7] = f32::INFINITY;
    a[9] = f32::NEG_INFINITY;
    let (mut ua, mut ub) = (vec![0.0f32; 128], vec![0.0f32; 128]);
    hb.upsample(0, &a, &b, &mut ua, &mut ub);
    assert!(ua.iter().chain(&ub).all(|v| v.is_finite()));
    ua[5] = f32::NAN;
    ub[6] = f32::INFINITY;
    hb.downsample(0, &ua, &ub, &mut a, &mut b);
    assert!(a.iter().chain(&b).all(|v| v.is_finite()));
}

/// Delay (samples) of a tone at `f` Hz (48 kHz) through `y` (the tone was `sin(w n)`).
fn tone_delay(y: &[f32], f: f64) -> f64 {
    let w = 2.0 * PI * f / 48_000.0;
    let (mut c, mut s) = (0.0, 0.0);
    for (i, &v) in y.iter().enumerate() {
        c += v as f64 * (w * i as f64).cos();
        s += v as f64 * (w * i as f64).sin();
    }
    // y = sin(w (n - d)) = sin(w n) cos(w d) - cos(w n) sin(w d).
    (-c).atan2(s) / w
}

#[test]
fn round_trip_impulse_peaks_at_the_reported_latency() {
    let mut x = vec![0.0f32; 256];
    x[100] = 1.0;
    let [a, _] = round_trip(&x, 64);
    let peak = a
        .iter()
        .enumerate()
        .max_by(|p, q| p.1.abs().total_cmp(&q.1.abs()))
        .unwrap()
        .0;
    assert_eq!(peak, 100 + ROUND_TRIP_LATENCY);
    let sat = Saturator::new(2, 64, 2);
    assert_eq!(sat.latency(), ROUND_TRIP_LATENCY);
}

#[test]
fn low_frequency_delay_is_the_designed_group_delay() {
    // The half-band round trip delays a 100 Hz tone by its DC group delay (3.44 samples).
    let x = tone(48_000, 100.0, 0.5, 96_000);
    let [a, _] = round_trip(&x, 64);
    let d_iir = tone_delay(&a[48_000..], 100.0);
    // Through the saturator (small signal: linear) at 1 kHz; the 2 Hz DC blocker leads by
    // atan(2 / 1000) = 0.002 rad = 0.015 sample there.
    let mut sat = Saturator::new(1, 64, 2);
    sat.set_sample_rate(48_000.0);
    sat.reset();
    let mut x = tone(48_000, 1000.0, 1e-3, 96_000);
    for c in x.chunks_mut(64) {
        sat.process(&mut [c]);
    }
    let d_sat = tone_delay(&x[48_000..], 1000.0);
    println!(
        "delay: half-band round trip at 100 Hz {d_iir:.3}, saturator at 1 kHz {d_sat:.3} samples; latency() {}",
        sat.latency()
    );
    assert!((d_iir - ROUND_TRIP_DELAY_DC).abs() < 0.01, "{d_iir}");
    // Group delay at 1 kHz (3.443, from the sections' responses) minus the blocker's lead.
    assert!((d_sat - (3.443 - 0.015)).abs() < 0.02, "{d_sat}");
}

#[test]
fn processing_never_allocates() {
    let mut sat = Saturator::new(3, 64, 2);
    let mut hb = HalfbandIir2x::new(2);
    let mut x = vec![vec![0.3f32; 1000]; 3];
    let (mut ua, mut ub) = (vec![0.0f32; 2000], vec![0.0f32; 2000]);
    let n = allocations_in(|| {
        sat.set_sample_rate(44_100.0);
        sat.set_drive_db(12.0);
        sat.reset();
        let [a, b, c] = &mut x[..] else {
            unreachable!()
        };
        sat.process(&mut [a, b, c]);
        sat.process_stereo(a, b);
        hb.upsample(0, a, b, &mut ua, &mut ub);
        hb.downsample(0, &ua, &ub, a, b);
        hb.reset();
    });
    assert_eq!(n, 0);
}
