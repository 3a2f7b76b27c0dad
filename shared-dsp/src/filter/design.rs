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
//! - Shelves (low, high, tilt) always get *two* digital sections: no single biquad follows a
//!   resonant shelf (Q 4..8) whose resonance sits near or above Nyquist (misses of 2..16 dB
//!   were measured with one section). Start: the matched-z section (poles *and* zeros
//!   impulse invariant, DC exact) and the identity. Then each section in turn (second, first,
//!   second) is refitted as a free biquad to the analog `|Ha|^2` divided by the other one:
//!   `|C|^2 = N(x) / D(x)` with `x = sin^2(w/2)`, `N, D` quadratic in `x`, `N(0)` fixed by the
//!   DC gain, fitted by Sanathanan-Koerner iterations (the linearised error `N - R D` divided
//!   by the previous `D`, so it approximates the relative error) with Lawson reweighting
//!   towards minimax on 112 points (log-spaced 20 Hz..20.5 kHz, clusters at the analog pole
//!   and zero frequencies, a low-weight tail up to Nyquist), warm-started from the section's
//!   current poles. `N(1)` and `D(1)` are bounded below (equality constraint when hit), so no
//!   pole reaches the unit circle at Nyquist; iterates with `N` or `D` not positive on the
//!   whole band are discarded; a refit is kept only if it lowers the cascade's grid error.
//!   `N` and `D` are then factored into minimum-phase biquads like the numerator above.
//!   The band type alone sets the section count (shelves 2, bells 1), so automation never
//!   adds or removes sections.
//!
//! Cost: 15..25 us per second-order section in a release build on a loaded 2-core machine
//! (about 50 us for a 96 dB/oct cut), so it runs on the audio thread at block rate; a shelf
//! (three small fits) costs 5..6x a bell in the same run: 40 us next to 8 us for a bell on
//! a quiet machine, 90 us next to 16 us on a loaded one. `IirEq` additionally limits
//! redesigns to one per 2 ms per band while a parameter moves.
//!
//! Accuracy (impulse + FFT against the analog prototype through `IirEq`, 20 Hz..20 kHz,
//! `filter_response` tests; +-6/+-18 dB, f0 30 Hz..16 kHz), worst error in dB:
//!
//! | type                        | 44.1 kHz | 48 kHz | 96 kHz |
//! |-----------------------------|----------|--------|--------|
//! | bell, Q 0.3..8              | 0.43     | 0.25   | 0.12   |
//! | low/high/tilt shelf, Q 0.3..2 | 0.10   | 0.04   | 0.004  |
//! | low/high/tilt shelf, Q 4..8 | 0.08     | 0.05   | 0.004  |
//!
//! (Before the two-section shelf design: 0.37 dB for Q <= 2 and 2..16 dB for Q 4..8.)
//! A denser sweep of the designed cascade (f0 30 Hz..20.5 kHz in 12% steps, gains +-1..+-18,
//! Q 2..8) stays within 0.09 dB at 48 kHz and 0.01 dB at 96 kHz; at 44.1 kHz it is within
//! 0.5 dB except a narrow band where the analog resonance of a Q 8, +-18 dB shelf crosses
//! Nyquist (f0 about 13.3..13.8 kHz for the high shelf: up to 0.6 dB near 16 kHz); there the
//! fit also switches between two solutions as f0 moves (a step of 0.5 in one section's `a1`
//! within a 1% f0 step; both ends are accurate, the 10 ms coefficient glide bridges them).
//! Above 20 kHz the response never exceeds the larger of the analog response and its
//! 20 kHz value by more than 2.8 dB (weight 0.2 there), so there is no boost near Nyquist.
//! Cascaded Butterworth cuts at 44.1/48 kHz reach 1.2..1.5 dB (96 dB/oct, f0 >= 10 kHz,
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

/// Most digital sections of one band (one per analog section; two for a shelf).
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
    /// Each analog section gets its own matched section, except shelves, which get two fitted
    /// sections (see the module docs); cost is tens of microseconds per band, so it can run
    /// on the audio thread once per block.
    pub fn design(proto: &Prototype, fs: f64) -> Self {
        let mut d = Self::default();
        let w0 = 2.0 * PI * proto.freq_hz / fs;
        let w_top = (2.0 * PI * FIT_TOP_HZ / fs).min(PI);
        d.len = proto.len;
        if proto.len == 1 && is_shelf(&proto.sections[0]) {
            let (c1, c2) = design_shelf(&proto.sections[0], w0, w_top);
            d.sections[0] = c1;
            d.sections[1] = c2;
            d.len = 2;
        } else {
            for (i, s) in proto.sections().iter().enumerate() {
                d.sections[i] = match_section(s, w0, w_top);
            }
        }
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

/// True for a second-order section with all-positive coefficients whose DC and
/// high-frequency gains differ (low/high/tilt shelves; bells have equal gains).
fn is_shelf(s: &AnalogSection) -> bool {
    let pos = s.b.iter().chain(s.a.iter()).all(|&v| v > 0.0);
    pos && ((s.b[0] * s.a[2]) / (s.b[2] * s.a[0])).ln().abs() > 1e-9
}

/// Points of the corrector's fit grid.
const CORR_POINTS: usize = 112;
/// Log-spaced points from 20 Hz to the top of the band.
const CORR_LOG: usize = 48;
/// Points between the top of the band and Nyquist.
const CORR_TAIL: usize = 8;
/// Points clustered around each of the analog pole and zero frequencies.
const CORR_CLUSTER: usize = (CORR_POINTS - CORR_LOG - CORR_TAIL) / 2;
/// Alternating refits of the two sections of a shelf.
const CORR_ROUNDS: usize = 3;
/// Sanathanan-Koerner / Lawson iterations of the corrector fit.
const CORR_ITERATIONS: usize = 12;
/// Weight of points above the audio band in the corrector fit.
const CORR_ABOVE_TOP_WEIGHT: f64 = 0.2;
/// Tikhonov weight pulling the corrector towards the identity.
const CORR_REGULARISATION: f64 = 1e-4;
/// Smallest `N(1) / N(0)` and `D(1) / D(0)` of the corrector (a real pole or zero at
/// `z = -r` gives `((1 - r) / (1 + r))^2`; this bounds `r` to 0.985).
const CORR_MIN_NYQUIST: f64 = 5.7e-5;
/// Largest pole radius of the corrector.
const CORR_MAX_RADIUS: f64 = 0.998;

/// `|r - 1| / sqrt(r) = 2 sinh(|ln r| / 2)`: a cheap, monotone stand-in for `|ln r|` (equal
/// to it within 1% up to `|ln r| = 0.25`, i.e. 1.1 dB of `|H|`).
#[inline]
fn log_dev(r: f64) -> f64 {
    (r - 1.0).abs() / r.sqrt()
}

/// Fit grid of a shelf's two-section design.
struct ShelfGrid {
    /// `sin^2(w/2)` at each point.
    x: [f64; CORR_POINTS],
    /// Analog `|H|^2` at each point.
    t: [f64; CORR_POINTS],
    /// Weight of each point's log error (1 in the audio band).
    g: [f64; CORR_POINTS],
    /// Analog `|H|^2` at DC.
    t0: f64,
}

/// `|b0 + b1 z^-1 + b2 z^-2|^2 / |1 + a1 z^-1 + a2 z^-2|^2` at `x = sin^2(w/2)`.
#[inline]
fn biquad_mag2(c: &Coefficients<f64>, x: f64) -> f64 {
    let p2 = 4.0 * x * (1.0 - x);
    let n = (c.b0 + c.b1 + c.b2).powi(2) * (1.0 - x) + (c.b0 - c.b1 + c.b2).powi(2) * x
        - 4.0 * c.b0 * c.b2 * p2;
    let d =
        (1.0 + c.a1 + c.a2).powi(2) * (1.0 - x) + (1.0 - c.a1 + c.a2).powi(2) * x - 4.0 * c.a2 * p2;
    n / d
}

impl ShelfGrid {
    // NOTE: parallel arrays indexed together; index loops read better than zipped iterators.
    #[allow(clippy::needless_range_loop)]
    fn new(s: &AnalogSection, w0: f64, w_top: f64) -> Self {
        let mut w = [0.0; CORR_POINTS];
        let lo = (w_top / 1024.0).min(w0 / 16.0);
        let r = (w_top / lo).ln() / (CORR_LOG - 1) as f64;
        for (k, v) in w.iter_mut().enumerate().take(CORR_LOG) {
            *v = (lo * (r * k as f64).exp()).min(w_top);
        }
        for k in 0..CORR_TAIL {
            w[CORR_LOG + k] = w_top + (PI - w_top) * (k + 1) as f64 / CORR_TAIL as f64;
        }
        let q = (s.a[0] * s.a[2]).sqrt() / s.a[1];
        let span = 3.0 / q.max(0.5);
        let wp = (s.a[0] / s.a[2]).sqrt() * w0;
        let wz = (s.b[0] / s.b[2]).sqrt() * w0;
        for (j, wc) in [wp, wz].into_iter().enumerate() {
            for k in 0..CORR_CLUSTER {
                let t = k as f64 / (CORR_CLUSTER - 1) as f64;
                w[CORR_LOG + CORR_TAIL + j * CORR_CLUSTER + k] =
                    (wc * (span * (2.0 * t - 1.0)).exp2()).min(PI);
            }
        }
        let mut grid = Self {
            x: [0.0; CORR_POINTS],
            t: [1.0; CORR_POINTS],
            g: [1.0; CORR_POINTS],
            t0: s.mag2(0.0),
        };
        for k in 0..CORR_POINTS {
            let sh = (0.5 * w[k]).sin();
            grid.x[k] = sh * sh;
            grid.t[k] = s.mag2(w[k] / w0);
            if w[k] > w_top * 1.000_001 {
                grid.g[k] = CORR_ABOVE_TOP_WEIGHT;
            }
        }
        grid
    }

    /// Largest weighted [`log_dev`] of `|H|^2 / |Ha|^2` of a cascade of two biquads.
    fn error(&self, c1: &Coefficients<f64>, c2: &Coefficients<f64>) -> f64 {
        let mut worst = 0.0f64;
        for k in 0..CORR_POINTS {
            let h = biquad_mag2(c1, self.x[k]) * biquad_mag2(c2, self.x[k]);
            let e = self.g[k] * log_dev(h / self.t[k]);
            // NaN counts as infinite.
            worst = if e.is_nan() {
                f64::INFINITY
            } else {
                worst.max(e)
            };
        }
        worst
    }
}

/// Fits a biquad to the analog magnitude divided by that of `other` (DC exact), by
/// Sanathanan-Koerner iterations (the linearised error is divided by the previous
/// denominator) with Lawson's reweighting towards minimax. Returns the section and the
/// error of the cascade `other * section` on the grid, or `None` if no stable, realisable
/// iterate was found.
// NOTE: parallel arrays indexed together; index loops read better than zipped iterators.
#[allow(clippy::needless_range_loop)]
fn fit_biquad(
    grid: &ShelfGrid,
    other: &Coefficients<f64>,
    start: &Coefficients<f64>,
) -> Option<(Coefficients<f64>, f64)> {
    let mut rr = [1.0; CORR_POINTS];
    for k in 0..CORR_POINTS {
        rr[k] = grid.t[k] / biquad_mag2(other, grid.x[k]);
        if !rr[k].is_finite() || rr[k] <= 0.0 {
            return None;
        }
    }
    let n0 = grid.t0 / biquad_mag2(other, 0.0);
    if !n0.is_finite() || n0 <= 0.0 {
        return None;
    }
    let (x, g) = (&grid.x, &grid.g);
    // N(x) = n0 (1 + u0 x + u1 x^2), D(x) = 1 + u2 x + u3 x^2.
    let mut best: Option<([f64; 4], f64)> = None;
    let mut lw = [1.0; CORR_POINTS];
    // NOTE: warm start: the first linearisation uses the denominator of the section being
    // refitted, so a refit starts from (and, keeping the best iterate, never loses) it.
    let den0 = Coefficients {
        b0: 1.0,
        b1: start.a1,
        b2: start.a2,
        ..IDENTITY
    };
    let d00 = biquad_mag2(&den0, 0.0);
    let mut dprev = [1.0; CORR_POINTS];
    for (d, &xk) in dprev.iter_mut().zip(x.iter()) {
        *d = biquad_mag2(&den0, xk) / d00;
    }
    for _ in 0..CORR_ITERATIONS {
        let mut m = [[0.0; 4]; 4];
        let mut rhs = [0.0; 4];
        let mut wsum = 0.0;
        for k in 0..CORR_POINTS {
            let xk = x[k];
            let sc = 1.0 / (rr[k] * dprev[k]);
            let a = [
                n0 * xk * sc,
                n0 * xk * xk * sc,
                -rr[k] * xk * sc,
                -rr[k] * xk * xk * sc,
            ];
            let y = (rr[k] - n0) * sc;
            let wt = lw[k] * g[k] * g[k];
            wsum += wt;
            for i in 0..4 {
                let wa = wt * a[i];
                rhs[i] += wa * y;
                for j in i..4 {
                    m[i][j] += wa * a[j];
                }
            }
        }
        for i in 1..4 {
            for j in 0..i {
                m[i][j] = m[j][i];
            }
        }
        for (i, row) in m.iter_mut().enumerate() {
            row[i] += CORR_REGULARISATION * CORR_REGULARISATION * wsum;
        }
        // NOTE: N(1) and D(1) (the gains at Nyquist) must stay positive: a root of D in
        // [0, 1] is a pole on the unit circle. A violated bound becomes an equality
        // constraint (u1 = e - 1 - u0, u3 = e - 1 - u2), eliminated from the normal equations.
        let mut fixed = [false; 2];
        let mut sol = None;
        for _ in 0..3 {
            sol = solve_constrained(&m, &rhs, fixed, CORR_MIN_NYQUIST);
            let Some(v) = sol else { break };
            let viol_n = !fixed[0] && 1.0 + v[0] + v[1] < CORR_MIN_NYQUIST;
            let viol_d = !fixed[1] && 1.0 + v[2] + v[3] < CORR_MIN_NYQUIST;
            if !viol_n && !viol_d {
                break;
            }
            fixed[0] |= viol_n;
            fixed[1] |= viol_d;
        }
        let Some(u) = sol else {
            break;
        };
        // Realised error (N and D must be positive on [0, 1]).
        let mut max_e = 0.0f64;
        let mut esum = 0.0;
        let mut ok = quad_positive(1.0, u[2], u[3]) && quad_positive(1.0, u[0], u[1]);
        for k in 0..CORR_POINTS {
            let xk = x[k];
            let nk = n0 * (1.0 + xk * (u[0] + xk * u[1]));
            let dk = 1.0 + xk * (u[2] + xk * u[3]);
            let e = if nk > 0.0 && dk > 0.0 {
                dprev[k] = dk;
                g[k] * log_dev(nk / (dk * rr[k]))
            } else {
                ok = false;
                g[k] * ((nk - rr[k] * dk) / (rr[k] * dprev[k])).abs()
            };
            max_e = max_e.max(e);
            lw[k] *= e.max(1e-12);
            esum += lw[k];
        }
        if ok && best.is_none_or(|b| max_e < b.1) {
            best = Some((u, max_e));
        }
        if !(esum > 0.0 && esum.is_finite()) {
            break;
        }
        for v in lw.iter_mut() {
            *v *= CORR_POINTS as f64 / esum;
        }
    }
    let u = best?.0;
    let num = factor_x_quadratic(n0, n0 * u[0], n0 * u[1])?;
    let den = factor_x_quadratic(1.0, u[2], u[3])?;
    let mut c = Coefficients {
        a1: den.1 / den.0,
        a2: den.2 / den.0,
        b0: num.0 / den.0,
        b1: num.1 / den.0,
        b2: num.2 / den.0,
    };
    // Pole radius limit (complex poles; real ones are bounded by CORR_MIN_NYQUIST).
    if c.a2 > CORR_MAX_RADIUS * CORR_MAX_RADIUS {
        let k = CORR_MAX_RADIUS / c.a2.sqrt();
        let g0 = (1.0 + c.a1 + c.a2) / (1.0 + c.a1 * k + c.a2 * k * k);
        c.a1 *= k;
        c.a2 *= k * k;
        c.b0 /= g0;
        c.b1 /= g0;
        c.b2 /= g0;
    }
    let stable = c.a2.abs() < 1.0 && c.a1.abs() < 1.0 + c.a2;
    if !stable {
        return None;
    }
    Some((c, grid.error(other, &c)))
}

/// True if `c0 + c1 x + c2 x^2 > 0` on `[0, 1]`.
fn quad_positive(c0: f64, c1: f64, c2: f64) -> bool {
    if c0 <= 0.0 || c0 + c1 + c2 <= 0.0 {
        return false;
    }
    if c2 > 0.0 {
        let xv = -c1 / (2.0 * c2);
        if xv > 0.0 && xv < 1.0 {
            return c0 - c1 * c1 / (4.0 * c2) > 0.0;
        }
    }
    true
}

/// Minimum-phase `(b0, b1, b2)` with `|b0 + b1 z^-1 + b2 z^-2|^2 = c0 + c1 x + c2 x^2`,
/// `x = sin^2(w/2)` (the polynomial must be non-negative on `[0, 1]`).
fn factor_x_quadratic(c0: f64, c1: f64, c2: f64) -> Option<(f64, f64, f64)> {
    // B form: B0 p0 + B1 p1 + B2 p2 with B0 = P(0), B1 = P(1), B2 = -c2 / 4.
    let (bb0, bb1, bb2) = (c0, c0 + c1 + c2, -0.25 * c2);
    if bb0 <= 0.0 || bb1 < 0.0 {
        return None;
    }
    let (r0, r1) = (bb0.sqrt(), bb1.sqrt());
    let wsum = 0.5 * (r0 + r1);
    let disc = (wsum * wsum + bb2).max(0.0).sqrt();
    let b0 = 0.5 * (wsum + disc);
    if b0 <= 0.0 {
        return None;
    }
    Some((b0, 0.5 * (r0 - r1), -bb2 / (4.0 * b0)))
}

/// Solves a 4x4 linear system (Gaussian elimination with partial pivoting, rows scaled).
// NOTE: parallel arrays indexed together; index loops read better than zipped iterators.
#[allow(clippy::needless_range_loop)]
fn solve4(mut m: [[f64; 4]; 4], mut r: [f64; 4]) -> Option<[f64; 4]> {
    // Symmetric scaling by the diagonal.
    let mut d = [1.0; 4];
    for i in 0..4 {
        if m[i][i] > 0.0 {
            d[i] = 1.0 / m[i][i].sqrt();
        }
    }
    for i in 0..4 {
        for j in 0..4 {
            m[i][j] *= d[i] * d[j];
        }
        r[i] *= d[i];
    }
    for col in 0..4 {
        let piv = (col..4).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[piv][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, piv);
        r.swap(col, piv);
        for row in col + 1..4 {
            let f = m[row][col] / m[col][col];
            for j in col..4 {
                m[row][j] -= f * m[col][j];
            }
            r[row] -= f * r[col];
        }
    }
    let mut out = [0.0; 4];
    for i in (0..4).rev() {
        let mut acc = r[i];
        for j in i + 1..4 {
            acc -= m[i][j] * out[j];
        }
        out[i] = acc / m[i][i];
    }
    if out.iter().all(|v| v.is_finite()) {
        Some([out[0] * d[0], out[1] * d[1], out[2] * d[2], out[3] * d[3]])
    } else {
        None
    }
}

/// Two-section design of a shelf: a matched-z start, then alternately refitted sections.
fn design_shelf(s: &AnalogSection, w0: f64, w_top: f64) -> (Coefficients<f64>, Coefficients<f64>) {
    let grid = ShelfGrid::new(s, w0, w_top);
    let mut c = [matched_z(s, w0), IDENTITY];
    let mut err = grid.error(&c[0], &c[1]);
    for round in 0..CORR_ROUNDS {
        let refit = 1 - round % 2;
        if let Some((new, e)) = fit_biquad(&grid, &c[1 - refit], &c[refit])
            && e < err
        {
            c[refit] = new;
            err = e;
        }
    }
    (c[0], c[1])
}

/// Matched-z section: poles and zeros both impulse invariant, DC gain exact.
fn matched_z(s: &AnalogSection, w0: f64) -> Coefficients<f64> {
    let (a1, a2, adc) = impulse_invariant_poles(&s.a, w0);
    let (b1, b2, bdc) = impulse_invariant_poles(&s.b, w0);
    let g = (s.b[0] / s.a[0]) * adc / bdc;
    Coefficients {
        a1,
        a2,
        b0: g,
        b1: g * b1,
        b2: g * b2,
    }
}

/// Minimises `u^T m u - 2 rhs^T u` with `1 + u0 + u1 = e` if `fixed[0]` and
/// `1 + u2 + u3 = e` if `fixed[1]`.
// NOTE: parallel arrays indexed together; index loops read better than zipped iterators.
#[allow(clippy::needless_range_loop)]
fn solve_constrained(
    m: &[[f64; 4]; 4],
    rhs: &[f64; 4],
    fixed: [bool; 2],
    e: f64,
) -> Option<[f64; 4]> {
    // u = t + P v: for a fixed pair (i, i+1), u_{i+1} = (e - 1) - u_i.
    let mut p = [[0.0; 4]; 4];
    let mut t = [0.0; 4];
    let mut n = 0;
    for pair in 0..2 {
        let i = 2 * pair;
        p[i][n] = 1.0;
        if fixed[pair] {
            p[i + 1][n] = -1.0;
            t[i + 1] = e - 1.0;
            n += 1;
        } else {
            p[i + 1][n + 1] = 1.0;
            n += 2;
        }
    }
    // Reduced system: P^T m P v = P^T (rhs - m t).
    let mut r = *rhs;
    for i in 0..4 {
        for j in 0..4 {
            r[i] -= m[i][j] * t[j];
        }
    }
    let mut mr = [[0.0; 4]; 4];
    let mut rr = [0.0; 4];
    for a in 0..n {
        for i in 0..4 {
            rr[a] += p[i][a] * r[i];
        }
        for b in 0..n {
            let mut acc = 0.0;
            for i in 0..4 {
                for j in 0..4 {
                    acc += p[i][a] * m[i][j] * p[j][b];
                }
            }
            mr[a][b] = acc;
        }
    }
    // Unused dimensions: identity rows.
    for a in n..4 {
        mr[a][a] = 1.0;
    }
    let v = solve4(mr, rr)?;
    let mut u = t;
    for i in 0..4 {
        for a in 0..n {
            u[i] += p[i][a] * v[a];
        }
    }
    Some(u)
}
