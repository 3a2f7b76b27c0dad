//! Minimum-phase digital sections magnitude-matched to the analog prototypes (no cramping).
//!
//! Method: after M. Vicanek, "Matched Second Order Digital Filters" (2016), with the numerator
//! fitted over the audio band instead of at three points.
//! - Poles: impulse invariance, `z = exp(s T)`: the digital poles sit exactly where the analog
//!   poles map, so resonances keep their frequency and bandwidth right up to Nyquist.
//!   Sections whose zeros are less damped than their poles (bell and shelf *cuts*) are designed
//!   as their inverse (the boost) and inverted, so a cut is the exact mirror of the boost and
//!   never relies on heavily damped poles, which impulse invariance maps badly.
//! - Zeros: the squared magnitude of a biquad is linear in three numerator parameters,
//!   `|H|^2 = (B0 p0 + B1 p1 + B2 p2) / (A0 p0 + A1 p1 + A2 p2)` with `p1 = sin^2(w/2)`,
//!   `p0 = 1 - p1`, `p2 = 4 p0 p1`, `A0 = (1+a1+a2)^2`, `A1 = (1-a1+a2)^2`, `A2 = -4 a2`.
//!   `B0` makes the DC gain exact; `B1, B2` minimise the largest relative error of `|H|^2`
//!   (about dB / 4.34) on 48 frequencies from well below the section up to 20.5 kHz
//!   ([`FIT_TOP_HZ`]; points above it, up to Nyquist, have a low weight and only keep the
//!   response bounded), by Lawson-reweighted least squares (a handful of 2x2 solves). The
//!   `B`s are then factored into the minimum-phase numerator (Vicanek eq. for `b0, b1, b2`).
//!   Sections with zeros at DC (high-pass, band-pass) or on the unit circle (notch) keep those
//!   zeros exactly and fit the remaining degrees of freedom.
//! - First-order sections (odd Butterworth orders): pole `exp(-w0)`, DC exact, `b0 - b1` fitted.
//! - Selection: for sections with left-half-plane zeros both orientations (H, and 1/H
//!   inverted) and, as a last resort, the prewarped bilinear transform are scored on the fit
//!   grid plus the angles of their poles and zeros (log error, so a spurious notch scores
//!   infinite); the best one is used.
//!
//! Cost: 15..25 us per second-order section in a release build on a loaded 2-core machine
//! (about 50 us for a 96 dB/oct cut), so it runs on the audio thread at block rate; `IirEq`
//! additionally limits redesigns to one per 2 ms per band while a parameter moves.
//!
//! Accuracy (impulse + FFT against the analog prototype, 20 Hz..20 kHz, `filter_response`
//! tests): bells within 0.5 dB at 44.1/48/96 kHz for +-18 dB, Q 0.3..8, f0 30 Hz..16 kHz
//! (worst 0.43 dB: 16 kHz, Q 0.7, 44.1 kHz); shelves and tilt within 0.5 dB for Q 0.3..2
//! (worst 0.37 dB). Known limit: resonant shelves (Q 4..8) with f0 above ~6 kHz at 44.1/48 kHz
//! miss by 2..16 dB around their resonance, which then sits close to or above Nyquist; a
//! brute-force search over the pole position showed that no single biquad gets within 0.5 dB
//! there. Cascaded Butterworth cuts at 44.1/48 kHz reach 1.2..1.5 dB (96 dB/oct, f0 >= 10 kHz,
//! points above -60 dB) because the per-section errors add up; very broad notches (Q 0.3) at
//! 16 kHz miss by up to 4.8 dB at 44.1 kHz.

use super::curve::{AnalogSection, MAX_SECTIONS, Prototype};
use biquad::Coefficients;
use realfft::num_complex::Complex64;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// The identity biquad.
pub const IDENTITY: Coefficients<f64> = Coefficients {
    a1: 0.0,
    a2: 0.0,
    b0: 1.0,
    b1: 0.0,
    b2: 0.0,
};

/// Most digital sections of one band (one per analog section).
pub const MAX_DIGITAL_SECTIONS: usize = MAX_SECTIONS;

/// Digital sections of one band.
#[derive(Debug, Clone, Copy)]
pub struct DigitalBand {
    /// Number of used sections (0 = identity).
    pub len: usize,
    /// Biquad coefficients (first-order sections have `a2 == b2 == 0`).
    pub sections: [Coefficients<f64>; MAX_DIGITAL_SECTIONS],
}

impl Default for DigitalBand {
    fn default() -> Self {
        Self {
            len: 0,
            sections: [IDENTITY; MAX_DIGITAL_SECTIONS],
        }
    }
}

impl DigitalBand {
    /// Designs the matched digital cascade of a prototype at sample rate `fs`.
    ///
    /// Each analog section gets its own matched section; cost is a few microseconds per
    /// section, so it can run on the audio thread once per block.
    pub fn design(proto: &Prototype, fs: f64) -> Self {
        let mut d = Self::default();
        let w0 = 2.0 * PI * proto.freq_hz / fs;
        let w_top = (2.0 * PI * FIT_TOP_HZ / fs).min(PI);
        for (i, s) in proto.sections().iter().enumerate() {
            d.sections[i] = match_section(s, w0, w_top);
        }
        d.len = proto.len;
        for c in &mut d.sections[..d.len] {
            // NOTE: guard against parameters far outside the audio range (f0 >> Nyquist,
            // absurd Q): a non-finite or unstable section is replaced by the identity.
            let finite = [c.a1, c.a2, c.b0, c.b1, c.b2].iter().all(|v| v.is_finite());
            if !finite || c.a2.abs() >= 1.0 || c.a1.abs() >= 1.0 + c.a2 {
                *c = IDENTITY;
            }
        }
        d
    }

    /// The used sections.
    pub fn sections(&self) -> &[Coefficients<f64>] {
        &self.sections[..self.len]
    }

    /// Complex response of the cascade at `f` Hz.
    pub fn response(&self, f: f64, fs: f64) -> Complex64 {
        self.sections()
            .iter()
            .fold(Complex64::new(1.0, 0.0), |h, c| {
                h * biquad_response(c, f, fs)
            })
    }

    /// Magnitude of the cascade in dB at `f` Hz.
    pub fn magnitude_db(&self, f: f64, fs: f64) -> f64 {
        20.0 * self.response(f, fs).norm().log10()
    }
}

/// Complex response of one biquad at `f` Hz.
pub fn biquad_response(c: &Coefficients<f64>, f: f64, fs: f64) -> Complex64 {
    let w = 2.0 * PI * f / fs;
    let z1 = Complex64::from_polar(1.0, -w);
    let z2 = z1 * z1;
    (c.b0 + c.b1 * z1 + c.b2 * z2) / (1.0 + c.a1 * z1 + c.a2 * z2)
}

/// `p0 = cos^2(w/2)`, `p1 = sin^2(w/2)`, `p2 = 4 p0 p1`.
#[inline]
fn phis(w: f64) -> (f64, f64, f64) {
    let s = (0.5 * w).sin();
    let p1 = s * s;
    let p0 = 1.0 - p1;
    (p0, p1, 4.0 * p0 * p1)
}

/// Matches one analog section (normalised to `w0` rad/sample) with a digital section.
///
/// `w_top` (rad/sample, at most pi) is the top of the band where accuracy matters; above it
/// (at high sample rates) the fit only keeps the response bounded.
pub fn match_section(s: &AnalogSection, w0: f64, w_top: f64) -> Coefficients<f64> {
    if s.is_first_order() {
        return match_first_order(s, w0, w_top);
    }
    // NOTE: impulse invariance maps heavily damped poles near Nyquist badly (a bell cut has
    // poles with Q = A*Q, a shelf cut may have its poles close to Nyquist). When the
    // numerator's roots are strictly in the left half plane, the inverse section 1/H is also
    // matched and inverted; the orientation with the smaller fit error wins. The inverted
    // design is only eligible if its numerator is strictly minimum phase (else its inverse
    // would not be stable). For bells this makes a cut the exact mirror of the boost.
    let grid = FitGrid::new(s, w0, w_top);
    let (mut best, _) = match_second_order(s, w0, w_top);
    let mut best_err = section_error(&grid, s, w0, w_top, &best);
    let b = s.b;
    let a = s.a;
    if b[0] > 0.0 && b[1] > 0.0 && b[2] > 0.0 {
        let inv = AnalogSection { b: a, a: b };
        let (c, _) = match_second_order(&inv, w0, w_top);
        if c.b0 > 0.0 {
            let (mut r1, mut r2) = (c.b1 / c.b0, c.b2 / c.b0);
            // NOTE: the inverted numerator becomes the denominator. Roots on or next to the
            // unit circle (a resonance right at Nyquist the fit could not place) are pulled
            // in to MAX_INVERTED_RADIUS; the DC gain is restored afterwards.
            let disc = r1 * r1 - 4.0 * r2;
            let radius = if disc < 0.0 {
                r2.abs().sqrt()
            } else {
                0.5 * (r1.abs() + disc.sqrt())
            };
            if radius > MAX_INVERTED_RADIUS {
                let k = MAX_INVERTED_RADIUS / radius;
                r1 *= k;
                r2 *= k * k;
            }
            let mut cand = Coefficients {
                a1: r1,
                a2: r2,
                b0: 1.0,
                b1: c.a1,
                b2: c.a2,
            };
            let dc_gain = (cand.b0 + cand.b1 + cand.b2) / (1.0 + cand.a1 + cand.a2);
            let g = (s.b[0] / s.a[0]) / dc_gain;
            if g.is_finite() {
                cand.b0 *= g;
                cand.b1 *= g;
                cand.b2 *= g;
                let e = section_error(&grid, s, w0, w_top, &cand);
                if e < best_err {
                    best = cand;
                    best_err = e;
                }
            }
        }
    }
    // NOTE: last resort for shapes a matched biquad cannot follow (resonant shelves whose
    // resonance sits right below Nyquist): the prewarped bilinear transform, always stable and
    // exact at DC and f0, if it fits better.
    let bl = bilinear(s, w0);
    if section_error(&grid, s, w0, w_top, &bl) < best_err {
        best = bl;
    }
    best
}

/// Largest pole radius an inverted design may have.
const MAX_INVERTED_RADIUS: f64 = 0.995;

/// Bilinear transform of a section, prewarped at `w0`.
fn bilinear(s: &AnalogSection, w0: f64) -> Coefficients<f64> {
    let k = 1.0 / (0.5 * w0.min(0.999 * PI)).tan();
    let k2 = k * k;
    let map = |c: &[f64; 3]| {
        [
            c[0] + c[1] * k + c[2] * k2,
            2.0 * (c[0] - c[2] * k2),
            c[0] - c[1] * k + c[2] * k2,
        ]
    };
    let (n, d) = (map(&s.b), map(&s.a));
    Coefficients {
        a1: d[1] / d[0],
        a2: d[2] / d[0],
        b0: n[0] / d[0],
        b1: n[1] / d[0],
        b2: n[2] / d[0],
    }
}

/// Weighted log `|H|^2` error of a realised biquad on a section's fit grid, plus at the
/// angles of its complex poles and zeros (a narrow digital notch or peak can fall between
/// grid points).
fn section_error(
    grid: &FitGrid,
    s: &AnalogSection,
    w0: f64,
    w_top: f64,
    c: &Coefficients<f64>,
) -> f64 {
    let stable = c.a2.abs() < 1.0 && c.a1.abs() < 1.0 + c.a2;
    if !stable || ![c.a1, c.a2, c.b0, c.b1, c.b2].iter().all(|v| v.is_finite()) {
        return f64::INFINITY;
    }
    let den = big_a(c.a1, c.a2, 1.0 + c.a1 + c.a2);
    let (n0, n1) = ((c.b0 + c.b1 + c.b2).powi(2), (c.b0 - c.b1 + c.b2).powi(2));
    let num = |p: (f64, f64, f64)| n0 * p.0 + n1 * p.1 - 4.0 * c.b0 * c.b2 * p.2;
    let mut err = grid.error_of(&den, num);
    // Angles of complex roots of x^2 + p x + q: cos(theta) = -p / (2 sqrt(q)).
    let angle = |p: f64, q: f64| {
        if q > 0.0 && p * p < 4.0 * q {
            Some((-p / (2.0 * q.sqrt())).clamp(-1.0, 1.0).acos())
        } else {
            None
        }
    };
    let za = if c.b0 != 0.0 {
        angle(c.b1 / c.b0, c.b2 / c.b0)
    } else {
        None
    };
    for w in [za, angle(c.a1, c.a2)].into_iter().flatten() {
        let ph = phis(w);
        let h2 = s.mag2(w / w0);
        let t = (den[0] * ph.0 + den[1] * ph.1 + den[2] * ph.2) * h2;
        if t > 0.0 && t.is_finite() {
            let mut g = (h2 / IMPORTANCE_FLOOR).sqrt().min(1.0);
            if w > w_top {
                g *= ABOVE_TOP_WEIGHT;
            }
            err = err.max(g * (num(ph) / t).ln().abs());
        }
    }
    err
}

fn match_first_order(s: &AnalogSection, w0: f64, w_top: f64) -> Coefficients<f64> {
    // Pole s = -a0/a1 (normalised) -> z = exp(-wp).
    let wp = s.a[0] / s.a[1] * w0;
    let p = (-wp).exp();
    let one_minus_p = -(-wp).exp_m1();
    let grid = FitGrid::new(s, w0, w_top);
    // |1 - p z^-1|^2 = (1-p)^2 p0 + (1+p)^2 p1.
    let den = [one_minus_p * one_minus_p, (1.0 + p) * (1.0 + p), 0.0];
    // |b0 + b1 z^-1|^2 = (b0+b1)^2 p0 + (b0-b1)^2 p1: (b0 + b1) exact at DC, (b0 - b1) fitted.
    let sum = one_minus_p * (s.b[0] / s.a[0]).abs();
    let bb0 = sum * sum;
    let (bb1, _, _) = grid.fit(&den, |ph| (ph.1, 0.0, bb0 * ph.0), false);
    let diff = bb1.max(0.0).sqrt();
    Coefficients {
        a1: -p,
        a2: 0.0,
        b0: 0.5 * (sum + diff),
        b1: 0.5 * (sum - diff),
        b2: 0.0,
    }
}

/// Number of frequencies the numerator is fitted on.
const FIT_POINTS: usize = 48;
/// `|H|^2` below which the fit weight of a point decreases (-20 dB).
const IMPORTANCE_FLOOR: f64 = 0.01;
/// How many of them are log-spaced up to the top of the audio band.
const LOG_POINTS: usize = 26;
/// How many are spaced between the top of the audio band and Nyquist (the rest cluster around
/// the section's centre).
const TAIL_POINTS: usize = 4;
/// Fit weight of points above the audio band (only keeps the response there bounded).
const ABOVE_TOP_WEIGHT: f64 = 0.1;
/// Top of the band where the match matters, Hz (at 44.1 and 48 kHz this is Nyquist).
pub const FIT_TOP_HZ: f64 = 20_500.0;

/// Lawson iterations: reweighted least squares that converges towards the minimax solution.
const LAWSON_ITERATIONS: usize = 10;

/// `(A0, A1, A2)` of `|1 + a1 z^-1 + a2 z^-2|^2 = A0 p0 + A1 p1 + A2 p2`, with `1 + a1 + a2`
/// supplied by the caller (computed without cancellation).
#[inline]
fn big_a(a1: f64, a2: f64, dc: f64) -> [f64; 3] {
    let n = 1.0 - a1 + a2;
    [dc * dc, n * n, -4.0 * a2]
}

/// The analog target sampled on log-spaced frequencies from `min(w0/16, pi/64)` to Nyquist.
///
/// NOTE: the numerator is fitted in the squared *relative* error of `|H|^2` (about the dB
/// error / 4.34) with Lawson's reweighting towards minimax; DC is matched exactly by
/// construction wherever the numerator allows it.
struct FitGrid {
    /// `(p0, p1, p2)` at each fit frequency.
    ph: [(f64, f64, f64); FIT_POINTS],
    /// Analog `|H|^2` at each fit frequency.
    h2: [f64; FIT_POINTS],
    /// Weight of each point's relative error: 1 down to -20 dB, then falling with the level.
    importance: [f64; FIT_POINTS],
}

impl FitGrid {
    fn new(s: &AnalogSection, w0: f64, w_top: f64) -> Self {
        // Where the section's shape is: geometric mean of the pole and zero natural frequencies,
        // over +-3 "bandwidths" of the geometric mean of their Q.
        let pq = |c: &[f64; 3]| {
            if c[2] > 0.0 && c[0] > 0.0 && c[1] > 0.0 {
                Some(((c[0] / c[2]).sqrt(), (c[0] * c[2]).sqrt() / c[1]))
            } else {
                None
            }
        };
        let (mut wc, mut q) = (1.0, FRAC_1_SQRT_2);
        match (pq(&s.a), pq(&s.b)) {
            (Some(p), Some(z)) => {
                wc = (p.0 * z.0).sqrt();
                q = (p.1 * z.1).sqrt();
            }
            (Some(p), None) => {
                wc = p.0;
                q = p.1;
            }
            _ => {}
        }
        let lo = (w0 / 16.0).min(PI / 64.0);
        let h2 = |w: f64| s.mag2(w / w0);
        Self::build(lo, w_top, wc * w0, 3.0 / q.max(0.5), h2, h2)
    }

    /// Grid from `lo` to `w_top` (log), `w_top..pi`, and a cluster of +-`span` octaves around
    /// `wc`; `target(w)` is the `|H|^2` to fit, `level(w)` the `|H|^2` that sets importance.
    fn build(
        lo: f64,
        w_top: f64,
        wc: f64,
        span: f64,
        target: impl Fn(f64) -> f64,
        level: impl Fn(f64) -> f64,
    ) -> Self {
        let r = (w_top / lo).ln() / (LOG_POINTS - 1) as f64;
        let mut ph = [(0.0, 0.0, 0.0); FIT_POINTS];
        let mut h2 = [0.0; FIT_POINTS];
        let mut importance = [1.0; FIT_POINTS];
        for k in 0..FIT_POINTS {
            let w = if k < LOG_POINTS {
                (lo * (r * k as f64).exp()).min(w_top)
            } else if k < LOG_POINTS + TAIL_POINTS {
                let t = (k + 1 - LOG_POINTS) as f64 / TAIL_POINTS as f64;
                w_top + (PI - w_top) * t
            } else {
                let t = (k - LOG_POINTS - TAIL_POINTS) as f64
                    / (FIT_POINTS - LOG_POINTS - TAIL_POINTS - 1) as f64;
                (wc * (span * (2.0 * t - 1.0)).exp2()).min(PI)
            };
            ph[k] = phis(w);
            h2[k] = target(w);
            // NOTE: in a cut's stopband (below -20 dB) a relative error matters less, and the
            // cascades of high-order cuts would otherwise add the stopband errors of every
            // section; the weight lets the error grow with the attenuation there.
            importance[k] = (level(w) / IMPORTANCE_FLOOR).sqrt().min(1.0);
            if w > w_top * 1.000_001 {
                importance[k] *= ABOVE_TOP_WEIGHT;
            }
        }
        Self { ph, h2, importance }
    }

    /// Largest weighted `|ln(|H|^2 / |Ha|^2)|` (dB / 4.34) of the numerator `n(phis)` (as
    /// `|N|^2`) over the grid; symmetric for excess and deficit, infinite at a spurious zero.
    fn error_of(&self, den: &[f64; 3], n: impl Fn((f64, f64, f64)) -> f64) -> f64 {
        let mut worst = 0.0f64;
        for k in 0..FIT_POINTS {
            let ph = self.ph[k];
            let t = (den[0] * ph.0 + den[1] * ph.1 + den[2] * ph.2) * self.h2[k];
            if t > 0.0 && t.is_finite() {
                worst = worst.max(self.importance[k] * (n(ph) / t).ln().abs());
            }
        }
        worst
    }

    /// Fits `|N|^2 = offset + c1 x1 (+ c2 x2)` where `basis(phis) = (x1, x2, offset)`, against
    /// the target `D |Ha|^2` for the denominator `den = (A0, A1, A2)`. Returns `(c1, c2, max
    /// relative error of |H|^2 on the grid)`.
    fn fit(
        &self,
        den: &[f64; 3],
        basis: impl Fn((f64, f64, f64)) -> (f64, f64, f64),
        two: bool,
    ) -> (f64, f64, f64) {
        let mut rows = [(0.0, 0.0, 0.0); FIT_POINTS];
        for (k, row) in rows.iter_mut().enumerate() {
            let ph = self.ph[k];
            let t = (den[0] * ph.0 + den[1] * ph.1 + den[2] * ph.2) * self.h2[k];
            if t > 0.0 && t.is_finite() {
                let (x1, x2, off) = basis(ph);
                let g = self.importance[k];
                *row = (g * x1 / t, g * x2 / t, g * (1.0 - off / t));
            }
        }
        minimax_fit(&rows, two)
    }
}

/// Fits `y ~ c1 x1 (+ c2 x2)` over `rows = (x1, x2, y)`, approximately minimising the largest
/// residual (Lawson's iteratively reweighted least squares). Columns are normalised first so
/// the 2x2 normal equations stay well conditioned. Returns `(c1, c2, max residual)`.
fn minimax_fit(rows: &[(f64, f64, f64); FIT_POINTS], two: bool) -> (f64, f64, f64) {
    let n1 = rows.iter().map(|r| r.0 * r.0).sum::<f64>().sqrt();
    let n2 = rows.iter().map(|r| r.1 * r.1).sum::<f64>().sqrt();
    if n1 <= 0.0 || (two && n2 <= 0.0) {
        return (0.0, 0.0, f64::INFINITY);
    }
    let mut wts = [1.0 / FIT_POINTS as f64; FIT_POINTS];
    let mut best = (0.0, 0.0, f64::INFINITY);
    for _ in 0..LAWSON_ITERATIONS {
        let (mut s11, mut s12, mut s22, mut r1, mut r2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&(x1, x2, y), &w) in rows.iter().zip(wts.iter()) {
            let (x1, x2) = (x1 / n1, if two { x2 / n2 } else { 0.0 });
            s11 += w * x1 * x1;
            s12 += w * x1 * x2;
            s22 += w * x2 * x2;
            r1 += w * x1 * y;
            r2 += w * x2 * y;
        }
        let det = s11 * s22 - s12 * s12;
        let c = if two && det.abs() > 1e-300 {
            (
                (r1 * s22 - r2 * s12) / det / n1,
                (s11 * r2 - s12 * r1) / det / n2,
            )
        } else if s11 > 0.0 {
            (r1 / s11 / n1, 0.0)
        } else {
            (0.0, 0.0)
        };
        let mut max_err = 0.0f64;
        let mut wsum = 0.0;
        for (&(x1, x2, y), w) in rows.iter().zip(wts.iter_mut()) {
            let e = (c.0 * x1 + c.1 * x2 - y).abs();
            max_err = max_err.max(e);
            *w *= e;
            wsum += *w;
        }
        if max_err < best.2 {
            best = (c.0, c.1, max_err);
        }
        if wsum <= 0.0 || !wsum.is_finite() {
            break;
        }
        for w in wts.iter_mut() {
            *w /= wsum;
        }
    }
    best
}

/// Impulse-invariant poles of `a2 s^2 + a1 s + a0` (normalised to `w0`): `(a1, a2, 1+a1+a2)`.
fn impulse_invariant_poles(a: &[f64; 3], w0: f64) -> (f64, f64, f64) {
    let wn = (a[0] / a[2]).sqrt();
    let zeta = a[1] / a[2] / (2.0 * wn);
    let w = wn * w0;
    let sigma = zeta * w;
    let e = (-sigma).exp();
    if zeta < 1.0 {
        // NOTE: a pole pair above Nyquist would alias; clamp its angle to pi (keeps its radius).
        let wd = (w * (1.0 - zeta * zeta).sqrt()).min(PI);
        let sh = (0.5 * wd).sin();
        // 1 + a1 + a2 = (1 - e)^2 + 4 e sin^2(wd/2), computed without cancellation.
        let em1 = (-sigma).exp_m1();
        (-2.0 * e * wd.cos(), e * e, em1 * em1 + 4.0 * e * sh * sh)
    } else {
        let r = w * (zeta * zeta - 1.0).sqrt();
        let z1 = (-(sigma - r)).exp();
        let z2 = (-(sigma + r)).exp();
        // 1 + a1 + a2 = (1 - z1)(1 - z2).
        let dc = (-(sigma - r)).exp_m1() * (-(sigma + r)).exp_m1();
        (-(z1 + z2), z1 * z2, dc)
    }
}

/// Numerator shape of a second-order section.
#[derive(Clone, Copy)]
enum NumKind {
    /// Double zero at DC (high-pass): `c (1 - z^-1)^2`.
    DcDouble,
    /// Zeros on the unit circle at `cos(wz) = cz` (notch): `c (1 - 2 cz z^-1 + z^-2)`.
    Notch(f64),
    /// Free numerator, `|N(0)|^2 = A0 |Ha(0)|^2` kept exact (includes a single zero at DC).
    General(f64),
}

/// Best numerator for the poles `(a1, a2)`: coefficients and max relative error on the grid.
fn fit_numerator(
    grid: &FitGrid,
    kind: NumKind,
    a1: f64,
    a2: f64,
    dc: f64,
) -> ((f64, f64, f64), f64) {
    let den = big_a(a1, a2, dc);
    match kind {
        NumKind::DcDouble => {
            // |N|^2 = 16 c^2 p1^2.
            let (c2, _, err) = grid.fit(&den, |p| (16.0 * p.1 * p.1, 0.0, 0.0), false);
            let c = c2.max(0.0).sqrt();
            ((c, -2.0 * c, c), err)
        }
        NumKind::Notch(cz) => {
            // |1 - 2 cz z^-1 + z^-2|^2 = (2 - 2 cz)^2 p0 + (2 + 2 cz)^2 p1 - 4 p2.
            let (u, v) = ((2.0 - 2.0 * cz).powi(2), (2.0 + 2.0 * cz).powi(2));
            let (c2, _, err) = grid.fit(&den, |p| (u * p.0 + v * p.1 - 4.0 * p.2, 0.0, 0.0), false);
            let c = c2.max(0.0).sqrt();
            ((c, -2.0 * c * cz, c), err)
        }
        NumKind::General(h02) => {
            // |N|^2 = B0 p0 + C1 p1 + C2 p1^2 (well conditioned near DC), B1 = C1 + C2,
            // B2 = -C2 / 4.
            let bb0 = den[0] * h02;
            let (c1, c2, err) = grid.fit(&den, |p| (p.1, p.1 * p.1, bb0 * p.0), true);
            let (bb1, bb2) = (c1 + c2, -0.25 * c2);
            let r0 = bb0.sqrt();
            let r1 = bb1.max(0.0).sqrt();
            let wsum = 0.5 * (r0 + r1);
            // NOTE: if W^2 + B2 < 0 the fitted |N|^2 goes negative somewhere and no real
            // numerator has it; clamping B2 to -W^2 puts the zeros on the unit circle and keeps
            // DC and Nyquist. The error is then re-measured on the realised numerator, so the
            // caller can prefer another design.
            let clamped = bb1 < 0.0 || wsum * wsum + bb2 < 0.0;
            let bb2 = bb2.max(-wsum * wsum);
            let disc = (wsum * wsum + bb2).max(0.0).sqrt();
            let b0 = 0.5 * (wsum + disc);
            let b2 = if b0 > 0.0 { -bb2 / (4.0 * b0) } else { 0.0 };
            let b1 = 0.5 * (r0 - r1);
            let err = if clamped {
                let (n0, n1) = ((b0 + b1 + b2).powi(2), (b0 - b1 + b2).powi(2));
                grid.error_of(&den, |p| n0 * p.0 + n1 * p.1 - 4.0 * b0 * b2 * p.2)
            } else {
                err
            };
            ((b0, b1, b2), err)
        }
    }
}

fn match_second_order(s: &AnalogSection, w0: f64, w_top: f64) -> (Coefficients<f64>, f64) {
    let (a1, a2, dc) = impulse_invariant_poles(&s.a, w0);
    let grid = FitGrid::new(s, w0, w_top);
    let (num, err) = if s.b[0] == 0.0 && s.b[1] == 0.0 {
        fit_numerator(&grid, NumKind::DcDouble, a1, a2, dc)
    } else if s.b[1] == 0.0 && s.b[0] > 0.0 && s.b[2] > 0.0 {
        // NOTE: a notch keeps its zeros on the unit circle unless a free numerator fits the
        // analog curve better (very broad notches close to Nyquist).
        let cz = ((s.b[0] / s.b[2]).sqrt() * w0).min(PI).cos();
        let notch = fit_numerator(&grid, NumKind::Notch(cz), a1, a2, dc);
        let free = fit_numerator(&grid, NumKind::General(s.mag2(0.0)), a1, a2, dc);
        if free.1 < notch.1 { free } else { notch }
    } else {
        fit_numerator(&grid, NumKind::General(s.mag2(0.0)), a1, a2, dc)
    };
    (
        Coefficients {
            a1,
            a2,
            b0: num.0,
            b1: num.1,
            b2: num.2,
        },
        err,
    )
}
