//! The static gain computer: compression above a threshold, expansion or gating below one.
//!
//! Everything is in dB. For an input level `x` the computer returns a *gain reduction* `r >= 0`
//! from the upper (compressor) section and an *attenuation* `e >= 0` from the lower (expander /
//! gate) section; the static output level is `y = x - r - e`.
//!
//! Upper section, the quadratic soft knee of Giannoulis, Massberg and Reiss, "Digital Dynamic
//! Range Compressor Design - A Tutorial and Analysis", JAES 60(6), 2012, eq. (4), with threshold
//! `T`, ratio `R` and knee width `W`:
//! ```text
//! y = x                                  for 2 (x - T) < -W
//! y = x + (1/R - 1) (x - T + W/2)^2 / 2W for 2 |x - T| <= W
//! y = T + (x - T) / R                    for 2 (x - T) >  W
//! ```
//! and `r = min(x - y, range)`. The lower section mirrors it below the expander threshold `Te`
//! with expansion ratio `Re` (output slope below `Te`): `y = Te + (x - Te) Re` outside the knee and
//! `y = x - (Re - 1) (x - Te - W/2)^2 / 2W` inside it, `e = min(x - y, range)`. A gate is the
//! lower section with an infinite ratio, hysteresis and hold; its state lives in the engine.

/// Upper (compressor) section settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compression {
    /// Threshold in dB (detector level, see the engine's calibration).
    pub threshold_db: f32,
    /// Ratio, 1 (off) to `f32::INFINITY` (limiting).
    pub ratio: f32,
    /// Soft-knee width in dB, 0 (hard knee) to 24.
    pub knee_db: f32,
    /// Maximum gain reduction in dB; `f32::INFINITY` for no limit.
    pub range_db: f32,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            threshold_db: -18.0,
            ratio: 4.0,
            knee_db: 6.0,
            range_db: f32::INFINITY,
        }
    }
}

/// Lower (below-threshold) section: off, downward expander, or gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lower {
    /// No expansion.
    Off,
    /// Downward expander below `threshold_db` with output slope `ratio` (1 to 100) and a soft
    /// knee of `knee_db` (0 to 24), limited to `range_db` of attenuation.
    Expander {
        /// Expander threshold in dB.
        threshold_db: f32,
        /// Expansion ratio (output dB per input dB below the threshold), 1 to 100.
        ratio: f32,
        /// Knee width in dB, 0 to 24.
        knee_db: f32,
        /// Maximum attenuation in dB (at most [`MAX_RANGE_DB`]).
        range_db: f32,
    },
    /// Gate: opens when the detector level reaches `open_db`, closes when it has stayed below
    /// `close_db` (<= `open_db`; the difference is the hysteresis) for `hold_ms`. Closed means
    /// `range_db` of attenuation.
    Gate {
        /// Opening threshold in dB.
        open_db: f32,
        /// Closing threshold in dB; values above `open_db` are treated as `open_db`.
        close_db: f32,
        /// Time the level must stay below `close_db` before the gate starts to close.
        hold_ms: f32,
        /// Attenuation when closed in dB (at most [`MAX_RANGE_DB`]).
        range_db: f32,
    },
}

/// Largest attenuation of the lower section (about -120 dB: effectively a mute, while keeping
/// the smoothed dB state finite).
pub const MAX_RANGE_DB: f32 = 120.0;

/// Largest expansion ratio; steeper settings should use [`Lower::Gate`].
pub const MAX_EXPANDER_RATIO: f32 = 100.0;

/// Knee widths below this are computed as this (the quadratic knee needs `W > 0`); the largest
/// deviation from a hard knee is `W/8 = 1.25e-4` dB.
const MIN_KNEE_DB: f32 = 1e-3;

/// The static curve with its precomputed constants (no transcendental per sample).
#[derive(Clone, Copy, Debug)]
pub struct GainComputer {
    /// Upper section as set.
    pub compression: Compression,
    /// Lower section as set.
    pub lower: Lower,
    // Precomputed upper section: threshold, half knee, knee, 1/(2W), slope 1 - 1/R, range.
    pub(crate) u_thr: f32,
    pub(crate) u_hw: f32,
    pub(crate) u_w: f32,
    pub(crate) u_inv2w: f32,
    pub(crate) u_slope: f32,
    pub(crate) u_range: f32,
    // Precomputed expander: threshold, half knee, knee, 1/(2W), slope Re - 1, range.
    pub(crate) l_thr: f32,
    pub(crate) l_hw: f32,
    pub(crate) l_w: f32,
    pub(crate) l_inv2w: f32,
    pub(crate) l_slope: f32,
    pub(crate) l_range: f32,
}

impl Default for GainComputer {
    fn default() -> Self {
        Self::new(Compression::default(), Lower::Off)
    }
}

impl GainComputer {
    /// A computer for the given sections (values are clamped to their documented ranges).
    pub fn new(compression: Compression, lower: Lower) -> Self {
        let mut c = Self {
            compression,
            lower,
            u_thr: 0.0,
            u_hw: 0.0,
            u_w: 0.0,
            u_inv2w: 0.0,
            u_slope: 0.0,
            u_range: 0.0,
            l_thr: 0.0,
            l_hw: 0.0,
            l_w: 0.0,
            l_inv2w: 0.0,
            l_slope: 0.0,
            l_range: 0.0,
        };
        c.set(compression, lower);
        c
    }

    /// Replaces both sections and recomputes the constants.
    pub fn set(&mut self, compression: Compression, lower: Lower) {
        self.compression = compression;
        self.lower = lower;
        let w = compression.knee_db.clamp(0.0, 24.0).max(MIN_KNEE_DB);
        let ratio = if compression.ratio.is_nan() {
            1.0
        } else {
            compression.ratio.max(1.0)
        };
        self.u_thr = compression.threshold_db;
        self.u_w = w;
        self.u_hw = 0.5 * w;
        self.u_inv2w = 0.5 / w;
        // 1/inf = 0: infinite ratio gives slope 1 (output pinned at the threshold).
        self.u_slope = 1.0 - 1.0 / ratio;
        self.u_range = compression.range_db.max(0.0);
        match lower {
            Lower::Expander {
                threshold_db,
                ratio,
                knee_db,
                range_db,
            } => {
                let w = knee_db.clamp(0.0, 24.0).max(MIN_KNEE_DB);
                self.l_thr = threshold_db;
                self.l_w = w;
                self.l_hw = 0.5 * w;
                self.l_inv2w = 0.5 / w;
                self.l_slope = if ratio.is_nan() {
                    0.0
                } else {
                    ratio.clamp(1.0, MAX_EXPANDER_RATIO) - 1.0
                };
                self.l_range = range_db.clamp(0.0, MAX_RANGE_DB);
            }
            Lower::Gate { range_db, .. } => {
                self.l_slope = 0.0;
                self.l_range = range_db.clamp(0.0, MAX_RANGE_DB);
            }
            Lower::Off => {
                self.l_slope = 0.0;
                self.l_range = 0.0;
            }
        }
    }

    /// Gain reduction of the upper section (dB, >= 0) at input level `x` dB.
    #[inline(always)]
    pub fn upper_gr_db(&self, x: f32) -> f32 {
        let over = x - self.u_thr;
        let k = min(max(over + self.u_hw, 0.0), self.u_w);
        let r = self.u_slope * (k * k * self.u_inv2w + max(over - self.u_hw, 0.0));
        min(r, self.u_range)
    }

    /// Attenuation of an expander lower section (dB, >= 0) at input level `x` dB; 0 for
    /// [`Lower::Off`] and [`Lower::Gate`] (the gate is stateful, see [`Self::static_lower_db`]).
    #[inline(always)]
    pub fn expander_db(&self, x: f32) -> f32 {
        let under = self.l_thr - x;
        let k = min(max(under + self.l_hw, 0.0), self.l_w);
        let e = self.l_slope * (k * k * self.l_inv2w + max(under - self.l_hw, 0.0));
        // NOTE: `f32::min` here: `l_range` is NaN when the range was set to NaN.
        e.min(self.l_range)
    }

    /// Static attenuation of the lower section at a steady level `x`: the expander curve, or for
    /// the gate the closed range below the *opening* threshold (a steady level below it never
    /// opens the gate) and 0 at or above it.
    pub fn static_lower_db(&self, x: f32) -> f32 {
        match self.lower {
            Lower::Off => 0.0,
            Lower::Expander { .. } => self.expander_db(x),
            Lower::Gate { open_db, .. } => {
                if x >= open_db {
                    0.0
                } else {
                    self.l_range
                }
            }
        }
    }

    /// Static gain in dB (<= 0) at input level `x` dB, both sections, without makeup.
    pub fn gain_db(&self, x: f32) -> f32 {
        -(self.upper_gr_db(x) + self.static_lower_db(x))
    }

    /// Static output level in dB at input level `x` dB, without makeup.
    pub fn curve(&self, x: f32) -> f32 {
        x + self.gain_db(x)
    }
}

/// `f32::max` for a non-NaN `b`: `a` NaN gives `b`, as `f32::max` does, but it compiles to one
/// instruction (no NaN fix-up), which matters in the 8-wide per-sample loops.
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// `f32::min` for a non-NaN `b` (see [`max`]).
#[inline(always)]
fn min(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Giannoulis et al. 2012 eq. (4), written out independently of the branch-free form.
    fn reference(x: f32, t: f32, r: f32, w: f32) -> f32 {
        if 2.0 * (x - t) < -w {
            x
        } else if w > 0.0 && 2.0 * (x - t).abs() <= w {
            x + (1.0 / r - 1.0) * (x - t + w / 2.0).powi(2) / (2.0 * w)
        } else {
            t + (x - t) / r
        }
    }

    #[test]
    fn upper_curve_matches_giannoulis_eq4() {
        for &(t, r, w) in &[
            (-20.0f32, 4.0f32, 6.0f32),
            (-30.0, 2.0, 0.0),
            (-10.0, f32::INFINITY, 12.0),
            (-40.0, 1.5, 24.0),
        ] {
            let gc = GainComputer::new(
                Compression {
                    threshold_db: t,
                    ratio: r,
                    knee_db: w,
                    range_db: f32::INFINITY,
                },
                Lower::Off,
            );
            let mut x = -80.0;
            while x <= 10.0 {
                let err = (gc.curve(x) - reference(x, t, r, w)).abs();
                assert!(err < 2e-3, "T {t} R {r} W {w} x {x}: err {err}");
                x += 0.25;
            }
        }
    }

    #[test]
    fn range_limits_gain_reduction() {
        let gc = GainComputer::new(
            Compression {
                threshold_db: -30.0,
                ratio: f32::INFINITY,
                knee_db: 0.0,
                range_db: 6.0,
            },
            Lower::Off,
        );
        assert!((gc.gain_db(0.0) + 6.0).abs() < 1e-6);
        assert!((gc.gain_db(-27.0) + 3.0).abs() < 1e-3);
    }

    #[test]
    fn expander_slope_below_threshold_is_ratio() {
        let gc = GainComputer::new(
            Compression {
                ratio: 1.0,
                ..Compression::default()
            },
            Lower::Expander {
                threshold_db: -40.0,
                ratio: 3.0,
                knee_db: 0.0,
                range_db: 100.0,
            },
        );
        // 10 dB below the threshold the output is 30 dB below it.
        assert!((gc.curve(-50.0) + 70.0).abs() < 1e-3);
        assert!((gc.curve(-30.0) + 30.0).abs() < 1e-6);
    }
}
