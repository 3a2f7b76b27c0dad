//! Postmix DSP units.
//!
//! Plain structs over `&mut [f32]` / `&mut [f64]`, free of any plugin framework or GUI code, so
//! that the plugins, the `postmix` CLI, the tests and the benchmarks all run the same code.
//!
//! Every unit follows one lifecycle (see `conventions.md`):
//! - `new(max_channels, max_block, ...)` allocates everything it will ever need;
//! - `set_sample_rate(fs)` and `reset()` never allocate;
//! - `process(...)` documents its limits under `# Panics`; units that delay report `latency()`;
//! - setters only record the value and mark the unit dirty; coefficients are recomputed per block.

pub mod delay;
pub mod dither;
pub mod dynamics;
pub mod filter;
pub mod fir;
pub mod limiter;
pub mod loudness;
pub mod oversampling;
pub mod saturation;
pub mod signal;
pub mod simd;
pub mod smoothing;
pub mod testing;
pub mod util;
