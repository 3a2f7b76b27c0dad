//! Partitioned FFT convolver against direct time-domain convolution, latency, block-size
//! invariance, kernel swaps.

use shared_dsp::fir::{DesignScratch, PartitionedConvolver, Resolution, design_linear_phase};
use shared_dsp::signal::{Rng, programme, sine};

/// Direct convolution in f64: the oracle.
fn direct(x: &[f32], h: &[f32]) -> Vec<f64> {
    let mut y = vec![0.0f64; x.len()];
    for (n, yn) in y.iter_mut().enumerate() {
        let kmax = h.len().min(n + 1);
        let mut s = 0.0f64;
        for k in 0..kmax {
            s += h[k] as f64 * x[n - k] as f64;
        }
        *yn = s;
    }
    y
}

fn random_vec(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.bipolar() as f32).collect()
}

/// Runs `conv` over stereo `input`, cutting it into host blocks given by `sizes` (cycled).
fn run_blocks(
    conv: &mut PartitionedConvolver,
    input: &[Vec<f32>; 2],
    sizes: &[usize],
) -> [Vec<f32>; 2] {
    let mut out = input.clone();
    let len = out[0].len();
    let (l, r) = out.split_at_mut(1);
    let (l, r) = (&mut l[0], &mut r[0]);
    let mut pos = 0;
    let mut i = 0;
    while pos < len {
        let n = sizes[i % sizes.len()].min(len - pos);
        conv.process(&mut [&mut l[pos..pos + n], &mut r[pos..pos + n]]);
        pos += n;
        i += 1;
    }
    out
}

/// Max |a - b| over the overlap after shifting `b` (the oracle) by `delay`, relative to max |b|.
fn rel_error(out: &[f32], oracle: &[f64], delay: usize) -> f64 {
    let peak = oracle.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut err = 0.0f64;
    for (n, &o) in out.iter().enumerate() {
        let want = if n >= delay { oracle[n - delay] } else { 0.0 };
        err = err.max((o as f64 - want).abs());
    }
    err / peak
}

#[test]
fn convolver_matches_direct_convolution_at_any_block_size() {
    let mut rng = Rng::new(11);
    let len = 12_000;
    let input = [random_vec(&mut rng, len), random_vec(&mut rng, len)];
    let mut random_sizes: Vec<usize> = (0..64).map(|_| rng.range(1, 700)).collect();
    random_sizes.push(1);
    for &(taps, partition) in &[
        (1usize, 64usize),
        (100, 64),
        (513, 64),
        (3001, 512),
        (5000, 256),
        (4097, 1024),
    ] {
        let h = random_vec(&mut rng, taps);
        let oracle = [direct(&input[0], &h), direct(&input[1], &h)];
        for sizes in [&[1usize][..], &[17], &[64], &[512], &[4096], &random_sizes] {
            let mut conv = PartitionedConvolver::new(2, 6000, partition);
            conv.set_kernel(&h);
            let out = run_blocks(&mut conv, &input, sizes);
            for ch in 0..2 {
                let e = rel_error(&out[ch], &oracle[ch], conv.latency());
                assert!(
                    e < 1e-5,
                    "taps {taps} partition {partition} blocks {:?}: relative error {e:e}",
                    &sizes[..sizes.len().min(4)]
                );
            }
        }
    }
}

#[test]
fn output_is_identical_for_any_host_block_size() {
    let mut rng = Rng::new(5);
    let input = programme(48_000.0, 1.0, 3);
    let h = random_vec(&mut rng, 2000);
    let mut reference: Option<[Vec<f32>; 2]> = None;
    let random_sizes: Vec<usize> = (0..200).map(|_| rng.range(1, 1000)).collect();
    for sizes in [
        &[1usize][..],
        &[17],
        &[64],
        &[4096],
        &[48_000],
        &random_sizes,
    ] {
        let mut conv = PartitionedConvolver::new(2, 2000, 256);
        conv.set_kernel(&h);
        let out = run_blocks(&mut conv, &input, sizes);
        match &reference {
            None => reference = Some(out),
            Some(r) => assert!(
                out == *r,
                "block sizes {:?} differ",
                &sizes[..sizes.len().min(4)]
            ),
        }
    }
}

/// A designed linear-phase bell: the impulse response peaks at the kernel centre plus the
/// convolver's partition latency, for every resolution mode and several sample rates.
#[test]
fn impulse_peak_index_equals_reported_latency() {
    for fs in [44_100.0, 48_000.0, 96_000.0] {
        for res in [Resolution::Low, Resolution::Medium] {
            let taps = res.taps(fs);
            let mut scratch = DesignScratch::new(taps);
            let mut h = vec![0.0f32; taps];
            // +6 dB bell at 1 kHz, Q 1 (RBJ analog prototype magnitude).
            let a: f64 = 10f64.powf(6.0 / 40.0);
            let bell = |f: f64| {
                let w = f / 1000.0;
                (1.0 - w * w).hypot(w * a) / (1.0 - w * w).hypot(w / a)
            };
            design_linear_phase(bell, taps, fs, &mut h, &mut scratch);
            let mut conv = PartitionedConvolver::new(1, taps, 512);
            conv.set_kernel(&h);
            let total = conv.total_latency(res.latency(fs));
            let mut x = vec![0.0f32; total + 2000];
            x[0] = 1.0;
            for chunk in x.chunks_mut(37) {
                conv.process(&mut [chunk]);
            }
            let peak = x
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .unwrap()
                .0;
            assert_eq!(peak, total, "{res:?} at {fs} Hz");
            assert_eq!(total, (taps - 1) / 2 + 512);
        }
    }
}

#[test]
fn identity_kernel_is_transparent() {
    let fs = 48_000.0;
    let taps = Resolution::Medium.taps(fs);
    let mut h = vec![0.0f32; taps];
    h[(taps - 1) / 2] = 1.0;
    let mut conv = PartitionedConvolver::new(2, taps, 512);
    conv.set_kernel(&h);
    let input = programme(fs, 2.0, 9);
    let out = run_blocks(&mut conv, &input, &[64, 1, 1000, 333]);
    let d = conv.total_latency((taps - 1) / 2);
    for ch in 0..2 {
        let mut err = 0.0f32;
        for n in 0..out[ch].len() {
            let want = if n >= d { input[ch][n - d] } else { 0.0 };
            err = err.max((out[ch][n] - want).abs());
        }
        assert!(err < 1e-6, "channel {ch}: max error {err:e}");
    }
}

/// Swapping between two quite different kernels during a sine: the output never jumps by more
/// than the larger of the two steady-state outputs' sample-to-sample steps plus the raised-cosine
/// crossfade's own slope (pi/2 * |difference| / B per sample), and stays finite.
#[test]
fn kernel_swap_crossfades_without_click() {
    let fs = 48_000.0;
    let b = 512;
    let taps = 1001;
    // Kernel A: unity at the centre. Kernel B: -0.5 at the centre (polarity flip and -6 dB, the
    // worst case for a hard switch).
    let mut ha = vec![0.0f32; taps];
    ha[500] = 1.0;
    let mut hb = vec![0.0f32; taps];
    hb[500] = -0.5;
    let x = sine(100.0, 0.9, 0.0, fs, 48_000); // starts at 0: no step at the start
    let mut conv = PartitionedConvolver::new(1, taps, b);
    conv.set_kernel(&ha);
    let mut spectrum = conv.new_kernel_spectrum();
    // Prepare B on another thread, as the EQ will.
    let handle = std::thread::spawn(move || {
        spectrum.prepare(&hb);
        spectrum
    });
    let mut spectrum = handle.join().unwrap();
    let mut y = x.clone();
    let swap_at = 20_000 + 13; // mid-block, odd position
    let (first, second) = y.split_at_mut(swap_at);
    for c in first.chunks_mut(64) {
        conv.process(&mut [c]);
    }
    conv.swap_kernel(&mut spectrum);
    for c in second.chunks_mut(64) {
        conv.process(&mut [c]);
    }
    assert!(y.iter().all(|v| v.is_finite()));
    // Steady-state sine step: 2 pi f / fs * amplitude (times 1 for A).
    let sine_step = 2.0 * std::f32::consts::PI * 100.0 / fs as f32 * 0.9;
    let fade_step = std::f32::consts::FRAC_PI_2 * 1.5 * 0.9 / b as f32;
    let bound = sine_step + fade_step + 1e-5;
    let (at, max_jump) = y
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .enumerate()
        .fold((0, 0.0f32), |m, (i, j)| if j > m.1 { (i, j) } else { m });
    assert!(max_jump <= bound, "jump {max_jump} at {at} > bound {bound}");
    // After the crossfade the output is exactly kernel B's: -0.5 x delayed.
    let d = conv.total_latency(500);
    for n in 30_000..48_000 {
        assert!((y[n] + 0.5 * x[n - d]).abs() < 1e-6, "n {n}");
    }
    // Before the swap it is kernel A's.
    for n in d..swap_at {
        assert!((y[n] - x[n - d]).abs() < 1e-6, "n {n}");
    }
}

#[test]
fn non_finite_input_gives_finite_output() {
    let mut conv = PartitionedConvolver::new(2, 3000, 256);
    let mut rng = Rng::new(2);
    conv.set_kernel(&random_vec(&mut rng, 3000));
    let mut l: Vec<f32> = random_vec(&mut rng, 5000);
    let mut r = l.clone();
    l[100] = f32::NAN;
    r[2000] = f32::INFINITY;
    l[3000] = f32::NEG_INFINITY;
    conv.process(&mut [&mut l[..], &mut r[..]]);
    let mut tail_l = vec![0.0f32; 6000];
    let mut tail_r = vec![0.0f32; 6000];
    conv.process(&mut [&mut tail_l[..], &mut tail_r[..]]);
    assert!(
        l.iter()
            .chain(&r)
            .chain(&tail_l)
            .chain(&tail_r)
            .all(|v| v.is_finite())
    );
}

#[test]
fn reset_clears_state_and_keeps_kernel() {
    let mut conv = PartitionedConvolver::new(1, 100, 64);
    let mut h = vec![0.0f32; 100];
    h[10] = 2.0;
    conv.set_kernel(&h);
    let mut x = vec![1.0f32; 1000];
    conv.process(&mut [&mut x[..]]);
    conv.reset();
    let mut z = vec![0.0f32; 1000];
    conv.process(&mut [&mut z[..]]);
    assert!(
        z.iter().all(|&v| v == 0.0),
        "reset left audio in the delay line"
    );
    let mut imp = vec![0.0f32; 200];
    imp[0] = 1.0;
    conv.process(&mut [&mut imp[..]]);
    assert!((imp[64 + 10] - 2.0).abs() < 1e-6, "{}", imp[64 + 10]);
}
