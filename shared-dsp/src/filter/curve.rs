//! The EQ curve model: band types, their analog prototypes H(s), and the summed curve.
//!
//! Every band is defined by an analog prototype, a cascade of at most [`MAX_SECTIONS`] first- or
//! second-order sections in the normalised variable `s / (2 pi f0)`. Its magnitude is exact (no
//! bilinear warping, no sample rate): it is the curve the editor draws, the target the
//! linear-phase FIR is designed from, and the reference the minimum-phase IIR is matched to.
//!
//! # Q convention
//! With `A = 10^(gain_db / 40)` (RBJ "Audio EQ Cookbook" notation):
//! - **Bell**: `H(s) = (s^2 + s A/Q + 1) / (s^2 + s/(A Q) + 1)`. `Q` sets the bandwidth between the
//!   half-gain points (where the response is `gain_db / 2`), `1/Q = 2 sinh(ln2/2 * BW_octaves)`,
//!   independent of the gain; a cut is the exact inverse of the boost with the same `Q`
//!   (Q = 0.7071 is about 1.9 octaves, Q = 1.414 about one octave).
//! - **LowShelf / HighShelf**: RBJ shelves, `H(s) = A (s^2 + s sqrt(A)/Q + A) / (A s^2 +
//!   s sqrt(A)/Q + 1)` (low; the high shelf swaps `s` and `1/s`). The half-gain point is at `f0`;
//!   `Q = 0.7071` gives the Butterworth-like shelf without overshoot, larger `Q` adds the
//!   bump/dip pair of a resonant shelf.
//! - **TiltShelf**: the high shelf divided by `A`: `-gain/2` dB below `f0`, `+gain/2` dB above,
//!   0 dB at `f0`; `Q` as for shelves.
//! - **LowCut / HighCut**: Butterworth high-/low-pass of order `slope / 6`, `-3.01` dB at `f0`.
//!   `Q = 0.7071` is exact Butterworth; any other `Q` scales the Q of the most resonant section by
//!   `Q / 0.7071` (for 12 dB/oct that section *is* the filter, so `Q` is the usual 2-pole Q). For
//!   6 dB/oct the `Q` is ignored. `gain_db` is ignored.
//! - **Notch**: `H(s) = (s^2 + 1) / (s^2 + s/Q + 1)`, `Q = f0 / (-3 dB bandwidth)`.
//! - **BandPass**: `H(s) = (s/Q) / (s^2 + s/Q + 1)`, 0 dB at `f0`, `Q = f0 / (-3 dB bandwidth)`.
//!
//! Notch, BandPass, LowCut and HighCut ignore `gain_db`. A band that is disabled, or a
//! Bell/shelf/tilt with `gain_db == 0`, is the identity.

use realfft::num_complex::Complex64;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Most first/second-order sections any band needs (96 dB/oct Butterworth = order 16).
pub const MAX_SECTIONS: usize = 8;

/// Filter shape of one EQ band. See the module docs for each transfer function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BandType {
    /// Peaking (bell) EQ.
    Bell,
    /// Low shelf.
    LowShelf,
    /// High shelf.
    HighShelf,
    /// High-pass (removes lows), Butterworth of `slope`.
    LowCut,
    /// Low-pass (removes highs), Butterworth of `slope`.
    HighCut,
    /// Band-reject with a zero at `f0`.
    Notch,
    /// Band-pass, 0 dB at `f0`.
    BandPass,
    /// Tilt: `-gain/2` dB at DC, `+gain/2` dB at high frequencies.
    TiltShelf,
}

/// Roll-off of the LowCut / HighCut bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slope {
    /// 6 dB/oct (order 1).
    Db6,
    /// 12 dB/oct (order 2).
    Db12,
    /// 18 dB/oct (order 3).
    Db18,
    /// 24 dB/oct (order 4).
    Db24,
    /// 36 dB/oct (order 6).
    Db36,
    /// 48 dB/oct (order 8).
    Db48,
    /// 72 dB/oct (order 12).
    Db72,
    /// 96 dB/oct (order 16).
    Db96,
}

impl Slope {
    /// All slopes, shallowest first.
    pub const ALL: [Slope; 8] = [
        Slope::Db6,
        Slope::Db12,
        Slope::Db18,
        Slope::Db24,
        Slope::Db36,
        Slope::Db48,
        Slope::Db72,
        Slope::Db96,
    ];

    /// Butterworth order (`dB_per_octave / 6`).
    pub fn order(self) -> usize {
        match self {
            Slope::Db6 => 1,
            Slope::Db12 => 2,
            Slope::Db18 => 3,
            Slope::Db24 => 4,
            Slope::Db36 => 6,
            Slope::Db48 => 8,
            Slope::Db72 => 12,
            Slope::Db96 => 16,
        }
    }

    /// Nominal asymptotic slope in dB per octave.
    pub fn db_per_octave(self) -> f64 {
        6.0 * self.order() as f64
    }

    /// The slope for `db_per_octave` if it is one of the supported values.
    pub fn from_db_per_octave(db: u32) -> Option<Slope> {
        Slope::ALL
            .into_iter()
            .find(|s| s.db_per_octave() as u32 == db)
    }
}

/// One EQ band: the parameters the user sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Filter shape.
    pub kind: BandType,
    /// Centre / corner frequency `f0` in Hz (> 0).
    pub freq_hz: f64,
    /// Gain in dB (Bell, shelves, tilt; ignored by the other types).
    pub gain_db: f64,
    /// Q, see the module docs for its meaning per type (> 0).
    pub q: f64,
    /// Roll-off of LowCut / HighCut (ignored by the other types).
    pub slope: Slope,
    /// A disabled band is the identity.
    pub enabled: bool,
}

impl Default for Band {
    /// A disabled 1 kHz bell, 0 dB, Q 0.7071, 12 dB/oct.
    fn default() -> Self {
        Self {
            kind: BandType::Bell,
            freq_hz: 1000.0,
            gain_db: 0.0,
            q: FRAC_1_SQRT_2,
            slope: Slope::Db12,
            enabled: false,
        }
    }
}

/// One analog section `(b0 + b1 s + b2 s^2) / (a0 + a1 s + a2 s^2)` in `s` normalised to the
/// band's `f0` (a first-order section has `a2 == b2 == 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalogSection {
    /// Numerator coefficients, ascending powers of `s`.
    pub b: [f64; 3],
    /// Denominator coefficients, ascending powers of `s`.
    pub a: [f64; 3],
}

impl AnalogSection {
    const IDENTITY: AnalogSection = AnalogSection {
        b: [1.0, 0.0, 0.0],
        a: [1.0, 0.0, 0.0],
    };

    /// `|H(j w)|^2` at normalised frequency `w = f / f0`.
    #[inline]
    pub fn mag2(&self, w: f64) -> f64 {
        let w2 = w * w;
        let nr = self.b[0] - self.b[2] * w2;
        let ni = self.b[1] * w;
        let dr = self.a[0] - self.a[2] * w2;
        let di = self.a[1] * w;
        (nr * nr + ni * ni) / (dr * dr + di * di)
    }

    /// `H(j w)` at normalised frequency `w = f / f0`.
    #[inline]
    pub fn response(&self, w: f64) -> Complex64 {
        let w2 = w * w;
        let n = Complex64::new(self.b[0] - self.b[2] * w2, self.b[1] * w);
        let d = Complex64::new(self.a[0] - self.a[2] * w2, self.a[1] * w);
        n / d
    }

    /// True for a first-order section.
    #[inline]
    pub fn is_first_order(&self) -> bool {
        self.a[2] == 0.0 && self.b[2] == 0.0
    }
}

/// The analog prototype of a band: a cascade of sections at `freq_hz`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prototype {
    /// Corner / centre frequency the sections are normalised to, Hz.
    pub freq_hz: f64,
    /// Number of used entries in `sections` (0 = identity).
    pub len: usize,
    /// The sections; entries past `len` are unused.
    pub sections: [AnalogSection; MAX_SECTIONS],
}

impl Prototype {
    /// The used sections.
    pub fn sections(&self) -> &[AnalogSection] {
        &self.sections[..self.len]
    }

    /// Exact analog magnitude in dB at `f` Hz.
    #[inline]
    pub fn magnitude_db(&self, f: f64) -> f64 {
        let w = f / self.freq_hz;
        let mut m2 = 1.0;
        for s in self.sections() {
            m2 *= s.mag2(w);
        }
        10.0 * m2.log10()
    }

    /// Exact analog complex response at `f` Hz.
    #[inline]
    pub fn response(&self, f: f64) -> Complex64 {
        let w = f / self.freq_hz;
        let mut h = Complex64::new(1.0, 0.0);
        for s in self.sections() {
            h *= s.response(w);
        }
        h
    }
}

/// Sanitised copy of the numeric parameters: finite, positive frequency and Q, bounded gain.
fn clean(band: &Band) -> (f64, f64, f64) {
    let f = if band.freq_hz.is_finite() && band.freq_hz > 0.0 {
        band.freq_hz.clamp(1e-3, 1e7)
    } else {
        1000.0
    };
    let g = if band.gain_db.is_finite() {
        band.gain_db.clamp(-120.0, 120.0)
    } else {
        0.0
    };
    let q = if band.q.is_finite() && band.q > 0.0 {
        band.q.clamp(1e-3, 1e3)
    } else {
        FRAC_1_SQRT_2
    };
    (f, g, q)
}

impl Band {
    /// A band with the given shape and parameters, enabled, 12 dB/oct.
    pub fn new(kind: BandType, freq_hz: f64, gain_db: f64, q: f64) -> Self {
        Self {
            kind,
            freq_hz,
            gain_db,
            q,
            slope: Slope::Db12,
            enabled: true,
        }
    }

    /// Same band with another slope (LowCut / HighCut).
    pub fn with_slope(mut self, slope: Slope) -> Self {
        self.slope = slope;
        self
    }

    /// True if the band is exactly the identity (disabled, or a 0 dB gain type).
    pub fn is_identity(&self) -> bool {
        if !self.enabled {
            return true;
        }
        let (_, g, _) = clean(self);
        matches!(
            self.kind,
            BandType::Bell | BandType::LowShelf | BandType::HighShelf | BandType::TiltShelf
        ) && g == 0.0
    }

    /// The analog prototype. Non-finite or non-positive parameters are replaced by safe values
    /// (1 kHz, 0 dB, Q 0.7071), so the result is always finite.
    pub fn prototype(&self) -> Prototype {
        let (f, g, q) = clean(self);
        let mut p = Prototype {
            freq_hz: f,
            len: 0,
            sections: [AnalogSection::IDENTITY; MAX_SECTIONS],
        };
        if self.is_identity() {
            return p;
        }
        let a = 10f64.powf(g / 40.0);
        let sa = a.sqrt();
        let mut push = |s: AnalogSection| {
            p.sections[p.len] = s;
            p.len += 1;
        };
        match self.kind {
            BandType::Bell => push(AnalogSection {
                b: [1.0, a / q, 1.0],
                a: [1.0, 1.0 / (a * q), 1.0],
            }),
            BandType::LowShelf => push(AnalogSection {
                b: [a * a, a * sa / q, a],
                a: [1.0, sa / q, a],
            }),
            BandType::HighShelf => push(AnalogSection {
                b: [a, a * sa / q, a * a],
                a: [a, sa / q, 1.0],
            }),
            BandType::TiltShelf => push(AnalogSection {
                b: [1.0, sa / q, a],
                a: [a, sa / q, 1.0],
            }),
            BandType::Notch => push(AnalogSection {
                b: [1.0, 0.0, 1.0],
                a: [1.0, 1.0 / q, 1.0],
            }),
            BandType::BandPass => push(AnalogSection {
                b: [0.0, 1.0 / q, 0.0],
                a: [1.0, 1.0 / q, 1.0],
            }),
            BandType::LowCut | BandType::HighCut => {
                let hp = self.kind == BandType::LowCut;
                let n = self.slope.order();
                for k in 0..n / 2 {
                    // Butterworth pole pair k: Q_k = 1 / (2 sin((2k+1) pi / (2n))).
                    let mut qk = 1.0 / (2.0 * ((2 * k + 1) as f64 * PI / (2 * n) as f64).sin());
                    if k == 0 {
                        // NOTE: resonance control: scale the most resonant section only, so
                        // Q = 0.7071 is exact Butterworth for every order.
                        qk *= q / FRAC_1_SQRT_2;
                    }
                    push(AnalogSection {
                        b: if hp { [0.0, 0.0, 1.0] } else { [1.0, 0.0, 0.0] },
                        a: [1.0, 1.0 / qk, 1.0],
                    });
                }
                if n % 2 == 1 {
                    push(AnalogSection {
                        b: if hp { [0.0, 1.0, 0.0] } else { [1.0, 0.0, 0.0] },
                        a: [1.0, 1.0, 0.0],
                    });
                }
            }
        }
        p
    }

    /// Exact analog magnitude in dB at `f` Hz. For many points, build [`Band::prototype`] once
    /// (or use [`EqCurve`]).
    pub fn magnitude_db(&self, f: f64) -> f64 {
        self.prototype().magnitude_db(f)
    }

    /// Exact analog complex response at `f` Hz (minimum phase).
    pub fn response(&self, f: f64) -> Complex64 {
        self.prototype().response(f)
    }
}

/// A set of bands with their prototypes cached: the summed EQ curve.
///
/// Cost per point is one complex-free rational evaluation per section (a few tens of flops per
/// band), so 1000 points x 24 bands is well under a millisecond.
#[derive(Debug, Clone)]
pub struct EqCurve {
    /// Cached prototypes of the bands, in order.
    protos: Vec<Prototype>,
}

impl EqCurve {
    /// An empty curve with room for `max_bands` bands (no allocation up to that many).
    pub fn new(max_bands: usize) -> Self {
        Self {
            protos: Vec::with_capacity(max_bands),
        }
    }

    /// A curve from bands.
    pub fn from_bands(bands: &[Band]) -> Self {
        let mut c = Self::new(bands.len());
        c.set_bands(bands);
        c
    }

    /// Replaces the bands (allocates only beyond the capacity given to [`EqCurve::new`]).
    pub fn set_bands(&mut self, bands: &[Band]) {
        self.protos.clear();
        self.protos.extend(bands.iter().map(Band::prototype));
    }

    /// Summed magnitude in dB at `f` Hz.
    #[inline]
    pub fn magnitude_db(&self, f: f64) -> f64 {
        // Multiply |H|^2 of all sections, one log at the end.
        let mut m2 = 1.0;
        for p in &self.protos {
            let w = f / p.freq_hz;
            for s in p.sections() {
                m2 *= s.mag2(w);
            }
        }
        10.0 * m2.log10()
    }

    /// Summed linear magnitude at `f` Hz (convenient as an FIR design target).
    #[inline]
    pub fn magnitude(&self, f: f64) -> f64 {
        let mut m2 = 1.0;
        for p in &self.protos {
            let w = f / p.freq_hz;
            for s in p.sections() {
                m2 *= s.mag2(w);
            }
        }
        m2.sqrt()
    }

    /// Product of the complex responses at `f` Hz (the minimum-phase response).
    pub fn response(&self, f: f64) -> Complex64 {
        self.protos
            .iter()
            .fold(Complex64::new(1.0, 0.0), |h, p| h * p.response(f))
    }

    /// Fills `out_db[i]` with the curve at `freqs_hz[i]`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn fill_db(&self, freqs_hz: &[f64], out_db: &mut [f64]) {
        assert_eq!(freqs_hz.len(), out_db.len());
        for (f, o) in freqs_hz.iter().zip(out_db.iter_mut()) {
            *o = self.magnitude_db(*f);
        }
    }
}

/// Summed analog magnitude in dB of `bands` at `f` Hz (builds each prototype; use [`EqCurve`]
/// for many points).
pub fn curve_db(bands: &[Band], f: f64) -> f64 {
    bands.iter().map(|b| b.magnitude_db(f)).sum()
}
