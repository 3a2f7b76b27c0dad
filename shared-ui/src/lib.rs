//! Postmix's shared editor pieces: the suite's look, level and gain-reduction meters, parameter
//! controls, and the output section (bypass, output gain, output meter) every plugin carries.
//!
//! Audio-thread values reach the editor only through atomics ([`meter::MeterValue`]); nothing here
//! locks on the audio thread.

pub mod dynamics_view;
pub mod editor;
pub mod eq_view;
pub mod latency;
pub mod layouts;
pub mod limiter_view;
pub mod loudness_view;
pub mod meter;
pub mod output;
pub mod spectrum;
pub mod state;
pub mod theme;
