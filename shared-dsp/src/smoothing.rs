//! Parameter smoothing for values that DSP units own (plugin parameters use nice-plug's smoothers).

/// One-pole exponential smoother: reaches ~63 % of a step after `time_ms`.
///
/// Used for gains computed inside DSP units (auto makeup, unity-gain compensation), where the
/// value is not a host parameter. Smoothing happens in whatever domain the caller feeds it (for
/// gains, feed dB to get logarithmic smoothing).
#[derive(Debug, Clone)]
pub struct OnePole {
    /// Current output value.
    // NOTE: state in f64: in f32 a slow smoother stalls up to ~1e-4 (relative) short of its
    // target, where the per-sample step falls below half an ulp.
    value: f64,
    /// Target value.
    target: f64,
    /// Per-sample coefficient in (0, 1]; 1 means no smoothing.
    coeff: f64,
    /// Time constant in milliseconds.
    time_ms: f32,
}

impl OnePole {
    /// A smoother at `initial` with the given time constant.
    pub fn new(initial: f32, time_ms: f32) -> Self {
        Self {
            value: initial as f64,
            target: initial as f64,
            coeff: 1.0,
            time_ms,
        }
    }

    /// Recomputes the coefficient for the sample rate.
    pub fn set_sample_rate(&mut self, fs: f32) {
        self.coeff = if self.time_ms <= 0.0 {
            1.0
        } else {
            1.0 - (-1.0 / (self.time_ms as f64 * 0.001 * fs as f64)).exp()
        };
    }

    /// Sets the value to approach.
    pub fn set_target(&mut self, target: f32) {
        self.target = target as f64;
    }

    /// Jumps to `value` immediately.
    pub fn reset(&mut self, value: f32) {
        self.value = value as f64;
        self.target = value as f64;
    }

    /// Advances one sample and returns the new value.
    // NOTE: named like nice-plug's smoothers; not an Iterator, a smoother never ends.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> f32 {
        self.value += (self.target - self.value) * self.coeff;
        self.value as f32
    }

    /// The current value without advancing.
    pub fn value(&self) -> f32 {
        self.value as f32
    }

    /// True when advancing would not change the state: every later `next()` returns `value()`.
    /// Lets callers fill a whole block at once exactly as stepping per sample would.
    pub fn is_steady(&self) -> bool {
        self.value + (self.target - self.value) * self.coeff == self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_63_percent_after_time_constant() {
        let mut s = OnePole::new(0.0, 10.0);
        s.set_sample_rate(48_000.0);
        s.set_target(1.0);
        let mut v = 0.0;
        for _ in 0..480 {
            v = s.next();
        }
        assert!((v - (1.0 - (-1.0f32).exp())).abs() < 2e-3, "{v}");
    }

    #[test]
    fn slow_smoother_reaches_its_target_exactly_in_f32() {
        // 20 ms at 192 kHz: in f32 state this stalled ~1e-4 short of the target.
        let mut s = OnePole::new(1.0, 20.0);
        s.set_sample_rate(192_000.0);
        s.set_target(0.5);
        let mut v = 1.0;
        for _ in 0..192_000 {
            v = s.next();
        }
        assert_eq!(v, 0.5);
    }
}

/// Linear ramp that lands exactly on its target: used for crossfades (bypass, kernel swaps) where
/// the end state must be bit-exact (a bypassed plugin outputs exactly its dry input).
#[derive(Debug, Clone)]
pub struct LinearRamp {
    /// Current value.
    value: f32,
    /// Target value.
    target: f32,
    /// Change per sample (always positive).
    step: f32,
    /// Ramp duration in milliseconds.
    time_ms: f32,
}

impl LinearRamp {
    /// A ramp at `initial` that takes `time_ms` to cross a distance of 1.
    pub fn new(initial: f32, time_ms: f32) -> Self {
        Self {
            value: initial,
            target: initial,
            step: 1.0,
            time_ms,
        }
    }

    /// Recomputes the per-sample step for the sample rate.
    pub fn set_sample_rate(&mut self, fs: f32) {
        self.step = if self.time_ms <= 0.0 {
            1.0
        } else {
            1.0 / (self.time_ms * 0.001 * fs)
        };
    }

    /// Sets the value to ramp to.
    pub fn set_target(&mut self, target: f32) {
        self.target = target;
    }

    /// Jumps to `value` immediately.
    pub fn reset(&mut self, value: f32) {
        self.value = value;
        self.target = value;
    }

    /// True while the value has not reached its target.
    pub fn is_moving(&self) -> bool {
        self.value != self.target
    }

    /// Advances one sample and returns the new value.
    // NOTE: named like nice-plug's smoothers; not an Iterator, a smoother never ends.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> f32 {
        if self.value < self.target {
            self.value = (self.value + self.step).min(self.target);
        } else if self.value > self.target {
            self.value = (self.value - self.step).max(self.target);
        }
        self.value
    }

    /// The current value without advancing.
    pub fn value(&self) -> f32 {
        self.value
    }
}

#[cfg(test)]
mod ramp_tests {
    use super::*;

    #[test]
    fn linear_ramp_lands_exactly_on_target_after_its_time() {
        let mut r = LinearRamp::new(0.0, 10.0);
        r.set_sample_rate(48_000.0);
        r.set_target(1.0);
        for _ in 0..479 {
            r.next();
        }
        assert!(r.is_moving());
        for _ in 0..2 {
            r.next();
        }
        assert_eq!(r.value(), 1.0);
        assert!(!r.is_moving());
    }
}
