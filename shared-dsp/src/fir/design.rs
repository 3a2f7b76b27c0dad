//! Linear-phase FIR design by dense frequency sampling and windowing.
//!
//! The target magnitude is sampled on a grid [`GRID_OVERSAMPLE`] times denser than the kernel
//! (in bins: the inverse-FFT size is at least `GRID_OVERSAMPLE * taps`), turned into its
//! zero-phase impulse response by one real inverse FFT, truncated to `taps` around the centre and
//! shaped by a window ([`DEFAULT_WINDOW`]). The kernel is built from one half and mirrored, so it is exactly
//! symmetric (type I, odd length) and its group delay is exactly `(taps - 1) / 2` at every
//! frequency.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

/// How many times denser than the kernel the target is sampled: the inverse FFT has at least
/// `GRID_OVERSAMPLE * taps` points.
///
/// NOTE: the dense grid keeps time-domain aliasing of the ideal (infinitely long) zero-phase
/// response small: its tail folds back from `±M/2` instead of from just beyond the kernel's ends.
/// 8 keeps that aliasing below the truncation error for every target we test, while the number
/// of target evaluations (`M/2 + 1`, e.g. 65 537 for the medium mode at 48 kHz) stays cheap.
pub const GRID_OVERSAMPLE: usize = 8;

/// Window applied to the truncated zero-phase response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// Kaiser window with shape `beta` (0 = rectangular truncation, the least-squares fit).
    Kaiser {
        /// Shape parameter (>= 0).
        beta: f64,
    },
    /// Tukey (tapered cosine) window: flat over the centre, raised-cosine taper over the outer
    /// `taper` fraction (0..=1) of each half (0 = rectangular, 1 = Hann).
    Tukey {
        /// Fraction of each half that is tapered.
        taper: f64,
    },
}

impl Window {
    /// Window value at distance `k` from the centre of a kernel with half-length `centre`.
    fn value(self, k: usize, centre: usize, i0_beta: f64) -> f64 {
        if centre == 0 {
            return 1.0;
        }
        // NOTE: normalised to centre + 1 so the outermost taps are not wasted on zeros.
        let r = k as f64 / (centre as f64 + 1.0);
        match self {
            Window::Kaiser { beta } => bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta,
            Window::Tukey { taper } => {
                let edge = 1.0 - taper;
                if r <= edge || taper <= 0.0 {
                    1.0
                } else {
                    0.5 + 0.5 * (std::f64::consts::PI * (r - edge) / taper).cos()
                }
            }
        }
    }
}

/// Window used by [`design_linear_phase`].
///
/// NOTE: chosen by measurement (`explore_windows` in the `fir_design` tests, worst error over
/// bells and shelves with Q 0.5..4, +-12 dB): every taper blurs narrow low-frequency features (a
/// taper is a shorter effective kernel), e.g. medium mode, Q 4 at 100 Hz: rectangular 0.020 dB,
/// Tukey 0.1 0.026 dB, Kaiser beta 2 0.214 dB, Kaiser beta 8 0.96 dB. The truncation ripple a
/// taper suppresses is tiny for the smooth curves of an EQ, so only a short taper is kept, so
/// that targets with sharp features (steep cuts) do not ring across the whole band.
pub const DEFAULT_WINDOW: Window = Window::Tukey { taper: 0.1 };

/// Smallest inverse-FFT size the scratch plans for.
const MIN_GRID: usize = 1024;

/// Resolution (kernel length) modes of the linear-phase EQ.
///
/// Kernel lengths scale with the sample rate so that the frequency resolution (in Hz) stays the
/// same: the latency in *seconds* is constant. At 48 kHz the kernel latencies are 3000, 6000,
/// 12 000 and 24 000 samples (62.5, 125, 250 and 500 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// 6001 taps at 48 kHz (latency 3000 samples, 62.5 ms).
    Low,
    /// 12 001 taps at 48 kHz (latency 6000 samples, 125 ms).
    Medium,
    /// 24 001 taps at 48 kHz (latency 12 000 samples, 250 ms).
    High,
    /// 48 001 taps at 48 kHz (latency 24 000 samples, 500 ms).
    Maximum,
}

impl Resolution {
    /// All modes, lowest first.
    pub const ALL: [Resolution; 4] = [Self::Low, Self::Medium, Self::High, Self::Maximum];

    /// Kernel latency at 48 kHz, in samples.
    const fn latency_48k(self) -> usize {
        match self {
            Self::Low => 3000,
            Self::Medium => 6000,
            Self::High => 12_000,
            Self::Maximum => 24_000,
        }
    }

    /// Kernel latency (group delay) in samples at sample rate `fs`: `(taps(fs) - 1) / 2`.
    pub fn latency(self, fs: f64) -> usize {
        ((self.latency_48k() as f64 * fs / 48_000.0).round() as usize).max(1)
    }

    /// Kernel length (odd) at sample rate `fs`.
    pub fn taps(self, fs: f64) -> usize {
        2 * self.latency(fs) + 1
    }
}

/// Preallocated buffers and FFT plans for [`design_linear_phase`].
///
/// Build it once (off the audio thread) with the longest kernel you will design; designing is
/// then allocation-free.
pub struct DesignScratch {
    /// Longest kernel this scratch can design.
    max_taps: usize,
    /// Inverse real FFTs, one per power-of-two grid size from `MIN_GRID` up to the largest.
    plans: Vec<Arc<dyn ComplexToReal<f64>>>,
    /// Sampled target spectrum (`M/2 + 1` bins of the largest grid).
    spectrum: Vec<Complex<f64>>,
    /// Zero-phase impulse response (largest grid).
    time: Vec<f64>,
    /// FFT scratch (largest plan's requirement).
    fft_scratch: Vec<Complex<f64>>,
}

impl std::fmt::Debug for DesignScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesignScratch")
            .field("max_taps", &self.max_taps)
            .field(
                "grid_sizes",
                &self.plans.iter().map(|p| p.len()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Inverse-FFT grid size used for a kernel of `taps` taps.
pub fn grid_size(taps: usize) -> usize {
    (GRID_OVERSAMPLE * taps).next_power_of_two().max(MIN_GRID)
}

impl DesignScratch {
    /// Plans every grid size up to the one needed for `max_taps` and allocates the buffers.
    pub fn new(max_taps: usize) -> Self {
        let max_grid = grid_size(max_taps);
        let mut planner = RealFftPlanner::<f64>::new();
        let mut plans = Vec::new();
        let mut m = MIN_GRID;
        let mut scratch_len = 0;
        while m <= max_grid {
            let p = planner.plan_fft_inverse(m);
            scratch_len = scratch_len.max(p.get_scratch_len());
            plans.push(p);
            m *= 2;
        }
        Self {
            max_taps,
            plans,
            spectrum: vec![Complex::new(0.0, 0.0); max_grid / 2 + 1],
            time: vec![0.0; max_grid],
            fft_scratch: vec![Complex::new(0.0, 0.0); scratch_len],
        }
    }

    /// Longest kernel this scratch can design.
    pub fn max_taps(&self) -> usize {
        self.max_taps
    }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges for all x).
fn bessel_i0(x: f64) -> f64 {
    let q = 0.25 * x * x;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    loop {
        term *= q / (k * k);
        sum += term;
        if term < sum * 1e-17 {
            return sum;
        }
        k += 1.0;
    }
}

/// Designs a linear-phase (type I, symmetric, odd length) FIR kernel whose magnitude follows
/// `target_mag_linear(frequency_hz)` for `0 <= f <= fs/2`.
///
/// `out[..taps]` receives the coefficients; the impulse response is centred on
/// `(taps - 1) / 2`, which is the kernel's latency. The target is sampled on a grid of
/// [`grid_size`]`(taps)` points, inverse-transformed to its zero-phase response, truncated and
/// shaped by [`DEFAULT_WINDOW`], then mirrored so the kernel is exactly
/// symmetric. The target must be finite and non-negative; non-finite values are treated as 0.
///
/// Allocation-free. Runs in O(M log M) with M = `grid_size(taps)` plus `M/2 + 1` target calls
/// (a few ms for the medium mode at 48 kHz); meant for a background thread.
///
/// # Panics
/// If `taps` is even, `out` is shorter than `taps`, or `taps` exceeds the scratch's `max_taps`.
pub fn design_linear_phase(
    target_mag_linear: impl Fn(f64) -> f64,
    taps: usize,
    fs: f64,
    out: &mut [f32],
    scratch: &mut DesignScratch,
) {
    design_linear_phase_windowed(target_mag_linear, taps, fs, DEFAULT_WINDOW, out, scratch);
}

/// [`design_linear_phase`] with an explicit window.
///
/// # Panics
/// As [`design_linear_phase`], and if the window parameter is negative or not finite.
pub fn design_linear_phase_windowed(
    target_mag_linear: impl Fn(f64) -> f64,
    taps: usize,
    fs: f64,
    window: Window,
    out: &mut [f32],
    scratch: &mut DesignScratch,
) {
    assert!(taps % 2 == 1, "kernel length must be odd, got {taps}");
    assert!(out.len() >= taps, "out holds {} < {taps} taps", out.len());
    let param = match window {
        Window::Kaiser { beta } => beta,
        Window::Tukey { taper } => taper,
    };
    assert!(
        param.is_finite() && param >= 0.0,
        "invalid window {window:?}"
    );
    let out = &mut out[..taps];
    assert!(
        taps <= scratch.max_taps,
        "kernel of {taps} taps exceeds DesignScratch max_taps {}",
        scratch.max_taps
    );
    let m = grid_size(taps);
    let plan = scratch
        .plans
        .iter()
        .find(|p| p.len() == m)
        .expect("grid sizes up to max_taps are planned");
    let bins = m / 2 + 1;
    let spectrum = &mut scratch.spectrum[..bins];
    let df = fs / m as f64;
    for (k, s) in spectrum.iter_mut().enumerate() {
        let g = target_mag_linear(k as f64 * df);
        let g = if g.is_finite() { g.max(0.0) } else { 0.0 };
        *s = Complex::new(g, 0.0);
    }
    let time = &mut scratch.time[..m];
    plan.process_with_scratch(spectrum, time, &mut scratch.fft_scratch)
        .expect("buffer sizes match the plan");
    // Zero-phase response: time[n] == time[m - n]; average the two halves so rounding in the FFT
    // cannot make the kernel asymmetric (it is mirrored below anyway).
    let centre = (taps - 1) / 2;
    let scale = 1.0 / m as f64;
    let i0_beta = match window {
        Window::Kaiser { beta } => bessel_i0(beta),
        Window::Tukey { .. } => 1.0,
    };
    for k in 0..=centre {
        let h = if k == 0 {
            time[0]
        } else {
            0.5 * (time[k] + time[m - k])
        };
        let w = window.value(k, centre, i0_beta);
        let v = (h * scale * w) as f32;
        out[centre + k] = v;
        out[centre - k] = v;
    }
}
