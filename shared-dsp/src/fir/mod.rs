//! Linear-phase FIR design and FFT convolution (the Linear-Phase EQ's engine).
//!
//! - [`design`]: [`Resolution`] modes and [`design_linear_phase`], which turns any target
//!   magnitude (a closure of frequency in Hz) into an exactly symmetric kernel, allocation-free
//!   with a preallocated [`DesignScratch`].
//! - [`convolver`]: [`PartitionedConvolver`], a uniformly partitioned FFT convolver with a
//!   frequency-domain delay line, fixed latency at any host block size, and click-free kernel
//!   swaps prepared off the audio thread ([`KernelSpectrum`]).
//!
//! Total latency of the EQ = `resolution.latency(fs) + convolver.latency()`
//! (= [`PartitionedConvolver::total_latency`]).
//!
//! # Accuracy (measured by the `fir_design` tests against the RBJ analog prototypes)
//! Kernels are designed by weighted least squares of the relative error (see [`design`]). A
//! kernel of half-length `T` seconds cannot follow features narrower than about `1/T`: with
//! 0.1 dB as the bar from 20 Hz to 20 kHz, bells and shelves (gain up to +-12 dB, Q up to 4) are
//! reproduced when their bandwidth `f0 / Q` is at least 100 Hz (low) or 25 Hz (medium): worst
//! 0.034 and 0.057 dB at 48 kHz. High and maximum reproduce every Q <= 4 target from 20 Hz
//! (worst 0.069 and 0.0008 dB). Medium (from 30 Hz) does not at Q 4 below ~100 Hz: worst
//! 2.02 dB at 48 kHz, and the best any least-squares or Lawson (minimax) design reached, even
//! with the former 17 % longer medium kernel, was 0.22 dB (see
//! `design_within_0_1_db_medium_every_q4_target`).
//!
//! # Use in a plugin
//! ```
//! use shared_dsp::fir::{DesignScratch, PartitionedConvolver, Resolution, design_linear_phase};
//! use shared_dsp::fir::convolver::RECOMMENDED_PARTITION;
//! let fs = 48_000.0;
//! let max_taps = Resolution::Low.taps(fs); // in a plugin: Resolution::Maximum.taps(max fs)
//! // Audio thread owns the convolver; a background worker owns the scratch, taps and spectrum.
//! let mut conv = PartitionedConvolver::new(2, max_taps, RECOMMENDED_PARTITION);
//! let mut scratch = DesignScratch::new(max_taps);
//! let mut taps = vec![0.0f32; max_taps];
//! let mut spectrum = conv.new_kernel_spectrum();
//! // Background: design the curve and transform it (allocation-free).
//! let n = Resolution::Low.taps(fs);
//! design_linear_phase(|f| if f < 100.0 { 2.0 } else { 1.0 }, n, fs, &mut taps, &mut scratch);
//! conv.prepare_kernel(&taps[..n], &mut spectrum);
//! // Audio thread: swap it in (crossfaded over one partition) and process.
//! conv.swap_kernel(&mut spectrum);
//! let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
//! conv.process_stereo(&mut l, &mut r);
//! assert_eq!(conv.total_latency(Resolution::Low.latency(fs)), 3072);
//! ```

pub mod convolver;
pub mod design;

pub use convolver::{KernelSpectrum, PartitionedConvolver};
pub use design::{
    AUDIBLE_RANGE_DB, DEFAULT_WINDOW, DesignScratch, Resolution, Window, WlsReport,
    design_linear_phase, design_linear_phase_windowed,
};
