//! Linear-phase FIR design and FFT convolution.
//!
//! - [`design`]: [`Resolution`] modes and [`design_linear_phase`], which turns any target
//!   magnitude (a closure of frequency in Hz) into an exactly symmetric kernel.
//! - [`convolver`]: [`PartitionedConvolver`], a uniformly partitioned FFT convolver with a
//!   frequency-domain delay line, fixed latency at any host block size, and click-free kernel
//!   swaps prepared off the audio thread ([`KernelSpectrum`]).

pub mod convolver;
pub mod design;

pub use convolver::{KernelSpectrum, PartitionedConvolver};
pub use design::{
    DesignScratch, Resolution, Window, design_linear_phase, design_linear_phase_windowed,
};
