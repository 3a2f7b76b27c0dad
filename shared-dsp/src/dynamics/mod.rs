//! Dynamics: detector, gain computer, ballistics (compressor, gate, expander).
//!
//! One engine, [`Dynamics`], serves the bus compressor and the channel strip's compressor and
//! gate/expander. It computes a linear gain signal per sample and channel
//! ([`Dynamics::compute_gain`]); the multiply ([`Dynamics::apply_gain`]) is separate, and
//! [`Dynamics::process`] does both. The editor draws [`Dynamics::curve`] and meters
//! [`Dynamics::gain_reduction_db`].
//!
//! Level calibration: the detector reads a steady sine of peak level L dBFS as L dB in both
//! modes (peak: sample peak; RMS: RMS + 3.01 dB), so the curve's input axis is "sine dBFS".

mod computer;
mod engine;
pub mod fastmath;

pub use computer::{Compression, GainComputer, Lower, MAX_EXPANDER_RATIO, MAX_RANGE_DB};
pub use engine::{
    AUTO_RELEASE_FAST_FRACTION, AUTO_RELEASE_SUSTAIN_MS, DetectorMode, Dynamics, MAX_DETECTOR_MS,
    MAX_LOOKAHEAD_MS, MAX_SAMPLE_RATE, StereoMode,
};
