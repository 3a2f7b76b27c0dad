//! Linear-phase FIR design: weighted least squares of the relative error, or (explicit window)
//! dense frequency sampling and windowing.
//!
//! [`design_linear_phase`] fits an exactly symmetric (type I, odd length) kernel to the target
//! magnitude by weighted least squares on a dense grid ([`GRID_OVERSAMPLE`] times denser than the
//! kernel): the weight is `1 / target^2`, so the error minimised is the *relative* one (what a dB
//! bound measures), with full weight in the audio band and a small weight below 20 Hz
//! ([`DEFAULT_WLS`]). The normal equations are a Toeplitz system (the kernel's coefficients
//! convolved with the inverse DFT of the weight); they are solved by conjugate gradients with
//! FFT matrix-vector products and a circulant preconditioner (symbol `1 / weight`), starting
//! from the truncated zero-phase response. See [`design_linear_phase_wls`].
//!
//! [`design_linear_phase_windowed`] is the frequency-sampling design: the sampled target is
//! turned into its zero-phase impulse response by one real inverse FFT, truncated to `taps`
//! around the centre and shaped by a [`Window`].
//!
//! Both build the kernel from one half and mirror it, so it is exactly symmetric and its group
//! delay is exactly `(taps - 1) / 2` at every frequency.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// How many times denser than the kernel the target is sampled: the inverse FFT has at least
/// `GRID_OVERSAMPLE * taps` points.
///
/// NOTE: the dense grid keeps time-domain aliasing of the ideal (infinitely long) zero-phase
/// response small: its tail folds back from `±M/2` instead of from just beyond the kernel's ends,
/// and the least-squares fit is checked between the kernel's own frequency points. The
/// least-squares normal operator needs `M >= 2 * taps`. 4 changes the worst errors of the
/// accuracy tests by at most 0.006 dB against 8 (high, Q 4 +12 dB bell at 20 Hz: 0.069 against
/// 0.063 dB) and halves the scratch (maximum resolution at 192 kHz: 114 MB against 290 MB) and
/// the design time; the number of target evaluations (`M/2 + 1`, e.g. 32 769 for the medium mode
/// at 48 kHz) stays cheap.
pub const GRID_OVERSAMPLE: usize = 4;

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

/// Window of the frequency-sampling design (the previous default of [`design_linear_phase`],
/// still available through [`design_linear_phase_windowed`]).
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
/// same: the latency in *seconds* is constant. At 48 kHz the kernel latencies are 2048, 5120,
/// 23 552 and 48 128 samples (42.7, 106.7, 490.7 and 1002.7 ms).
///
/// NOTE: low and medium are chosen so that with the linear-phase EQ's 1024-sample convolver
/// partition the total latencies at 48 kHz are 3072 and 6144 samples, the figures mastering
/// engineers know from FabFilter Pro-Q's linear-phase modes. High (24 576 in total) is the
/// shortest of those steps that meets 0.1 dB for every bell and shelf with Q up to 4 from 20 Hz
/// (12 288 missed it by up to 0.85 dB); maximum doubles it again (49 152).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// 4097 taps at 48 kHz (latency 2048 samples, 42.7 ms).
    Low,
    /// 10 241 taps at 48 kHz (latency 5120 samples, 106.7 ms).
    Medium,
    /// 47 105 taps at 48 kHz (latency 23 552 samples, 490.7 ms).
    High,
    /// 96 257 taps at 48 kHz (latency 48 128 samples, 1002.7 ms).
    Maximum,
}

impl Resolution {
    /// All modes, lowest first.
    pub const ALL: [Resolution; 4] = [Self::Low, Self::Medium, Self::High, Self::Maximum];

    /// Kernel latency at 48 kHz, in samples.
    const fn latency_48k(self) -> usize {
        match self {
            Self::Low => 2048,
            Self::Medium => 5120,
            Self::High => 23_552,
            Self::Maximum => 48_128,
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
    /// Forward real FFTs, same sizes as `plans`.
    forward: Vec<Arc<dyn RealToComplex<f64>>>,
    /// Sampled target magnitude (`M/2 + 1` bins of the largest grid, linear gain).
    target: Vec<f64>,
    /// Least-squares weight per bin (`M/2 + 1` bins).
    weight: Vec<f64>,
    /// Spectrum of the normal-equation (Toeplitz) operator on the convolution grid (`L/2 + 1`).
    normal: Vec<f64>,
    /// Spectrum of the circulant preconditioner (symbol 1 / weight) on the convolution grid.
    precond: Vec<f64>,
    /// Conjugate-gradient vectors (half kernels, `max_taps / 2 + 1` each): x, r, p, q, b, z.
    cg: [Vec<f64>; 6],
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
        let mut forward = Vec::new();
        let mut m = MIN_GRID;
        let mut scratch_len = 0;
        while m <= max_grid {
            let p = planner.plan_fft_inverse(m);
            let f = planner.plan_fft_forward(m);
            scratch_len = scratch_len
                .max(p.get_scratch_len())
                .max(f.get_scratch_len());
            plans.push(p);
            forward.push(f);
            m *= 2;
        }
        let half = max_taps / 2 + 1;
        Self {
            max_taps,
            plans,
            forward,
            target: vec![0.0; max_grid / 2 + 1],
            weight: vec![0.0; max_grid / 2 + 1],
            normal: vec![0.0; max_grid / 2 + 1],
            precond: vec![0.0; max_grid / 2 + 1],
            cg: std::array::from_fn(|_| vec![0.0; half]),
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
/// [`grid_size`]`(taps)` points and fitted by [`design_linear_phase_wls`] with [`DEFAULT_WLS`]
/// (relative error, weighted least squares), then mirrored so the kernel is exactly symmetric.
/// The target must be finite and non-negative; non-finite values are treated as 0. A flat
/// target gives the delayed unit impulse. Returns what the fit reached on its grid (see
/// [`WlsReport`]; `audible_error_db` is the deviation worth showing a user).
///
/// Allocation-free. Runs in O(K M log M) with M = `grid_size(taps)` and K a few dozen
/// conjugate-gradient iterations, plus `M/2 + 1` target calls (measured at 48 kHz over Q 0.5..4
/// bells and shelves, `design_time_per_mode`, on a shared 2-core machine: mean 15 ms, worst
/// 26 ms for the medium mode; mean 59 ms, worst 77 ms for maximum); meant for a background
/// thread.
///
/// # Panics
/// If `taps` is even, `out` is shorter than `taps`, or `taps` exceeds the scratch's `max_taps`.
pub fn design_linear_phase(
    target_mag_linear: impl Fn(f64) -> f64,
    taps: usize,
    fs: f64,
    out: &mut [f32],
    scratch: &mut DesignScratch,
) -> WlsReport {
    design_linear_phase_wls(target_mag_linear, taps, fs, &DEFAULT_WLS, out, scratch)
}

/// Parameters used by [`design_linear_phase`]: one weighted least-squares solve of the relative
/// error, full weight from 20 Hz up to Nyquist, weight 0.1 below 20 Hz.
///
/// NOTE: chosen by measurement (`design_time_per_mode`, `explore_wls`, `explore_lawson_single`
/// in the `fir_design` tests, 48 kHz). Against the windowed design it lowers the worst error
/// over all Q <= 4 bells and shelves from 3.67 to 1.55 dB (medium, from 30 Hz), 1.03 to 0.71 dB
/// (high, from 20 Hz) and 0.072 to 0.058 dB (maximum, from 20 Hz). A lower outside weight buys
/// more in band (0.01: 1.45 / 0.21 / 0.022 dB) but lets the response below 20 Hz stray further
/// from the target (largest boost 5.0 dB in medium, 7.4 dB in low, against 2.5 and 3.2 dB at
/// 0.1). Lawson passes (`lawson_iterations`) cost 3-5x the time and were not robust across
/// targets (5 passes: 0.89 dB at 4.5 kHz for a Q 4 bell at 20 Hz in medium), so none are made.
///
/// At most 100 conjugate-gradient iterations: the bells, shelves and cuts of the accuracy tests
/// converge well before (their worst errors are the same to 0.1 mdB as with 500), while extreme
/// curves (24 bands, +-30 dB, Q up to 40, as hosts' parameter fuzzing makes) took up to 370
/// iterations: capping bounds their design time (maximum resolution, 44.1 kHz: worst 425 ms with
/// 500, 135 ms with 100; `explore_fuzz_design_time` in the `fir_design` tests).
pub const DEFAULT_WLS: WlsParams = WlsParams {
    care_lo_hz: 20.0,
    care_hi_hz: f64::INFINITY,
    outside_weight: 0.1,
    lawson_iterations: 0,
    lawson_exponent: 1.0,
    lawson_floor: 1e-3,
    cg_iterations: 100,
    cg_tolerance: 1e-6,
    envelope: true,
    precondition: true,
};

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

/// Parameters of [`design_linear_phase_wls`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WlsParams {
    /// Lower edge (Hz) of the band where the relative error has full weight.
    pub care_lo_hz: f64,
    /// Upper edge (Hz) of the band where the relative error has full weight.
    pub care_hi_hz: f64,
    /// Weight of the (squared) relative error outside the care band.
    pub outside_weight: f64,
    /// Lawson reweighting passes towards minimax (0: one weighted least-squares solve).
    pub lawson_iterations: usize,
    /// Exponent of the Lawson update (1: classic Lawson).
    pub lawson_exponent: f64,
    /// Smallest Lawson multiplier per pass, relative to the largest.
    pub lawson_floor: f64,
    /// Most conjugate-gradient iterations per solve.
    pub cg_iterations: usize,
    /// Relative residual at which a conjugate-gradient solve stops.
    pub cg_tolerance: f64,
    /// Whether the Lawson update follows the envelope of the error (linear between its local
    /// maxima) instead of the error itself.
    pub envelope: bool,
    /// Whether to precondition the conjugate gradients (circulant, symbol 1 / weight).
    pub precondition: bool,
}

/// What a [`design_linear_phase_wls`] run did and reached (on the design grid).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WlsReport {
    /// Conjugate-gradient iterations over all solves.
    pub cg_iterations: usize,
    /// Worst |error| (dB) in the care band, on the design grid.
    pub care_error_db: f64,
    /// Worst |error| (dB) below the care band, on the design grid.
    pub below_error_db: f64,
    /// Worst |error| (dB) in the care band where the target is within [`AUDIBLE_RANGE_DB`] of
    /// its peak (deep stop bands left out), on the design grid: how far from the curve an
    /// engineer hears the kernel.
    pub audible_error_db: f64,
    /// Frequency (Hz) of `audible_error_db`.
    pub audible_error_hz: f64,
}

/// Range below the target's peak over which [`WlsReport::audible_error_db`] is measured, dB.
pub const AUDIBLE_RANGE_DB: f64 = 40.0;

/// Puts the half kernel `x` (`x[0]` = centre) into `buf` as a circularly centred, even sequence.
fn spread_even(x: &[f64], buf: &mut [f64]) {
    let n = buf.len();
    buf.fill(0.0);
    buf[0] = x[0];
    for (k, &v) in x.iter().enumerate().skip(1) {
        buf[k] = v;
        buf[n - k] = v;
    }
}

/// Weighted inner product of two half kernels as full even sequences.
fn dot_even(a: &[f64], b: &[f64]) -> f64 {
    a[0] * b[0] + 2.0 * a[1..].iter().zip(&b[1..]).map(|(x, y)| x * y).sum::<f64>()
}

/// Weighted least-squares design of the relative error, optionally reweighted (Lawson) towards
/// minimax.
///
/// Minimises `sum_k w_k (A(f_k) - D(f_k))^2` over the grid of [`grid_size`]`(taps)` points, where
/// `A` is the kernel's zero-phase response, `D` the target and `w_k = band_k / max(D, floor)^2`
/// (`band_k` = 1 inside `care_lo_hz..=care_hi_hz`, `outside_weight` elsewhere; `floor` is 80 dB
/// below the target's peak so that deep cuts do not dominate). Each Lawson pass multiplies the
/// weights by the (enveloped) relative error normalised to its maximum, and solves again.
/// Returns what the run did and the error it reached on the grid.
///
/// Allocation-free, like [`design_linear_phase`].
///
/// # Panics
/// As [`design_linear_phase`].
pub fn design_linear_phase_wls(
    target_mag_linear: impl Fn(f64) -> f64,
    taps: usize,
    fs: f64,
    params: &WlsParams,
    out: &mut [f32],
    scratch: &mut DesignScratch,
) -> WlsReport {
    assert!(taps % 2 == 1, "kernel length must be odd, got {taps}");
    assert!(out.len() >= taps, "out holds {} < {taps} taps", out.len());
    assert!(
        taps <= scratch.max_taps,
        "kernel of {taps} taps exceeds DesignScratch max_taps {}",
        scratch.max_taps
    );
    let out = &mut out[..taps];
    let c = (taps - 1) / 2;
    let m = grid_size(taps);
    let l = (4 * c + 1).next_power_of_two().max(MIN_GRID);
    let plan_index = |n: usize| (n / MIN_GRID).trailing_zeros() as usize;
    let (inv_m, fwd_m) = (
        scratch.plans[plan_index(m)].clone(),
        scratch.forward[plan_index(m)].clone(),
    );
    let (inv_l, fwd_l) = (
        scratch.plans[plan_index(l)].clone(),
        scratch.forward[plan_index(l)].clone(),
    );
    let bins = m / 2 + 1;
    let df = fs / m as f64;
    let DesignScratch {
        spectrum,
        time,
        fft_scratch,
        target,
        weight,
        normal,
        precond,
        cg,
        ..
    } = scratch;
    let target = &mut target[..bins];
    let weight = &mut weight[..bins];
    let time_m = &mut time[..m];
    let mut dmax: f64 = 0.0;
    for (k, d) in target.iter_mut().enumerate() {
        let g = target_mag_linear(k as f64 * df);
        *d = if g.is_finite() { g.max(0.0) } else { 0.0 };
        dmax = dmax.max(*d);
    }
    let mut report = WlsReport::default();
    if dmax == 0.0 {
        out.fill(0.0);
        return report;
    }
    let floor = dmax * 1e-4;
    let in_care = |k: usize| {
        let f = k as f64 * df;
        f >= params.care_lo_hz && f <= params.care_hi_hz
    };
    for (k, (w, &d)) in weight.iter_mut().zip(target.iter()).enumerate() {
        let b = if in_care(k) {
            1.0
        } else {
            params.outside_weight
        };
        *w = b / (d.max(floor) * d.max(floor));
    }
    let [x, r, p, q, b, z] = cg;
    let (x, r, p, q, b, z) = (
        &mut x[..=c],
        &mut r[..=c],
        &mut p[..=c],
        &mut q[..=c],
        &mut b[..=c],
        &mut z[..=c],
    );
    // Initial guess: the truncated zero-phase response (unweighted least squares).
    for (s, &d) in spectrum[..bins].iter_mut().zip(target.iter()) {
        *s = Complex::new(d, 0.0);
    }
    inv_m
        .process_with_scratch(&mut spectrum[..bins], time_m, fft_scratch)
        .expect("buffer sizes match the plan");
    let scale = 1.0 / m as f64;
    x[0] = time_m[0] * scale;
    for k in 1..=c {
        x[k] = 0.5 * (time_m[k] + time_m[m - k]) * scale;
    }
    // Zero-phase response of the half kernel `x` on the design grid, into spectrum[..bins].re.
    let response = |x: &[f64],
                    spectrum: &mut [Complex<f64>],
                    time_m: &mut [f64],
                    fft_scratch: &mut [Complex<f64>]| {
        spread_even(x, time_m);
        fwd_m
            .process_with_scratch(time_m, &mut spectrum[..bins], fft_scratch)
            .expect("buffer sizes match the plan");
    };
    for pass in 0..=params.lawson_iterations {
        if pass > 0 {
            response(x, spectrum, time_m, fft_scratch);
            let mut emax: f64 = 0.0;
            for k in 0..bins {
                let b = if in_care(k) {
                    1.0
                } else {
                    params.outside_weight
                };
                let e = b.sqrt() * (spectrum[k].re - target[k]).abs() / target[k].max(floor);
                spectrum[k].im = e;
                emax = emax.max(e);
            }
            if params.envelope {
                // Envelope of the error: linear between its local maxima (into .re).
                let mut prev: Option<usize> = None;
                for k in 0..bins {
                    let e = spectrum[k].im;
                    let is_max = (k == 0 || e >= spectrum[k - 1].im)
                        && (k + 1 == bins || e >= spectrum[k + 1].im);
                    if is_max {
                        match prev {
                            None => {
                                for s in &mut spectrum[..=k] {
                                    s.re = e;
                                }
                            }
                            Some(j) => {
                                let ej = spectrum[j].im;
                                let span = (k - j).max(1) as f64;
                                for (i, s) in spectrum[j..=k].iter_mut().enumerate() {
                                    s.re = ej + (i as f64 / span) * (e - ej);
                                }
                            }
                        }
                        prev = Some(k);
                    }
                }
                if let Some(j) = prev {
                    let ej = spectrum[j].im;
                    for s in &mut spectrum[j..bins] {
                        s.re = ej;
                    }
                }
            } else {
                for s in &mut spectrum[..bins] {
                    s.re = s.im;
                }
            }
            if emax > 0.0 {
                for k in 0..bins {
                    let mul = (spectrum[k].re / emax).max(params.lawson_floor);
                    weight[k] *= mul.powf(params.lawson_exponent);
                }
            }
        }
        // Normal operator: R = IDFT(weight), embedded in a circular convolution of length l.
        for (s, &w) in spectrum[..bins].iter_mut().zip(weight.iter()) {
            *s = Complex::new(w, 0.0);
        }
        inv_m
            .process_with_scratch(&mut spectrum[..bins], time_m, fft_scratch)
            .expect("buffer sizes match the plan");
        time_m.copy_within(m - 2 * c..m, l - 2 * c);
        time_m[2 * c + 1..l - 2 * c].fill(0.0);
        fwd_l
            .process_with_scratch(&mut time_m[..l], &mut spectrum[..l / 2 + 1], fft_scratch)
            .expect("buffer sizes match the plan");
        let norm = 1.0 / (m as f64 * l as f64);
        for (nk, s) in normal[..l / 2 + 1].iter_mut().zip(spectrum.iter()) {
            *nk = s.re * norm;
        }
        // Preconditioner: the same construction with 1 / weight (a Toeplitz matrix's inverse is
        // close to the Toeplitz matrix of the inverse symbol), cut to lags below l / 2.
        for (s, &w) in spectrum[..bins].iter_mut().zip(weight.iter()) {
            *s = Complex::new(1.0 / w, 0.0);
        }
        inv_m
            .process_with_scratch(&mut spectrum[..bins], time_m, fft_scratch)
            .expect("buffer sizes match the plan");
        let half_l = l / 2;
        time_m.copy_within(m - half_l + 1..m, half_l + 1);
        time_m[half_l] = 0.0;
        fwd_l
            .process_with_scratch(&mut time_m[..l], &mut spectrum[..l / 2 + 1], fft_scratch)
            .expect("buffer sizes match the plan");
        for (nk, s) in precond[..l / 2 + 1].iter_mut().zip(spectrum.iter()) {
            *nk = if params.precondition {
                s.re.abs() * norm
            } else {
                1.0 / l as f64
            };
        }
        // Right-hand side: IDFT(weight * target).
        for ((s, &w), &d) in spectrum[..bins]
            .iter_mut()
            .zip(weight.iter())
            .zip(target.iter())
        {
            *s = Complex::new(w * d, 0.0);
        }
        inv_m
            .process_with_scratch(&mut spectrum[..bins], time_m, fft_scratch)
            .expect("buffer sizes match the plan");
        b[0] = time_m[0] * scale;
        for k in 1..=c {
            b[k] = 0.5 * (time_m[k] + time_m[m - k]) * scale;
        }
        // Conjugate gradients on G x = b, G = restriction of the convolution with R.
        let mut apply = |v: &[f64],
                         outv: &mut [f64],
                         sym: &[f64],
                         spectrum: &mut [Complex<f64>],
                         buf: &mut [f64]| {
            let buf = &mut buf[..l];
            spread_even(v, buf);
            fwd_l
                .process_with_scratch(buf, &mut spectrum[..l / 2 + 1], fft_scratch)
                .expect("buffer sizes match the plan");
            for (s, &g) in spectrum[..l / 2 + 1].iter_mut().zip(sym.iter()) {
                *s = Complex::new(s.re * g, 0.0);
            }
            inv_l
                .process_with_scratch(&mut spectrum[..l / 2 + 1], buf, fft_scratch)
                .expect("buffer sizes match the plan");
            outv[0] = buf[0];
            for k in 1..v.len() {
                outv[k] = 0.5 * (buf[k] + buf[l - k]);
            }
        };
        // Preconditioned conjugate gradients.
        let bb = dot_even(b, b);
        apply(x, q, normal, spectrum, time_m);
        for k in 0..=c {
            r[k] = b[k] - q[k];
        }
        apply(r, z, precond, spectrum, time_m);
        p.copy_from_slice(z);
        let mut rz = dot_even(r, z);
        let tol2 = params.cg_tolerance * params.cg_tolerance * bb;
        for _ in 0..params.cg_iterations {
            if dot_even(r, r) <= tol2 {
                break;
            }
            apply(p, q, normal, spectrum, time_m);
            report.cg_iterations += 1;
            let pq = dot_even(p, q);
            if pq <= 0.0 {
                break;
            }
            let alpha = rz / pq;
            for k in 0..=c {
                x[k] += alpha * p[k];
                r[k] -= alpha * q[k];
            }
            apply(r, z, precond, spectrum, time_m);
            let rz_new = dot_even(r, z);
            let beta = rz_new / rz;
            rz = rz_new;
            for k in 0..=c {
                p[k] = z[k] + beta * p[k];
            }
        }
    }
    response(x, spectrum, time_m, fft_scratch);
    let audible_floor = dmax * 10f64.powf(-AUDIBLE_RANGE_DB / 20.0);
    for k in 0..bins {
        let e = (20.0 * (spectrum[k].re.abs().max(1e-30) / target[k].max(floor)).log10()).abs();
        if in_care(k) {
            report.care_error_db = report.care_error_db.max(e);
            if target[k] >= audible_floor && e > report.audible_error_db {
                report.audible_error_db = e;
                report.audible_error_hz = k as f64 * df;
            }
        } else if (k as f64 * df) < params.care_lo_hz {
            report.below_error_db = report.below_error_db.max(e);
        }
    }
    out[c] = x[0] as f32;
    for k in 1..=c {
        out[c + k] = x[k] as f32;
        out[c - k] = x[k] as f32;
    }
    report
}
